//! Pagination: `limit` and `page` in, `Link: <...>; rel="next"`, `X-Paging-Limit`,
//! `X-Paging-NextKey` (and, for segments, `X-Paging-Timerange`, `X-Paging-Count`,
//! `X-Paging-Reverse-Order`) out. Keys are opaque to clients; each listing defines its
//! own keyset key.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::error::ApiError;
use crate::extract::QueryParams;

pub static X_PAGING_LIMIT: HeaderName = HeaderName::from_static("x-paging-limit");
pub static X_PAGING_NEXTKEY: HeaderName = HeaderName::from_static("x-paging-nextkey");
pub static X_PAGING_TIMERANGE: HeaderName = HeaderName::from_static("x-paging-timerange");
pub static X_PAGING_COUNT: HeaderName = HeaderName::from_static("x-paging-count");
pub static X_PAGING_REVERSE_ORDER: HeaderName = HeaderName::from_static("x-paging-reverse-order");

/// The paging parameters of a listing request.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// The effective limit: `limit` capped to the store's maximum.
    pub limit: u32,
    /// The opaque key of the page to return, from a previous `X-Paging-NextKey`.
    pub page: Option<String>,
}

impl PageRequest {
    /// Reads `limit` (a positive integer) and `page` from the query.
    pub fn from_query(
        q: &QueryParams,
        default_limit: u32,
        max_limit: u32,
    ) -> Result<PageRequest, ApiError> {
        let limit = match q.get("limit") {
            None => default_limit,
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n >= 1 => u32::try_from(n.min(u64::from(max_limit))).unwrap_or(max_limit),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "invalid query parameter limit={v:?}: expected a positive integer"
                    )))
                }
            },
        };
        let page = q.get("page").map(str::to_owned);
        Ok(PageRequest {
            limit: limit.min(max_limit),
            page,
        })
    }
}

/// Adds `X-Paging-Limit` and, when there is a next page, `X-Paging-NextKey` and a `Link`
/// to it built from `base` (the public URL), the request `path` and its query with `page`
/// replaced.
pub fn set_paging_headers(
    headers: &mut HeaderMap,
    base: &url::Url,
    path: &str,
    query: &QueryParams,
    limit: u32,
    next_key: Option<&str>,
) {
    headers.insert(X_PAGING_LIMIT.clone(), HeaderValue::from(limit));
    let Some(key) = next_key else { return };
    if let Ok(v) = HeaderValue::from_str(key) {
        headers.insert(X_PAGING_NEXTKEY.clone(), v);
    }
    let mut url = base.clone();
    url.set_path(path);
    {
        let mut pairs = url.query_pairs_mut();
        pairs.clear();
        for (k, v) in query.0.iter().filter(|(k, _)| k != "page" && k != "limit") {
            pairs.append_pair(k, v);
        }
        pairs.append_pair("limit", &limit.to_string());
        pairs.append_pair("page", key);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("<{url}>; rel=\"next\"")) {
        headers.insert(axum::http::header::LINK, v);
    }
}
