//! [`Flow`] (GET) and [`FlowPut`] (PUT): a Source rendered in one format, per `flow-*.json`.
//!
//! A Flow is its common metadata ([`FlowCommon`], `flow-common.json`), its technical
//! metadata ([`FlowMedia`], `flow-technical.json` plus `format` and `essence_parameters`)
//! and any unknown fields (`extra`, the schema is open).

use std::fmt;
use std::str::FromStr;

use rushes_time::TimeRange;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::essence::{Essence, EssenceRef, Rate};
use crate::{FlowId, MimeType, ParseError, ProfileId, SourceId, Tags};

/// The content format of a Flow or Source (`content-format.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Format {
    #[serde(rename = "urn:x-nmos:format:video")]
    Video,
    #[serde(rename = "urn:x-tam:format:image")]
    Image,
    #[serde(rename = "urn:x-nmos:format:audio")]
    Audio,
    #[serde(rename = "urn:x-nmos:format:data")]
    Data,
    #[serde(rename = "urn:x-nmos:format:multi")]
    Multi,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Video,
        Format::Image,
        Format::Audio,
        Format::Data,
        Format::Multi,
    ];

    /// The URN, e.g. `urn:x-nmos:format:video`.
    pub fn urn(&self) -> &'static str {
        match self {
            Format::Video => "urn:x-nmos:format:video",
            Format::Image => "urn:x-tam:format:image",
            Format::Audio => "urn:x-nmos:format:audio",
            Format::Data => "urn:x-nmos:format:data",
            Format::Multi => "urn:x-nmos:format:multi",
        }
    }

    /// `video`, `image`, `audio`, `data` or `multi`.
    pub fn short_name(&self) -> &'static str {
        match self {
            Format::Video => "video",
            Format::Image => "image",
            Format::Audio => "audio",
            Format::Data => "data",
            Format::Multi => "multi",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.urn())
    }
}

impl FromStr for Format {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Format, ParseError> {
        Format::ALL.into_iter().find(|f| f.urn() == s).ok_or_else(|| {
            ParseError::new("format", s, "expected one of urn:x-nmos:format:video, urn:x-tam:format:image, urn:x-nmos:format:audio, urn:x-nmos:format:data, urn:x-nmos:format:multi")
        })
    }
}

crate::essence::wire_enum!(
    /// The ingest status of a Flow (`flow-status.json`); indicative only, set by clients.
    FlowStatus {
        AwaitingContent = "awaiting_content",
        Ingesting = "ingesting",
        ReplicationInProgress = "replication_in_progress",
        ClosedComplete = "closed_complete",
    }
);

/// Fields common to every Flow (`flow-common.json`).
///
/// `created`, `metadata_updated`, `segments_updated`, `timerange` and `collected_by` are
/// managed by the store: they appear in GET and are dropped from a [`FlowPut`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowCommon {
    pub id: FlowId,
    pub source_id: SourceId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u32>,
    /// Date-time text (RFC 3339). Store-managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Date-time text (RFC 3339). Store-managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_updated: Option<String>,
    /// Date-time text (RFC 3339). Store-managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments_updated: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<FlowStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// In 1000 bits/second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bit_rate: Option<u64>,
    /// Store-managed.
    #[serde(
        default,
        with = "crate::text::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub timerange: Option<TimeRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_collection: Option<Vec<FlowCollectionItem>>,
    /// Store-managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collected_by: Option<Vec<FlowId>>,
}

impl FlowCommon {
    /// Common fields with only the ids set.
    pub fn new(id: FlowId, source_id: SourceId) -> FlowCommon {
        FlowCommon {
            id,
            source_id,
            label: None,
            description: None,
            created_by: None,
            updated_by: None,
            tags: None,
            metadata_version: None,
            generation: None,
            created: None,
            metadata_updated: None,
            segments_updated: None,
            status: None,
            read_only: None,
            max_bit_rate: None,
            timerange: None,
            flow_collection: None,
            collected_by: None,
        }
    }
}

