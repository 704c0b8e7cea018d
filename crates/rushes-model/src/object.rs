//! [`Object`] (`object.json`), its [`GetUrl`]s, and [`ObjectInstancesPost`].

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::{FlowId, ObjectId, StorageBackendId, Tags, TimeRangeText};

crate::essence::wire_enum!(
    /// The generic Storage Backend type.
    StoreType { HttpObjectStore = "http_object_store" }
);

/// One place a client can GET an Object from (`object-core.json` `get_urls` item).
///
/// Closed in the spec: unknown fields are refused. For URLs on a controlled Storage
/// Backend the store may add that backend's metadata (`verbose_storage`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetUrl {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presigned: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `true` (the default when unset) if the URL is on a Storage Backend this store controls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controlled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_id: Option<StorageBackendId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_type: Option<StoreType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
}

impl GetUrl {
    /// A URL with no other metadata.
    pub fn new(url: impl Into<String>) -> GetUrl {
        GetUrl {
            url: url.into(),
            presigned: None,
            label: None,
            controlled: None,
            storage_id: None,
            store_type: None,
            provider: None,
            region: None,
            availability_zone: None,
            store_product: None,
            tags: None,
        }
    }

    /// `controlled`, `true` when unset.
    pub fn is_controlled(&self) -> bool {
        self.controlled.unwrap_or(true)
    }
}

/// An Object as returned by `GET /objects/{id}` (closed: unknown fields are refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Object {
    pub id: ObjectId,
    pub referenced_by_flows: Vec<FlowId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_referenced_by_flow: Option<FlowId>,
    /// Set for media Objects, absent for init Objects; on the Object's own timeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timerange: Option<TimeRangeText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_frame_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_urls: Option<Vec<GetUrl>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_object: Option<ObjectInitRef>,
}

/// `init_object` of an [`Object`]: the init Object's id and where to get it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectInitRef {
    pub id: ObjectId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_urls: Option<Vec<GetUrl>>,
}

/// The body of `POST /objects/{id}/instances` (`objects-instances-post.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ObjectInstancesPost {
    /// Copy the Object to another controlled Storage Backend.
    Controlled {
        storage_id: StorageBackendId,
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
    /// Register a URL the store does not control.
    Uncontrolled {
        url: String,
        label: String,
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
}

#[derive(Deserialize)]
struct InstancesIn {
    #[serde(default)]
    storage_id: Option<StorageBackendId>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    label: Option<String>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl<'de> Deserialize<'de> for ObjectInstancesPost {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ObjectInstancesPost, D::Error> {
        use serde::de::Error;
        let w = InstancesIn::deserialize(d)?;
        match (w.storage_id, w.url, w.label) {
            (Some(storage_id), None, None) => Ok(ObjectInstancesPost::Controlled {
                storage_id,
                extra: w.extra,
            }),
            (None, Some(url), Some(label)) => Ok(ObjectInstancesPost::Uncontrolled {
                url,
                label,
                extra: w.extra,
            }),
            (None, Some(_), None) => Err(D::Error::custom(
                "missing field `label` (required with `url`)",
            )),
            (None, None, Some(_)) => Err(D::Error::custom(
                "missing field `url` (required with `label`)",
            )),
            (None, None, None) => Err(D::Error::custom(
                "expected either `storage_id` or `url` and `label`",
            )),
            (Some(_), _, _) => Err(D::Error::custom(
                "give either `storage_id` or `url` and `label`, not both",
            )),
        }
    }
}
