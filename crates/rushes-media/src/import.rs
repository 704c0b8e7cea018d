//! `rushes import FILE`: a media file into a store, one flow per elementary stream.
//!
//! 1. The file is probed; video and audio streams each become a flow (application note
//!    0001), under a multi-essence flow and source that collect them. Data and subtitle
//!    streams are left out and named in the summary.
//! 2. ffmpeg copies the streams without re-encoding into MPEG-TS segments cut at key
//!    frames (or re-encodes to H.264 + AAC with [`ImportOptions::transcode`]).
//! 3. Each segment's timerange comes from the media's own timestamps: from its first
//!    sample to the next segment's first sample (the last: to the end of its last
//!    sample), so a flow has no gaps and no overlaps. `ts_offset` maps the segment
//!    file's own timeline onto the flow's.
//! 4. Segments are uploaded several at a time and registered in order.
//!
//! The ids are derived from the file's content and the options, so running the same
//! import again finds the flows it made and adds only the segments they lack.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rushes_client::model::{FlowId, SourceId};
use rushes_client::{Client, Query};
use rushes_time::{TimeRange, Timestamp};
use serde::Serialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::flows::{self, PlannedCollection, PlannedFlow};
use crate::segmenter::{nanos_to_ticks, ticks_to_nanos, TS_WRAP};
use crate::{
    mp4_timescale, shift_tfdt, split_fmp4, CompletedSegment, FlowWriter, MediaInfo, RunError,
    SegmentFormat, SegmentOutput, SegmentToWrite, SegmenterEvent, SegmenterSpec, StreamKind, Tools,
    OBJECT_TIMELINE_START,
};

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Cut at the first key frame at or after each multiple of this.
    pub segment_duration: Duration,
    /// Uploads in flight per flow.
    pub parallel: usize,
    /// Re-encode to H.264 + AAC (the house format), cutting exactly every
    /// `segment_duration`; needed for codecs MPEG-TS cannot carry.
    pub transcode: bool,
    /// Put the first sample at this flow time instead of the media's own timestamps.
    pub start: Option<Timestamp>,
    /// Label of the source and flows [default: the file name].
    pub label: Option<String>,
    /// Where segment files are written before upload [default: the system's temporary
    /// directory].
    pub work_dir: Option<PathBuf>,
    /// How long to keep retrying a store that does not answer.
    pub retry_for: Duration,
    /// MPEG-TS segments, or fragmented MP4 with init segments (application note 0024).
    pub format: SegmentFormat,
}

impl Default for ImportOptions {
    fn default() -> ImportOptions {
        ImportOptions {
            segment_duration: Duration::from_secs(2),
            parallel: 4,
            transcode: false,
            start: None,
            label: None,
            work_dir: None,
            retry_for: Duration::from_secs(60),
            format: SegmentFormat::Ts,
        }
    }
}

/// What an import is doing, for a progress display.
#[derive(Debug, Clone)]
pub enum ImportEvent {
    /// The plan: the media's duration and total bytes of the file.
    Planned {
        duration: Option<Duration>,
        flows: usize,
    },
    /// ffmpeg has reached this far into the media.
    Segmented(Duration),
    /// A segment of flow `flow` (its index in the plan) is registered.
    Registered { flow: usize, bytes: u64 },
    /// A segment of flow `flow` was registered by an earlier run.
    Skipped { flow: usize },
}

/// One imported flow.
#[derive(Debug, Clone, Serialize)]
pub struct ImportedFlow {
    #[serde(flatten)]
    pub plan: PlannedFlow,
    pub segments_registered: u64,
    /// Segments an earlier run had registered.
    pub segments_already_there: u64,
    pub bytes: u64,
    /// The flow's timerange after the import.
    pub timerange: Option<String>,
}

/// What an import made.
#[derive(Debug, Clone, Serialize)]
pub struct ImportSummary {
    pub file: String,
    /// The multi-essence source and flow.
    pub source_id: SourceId,
    pub flow_id: FlowId,
    pub flows: Vec<ImportedFlow>,
    /// Streams left out (data, subtitles), as `index: kind codec`.
    pub streams_left_out: Vec<String>,
    pub media_duration_seconds: Option<f64>,
    pub elapsed_seconds: f64,
}

