//! [`DeletionRequest`]: progress of a long-running deletion of Segments or a Flow (`deletion-request.json`).

use rushes_time::TimeRange;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{DeletionRequestId, ErrorBody, FlowId};

crate::essence::wire_enum!(
    /// The state of a deletion request.
    DeletionStatus { Created = "created", Started = "started", Done = "done", Error = "error" }
);

/// A deletion request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeletionRequest {
    pub id: DeletionRequestId,
    pub flow_id: FlowId,
    #[serde(with = "crate::text::plain")]
    pub timerange_to_delete: TimeRange,
    #[serde(
        default,
        with = "crate::text::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub timerange_remaining: Option<TimeRange>,
    pub delete_flow: bool,
    /// Date-time text (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Date-time text (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    /// Date-time text (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<String>,
    pub status: DeletionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
