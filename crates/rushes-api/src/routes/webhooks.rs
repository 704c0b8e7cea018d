//! `/service/webhooks` and `/service/webhooks/{id}`: registrations.

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rushes_model::{WebhookGet, WebhookId, WebhookPost, WebhookPut};

use super::listing::{listing_response, paging, tag_filters};
use crate::error::ApiResult;
use crate::extract::{Json, PathParam, QueryParams};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/service/webhooks", get(list).post(create))
        .route(
            "/service/webhooks/{webhook_id}",
            get(get_one).put(update).delete(remove),
        )
}

async fn list(State(state): State<AppState>, uri: Uri, q: QueryParams) -> ApiResult<Response> {
    let tags = tag_filters(&q)?;
    let reverse = q.bool("reverse_order")?.unwrap_or(false);
    let paging = paging(&state, &q)?;
    let listing = state.store.list_webhooks(&tags, reverse, &paging).await?;
    Ok(listing_response(
        &state,
        uri.path(),
        &q,
        &paging,
        reverse,
        listing,
    ))
}

async fn create(
    State(state): State<AppState>,
    Json(post): Json<WebhookPost>,
) -> ApiResult<Response> {
    Ok((
        StatusCode::CREATED,
        axum::Json(state.store.create_webhook(post).await?),
    )
        .into_response())
}

async fn get_one(
    State(state): State<AppState>,
    PathParam(id): PathParam<WebhookId>,
) -> ApiResult<axum::Json<WebhookGet>> {
    Ok(axum::Json(state.store.get_webhook(id).await?))
}

/// The spec answers an update with 201 and the registration.
async fn update(
    State(state): State<AppState>,
    PathParam(id): PathParam<WebhookId>,
    Json(put): Json<WebhookPut>,
) -> ApiResult<Response> {
    Ok((
        StatusCode::CREATED,
        axum::Json(state.store.update_webhook(id, put).await?),
    )
        .into_response())
}

async fn remove(
    State(state): State<AppState>,
    PathParam(id): PathParam<WebhookId>,
) -> ApiResult<StatusCode> {
    state.store.delete_webhook(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
