//! The jobs API (`/x-rushes/jobs`, an extension; see docs/JOBS.md): jobs started, listed,
//! inspected and stopped over HTTP, each one run in this process and talking to the store
//! through its own TAMS API, with the credentials of the request that started it. Two
//! kinds: `ingest` (a [`rushes_media::ingest::ingest`] run) and `export` (a
//! [`rushes_media::export::export`] run whose file is stored as a new flow's one segment,
//! its signed URL in the job's result).
//!
//! [`Jobs`] is the in-memory registry of one node; [`router`] its routes, behind the same
//! authentication as the TAMS routes; [`Jobs::shutdown`] stops every job and waits for
//! them (bounded) while the server still answers their requests.

use std::path::{Path, PathBuf};
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
use rushes_client::model::{FlowId, FlowStoragePost, SegmentPost, SourceId};
use rushes_client::{Client, Query, UploadBody};
use rushes_core::Principal;
use rushes_media::export::{Container, ExportEvent, ExportOptions, ExportSummary, Target};
use rushes_media::ingest::{IngestOptions, IngestStatus};
use rushes_media::{RunError, StreamKind, Tools};
use rushes_time::{TimeRange, Timestamp};
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

/// The fields a `POST /x-rushes/jobs` body of an ingest may have.
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
        let obj = object_of(body, &FIELDS, "the fields are")?;
        match obj.get("kind") {
            Some(Value::String(k)) if k == "ingest" => {}
            Some(Value::String(k)) => {
                return Err(bad(format!(
                    "unknown kind {k:?}; the kinds are \"ingest\" and \"export\""
                )))
            }
            Some(_) => return Err(bad("kind must be a string".into())),
            None => return Err(bad("kind is required (\"ingest\" or \"export\")".into())),
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
        let label = optional_text(obj, "label")?;
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

/// The fields a `POST /x-rushes/jobs` body of an export may have.
const EXPORT_FIELDS: [&str; 6] = [
    "kind",
    "flow_id",
    "source_id",
    "timerange",
    "format",
    "label",
];

/// An export job's request, parsed: every field checked, defaults filled in.
#[derive(Debug, Clone)]
struct ExportRequest {
    target: Target,
    timerange: TimeRange,
    format: Container,
    label: Option<String>,
}

/// `mp4`, `mov` or `ts`: the names the jobs API accepts for a container.
fn container_name(c: Container) -> &'static str {
    match c {
        Container::Mp4 => "mp4",
        Container::Mov => "mov",
        Container::Ts => "ts",
    }
}

/// The flow `container` MIME type of an exported file.
fn container_mime(c: Container) -> &'static str {
    match c {
        Container::Mp4 => "video/mp4",
        Container::Mov => "video/quicktime",
        Container::Ts => "video/mp2t",
    }
}

impl ExportRequest {
    /// Parses a request body of kind `export`, or says what is wrong with it.
    fn parse(body: &Value) -> Result<ExportRequest, ApiError> {
        let bad = |m: String| ApiError::bad_request(m);
        let obj = object_of(body, &EXPORT_FIELDS, "the fields of an export are")?;
        if obj.get("kind").and_then(Value::as_str) != Some("export") {
            return Err(bad("kind must be \"export\"".into()));
        }
        let id = |name: &str| -> Result<Option<&str>, ApiError> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(bad(format!("{name} must be a UUID (a string)"))),
            }
        };
        let not_uuid = |name: &'static str| move |_| bad(format!("{name} must be a UUID"));
        let target = match (id("flow_id")?, id("source_id")?) {
            (Some(f), None) => Target::Flow(FlowId::parse(f).map_err(not_uuid("flow_id"))?),
            (None, Some(s)) => Target::Source(SourceId::parse(s).map_err(not_uuid("source_id"))?),
            (Some(_), Some(_)) => {
                return Err(bad("give flow_id or source_id, not both".into()));
            }
            (None, None) => return Err(bad("flow_id or source_id is required".into())),
        };
        let timerange = match obj.get("timerange") {
            Some(Value::String(s)) => s
                .parse::<TimeRange>()
                .map_err(|e| bad(format!("timerange {s:?} is not a TAMS timerange: {e}")))?,
            Some(_) => return Err(bad("timerange must be a string".into())),
            None => {
                return Err(bad(
                    "timerange is required (e.g. \"[10:0_20:0)\", or \"_\" for all)".into(),
                ))
            }
        };
        if timerange.is_empty() {
            return Err(bad(format!("timerange {timerange} is empty")));
        }
        let format = match obj.get("format") {
            None | Some(Value::Null) => Container::Mp4,
            Some(Value::String(s)) => match s.as_str() {
                "mp4" => Container::Mp4,
                "mov" => Container::Mov,
                "ts" => Container::Ts,
                _ => {
                    return Err(bad(format!(
                        "unknown format {s:?}; the formats are mp4, mov and ts"
                    )))
                }
            },
            Some(_) => return Err(bad("format must be a string: mp4, mov or ts".into())),
        };
        let label = optional_text(obj, "label")?;
        Ok(ExportRequest {
            target,
            timerange,
            format,
            label,
        })
    }

    /// The request as the job JSON shows it, defaults included.
    fn to_json(&self) -> Value {
        let mut out = json!({
            "kind": "export",
            "timerange": self.timerange.to_string(),
            "format": container_name(self.format),
            "label": self.label,
        });
        match self.target {
            Target::Flow(f) => out["flow_id"] = json!(f.to_string()),
            Target::Source(s) => out["source_id"] = json!(s.to_string()),
        }
        out
    }
}