/// The import's plan: the flows and ids.
#[derive(Debug, Clone)]
pub struct ImportPlan {
    pub info: MediaInfo,
    pub collection: PlannedCollection,
    pub flows: Vec<PlannedFlow>,
    pub left_out: Vec<String>,
    pub label: String,
}

/// The namespace of the ids an import derives from a file's fingerprint.
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f1e_26a4_3c55_4f0e_9a39_72d1_1b8a_5c02);

/// A fingerprint of the file's content (its size, first and last MiB) and of the options
/// that change what the import writes.
async fn fingerprint(path: &Path, opts: &ImportOptions) -> Result<String, RunError> {
    let local = |e: std::io::Error| RunError::Local(format!("{}: {e}", path.display()));
    let mut file = tokio::fs::File::open(path).await.map_err(local)?;
    let size = file.metadata().await.map_err(local)?.len();
    let mut h = Sha256::new();
    h.update(size.to_le_bytes());
    let mut buf = vec![0u8; 1 << 20];
    let n = read_full(&mut file, &mut buf).await.map_err(local)?;
    h.update(&buf[..n]);
    if size > buf.len() as u64 {
        file.seek(std::io::SeekFrom::Start(size - buf.len() as u64))
            .await
            .map_err(local)?;
        let n = read_full(&mut file, &mut buf).await.map_err(local)?;
        h.update(&buf[..n]);
    }
    h.update(opts.segment_duration.as_nanos().to_le_bytes());
    h.update([u8::from(opts.transcode)]);
    if opts.format == SegmentFormat::Fmp4 {
        h.update(b"fmp4");
    }
    if let Some(s) = opts.start {
        h.update(s.as_nanos().to_le_bytes());
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

async fn read_full(file: &mut tokio::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let m = file.read(&mut buf[n..]).await?;
        if m == 0 {
            break;
        }
        n += m;
    }
    Ok(n)
}

fn derived(fp: &str, what: &str) -> Uuid {
    Uuid::new_v5(&ID_NAMESPACE, format!("{fp}/{what}").as_bytes())
}

fn flow_id(u: Uuid) -> Result<FlowId, RunError> {
    FlowId::from_uuid(u).map_err(|e| RunError::Local(e.to_string()))
}

fn source_id(u: Uuid) -> Result<SourceId, RunError> {
    SourceId::from_uuid(u).map_err(|e| RunError::Local(e.to_string()))
}

/// Probes `path` and decides the flows, without touching the store.
pub async fn plan_import(
    tools: &Tools,
    path: &Path,
    opts: &ImportOptions,
) -> Result<ImportPlan, RunError> {
    let info = tools.probe(path).await?;
    let fp = fingerprint(path, opts).await?;
    let label = opts.label.clone().unwrap_or_else(|| {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "import".into())
    });
    let mut tags = Map::new();
    tags.insert("rushes.import.file".into(), json!(label));
    tags.insert("rushes.import.fingerprint".into(), json!(fp));

    let mut picked = Vec::new();
    let mut left_out = Vec::new();
    for s in &info.streams {
        let codec = s.codec_name.as_deref().unwrap_or("unknown");
        match s.kind {
            StreamKind::Video | StreamKind::Audio => {
                // Cover art in MP4 and MP3 files is a one-frame "video" stream.
                if s.kind == StreamKind::Video && matches!(codec, "mjpeg" | "png") {
                    left_out.push(format!("{}: attached picture {codec}", s.index));
                    continue;
                }
                let carried = match opts.format {
                    SegmentFormat::Ts => flows::ts_can_carry(s),
                    SegmentFormat::Fmp4 => flows::fmp4_can_carry(s),
                };
                if !opts.transcode && !carried {
                    return Err(RunError::Refused(format!(
                        "stream {} ({codec}) cannot be carried in {} segments without \
                         re-encoding; import with --transcode to re-encode to H.264 and AAC",
                        s.index,
                        match opts.format {
                            SegmentFormat::Ts => "MPEG-TS",
                            SegmentFormat::Fmp4 => "fragmented MP4",
                        }
                    )));
                }
                picked.push(s.clone());
            }
            k => left_out.push(format!("{}: {k:?} {codec}", s.index)),
        }
    }
    if picked.is_empty() {
        return Err(RunError::Refused(format!(
            "{}: no video or audio stream to import",
            path.display()
        )));
    }
    let roles = flows::roles(&picked.iter().map(|s| s.kind).collect::<Vec<_>>());
    let mut planned = Vec::new();
    for (s, role) in picked.iter().zip(roles) {
        let f = flow_id(derived(&fp, &format!("flow/{}", s.index)))?;
        let src = source_id(derived(&fp, &format!("source/{}", s.index)))?;
        let mut body = flows::mono_flow_body(
            s,
            f,
            src,
            &format!("{label} ({role})"),
            opts.transcode,
            &tags,
        )?;
        if opts.format == SegmentFormat::Fmp4 {
            body["container"] = json!(flows::MP4);
            body["essence_parameters"]["init_segments"] = json!(true);
        }
        planned.push(PlannedFlow {
            stream_index: s.index,
            role,
            flow_id: f,
            source_id: src,
            body,
        });
    }
    let cf = flow_id(derived(&fp, "flow"))?;
    let cs = source_id(derived(&fp, "source"))?;
    let collection = PlannedCollection {
        flow_id: cf,
        source_id: cs,
        body: {
            let mut b = flows::collection_body(cf, cs, &label, &planned, &tags);
            if opts.format == SegmentFormat::Fmp4 {
                b["container"] = json!(flows::MP4);
            }
            b
        },
    };
    Ok(ImportPlan {
        info,
        collection,
        flows: planned,
        left_out,
        label,
    })
}

