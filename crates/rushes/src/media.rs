//! `rushes import`, `rushes ingest` and `rushes export`: the media tools of rushes-media on the command line.

use std::time::Duration;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use rushes_client::{Auth, Client};
use rushes_media::import::{ImportEvent, ImportOptions};
use rushes_media::Tools;
use rushes_time::Timestamp;

use crate::cli::{ExportArgs, ImportArgs, IngestArgs, StoreArgs};

/// A client of the store `args` names, with its credentials.
pub fn client(args: &StoreArgs) -> anyhow::Result<Client> {
    let auth = match (&args.token, &args.user, &args.password) {
        (Some(t), _, _) => Auth::Bearer(t.clone()),
        (None, Some(u), Some(p)) => Auth::Basic {
            user: u.clone(),
            password: p.clone(),
        },
        _ => Auth::None,
    };
    Client::new(&args.tams_url, auth).with_context(|| format!("--tams-url {}", args.tams_url))
}

/// `SECONDS:NANOSECONDS`, `SECONDS`, or `now` (TAI).
pub fn parse_start(s: &str) -> anyhow::Result<Timestamp> {
    if s == "now" {
        return Ok(rushes_media::tai_now());
    }
    s.parse::<Timestamp>()
        .or_else(|_| format!("{s}:0").parse::<Timestamp>())
        .map_err(|e| anyhow::anyhow!("--start {s:?}: {e}"))
}

fn seconds(s: f64, what: &str) -> anyhow::Result<Duration> {
    if !(s.is_finite() && s > 0.0 && s <= 3600.0) {
        bail!("{what} must be above 0 and at most 3600 seconds");
    }
    Ok(Duration::from_secs_f64(s))
}

pub async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let client = client(&args.store)?;
    let opts = ImportOptions {
        segment_duration: seconds(args.segment_duration, "--segment-duration")?,
        parallel: args.parallel.clamp(1, 64),
        transcode: args.transcode,
        start: args.start.as_deref().map(parse_start).transpose()?,
        label: args.label.clone(),
        work_dir: args.work_dir.clone(),
        format: if args.format == "fmp4" {
            rushes_media::SegmentFormat::Fmp4
        } else {
            rushes_media::SegmentFormat::Ts
        },
        ..ImportOptions::default()
    };
    let bar = if args.store.json {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg:12} [{bar:30}] {pos}/{len} s of media  {per_sec}  ETA {eta}",
            )
            .context("progress bar template")?
            .progress_chars("=> "),
        );
        bar.set_message("importing");
        bar
    };
    let on_event = {
        let bar = bar.clone();
        move |e: ImportEvent| match e {
            ImportEvent::Planned { duration, .. } => {
                bar.set_length(duration.map(|d| d.as_secs()).unwrap_or(0));
            }
            ImportEvent::Segmented(d) => bar.set_position(d.as_secs()),
            ImportEvent::Registered { .. } | ImportEvent::Skipped { .. } => bar.tick(),
        }
    };
    let summary =
        rushes_media::import::import_file(&client, &Tools::default(), &args.file, &opts, &on_event)
            .await
            .with_context(|| format!("importing {}", args.file.display()))?;
    bar.finish_and_clear();
    if args.store.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("source {}  (multi-essence)", summary.source_id);
        println!("flow   {}  (multi-essence)", summary.flow_id);
        for f in &summary.flows {
            println!(
                "flow   {}  {:8} stream {}  {} segments ({} already there)  {}",
                f.plan.flow_id,
                f.plan.role,
                f.plan.stream_index,
                f.segments_registered,
                f.segments_already_there,
                f.timerange.as_deref().unwrap_or("")
            );
        }
        for s in &summary.streams_left_out {
            println!("left out stream {s}");
        }
        if let Some(d) = summary.media_duration_seconds {
            println!(
                "{:.1} s of media in {:.1} s ({:.1}x real time)",
                d,
                summary.elapsed_seconds,
                d / summary.elapsed_seconds.max(1e-9)
            );
        }
    }
    Ok(())
}

