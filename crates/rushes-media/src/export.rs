//! `rushes export`: a timerange of a flow or source out of a store as one MP4, MOV or MPEG-TS file, cut exactly.
//!
//! 1. **What**: a mono flow alone; a multi-essence flow (its `flow_collection`) or a source
//!    (`GET /flows?source_id=`) gives its first video flow and every audio flow. Each
//!    flow's codec is checked against the container before anything is downloaded.
//! 2. **Where**: the segments overlapping the timerange, listed with their `get_urls`, are
//!    downloaded several at a time and written in timeline order into a temporary
//!    directory (fragmented MP4: the init object before the media parts). Consecutive
//!    segments used whole, with the same `ts_offset` and init object, become one file.
//! 3. **Cut**: a segment used in part (the timerange's ends, or a segment with
//!    `sample_offset` / `sample_count`, as edit by reference makes) has its packets listed;
//!    a frame's flow time is its media time plus `ts_offset`. Of the frames wanted, those
//!    before the first key frame and those after the last key frame (when the cut ends
//!    inside a GOP) are re-encoded with libx264 (same size, rate and pixel format, closed
//!    GOP); the whole GOPs between are stream-copied. Audio (AAC) is stream-copied frame by
//!    frame: a frame is kept when its middle falls inside the range, so each end is within
//!    half a frame of the cut.
//! 4. **Join**: the parts of each track, as MPEG-TS files, are joined with ffmpeg's concat
//!    demuxer (each with its exact duration) and muxed into the container, written as
//!    `FILE.partial` and renamed to `FILE` only when complete.
//!
//! GOPs are assumed closed (as libx264 and the importer make them): a stream-copied GOP
//! must decode without frames outside it. A piece whose copied frames are not contiguous
//! in decode order is re-encoded instead.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use rushes_client::model::{FlowId, Segment, SourceId};
use rushes_client::{Client, Query};
use rushes_time::{Rational, Rounding, TimeRange, Timestamp};
use serde::Serialize;
use serde_json::Value;

use crate::run::run_lines;
use crate::{ticks_to_timestamp, RunError, Tools};

const FORMAT_VIDEO: &str = "urn:x-nmos:format:video";
const FORMAT_AUDIO: &str = "urn:x-nmos:format:audio";
const FORMAT_MULTI: &str = "urn:x-nmos:format:multi";

/// The container of the exported file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Container {
    Mp4,
    Mov,
    Ts,
}

impl Container {
    /// `mp4`, `mov` or `ts` (also `m2ts`, `mts`, `mpegts`).
    pub fn from_name(name: &str) -> Option<Container> {
        match name.to_ascii_lowercase().as_str() {
            "mp4" | "m4v" => Some(Container::Mp4),
            "mov" | "qt" => Some(Container::Mov),
            "ts" | "m2ts" | "mts" | "mpegts" => Some(Container::Ts),
            _ => None,
        }
    }

    /// The container a file name's extension names.
    pub fn from_path(path: &Path) -> Option<Container> {
        Container::from_name(path.extension()?.to_str()?)
    }

    fn muxer(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4",
            Container::Mov => "mov",
            Container::Ts => "mpegts",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Container::Mp4 => "MP4",
            Container::Mov => "MOV",
            Container::Ts => "MPEG-TS",
        }
    }

    /// Whether the container can carry a flow of this codec (a TAMS MIME type).
    pub fn can_hold(self, codec: &str) -> bool {
        let codec = codec.to_ascii_lowercase();
        let both = [
            "video/h264",
            "video/h265",
            "video/hevc",
            "audio/aac",
            "audio/mpeg",
            "audio/mp4a-latm",
            "audio/ac3",
        ];
        if both.contains(&codec.as_str()) {
            return true;
        }
        match self {
            Container::Mp4 => matches!(codec.as_str(), "video/av1" | "audio/opus" | "audio/flac"),
            Container::Mov => matches!(
                codec.as_str(),
                "video/av1" | "video/prores" | "audio/opus" | "audio/flac" | "audio/l16"
            ),
            Container::Ts => matches!(codec.as_str(), "audio/opus"),
        }
    }
}

/// What to export: one flow (mono or multi-essence) or a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Flow(FlowId),
    Source(SourceId),
}

/// How to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub target: Target,
    /// On the flow timeline; an unbounded end is the flow's own.
    pub timerange: TimeRange,
    /// The file to write (`FILE.partial` until complete).
    pub output: PathBuf,
    pub container: Container,
    /// Downloads in flight.
    pub parallel: usize,
    /// Where the temporary directory goes [default: the system's].
    pub work_dir: Option<PathBuf>,
    /// Re-encode every video frame instead of stream-copying whole GOPs (slower; for
    /// media whose GOPs are open).
    pub reencode_all: bool,
    /// libx264 constant rate factor of re-encoded frames.
    pub crf: u8,
}

