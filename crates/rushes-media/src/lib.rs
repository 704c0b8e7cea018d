//! The media tools of Rushes, as a library: [`import`] (a file into flows), [`ingest`]
//! (a live input into growing flows) and [`export`] (a timerange of a flow or source to a
//! file, cut exactly). They reach a store only through `rushes-client` (the TAMS API), so
//! they work with any TAMS store; the server runs ingest and export as jobs.
//!
//! Underneath, ffprobe and ffmpeg run as typed subprocesses:
//!
//! - [`Tools`]: where ffprobe and ffmpeg are and how long one run may take. Each run is a
//!   `tokio::process` child that is killed at the timeout ([`MediaError::Timeout`]); a
//!   missing program is [`MediaError::ToolMissing`]; a failed run is
//!   [`MediaError::Failed`] with the tool's stderr.
//! - [`Tools::probe`] → [`MediaInfo`]: the container and its [`StreamInfo`]s (codec,
//!   exact rational time base and frame rates, size, sample rate, channels, bit rate,
//!   start), with the MIME names TAMS flows use ([`MediaInfo::container_mime`],
//!   [`StreamInfo::codec_mime`]), read from the media.
//! - [`Tools::packets`] → [`Packet`]s of one stream (pts, dts, duration in the stream's
//!   time base, key flag, size), parsed line by line as ffprobe prints them;
//!   [`ticks_to_timestamp`] turns a pts into TAMS nanoseconds exactly.
//! - [`Tools::segment_ts`] → [`SegmentFile`]s: stream copy into MPEG-TS segments cut at
//!   key frames, each with the first pts and end (last pts + duration) of every stream
//!   it holds, so a caller can give each segment its exact timerange.
//!
//! - [`Tools::run_segmenter`]: ffmpeg's segment muxer running live, one output per
//!   stream, each segment reported as it completes ([`CompletedSegment`]).
//! - [`FlowWriter`]: uploads a flow's segments concurrently and registers them in order.
//!
//! Times are integers in a stream's time base or [`rushes_time::Timestamp`]
//! nanoseconds; rates are [`rushes_time::Rational`]. Nothing here uses floating point.

pub mod export;
pub mod flows;
pub mod import;
pub mod ingest;
mod packets;
mod probe;
mod run;
mod segment;
mod segmenter;
mod writer;

use std::path::PathBuf;
use std::time::Duration;

pub use packets::{ticks_to_timestamp, Packet};
pub use probe::{MediaInfo, StreamInfo, StreamKind};
pub use segment::{SegmentFile, SegmentStream};
pub use segmenter::{
    mp4_timescale, nanos_to_ticks, shift_tfdt, split_fmp4, ticks_to_nanos, unwrap_ts,
    CompletedSegment, SegmentFormat, SegmentOutput, SegmenterEvent, SegmenterSpec,
    OBJECT_TIMELINE_START, TS_HZ, TS_WRAP,
};
pub use writer::{FlowWriter, SegmentToWrite, Written};

/// Why a probe, packet listing or segmenting run failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The program is not installed (or not at the configured path).
    #[error("{tool} not found (install ffmpeg, e.g. `apt-get install ffmpeg`): {source}")]
    ToolMissing {
        tool: String,
        #[source]
        source: std::io::Error,
    },
    /// The program is there but could not be started.
    #[error("could not start {tool}: {source}")]
    Spawn {
        tool: String,
        #[source]
        source: std::io::Error,
    },
    /// The program ran longer than the timeout and was killed.
    #[error("{tool} did not finish within {after:?} and was killed")]
    Timeout { tool: String, after: Duration },
    /// A live input delivered nothing for this long; ffmpeg was stopped.
    #[error("the input stalled: no media for {after:?}")]
    Stalled { after: Duration },
    /// The program exited with an error, e.g. on a file it cannot read; `stderr` is what
    /// it said.
    #[error("{tool} failed (exit code {code:?}): {stderr}")]
    Failed {
        tool: String,
        code: Option<i32>,
        stderr: String,
    },
    /// The program's output was not what this crate understands.
    #[error("unexpected output from {tool}: {message}")]
    Output { tool: String, message: String },
    /// The caller asked for something the media does not have, e.g. a stream index
    /// that is not there.
    #[error("{0}")]
    Invalid(String),
    /// Reading a pipe or a directory failed.
    #[error("I/O error: {0}")]
    Io(#[source] std::io::Error),
}

/// Why an import or an ingest stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// ffmpeg or ffprobe failed, or the media is not what the tool can handle.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// The store failed or refused a request.
    #[error(transparent)]
    Store(#[from] rushes_client::Error),
    /// The store answered, but not as the tool can go on with.
    #[error("{0}")]
    Refused(String),
    /// A local file or directory could not be used.
    #[error("{0}")]
    Local(String),
    /// Asked to stop.
    #[error("stopped")]
    Stopped,
}

/// The programs and the time one run may take.
#[derive(Debug, Clone)]
pub struct Tools {
    /// `ffprobe` (found on `PATH`) unless set.
    pub ffprobe: PathBuf,
    /// `ffmpeg` (found on `PATH`) unless set.
    pub ffmpeg: PathBuf,
    /// How long a probe or packet listing may run before it is killed.
    pub probe_timeout: Duration,
    /// How long an ffmpeg run (segmenting a whole file) may run before it is killed.
    pub ffmpeg_timeout: Duration,
}

impl Default for Tools {
    fn default() -> Tools {
        Tools {
            ffprobe: PathBuf::from("ffprobe"),
            ffmpeg: PathBuf::from("ffmpeg"),
            probe_timeout: Duration::from_secs(60),
            ffmpeg_timeout: Duration::from_secs(3600),
        }
    }
}

impl Tools {
    fn output_error(&self, tool: &std::path::Path, message: impl Into<String>) -> MediaError {
        MediaError::Output {
            tool: tool.display().to_string(),
            message: message.into(),
        }
    }
}

/// TAI seconds ahead of UTC since 2017-01-01 (application note 0008: TAMS timestamps are
/// TAI, as PTP's are, from the 1970 epoch).
pub const TAI_UTC_OFFSET_SECS: i64 = 37;

/// The current time on the TAI timeline of TAMS, from the system clock (UTC).
pub fn tai_now() -> rushes_time::Timestamp {
    let utc = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    rushes_time::Timestamp::from_nanos(utc.saturating_add(TAI_UTC_OFFSET_SECS * 1_000_000_000))
}
