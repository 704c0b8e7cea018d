//! `/flows/{flow_id}/storage`: allocation of objects with signed upload URLs.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use rushes_model::{FlowId, FlowStorage, FlowStoragePost};

use crate::error::ApiError;
use crate::extract::{OptionalJson, PathParam};
use crate::AppState;
use axum::Extension;
use rushes_core::Principal;

pub fn router() -> Router<AppState> {
    Router::new().route("/flows/{flow_id}/storage", post(allocate))
}

async fn allocate(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    PathParam(flow_id): PathParam<FlowId>,
    OptionalJson(req): OptionalJson<FlowStoragePost>,
) -> Result<(StatusCode, axum::Json<FlowStorage>), ApiError> {
    // The body is optional: without one, the store's defaults apply.
    let req = req.unwrap_or_default();
    let storage = state
        .store
        .allocate_storage(&principal, &flow_id, &req)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(storage)))
}
