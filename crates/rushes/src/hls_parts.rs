//! `GET /hls/flows/{flowId}/parts/{start}.ts`: the referenced frames of one segment that uses only part of its object, cut into an MPEG-TS segment for HLS (docs/HLS.md).
//!
//! A segment with `sample_offset` / `sample_count` (made by edit by reference) names an
//! object of which it uses only some frames; a player given the object's URL would show
//! them all. Media playlists point such segments here instead. [`Parts`] looks the segment
//! up through this node's own TAMS API with the request's credentials (so auth classes
//! apply as to any segment listing), runs [`rushes_media::export`] on exactly that
//! segment's timerange into MPEG-TS, and re-stamps the result so that its first frame
//! has the media time `segment start − ts_offset`: the time its frame has in the object,
//! so the part continues the timeline of neighbouring whole segments with the same
//! `ts_offset`. The file is cached under the data directory, keyed by flow, segment
//! start, object, `ts_offset`, `sample_offset` and `sample_count`; a segment that changes
//! (deleted and registered again with another object or cut) gets another file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::{OriginalUri, Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rushes_api::auth::{require_auth, Auth};
use rushes_api::error::ApiError;
use rushes_client::model::{FlowId, Segment};
use rushes_client::{Client, Query};
use rushes_media::export::{export, Container, ExportOptions, Target};
use rushes_media::{RunError, Tools};
use rushes_time::{TimeRange, Timestamp};

/// The route, under the media playlists' path.
pub const PARTS_PATH: &str = "/hls/flows/{flow_id}/parts/{name}";

/// The parts of one node: where they are cached and how the node's API is reached.
/// Cheap to clone.
#[derive(Clone)]
pub struct Parts {
    inner: Arc<Inner>,
}

struct Inner {
    /// The node's own TAMS API.
    base_url: String,
    /// `{data_dir}/hls-parts`.
    cache_dir: PathBuf,
    /// Whether the store runs without authentication (requests then send no credentials).
    open: bool,
    tools: Tools,
    /// One lock per cache file being made, so that concurrent requests cut it once.
    making: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
}

impl Parts {
    pub fn new(base_url: String, cache_dir: PathBuf, open: bool) -> Parts {
        Parts {
            inner: Arc::new(Inner {
                base_url,
                cache_dir,
                open,
                tools: Tools::default(),
                making: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn lock_for(&self, path: &Path) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self
            .inner
            .making
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Forget locks nobody holds (the file is made by then).
        map.retain(|_, l| Arc::strong_count(l) > 1);
        map.entry(path.to_owned()).or_default().clone()
    }
}

/// The route, behind `auth` like the playlists (it needs the read permission).
pub fn router(parts: Parts, auth: Auth) -> Router {
    Router::new()
        .route(PARTS_PATH, get(part))
        .layer(middleware::from_fn_with_state(auth, require_auth))
        .with_state(parts)
}

fn internal(what: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %what, "hls parts");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        "internal error; see the server log",
    )
}

/// A store error met on the way, as this request's answer.
fn from_store(e: &rushes_client::Error) -> ApiError {
    match e.status().map(|s| s.as_u16()) {
        Some(404) => ApiError::not_found(
            e.error_body()
                .map_or_else(|| e.to_string(), |b| b.summary.clone()),
        ),
        Some(401) => ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", e.to_string()),
        Some(403) => ApiError::new(StatusCode::FORBIDDEN, "Forbidden", e.to_string()),
        _ => internal(e),
    }
}

fn from_run(e: RunError) -> ApiError {
    match e {
        RunError::Refused(m) => ApiError::not_found(m),
        RunError::Store(e) => from_store(&e),
        other => internal(other),
    }
}

/// `{start}.ts`: the segment's start in nanoseconds.
fn parse_name(name: &str) -> Result<i64, ApiError> {
    name.strip_suffix(".ts")
        .and_then(|n| n.parse::<i64>().ok())
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "invalid part {name:?}: expected the segment's start in nanoseconds and .ts"
            ))
        })
}

/// The cache file of a segment: every field that decides its frames is in the name.
fn cache_name(start: i64, seg: &Segment) -> String {
    let object = seg.object_id.to_string();
    let object: String = if object.len() <= 96 {
        object.bytes().map(|b| format!("{b:02x}")).collect()
    } else {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        object.hash(&mut h);
        format!("h{:016x}", h.finish())
    };
    let n = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    format!(
        "{start}_{object}_{}_{}_{}.ts",
        seg.ts_offset_or_zero().as_nanos(),
        n(seg.sample_offset),
        n(seg.sample_count)
    )
}

/// `ns` as seconds for an ffmpeg duration option, exact to the nanosecond.
fn seconds_text(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let a = ns.unsigned_abs();
    format!("{sign}{}.{:09}", a / 1_000_000_000, a % 1_000_000_000)
}

