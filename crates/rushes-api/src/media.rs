//! The media endpoint: `PUT`, `GET` and `HEAD` of `/media/{object_id}` through signed URLs.
//!
//! On the embedded default Rushes serves the signed URLs of a local [`MediaStore`] itself
//! (S3 backends' presigned URLs go to the S3 server). Bytes are
//! streamed in both directions and are never held whole in memory; this router is not bound
//! by the JSON body limit. A request is allowed by the signature in its query alone:
//! a bad, altered or expired signature is 403, an unknown object 404, a second upload of an
//! object 409, and an unsatisfiable range 416, all in the spec's error shape.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::Router;
use rushes_objects::{
    ByteRange, MediaBackends, MediaGrant, MediaMethod, MediaStore, ObjectInfo, ObjectsError,
};
use time::OffsetDateTime;

use crate::error::ApiError;

/// Content type of a response whose signed URL names none.
const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// The media endpoint for a store's backends: serves the local backend's URLs, if it
/// has one (an S3 backend's presigned URLs point at the S3 server, never here).
pub fn router_for(backends: &MediaBackends) -> Router {
    match backends.local() {
        Some(local) => router(local.clone()),
        None => Router::new(),
    }
}

/// The media endpoint, `/media/{*key}`, serving the signed URLs of `media`.
///
/// Mount it at the root of the public base URL the store was opened with.
pub fn router(media: Arc<MediaStore>) -> Router {
    Router::new()
        .route(
            "/media/{*key}",
            put(put_object).get(get_object).head(head_object),
        )
        .layer(DefaultBodyLimit::disable())
        .with_state(media)
}

/// Store the request body as the object, once.
#[tracing::instrument(skip_all, fields(object_id = %key))]
async fn put_object(
    State(media): State<Arc<MediaStore>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let grant = match authorize(&media, MediaMethod::Put, &key, query.as_deref()) {
        Ok(grant) => grant,
        Err(e) => return e.into_response(),
    };
    if let (Some(signed), Some(sent)) = (&grant.content_type, headers.get(header::CONTENT_TYPE)) {
        let same = sent
            .to_str()
            .is_ok_and(|sent| sent.trim().eq_ignore_ascii_case(signed));
        if !same {
            return forbidden("the Content-Type differs from the one the URL was signed for");
        }
    }
    match media
        .put_stream(&grant.object_id, body.into_data_stream())
        .await
    {
        Ok(info) => {
            tracing::debug!(size = info.size, "media object stored");
            let mut resp = StatusCode::CREATED.into_response();
            if let Some(etag) = etag(&info) {
                resp.headers_mut().insert(header::ETAG, etag);
            }
            resp
        }
        Err(e) => objects_error(e),
    }
}

/// Stream the object, or the byte range asked for.
#[tracing::instrument(skip_all, fields(object_id = %key))]
async fn get_object(
    State(media): State<Arc<MediaStore>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let grant = match authorize(&media, MediaMethod::Get, &key, query.as_deref()) {
        Ok(grant) => grant,
        Err(e) => return e.into_response(),
    };
    let mut range = requested_range(&headers);
    if range.is_some() && headers.contains_key(header::IF_RANGE) {
        match media.head(&grant.object_id).await {
            Ok(info) if !if_range_matches(&headers, &info) => range = None,
            Ok(_) => {}
            Err(e) => return objects_error(e),
        }
    }
    let read = match media.get_range(&grant.object_id, range).await {
        Ok(read) => read,
        Err(e) => return objects_error(e),
    };
    let partial = range.map(|_| read.range.clone());
    let head = head_response(&grant, &read.info, partial);
    with_body(head, Body::from_stream(read.body))
}

