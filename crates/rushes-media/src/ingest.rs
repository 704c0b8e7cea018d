//! `rushes ingest LIVE-INPUT`: a live input into a store, each segment registered as soon
//! as ffmpeg completes it, so the flows grow while they record.
//!
//! - **Input.** Anything ffmpeg reads live: an HLS playlist URL (followed as it grows),
//!   `srt://`, `udp://`, `rtmp://`, or a local device with input options (`-f v4l2`).
//!   It is probed once to plan the flows (one per video and audio stream, under a
//!   multi-essence flow, as `rushes import` does).
//! - **Timeline.** TAI wall-clock time (application note 0008). Each ffmpeg run is anchored
//!   when its first segment completes: that segment ends "now". Within a run the media's
//!   own timestamps place every segment, so flows recorded together line up and the gaps
//!   in the input's timestamps stay gaps. When the media's clock and the wall clock part
//!   by more than [`IngestOptions::drift_limit`] (a long gap that ffmpeg closed, or clock
//!   drift), the run is anchored again. An anchor only ever moves forward, so a flow never
//!   gets overlapping segments; at worst a few milliseconds of timeline are left empty.
//! - **Failures.** A stalled or dropped input stops ffmpeg; ingest sets the flows'
//!   `status` to `awaiting_content` and starts ffmpeg again after a pause, for ever
//!   (until stopped). A store that does not answer is retried for ever; completed
//!   segments wait on local disk meanwhile, so nothing is lost or registered twice.
//! - **Status.** `ingesting` while segments arrive, `closed_complete` when the ingest
//!   stops (asked to, or the input ended and reconnecting is off).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rushes_client::model::{FlowId, SourceId};
use rushes_client::{Client, Query};
use rushes_time::{TimeRange, Timestamp};
use serde::Serialize;
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::flows::{self, PlannedCollection, PlannedFlow};
use crate::segmenter::{ticks_to_nanos, TS_WRAP};
use crate::{
    tai_now, CompletedSegment, FlowWriter, MediaInfo, RunError, SegmentOutput, SegmentToWrite,
    SegmenterEvent, SegmenterSpec, StreamKind, Tools,
};

/// How to ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// What ffmpeg reads: a URL, a path or a device.
    pub input: String,
    /// ffmpeg options before `-i` (e.g. `-f v4l2`).
    pub input_args: Vec<String>,
    /// Cut at the first key frame after each multiple of this.
    pub segment_duration: Duration,
    /// Label of the source and flows [default: the input].
    pub label: Option<String>,
    /// Re-encode to H.264 + AAC with a key frame every segment.
    pub transcode: bool,
    /// Uploads in flight per flow.
    pub parallel: usize,
    /// Stop ffmpeg when the input delivers nothing for this long.
    pub stall_timeout: Duration,
    /// Start ffmpeg again when the input ends or fails; `false` ends the ingest instead.
    pub reconnect: bool,
    /// Pause before starting ffmpeg again.
    pub reconnect_delay: Duration,
    /// Anchor again when the media's clock and the wall clock part by more than this.
    pub drift_limit: Duration,
    /// Where segment files wait for upload [default: the system's temporary directory].
    pub work_dir: Option<PathBuf>,
}

impl IngestOptions {
    pub fn new(input: impl Into<String>) -> IngestOptions {
        IngestOptions {
            input: input.into(),
            input_args: Vec::new(),
            segment_duration: Duration::from_secs(1),
            label: None,
            transcode: false,
            parallel: 2,
            stall_timeout: Duration::from_secs(10),
            reconnect: true,
            reconnect_delay: Duration::from_secs(1),
            drift_limit: Duration::from_secs(2),
            work_dir: None,
        }
    }
}

/// Where an ingest is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IngestState {
    /// Probing the input and creating the flows.
    Starting,
    /// Segments are arriving.
    Ingesting,
    /// The input ended or stalled; waiting to start ffmpeg again.
    Reconnecting,
    /// Stopped as asked, or the input ended.
    Stopped,
    /// Stopped by an error (see `error`).
    Failed,
}

/// An ingest's state and counts, for status displays and the jobs API.
#[derive(Debug, Clone, Serialize)]
pub struct IngestStatus {
    pub state: IngestState,
    pub input: String,
    /// The multi-essence source and flow (once created).
    pub source_id: Option<SourceId>,
    pub flow_id: Option<FlowId>,
    pub flows: Vec<FlowStatus>,
    /// ffmpeg runs so far (1 + reconnections).
    pub runs: u32,
    pub error: Option<String>,
}