/// Maps the segmenter's object timeline (90 kHz ticks) onto the flow timeline.
#[derive(Debug, Clone, Copy)]
enum Base {
    /// Flow time = the object ticks plus this many ticks (the media's own timeline).
    Ticks(i64),
    /// Flow time = this plus the ticks since the object timeline's start.
    At(Timestamp),
}

impl Base {
    /// Flow time minus the segment file's own time, for a segment starting at `ticks`.
    /// The file holds its timestamps modulo 2^33, so the offset gains 2^33 ticks per turn
    /// of the wrap; otherwise it is one value for the whole import (computed in ticks,
    /// rounded once), so that players see one timeline, not 1 ns steps.
    fn ts_offset(self, ticks: i64) -> Result<Timestamp, RunError> {
        let turns = ticks - ticks.rem_euclid(TS_WRAP);
        let start = nanos_to_ticks(OBJECT_TIMELINE_START.as_nanos() as i64);
        match self {
            Base::Ticks(d) => Ok(ticks_to_nanos(d + turns)),
            Base::At(t) => t
                .checked_add(ticks_to_nanos(turns - start))
                .ok_or_else(|| RunError::Refused("a timestamp out of range".into())),
        }
    }

    fn flow_time(self, ticks: i64) -> Result<Timestamp, RunError> {
        let start = nanos_to_ticks(OBJECT_TIMELINE_START.as_nanos() as i64);
        match self {
            Base::Ticks(d) => Ok(ticks_to_nanos(ticks + d)),
            Base::At(t) => t
                .checked_add(ticks_to_nanos(ticks - start))
                .ok_or_else(|| RunError::Refused("a timestamp out of range".into())),
        }
    }
}