/// A member of a Flow collection (`flow-collection.json` item).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowCollectionItem {
    pub id: FlowId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_mapping: Option<ContainerMapping>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl FlowCollectionItem {
    pub fn new(id: FlowId) -> FlowCollectionItem {
        FlowCollectionItem {
            id,
            role: None,
            container_mapping: None,
            extra: Map::new(),
        }
    }
}

/// Where a Flow's essence sits in a container (`container-mapping.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerMapping {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_index: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_track_index: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_track: Option<AudioTrackMapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mp2ts_container: Option<Mp2tsMapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mxf_container: Option<MxfMapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isobmff_container: Option<IsobmffMapping>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `container_mapping.audio_track`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AudioTrackMapping {
    /// Zero-based container channel numbers in Flow order; never empty.
    #[serde(
        default,
        deserialize_with = "non_empty_channels",
        skip_serializing_if = "Option::is_none"
    )]
    pub channel_numbers: Option<Vec<u32>>,
    /// Inclusive range of zero-based container channels, `first_last`.
    #[serde(
        default,
        deserialize_with = "channel_range",
        skip_serializing_if = "Option::is_none"
    )]
    pub channel_range: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn non_empty_channels<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u32>>, D::Error> {
    let v = Vec::<u32>::deserialize(d)?;
    if v.is_empty() {
        return Err(serde::de::Error::custom(
            "channel_numbers must list at least one channel",
        ));
    }
    Ok(Some(v))
}

fn channel_range<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    match s.split_once('_') {
        Some((a, b)) if digits(a) && digits(b) => Ok(Some(s)),
        _ => Err(serde::de::Error::custom(ParseError::new(
            "channel_range",
            &s,
            "expected `first_last`, e.g. `0_1`",
        ))),
    }
}

/// `container_mapping.mp2ts_container`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Mp2tsMapping {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `container_mapping.mxf_container`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MxfMapping {
    /// A SMPTE UMID URN or UUID URN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_id: Option<i64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `container_mapping.isobmff_container`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IsobmffMapping {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_id: Option<i64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The technical metadata of a Flow or Profile: `flow-technical.json`, `format` and
/// `essence_parameters`. `codec` is present for every format but multi.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowMedia {
    pub codec: Option<MimeType>,
    pub container: Option<MimeType>,
    /// In 1000 bits/second.
    pub avg_bit_rate: Option<u64>,
    pub segment_duration: Option<Rate>,
    pub container_mapping: Option<ContainerMapping>,
    pub essence: Essence,
}

impl FlowMedia {
    /// Technical metadata with only `codec` and the essence.
    pub fn new(codec: Option<MimeType>, essence: Essence) -> FlowMedia {
        FlowMedia {
            codec,
            container: None,
            avg_bit_rate: None,
            segment_duration: None,
            container_mapping: None,
            essence,
        }
    }

    pub fn format(&self) -> Format {
        self.essence.format()
    }

    pub(crate) fn out(&self) -> MediaOut<'_> {
        MediaOut {
            format: self.format(),
            codec: self.codec.as_ref(),
            container: self.container.as_ref(),
            avg_bit_rate: self.avg_bit_rate,
            segment_duration: self.segment_duration.as_ref(),
            container_mapping: self.container_mapping.as_ref(),
            essence_parameters: self.essence.params(),
        }
    }
}

/// The technical fields as read from the wire, all optional until checked.
#[derive(Deserialize)]
pub(crate) struct MediaIn {
    #[serde(default)]
    format: Option<Format>,
    #[serde(default)]
    codec: Option<MimeType>,
    #[serde(default)]
    container: Option<MimeType>,
    #[serde(default)]
    avg_bit_rate: Option<u64>,
    #[serde(default)]
    segment_duration: Option<Rate>,
    #[serde(default)]
    container_mapping: Option<ContainerMapping>,
    #[serde(default)]
    essence_parameters: Option<Value>,
}

