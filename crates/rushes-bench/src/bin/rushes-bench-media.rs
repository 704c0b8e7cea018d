//! `rushes-bench-media`: how fast media gets into a store.
//!
//! `import`: makes (once, cached in `--media-dir`) a test file of `--minutes` of 1080p25
//! H.264 at 8 Mbit/s with stereo AAC in MP4, then for each of `--runs` runs starts the
//! `rushes` binary (`--spawn`) with a fresh temporary data dir and imports the file
//! through `rushes_media::import::import_file` in this process, as `rushes import` does.
//! Each run reports the wall time, multiples of real time, MB/s, when the import's
//! ffmpeg ran (its child process, sampled from /proc every 50 ms) against when the last
//! segment was registered, and the CPU seconds of ffmpeg/ffprobe, of this process
//! (uploads, registration) and of the server. Before the runs it times ffmpeg alone
//! cutting the same file into MPEG-TS segments with the import's own muxer options,
//! `--runs` times (`--no-baseline` skips it), which bounds what the import can reach.
//!
//! `export`: imports the same cached file once into a fresh store, then for each of
//! `--runs` runs exports a cut of it whose both ends fall inside GOPs (by default from
//! 0.52 s to 0.52 s before the end) through `rushes_media::export::export` in this
//! process, as `rushes export` does, to MP4; each run reports the wall time, multiples of
//! real time, when the downloads ended and when the mux began, and the parts re-encoded.
//!
//! A `live` subcommand (the latency of `rushes_media::ingest`) belongs beside `import`.

#[allow(dead_code)]
#[path = "../server.rs"]
mod server;
#[path = "../testfile.rs"]
mod testfile;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use rushes_client::{Auth, Client};
use rushes_media::import::{ImportEvent, ImportOptions};
use rushes_media::Tools;
use tokio::process::Command;

use crate::server::Spawned;

#[derive(Parser, Debug)]
#[command(name = "rushes-bench-media")]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Import a generated file (`rushes import` in-process) into a fresh store per run.
    Import(ImportArgs),
    /// Export a cut of the generated file (`rushes export` in-process) from a store.
    Export(ExportArgs),
    // `Live`: ingest latency, once `rushes_media::ingest` has a benchmark.
}

#[derive(clap::Args, Debug)]
struct ImportArgs {
    /// The `rushes` binary to start (`serve --listen 127.0.0.1:0`, temporary data dir).
    #[arg(long)]
    spawn: PathBuf,
    /// Where the generated test file is kept between invocations.
    #[arg(long, default_value = "target/bench-media")]
    media_dir: PathBuf,
    /// Minutes of media in the test file.
    #[arg(long, default_value_t = 10)]
    minutes: u32,
    /// Imports, each into a fresh store.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Segment duration in seconds (as `rushes import --segment-duration`).
    #[arg(long, default_value_t = 2)]
    segment_duration: u64,
    /// Uploads in flight per flow (as `rushes import --parallel`).
    #[arg(long, default_value_t = 4)]
    parallel: usize,
    /// Directory for segment files before upload [default: the system's temporary dir].
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Extra flag for each spawned server (repeat for several).
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// Skip timing ffmpeg alone.
    #[arg(long)]
    no_baseline: bool,
}

#[derive(clap::Args, Debug)]
struct ExportArgs {
    /// The `rushes` binary to start (`serve --listen 127.0.0.1:0`, temporary data dir).
    #[arg(long)]
    spawn: PathBuf,
    /// Where the generated test file is kept between invocations.
    #[arg(long, default_value = "target/bench-media")]
    media_dir: PathBuf,
    /// Minutes of media in the test file.
    #[arg(long, default_value_t = 10)]
    minutes: u32,
    /// Exports of the same cut.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Milliseconds cut from each end of the flow (inside a GOP unless a multiple of the
    /// 2 s GOP).
    #[arg(long, default_value_t = 520)]
    trim_ms: i64,
    /// Downloads in flight (as `rushes export --parallel`).
    #[arg(long, default_value_t = 8)]
    parallel: usize,
    /// Directory for the downloads and the exported file [default: the system's
    /// temporary dir].
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    match args.command {
        Cmd::Import(a) => import(a).await,
        Cmd::Export(a) => export(a).await,
    }
}