/// One flow's progress.
#[derive(Debug, Clone, Serialize)]
pub struct FlowStatus {
    pub flow_id: FlowId,
    pub role: String,
    pub segments: u64,
    pub bytes: u64,
    /// The end of the last registered segment.
    pub until: Option<String>,
    /// From the segment file being complete to its registration being answered, for the
    /// last segment.
    pub last_latency_ms: Option<u64>,
}

impl IngestStatus {
    pub fn new(input: &str) -> IngestStatus {
        IngestStatus {
            state: IngestState::Starting,
            input: input.to_owned(),
            source_id: None,
            flow_id: None,
            flows: Vec::new(),
            runs: 0,
            error: None,
        }
    }
}

const ID_NAMESPACE: Uuid = Uuid::from_u128(0x0b7c_7a51_58e4_4d8c_b0a6_3f5d_9e21_44a7);

fn derived(key: &str, what: &str) -> Uuid {
    Uuid::new_v5(&ID_NAMESPACE, format!("{key}/{what}").as_bytes())
}

/// The flows an ingest of `info` writes. Ids derive from the input and the label, so the
/// same ingest started again continues the same flows.
pub fn plan_ingest(
    info: &MediaInfo,
    opts: &IngestOptions,
) -> Result<(PlannedCollection, Vec<PlannedFlow>, String), RunError> {
    let label = opts.label.clone().unwrap_or_else(|| opts.input.clone());
    let key = format!("{}\u{0}{label}", opts.input);
    let mut tags = Map::new();
    tags.insert("rushes.ingest.input".into(), json!(opts.input));
    let picked: Vec<_> = info
        .streams
        .iter()
        .filter(|s| matches!(s.kind, StreamKind::Video | StreamKind::Audio))
        .cloned()
        .collect();
    if picked.is_empty() {
        return Err(RunError::Refused(format!(
            "{}: no video or audio stream to ingest",
            opts.input
        )));
    }
    for s in &picked {
        if !opts.transcode && !flows::ts_can_carry(s) {
            return Err(RunError::Refused(format!(
                "stream {} ({}) cannot be carried in MPEG-TS segments without re-encoding; \
                 ingest with --transcode",
                s.index,
                s.codec_name.as_deref().unwrap_or("unknown")
            )));
        }
    }
    let roles = flows::roles(&picked.iter().map(|s| s.kind).collect::<Vec<_>>());
    let mut planned = Vec::new();
    for (s, role) in picked.iter().zip(roles) {
        let f = FlowId::from_uuid(derived(&key, &format!("flow/{}", s.index)))
            .map_err(|e| RunError::Local(e.to_string()))?;
        let src = SourceId::from_uuid(derived(&key, &format!("source/{}", s.index)))
            .map_err(|e| RunError::Local(e.to_string()))?;
        let body = flows::mono_flow_body(
            s,
            f,
            src,
            &format!("{label} ({role})"),
            opts.transcode,
            &tags,
        )?;
        planned.push(PlannedFlow {
            stream_index: s.index,
            role,
            flow_id: f,
            source_id: src,
            body,
        });
    }
    let cf =
        FlowId::from_uuid(derived(&key, "flow")).map_err(|e| RunError::Local(e.to_string()))?;
    let cs =
        SourceId::from_uuid(derived(&key, "source")).map_err(|e| RunError::Local(e.to_string()))?;
    let collection = PlannedCollection {
        flow_id: cf,
        source_id: cs,
        body: flows::collection_body(cf, cs, &label, &planned, &tags),
    };
    Ok((collection, planned, label))
}

/// The run's mapping from object ticks to TAI: `anchor + ticks`. It only moves forward.
#[derive(Debug)]
struct Clock {
    anchor: Option<Timestamp>,
    drift_limit: Duration,
}

