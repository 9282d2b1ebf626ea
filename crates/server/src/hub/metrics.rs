//! What the hub counts, as metric handles that `crate::metrics` registers
//! with the server's registry: the hub records, it does not serve.
//!
//! Counters and the gauge are prometheus-client's own (one relaxed atomic
//! add each). The latency histogram is ours: it is observed once per event
//! per viewer, and prometheus-client's `Histogram` takes a mutex for every
//! observation, where this one does two relaxed atomic adds.

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::{MetricType, TypedMetric};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Upper bounds of the socket lifetime buckets, in seconds: from a refused
/// socket's instant close to a viewer left open for hours.
const LIFETIME_BUCKETS: [f64; 11] = [
    0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0,
];

/// Upper bounds of the events-per-socket buckets: a socket that got none
/// (refused, or gone before its job started) has a bucket of its own.
const MESSAGE_BUCKETS: [f64; 11] = [
    0.0, 1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0,
];

/// Upper bounds of the publish-to-write buckets, in nanoseconds: a write the
/// kernel takes at once is microseconds; one that waited for a slow viewer's
/// socket to drain can be seconds.
const LATENCY_BUCKETS_NS: [u64; 19] = [
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// The hub's metrics. Cloning shares the handles; each server makes its
/// own, so that several servers in one process report their own numbers.
#[derive(Debug, Clone)]
pub struct HubMetrics {
    /// WebSocket connections open now.
    pub open_sockets: Gauge,
    /// Event frames written to viewers.
    pub events_sent: Counter,
    /// Progress frames replaced by a newer one for a slow viewer.
    pub events_coalesced: Counter,
    /// How long each socket stayed open, observed when it closes.
    pub socket_lifetime: Histogram,
    /// Event frames written to each socket, observed when it closes.
    pub socket_messages: Histogram,
    /// From a live event's frame being built to its last byte being taken
    /// by a viewer's socket (replayed frames are not counted).
    pub publish_to_write: LatencyHistogram,
}

impl Default for HubMetrics {
    fn default() -> Self {
        HubMetrics {
            open_sockets: Gauge::default(),
            events_sent: Counter::default(),
            events_coalesced: Counter::default(),
            socket_lifetime: Histogram::new(LIFETIME_BUCKETS),
            socket_messages: Histogram::new(MESSAGE_BUCKETS),
            publish_to_write: LatencyHistogram::default(),
        }
    }
}

/// A histogram of durations with fixed buckets and no lock: one relaxed
/// atomic add for the bucket and one for the sum. A scrape that races an
/// observation may see its bucket without its sum; Prometheus tolerates
/// that, and the next scrape is whole.
#[derive(Debug, Clone, Default)]
pub struct LatencyHistogram {
    inner: Arc<LatencyInner>,
}

#[derive(Debug, Default)]
struct LatencyInner {
    /// One per bound of `LATENCY_BUCKETS_NS`, then one for +Inf; not
    /// cumulative (the encoder adds them up).
    buckets: [AtomicU64; LATENCY_BUCKETS_NS.len() + 1],
    sum_ns: AtomicU64,
}

impl LatencyHistogram {
    pub fn observe(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let i = LATENCY_BUCKETS_NS.partition_point(|&bound| bound < ns);
        self.inner.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.inner.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Observations so far and their sum in seconds.
    pub fn count_and_sum(&self) -> (u64, f64) {
        let count = self
            .inner
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .sum();
        let sum = self.inner.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        (count, sum)
    }
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        let bounds = LATENCY_BUCKETS_NS
            .iter()
            .map(|&ns| ns as f64 / 1e9)
            .chain([f64::INFINITY]);
        let buckets: Vec<(f64, u64)> = bounds
            .zip(&self.inner.buckets)
            .map(|(bound, n)| (bound, n.load(Ordering::Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = self.inner.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::registry::{Registry, Unit};

    #[test]
    fn latency_lands_in_the_first_bucket_that_holds_it() {
        let h = LatencyHistogram::default();
        h.observe(Duration::from_micros(10));
        h.observe(Duration::from_micros(11));
        h.observe(Duration::from_secs(60));
        assert_eq!(h.inner.buckets[0].load(Ordering::Relaxed), 1);
        assert_eq!(h.inner.buckets[1].load(Ordering::Relaxed), 1);
        assert_eq!(
            h.inner.buckets[LATENCY_BUCKETS_NS.len()].load(Ordering::Relaxed),
            1
        );
        let (count, sum) = h.count_and_sum();
        assert_eq!(count, 3);
        assert!((sum - 60.000021).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn latency_encodes_as_a_cumulative_histogram() {
        let h = LatencyHistogram::default();
        h.observe(Duration::from_micros(20));
        h.observe(Duration::from_millis(3));
        let mut r = Registry::default();
        r.register_with_unit("lat", "test", Unit::Seconds, h);
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &r).unwrap();
        assert!(out.contains("# TYPE lat_seconds histogram"), "{out}");
        assert!(out.contains("lat_seconds_count 2"), "{out}");
        assert!(out.contains("lat_seconds_bucket{le=\"1e-05\"} 0"), "{out}");
        assert!(
            out.contains("lat_seconds_bucket{le=\"2.5e-05\"} 1"),
            "{out}"
        );
        assert!(out.contains("lat_seconds_bucket{le=\"0.005\"} 2"), "{out}");
        assert!(out.contains("lat_seconds_bucket{le=\"+Inf\"} 2"), "{out}");
    }
}