/// `export`: one import, then `--runs` exports of a cut with both ends inside GOPs.
async fn export(a: ExportArgs) -> Result<()> {
    use rushes_client::model::{TimeRange, Timestamp};
    use rushes_media::export::{ExportEvent, ExportOptions, Target};
    let file = test_file(&a.media_dir, a.minutes).await?;
    let tools = Tools::default();
    let (server, url) = Spawned::start(&a.spawn, None, &[]).await?;
    let client = Client::new(url.as_str(), Auth::None)?;
    let work_root = a.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    let work = tempfile::Builder::new()
        .prefix("rushes-bench-export-")
        .tempdir_in(&work_root)
        .context("work dir")?;
    let t = Instant::now();
    let imported = rushes_media::import::import_file(
        &client,
        &tools,
        &file,
        &ImportOptions {
            work_dir: Some(work.path().to_path_buf()),
            ..ImportOptions::default()
        },
        &|_| {},
    )
    .await
    .context("import")?;
    println!(
        "imported {} in {:.1} s (flow {})",
        file.display(),
        t.elapsed().as_secs_f64(),
        imported.flow_id
    );
    let video = imported
        .flows
        .iter()
        .find(|f| f.plan.role == "video")
        .and_then(|f| f.timerange.as_deref())
        .context("no video flow timerange")?
        .parse::<TimeRange>()
        .map_err(|e| anyhow::anyhow!("video timerange: {e}"))?;
    let Some((Some(s), Some(e))) = video.nanos_half_open() else {
        bail!("the video flow is not bounded: {video}");
    };
    let trim = i128::from(a.trim_ms) * 1_000_000;
    let ns = |v: i128| Timestamp::from_nanos(i64::try_from(v).unwrap_or(i64::MAX));
    let cut = TimeRange::half_open(ns(s + trim), ns(e - trim));
    let media = (e - s - 2 * trim) as f64 / 1e9;
    println!(
        "same as: {} export --flow {} --timerange '{cut}' -o cut.mp4 --parallel {} --json",
        a.spawn.display(),
        imported.flow_id,
        a.parallel
    );
    let mut walls = Vec::new();
    for n in 1..=a.runs {
        let out = work.path().join(format!("cut-{n}.mp4"));
        let mut opts = ExportOptions::new(Target::Flow(imported.flow_id), cut, out.clone());
        opts.parallel = a.parallel;
        opts.work_dir = Some(work.path().to_path_buf());
        let marks = Mutex::new((None::<Duration>, None::<Duration>));
        let started = Instant::now();
        let on_event = |e: ExportEvent| {
            let at = started.elapsed();
            let Ok(mut m) = marks.lock() else { return };
            match e {
                ExportEvent::Downloaded => m.0 = Some(at),
                ExportEvent::Muxing => m.1 = Some(at),
                _ => {}
            }
        };
        let summary = rushes_media::export::export(&client, &tools, &opts, &on_event)
            .await
            .with_context(|| format!("run {n}: export"))?;
        let wall = started.elapsed().as_secs_f64();
        let (downloaded, muxing) = marks.into_inner().unwrap_or_default();
        println!(
            "run {n}: {media:.2} s of media in {wall:.2} s: {:.1}x real time; {} frames \
             ({} re-encoded), {:.1} MB; last download at {}, mux from {}",
            media / wall,
            summary.frames,
            summary.reencoded_frames,
            summary.bytes as f64 / 1e6,
            secs(downloaded),
            secs(muxing)
        );
        let _ = std::fs::remove_file(&out);
        walls.push(wall);
    }
    server.shutdown().await?;
    if walls.is_empty() {
        return Ok(());
    }
    let m = median(walls);
    println!(
        "median: {m:.2} s, {:.1}x real time; target >= 20x: {}",
        media / m,
        if media / m >= 20.0 { "met" } else { "not met" }
    );
    Ok(())
}

