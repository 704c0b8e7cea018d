//! [`Client`]: the requests, their credentials, retries and paging.

use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use reqwest::header::{HeaderMap, CONTENT_TYPE, LINK, RETRY_AFTER};
use reqwest::{Method, Response, StatusCode};
use rushes_model::{
    BulkFailure, FailedSegment, Flow, FlowId, FlowPut, FlowStoragePost, HttpRequest,
    MediaObjectUpload, Object, Segment, SegmentPost, Service, Source, SourceId,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use url::Url;

use crate::query::{next_link, Query};
use crate::Error;

/// The credentials sent with every TAMS API request (never with media URLs).
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Auth {
    #[default]
    None,
    /// `Authorization: Bearer {token}`.
    Bearer(String),
    /// `Authorization: Basic base64({user}:{password})`.
    Basic { user: String, password: String },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials never reach logs.
        match self {
            Auth::None => f.write_str("None"),
            Auth::Bearer(_) => f.write_str("Bearer(..)"),
            Auth::Basic { user, .. } => write!(f, "Basic {{ user: {user:?}, .. }}"),
        }
    }
}

/// How a [`Client`] behaves; see [`ClientBuilder`].
#[derive(Debug, Clone)]
struct Settings {
    timeout: Duration,
    transfer_timeout: Duration,
    max_retries: u32,
    first_backoff: Duration,
    max_backoff: Duration,
}

/// Builds a [`Client`] with other timeouts or retries than the defaults.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: String,
    auth: Auth,
    connect_timeout: Duration,
    settings: Settings,
}

impl ClientBuilder {
    /// Time allowed to open a connection (default 10 s).
    pub fn connect_timeout(mut self, t: Duration) -> ClientBuilder {
        self.connect_timeout = t;
        self
    }

    /// Time allowed for one API request and its answer (default 30 s).
    pub fn timeout(mut self, t: Duration) -> ClientBuilder {
        self.settings.timeout = t;
        self
    }

    /// Time allowed for one media upload or download (default 10 min).
    pub fn transfer_timeout(mut self, t: Duration) -> ClientBuilder {
        self.settings.transfer_timeout = t;
        self
    }

    /// How many times a 503 with `Retry-After` is retried (default 4). Only requests
    /// that can be repeated are retried: GET, HEAD, PUT, DELETE, never a POST.
    pub fn max_retries(mut self, n: u32) -> ClientBuilder {
        self.settings.max_retries = n;
        self
    }

    /// The first and the longest wait between retries (default 250 ms and 10 s). The
    /// wait doubles each time, is at least what `Retry-After` asks and at most `max`.
    pub fn backoff(mut self, first: Duration, max: Duration) -> ClientBuilder {
        self.settings.first_backoff = first;
        self.settings.max_backoff = max;
        self
    }

    pub fn build(self) -> Result<Client, Error> {
        let base = parse_base(&self.base_url)?;
        let http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .build()
            .map_err(Error::Build)?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                auth: self.auth,
                settings: self.settings,
            }),
        })
    }
}

fn parse_base(s: &str) -> Result<Url, Error> {
    let invalid = |why: &str| Error::InvalidUrl {
        url: s.to_owned(),
        why: why.to_owned(),
    };
    let url = Url::parse(s).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("expected an http or https URL"));
    }
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(invalid("expected a URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("the store's URL must not have a query or fragment"));
    }
    Ok(url)
}

/// A typed client of one TAMS store. Cheap to clone (clones share connections).
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    base: Url,
    auth: Auth,
    settings: Settings,
}

/// How much of a file an upload reads at a time.
const UPLOAD_CHUNK: usize = 1 << 20;

/// A request body that can be sent again on a retry.
#[derive(Clone)]
enum Payload {
    Empty,
    Json(Bytes),
    Media { bytes: Bytes },
    File(PathBuf),
}

/// The bytes of a media upload.
#[derive(Debug)]
pub enum UploadBody {
    /// Bytes in memory; retried on a 503.
    Bytes(Bytes),
    /// A local file, streamed; retried on a 503 (the file is read again).
    File(PathBuf),
    /// Any body, e.g. `reqwest::Body::wrap_stream(...)`; sent once, never retried.
    Stream(reqwest::Body),
}

impl From<Bytes> for UploadBody {
    fn from(b: Bytes) -> UploadBody {
        UploadBody::Bytes(b)
    }
}

