//! Running the server: bind, recover, serve, and shut down cleanly.

use crate::app::{App, AppError};
use crate::config::Config;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpSocket};

/// Connections the kernel queues before they are accepted. When thousands
/// of clients reconnect at once (a network blip), a short queue drops their
/// SYNs and each dropped one waits out TCP's 1 s, 3 s, 7 s retransmits
/// (`bookstrack-bench reconnect`). The kernel caps it at `net.core.somaxconn`.
pub const LISTEN_BACKLOG: u32 = 4096;

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Pause after a failed accept (out of file descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A server bound to its port, recovered and ready to accept.
pub struct Server {
    pub app: Arc<App>,
    listener: TcpListener,
}

impl Server {
    /// Opens the data dir, resumes interrupted jobs and binds `addr`; the
    /// caller prints the address once this returns.
    pub async fn bind(
        config: Config,
        addr: SocketAddr,
        cancel: CancellationToken,
    ) -> Result<Server, ServeError> {
        let app = App::open(config, cancel)?;
        let recovery = app.recover().await?;
        if !recovery.resumed.is_empty() || !recovery.failed.is_empty() {
            tracing::info!(
                resumed = recovery.resumed.len(),
                failed = recovery.failed.len(),
                "recovered interrupted jobs"
            );
        }
        app.spawn_cleanup();
        app.jobs
            .acks
            .spawn_writer(&app.jobs.tracker, app.jobs.cancel.clone());
        let listener = listen(addr).map_err(ServeError::Bind)?;
        if !addr.ip().is_loopback() && app.config.api_key.is_none() {
            tracing::warn!(
                %addr,
                "listening beyond loopback with no API key: anyone who reaches this port can start jobs \
                 (set --api-key-file or BOOKSTRACK_API_KEY, README \"Configuration\")"
            );
        }
        Ok(Server { app, listener })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Serves until the cancellation token fires, then waits for requests
    /// in flight, for sockets to close (1001) and for owners to checkpoint,
    /// at most `--shutdown-timeout-secs`.
    ///
    /// Connections are HTTP/1.1, served by hyper directly rather than by
    /// `axum::serve`, so that an upgraded connection hands back the bare
    /// `TcpStream` the WebSocket path writes to (see `ws::handshake`).
    pub async fn run(self) -> Result<Shutdown, ServeError> {
        let app = self.app.clone();
        let cancel = app.jobs.cancel.clone();
        let router = crate::routes::router(app.clone());
        // HTTP connections, apart from the sockets in `app.tracker`: those
        // outlive their connection's upgrade.
        let connections = TaskTracker::new();
        loop {
            let (stream, peer) = tokio::select! {
                _ = cancel.cancelled() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of descriptors, most likely: wait for some to
                        // close rather than spin.
                        tracing::warn!(error = %e, "could not accept a connection");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                },
            };
            // Each request knows its client's address (the per-client limits).
            let service = tower::ServiceExt::map_request(
                router.clone(),
                move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    req
                },
            );
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .with_upgrades();
            let cancel = cancel.clone();
            connections.spawn(async move {
                let mut conn = std::pin::pin!(conn);
                let ended = tokio::select! {
                    ended = conn.as_mut() => ended,
                    _ = cancel.cancelled() => {
                        // Finish the request in flight, then close.
                        conn.as_mut().graceful_shutdown();
                        conn.await
                    }
                };
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            });
        }
        drop(self.listener);
        connections.close();
        app.jobs.tracker.close();
        let drained = async {
            connections.wait().await;
            app.jobs.tracker.wait().await;
        };
        // `--shutdown-timeout-secs`: what has not finished by then is left;
        // interrupted jobs resume from their last checkpoint on restart.
        match tokio::time::timeout(app.config.shutdown_timeout, drained).await {
            Ok(()) => Ok(Shutdown::Clean),
            Err(_) => {
                tracing::warn!(
                    timeout_secs = app.config.shutdown_timeout.as_secs_f64(),
                    "shutdown deadline passed with work in flight; stopping anyway"
                );
                Ok(Shutdown::DeadlinePassed)
            }
        }
    }
}

/// How [`Server::run`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Every request, socket and owner finished.
    Clean,
    /// `--shutdown-timeout-secs` passed first: tasks may still be running,
    /// and the caller should exit without waiting for them.
    DeadlinePassed,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error("could not bind: {0}")]
    Bind(std::io::Error),
}
