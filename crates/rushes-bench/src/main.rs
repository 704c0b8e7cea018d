//! `rushes-bench`: an HTTP load driver for a Rushes (or any TAMS) store on loopback.
//!
//! It creates one video flow, allocates a pool of objects, registers 1-second segments
//! (first one per request from concurrent clients, then lists of 1,000 per request) until the
//! flow holds `--segments` segments, and at checkpoints (10,000 / 100,000 / 1,000,000) measures
//! read latency and the server's memory. The result is a Markdown report on stdout.
//!
//! Modules: [`store`] (the TAMS requests), [`server`] (spawning the server, /proc memory),
//! [`stats`] (percentiles, seeded random positions).

mod server;
mod stats;
mod store;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use futures::stream::{self, StreamExt, TryStreamExt};
use reqwest::Url;
use serde_json::Value;

use crate::server::{dir_size, memory, mib, Spawned};
use crate::stats::{ms, Rng, Samples};
use crate::store::{MediaObject, Pool, Store};

/// Drive a TAMS store over HTTP on loopback and report throughput, latency and memory.
#[derive(Parser, Debug)]
#[command(name = "rushes-bench", version)]
struct Args {
    /// Base URL of a running store (loopback only).
    #[arg(
        long,
        default_value = "http://127.0.0.1:8080",
        conflicts_with = "spawn"
    )]
    url: Url,
    /// Start this `rushes` binary (`serve --listen 127.0.0.1:0`) with a temporary data dir.
    #[arg(long)]
    spawn: Option<PathBuf>,
    /// Data dir for the spawned server (default: a temporary dir, removed afterwards).
    #[arg(long, requires = "spawn")]
    data_dir: Option<PathBuf>,
    /// Extra flag for each spawned server, e.g. `--server-arg=--database-url=postgres://...`
    /// (repeat for several).
    #[arg(long = "server-arg", requires = "spawn", allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// Spawn this many servers with the same flags (several nodes on one database: give
    /// them a shared `--database-url` and object store); requests go round-robin.
    #[arg(long, default_value_t = 1, requires = "spawn")]
    nodes: usize,
    /// Pid of the server when not spawned, to sample its memory from /proc.
    #[arg(long)]
    pid: Option<u32>,
    /// Segments to fill the flow up to (1 s each, contiguous from 0).
    #[arg(long, default_value_t = 1_000_000)]
    segments: u64,
    /// Segments registered one per request in phase (a).
    #[arg(long, default_value_t = 10_000)]
    single: u64,
    /// Concurrent clients for the one-per-request phase.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Segments per request in the list phase.
    #[arg(long, default_value_t = 1_000)]
    batch: u64,
    /// Concurrent clients for the list phase.
    #[arg(long, default_value_t = 2)]
    batch_concurrency: usize,
    /// Objects: 0 (the default) allocates a fresh object for every segment before each
    /// timed round, as a live ingest does (their bytes are not uploaded: this measures the
    /// index, not the disk); N allocates N objects, uploads them, and reuses them
    /// round-robin with ts_offset.
    #[arg(long, default_value_t = 0)]
    objects: usize,
    /// Idle seconds before the reads of each checkpoint, so that they measure the index
    /// at rest rather than the tail of the fill just before (0 reads at once).
    #[arg(long, default_value_t = 0)]
    settle: u64,
    /// Read requests of each kind per checkpoint.
    #[arg(long, default_value_t = 1_000)]
    queries: usize,
    /// Seed for the random query positions.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop filling (reporting what was reached) after this many seconds.
    #[arg(long, default_value_t = 3_600)]
    max_seconds: u64,
}

/// Throughput of one write phase.
struct WriteResult {
    phase: String,
    segments: u64,
    requests: u64,
    elapsed: Duration,
    latency: Samples,
}

/// Measurements at one checkpoint.
struct Checkpoint {
    segments: u64,
    seg_latency: Samples,
    flow_latency: Samples,
    memory: Option<server::Memory>,
    data_bytes: Option<u64>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.batch == 0 || args.concurrency == 0 || args.batch_concurrency == 0 {
        bail!("--batch, --concurrency and --batch-concurrency must be positive");
    }
    let mut spawned = Vec::new();
    let mut urls = Vec::new();
    match &args.spawn {
        Some(path) => {
            if args.nodes > 1 && args.data_dir.is_some() {
                bail!("--data-dir names one server's directory; not with --nodes");
            }
            for _ in 0..args.nodes.max(1) {
                let (s, url) =
                    Spawned::start(path, args.data_dir.as_deref(), &args.server_args).await?;
                spawned.push(s);
                urls.push(url);
            }
        }
        None => urls.push(args.url.clone()),
    }
    let pid = args.pid.or_else(|| spawned.first().and_then(Spawned::pid));
    let data_dir = spawned.first().map(|s| s.data_dir.clone());
    let outcome = run(&args, urls, pid, data_dir).await;
    for s in spawned {
        if let Err(e) = s.shutdown().await {
            eprintln!("warning: {e:#}");
        }
    }
    let report = outcome?;
    println!("{report}");
    Ok(())
}