impl ExportOptions {
    pub fn new(target: Target, timerange: TimeRange, output: PathBuf) -> ExportOptions {
        let container = Container::from_path(&output).unwrap_or(Container::Mp4);
        ExportOptions {
            target,
            timerange,
            output,
            container,
            parallel: 8,
            work_dir: None,
            reencode_all: false,
            crf: 16,
        }
    }
}

/// What an export is doing, for a progress display.
#[derive(Debug, Clone)]
pub enum ExportEvent {
    /// The plan: segments to download and pieces to cut or copy after.
    Planned { segments: u64, pieces: u64 },
    /// One segment is on disk.
    Downloaded,
    /// One piece of a track is ready.
    Cut,
    /// The tracks are being joined into the file.
    Muxing,
}

/// One part of a track in the file: stream-copied or re-encoded.
#[derive(Debug, Clone, Serialize)]
pub struct PartSummary {
    pub flow_id: FlowId,
    pub role: String,
    /// `copy` or `reencode`.
    pub mode: &'static str,
    /// On the flow timeline.
    pub timerange: String,
    /// Video frames, or audio frames (AAC: 1024 samples each).
    pub frames: u64,
}

/// One exported track.
#[derive(Debug, Clone, Serialize)]
pub struct TrackSummary {
    pub flow_id: FlowId,
    pub role: String,
    pub codec: String,
    pub frames: u64,
    pub duration_seconds: f64,
    pub segments: u64,
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportSummary {
    pub file: String,
    pub format: Container,
    /// The timerange exported, on the flow timeline.
    pub timerange: String,
    /// Video frames in the file (audio frames for a file without video).
    pub frames: u64,
    pub duration_seconds: f64,
    pub tracks: Vec<TrackSummary>,
    /// Every part, in order, per track.
    pub parts: Vec<PartSummary>,
    /// Video frames that were re-encoded (the rest were stream-copied).
    pub reencoded_frames: u64,
    pub bytes: u64,
    pub elapsed_seconds: f64,
}

/// One flow to export.
#[derive(Debug, Clone)]
struct Track {
    id: FlowId,
    video: bool,
    codec: String,
    range: TimeRange,
    /// Video: frames per second.
    rate: Option<Rational>,
}

fn refused(msg: impl Into<String>) -> RunError {
    RunError::Refused(msg.into())
}

fn local(path: &Path, e: std::io::Error) -> RunError {
    RunError::Local(format!("{}: {e}", path.display()))
}

/// Exports `opts.timerange` of `opts.target` into `opts.output`.
pub async fn export(
    client: &Client,
    tools: &Tools,
    opts: &ExportOptions,
    on_event: &(dyn Fn(ExportEvent) + Send + Sync),
) -> Result<ExportSummary, RunError> {
    let started = Instant::now();
    let tracks = resolve(client, opts).await?;
    for t in &tracks {
        if !opts.container.can_hold(&t.codec) {
            return Err(refused(format!(
                "flow {} has codec {}, which {} cannot hold",
                t.id,
                t.codec,
                opts.container.name()
            )));
        }
        let ok = if t.video {
            t.codec.eq_ignore_ascii_case("video/h264")
        } else {
            t.codec.eq_ignore_ascii_case("audio/aac")
        };
        if !ok {
            return Err(refused(format!(
                "flow {} has codec {}: export cuts H.264 video and AAC audio only",
                t.id, t.codec
            )));
        }
    }
    let range = export_range(&tracks, opts.timerange)?;

    // The segments of every track.
    let mut listed = Vec::new();
    for t in &tracks {
        let within = if t.video || !tracks.iter().any(|o| o.video) {
            range
        } else {
            range.intersection(t.range)
        };
        let segments: Vec<Segment> = client
            .list_segments(t.id, &Query::new().timerange(within))
            .all()
            .await?;
        let plan = plan_track(t, within, segments)?;
        listed.push((t, within, plan));
    }
    let segments: u64 = listed
        .iter()
        .map(|(_, _, p)| p.iter().map(|u| u.segments.len() as u64).sum::<u64>())
        .sum();
    let pieces: u64 = listed.iter().map(|(_, _, p)| p.len() as u64).sum();
    on_event(ExportEvent::Planned { segments, pieces });

    let base = opts.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    let work = WorkDir::create(&base.join(format!("rushes-export-{}", uuid::Uuid::new_v4())))?;
    let partial = partial_path(&opts.output);
    let outcome = async {
        let mut tracks_out = Vec::new();
        let mut parts = Vec::new();
        let mut lists = Vec::new();
        for (n, (t, within, plan)) in listed.iter().enumerate() {
            let dir = work.path.join(format!("track{n}"));
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|e| local(&dir, e))?;
            let units = download(client, t, plan, &dir, opts.parallel, on_event).await?;
            let mut track_parts = Vec::new();
            for (i, (unit, file)) in plan.iter().zip(units).enumerate() {
                let mut made = cut_unit(tools, t, unit, &file, &dir, i, opts).await?;
                track_parts.append(&mut made);
                on_event(ExportEvent::Cut);
            }
            if track_parts.is_empty() {
                return Err(refused(format!(
                    "flow {} has no frames in {}",
                    t.id, within
                )));
            }
            let list = dir.join("parts.ffconcat");
            write_concat(&list, &track_parts).await?;
            lists.push(list);
            let frames: u64 = track_parts.iter().map(|p| p.frames).sum();
            let duration: i128 = track_parts.iter().map(|p| p.duration_ns).sum();
            tracks_out.push(TrackSummary {
                flow_id: t.id,
                role: if t.video { "video" } else { "audio" }.into(),
                codec: t.codec.clone(),
                frames,
                duration_seconds: duration as f64 / 1e9,
                segments: plan.iter().map(|u| u.segments.len() as u64).sum(),
            });
            parts.extend(track_parts.into_iter().map(|p| PartSummary {
                flow_id: t.id,
                role: if t.video { "video" } else { "audio" }.into(),
                mode: if p.reencoded { "reencode" } else { "copy" },
                timerange: p.range.to_string(),
                frames: p.frames,
            }));
        }
        on_event(ExportEvent::Muxing);
        mux(tools, &lists, opts.container, &partial).await?;
        Ok((tracks_out, parts))
    }
    .await;
    let (tracks_out, parts) = match outcome {
        Ok(v) => v,
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(e);
        }
    };
    tokio::fs::rename(&partial, &opts.output)
        .await
        .map_err(|e| local(&opts.output, e))?;
    let bytes = tokio::fs::metadata(&opts.output)
        .await
        .map(|m| m.len())
        .unwrap_or(0);
    let main = tracks_out
        .iter()
        .find(|t| t.role == "video")
        .or(tracks_out.first());
    Ok(ExportSummary {
        file: opts.output.display().to_string(),
        format: opts.container,
        timerange: range.to_string(),
        frames: main.map(|t| t.frames).unwrap_or(0),
        duration_seconds: main.map(|t| t.duration_seconds).unwrap_or(0.0),
        reencoded_frames: parts
            .iter()
            .filter(|p| p.role == "video" && p.mode == "reencode")
            .map(|p| p.frames)
            .sum(),
        tracks: tracks_out,
        parts,
        bytes,
        elapsed_seconds: started.elapsed().as_secs_f64(),
    })
}

