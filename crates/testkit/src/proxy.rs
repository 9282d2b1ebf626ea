//! A TCP proxy for tests: forwards to a target, and can cut every live
//! connection or refuse new ones, to play a flaky network.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    pub addr: SocketAddr,
    cut: watch::Sender<u64>,
    refusing: Arc<AtomicBool>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, _) = watch::channel(0u64);
        let refusing = Arc::new(AtomicBool::new(false));
        let (cut_tx, refuse) = (cut.clone(), refusing.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if refuse.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let mut cut_rx = cut_tx.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut_rx.changed() => {}
                    }
                });
            }
        });
        Proxy {
            addr,
            cut,
            refusing,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Drops every connection now open, without a close handshake.
    pub fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    /// New connections are accepted and dropped at once while refusing.
    pub fn refuse(&self, yes: bool) {
        self.refusing.store(yes, Ordering::SeqCst);
    }
}
