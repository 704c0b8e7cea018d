//! The jobs API (`/x-rushes/jobs`, an extension; see docs/JOBS.md): ingest jobs started,
//! listed, inspected and stopped over HTTP, each one a [`rushes_media::ingest::ingest`]
//! run in this process that talks to the store through its own TAMS API, with the
//! credentials of the request that started it.
//!
//! [`Jobs`] is the in-memory registry of one node; [`router`] its routes, behind the same
//! authentication as the TAMS routes; [`Jobs::shutdown`] stops every job and waits for
//! them (bounded) while the server still answers their requests.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use base64::Engine;
use rushes_api::auth::{require_auth, Auth};
use rushes_api::error::{ApiError, ApiResult};
use rushes_api::extract::{Json, PathParam};
use rushes_api::Limits;
use rushes_core::Principal;
use rushes_media::ingest::{IngestOptions, IngestStatus};
use rushes_media::Tools;
use serde_json::{json, Map, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The collection's path.
pub const JOBS_PATH: &str = "/x-rushes/jobs";
/// Jobs that may run at once on a node; one more is refused with 429.
pub const MAX_RUNNING: usize = 16;
/// Ended jobs (stopped or failed) kept for inspection; beyond this the oldest ended job is
/// forgotten. All jobs are forgotten when the server restarts.
pub const MAX_ENDED_KEPT: usize = 64;
/// Longest `input`, `label` or `input_args` element, in bytes.
const MAX_TEXT_LEN: usize = 4096;
/// Most `input_args` elements.
const MAX_INPUT_ARGS: usize = 64;
/// Longest `segment_duration` and `stall_timeout`, in seconds (as `rushes ingest`).
const MAX_SECONDS: f64 = 3600.0;

/// The fields a `POST /x-rushes/jobs` body may have.
const FIELDS: [&str; 7] = [
    "kind",
    "input",
    "label",
    "segment_duration",
    "transcode",
    "input_args",
    "stall_timeout",
];

/// The ffmpeg input options `input_args` may hold that take a value (the next element).
/// Anything else is refused: an unlisted option could add outputs (files written on the
/// server) or dump attachments.
const VALUE_OPTIONS: &[&str] = &[
    "-f",
    "-framerate",
    "-video_size",
    "-pixel_format",
    "-input_format",
    "-sample_rate",
    "-channels",
    "-r",
    "-s",
    "-pix_fmt",
    "-ar",
    "-ac",
    "-c",
    "-c:v",
    "-c:a",
    "-codec",
    "-codec:v",
    "-codec:a",
    "-vcodec",
    "-acodec",
    "-thread_queue_size",
    "-analyzeduration",
    "-probesize",
    "-fpsprobesize",
    "-fflags",
    "-itsoffset",
    "-stream_loop",
    "-timeout",
    "-rw_timeout",
    "-listen",
    "-listen_timeout",
    "-max_delay",
    "-buffer_size",
    "-fifo_size",
    "-overrun_nonfatal",
    "-pkt_size",
    "-localaddr",
    "-localport",
    "-reorder_queue_size",
    "-rtsp_transport",
    "-rtsp_flags",
    "-rtmp_live",
    "-rtmp_buffer",
    "-latency",
    "-passphrase",
    "-pbkeylen",
    "-mode",
    "-streamid",
    "-user_agent",
    "-headers",
    "-reconnect",
    "-reconnect_streamed",
    "-reconnect_at_eof",
    "-reconnect_on_network_error",
    "-reconnect_delay_max",
    "-live_start_index",
    "-http_persistent",
    "-seekable",
];

/// The ffmpeg input options `input_args` may hold that take no value.
const FLAG_OPTIONS: &[&str] = &["-re"];

/// Input formats (`-f`) refused: a filter graph as input can write files on the server.
const REFUSED_FORMATS: &[&str] = &["lavfi"];

/// An ingest job's request, parsed: every field checked, defaults filled in.
#[derive(Debug, Clone)]
struct IngestRequest {
    input: String,
    label: Option<String>,
    segment_duration: Duration,
    transcode: bool,
    input_args: Vec<String>,
    stall_timeout: Duration,
}

impl IngestRequest {
    /// Parses a request body, or says what is wrong with it.
    fn parse(body: &Value) -> Result<IngestRequest, ApiError> {
        let bad = |m: String| ApiError::bad_request(m);
        let Some(obj) = body.as_object() else {
            return Err(bad("the body must be a JSON object".into()));
        };
        if let Some(unknown) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(bad(format!(
                "unknown field {unknown:?}; the fields are {}",
                FIELDS.join(", ")
            )));
        }
        match obj.get("kind") {
            Some(Value::String(k)) if k == "ingest" => {}
            Some(Value::String(k)) => {
                return Err(bad(format!(
                    "unknown kind {k:?}; the only kind is \"ingest\""
                )))
            }
            Some(_) => return Err(bad("kind must be a string".into())),
            None => return Err(bad("kind is required (\"ingest\")".into())),
        }
        let input = match obj.get("input") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(bad("input must be a string".into())),
            None => return Err(bad("input is required".into())),
        };
        check_text("input", &input)?;
        if input.trim().is_empty() {
            return Err(bad("input must not be empty".into()));
        }
        if input.starts_with('-') {
            return Err(bad(
                "input must not start with '-' (it would be read as an ffmpeg option)".into(),
            ));
        }
        let label = match obj.get("label") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                check_text("label", s)?;
                Some(s.clone())
            }
            Some(_) => return Err(bad("label must be a string".into())),
        };
        let transcode = match obj.get("transcode") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(bad("transcode must be true or false".into())),
        };
        let input_args = match obj.get("input_args") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => {
                if a.len() > MAX_INPUT_ARGS {
                    return Err(bad(format!(
                        "input_args has {} elements; at most {MAX_INPUT_ARGS}",
                        a.len()
                    )));
                }
                let mut args = Vec::with_capacity(a.len());
                for v in a {
                    let Value::String(s) = v else {
                        return Err(bad("input_args must be an array of strings".into()));
                    };
                    check_text("an input_args element", s)?;
                    args.push(s.clone());
                }
                check_input_args(&args)?;
                args
            }
            Some(_) => return Err(bad("input_args must be an array of strings".into())),
        };
        let defaults = IngestOptions::new(String::new());
        Ok(IngestRequest {
            input,
            label,
            segment_duration: seconds(obj, "segment_duration", defaults.segment_duration)?,
            transcode,
            input_args,
            stall_timeout: seconds(obj, "stall_timeout", defaults.stall_timeout)?,
        })
    }

    /// The options of the ingest.
    fn options(&self, work_dir: PathBuf) -> IngestOptions {
        let mut opts = IngestOptions::new(self.input.clone());
        opts.input_args = self.input_args.clone();
        opts.segment_duration = self.segment_duration;
        opts.label = self.label.clone();
        opts.transcode = self.transcode;
        opts.stall_timeout = self.stall_timeout;
        opts.work_dir = Some(work_dir);
        opts
    }

    /// The request as the job JSON shows it, defaults included.
    fn to_json(&self) -> Value {
        json!({
            "kind": "ingest",
            "input": self.input,
            "label": self.label,
            "segment_duration": self.segment_duration.as_secs_f64(),
            "transcode": self.transcode,
            "input_args": self.input_args,
            "stall_timeout": self.stall_timeout.as_secs_f64(),
        })
    }
}