/// A completed segment as a write into its flow.
fn to_write(
    seg: &CompletedSegment,
    end_ticks: i64,
    base: Base,
    remove_after: bool,
) -> Result<SegmentToWrite, RunError> {
    let start = base.flow_time(seg.start)?;
    let end = base.flow_time(end_ticks)?;
    if end <= start {
        return Err(RunError::Refused(format!(
            "{}: timestamps do not increase ({} to {})",
            seg.path.display(),
            seg.start,
            end_ticks
        )));
    }
    let ts_offset = base.ts_offset(seg.start)?;
    Ok(SegmentToWrite {
        path: seg.path.clone(),
        timerange: TimeRange::half_open(start, end),
        ts_offset,
        remove_after,
        completed_at: Instant::now(),
        init: None,
    })
}

/// The canonical texts of the timeranges the flow already has, and their union.
async fn existing_segments(client: &Client, flow: FlowId) -> Result<Vec<TimeRange>, RunError> {
    let found: Vec<Value> = client
        .pages(&["flows", &flow.to_string(), "segments"], &Query::new())
        .all()
        .await?;
    let mut out = Vec::new();
    for s in found {
        if let Some(tr) = s.get("timerange").and_then(Value::as_str) {
            let tr: TimeRange = tr.parse().map_err(|e| {
                RunError::Refused(format!("flow {flow}: a segment timerange {tr:?}: {e}"))
            })?;
            out.push(tr);
        }
    }
    Ok(out)
}