/// The headers a GET would answer with, without opening the object.
#[tracing::instrument(skip_all, fields(object_id = %key))]
async fn head_object(
    State(media): State<Arc<MediaStore>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let grant = match authorize(&media, MediaMethod::Get, &key, query.as_deref()) {
        Ok(grant) => grant,
        Err(e) => return e.into_response(),
    };
    let info = match media.head(&grant.object_id).await {
        Ok(info) => info,
        Err(e) => return objects_error(e),
    };
    let range = requested_range(&headers).filter(|_| if_range_matches(&headers, &info));
    let partial = match range {
        None => None,
        Some(range) => match range.resolve(info.size) {
            Some(resolved) => Some(resolved),
            None => return objects_error(ObjectsError::RangeNotSatisfiable { size: info.size }),
        },
    };
    head_response(&grant, &info, partial)
}

fn authorize(
    media: &MediaStore,
    method: MediaMethod,
    key: &str,
    query: Option<&str>,
) -> Result<MediaGrant, ApiError> {
    media.verify(method, key, query).map_err(|e| {
        tracing::debug!(reason = %e, "media URL refused");
        ApiError::new(StatusCode::FORBIDDEN, "Forbidden", e.to_string())
    })
}

/// Status and headers of a successful read: 200 for the whole object, 206 for `partial`.
fn head_response(
    grant: &MediaGrant,
    info: &ObjectInfo,
    partial: Option<std::ops::Range<u64>>,
) -> Response {
    let mut resp = Response::new(Body::empty());
    let headers = resp.headers_mut();
    let content_type = grant
        .content_type
        .as_deref()
        .and_then(|ct| HeaderValue::from_str(ct).ok())
        .unwrap_or(HeaderValue::from_static(DEFAULT_CONTENT_TYPE));
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    if let Some(etag) = etag(info) {
        headers.insert(header::ETAG, etag);
    }
    if let Some(date) = http_date(info.last_modified) {
        headers.insert(header::LAST_MODIFIED, date);
    }
    let length = match &partial {
        Some(range) => {
            let content_range = format!("bytes {}-{}/{}", range.start, range.end - 1, info.size);
            if let Ok(value) = HeaderValue::from_str(&content_range) {
                headers.insert(header::CONTENT_RANGE, value);
            }
            range.end - range.start
        }
        None => info.size,
    };
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if partial.is_some() {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    resp
}

fn with_body(head: Response, body: Body) -> Response {
    let (parts, _) = head.into_parts();
    Response::from_parts(parts, body)
}

/// The single byte range of a `Range` header, or `None` to serve the whole object: no
/// header, another unit, several ranges or bad syntax are all ignored (RFC 9110, 14.2).
fn requested_range(headers: &HeaderMap) -> Option<ByteRange> {
    let value = headers.get(header::RANGE)?.to_str().ok()?.trim();
    let (unit, spec) = value.split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    let spec = spec.trim();
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    match (first.trim().is_empty(), last.trim().is_empty()) {
        (true, true) => None,
        (true, false) => Some(ByteRange::Suffix(number(last)?)),
        (false, true) => Some(ByteRange::From(number(first)?)),
        (false, false) => {
            let (first, last) = (number(first)?, number(last)?);
            (first <= last).then_some(ByteRange::Inclusive { first, last })
        }
    }
}

/// Whether an `If-Range` header (if any) still names this object.
fn if_range_matches(headers: &HeaderMap, info: &ObjectInfo) -> bool {
    let Some(value) = headers.get(header::IF_RANGE) else {
        return true;
    };
    let value = value.as_bytes();
    etag(info).is_some_and(|e| e.as_bytes() == value)
        || http_date(info.last_modified).is_some_and(|d| d.as_bytes() == value)
}

fn etag(info: &ObjectInfo) -> Option<HeaderValue> {
    let tag = info.e_tag.as_deref()?;
    if tag.contains('"') {
        return None;
    }
    HeaderValue::from_str(&format!("\"{tag}\"")).ok()
}

/// An HTTP-date (IMF-fixdate), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date(t: SystemTime) -> Option<HeaderValue> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let text = OffsetDateTime::from(t).format(&format).ok()?;
    HeaderValue::from_str(&text).ok()
}

