//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Rushes: a Time-addressable Media Store (TAMS v8.2).
#[derive(Debug, Parser)]
#[command(name = "rushes", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the store: the TAMS API and the media endpoint on one address.
    Serve(Box<ServeArgs>),
    /// Read a password from standard input and print its argon2 hash, for the
    /// `password_hash` of a user under `[auth.basic]`.
    HashPassword,
    /// Work on media objects across storage backends (see docs/STORAGE.md).
    #[command(subcommand)]
    Objects(ObjectsCommand),
    /// Import a media file into a TAMS store: one flow per video and audio stream, under
    /// a multi-essence flow and source (see docs/MEDIA.md). Running it again on the same
    /// file finishes an interrupted import without duplicates.
    Import(Box<ImportArgs>),
    /// Ingest a live input (HLS playlist URL, srt://, udp://, rtmp://, or a device) into a
    /// TAMS store, registering each segment as soon as it is complete, on the TAI
    /// wall-clock timeline (see docs/MEDIA.md). Runs until interrupted (SIGINT/SIGTERM).
    Ingest(Box<IngestArgs>),
    /// Export a timerange of a flow or source from a TAMS store as one MP4, MOV or
    /// MPEG-TS file, cut exactly at the requested frames (see docs/MEDIA.md).
    Export(Box<ExportArgs>),
}

/// `rushes export`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["flow", "source"])))]
pub struct ExportArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The flow to export: a video or audio flow, or a multi-essence flow (its video and
    /// audio flows).
    #[arg(long)]
    pub flow: Option<String>,
    /// The source to export: its video flow and audio flows.
    #[arg(long)]
    pub source: Option<String>,
    /// The timerange on the flow timeline, e.g. `[10:0_20:0)`; an unbounded end is the
    /// flow's own.
    #[arg(long)]
    pub timerange: String,
    /// The file to write.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Container: `mp4`, `mov` or `ts` [default: from the file's extension].
    #[arg(long, value_parser = ["mp4", "mov", "ts"])]
    pub format: Option<String>,
    /// Downloads in flight.
    #[arg(long, default_value = "8")]
    pub parallel: usize,
    /// Re-encode every video frame instead of stream-copying whole GOPs (slower; for
    /// media with open GOPs).
    #[arg(long)]
    pub reencode_all: bool,
    /// Directory for the downloaded segments [default: the system's temporary directory].
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

/// `rushes ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// What ffmpeg reads: a URL, a path or a device.
    pub input: String,
    #[command(flatten)]
    pub store: StoreArgs,
    /// An ffmpeg input option (before -i), e.g. `--input-arg=-f --input-arg=v4l2`;
    /// repeat for several.
    #[arg(long = "input-arg", allow_hyphen_values = true)]
    pub input_args: Vec<String>,
    /// Segment duration in seconds.
    #[arg(long, default_value = "1")]
    pub segment_duration: f64,
    /// Label of the source and flows [default: the input]. The flows' ids derive from
    /// the input and the label, so the same command started again continues them.
    #[arg(long)]
    pub label: Option<String>,
    /// Re-encode to H.264 + AAC with a key frame at every segment.
    #[arg(long)]
    pub transcode: bool,
    /// Seconds without media before the input counts as stalled and is opened again.
    #[arg(long, default_value = "10")]
    pub stall_timeout: f64,
    /// Stop when the input ends instead of opening it again.
    #[arg(long)]
    pub no_reconnect: bool,
    /// Directory for segment files waiting for upload [default: the system's temporary
    /// directory].
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

/// How to reach a TAMS store (Rushes or another).
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The store's base URL.
    #[arg(long, env = "RUSHES_TAMS_URL", default_value = "http://127.0.0.1:8080")]
    pub tams_url: String,
    /// Bearer token for the store.
    #[arg(
        long,
        env = "RUSHES_TOKEN",
        conflicts_with = "user",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Basic authentication user (the password comes from RUSHES_PASSWORD).
    #[arg(long, env = "RUSHES_USER", requires = "password")]
    pub user: Option<String>,
    /// Basic authentication password.
    #[arg(long, env = "RUSHES_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Print a machine-readable summary (JSON) on standard output instead of text, and no
    /// progress bar.
    #[arg(long)]
    pub json: bool,
}