impl From<Vec<u8>> for UploadBody {
    fn from(b: Vec<u8>) -> UploadBody {
        UploadBody::Bytes(Bytes::from(b))
    }
}

/// One request to send: where, how, and whether it may be repeated.
struct Call<'a> {
    method: Method,
    url: Url,
    payload: Payload,
    content_type: Option<&'a str>,
    headers: &'a [(String, String)],
    /// TAMS API request (credentials, API timeout) or media transfer (neither).
    api: bool,
}

impl Client {
    /// A client of the store at `base_url` (e.g. `http://127.0.0.1:8080`, or a URL with
    /// a path prefix), with the default timeouts and retries.
    pub fn new(base_url: &str, auth: Auth) -> Result<Client, Error> {
        Client::builder(base_url, auth).build()
    }

    pub fn builder(base_url: &str, auth: Auth) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.to_owned(),
            auth,
            connect_timeout: Duration::from_secs(10),
            settings: Settings {
                timeout: Duration::from_secs(30),
                transfer_timeout: Duration::from_secs(600),
                max_retries: 4,
                first_backoff: Duration::from_millis(250),
                max_backoff: Duration::from_secs(10),
            },
        }
    }

    /// The store's URL.
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// The URL of the API path made of `segments` (each percent-encoded) and `query`.
    pub fn url(&self, segments: &[&str], query: &Query) -> Url {
        let mut url = self.inner.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.pairs().is_empty() {
            url.query_pairs_mut().extend_pairs(query.pairs());
        }
        url
    }

    // ---- service, sources, flows ----

    /// `GET /service`.
    pub async fn get_service(&self) -> Result<Service, Error> {
        self.get(&["service"], &Query::new()).await
    }

    /// `GET /sources/{id}`.
    pub async fn get_source(&self, id: SourceId) -> Result<Source, Error> {
        self.get(&["sources", &id.to_string()], &Query::new()).await
    }

    /// `GET /sources`, page by page.
    pub fn list_sources(&self, query: &Query) -> Pages<Source> {
        self.pages(&["sources"], query)
    }

    /// `GET /flows/{id}`.
    pub async fn get_flow(&self, id: FlowId) -> Result<Flow, Error> {
        self.get(&["flows", &id.to_string()], &Query::new()).await
    }

    /// `GET /flows`, page by page.
    pub fn list_flows(&self, query: &Query) -> Pages<Flow> {
        self.pages(&["flows"], query)
    }

    /// `PUT /flows/{id}`: creates the Flow (and its Source, if new) or replaces its
    /// metadata. Retried on a 503 (a PUT can be repeated).
    pub async fn put_flow(&self, flow: &FlowPut) -> Result<(), Error> {
        let id = flow.id().to_string();
        self.put_json(&["flows", &id], flow).await
    }

    /// `PUT /flows/{id}/read_only`.
    pub async fn set_read_only(&self, id: FlowId, read_only: bool) -> Result<(), Error> {
        self.put_json(&["flows", &id.to_string(), "read_only"], &read_only)
            .await
    }

    /// `PUT /flows/{id}/label`.
    pub async fn set_flow_label(&self, id: FlowId, label: &str) -> Result<(), Error> {
        self.put_json(&["flows", &id.to_string(), "label"], &label)
            .await
    }

    // ---- media: storage, upload, segments, objects ----

    /// `POST /flows/{id}/storage`: where to upload new Objects of the Flow. Not retried.
    pub async fn allocate_storage(
        &self,
        flow: FlowId,
        request: &FlowStoragePost,
    ) -> Result<Vec<MediaObjectUpload>, Error> {
        let url = self.url(&["flows", &flow.to_string(), "storage"], &Query::new());
        let resp = self.send_json(Method::POST, url.clone(), request).await?;
        // Read leniently: `flow-storage.json` is closed, but a store that adds a field
        // beside `media_objects` still gives usable upload targets.
        let mut body: Value = decode(Method::POST, resp).await?;
        let objects = body
            .get_mut("media_objects")
            .map(Value::take)
            .unwrap_or_else(|| Value::Array(Vec::new()));
        serde_json::from_value(objects).map_err(|e| Error::Decode {
            method: Method::POST,
            url: url.to_string(),
            why: format!("media_objects: {e}"),
        })
    }

    /// Uploads one Object's bytes to the `put_url` that [`Client::allocate_storage`]
    /// gave, with its `content-type` and headers, without the store's credentials (the
    /// URL is its own credential).
    pub async fn upload(&self, put_url: &HttpRequest, body: UploadBody) -> Result<(), Error> {
        let url = parse_media_url(&put_url.url)?;
        let headers: Vec<(String, String)> = put_url
            .headers
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let content_type = put_url.content_type.as_deref();
        let resp = match body {
            UploadBody::Bytes(bytes) => {
                self.send(Call {
                    method: Method::PUT,
                    url,
                    payload: Payload::Media { bytes },
                    content_type,
                    headers: &headers,
                    api: false,
                })
                .await?
            }
            UploadBody::File(path) => {
                self.send(Call {
                    method: Method::PUT,
                    url,
                    payload: Payload::File(path),
                    content_type,
                    headers: &headers,
                    api: false,
                })
                .await?
            }
            UploadBody::Stream(body) => {
                let mut req = self
                    .inner
                    .http
                    .put(url.clone())
                    .timeout(self.inner.settings.transfer_timeout)
                    .body(body);
                if let Some(ct) = content_type {
                    req = req.header(CONTENT_TYPE, ct);
                }
                for (k, v) in &headers {
                    req = req.header(k.as_str(), v.as_str());
                }
                let resp = req.send().await.map_err(|source| Error::Transport {
                    method: Method::PUT,
                    url: url.to_string(),
                    source,
                })?;
                check(Method::PUT, resp).await?
            }
        };
        drop(resp);
        Ok(())
    }

    /// Downloads the bytes at a media URL (e.g. a Segment's `get_urls` entry), without
    /// the store's credentials. Retried on a 503.
    pub async fn download(&self, url: &str) -> Result<Bytes, Error> {
        let url = parse_media_url(url)?;
        let resp = self
            .send(Call {
                method: Method::GET,
                url: url.clone(),
                payload: Payload::Empty,
                content_type: None,
                headers: &[],
                api: false,
            })
            .await?;
        resp.bytes().await.map_err(|source| Error::Transport {
            method: Method::GET,
            url: url.to_string(),
            source,
        })
    }

    /// `POST /flows/{id}/segments` with one Segment. Not retried: on a transport error
    /// the caller decides (e.g. by listing the Flow's segments).
    pub async fn post_segment(
        &self,
        flow: FlowId,
        segment: &SegmentPost,
    ) -> Result<Vec<FailedSegment>, Error> {
        self.post_segments_body(flow, segment).await
    }

    /// `POST /flows/{id}/segments` with a list. `Ok` with the segments the store could
    /// not register (its `flow-segment-bulk-failure` answer), empty when all were.
    /// Not retried.
    pub async fn post_segments(
        &self,
        flow: FlowId,
        segments: &[SegmentPost],
    ) -> Result<Vec<FailedSegment>, Error> {
        self.post_segments_body(flow, &segments).await
    }

    async fn post_segments_body(
        &self,
        flow: FlowId,
        body: &impl Serialize,
    ) -> Result<Vec<FailedSegment>, Error> {
        let url = self.url(&["flows", &flow.to_string(), "segments"], &Query::new());
        let resp = self.send_json(Method::POST, url.clone(), body).await?;
        if resp.status() != StatusCode::OK {
            return Ok(Vec::new());
        }
        let raw = read_body(Method::POST, resp).await?;
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Ok(Vec::new());
        }
        let failure: BulkFailure = serde_json::from_slice(&raw).map_err(|e| Error::Decode {
            method: Method::POST,
            url: url.to_string(),
            why: format!("expected a flow-segment-bulk-failure body: {e}"),
        })?;
        Ok(failure.failed_segments)
    }

    /// `GET /flows/{id}/segments`, page by page (e.g. with [`Query::timerange`]).
    pub fn list_segments(&self, flow: FlowId, query: &Query) -> Pages<Segment> {
        self.pages(&["flows", &flow.to_string(), "segments"], query)
    }

    /// `GET /objects/{id}`.
    pub async fn get_object(&self, id: &str) -> Result<Object, Error> {
        self.get(&["objects", id], &Query::new()).await
    }

    // ---- generic requests, for what the typed calls do not cover ----

    /// `GET` an API path and decode its JSON as `T` (e.g. `serde_json::Value` for an
    /// answer the typed model refuses).
    pub async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &Query,
    ) -> Result<T, Error> {
        let resp = self
            .send_api(Method::GET, self.url(segments, query))
            .await?;
        decode(Method::GET, resp).await
    }

    /// `GET` an API path as JSON, undecoded.
    pub async fn get_json(&self, segments: &[&str], query: &Query) -> Result<Value, Error> {
        self.get(segments, query).await
    }

    /// A listing of any API path, page by page, each item decoded as `T`.
    pub fn pages<T: DeserializeOwned>(&self, segments: &[&str], query: &Query) -> Pages<T> {
        Pages {
            client: self.clone(),
            next: Some(self.url(segments, query)),
            _items: PhantomData,
        }
    }

    /// `PUT` a JSON body to an API path; retried on a 503.
    pub async fn put_json(&self, segments: &[&str], body: &impl Serialize) -> Result<(), Error> {
        let url = self.url(segments, &Query::new());
        self.send_json(Method::PUT, url, body).await.map(drop)
    }

    /// `DELETE` an API path; retried on a 503.
    pub async fn delete(&self, segments: &[&str]) -> Result<(), Error> {
        let url = self.url(segments, &Query::new());
        self.send_api(Method::DELETE, url).await.map(drop)
    }

    // ---- plumbing ----

    async fn send_api(&self, method: Method, url: Url) -> Result<Response, Error> {
        self.send(Call {
            method,
            url,
            payload: Payload::Empty,
            content_type: None,
            headers: &[],
            api: true,
        })
        .await
    }

    async fn send_json(
        &self,
        method: Method,
        url: Url,
        body: &impl Serialize,
    ) -> Result<Response, Error> {
        let json = serde_json::to_vec(body).map_err(|e| Error::Decode {
            method: method.clone(),
            url: url.to_string(),
            why: format!("the request body cannot be written as JSON: {e}"),
        })?;
        self.send(Call {
            method,
            url,
            payload: Payload::Json(Bytes::from(json)),
            content_type: Some("application/json"),
            headers: &[],
            api: true,
        })
        .await
    }

    /// Sends `call`, retrying a 503 that carries `Retry-After` when the method can be
    /// repeated; any other answer that is not a success becomes [`Error::Status`].
    async fn send(&self, call: Call<'_>) -> Result<Response, Error> {
        let s = &self.inner.settings;
        let repeatable = matches!(
            call.method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE
        );
        let mut attempt = 0u32;
        loop {
            let req = self.build(&call).await?;
            let resp = req.send().await.map_err(|source| Error::Transport {
                method: call.method.clone(),
                url: call.url.to_string(),
                source,
            })?;
            if resp.status() == StatusCode::SERVICE_UNAVAILABLE
                && repeatable
                && attempt < s.max_retries
            {
                if let Some(asked) = retry_after(resp.headers()) {
                    let backoff = s.first_backoff.saturating_mul(2u32.saturating_pow(attempt));
                    let wait = asked.max(backoff).min(s.max_backoff);
                    drop(resp);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                    continue;
                }
            }
            return check(call.method.clone(), resp).await;
        }
    }

    async fn build(&self, call: &Call<'_>) -> Result<reqwest::RequestBuilder, Error> {
        let s = &self.inner.settings;
        let mut req = self
            .inner
            .http
            .request(call.method.clone(), call.url.clone())
            .timeout(if call.api {
                s.timeout
            } else {
                s.transfer_timeout
            });
        if call.api {
            req = match &self.inner.auth {
                Auth::None => req,
                Auth::Bearer(token) => req.bearer_auth(token),
                Auth::Basic { user, password } => req.basic_auth(user, Some(password)),
            };
        }
        if let Some(ct) = call.content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        for (k, v) in call.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        Ok(match &call.payload {
            Payload::Empty => req,
            Payload::Json(b) | Payload::Media { bytes: b } => req.body(b.clone()),
            Payload::File(path) => {
                let file = tokio::fs::File::open(path)
                    .await
                    .map_err(|source| Error::File {
                        path: path.display().to_string(),
                        source,
                    })?;
                let len = file
                    .metadata()
                    .await
                    .map_err(|source| Error::File {
                        path: path.display().to_string(),
                        source,
                    })?
                    .len();
                // Large reads: each one is a hand-off to tokio's blocking pool and a write
                // to the socket, so the default 4 KiB made uploads CPU-bound.
                let stream = tokio_util::io::ReaderStream::with_capacity(file, UPLOAD_CHUNK);
                req.header(reqwest::header::CONTENT_LENGTH, len)
                    .body(reqwest::Body::wrap_stream(stream))
            }
        })
    }
}