/// Refuses text too long or holding control characters (ffmpeg takes it as an argument).
fn check_text(what: &str, s: &str) -> Result<(), ApiError> {
    if s.len() > MAX_TEXT_LEN {
        return Err(ApiError::bad_request(format!(
            "{what} is {} bytes long; at most {MAX_TEXT_LEN}",
            s.len()
        )));
    }
    if s.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{what} must not hold control characters"
        )));
    }
    Ok(())
}

/// A duration in seconds: a JSON number above 0 and at most [`MAX_SECONDS`]; `default`
/// when absent or null.
fn seconds(obj: &Map<String, Value>, name: &str, default: Duration) -> Result<Duration, ApiError> {
    let v = match obj.get(name) {
        None | Some(Value::Null) => return Ok(default),
        Some(v) => v,
    };
    let out_of_range = || {
        ApiError::bad_request(format!(
            "{name} must be a number of seconds above 0 and at most {MAX_SECONDS}"
        ))
    };
    let s = v.as_f64().ok_or_else(out_of_range)?;
    if !(s.is_finite() && s > 0.0 && s <= MAX_SECONDS) {
        return Err(out_of_range());
    }
    let d = Duration::try_from_secs_f64(s).map_err(|_| out_of_range())?;
    if d.is_zero() {
        return Err(out_of_range());
    }
    Ok(d)
}