impl Clock {
    /// Places a segment that has just completed, given the end of the flow's previous
    /// segment: anchors the run on its first segment, anchors again on drift, and never
    /// lets the segment start before `prev_end`.
    fn place(
        &mut self,
        seg: &CompletedSegment,
        prev_end: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<TimeRange, RunError> {
        let overflow = || RunError::Refused("a timestamp out of range".into());
        let end_obj = ticks_to_nanos(seg.end);
        let now_anchor = now.checked_sub(end_obj).ok_or_else(overflow)?;
        let mut anchor = match self.anchor {
            None => now_anchor,
            Some(a) => {
                let drift = now_anchor.checked_sub(a).ok_or_else(overflow)?;
                let limit = i64::try_from(self.drift_limit.as_nanos()).unwrap_or(i64::MAX);
                if drift.as_nanos() > limit {
                    tracing::warn!(
                        drift_ms = drift.as_nanos() / 1_000_000,
                        "media and wall clock parted: anchoring again"
                    );
                    now_anchor
                } else {
                    a
                }
            }
        };
        let start_obj = ticks_to_nanos(seg.start);
        if let Some(prev) = prev_end {
            let start = anchor.checked_add(start_obj).ok_or_else(overflow)?;
            if start < prev {
                anchor = anchor
                    .checked_add(prev.checked_sub(start).ok_or_else(overflow)?)
                    .ok_or_else(overflow)?;
            }
        }
        if self.anchor.is_none_or(|a| anchor > a) {
            self.anchor = Some(anchor);
        }
        let a = self.anchor.unwrap_or(anchor);
        let start = a.checked_add(start_obj).ok_or_else(overflow)?;
        let end = a.checked_add(end_obj).ok_or_else(overflow)?;
        Ok(TimeRange::half_open(start, end))
    }
}

/// The end of a flow's timerange, if it has segments.
async fn flow_end(client: &Client, flow: FlowId) -> Result<Option<Timestamp>, RunError> {
    let v: Value = client
        .get_json(
            &["flows", &flow.to_string()],
            &Query::new().param("include_timerange", "true"),
        )
        .await?;
    let Some(tr) = v.get("timerange").and_then(Value::as_str) else {
        return Ok(None);
    };
    let tr: TimeRange = tr
        .parse()
        .map_err(|e| RunError::Refused(format!("flow {flow}: timerange {tr:?}: {e}")))?;
    Ok(tr
        .nanos_half_open()
        .and_then(|(_, e)| e)
        .and_then(|e| i64::try_from(e).ok())
        .map(Timestamp::from_nanos))
}

/// Ingests `opts.input` until `stop` is cancelled (or the input ends with reconnecting
/// off), reporting through `status`.
pub async fn ingest(
    client: &Client,
    tools: &Tools,
    opts: &IngestOptions,
    stop: CancellationToken,
    status: watch::Sender<IngestStatus>,
) -> Result<IngestStatus, RunError> {
    ingest_observed(client, tools, opts, stop, status, None).await
}

/// [`ingest`], also sending every registered segment (with the index of its flow in
/// `status.flows`) to `observer`: for benchmarks and tools that need each one, which the
/// status (a watch channel, read at its own pace) does not promise.
pub async fn ingest_observed(
    client: &Client,
    tools: &Tools,
    opts: &IngestOptions,
    stop: CancellationToken,
    status: watch::Sender<IngestStatus>,
    observer: Option<mpsc::UnboundedSender<(usize, crate::Written)>>,
) -> Result<IngestStatus, RunError> {
    status.send_replace(IngestStatus::new(&opts.input));
    let outcome = run(client, tools, opts, &stop, &status, observer).await;
    let mut last = status.borrow().clone();
    match &outcome {
        Ok(()) => last.state = IngestState::Stopped,
        Err(e) => {
            last.state = IngestState::Failed;
            last.error = Some(e.to_string());
        }
    }
    status.send_replace(last.clone());
    outcome.map(|()| last)
}

async fn run(
    client: &Client,
    tools: &Tools,
    opts: &IngestOptions,
    stop: &CancellationToken,
    status: &watch::Sender<IngestStatus>,
    observer: Option<mpsc::UnboundedSender<(usize, crate::Written)>>,
) -> Result<(), RunError> {
    let probe_tools = Tools {
        probe_timeout: Duration::from_secs(30).max(opts.stall_timeout),
        ..tools.clone()
    };
    let info = tokio::select! {
        info = probe_tools.probe_input(&opts.input, &opts.input_args) => info?,
        () = stop.cancelled() => return Ok(()),
    };
    let (collection, planned, _label) = plan_ingest(&info, opts)?;
    for f in &planned {
        flows::put_flow(client, &f.body, Some("ingesting")).await?;
    }
    flows::put_flow(client, &collection.body, Some("ingesting")).await?;
    let mut prev_end = Vec::new();
    for f in &planned {
        prev_end.push(flow_end(client, f.flow_id).await?);
    }
    status.send_modify(|s| {
        s.source_id = Some(collection.source_id);
        s.flow_id = Some(collection.flow_id);
        s.flows = planned
            .iter()
            .zip(&prev_end)
            .map(|(f, end)| FlowStatus {
                flow_id: f.flow_id,
                role: f.role.clone(),
                segments: 0,
                bytes: 0,
                until: end.map(|t| t.to_string()),
                last_latency_ms: None,
            })
            .collect();
    });

    // One writer per flow for the whole ingest: they outlive ffmpeg restarts.
    let mut write_txs = Vec::new();
    let mut writer_tasks = Vec::new();
    // A writer that fails (the store refused a segment, or credentials expired) stops the
    // ingest at once, with the writer's error.
    let writers_failed = CancellationToken::new();
    for (i, f) in planned.iter().enumerate() {
        let (tx, rx) = mpsc::channel::<SegmentToWrite>(1024);
        write_txs.push(tx);
        let w = FlowWriter {
            client: client.clone(),
            flow: f.flow_id,
            parallel: opts.parallel,
            retry_for: None,
            batch: 16,
        };
        let status = status.clone();
        let failed = writers_failed.clone();
        let observer = observer.clone();
        writer_tasks.push(tokio::spawn(async move {
            let r = w
                .run(rx, |done| {
                    if let Some(o) = &observer {
                        let _ = o.send((i, done.clone()));
                    }
                    status.send_modify(|s| {
                        if let Some(f) = s.flows.get_mut(i) {
                            f.segments += 1;
                            f.bytes += done.bytes;
                            f.until = done
                                .timerange
                                .end()
                                .and_then(|b| b.timestamp())
                                .map(|t| t.to_string());
                            f.last_latency_ms =
                                Some(u64::try_from(done.latency.as_millis()).unwrap_or(u64::MAX));
                        }
                        s.state = IngestState::Ingesting;
                    });
                })
                .await;
            if r.is_err() {
                failed.cancel();
            }
            r
        }));
    }
    let prev_end = Arc::new(Mutex::new(prev_end));

    let work = opts
        .work_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir)
        .join(format!(
            "rushes-ingest-{}-{}",
            collection.flow_id,
            std::process::id()
        ));
    let outcome = async {
        loop {
            status.send_modify(|s| s.runs += 1);
            let run_no = status.borrow().runs;
            let spec = SegmenterSpec {
                input_args: opts.input_args.clone(),
                input: opts.input.clone().into(),
                outputs: planned
                    .iter()
                    .enumerate()
                    .map(|(i, f)| SegmentOutput {
                        maps: vec![format!("0:{}", f.stream_index)],
                        codec_args: codec_args(&info, f.stream_index, opts),
                        prefix: format!("r{run_no}-s{i}-"),
                    })
                    .collect(),
                segment_time: opts.segment_duration,
                dir: work.clone(),
                stall_timeout: Some(opts.stall_timeout),
                timeout: None,
                format: crate::SegmentFormat::Ts,
            };
            let (seg_tx, mut seg_rx) = mpsc::channel::<SegmenterEvent>(256);
            let mut clock = Clock {
                anchor: None,
                drift_limit: opts.drift_limit,
            };
            let segmenting = tools.run_segmenter(&spec, seg_tx);
            let dispatching = async {
                while let Some(ev) = seg_rx.recv().await {
                    let SegmenterEvent::Segment(seg) = ev else {
                        continue;
                    };
                    let i = seg.output;
                    let prev = prev_end.lock().map(|p| p[i]).unwrap_or(None);
                    let timerange = clock.place(&seg, prev, tai_now())?;
                    let (Some(start), Some(end)) = (
                        timerange.start().and_then(|b| b.timestamp()),
                        timerange.end().and_then(|b| b.timestamp()),
                    ) else {
                        continue;
                    };
                    if let Ok(mut p) = prev_end.lock() {
                        p[i] = Some(end);
                    }
                    // The run's anchor (start minus the segment's own time, exactly), plus
                    // 2^33 ticks per turn of the MPEG-TS wrap the file's timestamps took:
                    // one value per anchor, so players see one timeline.
                    let turns = seg.start - seg.start.rem_euclid(TS_WRAP);
                    let ts_offset = start
                        .checked_sub(ticks_to_nanos(seg.start))
                        .and_then(|a| a.checked_add(ticks_to_nanos(turns)))
                        .ok_or_else(|| RunError::Refused("a timestamp out of range".into()))?;
                    let w = SegmentToWrite {
                        path: seg.path.clone(),
                        timerange,
                        ts_offset,
                        remove_after: true,
                        completed_at: Instant::now(),
                        init: None,
                    };
                    if write_txs[i].send(w).await.is_err() {
                        return Err(RunError::Stopped);
                    }
                }
                Ok::<(), RunError>(())
            };
            let ran = tokio::select! {
                (seg, disp) = async { tokio::join!(segmenting, dispatching) } => {
                    disp?;
                    seg.map_err(RunError::from)
                }
                () = stop.cancelled() => return Ok(()),
                () = writers_failed.cancelled() => return Err(RunError::Stopped),
            };
            match ran {
                Ok(()) if !opts.reconnect => return Ok(()),
                Ok(()) => tracing::warn!(input = %opts.input, "the input ended; starting again"),
                Err(RunError::Media(e)) => {
                    if !opts.reconnect {
                        return Err(RunError::Media(e));
                    }
                    tracing::warn!(input = %opts.input, error = %e, "the input failed; starting again");
                }
                Err(e) => return Err(e),
            }
            status.send_modify(|s| s.state = IngestState::Reconnecting);
            for f in &planned {
                let _ = flows::put_flow(client, &f.body, Some("awaiting_content")).await;
            }
            tokio::select! {
                () = tokio::time::sleep(opts.reconnect_delay) => {}
                () = stop.cancelled() => return Ok(()),
            }
            for f in &planned {
                let _ = flows::put_flow(client, &f.body, Some("ingesting")).await;
            }
        }
    }
    .await;

