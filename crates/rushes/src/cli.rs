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
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "RUSHES_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory of the store's data: the SQLite index and the media objects.
    #[arg(long, env = "RUSHES_DATA_DIR", default_value = "./rushes-data")]
    pub data_dir: PathBuf,
    /// Absolute URL clients reach this store at (for signed URLs and paging links);
    /// defaults to http://<listen address>.
    #[arg(long, env = "RUSHES_PUBLIC_URL")]
    pub public_url: Option<url::Url>,
    /// Seconds an allocated object may stay unregistered before it is collected.
    #[arg(long, env = "RUSHES_OBJECT_TIMEOUT", default_value_t = 3600)]
    pub object_timeout: u64,
    /// Seconds an object no segment references is kept before its bytes are deleted.
    #[arg(long, env = "RUSHES_GC_GRACE", default_value_t = 600)]
    pub gc_grace: u64,
    /// Seconds between runs of the background workers (deletion, garbage collection).
    #[arg(long, env = "RUSHES_WORKER_INTERVAL", default_value_t = 5)]
    pub worker_interval: u64,
    /// Largest JSON request body, in bytes.
    #[arg(long, env = "RUSHES_MAX_BODY", default_value_t = 16 * 1024 * 1024)]
    pub max_body: usize,
}
