//! Wall-clock milliseconds that follow tokio's clock.
//!
//! Job timestamps, token expiry and the 24 h cleanup are wall-clock facts, but
//! tests need to move them with `tokio::time::pause`/`advance`. Anchoring the
//! wall clock once and adding tokio's elapsed time gives both.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn anchor() -> &'static (i64, std::time::Instant) {
    static ANCHOR: OnceLock<(i64, std::time::Instant)> = OnceLock::new();
    ANCHOR.get_or_init(|| {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_millis() as i64;
        (wall, std::time::Instant::now())
    })
}

/// Milliseconds since the Unix epoch, advanced by tokio's (possibly paused) clock.
pub fn now_ms() -> i64 {
    let (wall, at) = *anchor();
    let now = match tokio::runtime::Handle::try_current() {
        Ok(_) => tokio::time::Instant::now().into_std(),
        Err(_) => std::time::Instant::now(),
    };
    wall + now.saturating_duration_since(at).as_millis() as i64
}

/// How long from now until `deadline_ms`, zero if it has passed.
pub fn until(deadline_ms: i64) -> Duration {
    Duration::from_millis((deadline_ms - now_ms()).max(0) as u64)
}
