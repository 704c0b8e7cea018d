//! `/flows`, `/flows/{id}` and each Flow's properties: tags, label, description,
//! read_only, flow_collection, max_bit_rate and avg_bit_rate.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rushes_core::ops::deletion::DeleteFlowOutcome;
use rushes_core::ops::flows::{FlowEdit, FlowQuery, PutFlowOutcome};
use rushes_core::ops::listing::SortBy;
use rushes_model::{
    Flow, FlowCollectionItem, FlowId, FlowPut, FlowStatus, Format, MimeType, ProfileId, SourceId,
    TagValue, Tags, TimeRange,
};

use super::listing::{id_list, listing_response, paging, tag_filters};
use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_path, Json, PathParam, QueryParams};
use crate::AppState;
use axum::Extension;
use rushes_core::Principal;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/flows", get(list))
        .route(
            "/flows/{flow_id}",
            get(get_one).put(put_flow).delete(delete_flow),
        )
        .route("/flows/{flow_id}/tags", get(get_tags))
        .route(
            "/flows/{flow_id}/tags/{name}",
            get(get_tag).put(put_tag).delete(delete_tag),
        )
        .route(
            "/flows/{flow_id}/label",
            get(get_label).put(put_label).delete(delete_label),
        )
        .route(
            "/flows/{flow_id}/description",
            get(get_description)
                .put(put_description)
                .delete(delete_description),
        )
        .route(
            "/flows/{flow_id}/read_only",
            get(get_read_only).put(put_read_only),
        )
        .route(
            "/flows/{flow_id}/flow_collection",
            get(get_collection)
                .put(put_collection)
                .delete(delete_collection),
        )
        .route(
            "/flows/{flow_id}/max_bit_rate",
            get(get_max_bit_rate)
                .put(put_max_bit_rate)
                .delete(delete_max_bit_rate),
        )
        .route(
            "/flows/{flow_id}/avg_bit_rate",
            get(get_avg_bit_rate)
                .put(put_avg_bit_rate)
                .delete(delete_avg_bit_rate),
        )
}

fn status_param(v: &str) -> ApiResult<FlowStatus> {
    serde_json::from_value(serde_json::Value::String(v.to_owned())).map_err(|_| {
        ApiError::bad_request(format!(
            "invalid query parameter status={v:?}: expected a flow status"
        ))
    })
}

async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    uri: Uri,
    q: QueryParams,
) -> ApiResult<Response> {
    let sort = match q.get("sort_by") {
        None | Some("created") => SortBy::Created,
        Some("metadata_updated") => SortBy::Updated,
        Some("label") => SortBy::Label,
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "invalid query parameter sort_by={v:?}: expected created, metadata_updated or label"
            )))
        }
    };
    let query = FlowQuery {
        source_id: q.parse::<SourceId>("source_id")?,
        timerange: q.parse::<TimeRange>("timerange")?,
        format: q.parse::<Format>("format")?,
        codec: q.parse::<MimeType>("codec")?.map(|m| m.to_string()),
        profile_id: q.parse::<ProfileId>("profile_id")?,
        label: q.get("label").map(str::to_owned),
        status: q.get("status").map(status_param).transpose()?,
        tags: tag_filters(&q)?,
        frame_width: q.parse::<u32>("frame_width")?,
        frame_height: q.parse::<u32>("frame_height")?,
        init_segments: q.bool("init_segments")?,
        collected_by: id_list::<FlowId>(&q, "collected_by_ids")?,
        sort,
        reverse: q.bool("reverse_order")?.unwrap_or(false),
        paging: paging(&state, &q)?,
    };
    let listing = state.store.list_flows(&principal, &query).await?;
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
    PathParam(id): PathParam<FlowId>,
    q: QueryParams,
) -> ApiResult<axum::Json<Flow>> {
    let include = q.bool("include_timerange")?.unwrap_or(false);
    let timerange = q.parse::<TimeRange>("timerange")?;
    Ok(axum::Json(
        state
            .store
            .get_flow(&principal, id, include, timerange)
            .await?,
    ))
}

async fn put_flow(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    PathParam(id): PathParam<FlowId>,
    Json(put): Json<FlowPut>,
) -> ApiResult<Response> {
    Ok(match state.store.put_flow(&principal, id, put).await? {
        PutFlowOutcome::Created(flow) => (StatusCode::CREATED, axum::Json(flow)).into_response(),
        PutFlowOutcome::Updated => StatusCode::NO_CONTENT.into_response(),
    })
}

async fn delete_flow(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    PathParam(id): PathParam<FlowId>,
) -> ApiResult<Response> {
    Ok(match state.store.delete_flow(&principal, id).await? {
        DeleteFlowOutcome::Deleted => StatusCode::NO_CONTENT.into_response(),
        DeleteFlowOutcome::Accepted(request) => {
            let location = format!("/flow-delete-requests/{}", request.id);
            let mut resp = (StatusCode::ACCEPTED, axum::Json(request)).into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            resp
        }
    })
}

