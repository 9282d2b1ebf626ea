//! `bookstrack`: run the progress server, start jobs and watch them live.

mod alloc;
mod catalog;
mod import_enrich;
mod publish;
mod serve;
mod serve_limits;
mod tracing_init;
use tracing_init::init_tracing;
mod watch;
mod watch_many;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "bookstrack",
    version,
    about = "BooksTrack job-progress service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The server a command talks to.
#[derive(Args, Debug, Clone)]
struct ServerArg {
    #[arg(
        long = "server",
        env = "BOOKSTRACK_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    url: String,
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Load an Open Library editions dump (`ol_dump_editions_*.txt[.gz]`).
    Load {
        file: PathBuf,
        #[arg(long, env = "BOOKSTRACK_DATA_DIR", default_value = "bookstrack-data")]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<serve::ServeArgs>),
    /// Upload a library export to a server and show the import live.
    Import {
        file: PathBuf,
        /// Then enrich the books imported, with their own progress and summary.
        #[arg(long)]
        enrich: bool,
        #[command(flatten)]
        server: ServerArg,
        #[command(flatten)]
        out: watch::OutputArgs,
    },
    /// Start an embedded server on a free port with a temporary data dir and
    /// import FILE (or a bundled example) with a live progress bar.
    Demo {
        file: Option<PathBuf>,
        #[command(flatten)]
        out: watch::OutputArgs,
    },
    /// Enrich books with metadata: ISBNs as arguments, or a JSON file of
    /// `[{"title", "author"?, "isbn"?}]`.
    Enrich {
        /// ISBNs to enrich.
        isbns: Vec<String>,
        #[arg(long)]
        file: Option<PathBuf>,
        #[command(flatten)]
        server: ServerArg,
        #[command(flatten)]
        out: watch::OutputArgs,
    },
    /// Detect the books on shelf photos (JPEG, PNG or WebP).
    Scan {
        #[arg(required = true)]
        photos: Vec<PathBuf>,
        #[command(flatten)]
        server: ServerArg,
        #[command(flatten)]
        out: watch::OutputArgs,
    },
    /// The local catalog used for offline enrichment.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Publish the progress of a job that runs elsewhere (a shell script's
    /// worker loop): start, progress N/M, complete, fail.
    Publish {
        #[command(flatten)]
        args: publish::PublishArgs,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Follow jobs that are already running: one, or several over one
    /// socket with a bar each.
    Watch {
        #[arg(required = true)]
        job_ids: Vec<String>,
        /// Defaults to the token kept when this user started the job (one
        /// job only: several jobs use their kept tokens).
        #[arg(long, env = "BOOKSTRACK_TOKEN")]
        token: Option<String>,
        #[command(flatten)]
        server: ServerArg,
        #[command(flatten)]
        out: watch::OutputArgs,
    },
}

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
    match run(cli.command).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Serve(args) => serve::serve(*args).await.map(|()| ExitCode::SUCCESS),
        Command::Import {
            file,
            enrich: true,
            server,
            out,
        } => import_enrich::import_enrich(&server.url, &file, &out).await,
        Command::Import {
            file, server, out, ..
        } => watch::import(&server.url, &file, &out).await,
        Command::Demo { file, out } => serve::demo(file, &out).await,
        Command::Catalog(CatalogCommand::Load { file, data_dir }) => {
            catalog::load(&file, &data_dir)
                .await
                .map(|()| ExitCode::SUCCESS)
        }
        Command::Scan {
            photos,
            server,
            out,
        } => watch::scan(&server.url, &photos, &out).await,
        Command::Enrich {
            isbns,
            file,
            server,
            out,
        } => watch::enrich(&server.url, isbns, file.as_deref(), &out).await,
        Command::Publish { args, server } => publish::publish(&server.url, args).await,
        Command::Watch {
            job_ids,
            token,
            server,
            out,
        } => match job_ids.as_slice() {
            [one] => watch::watch(&server.url, one, token.as_deref(), &out).await,
            _ if token.is_some() => {
                eprintln!("error: --token follows one job; several use their kept tokens");
                Ok(ExitCode::from(2))
            }
            many => watch_many::watch_many(&server.url, many, &out).await,
        },
    }
}
