//! `rushes-bench-live`: how soon a live input's segments are listed by the store.
//!
//! Starts the `rushes` binary on loopback (a temporary data dir), makes (once, cached
//! under `--media-dir`) a 1080p25 H.264 (~8 Mbit/s, a key frame every second) + AAC
//! MPEG-TS file, plays it in real time without re-encoding as a UDP stream on loopback
//! (`ffmpeg -re -stream_loop -1 ... -c copy -f mpegts udp://...`), and runs
//! `rushes ingest` in-process on that stream for `--seconds` through
//! [`rushes_media::ingest::ingest_observed`]. Every registered segment's latency, from
//! its file being complete to the store answering its registration, is collected per
//! flow. A poller lists the newest segments of the video flow every `--poll-ms` and
//! records when each one first appears, as an independent check that a registered
//! segment is listed by `GET /flows/{id}/segments` at once.
//!
//! Not counted: a segment is complete only when ffmpeg sees the next key frame, so the
//! delay from the input to the store is about one segment duration plus these figures.

#[allow(dead_code)]
#[path = "../server.rs"]
mod server;
#[allow(dead_code)]
#[path = "../stats.rs"]
mod stats;
#[path = "../testfile.rs"]
mod testfile;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use rushes_client::model::{FlowId, FlowStoragePost, SegmentPost, TimeRangeText};
use rushes_client::{Auth, Client, Query, UploadBody};
use rushes_media::ingest::{ingest_observed, IngestOptions, IngestState, IngestStatus};
use rushes_media::{Tools, Written};
use serde_json::{json, Value};
use tokio::process::Command;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::server::Spawned;
use crate::stats::{ms, Samples};

/// The target: a segment listed within this long of being complete, at p99.
const TARGET: Duration = Duration::from_millis(200);

#[derive(Parser, Debug)]
#[command(name = "rushes-bench-live")]
struct Args {
    /// The `rushes` binary to start.
    #[arg(long, default_value = "target/release/rushes")]
    spawn: PathBuf,
    /// Where the test file is made and kept.
    #[arg(long, default_value = "target/bench-media")]
    media_dir: PathBuf,
    /// How long to ingest.
    #[arg(long, default_value_t = 120)]
    seconds: u64,
    /// Length of the test file (it is played in a loop).
    #[arg(long, default_value_t = 120)]
    file_seconds: u64,
    /// The ingest's segment duration, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    segment_ms: u64,
    /// The ingest's uploads in flight per flow.
    #[arg(long, default_value_t = 2)]
    parallel: usize,
    /// How often the poller lists the video flow's newest segments, in milliseconds.
    #[arg(long, default_value_t = 5)]
    poll_ms: u64,
    /// Print every segment's latency, in order of registration.
    #[arg(long)]
    dump: bool,
    /// Also write a segment-sized object into a separate flow once per segment duration,
    /// the way the ingest's writer does (allocate storage, upload, register), timing each
    /// step under the same load. Adds that much write load.
    #[arg(long)]
    breakdown: bool,
}