/// `rushes import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The media file (anything ffmpeg reads).
    pub file: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Segment duration in seconds: cut at the first key frame at or after each multiple.
    #[arg(long, default_value = "2")]
    pub segment_duration: f64,
    /// Re-encode to H.264 + AAC, for codecs MPEG-TS cannot carry as they are.
    #[arg(long)]
    pub transcode: bool,
    /// Segment container: `ts` (MPEG-TS) or `fmp4` (fragmented MP4 with init segments,
    /// bbc/tams application note 0024).
    #[arg(long, default_value = "ts", value_parser = ["ts", "fmp4"])]
    pub format: String,
    /// Place the first sample at this flow time (`SECONDS:NANOSECONDS`, or `now` for the
    /// current TAI time) instead of the media's own timestamps.
    #[arg(long)]
    pub start: Option<String>,
    /// Label of the source and flows [default: the file name].
    #[arg(long)]
    pub label: Option<String>,
    /// Uploads in flight per flow.
    #[arg(long, default_value = "4")]
    pub parallel: usize,
    /// Directory for segment files before upload [default: the system's temporary
    /// directory].
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

/// `rushes objects ...`.
#[derive(Debug, Subcommand)]
pub enum ObjectsCommand {
    /// Copy objects from one storage backend to another and register the new instances.
    /// Runs against the store's index and backends directly (no server needed); running
    /// it again skips what is already copied.
    Copy(Box<CopyArgs>),
}

/// `rushes objects copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// Object ids to copy.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub object_ids: Vec<String>,
    /// Copy every object the segments of --flow name (media and init objects).
    #[arg(long, requires = "flow")]
    pub all: bool,
    /// The flow whose objects --all copies.
    #[arg(long, requires = "all")]
    pub flow: Option<String>,
    /// Backend to copy to: its id or label.
    #[arg(long)]
    pub to: String,
    /// Backend to copy from: its id or label [default: any backend holding the object].
    #[arg(long)]
    pub from: Option<String>,
    /// The store's settings, as for `rushes serve`.
    #[command(flatten)]
    pub store: ServeArgs,
}

/// Settings of `rushes serve`. Each flag (or its environment variable) overrides the same
/// setting in the `--config` file; the defaults apply when neither gives it.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML): `[server]`, `[auth]`, `[cors]`; see docs/AUTH.md.
    #[arg(long, env = "RUSHES_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port) [default: 127.0.0.1:8080].
    #[arg(long, env = "RUSHES_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory of the store's data: the SQLite index and the media objects
    /// [default: ./rushes-data].
    #[arg(long, env = "RUSHES_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Metadata database: `postgres://user[:password]@host[:port]/db` for PostgreSQL
    /// (shared by several nodes), or `sqlite:PATH` [default: the SQLite file rushes.db
    /// under --data-dir]. See docs/DEPLOYMENT.md.
    #[arg(long, env = "RUSHES_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Default storage backend for media objects: `s3://bucket/prefix?endpoint=URL&region=R`
    /// (credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), `file:///path` or a
    /// path [default: the media directory under --data-dir]. See docs/STORAGE.md.
    #[arg(long, env = "RUSHES_OBJECT_STORE_URL")]
    pub object_store_url: Option<String>,
    /// Absolute URL clients reach this store at (for signed URLs and paging links);
    /// defaults to http://<listen address>.
    #[arg(long, env = "RUSHES_PUBLIC_URL")]
    pub public_url: Option<url::Url>,
    /// Seconds an allocated object may stay unregistered before it is collected
    /// [default: 3600].
    #[arg(long, env = "RUSHES_OBJECT_TIMEOUT")]
    pub object_timeout: Option<u64>,
    /// Seconds an object no segment references is kept before its bytes are deleted
    /// [default: 600].
    #[arg(long, env = "RUSHES_GC_GRACE")]
    pub gc_grace: Option<u64>,
    /// Seconds between runs of the background workers (deletion, garbage collection)
    /// [default: 5].
    #[arg(long, env = "RUSHES_WORKER_INTERVAL")]
    pub worker_interval: Option<u64>,
    /// Seconds a node's claim on background work (a deletion request) lasts without
    /// progress before another node takes it over [default: 60].
    #[arg(long, env = "RUSHES_WORK_LEASE")]
    pub work_lease: Option<u64>,
    /// Largest JSON request body, in bytes [default: 16777216].
    #[arg(long, env = "RUSHES_MAX_BODY")]
    pub max_body: Option<usize>,
    /// Serve without authentication on an address that is not loopback. Anyone who can
    /// reach the address can read, change and delete everything.
    #[arg(long)]
    pub insecure: bool,
    /// An origin (`https://host[:port]`, or `*`) allowed to call the store from a browser;
    /// repeat for several. Replaces `[cors] allowed_origins` of the configuration file.
    #[arg(
        long = "cors-origin",
        env = "RUSHES_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,
}