/// Imports `path` into the store `client` talks to.
pub async fn import_file(
    client: &Client,
    tools: &Tools,
    path: &Path,
    opts: &ImportOptions,
    on_event: &(dyn Fn(ImportEvent) + Send + Sync),
) -> Result<ImportSummary, RunError> {
    let started = Instant::now();
    let plan = plan_import(tools, path, opts).await?;
    on_event(ImportEvent::Planned {
        duration: plan
            .info
            .duration
            .and_then(|d| u64::try_from(d.as_nanos()).ok())
            .map(Duration::from_nanos),
        flows: plan.flows.len(),
    });

    // Flows first (each creates its source), then the collection that names them.
    for f in &plan.flows {
        flows::put_flow(client, &f.body, Some("ingesting")).await?;
    }
    flows::put_flow(client, &plan.collection.body, Some("ingesting")).await?;
    flows::label_source(client, plan.collection.source_id, &plan.label).await?;

    let mut existing = Vec::new();
    for f in &plan.flows {
        existing.push(existing_segments(client, f.flow_id).await?);
    }

    let start_ticks = plan
        .info
        .start_time
        .map(|t| nanos_to_ticks(t.as_nanos()))
        .unwrap_or(0);
    let object_start = nanos_to_ticks(OBJECT_TIMELINE_START.as_nanos() as i64);
    let base = match opts.start {
        Some(t) => Base::At(t),
        None => Base::Ticks(start_ticks - object_start),
    };

    let work = opts
        .work_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("rushes-import-{}", plan.collection.flow_id));
    let outputs: Vec<SegmentOutput> = plan
        .flows
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let kind = plan
                .info
                .stream(f.stream_index)
                .map(|s| s.kind)
                .unwrap_or(StreamKind::Other);
            SegmentOutput {
                maps: vec![format!("0:{}", f.stream_index)],
                codec_args: codec_args(kind, opts),
                prefix: format!("s{i}-"),
            }
        })
        .collect();
    let spec = SegmenterSpec {
        input_args: Vec::new(),
        input: path.as_os_str().to_owned(),
        outputs,
        segment_time: opts.segment_duration,
        dir: work.clone(),
        stall_timeout: Some(Duration::from_secs(120)),
        timeout: Some(tools.ffmpeg_timeout),
        format: opts.format,
    };

    let (seg_tx, mut seg_rx) = mpsc::channel::<SegmenterEvent>(64);
    let mut write_txs = Vec::new();
    let mut writers = Vec::new();
    for f in &plan.flows {
        let (tx, rx) = mpsc::channel::<SegmentToWrite>(64);
        write_txs.push(tx);
        writers.push((
            FlowWriter {
                client: client.clone(),
                flow: f.flow_id,
                parallel: opts.parallel,
                retry_for: Some(opts.retry_for),
                batch: 32,
            },
            rx,
        ));
    }
    let mut registered = vec![0u64; plan.flows.len()];
    let mut bytes = vec![0u64; plan.flows.len()];
    let mut skipped = vec![0u64; plan.flows.len()];

    let segmenting = async {
        let r = tools.run_segmenter(&spec, seg_tx).await;
        r.map_err(RunError::from)
    };
    let dispatching = async {
        // A fragmented MP4 file restarts its own timeline: the first one's start on the
        // run's timeline is the stream's start relative to the input's.
        // (The first packet as ffmpeg demuxes it: audio priming comes before the stream's
        // stated start.)
        let mut first_start: Vec<i64> = Vec::new();
        for f in &plan.flows {
            let first = if opts.format == SegmentFormat::Fmp4 {
                tools
                    .first_pts_ticks(path, Some(8), Some(f.stream_index))
                    .await?
                    .unwrap_or(start_ticks)
            } else {
                start_ticks
            };
            first_start.push(object_start + first - start_ticks);
        }
        let mut last_init: Vec<Option<Arc<Vec<u8>>>> = vec![None; plan.flows.len()];
        // One segment per output is held until the next one gives its end.
        let mut held: Vec<Option<CompletedSegment>> = vec![None; plan.flows.len()];
        let mut seen: Vec<HashSet<TimeRange>> = existing
            .iter()
            .map(|e| e.iter().copied().collect())
            .collect();
        let mut forward = |seg: CompletedSegment, end: i64, skipped: &mut Vec<u64>| {
            let w = to_write(&seg, end, base, true)?;
            let i = seg.output;
            if seen[i].contains(&w.timerange) {
                skipped[i] += 1;
                on_event(ImportEvent::Skipped { flow: i });
                let _ = std::fs::remove_file(&seg.path);
                return Ok(None);
            }
            if let Some(other) = existing[i].iter().find(|e| e.overlaps(w.timerange)) {
                return Err(RunError::Refused(format!(
                    "flow {} already has a segment at {other} that differs from this import's \
                     {}; it was written by something else",
                    plan.flows[i].flow_id, w.timerange
                )));
            }
            seen[i].insert(w.timerange);
            Ok::<_, RunError>(Some((i, w)))
        };
        while let Some(ev) = seg_rx.recv().await {
            match ev {
                SegmenterEvent::Progress(d) => on_event(ImportEvent::Segmented(d)),
                SegmenterEvent::Segment(mut seg) => {
                    let i = seg.output;
                    if seg.sequence == 0 && opts.format == SegmentFormat::Fmp4 {
                        seg.start = first_start[i];
                    }
                    let next_start = seg.start;
                    if let Some(prev) = held[i].replace(seg) {
                        let end = segment_end(&prev, next_start);
                        if let Some((i, w)) = forward(prev, end, &mut skipped)? {
                            let next = held[i].as_ref().map(|s| s.path.as_path());
                            let w =
                                fmp4_parts(tools, w, next, opts.format, &mut last_init[i]).await?;
                            write_txs[i].send(w).await.map_err(|_| RunError::Stopped)?;
                        }
                    }
                }
            }
        }
        for seg in held.into_iter().flatten() {
            let end = seg.end;
            if let Some((i, w)) = forward(seg, end, &mut skipped)? {
                let w = fmp4_parts(tools, w, None, opts.format, &mut last_init[i]).await?;
                write_txs[i].send(w).await.map_err(|_| RunError::Stopped)?;
            }
        }
        drop(write_txs);
        Ok::<_, RunError>(skipped)
    };
    let (registered_tx, mut registered_rx) = mpsc::unbounded_channel::<(usize, u64, Option<u64>)>();
    let writing =
        futures::future::try_join_all(writers.into_iter().enumerate().map(|(i, (w, rx))| {
            let registered_tx = registered_tx.clone();
            async move {
                w.run(rx, |done| {
                    let _ = registered_tx.send((i, done.bytes, segment_kbps(&done)));
                    on_event(ImportEvent::Registered {
                        flow: i,
                        bytes: done.bytes,
                    });
                })
                .await
            }
        }));
    drop(registered_tx);
    let outcome = tokio::try_join!(segmenting, dispatching, writing);
    let _ = tokio::fs::remove_dir_all(&work).await;
    let (_, skipped_counts, _) = outcome?;
    skipped = skipped_counts;
    let mut peak = vec![0u64; plan.flows.len()];
    while let Ok((i, b, kbps)) = registered_rx.try_recv() {
        registered[i] += 1;
        bytes[i] += b;
        peak[i] = peak[i].max(kbps.unwrap_or(0));
    }

    // Close: bit rates from what was written, status complete.
    let mut flows_out = Vec::new();
    for (i, f) in plan.flows.iter().enumerate() {
        let mut body = f.body.clone();
        let flow: Value = client
            .get_json(
                &["flows", &f.flow_id.to_string()],
                &Query::new().param("include_timerange", "true"),
            )
            .await?;
        let timerange = flow
            .get("timerange")
            .and_then(Value::as_str)
            .map(str::to_owned);
        // Bit rates (application note 0013) from the segments this run wrote, when it
        // wrote them all: the average over the flow, the peak of any one segment.
        if registered[i] > 0 && skipped[i] == 0 {
            if let Some(avg) = average_kbps(bytes[i], timerange.as_deref()) {
                body["avg_bit_rate"] = json!(avg);
            }
            if peak[i] > 0 {
                body["max_bit_rate"] = json!(peak[i]);
            }
        } else {
            // A resumed import keeps what the run that wrote the rest measured.
            for key in ["avg_bit_rate", "max_bit_rate"] {
                if let Some(v) = flow.get(key) {
                    body[key] = v.clone();
                }
            }
        }
        flows::put_flow(client, &body, Some("closed_complete")).await?;
        flows_out.push(ImportedFlow {
            plan: f.clone(),
            segments_registered: registered[i],
            segments_already_there: skipped[i],
            bytes: bytes[i],
            timerange,
        });
    }
    flows::put_flow(client, &plan.collection.body, Some("closed_complete")).await?;

    Ok(ImportSummary {
        file: path.display().to_string(),
        source_id: plan.collection.source_id,
        flow_id: plan.collection.flow_id,
        flows: flows_out,
        streams_left_out: plan.left_out,
        media_duration_seconds: plan.info.duration.map(|d| d.as_nanos() as f64 / 1e9),
        elapsed_seconds: started.elapsed().as_secs_f64(),
    })
}

