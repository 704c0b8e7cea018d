//! Webhook event payloads ([`WebhookEvent`], the spec's `webhooks:` section) and [`EventStreamMechanism`].

use rushes_time::TimeRange;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Flow, FlowId, Segment, Source, SourceId};

crate::essence::wire_enum!(
    /// The kinds of event a webhook can subscribe to.
    EventType {
        FlowsCreated = "flows/created",
        FlowsUpdated = "flows/updated",
        FlowsDeleted = "flows/deleted",
        FlowsSegmentsAdded = "flows/segments_added",
        FlowsSegmentsDeleted = "flows/segments_deleted",
        SourcesCreated = "sources/created",
        SourcesUpdated = "sources/updated",
        SourcesDeleted = "sources/deleted",
    }
);

impl EventType {
    pub const ALL: [EventType; 8] = [
        EventType::FlowsCreated,
        EventType::FlowsUpdated,
        EventType::FlowsDeleted,
        EventType::FlowsSegmentsAdded,
        EventType::FlowsSegmentsDeleted,
        EventType::SourcesCreated,
        EventType::SourcesUpdated,
        EventType::SourcesDeleted,
    ];
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body the store POSTs to a webhook: `{event_timestamp, event_type, event}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// Date-time text (RFC 3339).
    pub event_timestamp: String,
    #[serde(flatten)]
    pub event: Event,
}

/// What happened: `event_type` and its `event` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "event")]
pub enum Event {
    #[serde(rename = "flows/created")]
    FlowCreated { flow: Box<Flow> },
    #[serde(rename = "flows/updated")]
    FlowUpdated { flow: Box<Flow> },
    #[serde(rename = "flows/deleted")]
    FlowDeleted { flow_id: FlowId },
    #[serde(rename = "flows/segments_added")]
    SegmentsAdded {
        flow_id: FlowId,
        segments: Vec<Segment>,
    },
    #[serde(rename = "flows/segments_deleted")]
    SegmentsDeleted {
        flow_id: FlowId,
        #[serde(with = "crate::text::plain")]
        timerange: TimeRange,
    },
    #[serde(rename = "sources/created")]
    SourceCreated { source: Box<Source> },
    #[serde(rename = "sources/updated")]
    SourceUpdated { source: Box<Source> },
    #[serde(rename = "sources/deleted")]
    SourceDeleted { source_id: SourceId },
}

impl Event {
    pub fn event_type(&self) -> EventType {
        match self {
            Event::FlowCreated { .. } => EventType::FlowsCreated,
            Event::FlowUpdated { .. } => EventType::FlowsUpdated,
            Event::FlowDeleted { .. } => EventType::FlowsDeleted,
            Event::SegmentsAdded { .. } => EventType::FlowsSegmentsAdded,
            Event::SegmentsDeleted { .. } => EventType::FlowsSegmentsDeleted,
            Event::SourceCreated { .. } => EventType::SourcesCreated,
            Event::SourceUpdated { .. } => EventType::SourcesUpdated,
            Event::SourceDeleted { .. } => EventType::SourcesDeleted,
        }
    }

    /// The Flow the event is about, for Flow and Segment events.
    pub fn flow_id(&self) -> Option<FlowId> {
        match self {
            Event::FlowCreated { flow } | Event::FlowUpdated { flow } => Some(flow.id()),
            Event::FlowDeleted { flow_id }
            | Event::SegmentsAdded { flow_id, .. }
            | Event::SegmentsDeleted { flow_id, .. } => Some(*flow_id),
            _ => None,
        }
    }

    /// The Source the event is about, where the payload names it.
    pub fn source_id(&self) -> Option<SourceId> {
        match self {
            Event::FlowCreated { flow } | Event::FlowUpdated { flow } => Some(flow.source_id()),
            Event::SourceCreated { source } | Event::SourceUpdated { source } => Some(source.id),
            Event::SourceDeleted { source_id } => Some(*source_id),
            _ => None,
        }
    }
}

/// A kind of event stream the store offers (`event-stream-common.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventStreamMechanism {
    pub name: String,
    /// Where its documentation is, e.g. a URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