async fn flow(state: &AppState, principal: &Principal, id: FlowId) -> ApiResult<Flow> {
    Ok(state.store.get_flow(principal, id, false, None).await?)
}

async fn edit(
    state: &AppState,
    principal: &Principal,
    id: FlowId,
    e: FlowEdit,
) -> ApiResult<StatusCode> {
    state.store.edit_flow(principal, id, e).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn unset(id: FlowId, what: &str) -> ApiError {
    ApiError::not_found(format!("flow {id} has no {what}"))
}

fn id_and_name(p: (String, String)) -> ApiResult<(FlowId, String)> {
    Ok((parse_path::<FlowId>("flow id", &p.0)?, p.1))
}

async fn get_tags(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    PathParam(id): PathParam<FlowId>,
) -> ApiResult<axum::Json<Tags>> {
    Ok(axum::Json(
        flow(&state, &principal, id)
            .await?
            .common
            .tags
            .unwrap_or_default(),
    ))
}

async fn get_tag(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(p): Path<(String, String)>,
) -> ApiResult<axum::Json<TagValue>> {
    let (id, name) = id_and_name(p)?;
    let f = flow(&state, &principal, id).await?;
    f.common
        .tags
        .and_then(|mut t| t.remove(&name))
        .map(axum::Json)
        .ok_or_else(|| unset(id, &format!("tag {name:?}")))
}

async fn put_tag(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(p): Path<(String, String)>,
    Json(v): Json<TagValue>,
) -> ApiResult<StatusCode> {
    let (id, name) = id_and_name(p)?;
    edit(&state, &principal, id, FlowEdit::SetTag(name, v)).await
}

async fn delete_tag(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(p): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (id, name) = id_and_name(p)?;
    edit(&state, &principal, id, FlowEdit::DeleteTag(name)).await
}

async fn get_read_only(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    PathParam(id): PathParam<FlowId>,
) -> ApiResult<axum::Json<bool>> {
    Ok(axum::Json(flow(&state, &principal, id).await?.read_only()))
}

async fn put_read_only(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    PathParam(id): PathParam<FlowId>,
    Json(v): Json<bool>,
) -> ApiResult<StatusCode> {
    edit(&state, &principal, id, FlowEdit::ReadOnly(v)).await
}

/// The GET, PUT and DELETE handlers of an optional Flow property: GET answers the value,
/// or 404 when it is unset; PUT sets it; DELETE unsets it.
macro_rules! optional_property {
    ($get:ident, $put:ident, $delete:ident, $name:literal, $ty:ty, |$f:ident| $read:expr, $edit:path) => {
        async fn $get(
            State(state): State<AppState>,
            Extension(principal): Extension<Principal>,
            PathParam(id): PathParam<FlowId>,
        ) -> ApiResult<axum::Json<$ty>> {
            let $f = flow(&state, &principal, id).await?;
            $read.map(axum::Json).ok_or_else(|| unset(id, $name))
        }

        async fn $put(
            State(state): State<AppState>,
            Extension(principal): Extension<Principal>,
            PathParam(id): PathParam<FlowId>,
            Json(v): Json<$ty>,
        ) -> ApiResult<StatusCode> {
            edit(&state, &principal, id, $edit(Some(v))).await
        }

        async fn $delete(
            State(state): State<AppState>,
            Extension(principal): Extension<Principal>,
            PathParam(id): PathParam<FlowId>,
        ) -> ApiResult<StatusCode> {
            edit(&state, &principal, id, $edit(None)).await
        }
    };
}

optional_property!(
    get_label,
    put_label,
    delete_label,
    "label",
    String,
    |f| f.common.label,
    FlowEdit::Label
);
optional_property!(
    get_description,
    put_description,
    delete_description,
    "description",
    String,
    |f| f.common.description,
    FlowEdit::Description
);
optional_property!(
    get_collection,
    put_collection,
    delete_collection,
    "flow_collection",
    Vec<FlowCollectionItem>,
    |f| f.common.flow_collection,
    FlowEdit::Collection
);
optional_property!(
    get_max_bit_rate,
    put_max_bit_rate,
    delete_max_bit_rate,
    "max_bit_rate",
    u64,
    |f| f.common.max_bit_rate,
    FlowEdit::MaxBitRate
);
optional_property!(
    get_avg_bit_rate,
    put_avg_bit_rate,
    delete_avg_bit_rate,
    "avg_bit_rate",
    u64,
    |f| f.media.avg_bit_rate,
    FlowEdit::AvgBitRate
);
