//! `rushes`: the one binary of the Rushes media store.
//!
//! Thin glue: parses the command line ([`cli`]), sets up logging ([`telemetry`]) and runs
//! the chosen command. `rushes serve` merges its settings ([`config`]: the TOML file and
//! the flags) and builds the store ([`app`]); `rushes hash-password` prints the hash of a
//! basic user's password.

mod app;
mod cli;
mod config;
mod hls_parts;
mod jobs;
mod media;
mod objects;
mod telemetry;

use std::io::Read;

use anyhow::Context;
use clap::Parser;

/// The server allocates many small, short-lived values per request (JSON documents,
/// rows); mimalloc serves them faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    telemetry::init();
    match cli.command {
        cli::Command::Serve(args) => app::serve(config::Settings::from_args(*args)?).await,
        cli::Command::HashPassword => hash_password(),
        cli::Command::Objects(cli::ObjectsCommand::Copy(args)) => objects::copy(*args).await,
        cli::Command::Import(args) => media::import(*args).await,
        cli::Command::Ingest(args) => media::ingest(*args).await,
        cli::Command::Export(args) => media::export(*args).await,
    }
}

/// Reads a password from stdin (one line; the line ending is not part of it) and prints
/// its argon2id hash.
fn hash_password() -> anyhow::Result<()> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("cannot read the password from standard input")?;
    let password = input
        .strip_suffix('\n')
        .map(|p| p.strip_suffix('\r').unwrap_or(p))
        .unwrap_or(&input);
    if password.is_empty() {
        anyhow::bail!("the password on standard input is empty");
    }
    let hash = rushes_api::auth::hash_password(password)?;
    println!("{hash}");
    Ok(())
}