/// `Retry-After` as a wait: delta-seconds, or zero for an HTTP date or anything else
/// (the backoff then decides). `None` when absent.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?;
    let secs = v
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0);
    Some(Duration::from_secs(secs))
}

fn parse_media_url(s: &str) -> Result<Url, Error> {
    let url = Url::parse(s).map_err(|e| Error::InvalidUrl {
        url: s.to_owned(),
        why: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::InvalidUrl {
            url: s.to_owned(),
            why: "expected an http or https URL".to_owned(),
        });
    }
    Ok(url)
}

/// The answer if it is a success, else [`Error::Status`] with the spec's error body.
async fn check(method: Method, resp: Response) -> Result<Response, Error> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let url = resp.url().to_string();
    // A body that cannot be read still leaves the status to report.
    let raw = resp.bytes().await.unwrap_or_default();
    Err(Error::status_from(method, url, status, &raw))
}

async fn read_body(method: Method, resp: Response) -> Result<Bytes, Error> {
    let url = resp.url().to_string();
    resp.bytes().await.map_err(|source| Error::Transport {
        method,
        url,
        source,
    })
}

async fn decode<T: DeserializeOwned>(method: Method, resp: Response) -> Result<T, Error> {
    let url = resp.url().to_string();
    let raw = read_body(method.clone(), resp).await?;
    serde_json::from_slice(&raw).map_err(|e| Error::Decode {
        method,
        url,
        why: e.to_string(),
    })
}

