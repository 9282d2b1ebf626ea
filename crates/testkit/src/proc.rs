//! Runs the real `bookstrack` binary as a server process.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct ServerProc {
    pub child: Child,
    pub url: String,
    pub port: u16,
}

impl ServerProc {
    /// Starts `bin serve` (the `bookstrack` binary, which only its own
    /// crate's tests can name: `env!("CARGO_BIN_EXE_bookstrack")`) and
    /// waits for its `listening on` line. Port 0 picks a free one.
    pub fn start(bin: &str, data_dir: &Path, port: u16, extra: &[&str]) -> ServerProc {
        let mut child = Command::new(bin)
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data_dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("bookstrack starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        let port = url.rsplit(':').next().unwrap().parse().unwrap();
        ServerProc { child, url, port }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