/// The arguments that make the test file at `out`.
fn generate_args(seconds: u64, out: &Path) -> Vec<String> {
    let d = seconds.to_string();
    let mut a: Vec<String> = [
        "-hide_banner",
        "-y",
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc2=size=1920x1080:rate=25:duration={d}"),
        "-f",
        "lavfi",
        "-i",
        &format!("sine=frequency=1000:sample_rate=48000:duration={d}"),
        "-filter_complex",
        "[1:a]pan=stereo|c0=c0|c1=c0[a]",
        "-map",
        "0:v",
        "-map",
        "[a]",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        // ~8 Mbit/s constant: testsrc2 alone would compress far below that.
        "-b:v",
        "8M",
        "-minrate",
        "8M",
        "-maxrate",
        "8M",
        "-bufsize",
        "8M",
        "-x264-params",
        "nal-hrd=cbr",
        // A key frame every second, nothing else.
        "-g",
        "25",
        "-keyint_min",
        "25",
        "-sc_threshold",
        "0",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-f",
        "mpegts",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.push(out.display().to_string());
    a
}

/// The test file, made if it is not there yet.
async fn test_file(dir: &Path, seconds: u64) -> Result<PathBuf> {
    if seconds == 0 {
        bail!("--file-seconds must be at least 1");
    }
    let path = dir.join(format!("live-1080p25-8M-g25-{seconds}s.ts"));
    testfile::cached(path, |out| generate_args(seconds, out)).await
}

/// A UDP port on loopback that was free a moment ago.
fn free_udp_port() -> Result<u16> {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").context("bind a UDP socket")?;
    Ok(s.local_addr()?.port())
}

/// One step's time, out of [`Steps`].
type StepOf = fn(&Steps) -> Duration;

/// The times of one shadow write's steps.
struct Steps {
    allocate: Duration,
    upload: Duration,
    register: Duration,
}

/// Writes one `body`-sized object per `every` into `flow` (allocate storage, upload,
/// register one segment), as the ingest's writer does, timing each step, until `stop`.
async fn shadow_writer(
    client: Client,
    flow: FlowId,
    body: PathBuf,
    every: Duration,
    stop: CancellationToken,
) -> Result<Vec<Steps>> {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut out = Vec::new();
    let step = i64::try_from(every.as_nanos()).unwrap_or(i64::MAX);
    for n in 0i64..i64::MAX {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => break,
        }
        let t0 = Instant::now();
        let request = FlowStoragePost {
            limit: Some(1),
            ..FlowStoragePost::default()
        };
        let target = client
            .allocate_storage(flow, &request)
            .await?
            .pop()
            .context("no upload URL")?;
        let t1 = Instant::now();
        client
            .upload(&target.put_url, UploadBody::File(body.clone()))
            .await?;
        let t2 = Instant::now();
        let at = |ns: i64| format!("{}:{}", ns / 1_000_000_000, ns % 1_000_000_000);
        let range = TimeRangeText::parse(&format!("[{}_{})", at(n * step), at((n + 1) * step)))
            .context("a shadow timerange")?;
        let post = SegmentPost::new(target.object_id, range);
        let failed = client.post_segment(flow, &post).await?;
        if !failed.is_empty() {
            bail!("the store refused a shadow segment");
        }
        let t3 = Instant::now();
        out.push(Steps {
            allocate: t1 - t0,
            upload: t2 - t1,
            register: t3 - t2,
        });
    }
    Ok(out)
}

/// One registered segment, as the ingest's observer reported it.
struct Seen {
    flow: usize,
    written: Written,
    /// When the observer's message was received here.
    at: Instant,
}