/// For fragmented MP4: the file's init part (shared with the previous segment when the
/// bytes are the same), its media part written beside it, and `ts_offset` from the
/// file's own first presentation time.
///
/// Every file's init part is taken from the file after it when there is one: ffmpeg
/// writes a file's `moov` before its first packet, so the first file of an input whose
/// codec configuration is only known from the packets (AAC in MPEG-TS) lacks it; from the
/// second file on, the init parts are the same.
async fn fmp4_parts(
    tools: &Tools,
    mut w: SegmentToWrite,
    next: Option<&Path>,
    format: SegmentFormat,
    last_init: &mut Option<Arc<Vec<u8>>>,
) -> Result<SegmentToWrite, RunError> {
    if format != SegmentFormat::Fmp4 {
        return Ok(w);
    }
    let local = |e: std::io::Error| RunError::Local(format!("{}: {e}", w.path.display()));
    let own_start = tools
        .first_pts_ticks(&w.path, Some(8), None)
        .await?
        .unwrap_or(0);
    let bytes = tokio::fs::read(&w.path).await.map_err(local)?;
    let not_fmp4 = |p: &Path| {
        RunError::Local(format!(
            "{}: not a fragmented MP4 file with a moov box",
            p.display()
        ))
    };
    let (init, media) = split_fmp4(&bytes).ok_or_else(|| not_fmp4(&w.path))?;
    let init = match next {
        Some(next) => {
            let bytes = tokio::fs::read(next)
                .await
                .map_err(|e| RunError::Local(format!("{}: {e}", next.display())))?;
            split_fmp4(&bytes).ok_or_else(|| not_fmp4(next))?.0
        }
        None => init,
    };
    // Each file's decode times restart at 0: move its fragments onto the run's timeline
    // (where the segment starts), so the media parts play in sequence after one init and
    // the object's own timeline is the one `ts_offset` was computed for.
    let run_start = w
        .timerange
        .start()
        .and_then(|b| b.timestamp())
        .and_then(|s| s.checked_sub(w.ts_offset))
        .ok_or_else(|| RunError::Refused("a timestamp out of range".into()))?;
    let timescale = mp4_timescale(&init).ok_or_else(|| {
        RunError::Local(format!(
            "{}: no track timescale in the init part",
            w.path.display()
        ))
    })?;
    let delta_ticks = nanos_to_ticks(run_start.as_nanos()) - own_start;
    let delta =
        i64::try_from(i128::from(delta_ticks) * i128::from(timescale) / i128::from(crate::TS_HZ))
            .map_err(|_| RunError::Refused("a timestamp out of range".into()))?;
    let mut media = media;
    shift_tfdt(&mut media, delta).ok_or_else(|| {
        RunError::Local(format!(
            "{}: a fragment without a decode time",
            w.path.display()
        ))
    })?;
    let media_path = w.path.with_extension("m4s");
    tokio::fs::write(&media_path, media).await.map_err(local)?;
    let _ = tokio::fs::remove_file(&w.path).await;
    let init = match last_init {
        Some(prev) if prev.as_slice() == init.as_slice() => prev.clone(),
        _ => Arc::new(init),
    };
    *last_init = Some(init.clone());
    w.path = media_path;
    w.init = Some(init);
    Ok(w)
}

