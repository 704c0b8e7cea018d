//! TAMS v8.2 resources as Rust types, validated at the edge.
//!
//! Every request and response body of the API has a type here with serde derives (this
//! is the only crate with wire-format serde): [`Flow`] / [`FlowPut`], [`Source`],
//! [`Segment`] / [`SegmentPostBody`], [`Object`], [`Service`], [`StorageBackend`],
//! [`Profile`], the webhook types ([`WebhookPost`], [`WebhookGet`], …), [`DeletionRequest`],
//! [`FlowStoragePost`] / [`FlowStorage`], [`ErrorBody`] and the webhook [`WebhookEvent`]s.
//!
//! Parse, don't validate: ids are newtypes ([`FlowId`], [`ObjectId`], …) that only hold
//! valid values, times are [`rushes_time`] values, MIME types are [`MimeType`], and
//! closed schema objects refuse unknown fields. A failed parse is a serde error whose
//! message says which field and why, ready to become a 400. Open schema objects keep
//! unknown fields in an `extra` map and write them back. Absent optional fields are
//! omitted on output, never written as `null`.

mod deletion;
mod error;
mod error_body;
mod essence;
mod event;
mod flow;
mod ids;
mod mime;
mod object;
mod profile;
mod segment;
mod service;
mod source;
mod storage;
mod tags;
mod text;
mod webhook;

pub use deletion::{DeletionRequest, DeletionStatus};
pub use error::ParseError;
pub use error_body::ErrorBody;
pub use essence::{
    AudioCodecParameters, AudioEssence, AudioUncParameters, AudioUncType, AvcParameters,
    Colorspace, ComponentType, DataEssence, Essence, ImageEssence, InterlaceMode, MultiEssence,
    Rate, Ratio, TransferCharacteristic, VideoEssence, VideoUncParameters, VideoUncType,
};
pub use event::{Event, EventStreamMechanism, EventType, WebhookEvent};
pub use flow::{
    AudioTrackMapping, ContainerMapping, Flow, FlowCollectionItem, FlowCommon, FlowDefinition,
    FlowMedia, FlowPut, FlowStatus, Format, IsobmffMapping, Mp2tsMapping, MxfMapping,
};
pub use ids::{
    DeletionRequestId, FlowId, ObjectId, ProfileId, SourceId, StorageBackendId, WebhookId,
};
pub use mime::MimeType;
pub use object::{GetUrl, Object, ObjectInitRef, ObjectInstancesPost, StoreType};
pub use profile::{FlowMetadata, Profile};
pub use segment::{
    BulkFailure, FailedSegment, Segment, SegmentInitObject, SegmentPost, SegmentPostBody,
    UncontrolledUrl,
};
pub use service::{Service, ServicePost, StorageBackend};
pub use source::{Source, SourceCollectionItem};
pub use storage::{Allocation, FlowStorage, FlowStoragePost, HttpRequest, MediaObjectUpload};
pub use tags::{TagValue, Tags};
pub use text::TimeRangeText;
pub use webhook::{
    Webhook, WebhookGet, WebhookPost, WebhookPut, WebhookRequestStatus, WebhookStatus,
    WebhookWithId,
};

pub use rushes_time::{TimeRange, Timestamp};
