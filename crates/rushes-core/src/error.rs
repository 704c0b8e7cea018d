//! [`CoreError`]: the kinds of failure of a store operation.

use rushes_index::IndexError;

/// A failed store operation. The API maps each kind to one status code.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The request is malformed or breaks a rule of the spec (400).
    #[error("{0}")]
    BadRequest(String),
    /// The resource named does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The operation is not allowed on this resource, e.g. writing to a read-only flow (403).
    #[error("{0}")]
    Forbidden(String),
    /// The request conflicts with the stored state, e.g. an overlapping segment (409).
    #[error("{0}")]
    Conflict(String),
    /// A backing engine is unreachable or overloaded; the client may retry (503).
    #[error("{0}")]
    Unavailable(String),
    /// A fault inside the store (500). The message is logged, not shown in full.
    #[error("{0}")]
    Internal(String),
}

impl From<IndexError> for CoreError {
    fn from(e: IndexError) -> CoreError {
        match e {
            IndexError::NotFound(m) => CoreError::NotFound(m),
            IndexError::Conflict(m) => CoreError::Conflict(m),
            e if e.is_unavailable() => {
                CoreError::Unavailable(format!("metadata index unavailable: {e}"))
            }
            e => CoreError::Internal(e.to_string()),
        }
    }
}
