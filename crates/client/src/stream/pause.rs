//! A stream's pause, resume and reconnect-now (`StreamControl`), and the
//! terminal event's acknowledgement on the socket it came on.

use super::JobStream;
use crate::control::take_change;
use crate::wire::close;
use bookstrack_protocol::ClientMessage;
use futures_util::SinkExt;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

impl JobStream {
    /// Acts on a pause, a resume or a `reconnect_now`.
    pub(super) async fn on_control(&mut self) {
        if let Some(reason) = take_change(&mut self.state, &mut self.reconnects_seen) {
            self.close_socket(reason).await;
            self.connect_now = true;
        }
    }

    pub(super) async fn wait_resumed(&mut self) {
        let cancel = self.cancel.clone();
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = self.state.wait_for(|s| !s.paused) => {}
        }
        self.connect_now = true;
    }

    /// Closes with 1000 and `reason`, without waiting for the server's
    /// answer: the position is kept, and the next connection resumes.
    pub(super) async fn close_socket(&mut self, reason: &str) {
        close(self.socket.take(), reason).await;
    }

    /// Tells the server the terminal event arrived (docs/PROTOCOL.md §22).
    pub(super) async fn acknowledge(&mut self, seq: u64) {
        let Some(mut ws) = self.closing.take() else {
            return;
        };
        let ack = serde_json::to_string(&ClientMessage::Ack { seq }).expect("serialises");
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            ws.send(Message::text(ack)).await?;
            ws.close(None).await
        })
        .await;
    }
}
