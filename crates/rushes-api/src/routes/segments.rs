//! `/flows/{flow_id}/segments`: list (GET/HEAD), register (POST), delete (DELETE).

use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{extract::State, Router};
use rushes_core::ops::objects::UrlFilter;
use rushes_core::ops::segments::SegmentQuery;
use rushes_model::{
    BulkFailure, ErrorBody, FailedSegment, FlowId, ObjectId, SegmentPostBody, StorageBackendId,
    TimeRange,
};

use crate::error::ApiError;
use crate::extract::{Json, PathParam, QueryParams};
use crate::paging::{
    set_paging_headers, PageRequest, X_PAGING_COUNT, X_PAGING_REVERSE_ORDER, X_PAGING_TIMERANGE,
};
use crate::AppState;
use axum::Extension;
use rushes_core::Principal;

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/flows/{flow_id}/segments",
        get(list).post(register).delete(remove),
    )
}

/// The `get_urls` filters shared by segment and object listings.
pub(crate) fn url_filter(q: &QueryParams) -> Result<UrlFilter, ApiError> {
    let accept_storage_ids = match q.list("accept_storage_ids") {
        None => Vec::new(),
        Some(ids) => ids
            .iter()
            .map(|s| {
                StorageBackendId::parse(s).map_err(|e| {
                    ApiError::bad_request(format!(
                        "invalid query parameter accept_storage_ids: {e}"
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let mut backend_tag_exists = Vec::new();
    for (name, v) in q.with_prefix("storage_backend_tag_exists.") {
        let b = match v {
            "true" => true,
            "false" => false,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "invalid query parameter storage_backend_tag_exists.{name}={v:?}: expected true or false"
                )))
            }
        };
        backend_tag_exists.push((name.to_owned(), b));
    }
    Ok(UrlFilter {
        verbose: q.bool("verbose_storage")?.unwrap_or(false),
        accept_labels: q.list("accept_get_urls"),
        accept_storage_ids,
        presigned: q.bool("presigned")?,
        backend_tags: q
            .with_prefix("storage_backend_tag.")
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect(),
        backend_tag_exists,
    })
}

async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    PathParam(flow_id): PathParam<FlowId>,
    uri: Uri,
    q: QueryParams,
) -> Result<Response, ApiError> {
    let settings = state.store.settings();
    let paging = PageRequest::from_query(&q, settings.default_page_limit, settings.max_page_limit)?;
    let query = SegmentQuery {
        timerange: q.parse::<TimeRange>("timerange")?,
        object_id: q.parse::<ObjectId>("object_id")?,
        reverse: q.bool("reverse_order")?.unwrap_or(false),
        page: paging.page.clone(),
        limit: Some(paging.limit),
        include_object_timerange: q.bool("include_object_timerange")?.unwrap_or(false),
        urls: url_filter(&q)?,
    };
    let listing = state
        .store
        .list_segments(&principal, &flow_id, &query)
        .await?;
    let count = listing.segments.len();
    let mut resp = axum::Json(listing.segments).into_response();
    let h = resp.headers_mut();
    set_paging_headers(
        h,
        &state.public_url,
        uri.path(),
        &q,
        listing.limit,
        listing.next_key.as_deref(),
    );
    if let Ok(v) = HeaderValue::from_str(&listing.timerange.to_string()) {
        h.insert(X_PAGING_TIMERANGE.clone(), v);
    }
    h.insert(X_PAGING_COUNT.clone(), HeaderValue::from(count));
    h.insert(
        X_PAGING_REVERSE_ORDER.clone(),
        HeaderValue::from_static(if listing.reverse { "true" } else { "false" }),
    );
    Ok(resp)
}

async fn register(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    PathParam(flow_id): PathParam<FlowId>,
    Json(body): Json<SegmentPostBody>,
) -> Result<Response, ApiError> {
    let single = matches!(body, SegmentPostBody::One(_));
    let segments = body.into_vec();
    if segments.is_empty() {
        return Err(ApiError::bad_request("the request body holds no segments"));
    }
    let failures = state
        .store
        .register_segments(&principal, &flow_id, segments)
        .await?;
    if failures.is_empty() {
        return Ok(StatusCode::CREATED.into_response());
    }
    let mut failures = failures;
    if single {
        let f = failures.swap_remove(0);
        return Err(ApiError::from(f.error));
    }
    let time = rushes_core::now_rfc3339();
    let failed_segments = failures
        .into_iter()
        .map(|f| {
            let e = ApiError::from(f.error);
            FailedSegment {
                object_id: f.object_id,
                timerange: Some(f.timerange),
                error: Some(ErrorBody::new(e.kind, e.summary, time.clone())),
                extra: Default::default(),
            }
        })
        .collect();
    Ok((
        StatusCode::OK,
        axum::Json(BulkFailure {
            failed_segments,
            extra: Default::default(),
        }),
    )
        .into_response())
}

async fn remove(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    PathParam(flow_id): PathParam<FlowId>,
    q: QueryParams,
) -> Result<StatusCode, ApiError> {
    let timerange = q.parse::<TimeRange>("timerange")?;
    let object_id = q.parse::<ObjectId>("object_id")?;
    state
        .store
        .delete_segments(&principal, &flow_id, timerange, object_id.as_ref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
