//! `rushes-bench-events`: what webhooks cost the write path, and how fast events arrive.
//!
//! Starts the `rushes` binary three times (a fresh data dir each time) on loopback and
//! registers single segments from concurrent clients: with no webhooks; with `--webhooks`
//! webhooks registered, one of which never answers while the others are healthy receivers
//! on loopback that record when each event arrives; and with the same webhooks but the
//! healthy ones subscribed to another flow (`flow_ids`), so the writes pay only for
//! matching and for the dead receiver. Reports the registration rate of each run and the latency from each registration request to the arrival of its
//! `flows/segments_added` event at the receivers (p50/p99), under load and one at a time.
//! The request is sent before the commit, so these latencies are upper bounds of
//! commit-to-receipt.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use clap::Parser;
use futures::stream::{self, StreamExt};
use reqwest::Url;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

#[derive(Parser, Debug)]
#[command(name = "rushes-bench-events")]
struct Args {
    /// The `rushes` binary to start.
    #[arg(long)]
    spawn: PathBuf,
    /// Segments registered (one per request) in each run.
    #[arg(long, default_value_t = 10_000)]
    segments: u64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Webhooks registered in the second run (one never answers).
    #[arg(long, default_value_t = 10)]
    webhooks: usize,
    /// Segments registered one at a time for the unloaded latency.
    #[arg(long, default_value_t = 1_000)]
    sequential: u64,
}

/// Arrival times of events at the healthy receivers, by segment number.
#[derive(Default)]
struct Arrivals {
    at: Mutex<HashMap<u64, Vec<Instant>>>,
    count: AtomicU64,
}

async fn receive(State(a): State<Arc<Arrivals>>, body: Bytes) -> StatusCode {
    let now = Instant::now();
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(segs) = v["event"]["segments"].as_array() {
        for s in segs {
            // "[N:0_N+1:0)" -> N
            let n = s["timerange"]
                .as_str()
                .and_then(|t| t.trim_start_matches('[').split(':').next())
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(n) = n {
                if let Ok(mut m) = a.at.lock() {
                    m.entry(n).or_default().push(now);
                }
                a.count.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    StatusCode::OK
}

async fn never(_: Bytes) -> StatusCode {
    std::future::pending::<()>().await;
    StatusCode::OK
}

async fn receiver(arrivals: Arc<Arrivals>, dead: bool) -> Result<String> {
    let app = if dead {
        Router::new().route("/hook", post(never))
    } else {
        Router::new()
            .route("/hook", post(receive))
            .with_state(arrivals)
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}/hook"))
}

struct Server {
    child: Child,
    url: Url,
    _dir: tempfile::TempDir,
}

async fn start(binary: &Path) -> Result<Server> {
    let dir = tempfile::Builder::new()
        .prefix("rushes-bench-events-")
        .tempdir()?;
    let mut child = Command::new(binary)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("spawn {}", binary.display()))?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(u) = line.trim().strip_prefix("rushes listening on ") {
                return Ok::<_, std::io::Error>(Some(u.to_owned()));
            }
        }
        Ok(None)
    })
    .await
    .context("no listening line")??
    .context("server exited")?;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Server {
        child,
        url: Url::parse(&url)?,
        _dir: dir,
    })
}

