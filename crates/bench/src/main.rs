//! `bookstrack-bench`: load generators and baselines that measure the
//! `bookstrack` server (BENCHMARKS.md). The server runs as a separate
//! process, the real `bookstrack serve` binary, so its memory is measured
//! alone; each benchmark reports medians of several runs next to a
//! baseline measured in the same run.

// The same allocator, with the same options, as the `bookstrack` binary:
// the load workers and the floor ran under it when they were part of that
// binary, and the figures in BENCHMARKS.md were measured so.
#[path = "../../cli/src/alloc.rs"]
mod alloc;
mod attacks;
mod enrich;
mod import;
mod load;
mod server;
mod shelves;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "bookstrack-bench",
    version,
    about = "Measure the BooksTrack service (see BENCHMARKS.md)"
)]
struct Cli {
    /// The `bookstrack` binary to run as the server; by default the one
    /// beside this executable (`cargo build --release -p bookstrack`).
    #[arg(long, env = "BOOKSTRACK_SERVER_BIN", global = true)]
    server_bin: Option<PathBuf>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand, Debug)]
enum Scenario {
    /// Import a generated Goodreads export end to end (upload → job_complete).
    Import(import::ImportArgs),
    /// Enrich books with ISBNs against a local fake Open Library that allows
    /// 3 requests/s and answers 429 beyond; then the same books again.
    Enrich(enrich::EnrichArgs),
    #[command(flatten)]
    Load(load::LoadScenario),
    /// What one client with no credentials can make the server hold or
    /// delay: each attack against a fresh server, memory and victim delay.
    Attacks(attacks::AttackArgs),
    /// The offline shelf scan on varied pictures beside one plain tesseract pass.
    Shelves(shelves::ShelvesArgs),
    /// One load-generator process (started by the scenarios above).
    #[command(hide = true)]
    Worker(load::worker::WorkerArgs),
    /// The least a server could do for `live`'s viewers (started by `live --floor`).
    #[command(hide = true)]
    Floor(load::floor::FloorArgs),
}

#[path = "../../cli/src/tracing_init.rs"]
mod tracing_init;
use tracing_init::init_tracing;

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    // The internal subcommands and the shelf scan never start a server.
    if !matches!(
        cli.scenario,
        Scenario::Worker(_) | Scenario::Floor(_) | Scenario::Shelves(_)
    ) {
        server::set_server_bin(cli.server_bin)?;
    }
    match cli.scenario {
        Scenario::Import(a) => import::import(a).await,
        Scenario::Attacks(a) => attacks::run(a).await,
        Scenario::Enrich(a) => enrich::enrich(a.books, a.runs).await,
        Scenario::Load(s) => load::run(s).await,
        Scenario::Shelves(a) => tokio::task::spawn_blocking(|| shelves::run(a)).await?,
        Scenario::Worker(a) => load::worker::run(a).await,
        Scenario::Floor(a) => tokio::task::spawn_blocking(|| load::floor::run(a)).await?,
    }
}
