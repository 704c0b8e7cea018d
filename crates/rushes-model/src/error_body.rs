//! [`ErrorBody`]: the spec's error object (`error.json`), used in API errors and status fields.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An error: its type name, a summary, an optional traceback and when it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error type name, e.g. `BadRequest`.
    #[serde(rename = "type")]
    pub error_type: String,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceback: Option<Vec<String>>,
    /// Date-time text (RFC 3339).
    pub time: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ErrorBody {
    pub fn new(
        error_type: impl Into<String>,
        summary: impl Into<String>,
        time: impl Into<String>,
    ) -> ErrorBody {
        ErrorBody {
            error_type: error_type.into(),
            summary: summary.into(),
            traceback: None,
            time: time.into(),
            extra: Map::new(),
        }
    }
}
