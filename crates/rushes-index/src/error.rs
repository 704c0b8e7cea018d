//! [`IndexError`]: what can go wrong below the store's rules.

use rusqlite::ErrorCode;

/// An error from the metadata index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The row asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The write conflicts with what is stored (e.g. a unique key).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored value could not be read back (a bug or a damaged database).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The index is closed, or a write could not be applied; the client may retry.
    #[error("index unavailable: {0}")]
    Unavailable(String),
    /// The index has been closed.
    #[error("the index is closed")]
    Closed,
    /// The database answered with an error.
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// A JSON document stored in a row could not be read or written.
    #[error("stored JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl IndexError {
    /// True when the database is unreachable, busy or full rather than the request being
    /// wrong; the API answers 503 with a retry hint for these.
    pub fn is_unavailable(&self) -> bool {
        match self {
            IndexError::Unavailable(_) | IndexError::Closed => true,
            IndexError::Database(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                ErrorCode::DatabaseBusy
                    | ErrorCode::DatabaseLocked
                    | ErrorCode::SystemIoFailure
                    | ErrorCode::DiskFull
                    | ErrorCode::CannotOpen
                    | ErrorCode::OutOfMemory
            ),
            _ => false,
        }
    }
}

/// Maps a unique-constraint violation to [`IndexError::Conflict`] with `what` as the message.
pub(crate) fn conflict_on_unique(e: rusqlite::Error, what: impl FnOnce() -> String) -> IndexError {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        {
            return IndexError::Conflict(what());
        }
    }
    IndexError::Database(e)
}
