//! `/service` and `/service/storage-backends`.

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use rushes_model::{Service, ServicePost, StorageBackend};

use super::listing::tag_filters;
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::extract::{Json, QueryParams};
use crate::paging::PageRequest;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/service", get(get_service).post(post_service))
        .route("/service/storage-backends", get(storage_backends))
}

async fn get_service(State(state): State<AppState>) -> ApiResult<axum::Json<Service>> {
    Ok(axum::Json(state.store.service_info().await?))
}

/// Sets name and/or description; answers 200 with the service as it now is.
async fn post_service(
    State(state): State<AppState>,
    Json(post): Json<ServicePost>,
) -> ApiResult<axum::Json<Service>> {
    state.store.update_service(post).await?;
    Ok(axum::Json(state.store.service_info().await?))
}

async fn storage_backends(
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<axum::Json<Vec<StorageBackend>>> {
    let tags = tag_filters(&q)?;
    let reverse = q.bool("reverse_order")?.unwrap_or(false);
    // One backend fits in any page; the paging parameters are still checked.
    let settings = state.store.settings();
    let page = PageRequest::from_query(&q, settings.default_page_limit, settings.max_page_limit)?;
    if let Some(key) = page.page {
        // This listing is never more than one page, so it hands out no page keys.
        return Err(ApiError::bad_request(format!(
            "invalid query parameter page={key:?}: not a page key of this listing"
        )));
    }
    Ok(axum::Json(state.store.storage_backends(&tags, reverse)?))
}
