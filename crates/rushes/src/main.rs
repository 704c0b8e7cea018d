//! `rushes`: the one binary of the Rushes media store.
//!
//! Thin glue: parses the command line ([`cli`]), sets up logging ([`telemetry`]) and runs
//! the chosen command. `rushes serve` builds the store ([`app`]) and serves it.

mod app;
mod cli;
mod telemetry;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    telemetry::init();
    match cli.command {
        cli::Command::Serve(args) => app::serve(args).await,
    }
}