/// `FILE.partial`, beside `FILE`.
fn partial_path(output: &Path) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// A temporary directory, removed when dropped.
struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    fn create(path: &Path) -> Result<WorkDir, RunError> {
        std::fs::create_dir_all(path).map_err(|e| local(path, e))?;
        Ok(WorkDir {
            path: path.to_owned(),
        })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------------------
// What to export

async fn get_flow(client: &Client, id: &str) -> Result<Value, RunError> {
    client
        .get_json(
            &["flows", id],
            &Query::new().param("include_timerange", "true"),
        )
        .await
        .map_err(|e| {
            if e.is_not_found() {
                refused(format!("flow {id} not found"))
            } else {
                RunError::Store(e)
            }
        })
}

fn track_of(flow: &Value) -> Result<Option<Track>, RunError> {
    let format = flow["format"].as_str().unwrap_or_default();
    let video = match format {
        FORMAT_VIDEO => true,
        FORMAT_AUDIO => false,
        _ => return Ok(None),
    };
    let id_text = flow["id"].as_str().unwrap_or_default();
    let id: FlowId = id_text
        .parse()
        .map_err(|_| refused(format!("the store gave a flow id {id_text:?}")))?;
    let codec = flow["codec"].as_str().unwrap_or("(none)").to_owned();
    let range = match flow["timerange"].as_str() {
        Some(s) => s
            .parse::<TimeRange>()
            .map_err(|e| refused(format!("flow {id} timerange {s:?}: {e}")))?,
        None => TimeRange::Never,
    };
    let rate = flow["essence_parameters"]["frame_rate"]
        .as_object()
        .and_then(|r| {
            let n = r.get("numerator")?.as_u64()?;
            let d = r.get("denominator").and_then(Value::as_u64).unwrap_or(1);
            Rational::new(n, d).ok()
        });
    Ok(Some(Track {
        id,
        video,
        codec,
        range,
        rate,
    }))
}

/// The flows to export: one video flow at most, and the audio flows.
async fn resolve(client: &Client, opts: &ExportOptions) -> Result<Vec<Track>, RunError> {
    let flows: Vec<Value> = match opts.target {
        Target::Flow(id) => {
            let flow = get_flow(client, &id.to_string()).await?;
            if flow["format"] == FORMAT_MULTI {
                let mut all = Vec::new();
                for item in flow["flow_collection"].as_array().into_iter().flatten() {
                    if let Some(member) = item["id"].as_str() {
                        all.push(get_flow(client, member).await?);
                    }
                }
                all
            } else {
                vec![flow]
            }
        }
        Target::Source(id) => {
            let listed: Vec<Value> = client
                .pages(
                    &["flows"],
                    &Query::new()
                        .param("source_id", id.to_string())
                        .param("include_timerange", "true"),
                )
                .all()
                .await?;
            if listed.is_empty() {
                return Err(refused(format!("source {id} has no flows")));
            }
            // A multi-essence flow of the source stands for the flows it collects.
            let mut all = Vec::new();
            for flow in listed {
                if flow["format"] == FORMAT_MULTI {
                    for item in flow["flow_collection"].as_array().into_iter().flatten() {
                        if let Some(member) = item["id"].as_str() {
                            all.push(get_flow(client, member).await?);
                        }
                    }
                } else {
                    all.push(flow);
                }
            }
            all
        }
    };
    let mut tracks = Vec::new();
    for f in &flows {
        if let Some(t) = track_of(f)? {
            if t.video && tracks.iter().any(|o: &Track| o.video) {
                continue;
            }
            tracks.push(t);
        }
    }
    // Video first.
    tracks.sort_by_key(|t| !t.video);
    if tracks.is_empty() {
        return Err(refused("no video or audio flow to export"));
    }
    Ok(tracks)
}

/// The requested range with unbounded ends taken from the main flow, which must hold it.
fn export_range(tracks: &[Track], asked: TimeRange) -> Result<TimeRange, RunError> {
    let main = &tracks[0];
    if main.range.is_empty() {
        return Err(refused(format!("flow {} has no segments", main.id)));
    }
    let range = match (asked.start(), asked.end()) {
        (Some(s), Some(e)) => {
            let (fs, fe) = (main.range.start(), main.range.end());
            let s = match s {
                rushes_time::Bound::Unbounded => fs.unwrap_or(s),
                b => b,
            };
            let e = match e {
                rushes_time::Bound::Unbounded => fe.unwrap_or(e),
                b => b,
            };
            TimeRange::new(s, e).normalised()
        }
        _ => return Err(refused("the timerange is empty")),
    };
    if range.is_empty() || !range.is_bounded() {
        return Err(refused(format!("the timerange {asked} is empty")));
    }
    if !main.range.contains_range(range) {
        return Err(refused(format!(
            "the timerange {range} is outside flow {} (its timerange is {})",
            main.id, main.range
        )));
    }
    Ok(range)
}

// ---------------------------------------------------------------------------------------
// Plan: segments grouped into units

/// One segment to use, with what of it.
#[derive(Debug, Clone)]
struct UnitSegment {
    seg: Segment,
    range: (i128, i128),
}

/// Consecutive segments used whole (one file of their bytes), or one segment used in part.
#[derive(Debug, Clone)]
struct Unit {
    segments: Vec<UnitSegment>,
    /// `Some(range)`: only this range of the one segment, in flow nanoseconds.
    part: Option<(i128, i128)>,
    ts_offset: i128,
}

fn nanos(range: TimeRange) -> Option<(i128, i128)> {
    match range.nanos_half_open()? {
        (Some(s), Some(e)) => Some((s, e)),
        _ => None,
    }
}

fn plan_track(t: &Track, within: TimeRange, segments: Vec<Segment>) -> Result<Vec<Unit>, RunError> {
    let Some((ws, we)) = nanos(within) else {
        return Err(refused(format!("flow {} has no media in {within}", t.id)));
    };
    if segments.is_empty() {
        return Err(refused(format!(
            "flow {} has no segments in {within}",
            t.id
        )));
    }
    let mut units: Vec<Unit> = Vec::new();
    let mut covered = ws;
    for seg in segments {
        let tr = seg.timerange.range();
        let Some((s, e)) = nanos(tr) else {
            return Err(refused(format!(
                "flow {}: segment {} has an unbounded timerange",
                t.id,
                seg.timerange.as_str()
            )));
        };
        if e <= ws || s >= we {
            continue;
        }
        if t.video && s > covered {
            return Err(refused(format!(
                "flow {} has no segments between {} and {} ns (a gap in {within})",
                t.id, covered, s
            )));
        }
        covered = covered.max(e);
        let ts_offset = i128::from(seg.ts_offset_or_zero().as_nanos());
        let referenced = seg.sample_offset.unwrap_or(0) != 0 || seg.sample_count.is_some();
        let whole = s >= ws && e <= we && !referenced;
        let init = seg.init_object.as_ref().map(|i| i.object_id.to_string());
        let us = UnitSegment { seg, range: (s, e) };
        if whole {
            if let Some(last) = units.last_mut() {
                let prev = last.segments.last().map(|p| {
                    (
                        p.range.1,
                        p.seg.init_object.as_ref().map(|i| i.object_id.to_string()),
                    )
                });
                if last.part.is_none()
                    && last.ts_offset == ts_offset
                    && prev == Some((s, init.clone()))
                {
                    last.segments.push(us);
                    continue;
                }
            }
            units.push(Unit {
                segments: vec![us],
                part: None,
                ts_offset,
            });
        } else {
            units.push(Unit {
                segments: vec![us],
                part: Some((s.max(ws), e.min(we))),
                ts_offset,
            });
        }
    }
    if units.is_empty() {
        return Err(refused(format!(
            "flow {} has no segments in {within}",
            t.id
        )));
    }
    if t.video && covered < we {
        return Err(refused(format!(
            "flow {} has no segments after {covered} ns in {within}",
            t.id
        )));
    }
    Ok(units)
}

// ---------------------------------------------------------------------------------------
// Download

fn first_url(urls: Option<&Vec<rushes_client::model::GetUrl>>) -> Option<String> {
    urls?.first().map(|u| u.url.clone())
}

async fn fetch(
    client: &Client,
    flow: FlowId,
    object: &str,
    url: Option<String>,
) -> Result<bytes::Bytes, RunError> {
    let Some(url) = url else {
        return Err(refused(format!(
            "object {object} of flow {flow} has no get_urls"
        )));
    };
    client.download(&url).await.map_err(|e| {
        if e.is_not_found() {
            refused(format!(
                "object {object} of flow {flow} is missing from storage (404 on its get_url)"
            ))
        } else {
            RunError::Store(e)
        }
    })
}

/// Downloads every unit's segments, several at a time, and writes each unit's bytes in
/// order into one file; returns the files, in unit order.
async fn download(
    client: &Client,
    t: &Track,
    plan: &[Unit],
    dir: &Path,
    parallel: usize,
    on_event: &(dyn Fn(ExportEvent) + Send + Sync),
) -> Result<Vec<PathBuf>, RunError> {
    // Init objects, fetched once each.
    let mut inits: std::collections::HashMap<String, Arc<bytes::Bytes>> = Default::default();
    for u in plan {
        for s in &u.segments {
            if let Some(init) = &s.seg.init_object {
                let id = init.object_id.to_string();
                if let std::collections::hash_map::Entry::Vacant(slot) = inits.entry(id) {
                    let id = slot.key().clone();
                    let b = fetch(client, t.id, &id, first_url(init.get_urls.as_ref())).await?;
                    slot.insert(Arc::new(b));
                }
            }
        }
    }
    let jobs = plan.iter().enumerate().flat_map(|(ui, u)| {
        u.segments
            .iter()
            .enumerate()
            .map(move |(si, s)| (ui, si, s))
    });
    let mut stream = futures::stream::iter(jobs)
        .map(|(ui, si, s)| async move {
            let id = s.seg.object_id.to_string();
            let b = fetch(client, t.id, &id, first_url(s.seg.get_urls.as_ref())).await?;
            Ok::<_, RunError>((ui, si, b))
        })
        .buffered(parallel.max(1));
    let mut files = Vec::with_capacity(plan.len());
    let mut current: Option<(usize, tokio::fs::File)> = None;
    use tokio::io::AsyncWriteExt;
    while let Some((ui, si, bytes)) = stream.try_next().await? {
        let unit = &plan[ui];
        if si == 0 {
            if let Some((_, mut f)) = current.take() {
                f.flush().await.map_err(|e| local(dir, e))?;
            }
            let fmp4 = unit.segments[0].seg.init_object.is_some();
            let path = dir.join(format!("unit{ui:05}.{}", if fmp4 { "mp4" } else { "ts" }));
            let mut f = tokio::fs::File::create(&path)
                .await
                .map_err(|e| local(&path, e))?;
            if let Some(init) = &unit.segments[0].seg.init_object {
                if let Some(b) = inits.get(&init.object_id.to_string()) {
                    f.write_all(b).await.map_err(|e| local(&path, e))?;
                }
            }
            files.push(path);
            current = Some((ui, f));
        }
        if let Some((_, f)) = current.as_mut() {
            f.write_all(&bytes).await.map_err(|e| local(dir, e))?;
        }
        on_event(ExportEvent::Downloaded);
    }
    if let Some((_, mut f)) = current.take() {
        f.flush().await.map_err(|e| local(dir, e))?;
    }
    Ok(files)
}

// ---------------------------------------------------------------------------------------
// Cut

/// One MPEG-TS file of a track, in order.
#[derive(Debug, Clone)]
struct Part {
    file: PathBuf,
    /// On the flow timeline.
    range: TimeRange,
    duration_ns: i128,
    frames: u64,
    reencoded: bool,
}

fn ts_range(s: i128, e: i128) -> TimeRange {
    let clamp = |v: i128| Timestamp::from_nanos(i64::try_from(v).unwrap_or(i64::MAX));
    TimeRange::half_open(clamp(s), clamp(e))
}

async fn ffmpeg(tools: &Tools, args: Vec<std::ffi::OsString>) -> Result<(), RunError> {
    let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    run_lines(&tools.ffmpeg, &refs, tools.ffmpeg_timeout, |_| Ok(())).await?;
    Ok(())
}

fn args(list: &[&str]) -> Vec<std::ffi::OsString> {
    list.iter().map(std::ffi::OsString::from).collect()
}

/// A fragmented MP4 unit as MPEG-TS (Annex B), so that all parts of a track join.
async fn as_ts(tools: &Tools, file: &Path) -> Result<PathBuf, RunError> {
    if file.extension().is_some_and(|e| e == "ts") {
        return Ok(file.to_owned());
    }
    let out = file.with_extension("ts");
    let mut a = args(&["-nostdin", "-v", "error", "-y", "-copyts", "-i"]);
    a.push(file.into());
    a.extend(args(&["-map", "0", "-c", "copy", "-f", "mpegts"]));
    a.push(out.clone().into());
    ffmpeg(tools, a).await?;
    Ok(out)
}

/// A frame (or audio frame) of a unit file: its pts order position is its index in the
/// sorted list; `decode` is its position in the file.
#[derive(Debug, Clone, Copy)]
struct Frame {
    /// Flow time, nanoseconds.
    t: i128,
    dur: i128,
    key: bool,
    decode: usize,
}

async fn frames_of(tools: &Tools, file: &Path, ts_offset: i128) -> Result<Vec<Frame>, RunError> {
    let info = tools.probe(file).await?;
    let stream = info
        .streams
        .first()
        .ok_or_else(|| refused(format!("{}: no stream in a segment", file.display())))?;
    let tb = stream.time_base;
    let packets = tools.packets(file, stream.index).await?;
    let ns = |ticks: i64| -> Result<i128, RunError> {
        ticks_to_timestamp(ticks, tb, Rounding::Nearest)
            .map(|t| i128::from(t.as_nanos()))
            .map_err(|e| refused(format!("{}: {e}", file.display())))
    };
    let mut frames = Vec::with_capacity(packets.len());
    for (decode, p) in packets.iter().enumerate() {
        let Some(pts) = p.pts else { continue };
        frames.push(Frame {
            t: ns(pts)? + ts_offset,
            dur: ns(p.duration.unwrap_or(0))?,
            key: p.key,
            decode,
        });
    }
    frames.sort_by_key(|f| f.t);
    // A frame without a duration lasts until the next one.
    for i in 0..frames.len() {
        if frames[i].dur <= 0 {
            frames[i].dur = frames.get(i + 1).map(|n| n.t - frames[i].t).unwrap_or(0);
        }
    }
    Ok(frames)
}

/// The frames (indices into `frames`, in presentation order) a unit uses: those the
/// segment references (`sample_offset` / `sample_count`), within `range`.
fn wanted(
    frames: &[Frame],
    seg: &Segment,
    range: (i128, i128),
    video: bool,
    sample_rate_ns: Option<i128>,
) -> (usize, usize) {
    let (mut lo, mut hi) = (0usize, frames.len());
    let so = seg.sample_offset.unwrap_or(0);
    let sc = seg.sample_count;
    if video {
        lo = usize::try_from(so).unwrap_or(usize::MAX).min(frames.len());
        if let Some(c) = sc {
            hi = lo
                .saturating_add(usize::try_from(c).unwrap_or(usize::MAX))
                .min(frames.len());
        }
    } else if let (Some(first), Some(ns_per_sample)) = (frames.first(), sample_rate_ns) {
        // Audio samples: a time from the object's first sample.
        let skip = first.t + i128::from(so) * ns_per_sample;
        let end = sc.map(|c| skip + i128::from(c) * ns_per_sample);
        lo = frames.partition_point(|f| f.t + f.dur / 2 < skip);
        if let Some(end) = end {
            hi = frames.partition_point(|f| f.t + f.dur / 2 < end);
        }
    }
    // By the frame's middle: robust to timestamps a few microseconds off the frame grid
    // (a container's time base rounding), and for a cut inside a frame, the frame is
    // kept when most of it is inside.
    let inside = |f: &Frame| {
        let mid = f.t + f.dur / 2;
        mid >= range.0 && mid < range.1
    };
    let sel: Vec<usize> = (lo..hi.max(lo)).filter(|&i| inside(&frames[i])).collect();
    match (sel.first(), sel.last()) {
        (Some(&a), Some(&b)) => (a, b + 1),
        _ => (0, 0),
    }
}

/// The parts one unit gives.
async fn cut_unit(
    tools: &Tools,
    t: &Track,
    unit: &Unit,
    file: &Path,
    dir: &Path,
    index: usize,
    opts: &ExportOptions,
) -> Result<Vec<Part>, RunError> {
    let original = file;
    let file = as_ts(tools, file).await?;
    let first = &unit.segments[0];
    let whole_range = (
        first.range.0,
        unit.segments
            .last()
            .map(|s| s.range.1)
            .unwrap_or(first.range.1),
    );
    let reencode_all = opts.reencode_all && t.video;
    let Some(part_range) = unit.part.or(if reencode_all {
        Some(whole_range)
    } else {
        None
    }) else {
        // Whole segments, copied as they are.
        let (s, e) = whole_range;
        let frames = match t.rate {
            Some(rate) if t.video => Timestamp::from_nanos(i64::try_from(e - s).unwrap_or(0))
                .to_count(rate, Rounding::Nearest)
                .unwrap_or(0)
                .max(0) as u64,
            _ => 0,
        };
        let frames = if t.video {
            frames
        } else {
            count_frames_estimate(tools, &file).await?
        };
        return Ok(vec![Part {
            file,
            range: ts_range(s, e),
            duration_ns: e - s,
            frames,
            reencoded: false,
        }]);
    };
    // Times from the object as stored (its own timeline, which `ts_offset` maps); the
    // MPEG-TS copy has the same frames in the same order.
    let frames = frames_of(tools, original, unit.ts_offset).await?;
    let (i0, i1) = wanted(&frames, &first.seg, part_range, t.video, None);
    if i1 <= i0 {
        return Ok(Vec::new());
    }
    let span = |a: usize, b: usize| -> (i128, i128) {
        let s = frames[a].t;
        let e = frames[b - 1].t + frames[b - 1].dur;
        (s, e)
    };
    let stem = format!("unit{index:05}");
    let copy = |a: usize, b: usize, name: String| {
        let (s, e) = span(a, b);
        let decodes: Vec<usize> = frames[a..b].iter().map(|f| f.decode).collect();
        let (dmin, dmax) = (
            decodes.iter().copied().min().unwrap_or(0),
            decodes.iter().copied().max().unwrap_or(0),
        );
        let contiguous = dmax + 1 - dmin == b - a;
        (s, e, dmin, dmax, contiguous, dir.join(name))
    };
    let mut parts = Vec::new();
    if !t.video {
        let (s, e, dmin, dmax, _, out) = copy(i0, i1, format!("{stem}-copy.ts"));
        copy_packets(tools, &file, dmin, dmax + 1, &out).await?;
        parts.push(Part {
            file: out,
            range: ts_range(s, e),
            duration_ns: e - s,
            frames: (i1 - i0) as u64,
            reencoded: false,
        });
        return Ok(parts);
    }
    // Video: [i0, k) re-encoded, [k, j) copied, [j, i1) re-encoded.
    let k = if reencode_all {
        None
    } else {
        (i0..i1).find(|&i| frames[i].key)
    };
    let (k, j) = match k {
        None => (i1, i1),
        Some(k) => {
            let ends_on_gop = i1 == frames.len() || frames[i1].key;
            let j = if ends_on_gop {
                i1
            } else {
                (k..i1).rev().find(|&i| frames[i].key).unwrap_or(k)
            };
            (k, j)
        }
    };
    let (k, j) = if j > k {
        let (_, _, _, _, contiguous, _) = copy(k, j, String::new());
        if contiguous {
            (k, j)
        } else {
            (i1, i1)
        }
    } else {
        // Nothing to copy: one re-encoded run.
        (i1, i1)
    };
    let pix_fmt = tools
        .probe(&file)
        .await?
        .streams
        .first()
        .and_then(|s| s.pix_fmt.clone())
        .unwrap_or_else(|| "yuv420p".into());
    if k > i0 {
        let out = dir.join(format!("{stem}-head.ts"));
        reencode(tools, &file, i0, k, &pix_fmt, opts.crf, &out).await?;
        let (s, e) = span(i0, k);
        parts.push(Part {
            file: out,
            range: ts_range(s, e),
            duration_ns: e - s,
            frames: (k - i0) as u64,
            reencoded: true,
        });
    }
    if j > k {
        let (s, e, dmin, dmax, _, out) = copy(k, j, format!("{stem}-copy.ts"));
        copy_packets(tools, &file, dmin, dmax + 1, &out).await?;
        parts.push(Part {
            file: out,
            range: ts_range(s, e),
            duration_ns: e - s,
            frames: (j - k) as u64,
            reencoded: false,
        });
    }
    if i1 > j && j > k {
        let out = dir.join(format!("{stem}-tail.ts"));
        reencode(tools, &file, j, i1, &pix_fmt, opts.crf, &out).await?;
        let (s, e) = span(j, i1);
        parts.push(Part {
            file: out,
            range: ts_range(s, e),
            duration_ns: e - s,
            frames: (i1 - j) as u64,
            reencoded: true,
        });
    }
    Ok(parts)
}

/// Audio frames of a whole unit: its packets, counted by ffprobe.
async fn count_frames_estimate(tools: &Tools, file: &Path) -> Result<u64, RunError> {
    let info = tools.probe(file).await?;
    let Some(s) = info.streams.first() else {
        return Ok(0);
    };
    Ok(tools.packets(file, s.index).await?.len() as u64)
}

/// Packets `[from, to)` (decode order) of the file's one stream, stream-copied.
async fn copy_packets(
    tools: &Tools,
    file: &Path,
    from: usize,
    to: usize,
    out: &Path,
) -> Result<(), RunError> {
    let mut a = args(&["-nostdin", "-v", "error", "-y", "-copyts", "-i"]);
    a.push(file.into());
    let drop = format!("noise=drop=lt(n\\,{from})+gte(n\\,{to})");
    a.extend(args(&[
        "-map", "0:0", "-c", "copy", "-bsf:0", &drop, "-f", "mpegts",
    ]));
    a.push(out.into());
    ffmpeg(tools, a).await
}

/// Frames `[from, to)` (presentation order, counted from the file's first) re-encoded
/// with libx264: a closed GOP of their own, at the input's frame rate (the filter graph
/// carries it), timestamps passed through.
async fn reencode(
    tools: &Tools,
    file: &Path,
    from: usize,
    to: usize,
    pix_fmt: &str,
    crf: u8,
    out: &Path,
) -> Result<(), RunError> {
    let mut a = args(&["-nostdin", "-v", "error", "-y", "-copyts", "-i"]);
    a.push(file.into());
    let filter = format!("trim=start_frame={from}:end_frame={to}");
    let crf = crf.to_string();
    let gop = (to - from).max(1).to_string();
    a.extend(args(&[
        "-map",
        "0:0",
        "-vf",
        &filter,
        "-fps_mode",
        "passthrough",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        &crf,
        "-pix_fmt",
        pix_fmt,
        "-g",
        &gop,
        "-x264-params",
        "open-gop=0:repeat-headers=1",
    ]));
    a.extend(args(&["-f", "mpegts"]));
    a.push(out.into());
    ffmpeg(tools, a).await
}

async fn write_concat(list: &Path, parts: &[Part]) -> Result<(), RunError> {
    let mut text = String::from("ffconcat version 1.0\n");
    for p in parts {
        let name = p.file.display().to_string().replace('\'', "'\\''");
        let d = p.duration_ns.max(0);
        text.push_str(&format!(
            "file '{name}'\nduration {}.{:09}\n",
            d / 1_000_000_000,
            d % 1_000_000_000
        ));
    }
    tokio::fs::write(list, text)
        .await
        .map_err(|e| local(list, e))
}

/// The tracks' parts joined and muxed into `out`.
async fn mux(
    tools: &Tools,
    lists: &[PathBuf],
    container: Container,
    out: &Path,
) -> Result<(), RunError> {
    let mut a = args(&["-nostdin", "-v", "error", "-y"]);
    for l in lists {
        a.extend(args(&["-f", "concat", "-safe", "0", "-i"]));
        a.push(l.into());
    }
    for i in 0..lists.len() {
        a.extend(args(&["-map", &format!("{i}:0")]));
    }
    a.extend(args(&["-c", "copy", "-f", container.muxer()]));
    a.push(out.into());
    ffmpeg(tools, a).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn frames(n: usize, key_every: usize) -> Vec<Frame> {
        (0..n)
            .map(|i| Frame {
                t: 40_000_000 * i as i128,
                dur: 40_000_000,
                key: i % key_every == 0,
                decode: i,
            })
            .collect()
    }

    fn seg(offset: Option<u64>, count: Option<u64>) -> Segment {
        let mut s = Segment::new(
            "obj".parse().unwrap(),
            rushes_client::model::TimeRangeText::parse("[0:0_1:0)").unwrap(),
        );
        s.sample_offset = offset;
        s.sample_count = count;
        s
    }

    #[test]
    fn containers_from_names_and_what_they_hold() {
        assert_eq!(Container::from_name("MP4"), Some(Container::Mp4));
        assert_eq!(
            Container::from_path(Path::new("a/b.ts")),
            Some(Container::Ts)
        );
        assert_eq!(Container::from_path(Path::new("a/b.mkv")), None);
        assert!(Container::Ts.can_hold("video/H264"));
        assert!(!Container::Ts.can_hold("video/prores"));
        assert!(Container::Mov.can_hold("video/prores"));
        assert!(!Container::Mp4.can_hold("video/prores"));
    }

    #[test]
    fn frames_are_in_the_range_by_their_middle() {
        let f = frames(25, 25);
        // [0.52 s, 0.8 s): frames 13..20.
        assert_eq!(
            wanted(&f, &seg(None, None), (520_000_000, 800_000_000), true, None),
            (13, 20)
        );
        // A few microseconds off the grid changes nothing.
        assert_eq!(
            wanted(&f, &seg(None, None), (519_990_000, 800_010_000), true, None),
            (13, 20)
        );
        // Nothing in a range between two middles.
        assert_eq!(
            wanted(&f, &seg(None, None), (521_000_000, 539_000_000), true, None),
            (0, 0)
        );
    }

    #[test]
    fn sample_offset_and_count_pick_frames_from_the_object() {
        let f = frames(25, 25);
        let all = (0, 1_000_000_000);
        assert_eq!(
            wanted(&f, &seg(Some(5), Some(10)), all, true, None),
            (5, 15)
        );
        assert_eq!(wanted(&f, &seg(Some(20), None), all, true, None), (20, 25));
        assert_eq!(wanted(&f, &seg(Some(30), Some(2)), all, true, None), (0, 0));
    }
}
