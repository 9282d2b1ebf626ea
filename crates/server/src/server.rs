//! Running the server: bind, recover, serve, and shut down cleanly.

use crate::app::{App, AppError};
use crate::config::Config;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpSocket};

/// Connections the kernel queues before they are accepted. When thousands
/// of clients reconnect at once (a network blip), a short queue drops their
/// SYNs and each dropped one waits out TCP's 1 s, 3 s, 7 s retransmits
/// (`bookstrack bench reconnect`). The kernel caps it at `net.core.somaxconn`.
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
use tokio_util::sync::CancellationToken;

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
        let listener = listen(addr).map_err(ServeError::Bind)?;
        Ok(Server { app, listener })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Serves until the cancellation token fires, then waits for sockets
    /// to close (1001) and owners to checkpoint.
    pub async fn run(self) -> Result<(), ServeError> {
        let app = self.app.clone();
        let cancel = app.cancel.clone();
        let router = crate::http::router(app.clone());
        axum::serve(self.listener, router)
            .with_graceful_shutdown(async move { cancel.cancelled().await })
            .await
            .map_err(ServeError::Serve)?;
        app.tracker.close();
        app.tracker.wait().await;
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error("could not bind: {0}")]
    Bind(std::io::Error),
    #[error("server error: {0}")]
    Serve(std::io::Error),
}