/// Accepts `input_args` made only of the listed options, each option that takes a value
/// followed by it.
fn check_input_args(args: &[String]) -> Result<(), ApiError> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if FLAG_OPTIONS.contains(&a.as_str()) {
            continue;
        }
        if !VALUE_OPTIONS.contains(&a.as_str()) {
            return Err(ApiError::bad_request(format!(
                "input_args: {a:?} is not an input option the jobs API accepts \
                 (see docs/JOBS.md for the list)"
            )));
        }
        let Some(value) = it.next() else {
            return Err(ApiError::bad_request(format!(
                "input_args: {a} needs a value"
            )));
        };
        if a == "-f" && REFUSED_FORMATS.contains(&value.to_ascii_lowercase().as_str()) {
            return Err(ApiError::bad_request(format!(
                "input_args: the input format {value:?} is not allowed in jobs"
            )));
        }
    }
    Ok(())
}

/// The credentials a job uses: those of the request that started it.
#[derive(Debug, Clone)]
struct Credentials(rushes_client::Auth);

/// The credentials of a request (the `Authorization` header, or the `access_token` query
/// parameter) as the client sends them; `None` when there are none or they are malformed
/// (authentication then refuses the request anyway).
fn credentials_of(headers: &HeaderMap, query: Option<&str>) -> rushes_client::Auth {
    use rushes_client::Auth;
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            return Auth::Bearer(rest.to_owned());
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            if let Some((user, password)) = decoded.as_deref().and_then(|t| t.split_once(':')) {
                return Auth::Basic {
                    user: user.to_owned(),
                    password: password.to_owned(),
                };
            }
        }
        return Auth::None;
    }
    query
        .and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "access_token")
                .map(|(_, v)| Auth::Bearer(v.into_owned()))
        })
        .unwrap_or(Auth::None)
}

/// Keeps a POST's credentials before authentication strips `access_token` from the URI.
async fn capture_credentials(mut req: Request, next: Next) -> Response {
    if req.method() == axum::http::Method::POST {
        let creds = credentials_of(req.headers(), req.uri().query());
        req.extensions_mut().insert(Credentials(creds));
    }
    next.run(req).await
}

/// One job.
struct Job {
    id: Uuid,
    created: String,
    created_by: String,
    request: IngestRequest,
    status: watch::Receiver<IngestStatus>,
    stop: CancellationToken,
    /// The running task; `None` once it ended (or was taken by shutdown).
    task: Option<JoinHandle<()>>,
    ended: bool,
}

impl Job {
    fn to_json(&self) -> Value {
        let status = serde_json::to_value(&*self.status.borrow()).unwrap_or(Value::Null);
        json!({
            "id": self.id,
            "kind": "ingest",
            "created": self.created,
            "created_by": self.created_by,
            "request": self.request.to_json(),
            "stop_requested": self.stop.is_cancelled(),
            "status": status,
        })
    }
}

