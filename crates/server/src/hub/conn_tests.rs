//! A socket's keepalive, expiry and reply bound, on a viewer with no
//! stream (every frame it is given waits in its queue) and turns at
//! instants the test picks: no clock is waited on.

use super::*;
use crate::hub::{HubMetrics, Viewer};
use bookstrack_protocol::Pipeline;
use std::sync::Arc;
use std::time::Duration;

const TIMING: Timing = Timing {
    ping_interval: Duration::from_secs(30),
    pong_timeout: Duration::from_secs(10),
    max_message: 1024,
    max_unread_replies: 4,
};

fn conn(expires: Option<Instant>) -> Conn {
    let viewer = Viewer::new(Protocol::V2, 64, Arc::new(HubMetrics::default()));
    let c = Connection {
        expires,
        ..Connection::new(viewer, Vec::new())
    };
    Conn::new(c, TIMING)
}

fn turn(now: Instant, factory: &MessageFactory) -> Turn<'_> {
    Turn {
        now,
        factory: Some(factory),
        timing: TIMING,
        end: (CLOSE_NORMAL, "job finished"),
        acks: None,
    }
}

fn pings(n: usize) -> Vec<Incoming> {
    (0..n)
        .map(|_| Incoming::Text(r#"{"type":"ping"}"#.into()))
        .collect()
}

#[test]
fn a_silent_socket_is_pinged_after_the_interval_then_closed_1001() {
    let f = MessageFactory::new("j", Pipeline::Synthetic);
    let mut c = conn(None);
    let t0 = c.heard;
    assert_eq!(
        c.wake(),
        t0 + TIMING.ping_interval,
        "the first tick is at 30 s"
    );
    assert!(c.keep_time(&turn(t0 + Duration::from_secs(29), &f)));
    assert_eq!(c.viewer.queued(), 0, "no ping before 30 s of silence");
    assert!(c.keep_time(&turn(t0 + TIMING.ping_interval, &f)));
    assert_eq!(c.viewer.queued(), 1, "pinged at 30 s, not 60 s");
    assert!(c.awaiting_pong && !c.closing);
    let deadline = t0 + TIMING.ping_interval + TIMING.pong_timeout;
    assert_eq!(c.wake(), deadline);
    assert!(c.keep_time(&turn(deadline, &f)));
    assert!(c.closing, "no answer within the pong timeout: closed");
    assert_eq!(c.viewer.queued(), 2, "with a close frame, not dropped");
    // The close frame has its grace to drain, then the socket goes.
    assert!(!c.keep_time(&turn(deadline + CLOSE_GRACE * 2, &f)));
}

#[test]
fn a_client_heard_from_is_pinged_30_s_after_it_last_spoke() {
    let f = MessageFactory::new("j", Pipeline::Synthetic);
    let mut c = conn(None);
    let t0 = c.heard;
    let spoke = t0 + Duration::from_secs(20);
    let mut ready = false;
    assert!(c.answer(
        vec![Incoming::Pong],
        &turn(spoke, &f),
        Answer::Job(&mut ready)
    ));
    assert!(c.keep_time(&turn(t0 + TIMING.ping_interval, &f)));
    assert_eq!(c.viewer.queued(), 0, "heard 10 s ago: not yet");
    assert_eq!(c.wake(), spoke + TIMING.ping_interval);
    assert!(c.keep_time(&turn(spoke + TIMING.ping_interval, &f)));
    assert_eq!(c.viewer.queued(), 1);
}

#[test]
fn an_expired_token_closes_the_socket_4001() {
    let f = MessageFactory::new("j", Pipeline::Synthetic);
    let t0 = Instant::now();
    let expires = t0 + Duration::from_secs(5);
    let mut c = conn(Some(expires));
    assert_eq!(c.wake(), expires, "the expiry comes before the first ping");
    assert!(c.keep_time(&turn(expires - Duration::from_millis(1), &f)));
    assert!(!c.closing);
    assert!(c.keep_time(&turn(expires, &f)));
    assert!(c.closing);
    assert_eq!(c.viewer.queued(), 1, "the close frame");
}

#[test]
fn replies_left_unread_are_bounded_at_the_limit() {
    let f = MessageFactory::new("j", Pipeline::Synthetic);
    let mut c = conn(None);
    let now = c.heard;
    let mut ready = false;
    let max = TIMING.max_unread_replies;
    assert!(c.answer(pings(max), &turn(now, &f), Answer::Job(&mut ready)));
    assert_eq!(c.viewer.unread_replies(), max);
    assert!(!c.closing, "at the limit: every ping answered");
    assert!(c.answer(pings(1), &turn(now, &f), Answer::Job(&mut ready)));
    assert!(c.closing, "one past it: closed");
    assert_eq!(
        c.viewer.queued(),
        max + 1,
        "the replies, then the 1008 close"
    );
    assert!(c.answer(pings(100), &turn(now, &f), Answer::Job(&mut ready)));
    assert_eq!(c.viewer.queued(), max + 1, "nothing queued after the close");
}
