//! `bookstrack publish`: the publisher API (docs/PROTOCOL.md §21) for a
//! shell script. `start` creates an external job and keeps what its
//! publisher needs in a state file (mode 0600: it holds the publisher key,
//! which therefore never appears in `ps`); `progress`, `complete` and
//! `fail` publish through it.
//!
//! Each event's idempotency key is the state file's counter, which moves
//! on only once the server has answered: a command killed or failed before
//! that can simply be run again and never appends its event twice.

use anyhow::{bail, Context, Result};
use bookstrack_client::{Client, Publisher};
use bookstrack_protocol::publish::ExternalJobCreated;
use bookstrack_protocol::{ErrorCode, Pipeline};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct PublishArgs {
    #[command(subcommand)]
    command: PublishCommand,
    /// Where the job's ids, keys and key counter are kept (mode 0600).
    #[arg(
        long,
        global = true,
        env = "BOOKSTRACK_PUBLISH_STATE",
        default_value = "bookstrack-job.json"
    )]
    state: PathBuf,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
#[value(rename_all = "snake_case")]
enum PipelineArg {
    CsvImport,
    BatchEnrichment,
    AiScan,
}

#[derive(Subcommand, Debug)]
enum PublishCommand {
    /// Create an external job; prints `{"jobId", "token"}` for its viewers.
    Start {
        #[arg(long, value_enum)]
        pipeline: PipelineArg,
        /// How many items the job has, if known.
        #[arg(long)]
        total: Option<u64>,
    },
    /// Report progress: `N` or `N/M` items done; prints the event's seq.
    Progress {
        done: String,
        #[arg(long, default_value = "")]
        status: String,
        #[arg(long)]
        title: Option<String>,
    },
    /// End the job with its result (a JSON object); prints the seq.
    Complete {
        #[arg(long, default_value = "{}")]
        result: String,
        #[arg(long)]
        success: Option<u64>,
        #[arg(long)]
        failure: Option<u64>,
    },
    /// End the job with an error; prints the seq.
    Fail {
        message: String,
        #[arg(long, default_value = "PROCESSING_FAILED")]
        code: String,
    },
    /// Replace the publisher key (kept in the state file).
    RefreshKey,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct State {
    job: ExternalJobCreated,
    next_key: u64,
}

pub async fn publish(server: &str, args: PublishArgs) -> Result<ExitCode> {
    let client = Client::new(server)?;
    if let PublishCommand::Start { pipeline, total } = args.command {
        let pipeline = match pipeline {
            PipelineArg::CsvImport => Pipeline::CsvImport,
            PipelineArg::BatchEnrichment => Pipeline::BatchEnrichment,
            PipelineArg::AiScan => Pipeline::AiScan,
        };
        let p = client.create_job(pipeline, total).await?;
        save(&args.state, &p)?;
        println!("{}", json!({"jobId": p.job.job_id, "token": p.job.token}));
        return Ok(ExitCode::SUCCESS);
    }
    let state: State = serde_json::from_slice(&std::fs::read(&args.state).with_context(|| {
        format!(
            "reading {} (run `publish start` first)",
            args.state.display()
        )
    })?)
    .with_context(|| format!("{} is not a publish state file", args.state.display()))?;
    let mut p = Publisher::resume(client, state.job, state.next_key);
    let seq = match args.command {
        PublishCommand::Start { .. } => unreachable!("handled above"),
        PublishCommand::Progress {
            done,
            status,
            title,
        } => {
            let (n, total) = parse_done(&done)?;
            p.progress(n, total, status, title).await
        }
        PublishCommand::Complete {
            result,
            success,
            failure,
        } => {
            let result: Map<String, Value> =
                serde_json::from_str(&result).context("--result is not a JSON object")?;
            p.complete(result, success, failure).await
        }
        PublishCommand::Fail { message, code } => {
            let code: ErrorCode = serde_json::from_value(Value::String(code.clone()))
                .with_context(|| format!("{code} is not an error code"))?;
            p.fail(code, message).await
        }
        PublishCommand::RefreshKey => {
            p.refresh_key().await?;
            save(&args.state, &p)?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    let seq = match seq {
        Ok(seq) => seq,
        Err(e) if e.is_client_error() => {
            // Refused (stale, ended, invalid): the key was not used.
            eprintln!("error: {e}");
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    save(&args.state, &p)?;
    println!("{seq}");
    Ok(ExitCode::SUCCESS)
}

/// `N` or `N/M`.
fn parse_done(s: &str) -> Result<(u64, Option<u64>)> {
    let (n, m) = match s.split_once('/') {
        Some((n, m)) => (n, Some(m)),
        None => (s, None),
    };
    let n = n
        .trim()
        .parse()
        .with_context(|| format!("{s}: expected N or N/M"))?;
    let m = m
        .map(|m| m.trim().parse())
        .transpose()
        .with_context(|| format!("{s}: expected N or N/M"))?;
    if m.is_some_and(|m| n > m) {
        bail!("{s}: more done than there are");
    }
    Ok((n, m))
}

/// Writes the state under a unique temporary name beside it, mode 0600,
/// then renames it into place: a reader never sees half a file, and two
/// commands never write the same temporary file.
fn save(path: &Path, p: &Publisher) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".bookstrack-publish-")
        .tempfile_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    let state = State {
        job: p.job.clone(),
        next_key: p.next_key(),
    };
    tmp.write_all(&serde_json::to_vec_pretty(&state)?)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_done;

    #[test]
    fn done_reads_n_or_n_of_m() {
        assert_eq!(parse_done("3").unwrap(), (3, None));
        assert_eq!(parse_done("3/10").unwrap(), (3, Some(10)));
        assert!(parse_done("11/10").is_err());
        assert!(parse_done("x/10").is_err());
        assert!(parse_done("3/").is_err());
    }
}