#[derive(Default)]
struct Registry {
    /// In the order they were created.
    jobs: Vec<Job>,
    /// Set by shutdown: no new jobs.
    closing: bool,
}

/// The jobs of one node, in memory. Cheap to clone.
#[derive(Clone)]
pub struct Jobs {
    inner: Arc<Inner>,
}

struct Inner {
    /// The node's own TAMS API, as jobs reach it.
    base_url: String,
    /// Where segment files wait for upload.
    work_dir: PathBuf,
    /// Whether the store runs without authentication (jobs then send no credentials).
    open: bool,
    tools: Tools,
    registry: Mutex<Registry>,
}

impl Jobs {
    /// Jobs that reach the store at `base_url` and keep their segment files under
    /// `work_dir` until uploaded.
    pub fn new(base_url: String, work_dir: PathBuf, open: bool) -> Jobs {
        Jobs {
            inner: Arc::new(Inner {
                base_url,
                work_dir,
                open,
                tools: Tools::default(),
                registry: Mutex::new(Registry::default()),
            }),
        }
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock leaves plain data behind: keep going.
        self.inner
            .registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts an ingest job.
    fn start(
        &self,
        request: IngestRequest,
        creds: rushes_client::Auth,
        created_by: String,
    ) -> ApiResult<Value> {
        let auth = if self.inner.open {
            rushes_client::Auth::None
        } else {
            creds
        };
        let client = rushes_client::Client::new(&self.inner.base_url, auth).map_err(|e| {
            tracing::error!(error = %e, "jobs: cannot make a client of the store");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "internal error; see the server log",
            )
        })?;
        let mut reg = self.registry();
        if reg.closing {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "the server is shutting down",
            ));
        }
        let running = reg.jobs.iter().filter(|j| !j.ended).count();
        if running >= MAX_RUNNING {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyJobs",
                format!("{running} jobs are running, the most a node runs at once; stop one first"),
            ));
        }
        let same = |j: &&Job| {
            !j.ended && j.request.input == request.input && j.request.label == request.label
        };
        if let Some(other) = reg.jobs.iter().find(same) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "Conflict",
                format!(
                    "job {} is ingesting the same input with the same label into the same \
                     flows; stop it first or give another label",
                    other.id
                ),
            ));
        }
        let id = Uuid::new_v4();
        let opts = request.options(self.inner.work_dir.join(id.to_string()));
        let (tx, rx) = watch::channel(IngestStatus::new(&request.input));
        let stop = CancellationToken::new();
        let task = {
            let jobs = self.clone();
            let tools = self.inner.tools.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let outcome = rushes_media::ingest::ingest(&client, &tools, &opts, stop, tx).await;
                match outcome {
                    Ok(_) => tracing::info!(job = %id, "job stopped"),
                    Err(e) => tracing::warn!(job = %id, error = %e, "job failed"),
                }
                let _ = tokio::fs::remove_dir(&opts.work_dir.unwrap_or_default()).await;
                jobs.ended(id);
            })
        };
        tracing::info!(job = %id, principal = %created_by, "ingest job started");
        let job = Job {
            id,
            created: rushes_core::now_rfc3339(),
            created_by,
            request,
            status: rx,
            stop,
            task: Some(task),
            ended: false,
        };
        let out = job.to_json();
        reg.jobs.push(job);
        Ok(out)
    }

    /// Marks a job ended and forgets the oldest ended jobs beyond [`MAX_ENDED_KEPT`].
    fn ended(&self, id: Uuid) {
        let mut reg = self.registry();
        if let Some(job) = reg.jobs.iter_mut().find(|j| j.id == id) {
            job.ended = true;
            job.task = None;
        }
        let mut excess = reg
            .jobs
            .iter()
            .filter(|j| j.ended)
            .count()
            .saturating_sub(MAX_ENDED_KEPT);
        reg.jobs.retain(|j| {
            if excess > 0 && j.ended {
                excess -= 1;
                false
            } else {
                true
            }
        });
    }

    fn list(&self) -> Value {
        Value::Array(self.registry().jobs.iter().map(Job::to_json).collect())
    }

    fn get(&self, id: Uuid) -> ApiResult<Value> {
        self.registry()
            .jobs
            .iter()
            .find(|j| j.id == id)
            .map(Job::to_json)
            .ok_or_else(|| no_job(id))
    }

    /// Asks a job to stop; the job as it is now, and whether it was still running.
    fn stop(&self, id: Uuid) -> ApiResult<(Value, bool)> {
        let reg = self.registry();
        let job = reg
            .jobs
            .iter()
            .find(|j| j.id == id)
            .ok_or_else(|| no_job(id))?;
        if job.ended {
            return Ok((job.to_json(), false));
        }
        job.stop.cancel();
        tracing::info!(job = %id, "job asked to stop");
        Ok((job.to_json(), true))
    }

    /// Stops every job and waits up to `wait` for them to end (their last segments
    /// registered, their flows closed); jobs still running then are aborted. No job
    /// starts afterwards. Call it while the server still answers: jobs write through it.
    pub async fn shutdown(&self, wait: Duration) {
        let tasks: Vec<(Uuid, JoinHandle<()>)> = {
            let mut reg = self.registry();
            reg.closing = true;
            reg.jobs
                .iter_mut()
                .filter_map(|j| {
                    j.stop.cancel();
                    j.task.take().map(|t| (j.id, t))
                })
                .collect()
        };
        if tasks.is_empty() {
            return;
        }
        tracing::info!(jobs = tasks.len(), "stopping jobs");
        let deadline = tokio::time::Instant::now() + wait;
        for (id, mut task) in tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                tracing::warn!(job = %id, "job did not stop in time; aborted");
                task.abort();
            }
        }
    }
}