/// A listing, read one page at a time by following `Link: <...>; rel="next"`.
#[derive(Debug)]
pub struct Pages<T> {
    client: Client,
    next: Option<Url>,
    _items: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Pages<T> {
    /// The next page's items, or `None` after the last page.
    pub async fn next_page(&mut self) -> Result<Option<Vec<T>>, Error> {
        let Some(url) = self.next.take() else {
            return Ok(None);
        };
        let resp = self.client.send_api(Method::GET, url.clone()).await?;
        let next = match resp.headers().get_all(LINK).iter().find_map(|v| {
            let s = v.to_str().ok()?;
            next_link(s).map(str::to_owned)
        }) {
            None => None,
            Some(link) => {
                let next = url.join(&link).map_err(|e| Error::Decode {
                    method: Method::GET,
                    url: url.to_string(),
                    why: format!("the next page's link {link:?} is not a URL: {e}"),
                })?;
                if next == url {
                    return Err(Error::Decode {
                        method: Method::GET,
                        url: url.to_string(),
                        why: "the next page's link names this same page".to_owned(),
                    });
                }
                Some(next)
            }
        };
        let items: Vec<T> = decode(Method::GET, resp).await?;
        self.next = next;
        Ok(Some(items))
    }

    /// Every item of every page.
    pub async fn all(mut self) -> Result<Vec<T>, Error> {
        let mut all = Vec::new();
        while let Some(page) = self.next_page().await? {
            all.extend(page);
        }
        Ok(all)
    }

    /// The items one by one, fetching pages as they are needed.
    pub fn into_stream(self) -> impl Stream<Item = Result<T, Error>> {
        futures::stream::try_unfold(
            (self, Vec::new().into_iter()),
            |(mut pages, mut buf)| async move {
                loop {
                    if let Some(item) = buf.next() {
                        return Ok(Some((item, (pages, buf))));
                    }
                    match pages.next_page().await? {
                        Some(items) => buf = items.into_iter(),
                        None => return Ok(None),
                    }
                }
            },
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_keep_the_base_path_and_encode_segments() {
        let c = Client::new("http://127.0.0.1:1/tams/", Auth::None).unwrap();
        let q = Query::new().limit(2).param("timerange", "[0:0_1:0)");
        assert_eq!(
            c.url(&["objects", "a/b c"], &q).as_str(),
            "http://127.0.0.1:1/tams/objects/a%2Fb%20c?limit=2&timerange=%5B0%3A0_1%3A0%29"
        );
        let c = Client::new("http://127.0.0.1:1", Auth::None).unwrap();
        assert_eq!(
            c.url(&["service"], &Query::new()).as_str(),
            "http://127.0.0.1:1/service"
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_tolerates_dates() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
    }

    #[test]
    fn credentials_stay_out_of_debug_output() {
        let auth = Auth::Basic {
            user: "ann".to_owned(),
            password: "secret".to_owned(),
        };
        assert!(!format!("{auth:?}").contains("secret"));
        assert!(!format!("{:?}", Auth::Bearer("tok".to_owned())).contains("tok"));
    }
}