fn forbidden(summary: &str) -> Response {
    ApiError::new(StatusCode::FORBIDDEN, "Forbidden", summary).into_response()
}

/// The answer to a failed media operation.
fn objects_error(e: ObjectsError) -> Response {
    match e {
        ObjectsError::NotFound { object_id } => {
            ApiError::not_found(format!("media object {object_id} does not exist")).into_response()
        }
        ObjectsError::AlreadyExists { object_id } => ApiError::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!("media object {object_id} already exists; media objects are immutable"),
        )
        .into_response(),
        ObjectsError::RangeNotSatisfiable { size } => {
            let mut resp = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "RangeNotSatisfiable",
                format!("the range selects no byte of an object of {size} bytes"),
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                resp.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            resp
        }
        ObjectsError::Body(e) => {
            tracing::info!(error = %e, "media upload body failed; nothing stored");
            ApiError::bad_request("the upload body was not received completely; nothing was stored")
                .into_response()
        }
        e @ (ObjectsError::InvalidObjectId(_) | ObjectsError::InvalidContentType(_)) => {
            ApiError::bad_request(e.to_string()).into_response()
        }
        e => {
            tracing::error!(error = %e, "media storage failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "media storage failed; see the server log",
            )
            .into_response()
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use reqwest::header::{CONTENT_RANGE, CONTENT_TYPE, RANGE};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    const TTL: Duration = Duration::from_secs(300);

    struct Server {
        media: Arc<MediaStore>,
        addr: std::net::SocketAddr,
        client: reqwest::Client,
        _dir: tempfile::TempDir,
    }

    async fn serve() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = url::Url::parse(&format!("http://{addr}/")).unwrap();
        let media = Arc::new(MediaStore::open_local(dir.path(), None, base).unwrap());
        let app = router(Arc::clone(&media));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server {
            media,
            addr,
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    /// Check the spec's error shape and return its `type`.
    async fn error_type(resp: reqwest::Response) -> String {
        let body: serde_json::Value = resp.json().await.unwrap();
        let time = body["time"].as_str().unwrap();
        assert!(
            time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339)
                .is_ok()
        );
        assert!(!body["summary"].as_str().unwrap().is_empty());
        body["type"].as_str().unwrap().to_owned()
    }

    async fn upload(server: &Server, id: &str, data: Vec<u8>) -> reqwest::Response {
        let url = server.media.put_url(id, "video/mp2t", TTL).await.unwrap();
        // Sent in 64 KiB chunks, chunked transfer encoding: a streamed upload.
        let chunks: Vec<Result<Bytes, std::io::Error>> = data
            .chunks(64 * 1024)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        server
            .client
            .put(url)
            .header(CONTENT_TYPE, "video/mp2t")
            .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
            .send()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn upload_then_ranged_reads() {
        let server = serve().await;
        let data = pattern(6 * 1024 * 1024 + 123);
        let len = data.len();
        let resp = upload(&server, "clip-1", data.clone()).await;
        assert_eq!(resp.status(), StatusCode::CREATED);

        let url = server
            .media
            .get_url("clip-1", Some("video/mp2t"), TTL)
            .await
            .unwrap();
        let resp = server.client.get(url.clone()).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let h = resp.headers();
        assert_eq!(h[CONTENT_TYPE], "video/mp2t");
        assert_eq!(h[header::CONTENT_LENGTH], len.to_string().as_str());
        assert_eq!(h[header::ACCEPT_RANGES], "bytes");
        assert!(h.contains_key(header::ETAG));
        assert!(h[header::LAST_MODIFIED].to_str().unwrap().ends_with(" GMT"));
        let etag = h[header::ETAG].clone();
        assert_eq!(resp.bytes().await.unwrap(), data);

        for (range, start, end) in [
            ("bytes=0-99", 0, 100),
            ("bytes=1000-2000000", 1000, 2_000_001),
            (&format!("bytes={}-", len - 10), len - 10, len),
            ("bytes=-4096", len - 4096, len),
            (&format!("bytes=5-{}", len * 2), 5, len),
        ] {
            let resp = server
                .client
                .get(url.clone())
                .header(RANGE, range)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT, "{range}");
            let want_cr = format!("bytes {}-{}/{}", start, end - 1, len);
            assert_eq!(resp.headers()[CONTENT_RANGE], want_cr.as_str());
            assert_eq!(
                resp.headers()[header::CONTENT_LENGTH],
                (end - start).to_string().as_str()
            );
            assert_eq!(resp.bytes().await.unwrap(), data[start..end], "{range}");
        }

        // Unsatisfiable: 416 with the size; ignored (bad or multiple): the whole object.
        for range in [format!("bytes={len}-"), "bytes=-0".to_owned()] {
            let resp = server
                .client
                .get(url.clone())
                .header(RANGE, &range)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
            assert_eq!(
                resp.headers()[CONTENT_RANGE],
                format!("bytes */{len}").as_str()
            );
            assert_eq!(error_type(resp).await, "RangeNotSatisfiable");
        }
        for range in ["bytes=9-2", "bytes=0-1,5-6", "items=0-5", "bytes=x-"] {
            let resp = server
                .client
                .get(url.clone())
                .header(RANGE, range)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{range}");
            assert_eq!(resp.bytes().await.unwrap().len(), len);
        }

        // If-Range: the current ETag keeps the range, another one gets the whole object.
        let resp = server
            .client
            .get(url.clone())
            .header(RANGE, "bytes=0-9")
            .header(header::IF_RANGE, etag)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
        let resp = server
            .client
            .get(url.clone())
            .header(RANGE, "bytes=0-9")
            .header(header::IF_RANGE, "\"other\"")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);

        // HEAD: the same headers, no body.
        let resp = server.client.head(url.clone()).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()[header::CONTENT_LENGTH],
            len.to_string().as_str()
        );
        assert!(resp.bytes().await.unwrap().is_empty());
        let resp = server
            .client
            .head(url.clone())
            .header(RANGE, "bytes=-10")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(resp.headers()[header::CONTENT_LENGTH], "10");

        // Without a signed content type, the default one.
        let plain = server.media.get_url("clip-1", None, TTL).await.unwrap();
        let resp = server
            .client
            .get(plain)
            .header(RANGE, "bytes=0-0")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()[CONTENT_TYPE], DEFAULT_CONTENT_TYPE);
    }

    #[tokio::test]
    async fn second_upload_is_a_conflict() {
        let server = serve().await;
        assert_eq!(
            upload(&server, "once", pattern(10)).await.status(),
            StatusCode::CREATED
        );
        let resp = upload(&server, "once", pattern(20)).await;
        assert_eq!(resp.status(), StatusCode::CONFLICT);
        assert_eq!(error_type(resp).await, "Conflict");
        assert_eq!(server.media.head("once").await.unwrap().size, 10);
    }

    #[tokio::test]
    async fn bad_signatures_are_forbidden() {
        let server = serve().await;
        upload(&server, "obj", pattern(1000)).await;
        let get = server.media.get_url("obj", None, TTL).await.unwrap();

        let mut tampered = get.clone();
        let query = get.query().unwrap().replace("expires=", "expires=9");
        tampered.set_query(Some(&query));
        let mut other_object = get.clone();
        other_object.set_path("/media/obj2");
        let mut unsigned = get.clone();
        unsigned.set_query(None);
        let mut traversal = get.clone();
        traversal.set_path("/media/..%2Fbackend-id");
        for url in [tampered, other_object, unsigned, traversal] {
            let resp = server.client.get(url.clone()).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{url}");
            assert_eq!(error_type(resp).await, "Forbidden");
        }

        // A GET URL does not allow a PUT, nor a PUT URL a GET.
        let resp = server
            .client
            .put(get.clone())
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let put = server.media.put_url("new", "video/mp4", TTL).await.unwrap();
        let resp = server.client.get(put.clone()).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        // A PUT with another content type than the signed one.
        let resp = server
            .client
            .put(put.clone())
            .header(CONTENT_TYPE, "text/html")
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert!(!server.media.exists("new").await.unwrap());

        // Expired.
        let expired = server
            .media
            .get_url("obj", None, Duration::ZERO)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let resp = server.client.get(expired).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_type(resp).await, "Forbidden");
    }

    #[tokio::test]
    async fn unknown_object_is_not_found() {
        let server = serve().await;
        let url = server.media.get_url("missing", None, TTL).await.unwrap();
        let resp = server.client.get(url.clone()).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert_eq!(error_type(resp).await, "NotFound");
        let resp = server.client.head(url).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn interrupted_upload_stores_nothing() {
        let server = serve().await;
        let url = server
            .media
            .put_url("cut", "video/mp2t", TTL)
            .await
            .unwrap();
        let target = format!("{}?{}", url.path(), url.query().unwrap());
        let mut conn = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let head = format!(
            "PUT {target} HTTP/1.1\r\nHost: {}\r\nContent-Type: video/mp2t\r\n\
             Content-Length: 10000000\r\n\r\n",
            server.addr
        );
        conn.write_all(head.as_bytes()).await.unwrap();
        conn.write_all(&pattern(3 * 1024 * 1024)).await.unwrap();
        conn.shutdown().await.unwrap();
        // The server sees the body end early, stores nothing and says so.
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer))
            .await
            .unwrap()
            .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(!server.media.exists("cut").await.unwrap());
        let staging = server._dir.path().join("staging");
        assert_eq!(std::fs::read_dir(staging).unwrap().count(), 0);
        // The URL still works for a complete upload.
        let chunks = vec![Ok::<_, std::io::Error>(Bytes::from(pattern(5000)))];
        let resp = server
            .client
            .put(url)
            .header(CONTENT_TYPE, "video/mp2t")
            .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
    }

    /// Peak resident memory of this process, in bytes (Linux only).
    fn peak_rss() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    #[tokio::test]
    async fn large_upload_and_download_stream_with_bounded_memory() {
        const MB: usize = 1024 * 1024;
        const BLOCKS: usize = 200;
        let server = serve().await;
        let Some(before) = peak_rss() else {
            return; // No way to measure memory here.
        };
        let block = Bytes::from(pattern(MB));
        let blocks = std::iter::repeat_n(block, BLOCKS).map(Ok::<_, std::io::Error>);
        let url = server
            .media
            .put_url("big", "video/mp2t", TTL)
            .await
            .unwrap();
        let resp = server
            .client
            .put(url)
            .header(CONTENT_TYPE, "video/mp2t")
            .body(reqwest::Body::wrap_stream(futures::stream::iter(blocks)))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        assert_eq!(
            server.media.head("big").await.unwrap().size,
            (BLOCKS * MB) as u64
        );

        let url = server.media.get_url("big", None, TTL).await.unwrap();
        let resp = server.client.get(url).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let mut body = resp.bytes_stream();
        let mut offset = 0usize;
        while let Some(chunk) = futures::StreamExt::next(&mut body).await {
            let chunk = chunk.unwrap();
            // Spot-check the content: the first byte of every chunk.
            if let Some(&first) = chunk.first() {
                assert_eq!(first, ((offset % MB) % 251) as u8, "at {offset}");
            }
            offset += chunk.len();
        }
        assert_eq!(offset, BLOCKS * MB);

        // 200 MB went each way; holding either whole would raise the peak by 200 MB.
        let grown = peak_rss().unwrap().saturating_sub(before);
        assert!(grown < 120 * MB as u64, "peak memory grew by {grown} bytes");
    }
}
