//! Fair service between the sockets of one job: a client that floods its
//! socket gets at most one read budget served per turn, and the other
//! sockets of the job are served in that same turn. Asserted on what each
//! client got after one turn, not on how long anything took.

use super::*;
use crate::hub::conn::READ_MESSAGES;
use crate::hub::{HubMetrics, Protocol};
use bookstrack_protocol::Pipeline;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

use tokio::net::{TcpListener, TcpStream};

/// A masked client text frame.
fn client_text(payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [1, 2, 3, 4];
    let mut f = vec![0x81, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// A connected (client, server) pair on loopback.
async fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
    let client = TcpStream::connect(listener.local_addr().unwrap());
    let (client, server) = tokio::join!(client, listener.accept());
    (client.unwrap(), server.unwrap().0)
}

/// Waits until `n` bytes are readable on `s` (sent and not yet read).
async fn until_buffered(s: &TcpStream, n: usize) {
    let mut buf = vec![0u8; n];
    for _ in 0..2000 {
        if s.peek(&mut buf).await.unwrap() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{n} bytes never arrived");
}

/// Counts the whole server frames readable now on a client socket (once
/// tokio has seen it readable: `try_read` alone trusts readiness already
/// seen). No turn runs meanwhile: only the test polls the sockets.
async fn frames_readable(s: &TcpStream) -> usize {
    if tokio::time::timeout(Duration::from_secs(2), s.readable())
        .await
        .is_err()
    {
        return 0;
    }
    let mut bytes = Vec::new();
    let mut buf = [0u8; 65536];
    while let Ok(n) = s.try_read(&mut buf) {
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&buf[..n]);
    }
    let (mut at, mut frames) = (0, 0);
    while at + 2 <= bytes.len() {
        let len = match bytes[at + 1] {
            126 => u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]) as usize + 2,
            n => n as usize,
        };
        at += 2 + len;
        if at <= bytes.len() {
            frames += 1;
        }
    }
    frames
}

#[tokio::test]
async fn a_flooding_socket_does_not_hold_up_its_co_viewer() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (mut flood_client, flood_server) = pair(&listener).await;
    let (mut co_client, co_server) = pair(&listener).await;
    let ping = client_text(br#"{"type":"ping"}"#);
    // Far more pings than one turn serves, all waiting before the turn
    // (42 KB: within what loopback buffers hold unread).
    let pings_sent = 2000;
    let flood = ping.repeat(pings_sent);
    flood_client.write_all(&flood).await.unwrap();
    until_buffered(&flood_server, flood.len()).await;
    co_client.write_all(&ping).await.unwrap();
    until_buffered(&co_server, ping.len()).await;

    let timing = Timing {
        ping_interval: Duration::from_secs(30),
        pong_timeout: Duration::from_secs(10),
        max_message: 1024,
        max_unread_replies: usize::MAX,
    };
    let m = Arc::new(HubMetrics::default());
    let mut sockets = Sockets::new(timing, Arc::new(AtomicUsize::new(0)));
    // The flooder first: it is served before its co-viewer in each turn.
    for s in [flood_server, co_server] {
        let v = Viewer::with_socket(Protocol::V2, 64, m.clone(), s);
        sockets.add(Connection::new(v, Vec::new()));
    }
    let factory = MessageFactory::new("j", Pipeline::Synthetic);
    // One turn.
    poll_fn(|cx| {
        let _ = sockets.poll_ready(cx, Some(&factory));
        Poll::Ready(())
    })
    .await;

    assert_eq!(
        frames_readable(&co_client).await,
        1,
        "the co-viewer was answered in the first turn"
    );
    let flooder_answered =
        frames_readable(&flood_client).await + sockets.conns[0].viewer.unread_replies();
    // A turn decodes whole 1 KiB reads: at most that many pings past the count.
    let bound = READ_MESSAGES + 1024 / ping.len();
    assert!(
        flooder_answered <= bound,
        "the flooder got {flooder_answered} answers in one turn (bound {bound}) of {pings_sent}"
    );
    assert!(flooder_answered > 0, "and was served too");
}