/// Busy and total jiffies of the whole machine, from /proc/stat.
fn cpu_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    // idle + iowait
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// CPU time (user + system) of a process so far, in clock ticks.
fn process_jiffies(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// The processes whose parent is `pid` (the ingest's ffmpeg, for one).
fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|c| {
            std::fs::read_to_string(format!("/proc/{c}/stat"))
                .ok()
                .and_then(|s| {
                    let rest = s.rsplit_once(')')?.1.to_owned();
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

fn clk_tck() -> f64 {
    // USER_HZ is 100 on every Linux this runs on.
    100.0
}

/// The poller: lists the newest segments of `flow` every `every` and records when each
/// object first appears, until `stop`.
async fn poll_listing(
    client: Client,
    flow: String,
    every: Duration,
    stop: CancellationToken,
    seen: Arc<Mutex<HashMap<String, Instant>>>,
) -> (u64, u64, Samples) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let query = Query::new()
        .param("reverse_order", "true")
        .param("limit", "4");
    let (mut polls, mut errors) = (0u64, 0u64);
    let mut took = Samples::default();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => break,
        }
        let t = Instant::now();
        let listed = client.get_json(&["flows", &flow, "segments"], &query).await;
        let now = Instant::now();
        polls += 1;
        took.record(now - t);
        let Ok(Value::Array(items)) = listed else {
            errors += 1;
            continue;
        };
        if let Ok(mut m) = seen.lock() {
            for s in items {
                if let Some(id) = s.get("object_id").and_then(Value::as_str) {
                    // The response arrived at `now`; the listing was made at most
                    // `now - t` before that.
                    m.entry(id.to_owned()).or_insert(now);
                }
            }
        }
    }
    (polls, errors, took)
}

fn signed_ms(later: Instant, earlier: Instant) -> f64 {
    if later >= earlier {
        (later - earlier).as_secs_f64() * 1000.0
    } else {
        -((earlier - later).as_secs_f64() * 1000.0)
    }
}

fn pct(sorted: &[f64], p: usize) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.seconds == 0 || args.segment_ms == 0 || args.poll_ms == 0 {
        bail!("--seconds, --segment-ms and --poll-ms must be at least 1");
    }
    let file = test_file(&args.media_dir, args.file_seconds).await?;
    let file_bytes = std::fs::metadata(&file)?.len();
    println!(
        "test file: {:.1} MiB, {:.2} Mbit/s over {} s",
        file_bytes as f64 / 1048576.0,
        file_bytes as f64 * 8.0 / args.file_seconds as f64 / 1e6,
        args.file_seconds
    );

    let (spawned, url) = Spawned::start(&args.spawn, None, &[]).await?;
    server::ensure_loopback(&url)?;
    println!("store: {url} (pid {:?})", spawned.pid());
    let client = Client::new(url.as_str(), Auth::None)?;

    let port = free_udp_port()?;
    let out = format!("udp://127.0.0.1:{port}?pkt_size=1316");
    let source_args: Vec<String> = [
        "-hide_banner",
        "-loglevel",
        "error",
        "-re",
        "-stream_loop",
        "-1",
        "-i",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([file.display().to_string()])
    .chain(["-c", "copy", "-f", "mpegts", &out].map(String::from))
    .collect();
    println!("source: ffmpeg {}", source_args.join(" "));
    let mut source = Command::new("ffmpeg")
        .args(&source_args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("start the source ffmpeg")?;
    let source_pid = source.id();

    let input = format!("udp://127.0.0.1:{port}?fifo_size=1000000&overrun_nonfatal=1");
    let mut opts = IngestOptions::new(input.clone());
    opts.segment_duration = Duration::from_millis(args.segment_ms);
    opts.parallel = args.parallel;
    opts.label = Some("rushes-bench-live".into());
    println!(
        "ingest: {input}, segments of {} ms, {} uploads in flight per flow, for {} s",
        args.segment_ms, args.parallel, args.seconds
    );

    let stop = CancellationToken::new();
    let (status_tx, mut status_rx) = watch::channel(IngestStatus::new(&input));
    let (obs_tx, mut obs_rx) = mpsc::unbounded_channel::<(usize, Written)>();
    let ingest = {
        let (client, stop) = (client.clone(), stop.clone());
        let tools = Tools::default();
        tokio::spawn(async move {
            ingest_observed(&client, &tools, &opts, stop, status_tx, Some(obs_tx)).await
        })
    };
    let collector = tokio::spawn(async move {
        let mut all = Vec::new();
        while let Some((flow, written)) = obs_rx.recv().await {
            all.push(Seen {
                flow,
                written,
                at: Instant::now(),
            });
        }
        all
    });

    // The flows are known once the ingest has created them.
    let flows = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            {
                let s = status_rx.borrow_and_update();
                if !s.flows.is_empty() || matches!(s.state, IngestState::Failed) {
                    return s.clone();
                }
            }
            if status_rx.changed().await.is_err() {
                return status_rx.borrow().clone();
            }
        }
    })
    .await
    .context("the ingest did not create its flows within 60 s")?;
    if let Some(e) = &flows.error {
        bail!("the ingest failed: {e}");
    }
    let roles: Vec<String> = flows.flows.iter().map(|f| f.role.clone()).collect();
    let video = flows
        .flows
        .iter()
        .position(|f| f.role.contains("video"))
        .unwrap_or(0);
    let video_flow = flows
        .flows
        .get(video)
        .map(|f| f.flow_id.to_string())
        .context("the ingest made no flows")?;
    println!("flows: {roles:?}; polling {} ({video_flow})", roles[video]);

    let polled = Arc::new(Mutex::new(HashMap::new()));
    let poll_stop = CancellationToken::new();
    let poller = tokio::spawn(poll_listing(
        client.clone(),
        video_flow,
        Duration::from_millis(args.poll_ms),
        poll_stop.clone(),
        polled.clone(),
    ));

    let shadow_dir = tempfile::Builder::new()
        .prefix("rushes-bench-live-")
        .tempdir()?;
    let shadow = if args.breakdown {
        // A flow like the video flow, under another id.
        let video_id = flows.flows[video].flow_id;
        let mut body = client
            .get_json(&["flows", &video_id.to_string()], &Query::new())
            .await?;
        let shadow_id = FlowId::new_random();
        body["id"] = json!(shadow_id.to_string());
        body["label"] = json!("rushes-bench-live shadow writer");
        client
            .put_json(&["flows", &shadow_id.to_string()], &body)
            .await?;
        // A video segment's worth of the test file.
        let size = usize::try_from(file_bytes / args.file_seconds.max(1) * args.segment_ms / 1000)
            .unwrap_or(1 << 20);
        let mut bytes = std::fs::read(&file)?;
        bytes.truncate(size);
        let part = shadow_dir.path().join("segment.ts");
        std::fs::write(&part, &bytes)?;
        println!(
            "breakdown: writing {} KiB into flow {shadow_id} every {} ms",
            size / 1024,
            args.segment_ms
        );
        Some(tokio::spawn(shadow_writer(
            client.clone(),
            shadow_id,
            part,
            Duration::from_millis(args.segment_ms),
            poll_stop.clone(),
        )))
    } else {
        None
    };

    let cpu0 = cpu_jiffies();
    let server_cpu0 = spawned.pid().and_then(process_jiffies);
    let source_cpu0 = source_pid.and_then(process_jiffies);
    let own_cpu0 = process_jiffies(std::process::id());
    let started = Instant::now();
    // The ingest's ffmpeg is our child; sample it while it runs.
    let mut ingest_ffmpeg_cpu: HashMap<u32, (u64, u64)> = HashMap::new();
    let deadline = started + Duration::from_secs(args.seconds);
    let mut last_print = started;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if ingest.is_finished() {
            break;
        }
        for c in children(std::process::id()) {
            if Some(c) == source_pid {
                continue;
            }
            if let Some(j) = process_jiffies(c) {
                let e = ingest_ffmpeg_cpu.entry(c).or_insert((j, j));
                e.1 = j;
            }
        }
        if last_print.elapsed() >= Duration::from_secs(10) {
            last_print = Instant::now();
            let s = status_rx.borrow().clone();
            let counts: Vec<String> = s
                .flows
                .iter()
                .map(|f| {
                    format!(
                        "{} {} segs (last {} ms)",
                        f.role,
                        f.segments,
                        f.last_latency_ms.unwrap_or(0)
                    )
                })
                .collect();
            println!(
                "  {:>4} s: {}",
                started.elapsed().as_secs(),
                counts.join(", ")
            );
        }
    }
    let elapsed = started.elapsed();
    let cpu1 = cpu_jiffies();
    let server_cpu1 = spawned.pid().and_then(process_jiffies);
    let source_cpu1 = source_pid.and_then(process_jiffies);
    let own_cpu1 = process_jiffies(std::process::id());
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();

    stop.cancel();
    let outcome = ingest.await.context("ingest task")?;
    // Give the poller a moment to see the last registrations.
    tokio::time::sleep(Duration::from_millis(100)).await;
    poll_stop.cancel();
    let (polls, poll_errors, mut poll_took) = poller.await.context("poller task")?;
    let shadow = match shadow {
        Some(t) => Some(t.await.context("shadow writer task")??),
        None => None,
    };
    let seen = collector.await.context("collector task")?;
    let _ = source.kill().await;
    spawned.shutdown().await?;
    let last = match outcome {
        Ok(s) => s,
        Err(e) => bail!("the ingest failed: {e}"),
    };

    println!();
    println!("== rushes-bench-live: {} s of live ingest ==", args.seconds);
    println!(
        "ran {:.1} s; ffmpeg runs: {}; final state {:?}",
        elapsed.as_secs_f64(),
        last.runs,
        last.state
    );
    if let (Some((b0, t0)), Some((b1, t1))) = (cpu0, cpu1) {
        let busy = (b1 - b0) as f64 / (t1 - t0).max(1) as f64 * 100.0;
        println!("machine CPU busy: {busy:.0}% of 2 cores; load average {loadavg}");
    }
    let secs = elapsed.as_secs_f64();
    let share = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.0}%", (b - a) as f64 / clk_tck() / secs * 100.0),
        _ => "-".to_owned(),
    };
    let ingest_ffmpeg: u64 = ingest_ffmpeg_cpu.values().map(|(a, b)| b - a).sum();
    println!(
        "CPU (of one core): rushes serve {}, source ffmpeg {}, ingest ffmpeg {:.0}%, \
         this process (ingest, poller) {}",
        share(server_cpu0, server_cpu1),
        share(source_cpu0, source_cpu1),
        ingest_ffmpeg as f64 / clk_tck() / secs * 100.0,
        share(own_cpu0, own_cpu1),
    );

    let mut target_met = true;
    println!();
    println!("latency: segment file complete -> registration answered (the observer)");
    println!(
        "{:<8} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12} {:>12}",
        "flow", "count", "p50", "p90", "p99", "max", "mean", "size mean", "size max"
    );
    for (i, role) in roles.iter().enumerate() {
        let mut lat = Samples::default();
        let mut sizes = Vec::new();
        let mut total = Duration::ZERO;
        for s in seen.iter().filter(|s| s.flow == i) {
            lat.record(s.written.latency);
            total += s.written.latency;
            sizes.push(s.written.bytes);
        }
        let n = lat.len();
        let p99 = lat.percentile(99);
        if n == 0 || p99.is_none_or(|p| p > TARGET) {
            target_met = false;
        }
        let mean = if n == 0 {
            None
        } else {
            Some(total / u32::try_from(n).unwrap_or(u32::MAX))
        };
        let size_mean = sizes.iter().sum::<u64>() / (sizes.len().max(1) as u64);
        let size_max = sizes.iter().copied().max().unwrap_or(0);
        println!(
            "{:<8} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9} KiB {:>9} KiB",
            role,
            n,
            ms(lat.percentile(50)),
            ms(lat.percentile(90)),
            ms(p99),
            ms(lat.percentile(100)),
            ms(mean),
            size_mean / 1024,
            size_max / 1024,
        );
    }

    if args.dump {
        println!();
        println!(
            "every segment, in order of registration (flow, end of timerange, latency, bytes):"
        );
        for s in &seen {
            println!(
                "  {:<6} {:>28} {:>10} {:>9}",
                roles.get(s.flow).map(String::as_str).unwrap_or("?"),
                s.written
                    .timerange
                    .end()
                    .and_then(|b| b.timestamp())
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
                ms(Some(s.written.latency)),
                s.written.bytes
            );
        }
    }
    if let Some(steps) = &shadow {
        println!();
        println!(
            "breakdown: {} shadow writes of a video segment's size, each step (ms):",
            steps.len()
        );
        println!(
            "{:<10} {:>10} {:>10} {:>10} {:>10}",
            "step", "p50", "p90", "p99", "max"
        );
        let rows: [(&str, StepOf); 4] = [
            ("allocate", |s| s.allocate),
            ("upload", |s| s.upload),
            ("register", |s| s.register),
            ("total", |s| s.allocate + s.upload + s.register),
        ];
        for (name, f) in rows {
            let mut v = Samples::default();
            for s in steps {
                v.record(f(s));
            }
            println!(
                "{:<10} {:>10} {:>10} {:>10} {:>10}",
                name,
                ms(v.percentile(50)),
                ms(v.percentile(90)),
                ms(v.percentile(99)),
                ms(v.percentile(100))
            );
        }
    }

    // The poller's view of the video flow.
    let polled = polled.lock().map(|m| m.clone()).unwrap_or_default();
    let mut apart = Vec::new(); // listed - observer, ms (negative: listed first)
    let mut listed_lat = Vec::new(); // listed - complete, ms
    let mut missed = 0usize;
    for s in seen.iter().filter(|s| s.flow == video) {
        match polled.get(&s.written.object_id) {
            Some(&at) => {
                apart.push(signed_ms(at, s.at));
                let complete = s.at.checked_sub(s.written.latency).unwrap_or(s.at);
                listed_lat.push(signed_ms(at, complete));
            }
            None => missed += 1,
        }
    }
    apart.sort_by(f64::total_cmp);
    listed_lat.sort_by(f64::total_cmp);
    println!();
    println!(
        "listing poller ({} flow, GET /flows/{{id}}/segments?reverse_order=true&limit=4 every {} ms): \
         {polls} polls ({:.0}/s), {poll_errors} errors, poll round trip p50 {} p99 {}",
        roles[video],
        args.poll_ms,
        polls as f64 / secs.max(1e-9),
        ms(poll_took.percentile(50)),
        ms(poll_took.percentile(99)),
    );
    println!(
        "  segments seen listed: {} of {} ({} never seen by the poller)",
        apart.len(),
        apart.len() + missed,
        missed
    );
    println!(
        "  first listed minus reported by the observer (ms): min {:.1} p50 {:.1} p99 {:.1} max {:.1}",
        apart.first().copied().unwrap_or(f64::NAN),
        pct(&apart, 50),
        pct(&apart, 99),
        apart.last().copied().unwrap_or(f64::NAN),
    );
    let poll_ms = args.poll_ms as f64;
    let within = apart.iter().filter(|d| **d <= poll_ms).count();
    println!(
        "  listed at most one poll interval ({poll_ms} ms) after the observer: {within} of {}",
        apart.len()
    );
    println!(
        "  file complete -> first listed (ms): p50 {:.1} p90 {:.1} p99 {:.1} max {:.1}",
        pct(&listed_lat, 50),
        pct(&listed_lat, 90),
        pct(&listed_lat, 99),
        listed_lat.last().copied().unwrap_or(f64::NAN),
    );
    println!();
    println!(
        "target: p99 under {} ms for every flow: {}",
        TARGET.as_millis(),
        if target_met { "MET" } else { "NOT MET" }
    );
    println!(
        "(not counted: a segment is complete only when ffmpeg sees the next key frame, \
         so input to store is about one segment ({} ms) plus these figures)",
        args.segment_ms
    );
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_test_file_has_a_key_frame_every_second_and_is_mpegts() {
        let a = generate_args(120, Path::new("/tmp/x.ts"));
        let after = |flag: &str| {
            let i = a.iter().position(|x| x == flag).unwrap();
            a[i + 1].clone()
        };
        assert_eq!(after("-g"), "25");
        assert_eq!(after("-keyint_min"), "25");
        assert_eq!(after("-f"), "lavfi");
        assert_eq!(a[a.len() - 2], "mpegts");
        assert_eq!(a.last().unwrap(), "/tmp/x.ts");
        assert!(a.iter().any(|x| x.contains("duration=120")));
    }

    #[test]
    fn percentiles_of_signed_samples() {
        let v = [-3.0, -1.0, 0.5, 2.0];
        assert_eq!(pct(&v, 50), -1.0);
        assert_eq!(pct(&v, 100), 2.0);
        assert!(pct(&[], 50).is_nan());
        let t = Instant::now();
        let later = t + Duration::from_millis(5);
        assert!((signed_ms(later, t) - 5.0).abs() < 1e-9);
        assert!((signed_ms(t, later) + 5.0).abs() < 1e-9);
    }

    #[test]
    fn reads_process_cpu_time() {
        assert!(process_jiffies(std::process::id()).is_some());
        let (busy, total) = cpu_jiffies().unwrap();
        assert!(total >= busy && total > 0);
    }
}