/// The ffmpeg arguments that make the test file (output path last).
fn generate_args(seconds: u32, out: &Path) -> Vec<String> {
    let d = seconds.to_string();
    let mut a: Vec<String> = [
        "-hide_banner",
        "-nostdin",
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
        "-b:v",
        "8M",
        "-maxrate",
        "8M",
        "-bufsize",
        "16M",
        "-g",
        "50",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "192k",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.push(out.display().to_string());
    a
}

/// The cached test file, made first if missing.
async fn test_file(dir: &Path, minutes: u32) -> Result<PathBuf> {
    let seconds = minutes
        .checked_mul(60)
        .filter(|s| *s > 0)
        .context("--minutes must be at least 1")?;
    let path = dir.join(format!("testsrc2-1080p25-{seconds}s.mp4"));
    testfile::cached(path, |out| generate_args(seconds, out)).await
}

/// CPU seconds of a process, from /proc/<pid>/stat.
#[derive(Debug, Default, Clone, Copy)]
struct Cpu {
    user: f64,
    system: f64,
    /// User + system of its children it has waited for.
    children: f64,
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;
    fn sub(self, o: Cpu) -> Cpu {
        Cpu {
            user: self.user - o.user,
            system: self.system - o.system,
            children: self.children - o.children,
        }
    }
}

/// The fields of /proc/<pid>/stat after the parenthesised command name (field 3 on).
fn stat_fields(pid: u32) -> Option<(String, Vec<String>)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    let rest = stat.get(close + 2..)?;
    Some((comm, rest.split_whitespace().map(str::to_owned).collect()))
}

fn cpu(pid: u32, tick: f64) -> Option<Cpu> {
    let (_, f) = stat_fields(pid)?;
    let n = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok());
    // utime, stime, cutime, cstime are fields 14-17 (indices 11-14 here).
    Some(Cpu {
        user: n(11)? / tick,
        system: n(12)? / tick,
        children: (n(13)? + n(14)?) / tick,
    })
}

/// Whether a child of process `parent` named `name` is running now (from the
/// `children` lists of its threads, so only this process's own children are read).
fn child_running(parent: u32, name: &str) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{parent}/task")) else {
        return false;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| c.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .any(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == name)
        })
}

async fn clock_tick() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().await;
    out.ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// When things happened during one import, from its start.
#[derive(Default, Debug)]
struct Timeline {
    planned: Option<Duration>,
    first_registered: Option<Duration>,
    last_registered: Option<Duration>,
    registered: u64,
    bytes: u64,
}

struct Run {
    wall: f64,
    media: f64,
    file_bytes: u64,
    timeline: Timeline,
    /// When this process's ffmpeg child was first and last seen running.
    ffmpeg_seen: Option<(Duration, Duration)>,
    tools_cpu: f64,
    client: Cpu,
    server: Cpu,
}

fn secs(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.1} s", d.as_secs_f64()))
        .unwrap_or_else(|| "-".into())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// ffmpeg alone: the same file cut into MPEG-TS segments with the import's muxer options.
