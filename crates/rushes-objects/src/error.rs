//! The error type of media object storage.

use std::path::PathBuf;

/// Why an operation on the media store failed.
#[derive(Debug, thiserror::Error)]
pub enum ObjectsError {
    /// The object id is not a valid TAMS object id for this store.
    #[error("invalid object id: {0}")]
    InvalidObjectId(&'static str),
    /// The content type cannot be signed into a URL or sent as a header.
    #[error("invalid content type: {0}")]
    InvalidContentType(&'static str),
    /// No object with this id is stored.
    #[error("object {object_id} not found")]
    NotFound {
        /// The object id asked for.
        object_id: String,
    },
    /// An object with this id is already stored; media is immutable.
    #[error("object {object_id} already exists")]
    AlreadyExists {
        /// The object id written to.
        object_id: String,
    },
    /// The requested byte range does not overlap the object.
    #[error("range not satisfiable for an object of {size} bytes")]
    RangeNotSatisfiable {
        /// Size of the object in bytes.
        size: u64,
    },
    /// The stream of bytes given to an upload failed; nothing was stored.
    #[error("upload body failed: {0}")]
    Body(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A file of the local store's setup (backend id, signing secret) could not be used.
    #[error("{context} {}: {source}", path.display())]
    Setup {
        /// What was being done.
        context: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The configuration cannot be used (bad base URL, short secret, corrupt id file).
    #[error("invalid media store configuration: {0}")]
    Config(String),
    /// Reading a stored object failed.
    #[error("cannot read media: {0}")]
    Read(#[source] std::io::Error),
    /// The storage backend cannot be reached, or refuses the credentials, when opened.
    #[error("cannot reach the object storage at {location}: {source}")]
    Unreachable {
        /// The storage URL, without credentials.
        location: String,
        /// What the backend answered.
        #[source]
        source: object_store::Error,
    },
    /// The storage backend failed.
    #[error("storage backend error: {0}")]
    Backend(#[from] object_store::Error),
}
