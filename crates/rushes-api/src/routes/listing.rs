//! What listing routes share: tag filters, paging and the listing answer with its headers.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rushes_core::ops::listing::{Listing, Paging, TagFilter};
use serde::Serialize;

use crate::error::{ApiError, ApiResult};
use crate::extract::QueryParams;
use crate::paging::{set_paging_headers, PageRequest, X_PAGING_COUNT, X_PAGING_REVERSE_ORDER};
use crate::AppState;

/// `tag.{name}=v1,v2` and `tag_exists.{name}=true|false` filters; a malformed value list
/// (an empty item) or a non-boolean `tag_exists` is a 400.
pub(crate) fn tag_filters(q: &QueryParams) -> ApiResult<Vec<TagFilter>> {
    let mut out = Vec::new();
    for (name, value) in q.with_prefix("tag.") {
        let values: Vec<String> = if value.is_empty() {
            Vec::new()
        } else {
            value.split(',').map(str::to_owned).collect()
        };
        if name.is_empty() || values.iter().any(String::is_empty) {
            return Err(ApiError::bad_request(format!(
                "invalid query parameter tag.{name}={value:?}: expected a tag name and a comma-separated list of non-empty values"
            )));
        }
        out.push(TagFilter::AnyOf {
            name: name.to_owned(),
            values,
        });
    }
    for (name, value) in q.with_prefix("tag_exists.") {
        let present = match value {
            "true" => true,
            "false" => false,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "invalid query parameter tag_exists.{name}={value:?}: expected true or false"
                )))
            }
        };
        out.push(TagFilter::Exists {
            name: name.to_owned(),
            present,
        });
    }
    Ok(out)
}

/// `limit` and `page` of a listing request, with the store's default and maximum.
pub(crate) fn paging(state: &AppState, q: &QueryParams) -> ApiResult<Paging> {
    let s = state.store.settings();
    let p = PageRequest::from_query(q, s.default_page_limit, s.max_page_limit)?;
    Ok(Paging {
        limit: p.limit,
        page: p.page,
    })
}

/// A comma-separated list of ids (`collected_by_ids`): `Some(empty)` for an empty value.
pub(crate) fn id_list<T>(q: &QueryParams, name: &str) -> ApiResult<Option<Vec<T>>>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let Some(raw) = q.get(name) else {
        return Ok(None);
    };
    if raw.is_empty() {
        return Ok(Some(Vec::new()));
    }
    raw.split(',')
        .map(|s| {
            s.parse::<T>().map_err(|e| {
                ApiError::bad_request(format!("invalid query parameter {name}={raw:?}: {e}"))
            })
        })
        .collect::<ApiResult<Vec<T>>>()
        .map(Some)
}

/// A 200 answer with the page's items and the paging headers (`Link`, `X-Paging-*`).
pub(crate) fn listing_response<T: Serialize>(
    state: &AppState,
    path: &str,
    q: &QueryParams,
    paging: &Paging,
    reverse: bool,
    listing: Listing<T>,
) -> Response {
    let count = listing.items.len();
    let mut resp = (StatusCode::OK, axum::Json(listing.items)).into_response();
    let headers = resp.headers_mut();
    set_paging_headers(
        headers,
        &state.public_url,
        path,
        q,
        paging.limit,
        listing.next_page.as_deref(),
    );
    headers.insert(X_PAGING_COUNT.clone(), HeaderValue::from(count));
    headers.insert(
        X_PAGING_REVERSE_ORDER.clone(),
        HeaderValue::from_static(if reverse { "true" } else { "false" }),
    );
    resp
}
