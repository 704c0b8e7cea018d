//! [`Profile`]: reusable technical metadata for creating Flows (`profile.json`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::flow::{MediaIn, MediaOut};
use crate::{FlowMedia, Format, ProfileId, Tags};

/// A Profile. Immutable once created, tags included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub id: ProfileId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Date-time text (RFC 3339). Store-managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    pub flow_metadata: FlowMetadata,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `flow_metadata` of a Profile: the technical metadata of a video, audio, image or
/// data Flow (multi is not allowed), plus any unknown fields.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowMetadata {
    pub media: FlowMedia,
    pub extra: Map<String, Value>,
}

#[derive(Deserialize)]
struct FlowMetadataIn {
    #[serde(flatten)]
    media: MediaIn,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl<'de> Deserialize<'de> for FlowMetadata {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<FlowMetadata, D::Error> {
        use serde::de::Error;
        let w = FlowMetadataIn::deserialize(d)?;
        let media = w.media.into_media().map_err(D::Error::custom)?;
        if media.format() == Format::Multi {
            return Err(D::Error::custom(
                "a Profile cannot describe a multi-essence Flow (urn:x-nmos:format:multi)",
            ));
        }
        Ok(FlowMetadata {
            media,
            extra: w.extra,
        })
    }
}

#[derive(Serialize)]
struct FlowMetadataOut<'a> {
    #[serde(flatten)]
    media: MediaOut<'a>,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

impl Serialize for FlowMetadata {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        FlowMetadataOut {
            media: self.media.out(),
            extra: &self.extra,
        }
        .serialize(s)
    }
}