async fn baseline(file: &Path, segment_duration: u64, work: &Path) -> Result<f64> {
    let dir = tempfile::Builder::new()
        .prefix("rushes-bench-media-")
        .tempdir_in(work)
        .context("baseline dir")?;
    let mut args: Vec<String> = ["-nostdin", "-hide_banner", "-v", "error", "-y", "-i"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(file.display().to_string());
    let offset = rushes_media::OBJECT_TIMELINE_START.as_secs().to_string();
    for (i, map) in ["0:0", "0:1"].iter().enumerate() {
        for a in [
            "-map",
            map,
            "-c",
            "copy",
            "-muxdelay",
            "0",
            "-muxpreload",
            "0",
            "-output_ts_offset",
            &offset,
            "-f",
            "segment",
            "-segment_format",
            "mpegts",
            "-segment_time",
            &segment_duration.to_string(),
            "-reset_timestamps",
            "0",
            "-segment_list_type",
            "csv",
            "-segment_list",
        ] {
            args.push(a.to_string());
        }
        args.push(dir.path().join(format!("s{i}.csv")).display().to_string());
        args.push(
            dir.path()
                .join(format!("s{i}-%06d.ts"))
                .display()
                .to_string(),
        );
    }
    let t = Instant::now();
    let status = Command::new("ffmpeg")
        .args(&args)
        .stdin(Stdio::null())
        .status()
        .await
        .context("run ffmpeg")?;
    let wall = t.elapsed().as_secs_f64();
    if !status.success() {
        bail!("ffmpeg exited with {status} in the baseline");
    }
    println!(
        "baseline: ffmpeg alone (stream copy into {segment_duration} s MPEG-TS segments, \
         no upload): {wall:.2} s"
    );
    Ok(wall)
}

async fn import(a: ImportArgs) -> Result<()> {
    let file = test_file(&a.media_dir, a.minutes).await?;
    let file_bytes = std::fs::metadata(&file)?.len();
    let tick = clock_tick().await;
    let work_root = a.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    let base = if a.no_baseline {
        None
    } else {
        let mut b = Vec::new();
        for _ in 0..a.runs.max(1) {
            b.push(baseline(&file, a.segment_duration, &work_root).await?);
        }
        Some(median(b))
    };
    let tools = Tools::default();
    let me = std::process::id();
    let mut runs = Vec::new();
    for n in 1..=a.runs {
        let (server, url) = Spawned::start(&a.spawn, None, &a.server_args).await?;
        if n == 1 {
            println!(
                "same as: {} import {} --tams-url {} --segment-duration {} --parallel {} --json",
                a.spawn.display(),
                file.display(),
                url.as_str().trim_end_matches('/'),
                a.segment_duration,
                a.parallel
            );
        }
        let client = Client::new(url.as_str(), Auth::None)?;
        let work = tempfile::Builder::new()
            .prefix("rushes-bench-media-")
            .tempdir_in(&work_root)
            .context("work dir")?;
        let opts = ImportOptions {
            segment_duration: Duration::from_secs(a.segment_duration),
            parallel: a.parallel,
            work_dir: Some(work.path().to_path_buf()),
            ..ImportOptions::default()
        };
        let timeline = Mutex::new(Timeline::default());
        let cpu0 = cpu(me, tick).unwrap_or_default();
        let started = Instant::now();
        // Samples every 50 ms whether the import's ffmpeg is running.
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let sampler = tokio::spawn(async move {
            let mut seen: Option<(Duration, Duration)> = None;
            let mut every = tokio::time::interval(Duration::from_millis(50));
            loop {
                tokio::select! {
                    _ = every.tick() => {}
                    _ = &mut stop_rx => break,
                }
                if child_running(me, "ffmpeg") {
                    let at = started.elapsed();
                    seen = Some((seen.map_or(at, |s| s.0), at));
                }
            }
            seen
        });
        let on_event = |e: ImportEvent| {
            let at = started.elapsed();
            let Ok(mut t) = timeline.lock() else { return };
            match e {
                ImportEvent::Planned { .. } => t.planned = Some(at),
                ImportEvent::Segmented(_) => {}
                ImportEvent::Registered { bytes, .. } => {
                    t.first_registered.get_or_insert(at);
                    t.last_registered = Some(at);
                    t.registered += 1;
                    t.bytes += bytes;
                }
                ImportEvent::Skipped { .. } => {}
            }
        };
        let summary = rushes_media::import::import_file(&client, &tools, &file, &opts, &on_event)
            .await
            .with_context(|| format!("run {n}: import"))?;
        let wall = started.elapsed().as_secs_f64();
        let _ = stop_tx.send(());
        let ffmpeg_seen = sampler.await.ok().flatten();
        let client_cpu = cpu(me, tick).unwrap_or_default() - cpu0;
        let server_cpu = server.pid().and_then(|p| cpu(p, tick)).unwrap_or_default();
        server.shutdown().await?;
        let timeline = timeline.into_inner().unwrap_or_default();
        let media = summary.media_duration_seconds.unwrap_or(f64::NAN);
        let segs: u64 = summary.flows.iter().map(|f| f.segments_registered).sum();
        println!(
            "run {n}: {media:.1} s of media in {wall:.2} s: {:.1}x real time, {:.1} MB/s; \
             {segs} segments in {} flows",
            media / wall,
            file_bytes as f64 / 1e6 / wall,
            summary.flows.len()
        );
        println!(
            "       planned at {}; ffmpeg running from {} to {}; first registration at {}, \
             last at {}",
            secs(timeline.planned),
            secs(ffmpeg_seen.map(|s| s.0)),
            secs(ffmpeg_seen.map(|s| s.1)),
            secs(timeline.first_registered),
            secs(timeline.last_registered)
        );
        let run = Run {
            wall,
            media,
            file_bytes,
            timeline,
            ffmpeg_seen,
            tools_cpu: client_cpu.children,
            client: client_cpu,
            server: server_cpu,
        };
        println!(
            "       CPU seconds (user + system): ffprobe+ffmpeg {:.2}, import client {:.2} + \
             {:.2}, server {:.2} + {:.2} ({} segments registered, {:.1} MB)",
            run.tools_cpu,
            run.client.user,
            run.client.system,
            run.server.user,
            run.server.system,
            run.timeline.registered,
            run.timeline.bytes as f64 / 1e6
        );
        runs.push(run);
    }
    if runs.is_empty() {
        return Ok(());
    }
    let walls: Vec<f64> = runs.iter().map(|r| r.wall).collect();
    let m = median(walls.clone());
    let media = runs[0].media;
    println!();
    println!(
        "| run | wall | x real time | MB/s | ffmpeg ran | last registered | \
         CPU s: ffmpeg / client usr+sys / server usr+sys |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (i, r) in runs.iter().enumerate() {
        println!(
            "| {} | {:.2} s | {:.1}x | {:.1} | {}–{} | {} | {:.1} / {:.1}+{:.1} / {:.1}+{:.1} |",
            i + 1,
            r.wall,
            r.media / r.wall,
            r.file_bytes as f64 / 1e6 / r.wall,
            secs(r.ffmpeg_seen.map(|s| s.0)),
            secs(r.ffmpeg_seen.map(|s| s.1)),
            secs(r.timeline.last_registered),
            r.tools_cpu,
            r.client.user,
            r.client.system,
            r.server.user,
            r.server.system
        );
    }
    println!(
        "| median | {m:.2} s | {:.1}x | {:.1} | | | |",
        media / m,
        file_bytes as f64 / 1e6 / m
    );
    if let Some(b) = base {
        println!(
            "ffmpeg alone: {b:.2} s ({:.1}x real time); the import's median is {:.1}x that",
            media / b,
            m / b
        );
    }
    println!(
        "target >= 50x real time: {}",
        if media / m >= 50.0 { "met" } else { "not met" }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn reads_own_cpu_time() {
        let c = cpu(std::process::id(), 100.0).unwrap_or(Cpu {
            user: -1.0,
            system: -1.0,
            children: -1.0,
        });
        assert!(c.user >= 0.0 && c.system >= 0.0 && c.children >= 0.0);
    }

    #[tokio::test]
    async fn sees_a_running_child_by_name() {
        let me = std::process::id();
        assert!(!child_running(me, "sleep"));
        let mut child = Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(child_running(me, "sleep"));
        let _ = child.kill().await;
    }
}
