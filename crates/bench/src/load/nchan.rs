//! The baseline: nchan (nginx's pub/sub module) on loopback, started from a
//! config written into a temporary prefix, as `nginx -p DIR -c DIR/nginx.conf`.

use anyhow::{bail, Context, Result};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NGINX: &str = "/usr/sbin/nginx";
const NCHAN_MODULE: &str = "/usr/lib/nginx/modules/ngx_nchan_module.so";

pub fn available() -> bool {
    Path::new(NGINX).exists() && Path::new(NCHAN_MODULE).exists()
}

pub struct Nchan {
    child: Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

/// Connections each nginx worker can hold: enough for `bench idle`'s
/// 19,000 sockets, whichever worker takes them.
pub const WORKER_CONNECTIONS: usize = 20_000;

/// nginx's own default, for measuring what the larger setting costs.
const SMALL_WORKER_CONNECTIONS: usize = 512;

fn config(dir: &Path, port: u16, worker_connections: usize) -> String {
    let d = dir.display();
    format!(
        "daemon off;
worker_processes auto;
worker_rlimit_nofile 20000;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
load_module {NCHAN_MODULE};
events {{ worker_connections {worker_connections}; }}
http {{
    access_log off;
    # The publishers keep their connections: nginx's default closes one
    # after 1000 requests.
    keepalive_requests 100000000;
    keepalive_timeout 600s;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    nchan_shared_memory_size 256M;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location ~ ^/pub/(\\w+)$ {{
            nchan_publisher;
            nchan_channel_id $1;
        }}
        location ~ ^/sub/(\\w+)$ {{
            nchan_subscriber websocket;
            nchan_channel_id $1;
        }}
    }}
}}
"
    )
}

impl Nchan {
    pub fn start() -> Result<Nchan> {
        Self::start_with(WORKER_CONNECTIONS)
    }

    fn start_with(worker_connections: usize) -> Result<Nchan> {
        if !available() {
            bail!("nchan is not installed: apt-get install nginx-light libnginx-mod-nchan");
        }
        let dir = tempfile::tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let conf: PathBuf = dir.path().join("nginx.conf");
        std::fs::write(&conf, config(dir.path(), port, worker_connections))?;
        let child = Command::new(NGINX)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .spawn()
            .context("could not start nginx")?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let t = Instant::now();
        while TcpStream::connect(addr).is_err() {
            if t.elapsed() > Duration::from_secs(10) {
                bail!(
                    "nginx did not start: see {}/error.log",
                    dir.path().display()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Nchan {
            child,
            addr,
            _dir: dir,
        })
    }

    /// What one connection slot costs nginx, in KiB of RSS: each worker
    /// allocates and initialises a connection and two events for every
    /// slot of `worker_connections` when it starts, so a subscriber's slot
    /// is resident before the subscriber comes. Measured as the RSS of a
    /// fresh nginx with `WORKER_CONNECTIONS` against one with nginx's
    /// default.
    pub fn slot_kib() -> Result<f64> {
        let rss = |n: usize| -> Result<(u64, usize)> {
            let ng = Self::start_with(n)?;
            let t = Instant::now();
            while ng.pids().len() < 2 && t.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(300));
            let pids = ng.pids();
            Ok((super::rss_kib(&pids), pids.len() - 1))
        };
        let (small, _) = rss(SMALL_WORKER_CONNECTIONS)?;
        let (large, workers) = rss(WORKER_CONNECTIONS)?;
        let slots = (WORKER_CONNECTIONS - SMALL_WORKER_CONNECTIONS) * workers.max(1);
        Ok(large.saturating_sub(small) as f64 / slots as f64)
    }

    /// The master and its workers.
    pub fn pids(&self) -> Vec<u32> {
        let master = self.child.id();
        let mut pids = vec![master];
        pids.extend(super::children_of(master));
        pids
    }
}

impl Drop for Nchan {
    fn drop(&mut self) {
        // SIGQUIT would wait for subscribers; the bench is done with them.
        let workers = super::children_of(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in workers {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
    }
}
