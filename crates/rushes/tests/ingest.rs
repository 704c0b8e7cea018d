//! The integration-test binary `ingest`: `rushes ingest LIVE-INPUT` run as the CLI binary
//! against the real `rushes serve` on loopback. The live input is an HLS stream that ffmpeg
//! makes in real time (testsrc2 + sine, H.264 with a key frame every second, AAC) and
//! `python3 -m http.server` serves on 127.0.0.1; the same packets also go to a reference
//! MPEG-TS file. The store is killed (SIGKILL) mid-run and started again on the same address
//! and data; the flows must keep growing, end up holding every frame the ingest registered
//! exactly once, in order, on a gapless timeline near the TAI wall clock, and be
//! `closed_complete` after SIGINT. A live input that never delivers anything must fail
//! clearly and leave no flows behind. Every JSON body read back is validated against the
//! spec's schemas.
#![allow(clippy::unwrap_used)]

#[path = "media/mod.rs"]
mod media;
#[path = "api/schema.rs"]
mod schema;

use std::path::Path;
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use media::{bounds, flow_of, frame_md5s, free_port, without_rushes_env, LiveSource, Log};
use rushes_time::TimeRange;
use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// TAI - UTC since 2017 (application note 0008): the store's timeline is TAI.
const TAI_MINUS_UTC_NS: i128 = 37_000_000_000;
/// One frame at 25 fps.
const FRAME_NS: i128 = 40_000_000;
/// How long the live source runs.
const SOURCE_SECONDS: u32 = 30;
/// How far (either way) the flows' times may be from the TAI wall clock at the moment they
/// are compared with. The ingest anchors each run when its first segment completes, so
/// the flow's time is the wall clock when a segment reaches the ingest: behind the capture
/// by the HLS latency (a 1 s HLS segment, then up to a 1 s ingest segment) and, at the
/// start, shifted by the burst of the three segments ffmpeg's HLS reader fetches behind
/// the live edge (`live_start_index` -3). 5 s covers these with room for a loaded machine.
const WALL_CLOCK_TOLERANCE_NS: i128 = 5_000_000_000;

fn utc_now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i128
}

fn tai_now_ns() -> i128 {
    utc_now_ns() + TAI_MINUS_UTC_NS
}

fn secs(ns: i128) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

// ---------------------------------------------------------------------------------------
// The store

/// `rushes serve` on SQLite and local disk in a temporary data dir, started again on the
/// same address and data after a crash.
struct Store {
    data_dir: TempDir,
    /// `127.0.0.1:PORT`, fixed by the first start.
    addr: Option<String>,
    child: Option<Child>,
    log: Log,
    http: reqwest::Client,
}