impl MediaIn {
    /// Whether the document gave any technical metadata at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.format.is_none()
            && self.codec.is_none()
            && self.container.is_none()
            && self.avg_bit_rate.is_none()
            && self.segment_duration.is_none()
            && self.container_mapping.is_none()
            && self.essence_parameters.is_none()
    }

    pub(crate) fn into_media(self) -> Result<FlowMedia, String> {
        let format = self.format.ok_or("missing field `format`")?;
        let essence = Essence::from_parts(format, self.essence_parameters)?;
        if format != Format::Multi && self.codec.is_none() {
            return Err(format!(
                "missing field `codec` (required for {format} flows)"
            ));
        }
        Ok(FlowMedia {
            codec: self.codec,
            container: self.container,
            avg_bit_rate: self.avg_bit_rate,
            segment_duration: self.segment_duration,
            container_mapping: self.container_mapping,
            essence,
        })
    }
}

#[derive(Serialize)]
pub(crate) struct MediaOut<'a> {
    format: Format,
    #[serde(skip_serializing_if = "Option::is_none")]
    codec: Option<&'a MimeType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<&'a MimeType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    avg_bit_rate: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    segment_duration: Option<&'a Rate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    container_mapping: Option<&'a ContainerMapping>,
    #[serde(skip_serializing_if = "Option::is_none")]
    essence_parameters: Option<EssenceRef<'a>>,
}

/// A Flow as returned by `GET /flows/{id}` (`flow-get.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub common: FlowCommon,
    /// The Profile the Flow was created from, if any.
    pub profile_id: Option<ProfileId>,
    pub media: FlowMedia,
    /// Fields this store does not know, kept and returned as given.
    pub extra: Map<String, Value>,
}

impl Flow {
    pub fn new(common: FlowCommon, media: FlowMedia) -> Flow {
        Flow {
            common,
            profile_id: None,
            media,
            extra: Map::new(),
        }
    }

    pub fn id(&self) -> FlowId {
        self.common.id
    }

    pub fn source_id(&self) -> SourceId {
        self.common.source_id
    }

    pub fn format(&self) -> Format {
        self.media.format()
    }

    /// `read_only`, `false` when unset.
    pub fn read_only(&self) -> bool {
        self.common.read_only.unwrap_or(false)
    }

    /// The collected Flows, empty when unset.
    pub fn flow_collection(&self) -> &[FlowCollectionItem] {
        self.common.flow_collection.as_deref().unwrap_or(&[])
    }

    pub fn container(&self) -> Option<&MimeType> {
        self.media.container.as_ref()
    }

    pub fn codec(&self) -> Option<&MimeType> {
        self.media.codec.as_ref()
    }

    pub fn essence(&self) -> &Essence {
        &self.media.essence
    }

    pub fn timerange(&self) -> Option<TimeRange> {
        self.common.timerange
    }

    pub fn tags(&self) -> Option<&Tags> {
        self.common.tags.as_ref()
    }
}

#[derive(Deserialize)]
struct FlowIn {
    #[serde(flatten)]
    common: FlowCommon,
    #[serde(default)]
    profile_id: Option<String>,
    #[serde(flatten)]
    media: MediaIn,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl<'de> Deserialize<'de> for Flow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Flow, D::Error> {
        let w = FlowIn::deserialize(d)?;
        let profile_id = match w.profile_id {
            None => None,
            Some(p) => Some(ProfileId::parse(&p).map_err(serde::de::Error::custom)?),
        };
        let media = w.media.into_media().map_err(serde::de::Error::custom)?;
        Ok(Flow {
            common: w.common,
            profile_id,
            media,
            extra: w.extra,
        })
    }
}

#[derive(Serialize)]
struct FlowOut<'a> {
    #[serde(flatten)]
    common: &'a FlowCommon,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile_id: Option<&'a str>,
    #[serde(flatten)]
    media: Option<MediaOut<'a>>,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