/// A job's request: an ingest or an export.
#[derive(Debug, Clone)]
enum JobRequest {
    Ingest(IngestRequest),
    Export(ExportRequest),
}

impl JobRequest {
    /// Parses a request body by its `kind`.
    fn parse(body: &Value) -> Result<JobRequest, ApiError> {
        match body.get("kind") {
            Some(Value::String(k)) if k == "export" => {
                ExportRequest::parse(body).map(JobRequest::Export)
            }
            _ => IngestRequest::parse(body).map(JobRequest::Ingest),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            JobRequest::Ingest(_) => "ingest",
            JobRequest::Export(_) => "export",
        }
    }

    fn to_json(&self) -> Value {
        match self {
            JobRequest::Ingest(r) => r.to_json(),
            JobRequest::Export(r) => r.to_json(),
        }
    }
}

/// What an export job is doing.
#[derive(Debug, Clone)]
struct ExportStatus {
    /// `starting`, `exporting`, `uploading`, `done`, `stopped` or `failed`.
    state: &'static str,
    /// Segments to download, and downloaded.
    segments: u64,
    downloaded: u64,
    /// Pieces to cut or copy, and ready.
    pieces: u64,
    cut: u64,
    /// The new flow, once created (and not removed again after a failure).
    flow_id: Option<String>,
    result: Option<Value>,
    error: Option<String>,
}

impl ExportStatus {
    fn new() -> ExportStatus {
        ExportStatus {
            state: "starting",
            segments: 0,
            downloaded: 0,
            pieces: 0,
            cut: 0,
            flow_id: None,
            result: None,
            error: None,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "state": self.state,
            "segments": self.segments,
            "downloaded": self.downloaded,
            "pieces": self.pieces,
            "cut": self.cut,
            "flow_id": self.flow_id,
            "result": self.result,
            "error": self.error,
        })
    }
}

/// Removes a job's directory. A stopped job's future was dropped mid-way, and file
/// operations it had started on tokio's blocking pool (a directory created, a download
/// written) still finish after the drop and may recreate the directory: so it is removed
/// until it stays gone (they are short; a second suffices).
async fn remove_work_dir(dir: &Path) {
    for _ in 0..20 {
        let _ = tokio::fs::remove_dir_all(dir).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        if !tokio::fs::try_exists(dir).await.unwrap_or(false) {
            return;
        }
    }
    tracing::warn!(dir = %dir.display(), "cannot remove a job's directory");
}

/// An export job from start to end: runs it (until done, failed or stopped), removes its
/// files, deletes the new flow unless done, and publishes the end state.
#[allow(clippy::too_many_arguments)]
async fn export_job(
    jobs: Jobs,
    id: Uuid,
    client: Client,
    tools: Tools,
    request: ExportRequest,
    dir: PathBuf,
    stop: CancellationToken,
    tx: watch::Sender<ExportStatus>,
) {
    // Stopping drops the export: its ffmpeg runs are killed, its files removed below.
    let outcome = tokio::select! {
        r = run_export(&client, &tools, &request, id, &dir, &tx) => r,
        () = stop.cancelled() => Err(RunError::Stopped),
    };
    remove_work_dir(&dir).await;
    let (state, error, result) = match outcome {
        Ok(result) => ("done", None, Some(result)),
        Err(RunError::Stopped) => ("stopped", None, None),
        Err(e) => ("failed", Some(e.to_string()), None),
    };
    if result.is_none() {
        // A flow made before the failure or the stop holds no usable media.
        let made = tx.borrow().flow_id.clone();
        if let Some(flow) = made {
            if let Err(e) = client.delete(&["flows", &flow]).await {
                tracing::warn!(job = %id, %flow, error = %e, "cannot delete the flow of an unfinished export");
            }
        }
    }
    match &error {
        None => tracing::info!(job = %id, state, "export job ended"),
        Some(e) => tracing::warn!(job = %id, error = %e, "export job failed"),
    }
    tx.send_modify(|s| {
        s.state = state;
        s.error = error;
        if result.is_none() {
            s.flow_id = None;
        }
        s.result = result;
    });
    jobs.ended(id);
}

