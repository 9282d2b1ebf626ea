//! Steering a stream from another task: pause it (close with 1000, keep
//! the position), resume it (reconnect from `lastSeq`), reconnect at once
//! after a network change (skipping what is left of a backoff), or cancel
//! it. The stream watches one channel of its state, so a change made while
//! it waits on anything (a frame, a backoff) reaches it at once.

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct State {
    pub paused: bool,
    /// Bumped by each `reconnect_now`.
    pub reconnects: u64,
}

/// What the newest state asks of a stream that has acted on `seen`
/// reconnects so far: close its socket with this reason (and connect
/// again, at once, once not paused).
pub(crate) fn take_change(rx: &mut watch::Receiver<State>, seen: &mut u64) -> Option<&'static str> {
    let state = *rx.borrow_and_update();
    if state.reconnects != *seen {
        *seen = state.reconnects;
        return Some(if state.paused {
            "paused"
        } else {
            "reconnecting"
        });
    }
    state.paused.then_some("paused")
}

/// Stops, pauses, resumes or reconnects a stream from anywhere.
#[derive(Clone)]
pub struct StreamControl {
    state: watch::Sender<State>,
    cancel: CancellationToken,
}

impl StreamControl {
    pub(crate) fn new() -> (StreamControl, watch::Receiver<State>) {
        let (tx, rx) = watch::channel(State::default());
        (
            StreamControl {
                state: tx,
                cancel: CancellationToken::new(),
            },
            rx,
        )
    }

    pub(crate) fn token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Closes the socket with 1000 ("paused") and keeps the position; the
    /// stream waits until `resume`. For an app going to the background.
    pub fn pause(&self) {
        self.state.send_modify(|s| s.paused = true);
    }

    /// Reconnects from the last seq received.
    pub fn resume(&self) {
        self.state.send_modify(|s| s.paused = false);
    }

    /// The network changed: drop the connection and connect again now,
    /// without waiting out the backoff.
    pub fn reconnect_now(&self) {
        self.state.send_modify(|s| s.reconnects += 1);
    }

    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    pub fn is_paused(&self) -> bool {
        self.state.borrow().paused
    }
}