impl Store {
    async fn start() -> Store {
        let mut store = Store {
            data_dir: tempfile::Builder::new()
                .prefix("rushes-ingest-test-")
                .tempdir()
                .unwrap(),
            addr: None,
            child: None,
            log: Log::default(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        };
        store.spawn().await;
        store
    }

    fn base_url(&self) -> String {
        format!("http://{}", self.addr.as_ref().unwrap())
    }

    async fn spawn(&mut self) {
        assert!(self.child.is_none());
        let listen = self.addr.clone().unwrap_or_else(|| "127.0.0.1:0".into());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rushes"));
        cmd.args(["serve", "--listen", &listen, "--data-dir"])
            .arg(self.data_dir.path())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        without_rushes_env(&mut cmd);
        let mut child = cmd.spawn().unwrap();
        self.log.push("--- server started ---");
        self.log.drain(child.stderr.take().unwrap());
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.trim().strip_prefix("rushes listening on ") {
                    return Some(url.trim_end_matches('/').to_owned());
                }
                self.log.push(&line);
            }
            None
        })
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("rushes serve did not start:\n{}", self.log.text()));
        let addr = url.strip_prefix("http://").unwrap().to_owned();
        if let Some(fixed) = &self.addr {
            assert_eq!(&addr, fixed, "the server came back on another address");
        }
        self.addr = Some(addr);
        self.log.drain(lines.into_inner());
        self.child = Some(child);
    }

    /// SIGKILL: no clean shutdown.
    async fn kill(&mut self) {
        self.child.take().unwrap().kill().await.unwrap();
        self.log.push("--- server killed ---");
    }

    async fn get_json(&self, path_or_url: &str) -> (Value, Option<String>) {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base_url())
        };
        let resp = self.http.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 200, "GET {url}");
        let link = resp
            .headers()
            .get("link")
            .map(|v| v.to_str().unwrap().to_owned());
        (resp.json().await.unwrap(), link)
    }

    /// The flow with its timerange, validated.
    async fn flow(&self, id: &str) -> Value {
        let (body, _) = self
            .get_json(&format!("/flows/{id}?include_timerange=true"))
            .await;
        schema::assert_valid("flow-get.json", &body);
        body
    }

    /// The end of the flow's timerange (ns), if it has segments.
    async fn flow_end(&self, id: &str) -> Option<i128> {
        let flow = self.flow(id).await;
        let tr = flow["timerange"].as_str()?;
        match tr.parse::<TimeRange>().unwrap().nanos_half_open() {
            Some((_, Some(end))) => Some(end),
            _ => None,
        }
    }

    /// Every segment of the flow in timeline order, following the Link headers.
    async fn segments(&self, id: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut next = Some(format!("/flows/{id}/segments?limit=16"));
        while let Some(url) = next.take() {
            let (page, link) = self.get_json(&url).await;
            schema::assert_valid_list("flow-segment.json", &page);
            all.extend(page.as_array().unwrap().iter().cloned());
            next = link.map(|l| {
                assert!(l.ends_with("rel=\"next\""), "{l}");
                l.split(['<', '>']).nth(1).unwrap().to_owned()
            });
        }
        all
    }

    /// Downloads every segment (through its first get_url) and writes their concatenation.
    async fn download(&self, segments: &[Value], to: &Path) {
        let mut bytes = Vec::new();
        for seg in segments {
            let url = seg["get_urls"][0]["url"].as_str().expect("a get_url");
            let resp = self.http.get(url).send().await.unwrap();
            assert_eq!(resp.status(), 200, "GET {url}");
            bytes.extend_from_slice(&resp.bytes().await.unwrap());
        }
        std::fs::write(to, bytes).unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// The ingest

/// A running `rushes ingest --json`: its stdout lines as they come, its stderr collected.
struct Ingest {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    stderr: Log,
}

impl Ingest {
    fn start(input: &str, tams_url: &str, args: &[&str]) -> Ingest {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rushes"));
        cmd.args(["ingest", input, "--tams-url", tams_url, "--json"])
            .args(args)
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        without_rushes_env(&mut cmd);
        let mut child = cmd.spawn().unwrap();
        let stderr = Log::default();
        stderr.drain(child.stderr.take().unwrap());
        let (tx, lines) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().unwrap();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = tx.send(line);
            }
        });
        Ingest {
            child,
            lines,
            stderr,
        }
    }

    /// The next stdout line as JSON, within `within`.
    async fn next_json(&mut self, within: Duration) -> Value {
        let line = tokio::time::timeout(within, self.lines.recv())
            .await
            .unwrap_or_else(|_| panic!("no output within {within:?}:\n{}", self.stderr.text()))
            .unwrap_or_else(|| panic!("the ingest ended:\n{}", self.stderr.text()));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?} is not JSON: {e}"))
    }

    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("the ingest exited ({status}):\n{}", self.stderr.text());
        }
    }

    /// SIGINT, then waits for the exit; returns whether it succeeded.
    async fn interrupt(&mut self) -> bool {
        let pid = self.child.id().unwrap();
        let sent = StdCommand::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("the ingest stops within 20 s of SIGINT")
            .unwrap()
            .success()
    }
}