async fn run(
    args: &Args,
    urls: Vec<Url>,
    pid: Option<u32>,
    data_dir: Option<PathBuf>,
) -> Result<String> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.max_seconds);
    let store = Store::new(urls.clone())?;
    let shown: Vec<String> = urls.iter().map(Url::to_string).collect();
    eprintln!(
        "rushes-bench: store {}, flow {}",
        shown.join(" "),
        store.flow_id
    );
    store.create_flow().await.context("create the flow")?;
    let reuse = if args.objects > 0 {
        let objects = store
            .allocate_objects(args.objects, true)
            .await
            .context("allocate objects")?;
        eprintln!("rushes-bench: {} objects allocated", objects.len());
        Some(objects)
    } else {
        None
    };

    let mut checkpoints: Vec<u64> = [10_000, 100_000, 1_000_000]
        .into_iter()
        .filter(|c| *c < args.segments)
        .collect();
    checkpoints.push(args.segments);

    let mut writes = Vec::new();
    let mut measured = Vec::new();
    let single_end = args.single.min(args.segments);
    if single_end > 0 {
        let pool = Arc::new(pool(&store, &reuse, 0, single_end).await?);
        let w = register_single(&store, &pool, single_end, args.concurrency).await?;
        eprintln!("rushes-bench: {}", summary(&w));
        writes.push(w);
    }
    let mut filled = single_end;
    let mut list_phase = WriteResult {
        phase: format!(
            "(b) lists of {}, {} clients",
            args.batch, args.batch_concurrency
        ),
        segments: 0,
        requests: 0,
        elapsed: Duration::ZERO,
        latency: Samples::default(),
    };
    let mut stopped_early = false;
    for &target in &checkpoints {
        if filled < target {
            let reached = register_lists(
                &store,
                &reuse,
                filled,
                target,
                args.batch,
                args.batch_concurrency,
                deadline,
                &mut list_phase,
            )
            .await?;
            filled = reached;
            eprintln!("rushes-bench: {}", summary(&list_phase));
        }
        tokio::time::sleep(Duration::from_secs(args.settle)).await;
        let cp = measure(&store, args, filled, pid, data_dir.as_deref()).await?;
        measured.push(cp);
        if filled < target {
            stopped_early = true;
            break;
        }
    }
    if list_phase.requests > 0 {
        writes.push(list_phase);
    }
    Ok(report(
        args,
        &shown.join(" "),
        &mut writes,
        &mut measured,
        stopped_early,
        started.elapsed(),
    ))
}

/// The objects for segments `from..to`: the reused ones, or fresh ones allocated now.
async fn pool(store: &Store, reuse: &Option<Vec<MediaObject>>, from: u64, to: u64) -> Result<Pool> {
    Ok(match reuse {
        Some(objects) => Pool::Reuse(objects.to_vec()),
        None => Pool::Fresh {
            first: from,
            objects: store
                .allocate_objects(usize::try_from(to - from)?, false)
                .await
                .context("allocate objects")?,
        },
    })
}

/// Phase (a): segments `0..end`, one per request, from `concurrency` clients.
async fn register_single(
    store: &Store,
    objects: &Arc<Pool>,
    end: u64,
    concurrency: usize,
) -> Result<WriteResult> {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let workers = (0..concurrency).map(|_| {
        let store = store.clone();
        let objects = objects.clone();
        let next = next.clone();
        tokio::spawn(async move {
            let mut latency = Samples::default();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= end {
                    return Ok::<_, anyhow::Error>(latency);
                }
                let body = objects.segment(n);
                latency.record(
                    store
                        .post_segments(&body)
                        .await
                        .with_context(|| format!("segment {n}"))?,
                );
            }
        })
    });
    let mut latency = Samples::with_capacity(usize::try_from(end).unwrap_or(0));
    for w in futures::future::join_all(workers).await {
        latency.extend(w??);
    }
    Ok(WriteResult {
        phase: format!("(a) one per request, {concurrency} clients"),
        segments: end,
        requests: end,
        elapsed: start.elapsed(),
        latency,
    })
}

/// Phase (b): segments `from..to` in lists of `batch`, `concurrency` requests in flight.
/// Returns how far it got (less than `to` if the deadline passed).
#[allow(clippy::too_many_arguments)]
async fn register_lists(
    store: &Store,
    reuse: &Option<Vec<MediaObject>>,
    from: u64,
    to: u64,
    batch: u64,
    concurrency: usize,
    deadline: Instant,
    result: &mut WriteResult,
) -> Result<u64> {
    // Work in rounds so that the deadline is checked between them and `filled` stays a
    // contiguous prefix.
    let round = batch * concurrency as u64 * 10;
    let mut filled = from;
    while filled < to {
        if Instant::now() >= deadline {
            eprintln!("rushes-bench: --max-seconds reached at {filled} segments");
            break;
        }
        let round_end = (filled + round).min(to);
        let starts: Vec<u64> = (filled..round_end)
            .step_by(usize::try_from(batch)?)
            .collect();
        let objects = Arc::new(pool(store, reuse, filled, round_end).await?);
        let t0 = Instant::now();
        let latencies: Vec<Duration> = stream::iter(starts)
            .map(|s| {
                let store = store.clone();
                let objects = objects.clone();
                async move {
                    let e = (s + batch).min(round_end);
                    let body = Value::Array((s..e).map(|n| objects.segment(n)).collect());
                    store
                        .post_segments(&body)
                        .await
                        .with_context(|| format!("segments {s}..{e}"))
                }
            })
            .buffer_unordered(concurrency)
            .try_collect()
            .await?;
        result.elapsed += t0.elapsed();
        result.requests += latencies.len() as u64;
        result.segments += round_end - filled;
        for l in latencies {
            result.latency.record(l);
        }
        filled = round_end;
        if filled % 100_000 == 0 {
            eprintln!("rushes-bench: {filled} segments");
        }
    }
    Ok(filled)
}

