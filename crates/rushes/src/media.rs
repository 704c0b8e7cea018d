//! `rushes import` and `rushes ingest`: the media tools of rushes-media on the command line.

use std::time::Duration;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use rushes_client::{Auth, Client};
use rushes_media::import::{ImportEvent, ImportOptions};
use rushes_media::Tools;
use rushes_time::Timestamp;

use crate::cli::{ImportArgs, StoreArgs};

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