/// Where a segment ends on the timeline: at the next segment's first sample, so that the
/// flow has no holes from rounding or sample spacing; but where the media itself has a
/// gap (the next segment starts more than [`GAP`] after this one's last sample ends),
/// at the end of its last sample, so the gap stays a gap.
fn segment_end(seg: &CompletedSegment, next_start: i64) -> i64 {
    if next_start - seg.end > GAP {
        seg.end
    } else {
        next_start
    }
}

/// The most space between one segment's last sample and the next segment's first that is
/// taken as contiguous: 100 ms, above any frame or audio packet duration.
const GAP: i64 = crate::TS_HZ / 10;

/// A segment's bit rate in kbit/s, rounded up.
fn segment_kbps(done: &crate::Written) -> Option<u64> {
    let (Some(s), Some(e)) = done.timerange.nanos_half_open()? else {
        return None;
    };
    let nanos = e - s;
    if nanos <= 0 {
        return None;
    }
    let bits = i128::from(done.bytes) * 8 * 1_000_000;
    u64::try_from((bits + nanos - 1) / nanos).ok()
}

/// kbit/s over a flow's whole timerange.
fn average_kbps(bytes: u64, timerange: Option<&str>) -> Option<u64> {
    let tr: TimeRange = timerange?.parse().ok()?;
    let (Some(s), Some(e)) = tr.nanos_half_open()? else {
        return None;
    };
    let nanos = e - s;
    if nanos <= 0 {
        return None;
    }
    let kbps = i128::from(bytes) * 8 * 1_000_000 / nanos;
    u64::try_from(kbps).ok()
}

/// ffmpeg's codec arguments for one output.
fn codec_args(kind: StreamKind, opts: &ImportOptions) -> Vec<String> {
    if !opts.transcode {
        return vec!["-c".into(), "copy".into()];
    }
    let secs = opts.segment_duration.as_secs_f64();
    match kind {
        StreamKind::Video => vec![
            "-c:v".into(),
            "libx264".into(),
            "-preset".into(),
            "veryfast".into(),
            "-pix_fmt".into(),
            "yuv420p".into(),
            "-force_key_frames".into(),
            format!("expr:gte(t,n_forced*{secs})"),
        ],
        _ => vec!["-c:a".into(), "aac".into(), "-b:a".into(), "192k".into()],
    }
}
