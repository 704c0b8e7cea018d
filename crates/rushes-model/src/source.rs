//! [`Source`]: the abstract piece of media that Flows render, per `source.json`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Format, SourceId, Tags};

/// A Source as returned by `GET /sources/{id}`.
///
/// `created`, `updated`, `source_collection` and `collected_by` are managed by the
/// store; clients cannot set them. Unknown fields are kept in `extra` (the schema is open).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub id: SourceId,
    pub format: Format,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    /// Date-time text (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Date-time text (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_collection: Option<Vec<SourceCollectionItem>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collected_by: Option<Vec<SourceId>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Source {
    /// A Source with only its required fields set.
    pub fn new(id: SourceId, format: Format) -> Source {
        Source {
            id,
            format,
            label: None,
            description: None,
            created_by: None,
            updated_by: None,
            created: None,
            updated: None,
            tags: None,
            source_collection: None,
            collected_by: None,
            extra: Map::new(),
        }
    }
}

/// A member of a Source collection (`collection-item.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceCollectionItem {
    pub id: SourceId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
