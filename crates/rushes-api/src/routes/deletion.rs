//! `/flow-delete-requests` and `/flow-delete-requests/{id}`.

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use rushes_core::ops::deletion::DeletionOrder;
use rushes_model::DeletionRequest;

use super::listing::{listing_response, paging};
use crate::error::{ApiError, ApiResult};
use crate::extract::QueryParams;
use crate::AppState;
use axum::Extension;
use rushes_core::Principal;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/flow-delete-requests", get(list))
        .route("/flow-delete-requests/{request_id}", get(get_one))
}

async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    uri: Uri,
    q: QueryParams,
) -> ApiResult<Response> {
    let order = match q.get("sort_by") {
        None | Some("created") => DeletionOrder::Created,
        Some("expiry") => DeletionOrder::Expiry,
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "invalid query parameter sort_by={v:?}: expected created or expiry"
            )))
        }
    };
    let reverse = q.bool("reverse_order")?.unwrap_or(false);
    let paging = paging(&state, &q)?;
    let listing = state
        .store
        .list_deletion_requests(&principal, order, reverse, &paging)
        .await?;
    Ok(listing_response(
        &state,
        uri.path(),
        &q,
        &paging,
        reverse,
        listing,
    ))
}

/// The request id is plain text in the spec: anything unknown is not found.
async fn get_one(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<DeletionRequest>> {
    Ok(axum::Json(
        state.store.get_deletion_request(&principal, &id).await?,
    ))
}
