//! `bookstrack-bench idle|live|reconnect|persist`: a load generator in
//! processes of its own (`bookstrack-bench worker`), against a `bookstrack
//! serve` child and, side by side in the same run, nchan with the same
//! clients. `encodings` holds its viewers in this process instead
//! (`rawws`), each counting the bytes it reads.

mod encodings;
pub mod floor;
mod idle;
mod live;
mod nchan;
mod persist;
mod publish;
mod published;
mod rawws;
mod reconnect;
mod scenarios;
mod stats;
pub mod worker;

pub use scenarios::{run, LoadScenario};

use anyhow::{bail, Context, Result};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// A plain HTTP client (reqwest is built without a default TLS provider).
pub(crate) fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// The fields of `/proc/PID/stat` after the command name (which may hold
/// spaces): the first is the state, the second the parent's pid.
pub(crate) fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = s.get(s.rfind(')')? + 2..)?;
    Some(rest.split(' ').map(str::to_string).collect())
}

/// A `kB` line of `/proc/PID/status` (`VmRSS`, `VmHWM`, …), in KiB.
pub(crate) fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Direct children of a process, from /proc.
pub(crate) fn children_of(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| stat_fields(*p).and_then(|f| f.get(1)?.parse::<u32>().ok()) == Some(pid))
        .collect()
}

/// Resident memory of processes, summed, in KiB.
pub(crate) fn rss_kib(pids: &[u32]) -> u64 {
    pids.iter().filter_map(|p| status_kib(*p, "VmRSS")).sum()
}

/// A TCP connection to `server` from `source` (port chosen by the kernel).
pub(crate) async fn connect_from(
    source: std::net::IpAddr,
    server: SocketAddr,
) -> std::io::Result<tokio::net::TcpStream> {
    let socket = match source {
        std::net::IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(source, 0))?;
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// One `bookstrack-bench worker` process and its command pipe.
pub(crate) struct Worker {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Worker {
    /// Starts a worker for `urls` from source addresses 127.`1 + index`.x.1.
    pub(crate) async fn start(
        server: SocketAddr,
        index: usize,
        urls: &[String],
        dir: &Path,
        extra: &[String],
    ) -> Result<Worker> {
        let file = dir.join(format!("urls-{index}"));
        std::fs::write(&file, urls.join("\n"))?;
        let mut child = Command::new(std::env::current_exe()?)
            .args(["worker", "--server", &server.to_string(), "--source"])
            .arg(format!("127.{}.0.1", 1 + index))
            .arg("--urls")
            .arg(&file)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("could not start a load worker")?;
        let stdin = child.stdin.take().context("stdin")?;
        let lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        Ok(Worker {
            child,
            stdin,
            lines,
        })
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub(crate) async fn send(&mut self, cmd: &str) -> Result<()> {
        self.stdin.write_all(format!("{cmd}\n").as_bytes()).await?;
        self.stdin.flush().await?;
        Ok(())
    }

    pub(crate) async fn read(&mut self) -> Result<serde_json::Value> {
        match self.lines.next_line().await? {
            Some(l) => Ok(serde_json::from_str(&l)?),
            None => bail!("a load worker exited: {:?}", self.child.try_wait()),
        }
    }
}
