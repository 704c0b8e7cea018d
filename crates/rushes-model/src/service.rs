//! [`Service`] (`GET /service`), [`ServicePost`] and [`StorageBackend`] (`GET /service/storage-backends`).

use rushes_time::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::{EventStreamMechanism, ParseError, StorageBackendId, StoreType, Tags};

/// Information about this store (`service.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Starts with `urn:x-tams:service`.
    #[serde(rename = "type", deserialize_with = "service_type")]
    pub service_type: String,
    /// `major.minor` of the TAMS API implemented, e.g. `8.2`.
    #[serde(deserialize_with = "api_version")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_stream_mechanisms: Option<Vec<EventStreamMechanism>>,
    #[serde(with = "crate::text::plain")]
    pub min_object_timeout: Timestamp,
    #[serde(
        default,
        with = "crate::text::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub min_presigned_url_timeout: Option<Timestamp>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn service_type<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if !s.starts_with("urn:x-tams:service") {
        return Err(serde::de::Error::custom(ParseError::new(
            "service type",
            &s,
            "must start with `urn:x-tams:service`",
        )));
    }
    Ok(s)
}

fn api_version<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    let part = |p: &str| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && (p == "0" || !p.starts_with('0'))
    };
    match s.split_once('.') {
        Some((a, b)) if part(a) && part(b) => Ok(s),
        _ => Err(serde::de::Error::custom(ParseError::new(
            "api_version",
            &s,
            "expected `major.minor`, e.g. `8.2`",
        ))),
    }
}

/// The body of `POST /service`: a new name and/or description.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServicePost {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One Storage Backend (`storage-backends-list.json` item).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StorageBackend {
    pub id: StorageBackendId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `false` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_storage: Option<bool>,
    pub store_type: StoreType,
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    pub store_product: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl StorageBackend {
    pub fn is_default(&self) -> bool {
        self.default_storage.unwrap_or(false)
    }
}
