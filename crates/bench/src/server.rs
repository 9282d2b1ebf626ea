//! The processes a benchmark measures: the real `bookstrack serve` binary,
//! or this binary re-run as one of its internal subcommands (`floor`). Each
//! runs alone, so its memory and CPU are its own.

use anyhow::{Context, Result};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

/// The `bookstrack` binary that `serve`s, chosen once in `main.rs`.
static SERVER_BIN: OnceLock<PathBuf> = OnceLock::new();

/// Uses `bin` as the server binary, or else `bookstrack` beside this
/// executable: cargo puts both in the same `target/<profile>/` directory.
pub fn set_server_bin(bin: Option<PathBuf>) -> Result<()> {
    let bin = match bin {
        Some(b) => b,
        None => {
            let me = std::env::current_exe()?;
            me.with_file_name(format!("bookstrack{}", std::env::consts::EXE_SUFFIX))
        }
    };
    if !bin.is_file() {
        anyhow::bail!(
            "no server binary at {} (build it with `cargo build --release -p bookstrack`, or pass --server-bin)",
            bin.display()
        );
    }
    let _ = SERVER_BIN.set(bin);
    Ok(())
}

fn server_bin() -> Result<&'static Path> {
    SERVER_BIN
        .get()
        .map(PathBuf::as_path)
        .context("the server binary is not set")
}

/// A child process that prints `listening on URL` first: `bookstrack serve`
/// on a free port, or the floor.
pub(crate) struct ServerChild {
    child: Child,
    pub(crate) url: String,
}

impl ServerChild {
    pub(crate) fn start(data_dir: &Path) -> Result<ServerChild> {
        Self::start_with(data_dir, &[])
    }

    /// `bookstrack serve` on a free port with `data_dir` and `extra` flags.
    pub(crate) fn start_with(data_dir: &Path, extra: &[&str]) -> Result<ServerChild> {
        let mut args: Vec<&OsStr> = ["serve", "--listen", "127.0.0.1:0", "--data-dir"]
            .map(OsStr::new)
            .to_vec();
        args.push(data_dir.as_os_str());
        args.extend(extra.iter().map(OsStr::new));
        Self::spawn(server_bin()?, &args)
    }

    /// This binary again, running one of its internal subcommands.
    pub(crate) fn internal<S: AsRef<OsStr>>(args: &[S]) -> Result<ServerChild> {
        Self::spawn(&std::env::current_exe()?, args)
    }

    fn spawn<S: AsRef<OsStr>>(program: &Path, args: &[S]) -> Result<ServerChild> {
        let mut child = Command::new(program)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("could not start {}", program.display()))?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("no stdout")?).read_line(&mut line)?;
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .context("the server did not say where it listens")?
            .to_string();
        Ok(ServerChild { child, url })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has exited (reaped if so).
    pub(crate) fn exited(&mut self) -> Result<bool> {
        Ok(self.child.try_wait()?.is_some())
    }

    /// Peak resident set size so far, from the kernel's own accounting.
    pub(crate) fn peak_rss_kib(&self) -> Result<u64> {
        crate::load::status_kib(self.child.id(), "VmHWM").context("no VmHWM in /proc status")
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn median<T: Copy + PartialOrd>(mut v: Vec<T>) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).expect("comparable"));
    v[v.len() / 2]
}