/// Runs an export job: the file under `dir`, then stored as a new flow's one segment.
/// The job's `result`.
async fn run_export(
    client: &Client,
    tools: &Tools,
    req: &ExportRequest,
    job: Uuid,
    dir: &Path,
    tx: &watch::Sender<ExportStatus>,
) -> Result<Value, RunError> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| RunError::Local(format!("{}: {e}", dir.display())))?;
    tx.send_modify(|s| s.state = "exporting");
    let output = dir.join(format!("export.{}", container_name(req.format)));
    let mut opts = ExportOptions::new(req.target, req.timerange, output.clone());
    opts.container = req.format;
    opts.work_dir = Some(dir.to_path_buf());
    let on_event = |e: ExportEvent| {
        tx.send_modify(|s| match e {
            ExportEvent::Planned { segments, pieces } => {
                s.segments = segments;
                s.pieces = pieces;
            }
            ExportEvent::Downloaded => s.downloaded += 1,
            ExportEvent::Cut => s.cut += 1,
            ExportEvent::Muxing => {}
        })
    };
    let summary = rushes_media::export::export(client, tools, &opts, &on_event).await?;
    tx.send_modify(|s| s.state = "uploading");
    store_export(client, tools, req, job, &output, &summary, tx).await
}

/// Stores an exported file as the one segment of a new flow (and source); the result.
async fn store_export(
    client: &Client,
    tools: &Tools,
    req: &ExportRequest,
    job: Uuid,
    file: &Path,
    summary: &ExportSummary,
    tx: &watch::Sender<ExportStatus>,
) -> Result<Value, RunError> {
    let refused = |m: String| RunError::Refused(m);
    let range: TimeRange = summary
        .timerange
        .parse()
        .map_err(|e| refused(format!("the export's timerange {}: {e}", summary.timerange)))?;
    let start = range
        .start()
        .and_then(|b| b.timestamp())
        .ok_or_else(|| refused(format!("the export's timerange {range} has no start")))?;
    let video = summary.tracks.iter().find(|t| t.role == "video");
    let main = video
        .or(summary.tracks.first())
        .ok_or_else(|| refused("the export has no tracks".into()))?;
    let multi = summary.tracks.len() > 1;

    // What was exported, for the label and tags.
    let (of_kind, of_id, of_label) = match req.target {
        Target::Flow(f) => {
            let v = client
                .get_json(&["flows", &f.to_string()], &Query::new())
                .await?;
            (
                "flow",
                f.to_string(),
                v["label"].as_str().map(str::to_owned),
            )
        }
        Target::Source(s) => {
            let v = client
                .get_json(&["sources", &s.to_string()], &Query::new())
                .await?;
            (
                "source",
                s.to_string(),
                v["label"].as_str().map(str::to_owned),
            )
        }
    };
    let label = req.label.clone().unwrap_or_else(|| {
        format!(
            "export of {} {range}",
            of_label
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| of_id.clone())
        )
    });
    let flow_id = Uuid::new_v4().to_string();
    let source_id = Uuid::new_v4().to_string();
    let mut body = json!({
        "id": flow_id,
        "source_id": source_id,
        "label": label,
        "container": container_mime(req.format),
        "tags": {
            "rushes.export.of": of_id,
            "rushes.export.of_kind": of_kind,
            "rushes.export.timerange": range.to_string(),
            "rushes.export.job": job.to_string(),
        },
    });
    if multi {
        body["format"] = json!("urn:x-nmos:format:multi");
    } else {
        // One track: the flow of its essence, with the exported flow's codec and essence
        // parameters (the file has no init segments).
        let src = client
            .get_json(&["flows", &main.flow_id.to_string()], &Query::new())
            .await?;
        body["format"] = src["format"].clone();
        body["codec"] = src["codec"].clone();
        let mut params = src["essence_parameters"].clone();
        if let Some(p) = params.as_object_mut() {
            p.remove("init_segments");
        }
        body["essence_parameters"] = params;
    }
    client.put_json(&["flows", &flow_id], &body).await?;
    client
        .put_json(&["sources", &source_id, "label"], &json!(label))
        .await?;
    tx.send_modify(|s| s.flow_id = Some(flow_id.clone()));
    let flow: FlowId = flow_id
        .parse()
        .map_err(|_| refused(format!("flow id {flow_id}")))?;

    // The file: one object, one segment over the exported range.
    let request = FlowStoragePost {
        limit: Some(1),
        ..FlowStoragePost::default()
    };
    let target = client
        .allocate_storage(flow, &request)
        .await?
        .pop()
        .ok_or_else(|| refused(format!("the store gave no upload URL for flow {flow}")))?;
    client
        .upload(&target.put_url, UploadBody::File(file.to_path_buf()))
        .await?;
    // ts_offset: flow time minus the file's own time, at the main track's first frame.
    let info = tools.probe(file).await?;
    let kind = if video.is_some() {
        StreamKind::Video
    } else {
        StreamKind::Audio
    };
    let media_start = info
        .streams
        .iter()
        .find(|s| s.kind == kind)
        .and_then(|s| s.start_time)
        .or(info.start_time)
        .unwrap_or(Timestamp::ZERO);
    let ts_offset = start
        .checked_sub(media_start)
        .ok_or_else(|| refused(format!("ts_offset of {range} out of range")))?;
    let mut segment = SegmentPost::new(target.object_id.clone(), range.into());
    if ts_offset != Timestamp::ZERO {
        segment.ts_offset = Some(ts_offset);
    }
    let failed = client.post_segment(flow, &segment).await?;
    if !failed.is_empty() {
        return Err(refused(format!(
            "the store did not register the segment of flow {flow}: {failed:?}"
        )));
    }
    let segments = client
        .get_json(&["flows", &flow_id, "segments"], &Query::new())
        .await?;
    let urls = segments[0]["get_urls"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let url = urls
        .iter()
        .find(|u| u["presigned"] == json!(true))
        .or(urls.first())
        .and_then(|u| u["url"].as_str())
        .ok_or_else(|| refused(format!("the segment of flow {flow} has no get_urls")))?;
    Ok(json!({
        "flow_id": flow_id,
        "source_id": source_id,
        "object_id": target.object_id.to_string(),
        "url": url,
        "format": container_name(req.format),
        "timerange": range.to_string(),
        "duration": range.duration().map(|d| d.to_string()),
        "frames": summary.frames,
        "reencoded_frames": summary.reencoded_frames,
        "bytes": summary.bytes,
        "tracks": summary.tracks.iter().map(|t| json!({
            "role": t.role, "flow_id": t.flow_id.to_string(), "codec": t.codec, "frames": t.frames,
        })).collect::<Vec<_>>(),
    }))
}

