//! What listings share: [`Listing`] pages, [`Paging`] requests and [`TagFilter`]s.

use rushes_index::PageKey;
use rushes_model::Tags;

use crate::{CoreError, Result};

/// One page of a listing and the opaque key of the next page, if any.
#[derive(Debug, Clone)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub next_page: Option<String>,
}

/// Which page of a listing to return.
#[derive(Debug, Clone, Default)]
pub struct Paging {
    pub limit: u32,
    /// A key from a previous page's `next_page`.
    pub page: Option<String>,
}

/// A filter on the `tags` of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagFilter {
    /// `tag.{name}=v1,v2`: the tag is one of the values, or a list holding one of them.
    AnyOf { name: String, values: Vec<String> },
    /// `tag_exists.{name}=true|false`.
    Exists { name: String, present: bool },
}

impl TagFilter {
    /// Whether `tags` pass this filter.
    pub fn matches(&self, tags: Option<&Tags>) -> bool {
        match self {
            TagFilter::Exists { name, present } => {
                tags.and_then(|t| t.get(name)).is_some() == *present
            }
            TagFilter::AnyOf { name, values } => tags
                .and_then(|t| t.get(name))
                .is_some_and(|v| values.iter().any(|x| v.matches(x))),
        }
    }
}

/// How a listing of Sources or Flows is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    /// Most recent first (the default).
    #[default]
    Created,
    /// Most recent first: `updated` of Sources, `metadata_updated` of Flows.
    Updated,
    /// Alphabetical; unlabelled resources (by id) after the others.
    Label,
}

impl SortBy {
    pub(crate) fn index(self) -> rushes_index::SortBy {
        match self {
            SortBy::Created => rushes_index::SortBy::Created,
            SortBy::Updated => rushes_index::SortBy::Updated,
            SortBy::Label => rushes_index::SortBy::Label,
        }
    }
}

pub(crate) fn index_tags(filters: &[TagFilter]) -> Vec<rushes_index::TagFilter> {
    filters
        .iter()
        .map(|f| match f {
            TagFilter::AnyOf { name, values } => rushes_index::TagFilter::AnyOf {
                name: name.clone(),
                values: values.clone(),
            },
            TagFilter::Exists { name, present } => rushes_index::TagFilter::Exists {
                name: name.clone(),
                present: *present,
            },
        })
        .collect()
}

pub(crate) fn page_key(paging: &Paging) -> Result<Option<PageKey>> {
    paging
        .page
        .as_deref()
        .map(|p| p.parse::<PageKey>().map_err(CoreError::BadRequest))
        .transpose()
}

/// Decodes a stored JSON document; a failure is a damaged row, not a bad request.
pub(crate) fn from_doc<T: serde::de::DeserializeOwned>(what: &str, doc: &str) -> Result<T> {
    serde_json::from_str(doc)
        .map_err(|e| CoreError::Internal(format!("stored {what} cannot be read: {e}")))
}

/// Encodes a document to store.
pub(crate) fn to_doc<T: serde::Serialize>(what: &str, v: &T) -> Result<String> {
    serde_json::to_string(v)
        .map_err(|e| CoreError::Internal(format!("{what} cannot be encoded: {e}")))
}

pub(crate) fn to_value<T: serde::Serialize>(what: &str, v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v)
        .map_err(|e| CoreError::Internal(format!("{what} cannot be encoded: {e}")))
}
