//! Storage allocation: [`FlowStoragePost`] (request) and [`FlowStorage`] (response) of `POST /flows/{id}/storage`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{MimeType, ObjectId, StorageBackendId};

/// The body of `POST /flows/{id}/storage` (`flow-storage-post.json`).
///
/// `limit` and `object_ids` are mutually exclusive; see [`FlowStoragePost::allocation`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoragePostIn")]
pub struct FlowStoragePost {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_ids: Option<Vec<ObjectId>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_id: Option<StorageBackendId>,
    /// Follows `mime-type.json`; defaults to the Flow's `container`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<MimeType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presigned: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What a [`FlowStoragePost`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocation<'a> {
    /// New ids chosen by the store, at most this many (the store's default when `None`).
    Count(Option<u64>),
    /// These client-chosen ids, which must be new.
    Ids(&'a [ObjectId]),
}

impl FlowStoragePost {
    pub fn allocation(&self) -> Allocation<'_> {
        match &self.object_ids {
            Some(ids) => Allocation::Ids(ids),
            None => Allocation::Count(self.limit),
        }
    }
}

#[derive(Deserialize)]
struct StoragePostIn {
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    object_ids: Option<Vec<ObjectId>>,
    #[serde(default)]
    storage_id: Option<StorageBackendId>,
    #[serde(default, deserialize_with = "crate::mime::deserialize_strict_opt")]
    content_type: Option<MimeType>,
    #[serde(default)]
    presigned: Option<bool>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl TryFrom<StoragePostIn> for FlowStoragePost {
    type Error = &'static str;
    fn try_from(w: StoragePostIn) -> Result<FlowStoragePost, &'static str> {
        if w.limit.is_some() && w.object_ids.is_some() {
            return Err("give either `limit` or `object_ids`, not both");
        }
        Ok(FlowStoragePost {
            limit: w.limit,
            object_ids: w.object_ids,
            storage_id: w.storage_id,
            content_type: w.content_type,
            presigned: w.presigned,
            extra: w.extra,
        })
    }
}

/// The answer to `POST /flows/{id}/storage` (`flow-storage.json`; closed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowStorage {
    #[serde(default)]
    pub media_objects: Vec<MediaObjectUpload>,
}

/// Where and how to upload one Object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaObjectUpload {
    pub object_id: ObjectId,
    pub put_url: HttpRequest,
    /// `false` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presigned: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An HTTP request a client should make (`http-request.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpRequest {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(
        rename = "content-type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl HttpRequest {
    pub fn new(url: impl Into<String>) -> HttpRequest {
        HttpRequest {
            url: url.into(),
            body: None,
            content_type: None,
            headers: None,
            extra: Map::new(),
        }
    }
}
