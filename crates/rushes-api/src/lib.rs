//! The HTTP API of a Rushes store: TAMS v8.2 plus documented extensions.
//!
//! [`router`] assembles one route file per resource (`routes/<resource>.rs`). A request
//! is parsed at the edge by the extractors in [`extract`] (a failure is a 400 in the
//! spec's error shape through the one mapping in [`error`]), handed to one operation of
//! [`rushes_core::Store`], and the result is written back with the paging headers of
//! [`paging`]. Media bytes do not pass through here: they go through the signed URLs of
//! the media endpoint (`media.rs`).
//!
//! Access control is in [`auth`]: [`secured_router`] puts the TAMS routes behind it and
//! leaves the media endpoint to its signatures.
//!
//! **Invariant:** this crate never talks to the index directly; everything goes through
//! the store's operations.

pub mod auth;
pub mod error;
pub mod extract;
pub mod media;
pub mod paging;
pub mod routes;

use std::sync::Arc;

use axum::Router;
use rushes_core::Store;

pub use error::ApiError;

/// Limits on what a request may be.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest JSON request body, in bytes (media uploads are not bound by it).
    pub max_json_body: usize,
    /// Longest request URI (path and query), in bytes.
    pub max_uri_len: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_json_body: 16 * 1024 * 1024,
            max_uri_len: 16 * 1024,
        }
    }
}

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    /// The absolute base URL clients reach this node at, e.g. `http://127.0.0.1:8080`,
    /// used for paging links.
    pub public_url: url::Url,
    pub limits: Limits,
}

/// The whole API: the TAMS routes merged with `extra` (the media endpoint that serves
/// signed URLs on the embedded default).
pub fn router(state: AppState, extra: Router) -> Router {
    routes::router(state).merge(extra)
}

/// The whole API with access control: the TAMS routes (and their fallbacks) behind
/// `auth`, `extra` (the media endpoint, whose signed URLs are their own credential) not;
/// `cors`, if any, wraps both so that preflight requests are answered before auth.
pub fn secured_router(
    state: AppState,
    extra: Router,
    auth: auth::Auth,
    cors: Option<tower_http::cors::CorsLayer>,
) -> Router {
    let api = routes::router(state).layer(axum::middleware::from_fn_with_state(
        auth,
        auth::require_auth,
    ));
    let app = api.merge(extra);
    match cors {
        Some(cors) => app.layer(cors),
        None => app,
    }
}
