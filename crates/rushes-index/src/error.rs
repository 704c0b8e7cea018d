//! [`IndexError`]: what can go wrong below the store's rules.

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
    /// The database could not be reached or answered with an error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl IndexError {
    /// True when the database is unreachable or busy rather than the request being wrong;
    /// the API answers 503 with a retry hint for these.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            IndexError::Database(
                sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Io(_)
                    | sqlx::Error::WorkerCrashed
            )
        )
    }
}

/// Maps a unique-constraint violation to [`IndexError::Conflict`] with `what` as the message.
pub(crate) fn conflict_on_unique(e: sqlx::Error, what: impl FnOnce() -> String) -> IndexError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            return IndexError::Conflict(what());
        }
    }
    IndexError::Database(e)
}
