//! `/objects/{object_id}` (GET/HEAD) and `/objects/{object_id}/instances` (POST/DELETE).

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use rushes_core::ops::objects::ObjectQuery;
use rushes_model::{ObjectId, ObjectInstancesPost, StorageBackendId};

use super::segments::url_filter;
use crate::error::ApiError;
use crate::extract::{Json, PathParam, QueryParams};
use crate::paging::{set_paging_headers, PageRequest};
use crate::AppState;
use axum::Extension;
use rushes_core::Principal;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/objects/{object_id}", get(get_object))
        .route(
            "/objects/{object_id}/instances",
            post(add_instance).delete(delete_instance),
        )
}

async fn get_object(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    PathParam(id): PathParam<ObjectId>,
    uri: Uri,
    q: QueryParams,
) -> Result<Response, ApiError> {
    let settings = state.store.settings();
    let paging = PageRequest::from_query(&q, settings.max_page_limit, settings.max_page_limit)?;
    let mut flow_tag_exists = Vec::new();
    for (name, v) in q.with_prefix("flow_tag_exists.") {
        let b = match v {
            "true" => true,
            "false" => false,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "invalid query parameter flow_tag_exists.{name}={v:?}: expected true or false"
                )))
            }
        };
        flow_tag_exists.push((name.to_owned(), b));
    }
    let query = ObjectQuery {
        urls: url_filter(&q)?,
        flow_tags: q
            .with_prefix("flow_tag.")
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect(),
        flow_tag_exists,
        page: paging.page.clone(),
        limit: Some(paging.limit),
    };
    let page = state.store.get_object(&principal, &id, &query).await?;
    let mut resp = axum::Json(page.object).into_response();
    set_paging_headers(
        resp.headers_mut(),
        &state.public_url,
        uri.path(),
        &q,
        page.limit,
        page.next_key.as_deref(),
    );
    Ok(resp)
}

async fn add_instance(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    PathParam(id): PathParam<ObjectId>,
    Json(body): Json<ObjectInstancesPost>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .add_object_instance(&principal, &id, &body)
        .await?;
    Ok(StatusCode::CREATED)
}

async fn delete_instance(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    PathParam(id): PathParam<ObjectId>,
    q: QueryParams,
) -> Result<StatusCode, ApiError> {
    let storage_id = q.parse::<StorageBackendId>("storage_id")?;
    let label = q.get("label");
    if storage_id.is_none() && label.is_none() {
        return Err(ApiError::bad_request(
            "give the instance to delete as storage_id or label",
        ));
    }
    state
        .store
        .delete_object_instance(&principal, &id, storage_id.as_ref(), label)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