pub async fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    use rushes_media::ingest::{IngestOptions, IngestState, IngestStatus};
    let client = client(&args.store)?;
    let mut opts = IngestOptions::new(args.input.clone());
    opts.input_args = args.input_args.clone();
    opts.segment_duration = seconds(args.segment_duration, "--segment-duration")?;
    opts.label = args.label.clone();
    opts.transcode = args.transcode;
    opts.stall_timeout = seconds(args.stall_timeout, "--stall-timeout")?;
    opts.reconnect = !args.no_reconnect;
    opts.work_dir = args.work_dir.clone();

    let stop = tokio_util::sync::CancellationToken::new();
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
            stop.cancel();
        });
    }
    let (tx, mut rx) = tokio::sync::watch::channel(IngestStatus::new(&args.input));
    let json = args.store.json;
    let show = tokio::spawn(async move {
        let bar = if json {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        };
        let mut announced = false;
        while rx.changed().await.is_ok() {
            let s = rx.borrow_and_update().clone();
            if !announced {
                if let (Some(src), Some(flow)) = (s.source_id, s.flow_id) {
                    announced = true;
                    let ids = serde_json::json!({
                        "source_id": src,
                        "flow_id": flow,
                        "flows": s.flows.iter().map(|f| serde_json::json!({"flow_id": f.flow_id, "role": f.role})).collect::<Vec<_>>(),
                    });
                    if json {
                        println!("{ids}");
                    } else {
                        bar.println(format!(
                            "source {src}  (multi-essence)\nflow   {flow}  (multi-essence)"
                        ));
                        for f in &s.flows {
                            bar.println(format!("flow   {}  {}", f.flow_id, f.role));
                        }
                    }
                }
            }
            let line: Vec<String> = s
                .flows
                .iter()
                .map(|f| {
                    format!(
                        "{} {} segs to {} ({} ms)",
                        f.role,
                        f.segments,
                        f.until.as_deref().unwrap_or("-"),
                        f.last_latency_ms
                            .map(|l| l.to_string())
                            .unwrap_or_else(|| "-".into())
                    )
                })
                .collect();
            bar.set_message(format!(
                "{:?}  run {}  {}",
                s.state,
                s.runs,
                line.join("  ")
            ));
            if matches!(s.state, IngestState::Stopped | IngestState::Failed) {
                break;
            }
        }
        bar.finish_and_clear();
    });
    let outcome = rushes_media::ingest::ingest(&client, &Tools::default(), &opts, stop, tx).await;
    let _ = show.await;
    let status = outcome.with_context(|| format!("ingesting {}", args.input))?;
    if args.store.json {
        println!("{}", serde_json::to_string(&status)?);
    } else {
        for f in &status.flows {
            println!(
                "flow   {}  {:8} {} segments, {} bytes, until {}",
                f.flow_id,
                f.role,
                f.segments,
                f.bytes,
                f.until.as_deref().unwrap_or("-")
            );
        }
    }
    Ok(())
}

pub async fn export(args: ExportArgs) -> anyhow::Result<()> {
    use rushes_media::export::{Container, ExportEvent, ExportOptions, Target};
    let client = client(&args.store)?;
    let target = match (&args.flow, &args.source) {
        (Some(f), _) => Target::Flow(
            f.parse()
                .map_err(|e| anyhow::anyhow!("--flow {f:?}: {e}"))?,
        ),
        (None, Some(s)) => Target::Source(
            s.parse()
                .map_err(|e| anyhow::anyhow!("--source {s:?}: {e}"))?,
        ),
        (None, None) => bail!("give --flow or --source"),
    };
    let timerange = args
        .timerange
        .parse::<rushes_time::TimeRange>()
        .map_err(|e| anyhow::anyhow!("--timerange {:?}: {e}", args.timerange))?;
    let container = match args.format.as_deref() {
        Some(f) => Container::from_name(f),
        None => Container::from_path(&args.output),
    }
    .with_context(|| {
        format!(
            "{}: give --format mp4, mov or ts (the extension does not name one)",
            args.output.display()
        )
    })?;
    let mut opts = ExportOptions::new(target, timerange, args.output.clone());
    opts.container = container;
    opts.parallel = args.parallel.clamp(1, 64);
    opts.reencode_all = args.reencode_all;
    opts.work_dir = args.work_dir.clone();
    let bar = if args.store.json {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg:12} [{bar:30}] {pos}/{len}  ETA {eta}")
                .context("progress bar template")?
                .progress_chars("=> "),
        );
        bar.set_message("downloading");
        bar
    };
    let on_event = {
        let bar = bar.clone();
        move |e: ExportEvent| match e {
            ExportEvent::Planned { segments, pieces } => bar.set_length(segments + pieces),
            ExportEvent::Downloaded => bar.inc(1),
            ExportEvent::Cut => {
                bar.set_message("cutting");
                bar.inc(1)
            }
            ExportEvent::Muxing => bar.set_message("muxing"),
        }
    };
    let summary = rushes_media::export::export(&client, &Tools::default(), &opts, &on_event)
        .await
        .with_context(|| format!("exporting to {}", args.output.display()))?;
    bar.finish_and_clear();
    if args.store.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "{}  {}  {} frames, {:.3} s  ({} re-encoded)",
            summary.file,
            summary.timerange,
            summary.frames,
            summary.duration_seconds,
            summary.reencoded_frames
        );
        for t in &summary.tracks {
            println!(
                "flow   {}  {:6} {}  {} frames, {:.3} s from {} segments",
                t.flow_id, t.role, t.codec, t.frames, t.duration_seconds, t.segments
            );
        }
        println!(
            "{:.1} s of media in {:.1} s ({:.1}x real time)",
            summary.duration_seconds,
            summary.elapsed_seconds,
            summary.duration_seconds / summary.elapsed_seconds.max(1e-9)
        );
    }
    Ok(())
}