/// Read latencies at `filled` segments, sequentially from one client, plus memory.
async fn measure(
    store: &Store,
    args: &Args,
    filled: u64,
    pid: Option<u32>,
    data_dir: Option<&std::path::Path>,
) -> Result<Checkpoint> {
    eprintln!("rushes-bench: measuring at {filled} segments");
    let mut rng = Rng::new(args.seed ^ filled);
    let window = 100u64.min(filled);
    let mut seg_latency = Samples::with_capacity(args.queries);
    for _ in 0..args.queries {
        let x = rng.below(filled - window + 1);
        let tr = format!("[{x}:0_{}:0)", x + window);
        let (d, n) = store.get_segments(&tr, 100).await?;
        if n as u64 != window {
            bail!("GET segments {tr}: {n} segments, expected {window}");
        }
        seg_latency.record(d);
    }
    let mut flow_latency = Samples::with_capacity(args.queries);
    let expected = format!("[0:0_{filled}:0)");
    for _ in 0..args.queries {
        let (d, tr) = store.get_flow().await?;
        if filled > 0 && tr.as_deref() != Some(expected.as_str()) {
            bail!("flow timerange {tr:?}, expected {expected}");
        }
        flow_latency.record(d);
    }
    Ok(Checkpoint {
        segments: filled,
        seg_latency,
        flow_latency,
        memory: pid.and_then(memory),
        data_bytes: data_dir.map(dir_size),
    })
}

fn summary(w: &WriteResult) -> String {
    format!(
        "{}: {} segments in {:.1} s",
        w.phase,
        w.segments,
        w.elapsed.as_secs_f64()
    )
}

fn per_second(count: u64, d: Duration) -> String {
    if d.is_zero() {
        return "-".to_owned();
    }
    format!("{:.0}", count as f64 / d.as_secs_f64())
}

fn report(
    args: &Args,
    url: &str,
    writes: &mut [WriteResult],
    checkpoints: &mut [Checkpoint],
    stopped_early: bool,
    total: Duration,
) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "## rushes-bench\n\nStore {url}; {}; {} queries per checkpoint; seed {}; total {:.0} s.{}\n\n",
        if args.objects == 0 { "a fresh object per segment".to_owned() } else { format!("{} objects reused round-robin", args.objects) },
        args.queries,
        args.seed,
        total.as_secs_f64(),
        if stopped_early { " Stopped early at --max-seconds." } else { "" }
    ));
    if args.spawn.is_some() {
        out.push_str(&format!(
            "Spawned {} node(s) with flags: {}.\n\n",
            args.nodes.max(1),
            if args.server_args.is_empty() {
                "(none: SQLite and local disk)".to_owned()
            } else {
                args.server_args.join(" ")
            }
        ));
    }
    out.push_str(
        "| write phase | segments | requests | segments/s | request p50 | request p99 |\n",
    );
    out.push_str("| --- | ---: | ---: | ---: | ---: | ---: |\n");
    for w in writes.iter_mut() {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            w.phase,
            w.segments,
            w.requests,
            per_second(w.segments, w.elapsed),
            ms(w.latency.percentile(50)),
            ms(w.latency.percentile(99)),
        ));
    }
    out.push_str(
        "\n| segments in flow | segments GET p50 | p99 | flow GET p50 | p99 | VmRSS | VmHWM | data dir |\n",
    );
    out.push_str("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for c in checkpoints.iter_mut() {
        let (rss, hwm) = match &c.memory {
            Some(m) => (mib(m.rss_kib), mib(m.hwm_kib)),
            None => ("-".to_owned(), "-".to_owned()),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            c.segments,
            ms(c.seg_latency.percentile(50)),
            ms(c.seg_latency.percentile(99)),
            ms(c.flow_latency.percentile(50)),
            ms(c.flow_latency.percentile(99)),
            rss,
            hwm,
            c.data_bytes
                .map(|b| mib(b / 1024))
                .unwrap_or_else(|| "-".to_owned()),
        ));
    }
    out.push_str(&format!(
        "\nReads: `GET /flows/{{id}}/segments?timerange=[x:0_x+100:0)&limit=100` at random x, and \
         `GET /flows/{{id}}?include_timerange=true`, {} each, one client, sequential.\n",
        checkpoints
            .first()
            .map(|c| c.seg_latency.len())
            .unwrap_or(0)
    ));
    out
}