fn no_job(id: Uuid) -> ApiError {
    ApiError::not_found(format!("no job {id} on this node"))
}

/// The base URL a node's jobs reach its API at: the listening address, with an
/// unspecified address (`0.0.0.0`, `[::]`) replaced by loopback.
pub fn base_url_of(local: std::net::SocketAddr) -> String {
    let mut addr = local;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    format!("http://{addr}")
}

/// The jobs routes, behind `auth` like the TAMS routes (GET needs read, POST and DELETE
/// write), with the API's JSON body limit.
pub fn router(jobs: Jobs, auth: Auth, limits: &Limits) -> Router {
    Router::new()
        .route(JOBS_PATH, get(list_jobs).post(create_job))
        .route(
            &format!("{JOBS_PATH}/{{id}}"),
            get(get_job).delete(stop_job),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limits.max_json_body))
        .layer(middleware::from_fn_with_state(auth, require_auth))
        .layer(middleware::from_fn(capture_credentials))
        .with_state(jobs)
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

async fn list_jobs(State(jobs): State<Jobs>) -> Response {
    axum::Json(jobs.list()).into_response()
}

async fn create_job(
    State(jobs): State<Jobs>,
    principal: Option<Extension<Principal>>,
    creds: Option<Extension<Credentials>>,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    let request = IngestRequest::parse(&body)?;
    let creds = creds.map(|Extension(c)| c.0).unwrap_or_default();
    let by = principal.map_or_else(|| "anonymous".to_owned(), |Extension(p)| p.name);
    let job = jobs.start(request, creds, by)?;
    let location = format!("{JOBS_PATH}/{}", job["id"].as_str().unwrap_or_default());
    let mut resp = (StatusCode::CREATED, axum::Json(job)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn get_job(State(jobs): State<Jobs>, PathParam(id): PathParam<Uuid>) -> ApiResult<Response> {
    Ok(axum::Json(jobs.get(id)?).into_response())
}

async fn stop_job(State(jobs): State<Jobs>, PathParam(id): PathParam<Uuid>) -> ApiResult<Response> {
    let (job, was_running) = jobs.stop(id)?;
    let status = if was_running {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(job)).into_response())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn input_args_accept_listed_options_only() {
        assert!(check_input_args(&args(&["-re", "-f", "mpegts", "-timeout", "5000000"])).is_ok());
        for bad in [
            &["-i", "/etc/passwd"][..],
            &["-f", "lavfi"],
            &["-f", "LAVFI"],
            &["-f"],
            &["-dump_attachment:t", "/tmp/x"],
            &["-re", "/tmp/out.mp4"],
            &["-filter_complex", "x"],
        ] {
            assert!(check_input_args(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn requests_parse_with_defaults_and_refuse_bad_fields() {
        let r =
            IngestRequest::parse(&json!({"kind": "ingest", "input": "udp://127.0.0.1:1"})).unwrap();
        assert_eq!(r.segment_duration, Duration::from_secs(1));
        assert_eq!(r.stall_timeout, Duration::from_secs(10));
        assert!(!r.transcode && r.input_args.is_empty() && r.label.is_none());
        let r = IngestRequest::parse(&json!({
            "kind": "ingest", "input": "srt://h:1", "segment_duration": 0.5,
            "transcode": true, "label": "cam", "stall_timeout": 3
        }))
        .unwrap();
        assert_eq!(r.segment_duration, Duration::from_millis(500));
        assert_eq!(r.stall_timeout, Duration::from_secs(3));
        for bad in [
            json!([]),
            json!({"input": "x"}),
            json!({"kind": "export", "input": "x"}),
            json!({"kind": "ingest"}),
            json!({"kind": "ingest", "input": ""}),
            json!({"kind": "ingest", "input": "  "}),
            json!({"kind": "ingest", "input": "-y"}),
            json!({"kind": "ingest", "input": "a\nb"}),
            json!({"kind": "ingest", "input": "x", "segment_duration": 0}),
            json!({"kind": "ingest", "input": "x", "segment_duration": -1}),
            json!({"kind": "ingest", "input": "x", "segment_duration": 3601}),
            json!({"kind": "ingest", "input": "x", "segment_duration": 1e-12}),
            json!({"kind": "ingest", "input": "x", "segment_duration": "1"}),
            json!({"kind": "ingest", "input": "x", "stall_timeout": 0}),
            json!({"kind": "ingest", "input": "x", "transcode": "yes"}),
            json!({"kind": "ingest", "input": "x", "input_args": "-re"}),
            json!({"kind": "ingest", "input": "x", "input_args": [1]}),
            json!({"kind": "ingest", "input": "x", "parallel": 4}),
        ] {
            let e = IngestRequest::parse(&bad).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    #[test]
    fn credentials_come_from_the_header_or_access_token() {
        use rushes_client::Auth;
        let mut h = HeaderMap::new();
        assert_eq!(credentials_of(&h, None), Auth::None);
        assert_eq!(
            credentials_of(&h, Some("a=1&access_token=t%2B1")),
            Auth::Bearer("t+1".into())
        );
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(credentials_of(&h, None), Auth::Bearer("abc".into()));
        let enc = base64::engine::general_purpose::STANDARD.encode("ann:pa:ss");
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {enc}")).unwrap(),
        );
        assert_eq!(
            credentials_of(&h, None),
            Auth::Basic {
                user: "ann".into(),
                password: "pa:ss".into()
            }
        );
    }

    #[test]
    fn an_unspecified_address_is_reached_on_loopback() {
        assert_eq!(
            base_url_of("0.0.0.0:8080".parse().unwrap()),
            "http://127.0.0.1:8080"
        );
        assert_eq!(base_url_of("[::]:80".parse().unwrap()), "http://[::1]:80");
        assert_eq!(
            base_url_of("192.0.2.1:8080".parse().unwrap()),
            "http://192.0.2.1:8080"
        );
    }
}
