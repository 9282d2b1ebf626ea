//! The metrics served at `/metrics`, in the Prometheus text format
//! (version 0.0.4), through prometheus-client.
//!
//! Kept per server instance, each with its own `Registry` (not in a
//! process-global recorder), so that several servers in one test process
//! each report their own numbers. The socket fan-out records into its own
//! `HubMetrics` (`crate::hub`), registered here beside the jobs' counters;
//! the storage writer's counters are read from the store at each scrape.

use crate::hub::HubMetrics;
use crate::store::WriteStats;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use std::sync::Arc;

/// Every name below is served with this prefix.
const PREFIX: &str = "bookstrack";

#[derive(Debug)]
pub struct Metrics {
    /// Sockets, frames and write latency, recorded by `crate::hub`.
    pub hub: Arc<HubMetrics>,
    pub state_writes: Counter,
    pub state_updates: Counter,
    pub auth_failures: Counter,
    pub jobs_started: Counter,
    pub jobs_finished: Counter,
    pub jobs_cleaned: Counter,
    /// Acks kept (docs/PROTOCOL.md §22).
    pub acks: Counter,
    /// Jobs whose terminal event was sent and not yet acknowledged.
    pub terminal_unacked: Gauge,
    /// Jobs followed over multiplexed sockets now.
    pub mux_subscriptions: Gauge,
    /// Viewers that came back with a `lastSeq`, by what they were owed.
    resumes: Family<Labels, Counter>,
    /// Token refreshes granted, by credential (viewer, publisher).
    token_refreshes: Family<Labels, Counter>,
    /// Events publishers sent, appended or recognised by their key.
    published: Family<Labels, Counter>,
    /// Published events and requests refused, by reason.
    publish_refused: Family<Labels, Counter>,
    registry: Registry,
}

type Labels = Vec<(&'static str, &'static str)>;

/// Why a publisher's event or request was refused (docs/PROTOCOL.md §21).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    StaleProgress,
    JobEnded,
    Invalid,
    RateLimited,
    TooLarge,
    TooManyJobs,
    Unauthorized,
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Refusal::StaleProgress => "stale_progress",
            Refusal::JobEnded => "job_ended",
            Refusal::Invalid => "invalid",
            Refusal::RateLimited => "rate_limited",
            Refusal::TooLarge => "too_large",
            Refusal::TooManyJobs => "too_many_jobs",
            Refusal::Unauthorized => "unauthorized",
        }
    }
}

/// What a resuming viewer was owed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeOutcome {
    /// Every event after its `lastSeq`, from memory or the log.
    Replayed,
    /// A `job_state` snapshot first: retention no longer covered the gap.
    SnapshotNeeded,
    /// Nothing: it had seen everything.
    UpToDate,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(HubMetrics::default())
    }
}

impl Metrics {
    pub fn new(hub: HubMetrics) -> Metrics {
        let mut registry = Registry::with_prefix(PREFIX);
        register_hub(&mut registry, &hub);
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let r = &mut registry;
        Metrics {
            hub: Arc::new(hub),
            state_writes: counter(
                r,
                "state_writes",
                "Job state checkpoints written to storage",
            ),
            state_updates: counter(
                r,
                "state_updates",
                "Job state changes (progress updates and transitions)",
            ),
            auth_failures: counter(
                r,
                "auth_failures",
                "Requests refused for a missing, wrong or expired token",
            ),
            jobs_started: counter(r, "jobs_started", "Jobs accepted"),
            jobs_finished: counter(r, "jobs_finished", "Jobs that reached a terminal state"),
            jobs_cleaned: counter(
                r,
                "jobs_cleaned",
                "Finished jobs deleted after their retention",
            ),
            acks: counter(r, "acks", "Client acknowledgements of a seq kept"),
            terminal_unacked: gauge(
                r,
                "terminal_unacked",
                "Jobs whose terminal event was sent to a viewer and not yet acknowledged",
            ),
            mux_subscriptions: gauge(
                r,
                "mux_subscriptions",
                "Jobs followed over multiplexed sockets now",
            ),
            resumes: family(
                r,
                "resumes",
                "Viewers that resumed with a lastSeq, by outcome",
            ),
            token_refreshes: family(
                r,
                "token_refreshes",
                "Token refreshes granted, by credential",
            ),
            published: family(r, "published_events", "Events publishers sent, by outcome"),
            publish_refused: family(
                r,
                "publish_refused",
                "Published events or publish requests refused, by reason",
            ),
            registry,
        }
    }

    pub fn inc(counter: &Counter) {
        counter.inc();
    }

    pub fn resumed(&self, outcome: ResumeOutcome) {
        let label = match outcome {
            ResumeOutcome::Replayed => "replayed",
            ResumeOutcome::SnapshotNeeded => "snapshot_needed",
            ResumeOutcome::UpToDate => "up_to_date",
        };
        self.resumes.get_or_create(&vec![("outcome", label)]).inc();
    }

    pub fn token_refreshed(&self, publisher: bool) {
        let label = if publisher { "publisher" } else { "viewer" };
        self.token_refreshes
            .get_or_create(&vec![("credential", label)])
            .inc();
    }

    pub fn published_appended(&self) {
        self.published
            .get_or_create(&vec![("outcome", "appended")])
            .inc();
    }