/// Waits until the flow's timerange ends after `after` (ns), returning the new end.
async fn end_after(store: &Store, flow: &str, after: Option<i128>, within: Duration) -> i128 {
    let deadline = Instant::now() + within;
    loop {
        if let Some(end) = store.flow_end(flow).await {
            if after.is_none_or(|a| end > a) {
                return end;
            }
        }
        assert!(
            Instant::now() < deadline,
            "flow {flow} did not grow past {after:?} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Asserts the segments tile `[first start, last end)`: each starts where the previous
/// ended (no overlap, no gap), and returns `(first start, last end)`.
fn assert_tiled(role: &str, segments: &[Value]) -> (i128, i128) {
    assert!(!segments.is_empty(), "the {role} flow has no segments");
    let ranges: Vec<(i128, i128)> = segments
        .iter()
        .map(|s| bounds(s["timerange"].as_str().unwrap()))
        .collect();
    for (i, w) in ranges.windows(2).enumerate() {
        let ((_, prev_end), (start, end)) = (w[0], w[1]);
        assert!(start < end, "{role} segment {} is empty", i + 1);
        assert!(
            start >= prev_end,
            "{role} segment {} overlaps the previous by {}",
            i + 1,
            secs(prev_end - start)
        );
        // One ffmpeg run and an input without gaps: the media's timestamps place every
        // segment, so there is nothing to leave empty.
        assert_eq!(
            start,
            prev_end,
            "{role} segment {} leaves a gap of {} after the previous",
            i + 1,
            secs(start - prev_end)
        );
    }
    (ranges[0].0, ranges[ranges.len() - 1].1)
}

// ---------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn a_live_hls_stream_grows_flows_on_tai_through_a_store_crash() {
    let mut store = Store::start().await;
    let mut source = LiveSource::start(SOURCE_SECONDS, true).await;
    let work = tempfile::tempdir().unwrap();
    let started_utc = utc_now_ns();
    let mut ingest = Ingest::start(
        &source.url,
        &store.base_url(),
        &["--work-dir", work.path().to_str().unwrap()],
    );

    // The ids come as soon as the flows exist.
    let ids = ingest.next_json(Duration::from_secs(20)).await;
    let video = flow_of(&ids, "video");
    let audio = flow_of(&ids, "audio");
    let collection = ids["flow_id"].as_str().unwrap().to_owned();

    // (a) The flow grows while it records.
    let mut end = end_after(&store, &video, None, Duration::from_secs(15)).await;
    let flow = store.flow(&video).await;
    assert_eq!(flow["status"], "ingesting", "{flow}");
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let next = store.flow_end(&video).await.unwrap();
        assert!(
            next > end,
            "the timerange did not grow in 1.2 s: {} then {}",
            secs(end),
            secs(next)
        );
        end = next;
    }

    // (b) The store crashes and is down for 3 s; the ingest keeps going.
    store.kill().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    ingest.assert_running();
    store.spawn().await;
    end = end_after(&store, &video, Some(end), Duration::from_secs(15)).await;
    for _ in 0..2 {
        end = end_after(&store, &video, Some(end), Duration::from_secs(5)).await;
    }
    ingest.assert_running();

    // (c) The source ends; the ingest is stopped.
    source.finish().await;
    let source_end_tai = tai_now_ns();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        ingest.interrupt().await,
        "the ingest failed on SIGINT:\n{}",
        ingest.stderr.text()
    );
    let status = ingest.next_json(Duration::from_secs(1)).await;
    assert_eq!(status["state"], "stopped", "{status}");
    assert_eq!(status["runs"], 1, "ffmpeg was restarted: {status}");
    let reported = |flow: &str| {
        status["flows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["flow_id"] == flow)
            .unwrap()["segments"]
            .as_u64()
            .unwrap()
    };

    for id in [&video, &audio, &collection] {
        let flow = store.flow(id).await;
        assert_eq!(flow["status"], "closed_complete", "{flow}");
    }

    let video_segments = store.segments(&video).await;
    let audio_segments = store.segments(&audio).await;
    // Registered once each: as many segments as the ingest registered, none twice.
    assert_eq!(video_segments.len() as u64, reported(&video));
    assert_eq!(audio_segments.len() as u64, reported(&audio));
    let (v_start, v_end) = assert_tiled("video", &video_segments);
    let (a_start, a_end) = assert_tiled("audio", &audio_segments);

    // (d) On TAI: the first segment starts near the moment the ingest started, the last
    // ends near the moment the source ended (the unfinished last segment is dropped).
    let started_tai = started_utc + TAI_MINUS_UTC_NS;
    assert!(
        (v_start - started_tai).abs() <= WALL_CLOCK_TOLERANCE_NS,
        "the video starts {} from the ingest's start on TAI",
        secs(v_start - started_tai)
    );
    assert!(
        (v_end - source_end_tai).abs() <= WALL_CLOCK_TOLERANCE_NS,
        "the video ends {} from the source's end on TAI",
        secs(v_end - source_end_tai)
    );
    // Recorded together, the flows line up: the audio's segments cut at other times, but
    // cover the same span to within a segment.
    assert!((a_start - v_start).abs() <= 1_000_000_000, "audio start");
    assert!((a_end - v_end).abs() <= 1_000_000_000, "audio end");

    // Every frame once: the frames of the concatenated segments are a run of the
    // source's frames with none missing or repeated, and fill the timeline at 40 ms each.
    let got = work.path().join("video.ts");
    store.download(&video_segments, &got).await;
    let frames = frame_md5s(&got);
    let reference = frame_md5s(&source.reference());
    assert_eq!(
        reference.len(),
        (SOURCE_SECONDS * 25) as usize,
        "the reference"
    );
    let mut unique = reference.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        reference.len(),
        "testsrc2 frames are distinct"
    );
    let covered = v_end - v_start;
    assert_eq!(
        covered % FRAME_NS,
        0,
        "{} is not whole frames",
        secs(covered)
    );
    assert_eq!(
        frames.len() as i128,
        covered / FRAME_NS,
        "frames in the segments vs their timeline"
    );
    let first = reference
        .iter()
        .position(|m| *m == frames[0])
        .expect("the first ingested frame is a source frame");
    for (k, md5) in frames.iter().enumerate() {
        assert_eq!(
            reference.get(first + k),
            Some(md5),
            "ingested frame {k} is not source frame {} (missing, repeated or reordered)",
            first + k
        );
    }
    // The run spans the crash: at least 20 of the source's 30 s (the probe, the HLS
    // latency and the dropped last segment take the rest).
    assert!(
        frames.len() >= 20 * 25,
        "only {} frames were ingested (source frames {first}..)",
        frames.len()
    );
    eprintln!(
        "ingested source frames {first}..{} in {} video and {} audio segments; the video \
         started {} after the ingest and ended {} after the source (TAI)",
        first + frames.len(),
        video_segments.len(),
        audio_segments.len(),
        secs(v_start - started_tai),
        secs(v_end - source_end_tai)
    );
}

