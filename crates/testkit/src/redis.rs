//! A real `redis-server` for the tests of the Redis backend and of several
//! nodes: on 127.0.0.1, a free port, its own directory, the append-only
//! file on (the server refuses a Redis without it), stopped by its process
//! id when dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisProc {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

/// `None` when `redis-server` is not installed and this is not CI (under
/// `CI=true` a missing server fails the test; `scripts/test` installs it).
pub fn redis_server() -> Option<PathBuf> {
    let found = Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(PathBuf::from("redis-server"));
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "redis-server is missing (scripts/test installs it)"
    );
    eprintln!("SKIPPED: redis-server is not installed");
    None
}

impl RedisProc {
    /// Starts a fresh server; `None` as [`redis_server`] says.
    pub fn start() -> Option<RedisProc> {
        redis_server()?;
        let dir = tempfile::tempdir().expect("a temporary directory");
        for _ in 0..5 {
            let port = free_port();
            if let Some(child) = spawn(&dir, port, &[]) {
                return Some(RedisProc { child, port, dir });
            }
        }
        panic!("redis-server did not start on any of five free ports");
    }

    /// Starts a server with extra settings (`["--maxmemory-policy",
    /// "allkeys-lru"]`), as a wrong deployment would have it.
    pub fn start_with(extra: &[&str]) -> Option<RedisProc> {
        redis_server()?;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = free_port();
        let child = spawn(&dir, port, extra).expect("redis-server starts");
        Some(RedisProc { child, port, dir })
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL, as a crash: what the append-only file holds is all that
    /// survives.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts again on the same port and directory, reloading its file.
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn(&self.dir, self.port, &[]).expect("redis-server restarts");
    }
}

impl Drop for RedisProc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("its address").port()
}

/// Runs redis-server in the foreground, logging to its directory, and
/// waits until it answers on its port; `None` if it exited first (its port
/// was taken meanwhile).
fn spawn(dir: &tempfile::TempDir, port: u16, extra: &[&str]) -> Option<Child> {
    let mut child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .arg("--dir")
        .arg(dir.path())
        .arg("--logfile")
        .arg(dir.path().join("redis.log"))
        .args(["--appendonly", "yes", "--save", "", "--daemonize", "no"])
        .args(extra)
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server runs");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return None;
        }
        if ping(port) {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("redis-server on port {port} did not answer in 10 s");
}

/// Whether a server on `port` answers PING (it answers LOADING while it
/// reads its file back, which is not yet ready).
fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut buf = [0u8; 64];
    s.write_all(b"PING\r\n").is_ok()
        && s.read(&mut buf)
            .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
}
