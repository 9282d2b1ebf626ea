//! Counters served at `/metrics` in the Prometheus text format.
//!
//! Kept per server instance (not in a process-global recorder) so that several
//! servers in one test process each report their own numbers.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    pub open_sockets: AtomicI64,
    pub events_sent: AtomicU64,
    pub events_coalesced: AtomicU64,
    pub state_writes: AtomicU64,
    pub state_updates: AtomicU64,
    pub auth_failures: AtomicU64,
    pub jobs_started: AtomicU64,
    pub jobs_finished: AtomicU64,
    pub jobs_cleaned: AtomicU64,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self, store: crate::store::WriteStats) -> String {
        let mut out = String::new();
        let gauge = self.open_sockets.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP bookstrack_open_sockets WebSocket connections open now."
        );
        let _ = writeln!(out, "# TYPE bookstrack_open_sockets gauge");
        let _ = writeln!(out, "bookstrack_open_sockets {gauge}");
        let counters: [(&str, &str, &AtomicU64); 8] = [
            (
                "events_sent_total",
                "Frames written to viewers.",
                &self.events_sent,
            ),
            (
                "events_coalesced_total",
                "Progress frames replaced by a newer one for a slow viewer.",
                &self.events_coalesced,
            ),
            (
                "state_writes_total",
                "Job state checkpoints written to storage.",
                &self.state_writes,
            ),
            (
                "state_updates_total",
                "Job state changes (progress updates and transitions).",
                &self.state_updates,
            ),
            (
                "auth_failures_total",
                "Requests refused for a missing, wrong or expired token.",
                &self.auth_failures,
            ),
            ("jobs_started_total", "Jobs accepted.", &self.jobs_started),
            (
                "jobs_finished_total",
                "Jobs that reached a terminal state.",
                &self.jobs_finished,
            ),
            (
                "jobs_cleaned_total",
                "Finished jobs deleted after their retention.",
                &self.jobs_cleaned,
            ),
        ];
        let counters = counters
            .into_iter()
            .map(|(name, help, c)| (name, help, c.load(Ordering::Relaxed)));
        let store = [
            (
                "store_commits_total",
                "Storage transactions committed (each holds every write that queued meanwhile).",
                store.commits,
            ),
            (
                "store_writes_total",
                "Writes committed to storage.",
                store.writes,
            ),
            (
                "store_busy_microseconds_total",
                "Time the storage writer spent executing and committing writes.",
                store.busy_us,
            ),
        ];
        for (name, help, value) in counters.chain(store) {
            let _ = writeln!(out, "# HELP bookstrack_{name} {help}");
            let _ = writeln!(out, "# TYPE bookstrack_{name} counter");
            let _ = writeln!(out, "bookstrack_{name} {value}");
        }
        out
    }
}