async fn part(
    State(parts): State<Parts>,
    path: Result<UrlPath<(String, String)>, axum::extract::rejection::PathRejection>,
    original: OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let UrlPath((flow_text, name)) = path.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let flow_id: FlowId = flow_text
        .parse()
        .map_err(|e| ApiError::not_found(format!("the id in the path is invalid: {e}")))?;
    let start = parse_name(&name)?;
    let auth = if parts.inner.open {
        rushes_client::Auth::None
    } else {
        crate::jobs::credentials_of(&headers, original.0.query())
    };
    let client = Client::new(&parts.inner.base_url, auth).map_err(|e| internal(&e))?;
    // The segment that starts at `start`, read with the request's credentials.
    let at = Timestamp::from_nanos(start);
    let probe = TimeRange::half_open(at, Timestamp::from_nanos(start.saturating_add(1)));
    let listed: Vec<Segment> = client
        .list_segments(flow_id, &Query::new().timerange(probe))
        .all()
        .await
        .map_err(|e| from_store(&e))?;
    let seg = listed
        .into_iter()
        .find(|s| {
            s.timerange
                .range()
                .nanos_half_open()
                .is_some_and(|(s, _)| s == Some(i128::from(start)))
        })
        .ok_or_else(|| {
            ApiError::not_found(format!("flow {flow_id} has no segment starting at {at}"))
        })?;
    if seg.init_object.is_some() {
        return Err(ApiError::not_found(format!(
            "the segment of flow {flow_id} at {at} has an init object: parts are cut from MPEG-TS flows only"
        )));
    }
    let dir = parts.inner.cache_dir.join(flow_id.to_string());
    let file = dir.join(cache_name(start, &seg));
    let lock = parts.lock_for(&file);
    let guard = lock.lock().await;
    if tokio::fs::metadata(&file).await.is_err() {
        make_part(&parts.inner, &client, flow_id, &seg, &dir, &file).await?;
    }
    drop(guard);
    let bytes = tokio::fs::read(&file).await.map_err(|e| internal(&e))?;
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp2t"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    Ok(resp)
}

/// Cuts the segment's frames into `file` (written beside it, then renamed).
async fn make_part(
    inner: &Inner,
    client: &Client,
    flow_id: FlowId,
    seg: &Segment,
    dir: &Path,
    file: &Path,
) -> Result<(), ApiError> {
    let range = seg.timerange.range();
    let Some((Some(s), Some(_))) = range.nanos_half_open() else {
        return Err(ApiError::not_found(format!(
            "the segment of flow {flow_id} has an unbounded timerange"
        )));
    };
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| internal(format!("{}: {e}", dir.display())))?;
    let work = dir.join(format!("work-{}", uuid::Uuid::new_v4()));
    let cut = work.with_extension("ts");
    let mut opts = ExportOptions::new(Target::Flow(flow_id), range, cut.clone());
    opts.container = Container::Ts;
    opts.work_dir = Some(dir.to_owned());
    opts.parallel = 1;
    // The export's future is not `Send` (its downloads borrow across awaits), so it runs
    // on a blocking thread of its own, driven by this runtime (as export jobs do).
    let handle = tokio::runtime::Handle::current();
    let (client2, tools) = (client.clone(), inner.tools.clone());
    let exported = tokio::task::spawn_blocking(move || {
        handle.block_on(async move { export(&client2, &tools, &opts, &|_| {}).await.map(|_| ()) })
    })
    .await
    .map_err(|e| internal(format!("the cut of a part stopped: {e}")))?;
    if let Err(e) = exported {
        let _ = tokio::fs::remove_file(&cut).await;
        return Err(from_run(e));
    }
    // The first frame at `start − ts_offset` on the media timeline; no mux delay.
    let media_start = i64::try_from(s)
        .unwrap_or(i64::MAX)
        .saturating_sub(seg.ts_offset_or_zero().as_nanos());
    let mut partial = file.as_os_str().to_owned();
    // Unique: a request dropped while its cut runs on may overlap a later one.
    partial.push(format!(".partial-{}", uuid::Uuid::new_v4()));
    let partial = PathBuf::from(partial);
    let out = tokio::process::Command::new(&inner.tools.ffmpeg)
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(&cut)
        .args([
            "-map",
            "0",
            "-c",
            "copy",
            "-muxdelay",
            "0",
            "-muxpreload",
            "0",
        ])
        .args(["-output_ts_offset", &seconds_text(media_start)])
        .args(["-f", "mpegts"])
        .arg(&partial)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await;
    let _ = tokio::fs::remove_file(&cut).await;
    let ok = match out {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(String::from_utf8_lossy(&o.stderr).into_owned()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = ok {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(internal(format!("ffmpeg re-stamping a part: {e}")));
    }
    tokio::fs::rename(&partial, file)
        .await
        .map_err(|e| internal(format!("{}: {e}", file.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_times() {
        assert!(parse_name("1000.ts").is_ok_and(|v| v == 1000));
        assert!(parse_name("-40.ts").is_ok_and(|v| v == -40));
        assert!(parse_name("1000").is_err());
        assert!(parse_name("x.ts").is_err());
        assert_eq!(seconds_text(1_400_000_000), "1.400000000");
        assert_eq!(seconds_text(-40_000_000), "-0.040000000");
    }
}