    // Let the writers register what is already complete, then close the flows.
    drop(write_txs);
    let mut write_error = None;
    for t in writer_tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => write_error = Some(e),
            Err(e) => write_error = Some(RunError::Local(format!("writer task: {e}"))),
        }
    }
    let _ = tokio::fs::remove_dir_all(&work).await;
    // The writer's error says more than the `Stopped` it caused.
    if let Some(e) = write_error {
        return Err(e);
    }
    outcome?;
    for f in &planned {
        flows::put_flow(client, &f.body, Some("closed_complete")).await?;
    }
    flows::put_flow(client, &collection.body, Some("closed_complete")).await?;
    Ok(())
}

fn codec_args(info: &MediaInfo, index: u32, opts: &IngestOptions) -> Vec<String> {
    if !opts.transcode {
        return vec!["-c".into(), "copy".into()];
    }
    let secs = opts.segment_duration.as_secs_f64();
    match info.stream(index).map(|s| s.kind) {
        Some(StreamKind::Video) => vec![
            "-c:v".into(),
            "libx264".into(),
            "-preset".into(),
            "veryfast".into(),
            "-tune".into(),
            "zerolatency".into(),
            "-pix_fmt".into(),
            "yuv420p".into(),
            "-force_key_frames".into(),
            format!("expr:gte(t,n_forced*{secs})"),
        ],
        _ => vec!["-c:a".into(), "aac".into(), "-b:a".into(), "192k".into()],
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn seg(output: usize, start_s: i64, end_s: i64) -> CompletedSegment {
        CompletedSegment {
            output,
            sequence: 0,
            path: PathBuf::new(),
            start: start_s * 90_000,
            end: end_s * 90_000,
            size: 0,
        }
    }

    fn t(s: i64) -> Timestamp {
        Timestamp::from_nanos(s * 1_000_000_000)
    }

    #[test]
    fn the_first_segment_ends_now_and_the_media_clock_places_the_rest() {
        let mut c = Clock {
            anchor: None,
            drift_limit: Duration::from_secs(2),
        };
        let a = c.place(&seg(0, 1, 2), None, t(1000)).unwrap();
        assert_eq!(a, TimeRange::half_open(t(999), t(1000)));
        // Arriving 300 ms late changes nothing: the media's timestamps place it.
        let b = c
            .place(
                &seg(0, 2, 3),
                Some(t(1000)),
                t(1001)
                    .checked_add(Timestamp::from_nanos(300_000_000))
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(b, TimeRange::half_open(t(1000), t(1001)));
        // A 5 s gap in the media's timestamps stays a gap.
        let g = c.place(&seg(0, 8, 9), Some(t(1001)), t(1007)).unwrap();
        assert_eq!(g, TimeRange::half_open(t(1006), t(1007)));
    }

    #[test]
    fn a_closed_gap_anchors_again_and_an_anchor_never_goes_back() {
        let mut c = Clock {
            anchor: None,
            drift_limit: Duration::from_secs(2),
        };
        c.place(&seg(0, 1, 2), None, t(1000)).unwrap();
        // The media continues at 3 s but 60 s passed on the wall clock: anchored again.
        let r = c.place(&seg(0, 2, 3), Some(t(1000)), t(1060)).unwrap();
        assert_eq!(r, TimeRange::half_open(t(1059), t(1060)));
        // A wall clock behind the media never moves a segment before the previous end.
        let mut c = Clock {
            anchor: None,
            drift_limit: Duration::from_secs(2),
        };
        let r = c.place(&seg(1, 1, 2), Some(t(1005)), t(1000)).unwrap();
        assert_eq!(r, TimeRange::half_open(t(1005), t(1006)));
    }
}