async fn check(resp: reqwest::Response, what: &str) -> Result<Value> {
    let status = resp.status();
    let text = resp.text().await?;
    if !status.is_success() {
        bail!("{what}: {status}: {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Creates a flow and allocates `n` objects; returns the flow id and the object ids.
async fn prepare(c: &reqwest::Client, base: &Url, n: u64) -> Result<(String, Vec<String>)> {
    let (fid, sid) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let flow = json!({"id": fid, "source_id": sid, "format": "urn:x-nmos:format:video",
        "codec": "video/h264", "container": "video/mp2t",
        "essence_parameters": {"frame_width": 1920, "frame_height": 1080, "frame_rate": {"numerator": 25}}});
    check(
        c.put(base.join(&format!("flows/{fid}"))?)
            .json(&flow)
            .send()
            .await?,
        "PUT flow",
    )
    .await?;
    let mut objects = Vec::new();
    while (objects.len() as u64) < n {
        let want = (n - objects.len() as u64).min(1000);
        let body = check(
            c.post(base.join(&format!("flows/{fid}/storage"))?)
                .json(&json!({ "limit": want }))
                .send()
                .await?,
            "POST storage",
        )
        .await?;
        for o in body["media_objects"].as_array().context("media_objects")? {
            objects.push(o["object_id"].as_str().context("object_id")?.to_owned());
        }
    }
    Ok((fid.to_string(), objects))
}

/// Registers segments `from..to` with `concurrency` clients; returns the elapsed time and
/// the send instant of each segment.
async fn register(
    c: &reqwest::Client,
    base: &Url,
    flow: &str,
    objects: &[String],
    from: u64,
    to: u64,
    concurrency: usize,
) -> Result<(Duration, HashMap<u64, Instant>)> {
    let url = base.join(&format!("flows/{flow}/segments"))?;
    let t0 = Instant::now();
    let sent: Vec<(u64, Instant)> = stream::iter(from..to)
        .map(|n| {
            let (c, url) = (c.clone(), url.clone());
            let object = objects[usize::try_from(n).unwrap_or(0)].clone();
            async move {
                let body =
                    json!({"object_id": object, "timerange": format!("[{n}:0_{}:0)", n + 1)});
                let at = Instant::now();
                check(c.post(url).json(&body).send().await?, "POST segments").await?;
                Ok::<_, anyhow::Error>((n, at))
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    Ok((t0.elapsed(), sent.into_iter().collect()))
}

fn percentile(v: &mut [Duration], p: usize) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort_unstable();
    let rank = (p * v.len()).div_ceil(100).max(1);
    v[rank.min(v.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Latencies from send to each healthy receiver's arrival, for segments `from..to`.
async fn latencies(
    arrivals: &Arrivals,
    sent: &HashMap<u64, Instant>,
    receivers: u64,
    from: u64,
    to: u64,
) -> Result<Vec<Duration>> {
    let want = (to - from) * receivers;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let have: u64 = {
            let m = arrivals.at.lock().map_err(|_| anyhow::anyhow!("lock"))?;
            (from..to)
                .map(|n| m.get(&n).map_or(0, |v| v.len() as u64))
                .sum()
        };
        if have >= want {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {have} of {want} events arrived within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let m = arrivals.at.lock().map_err(|_| anyhow::anyhow!("lock"))?;
    let mut out = Vec::new();
    for n in from..to {
        if let (Some(at), Some(s)) = (m.get(&n), sent.get(&n)) {
            out.extend(at.iter().map(|a| a.saturating_duration_since(*s)));
        }
    }
    Ok(out)
}

/// Registers `n` webhooks for `flows/segments_added`: the first never answers, the others
/// record arrivals in `arrivals`. With `only_flow`, the others subscribe to that flow only.
async fn register_webhooks(
    client: &reqwest::Client,
    base: &Url,
    arrivals: &Arc<Arrivals>,
    n: usize,
    only_flow: Option<&str>,
) -> Result<()> {
    for i in 0..n {
        let url = receiver(arrivals.clone(), i == 0).await?;
        let mut body = json!({"url": url, "events": ["flows/segments_added"]});
        if let (Some(f), true) = (only_flow, i > 0) {
            body["flow_ids"] = json!([f]);
        }
        check(
            client
                .post(base.join("service/webhooks")?)
                .json(&body)
                .send()
                .await?,
            "POST webhook",
        )
        .await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let total = args.segments + args.sequential;
    let mut report = String::from("| run | segments/s |\n| --- | --- |\n");

    // Run 1: no webhooks.
    let mut server = start(&args.spawn).await?;
    let (flow, objects) = prepare(&client, &server.url, args.segments).await?;
    let (elapsed, _) = register(
        &client,
        &server.url,
        &flow,
        &objects,
        0,
        args.segments,
        args.concurrency,
    )
    .await?;
    let base_rate = args.segments as f64 / elapsed.as_secs_f64();
    report.push_str(&format!("| no webhooks | {base_rate:.0} |\n"));
    eprintln!("no webhooks: {base_rate:.0} segments/s");
    let _ = server.child.kill().await;

    // Run 2: webhooks, one dead, the others healthy receivers of this flow's events.
    let server = start(&args.spawn).await?;
    let arrivals = Arc::new(Arrivals::default());
    let healthy = args.webhooks.saturating_sub(1) as u64;
    register_webhooks(&client, &server.url, &arrivals, args.webhooks, None).await?;
    let (flow, objects) = prepare(&client, &server.url, total).await?;
    let (elapsed, sent) = register(
        &client,
        &server.url,
        &flow,
        &objects,
        0,
        args.segments,
        args.concurrency,
    )
    .await?;
    let rate = args.segments as f64 / elapsed.as_secs_f64();
    eprintln!("{} webhooks: {rate:.0} segments/s", args.webhooks);
    report.push_str(&format!(
        "| {} webhooks: {healthy} healthy receivers, {} never answering | {rate:.0} ({:+.1}%) |\n",
        args.webhooks,
        usize::from(args.webhooks > 0),
        (rate / base_rate - 1.0) * 100.0
    ));
    let mut loaded = latencies(&arrivals, &sent, healthy, 0, args.segments).await?;
    let (_, sent_seq) = register(
        &client,
        &server.url,
        &flow,
        &objects,
        args.segments,
        total,
        1,
    )
    .await?;
    let mut quiet = latencies(&arrivals, &sent_seq, healthy, args.segments, total).await?;
    let mut server = server;
    let _ = server.child.kill().await;

    // Run 3: the same webhooks, but the healthy ones subscribe to another flow: the
    // writes pay only for matching and for the dead one.
    let mut server = start(&args.spawn).await?;
    let other = uuid::Uuid::new_v4().to_string();
    register_webhooks(&client, &server.url, &arrivals, args.webhooks, Some(&other)).await?;
    let (flow, objects) = prepare(&client, &server.url, args.segments).await?;
    let (elapsed, _) = register(
        &client,
        &server.url,
        &flow,
        &objects,
        0,
        args.segments,
        args.concurrency,
    )
    .await?;
    let rate = args.segments as f64 / elapsed.as_secs_f64();
    eprintln!(
        "{} webhooks, other flow: {rate:.0} segments/s",
        args.webhooks
    );
    report.push_str(&format!(
        "| {} webhooks: {healthy} for another flow, {} never answering | {rate:.0} ({:+.1}%) |\n",
        args.webhooks,
        usize::from(args.webhooks > 0),
        (rate / base_rate - 1.0) * 100.0
    ));
    let _ = server.child.kill().await;

    report.push_str(&format!(
        "\nEvent latency, request sent to event received ({healthy} healthy receivers):\n\n\
         | load | events | p50 | p99 | max |\n| --- | --- | --- | --- | --- |\n\
         | {} clients | {} | {} | {} | {} |\n| 1 client | {} | {} | {} | {} |\n",
        args.concurrency,
        loaded.len(),
        ms(percentile(&mut loaded, 50)),
        ms(percentile(&mut loaded, 99)),
        ms(percentile(&mut loaded, 100)),
        quiet.len(),
        ms(percentile(&mut quiet, 50)),
        ms(percentile(&mut quiet, 99)),
        ms(percentile(&mut quiet, 100)),
    ));
    println!("{report}");
    Ok(())
}
