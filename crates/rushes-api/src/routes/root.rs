//! `/`: the top-level paths of the API.

use axum::routing::get;
use axum::Router;

use crate::AppState;

/// The paths listed at `/`.
pub const ROOT_PATHS: [&str; 5] = [
    "service",
    "flows",
    "sources",
    "objects",
    "flow-delete-requests",
];

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(|| async { axum::Json(ROOT_PATHS) }))
}