impl Serialize for Flow {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let profile_id = self.profile_id.map(|p| p.to_string());
        FlowOut {
            common: &self.common,
            profile_id: profile_id.as_deref(),
            media: Some(self.media.out()),
            extra: &self.extra,
        }
        .serialize(s)
    }
}

/// How a [`FlowPut`] defines the Flow's technical metadata.
#[derive(Debug, Clone, PartialEq)]
pub enum FlowDefinition {
    /// `profile_id` names a Profile; no technical metadata was given.
    Profile(ProfileId),
    /// Technical metadata given directly. `unlink_profile` is set when the request had
    /// `"profile_id": ""`, which breaks the link to the Profile the Flow was created from.
    Media {
        media: Box<FlowMedia>,
        unlink_profile: bool,
    },
}

/// The body of `PUT /flows/{id}` (`flow-put.json`).
///
/// Store-managed fields (`created`, `metadata_updated`, `segments_updated`, `timerange`,
/// `collected_by`) are accepted and dropped, as the spec says they are ignored.
/// Giving both a `profile_id` and technical metadata is refused.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowPut {
    pub common: FlowCommon,
    pub definition: FlowDefinition,
    pub extra: Map<String, Value>,
}

impl FlowPut {
    pub fn id(&self) -> FlowId {
        self.common.id
    }

    pub fn source_id(&self) -> SourceId {
        self.common.source_id
    }

    /// The Flow this request describes. For a Profile definition `profile_media` supplies
    /// the Profile's technical metadata (or the caller's error, e.g. an unknown Profile)
    /// and the Flow keeps the `profile_id`.
    pub fn into_flow<E>(
        self,
        profile_media: impl FnOnce(ProfileId) -> Result<FlowMedia, E>,
    ) -> Result<Flow, E> {
        let (profile_id, media) = match self.definition {
            FlowDefinition::Media { media, .. } => (None, *media),
            FlowDefinition::Profile(id) => (Some(id), profile_media(id)?),
        };
        Ok(Flow {
            common: self.common,
            profile_id,
            media,
            extra: self.extra,
        })
    }
}

impl<'de> Deserialize<'de> for FlowPut {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<FlowPut, D::Error> {
        use serde::de::Error;
        let w = FlowIn::deserialize(d)?;
        let mut common = w.common;
        common.created = None;
        common.metadata_updated = None;
        common.segments_updated = None;
        common.timerange = None;
        common.collected_by = None;
        let definition = match w.profile_id.as_deref() {
            Some("") => FlowDefinition::Media {
                media: Box::new(w.media.into_media().map_err(D::Error::custom)?),
                unlink_profile: true,
            },
            Some(p) => {
                let id = ProfileId::parse(p).map_err(D::Error::custom)?;
                if !w.media.is_empty() {
                    return Err(D::Error::custom(
                        "a Flow created from a Profile must not also give technical metadata (format, codec, container, avg_bit_rate, segment_duration, container_mapping, essence_parameters)",
                    ));
                }
                FlowDefinition::Profile(id)
            }
            None => FlowDefinition::Media {
                media: Box::new(w.media.into_media().map_err(|e| {
                    if e == "missing field `format`" {
                        D::Error::custom("missing field `format` (give the technical metadata or a `profile_id`)")
                    } else {
                        D::Error::custom(e)
                    }
                })?),
                unlink_profile: false,
            },
        };
        Ok(FlowPut {
            common,
            definition,
            extra: w.extra,
        })
    }
}

impl Serialize for FlowPut {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (profile_id, media) = match &self.definition {
            FlowDefinition::Profile(p) => (Some(p.to_string()), None),
            FlowDefinition::Media {
                media,
                unlink_profile,
            } => (unlink_profile.then(String::new), Some(media.out())),
        };
        FlowOut {
            common: &self.common,
            profile_id: profile_id.as_deref(),
            media,
            extra: &self.extra,
        }
        .serialize(s)
    }
}
