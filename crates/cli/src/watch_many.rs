//! `bookstrack watch JOB JOB…`: several jobs over one socket (`/ws/jobs`),
//! one progress bar each on a terminal, plain lines prefixed by the job
//! elsewhere, raw JSON with `--json`. Exit code: 0 if every job completed,
//! 1 if any failed or was refused, 3 if the connection could not be kept.

use crate::watch::{
    bar_style, options, plain, render, unit, OutputArgs, EXIT_FAILED, EXIT_GAVE_UP,
};
use anyhow::Result;
use bookstrack_client::{Client, ClientError, MuxEvent, StoredToken};
use bookstrack_protocol::Payload;
use indicatif::{MultiProgress, ProgressBar};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::process::ExitCode;

pub async fn watch_many(server: &str, job_ids: &[String], out: &OutputArgs) -> Result<ExitCode> {
    let client = Client::new(server)?;
    let opts = options();
    let mut mux = client.follow_many(opts.clone());
    for id in job_ids {
        let Some(token) = opts.tokens.get(id) else {
            anyhow::bail!("no token kept for job {id}: watch it alone with --token");
        };
        mux.add(id, StoredToken::bare(token.token));
    }
    let multi = (!out.json && std::io::stderr().is_terminal()).then(MultiProgress::new);
    let bars: HashMap<&str, ProgressBar> = match &multi {
        Some(m) => job_ids
            .iter()
            .map(|id| {
                let b = m.add(ProgressBar::new(0));
                b.set_style(bar_style());
                b.set_prefix(short(id).to_string());
                (id.as_str(), b)
            })
            .collect(),
        None => HashMap::new(),
    };
    let mut failed = false;
    while let Some(ev) = mux.next().await {
        match ev {
            Ok(MuxEvent::Event(env)) => {
                if out.json {
                    println!("{}", env.to_json());
                } else if let Some(b) = bars.get(env.job_id()) {
                    render(b, env.payload());
                    if env.payload().is_terminal() {
                        b.finish_with_message(plain(&env));
                    }
                } else {
                    println!(
                        "{} {} {}",
                        short(env.job_id()),
                        unit(env.pipeline()),
                        plain(&env)
                    );
                }
                failed |= matches!(env.payload(), Payload::Error { .. });
            }
            Ok(MuxEvent::Refused { job_id, error }) => {
                eprintln!("job {job_id} refused: {}: {}", error.code, error.message);
                if let Some(b) = bars.get(job_id.as_str()) {
                    b.abandon_with_message(format!("refused: {}", error.code));
                }
                failed = true;
            }
            Err(ClientError::GaveUp { attempts, last }) => {
                eprintln!("gave up after {attempts} reconnect attempts: {last}");
                return Ok(ExitCode::from(EXIT_GAVE_UP));
            }
            Err(e) => return Err(e.into()),
        }
    }
    if mux.reconnects > 0 && !out.json {
        eprintln!(
            "(the connection dropped; reconnected {} time(s) without losing an event)",
            mux.reconnects
        );
    }
    Ok(if failed {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

/// A job id's last eight characters: enough to tell a few jobs apart.
fn short(id: &str) -> &str {
    let at = id.len().saturating_sub(8);
    id.get(at..).unwrap_or(id)
}