#[tokio::test]
async fn a_live_input_that_never_delivers_fails_clearly_and_makes_no_flows() {
    let store = Store::start().await;
    let input = format!("udp://127.0.0.1:{}", free_port());
    let mut ingest = Ingest::start(
        &input,
        &store.base_url(),
        &["--no-reconnect", "--stall-timeout", "2"],
    );
    let started = Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(50), ingest.child.wait())
        .await
        .expect("the ingest gives up within 50 s")
        .unwrap();
    let elapsed = started.elapsed();
    // Its stderr is read by a task that may still be draining the pipe.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ingest.stderr.text().contains("Error") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stderr = ingest.stderr.text();
    assert!(!status.success(), "exited with {status}:\n{stderr}");
    // The probe waits for the input for 30 s, whatever --stall-timeout says.
    assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
    assert!(
        stderr.contains(&input) && stderr.contains("did not finish within 30s"),
        "the message names neither the input nor the wait:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    // No --json line: nothing was made.
    assert!(ingest.lines.recv().await.is_none(), "printed ids");
    let (flows, _) = store.get_json("/flows").await;
    assert_eq!(flows, serde_json::json!([]), "flows were made");
    let (sources, _) = store.get_json("/sources").await;
    assert_eq!(sources, serde_json::json!([]), "sources were made");
}

/// A store that refuses the segments (the flow was made read-only under the running
/// ingest) stops the ingest at once with the store's answer, not a bare "stopped", and
/// the segments registered before stay as they were.
#[tokio::test]
async fn a_store_that_refuses_segments_stops_the_ingest_with_its_answer() {
    let store = Store::start().await;
    let source = LiveSource::start(20, true).await;
    let mut ingest = Ingest::start(&source.url, &store.base_url(), &[]);
    let ids = ingest.next_json(Duration::from_secs(20)).await;
    let video = flow_of(&ids, "video");
    end_after(&store, &video, None, Duration::from_secs(15)).await;
    let before = store.segments(&video).await.len();
    assert!(before > 0);

    let resp = reqwest::Client::new()
        .put(format!("{}/flows/{video}/read_only", store.base_url()))
        .json(&true)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());

    let status = tokio::time::timeout(Duration::from_secs(20), ingest.child.wait())
        .await
        .expect("the ingest stops within 20 s of the store refusing its segments")
        .unwrap();
    // Its stderr is read by a task that may still be draining the pipe.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ingest.stderr.text().contains("Error") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stderr = ingest.stderr.text();
    assert!(!status.success(), "exited with {status}:\n{stderr}");
    assert!(
        stderr.contains(&video) && stderr.contains("403"),
        "the message names neither the flow nor the store's answer:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(store.segments(&video).await.len() >= before);
}
