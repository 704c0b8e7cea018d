//! The operations and rules of a Rushes store.
//!
//! [`Store`] is the one entry point: the API layer turns each request into one call of an
//! operation in `ops/<resource>.rs`, which checks the rules (flow exists and is writable,
//! segments do not overlap, objects are known...) and writes through the metadata
//! [`Index`](rushes_index::Index) and the media store. Errors are [`CoreError`]s, which say
//! what kind of failure happened (bad request, not found, ...) without knowing HTTP.
//!
//! Background work (deletion requests, garbage collection of media objects, webhook
//! delivery from the outbox) lives in `workers/`. [`Principal`] is the caller as the rules
//! see it; `classes` decides what its `auth_classes` allow.
//!
//! **Invariant:** core serves no HTTP: no axum, no status codes. Its only HTTP is the
//! client that delivers webhooks.

pub mod classes;
mod clock;
mod error;
pub mod ops;
mod principal;
mod settings;
pub mod workers;

pub use clock::{now_ms, now_rfc3339};
pub use error::CoreError;
pub use ops::segments::PurgeProgress;
pub use principal::{Access, Permission, Principal};
pub use settings::StoreSettings;

use std::sync::Arc;

use rushes_index::Index;
use rushes_objects::MediaBackends;

/// Result type of store operations.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;

/// A Rushes store: metadata index, media objects and the rules that bind them.
#[derive(Debug)]
pub struct Store {
    pub(crate) index: Index,
    pub(crate) media: Arc<MediaBackends>,
    pub(crate) settings: StoreSettings,
}

impl Store {
    /// A store over an opened index and storage backends.
    pub fn new(index: Index, media: MediaBackends, settings: StoreSettings) -> Store {
        Store {
            index,
            media: Arc::new(media),
            settings,
        }
    }

    /// The storage backends, for the media endpoint that serves the local one's URLs.
    pub fn media(&self) -> &Arc<MediaBackends> {
        &self.media
    }

    pub fn settings(&self) -> &StoreSettings {
        &self.settings
    }

    /// Closes the index, waiting for running queries.
    pub async fn close(&self) {
        self.index.close().await;
    }
}
