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
    /// SQLite answered with an error.
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// PostgreSQL answered with an error, or the connection to it failed.
    #[error("database error: {0}")]
    Postgres(#[from] tokio_postgres::Error),
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
            IndexError::Postgres(e) => pg_unavailable(e),
            _ => false,
        }
    }
}

/// True when a PostgreSQL error says the server is gone, starting, stopping, overloaded
/// or made this transaction give way (deadlock, serialization): worth a retry.
fn pg_unavailable(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        // No SQLSTATE: the connection or the protocol failed.
        None => true,
        Some(code) => {
            let c = code.code();
            c.starts_with("08") // connection exception
                || c.starts_with("53") // insufficient resources
                || c.starts_with("57P") // operator intervention: shutdown, cannot connect now
                || c == "40001" // serialization failure
                || c == "40P01" // deadlock detected
                || c == "25P03" // idle in transaction timeout
        }
    }
}

/// Maps a unique-constraint violation to [`IndexError::Conflict`] with `what` as the
/// message; other errors pass through. Takes either engine's error.
pub(crate) fn conflict_on_unique(
    e: impl Into<IndexError>,
    what: impl FnOnce() -> String,
) -> IndexError {
    let e = e.into();
    let unique = match &e {
        IndexError::Database(rusqlite::Error::SqliteFailure(f, _)) => {
            f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        }
        IndexError::Postgres(p) => {
            p.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
        }
        _ => false,
    };
    if unique {
        IndexError::Conflict(what())
    } else {
        e
    }
}
