//! `/sources` and each Source's `tags`, `label` and `description`.

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use rushes_core::ops::listing::SortBy;
use rushes_core::ops::sources::{SourceEdit, SourceQuery};
use rushes_model::{Format, Source, SourceId, TagValue, Tags};

use super::listing::{id_list, listing_response, paging, tag_filters};
use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_path, Json, PathParam, QueryParams};
use crate::AppState;
use axum::Extension;
use rushes_core::Principal;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sources", get(list))
        .route("/sources/{source_id}", get(get_one))
        .route("/sources/{source_id}/tags", get(get_tags))
        .route(
            "/sources/{source_id}/tags/{name}",
            get(get_tag).put(put_tag).delete(delete_tag),
        )
        .route(
            "/sources/{source_id}/label",
            get(get_label).put(put_label).delete(delete_label),
        )
        .route(
            "/sources/{source_id}/description",
            get(get_description)
                .put(put_description)
                .delete(delete_description),
        )
}

async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    uri: Uri,
    q: QueryParams,
) -> ApiResult<Response> {
    let sort = match q.get("sort_by") {
        None | Some("created") => SortBy::Created,
        Some("updated") => SortBy::Updated,
        Some("label") => SortBy::Label,
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "invalid query parameter sort_by={v:?}: expected created, updated or label"
            )))
        }
    };
    let query = SourceQuery {
        label: q.get("label").map(str::to_owned),
        format: q.parse::<Format>("format")?,
        tags: tag_filters(&q)?,
        collected_by: id_list::<SourceId>(&q, "collected_by_ids")?,
        sort,
        reverse: q.bool("reverse_order")?.unwrap_or(false),
        paging: paging(&state, &q)?,
    };
    let listing = state.store.list_sources(&principal, &query).await?;
    Ok(listing_response(
        &state,
        uri.path(),
        &q,
        &query.paging,
        query.reverse,
        listing,
    ))
}

async fn get_one(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    PathParam(id): PathParam<SourceId>,
) -> ApiResult<axum::Json<Source>> {
    Ok(axum::Json(state.store.get_source(&principal, id).await?))
}

async fn get_tags(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    PathParam(id): PathParam<SourceId>,
) -> ApiResult<axum::Json<Tags>> {
    Ok(axum::Json(
        state
            .store
            .get_source(&principal, id)
            .await?
            .tags
            .unwrap_or_default(),
    ))
}

fn id_and_name(p: (String, String)) -> ApiResult<(SourceId, String)> {
    Ok((parse_path::<SourceId>("source id", &p.0)?, p.1))
}

async fn get_tag(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(p): Path<(String, String)>,
) -> ApiResult<axum::Json<TagValue>> {
    let (id, name) = id_and_name(p)?;
    let source = state.store.get_source(&principal, id).await?;
    source
        .tags
        .and_then(|mut t| t.remove(&name))
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found(format!("source {id} has no tag {name:?}")))
}

async fn put_tag(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(p): Path<(String, String)>,
    Json(v): Json<TagValue>,
) -> ApiResult<StatusCode> {
    let (id, name) = id_and_name(p)?;
    state
        .store
        .edit_source(&principal, id, SourceEdit::SetTag(name, v))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_tag(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(p): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (id, name) = id_and_name(p)?;
    state
        .store
        .edit_source(&principal, id, SourceEdit::DeleteTag(name))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_label(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    PathParam(id): PathParam<SourceId>,
) -> ApiResult<axum::Json<String>> {
    let s = state.store.get_source(&principal, id).await?;
    s.label
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found(format!("source {id} has no label")))
}

async fn put_label(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    PathParam(id): PathParam<SourceId>,
    Json(v): Json<String>,
) -> ApiResult<StatusCode> {
    state
        .store
        .edit_source(&principal, id, SourceEdit::Label(Some(v)))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_label(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    PathParam(id): PathParam<SourceId>,
) -> ApiResult<StatusCode> {
    state
        .store
        .edit_source(&principal, id, SourceEdit::Label(None))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_description(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    PathParam(id): PathParam<SourceId>,
) -> ApiResult<axum::Json<String>> {
    let s = state.store.get_source(&principal, id).await?;
    s.description
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found(format!("source {id} has no description")))
}

async fn put_description(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    PathParam(id): PathParam<SourceId>,
    Json(v): Json<String>,
) -> ApiResult<StatusCode> {
    state
        .store
        .edit_source(&principal, id, SourceEdit::Description(Some(v)))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_description(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    PathParam(id): PathParam<SourceId>,
) -> ApiResult<StatusCode> {
    state
        .store
        .edit_source(&principal, id, SourceEdit::Description(None))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