    pub fn published_duplicate(&self) {
        self.published
            .get_or_create(&vec![("outcome", "duplicate")])
            .inc();
    }

    pub fn refused(&self, reason: Refusal) {
        self.publish_refused
            .get_or_create(&vec![("reason", reason.label())])
            .inc();
    }

    /// The text served at `/metrics`; `store` is the storage writer's
    /// counters at this moment.
    pub fn render(&self, store: WriteStats) -> String {
        let mut out = String::new();
        prometheus_text::encode(&mut out, &self.registry).expect("a String takes every write");
        let mut now = Registry::with_prefix(PREFIX);
        now.register(
            "store_commits",
            "Storage transactions committed (each holds every write that queued meanwhile)",
            ConstCounter::new(store.commits),
        );
        now.register(
            "store_writes",
            "Writes committed to storage",
            ConstCounter::new(store.writes),
        );
        now.register(
            "store_busy_microseconds",
            "Time the storage writer spent executing and committing writes",
            ConstCounter::new(store.busy_us),
        );
        prometheus_text::encode(&mut out, &now).expect("a String takes every write");
        out
    }
}

fn gauge(r: &mut Registry, name: &str, help: &str) -> Gauge {
    let g = Gauge::default();
    r.register(name, help, g.clone());
    g
}

fn family(r: &mut Registry, name: &str, help: &str) -> Family<Labels, Counter> {
    let f = Family::<Labels, Counter>::default();
    r.register(name, help, f.clone());
    f
}

/// The hub's metrics under their served names (help texts without a final
/// period: prometheus-client adds one).
fn register_hub(r: &mut Registry, hub: &HubMetrics) {
    r.register(
        "open_sockets",
        "WebSocket connections open now",
        hub.open_sockets.clone(),
    );
    r.register(
        "events_sent",
        "Frames written to viewers",
        hub.events_sent.clone(),
    );
    r.register(
        "events_coalesced",
        "Progress frames replaced by a newer one for a slow viewer",
        hub.events_coalesced.clone(),
    );
    r.register_with_unit(
        "socket_lifetime",
        "How long each WebSocket stayed open, observed when it closes",
        Unit::Seconds,
        hub.socket_lifetime.clone(),
    );
    r.register(
        "socket_messages",
        "Event frames written to each WebSocket over its life, observed when it closes",
        hub.socket_messages.clone(),
    );
    r.register_with_unit(
        "publish_to_write",
        "From a live event's frame being built to its last byte being taken by a viewer's socket",
        Unit::Seconds,
        hub.publish_to_write.clone(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> WriteStats {
        WriteStats {
            commits: 2,
            writes: 5,
            busy_us: 70,
        }
    }

    #[test]
    fn every_metric_keeps_its_served_name_and_type() {
        let m = Metrics::default();
        Metrics::inc(&m.auth_failures);
        m.hub.open_sockets.inc();
        let text = m.render(stats());
        for (name, kind) in [
            ("bookstrack_open_sockets", "gauge"),
            ("bookstrack_events_sent_total", "counter"),
            ("bookstrack_events_coalesced_total", "counter"),
            ("bookstrack_state_writes_total", "counter"),
            ("bookstrack_state_updates_total", "counter"),
            ("bookstrack_auth_failures_total", "counter"),
            ("bookstrack_jobs_started_total", "counter"),
            ("bookstrack_jobs_finished_total", "counter"),
            ("bookstrack_jobs_cleaned_total", "counter"),
            ("bookstrack_store_commits_total", "counter"),
            ("bookstrack_store_writes_total", "counter"),
            ("bookstrack_store_busy_microseconds_total", "counter"),
            ("bookstrack_socket_lifetime_seconds", "histogram"),
            ("bookstrack_socket_messages", "histogram"),
            ("bookstrack_publish_to_write_seconds", "histogram"),
        ] {
            assert!(
                text.contains(&format!("# TYPE {name} {kind}\n")),
                "{name} {kind} in\n{text}"
            );
        }
        m.resumed(ResumeOutcome::SnapshotNeeded);
        m.token_refreshed(true);
        m.published_appended();
        m.refused(Refusal::StaleProgress);
        let text = m.render(stats());
        for line in [
            "bookstrack_resumes_total{outcome=\"snapshot_needed\"} 1",
            "bookstrack_token_refreshes_total{credential=\"publisher\"} 1",
            "bookstrack_published_events_total{outcome=\"appended\"} 1",
            "bookstrack_publish_refused_total{reason=\"stale_progress\"} 1",
            "bookstrack_open_sockets 1",
            "bookstrack_auth_failures_total 1",
            "bookstrack_store_busy_microseconds_total 70",
            "bookstrack_socket_messages_count 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(!text.contains(".."), "one period after each help text");
    }

    #[test]
    fn each_instance_counts_its_own() {
        let (a, b) = (Metrics::default(), Metrics::default());
        Metrics::inc(&a.jobs_started);
        a.hub.events_sent.inc();
        assert!(a
            .render(stats())
            .contains("bookstrack_jobs_started_total 1\n"));
        let other = b.render(stats());
        assert!(other.contains("bookstrack_jobs_started_total 0\n"));
        assert!(other.contains("bookstrack_events_sent_total 0\n"));
    }
}
