//! `rushes-bench-hls`: how long `rushes serve` takes to answer HLS playlists of a long flow.
//!
//! Starts the `rushes` binary on loopback with a fresh data dir, makes one video flow of
//! `--segments` 1 s segments (default 86,400: 24 hours; each its own allocated object, as
//! an ingest makes them) with status `ingesting`, then times, over HTTP from this process:
//! the live window (`manifest.m3u8`, the last 6 segments), the whole flow on demand
//! (`?timerange=_`), and a one-hour window in the middle. Each is requested `--reps`
//! times after one warm-up; p50, p99 and max of the whole request are reported.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use uuid::Uuid;

#[derive(Parser, Debug)]
#[command(name = "rushes-bench-hls")]
struct Args {
    /// The `rushes` binary to start.
    #[arg(long)]
    spawn: PathBuf,
    /// Segments of 1 s in the flow.
    #[arg(long, default_value_t = 86_400)]
    segments: u64,
    /// Requests timed per playlist.
    #[arg(long, default_value_t = 50)]
    reps: usize,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let dir = tempfile::Builder::new()
        .prefix("rushes-bench-hls-")
        .tempdir()?;
    let mut child = Command::new(&args.spawn)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("spawn rushes")?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let mut base = None;
    while let Some(line) = lines.next_line().await? {
        if let Some(u) = line.trim().strip_prefix("rushes listening on ") {
            base = Some(u.trim_end_matches('/').to_owned());
            break;
        }
    }
    let base = base.context("no listening line")?;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let client = Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let flow = Uuid::new_v4();

    let body = json!({
        "id": flow, "source_id": Uuid::new_v4(), "format": "urn:x-nmos:format:video",
        "codec": "video/h264", "container": "video/mp2t", "status": "ingesting",
        "avg_bit_rate": 5000,
        "essence_parameters": {"frame_rate": {"numerator": 25, "denominator": 1},
            "frame_width": 1920, "frame_height": 1080}
    });
    let r = client
        .put(format!("{base}/flows/{flow}"))
        .json(&body)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("PUT flow: {}", r.status());
    }
    let started = Instant::now();
    let mut n = 0u64;
    while n < args.segments {
        let want = (args.segments - n).min(1000);
        let r = client
            .post(format!("{base}/flows/{flow}/storage"))
            .json(&json!({ "limit": want }))
            .send()
            .await?;
        let v: Value = r.json().await?;
        let objects = v["media_objects"]
            .as_array()
            .context("no media_objects")?
            .iter()
            .filter_map(|o| o["object_id"].as_str().map(str::to_owned))
            .collect::<Vec<_>>();
        let segs: Vec<Value> = objects
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let s = n + i as u64;
                json!({"object_id": o, "timerange": format!("[{s}:0_{}:0)", s + 1)})
            })
            .collect();
        let r = client
            .post(format!("{base}/flows/{flow}/segments"))
            .json(&segs)
            .send()
            .await?;
        if r.status() != StatusCode::CREATED {
            bail!("POST segments: {} {}", r.status(), r.text().await?);
        }
        n += segs.len() as u64;
    }
    eprintln!(
        "made {n} segments in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mid = args.segments / 2;
    let cases = [
        ("live window (last 6)", "".to_owned()),
        ("whole flow, on demand", "?timerange=_".to_owned()),
        (
            "whole flow, no URLs (split)",
            "?timerange=_&accept_get_urls=".to_owned(),
        ),
        (
            "one hour, on demand",
            format!("?timerange=[{mid}:0_{}:0)", mid + 3600),
        ),
    ];
    println!("| playlist | segments | bytes | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, query) in cases {
        let url = format!("{base}/hls/flows/{flow}/manifest.m3u8{query}");
        let warm = client.get(&url).send().await?;
        if warm.status() != StatusCode::OK {
            bail!("{url}: {}", warm.status());
        }
        let text = warm.text().await?;
        let count = text.matches("#EXTINF").count();
        if count == 0 && !name.contains("split") {
            bail!("{url}: no segments");
        }
        let mut times = Vec::with_capacity(args.reps);
        for _ in 0..args.reps {
            let t = Instant::now();
            let r = client.get(&url).send().await?;
            let b = r.bytes().await?;
            times.push(t.elapsed());
            if b.len() < 20 {
                bail!("short playlist");
            }
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        println!(
            "| {name} | {count} | {} | {:.2} | {:.2} | {:.2} |",
            text.len(),
            ms(at(0.5)),
            ms(at(0.99)),
            ms(times[times.len() - 1])
        );
    }
    child.kill().await.ok();
    Ok(())
}