/// Refuses text too long or holding control characters (ffmpeg takes it as an argument).
/// The body as a JSON object holding only `fields` (an unknown one is named, with
/// `listed` and the list in the answer).
fn object_of<'a>(
    body: &'a Value,
    fields: &[&str],
    listed: &str,
) -> Result<&'a serde_json::Map<String, Value>, ApiError> {
    let Some(obj) = body.as_object() else {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    };
    if let Some(unknown) = obj.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "unknown field {unknown:?}; {listed} {}",
            fields.join(", ")
        )));
    }
    Ok(obj)
}

/// An optional text field (absent or null: `None`), checked by [`check_text`].
fn optional_text(
    obj: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<String>, ApiError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            check_text(name, s)?;
            Ok(Some(s.clone()))
        }
        Some(_) => Err(ApiError::bad_request(format!("{name} must be a string"))),
    }
}

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
pub(crate) fn credentials_of(headers: &HeaderMap, query: Option<&str>) -> rushes_client::Auth {
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

/// A job's status, as its task publishes it.
enum JobStatus {
    Ingest(watch::Receiver<IngestStatus>),
    Export(watch::Receiver<ExportStatus>),
}

/// One job.
struct Job {
    id: Uuid,
    created: String,
    created_by: String,
    request: JobRequest,
    status: JobStatus,
    stop: CancellationToken,
    /// The running task; `None` once it ended (or was taken by shutdown).
    task: Option<JoinHandle<()>>,
    ended: bool,
}

impl Job {
    fn to_json(&self) -> Value {
        let status = match &self.status {
            JobStatus::Ingest(rx) => serde_json::to_value(&*rx.borrow()).unwrap_or(Value::Null),
            JobStatus::Export(rx) => rx.borrow().to_json(),
        };
        json!({
            "id": self.id,
            "kind": self.request.kind(),
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

    /// Starts a job.
    fn start(
        &self,
        request: JobRequest,
        creds: rushes_client::Auth,
        created_by: String,
    ) -> ApiResult<Value> {
        let auth = if self.inner.open {
            rushes_client::Auth::None
        } else {
            creds
        };
        let client = Client::new(&self.inner.base_url, auth).map_err(|e| {
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
        if let JobRequest::Ingest(request) = &request {
            let same = |j: &&Job| {
                !j.ended
                    && matches!(&j.request, JobRequest::Ingest(r)
                        if r.input == request.input && r.label == request.label)
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
        }
        let id = Uuid::new_v4();
        let stop = CancellationToken::new();
        let dir = self.inner.work_dir.join(id.to_string());
        let (status, task) = match &request {
            JobRequest::Ingest(r) => self.spawn_ingest(id, r, client, dir, stop.clone()),
            JobRequest::Export(r) => self.spawn_export(id, r, client, dir, stop.clone()),
        };
        tracing::info!(job = %id, kind = request.kind(), principal = %created_by, "job started");
        let job = Job {
            id,
            created: rushes_core::now_rfc3339(),
            created_by,
            request,
            status,
            stop,
            task: Some(task),
            ended: false,
        };
        let out = job.to_json();
        reg.jobs.push(job);
        Ok(out)
    }

    fn spawn_ingest(
        &self,
        id: Uuid,
        request: &IngestRequest,
        client: Client,
        dir: PathBuf,
        stop: CancellationToken,
    ) -> (JobStatus, JoinHandle<()>) {
        let opts = request.options(dir);
        let (tx, rx) = watch::channel(IngestStatus::new(&request.input));
        let jobs = self.clone();
        let tools = self.inner.tools.clone();
        let task = tokio::spawn(async move {
            let outcome = rushes_media::ingest::ingest(&client, &tools, &opts, stop, tx).await;
            match outcome {
                Ok(_) => tracing::info!(job = %id, "job stopped"),
                Err(e) => tracing::warn!(job = %id, error = %e, "job failed"),
            }
            let _ = tokio::fs::remove_dir(&opts.work_dir.unwrap_or_default()).await;
            jobs.ended(id);
        });
        (JobStatus::Ingest(rx), task)
    }

    fn spawn_export(
        &self,
        id: Uuid,
        request: &ExportRequest,
        client: Client,
        dir: PathBuf,
        stop: CancellationToken,
    ) -> (JobStatus, JoinHandle<()>) {
        let (tx, rx) = watch::channel(ExportStatus::new());
        let jobs = self.clone();
        let tools = self.inner.tools.clone();
        let request = request.clone();
        // The export's future is not `Send` (its downloads borrow across awaits), so it
        // runs on a blocking thread of its own, driven by this runtime.
        let handle = tokio::runtime::Handle::current();
        let task = tokio::task::spawn_blocking(move || {
            handle.block_on(export_job(jobs, id, client, tools, request, dir, stop, tx));
        });
        (JobStatus::Export(rx), task)
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
    let request = JobRequest::parse(&body)?;
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
    fn export_requests_parse_with_defaults() {
        let f = "7d4c5d3e-0a9f-4d7e-9d55-3c4a0b1e2f60";
        let r =
            JobRequest::parse(&json!({"kind": "export", "flow_id": f, "timerange": "[1:0_3:0)"}))
                .unwrap();
        let JobRequest::Export(r) = r else {
            panic!("not an export")
        };
        assert_eq!(r.format, Container::Mp4);
        assert_eq!(r.target, Target::Flow(FlowId::parse(f).unwrap()));
        assert_eq!(
            r.to_json(),
            json!({"kind": "export", "flow_id": f, "timerange": "[1:0_3:0)",
                   "format": "mp4", "label": null})
        );
        let r = ExportRequest::parse(&json!({
            "kind": "export", "source_id": f, "timerange": "_", "format": "ts", "label": "cut"
        }))
        .unwrap();
        assert_eq!(r.format, Container::Ts);
        assert_eq!(r.to_json()["source_id"], f);
        let e =
            JobRequest::parse(&json!({"kind": "export", "flow_id": f, "timerange": "[2:0_2:0)"}))
                .unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
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
