//! The TAMS routes, one module per resource, and the fallbacks that keep every answer in
//! the spec's error shape.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::error::ApiError;
use crate::AppState;

mod deletion;
mod events;
mod flows;
mod hls;
mod listing;
mod objects;
mod profiles;
mod root;
mod segments;
mod service;
mod sources;
mod storage;
mod webhooks;

/// Every TAMS route, with the JSON body limit and URI length limit applied.
pub fn router(state: AppState) -> Router {
    let limits = state.limits.clone();
    Router::new()
        .merge(root::router())
        .merge(service::router())
        .merge(profiles::router())
        .merge(webhooks::router())
        .merge(sources::router())
        .merge(flows::router())
        .merge(deletion::router())
        .merge(segments::router())
        .merge(storage::router())
        .merge(objects::router())
        .merge(events::router())
        .merge(hls::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(limits.max_json_body))
        .layer(middleware::from_fn_with_state(state.clone(), uri_limit))
        .with_state(state)
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(format!("no resource at {}", req.uri().path()))
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

async fn uri_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if len > state.limits.max_uri_len {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            "URITooLong",
            format!(
                "request URI of {len} bytes is longer than the limit of {}",
                state.limits.max_uri_len
            ),
        )
        .into_response();
    }
    next.run(req).await
}
