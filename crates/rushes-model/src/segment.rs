//! Flow Segments: [`Segment`] (GET), [`SegmentPost`] / [`SegmentPostBody`] (POST), [`BulkFailure`].

use rushes_time::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::{ErrorBody, GetUrl, ObjectId, TimeRangeText};

/// A Flow Segment as returned by `GET /flows/{id}/segments` (`flow-segment.json`).
///
/// `timerange` and `object_timerange` keep the text they were registered with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub object_id: ObjectId,
    pub timerange: TimeRangeText,
    /// Segment timestamp minus Media Object timestamp; `0:0` when unset.
    #[serde(
        default,
        with = "crate::text::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub ts_offset: Option<Timestamp>,
    /// Never negative.
    #[serde(
        default,
        with = "crate::text::opt_non_negative",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_duration: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_timerange: Option<TimeRangeText>,
    /// Deprecated in the spec; stored and returned when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_offset: Option<u64>,
    /// Deprecated in the spec; stored and returned when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_frame_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_urls: Option<Vec<GetUrl>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_object: Option<SegmentInitObject>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Segment {
    /// A Segment with only its required fields.
    pub fn new(object_id: ObjectId, timerange: TimeRangeText) -> Segment {
        Segment {
            object_id,
            timerange,
            ts_offset: None,
            last_duration: None,
            object_timerange: None,
            sample_offset: None,
            sample_count: None,
            key_frame_count: None,
            get_urls: None,
            init_object: None,
            extra: Map::new(),
        }
    }

    /// `ts_offset`, zero when unset.
    pub fn ts_offset_or_zero(&self) -> Timestamp {
        self.ts_offset.unwrap_or_default()
    }
}

/// `init_object` of a [`Segment`] (closed: unknown fields are refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentInitObject {
    pub object_id: ObjectId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_urls: Option<Vec<GetUrl>>,
}

/// One Segment to register (`flow-segment-post.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentPost {
    pub object_id: ObjectId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_object_id: Option<ObjectId>,
    pub timerange: TimeRangeText,
    #[serde(
        default,
        with = "crate::text::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub ts_offset: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_timerange: Option<TimeRangeText>,
    #[serde(
        default,
        with = "crate::text::opt_non_negative",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_duration: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_offset: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_count: Option<u64>,
    /// Uncontrolled URLs only; the store adds its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_urls: Option<Vec<UncontrolledUrl>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_frame_count: Option<u64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl SegmentPost {
    pub fn new(object_id: ObjectId, timerange: TimeRangeText) -> SegmentPost {
        SegmentPost {
            object_id,
            init_object_id: None,
            timerange,
            ts_offset: None,
            object_timerange: None,
            last_duration: None,
            sample_offset: None,
            sample_count: None,
            get_urls: None,
            key_frame_count: None,
            extra: Map::new(),
        }
    }
}

/// A client-registered URL in [`SegmentPost::get_urls`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UncontrolledUrl {
    pub url: String,
    pub label: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The body of `POST /flows/{id}/segments`: one Segment or a list.
#[derive(Debug, Clone, PartialEq)]
pub enum SegmentPostBody {
    One(Box<SegmentPost>),
    Many(Vec<SegmentPost>),
}

impl SegmentPostBody {
    pub fn into_vec(self) -> Vec<SegmentPost> {
        match self {
            SegmentPostBody::One(s) => vec![*s],
            SegmentPostBody::Many(v) => v,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            SegmentPostBody::One(_) => 1,
            SegmentPostBody::Many(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<'de> Deserialize<'de> for SegmentPostBody {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SegmentPostBody, D::Error> {
        use serde::de::Error;
        match Value::deserialize(d)? {
            v @ Value::Object(_) => serde_json::from_value(v)
                .map(|s| SegmentPostBody::One(Box::new(s)))
                .map_err(D::Error::custom),
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    serde_json::from_value(v)
                        .map_err(|e| D::Error::custom(format!("segment [{i}]: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(SegmentPostBody::Many),
            _ => Err(D::Error::custom(
                "expected a Flow Segment object or an array of them",
            )),
        }
    }
}

impl Serialize for SegmentPostBody {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SegmentPostBody::One(x) => x.serialize(s),
            SegmentPostBody::Many(v) => v.serialize(s),
        }
    }
}

/// The 200 answer to a partly failed Segment POST (`flow-segment-bulk-failure.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkFailure {
    pub failed_segments: Vec<FailedSegment>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One Segment that could not be registered, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedSegment {
    pub object_id: ObjectId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timerange: Option<TimeRangeText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
