//! What a load-generator worker counts: frames, seq gaps and repeats, and a
//! latency histogram from the moment an event was published (the stamp it
//! carries) to the moment it was read here.

use serde::Deserialize;
use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Histogram resolution and range: 10 µs buckets up to 200 ms; slower
/// events land in the last bucket and are reported as ≥ 200 ms.
const BUCKET_US: u64 = 10;
const BUCKETS: usize = 20_000;

pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as u64
}

/// The parts of an event the load generator reads. Both targets send the
/// same envelope: BooksTrack's own, and the copy the bench publishes to nchan.
pub struct Probe {
    pub seq: Option<u64>,
    /// `job_state` snapshot: the server could not replay the gap.
    pub snapshot: bool,
    pub stamp_us: Option<u64>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    seq: Option<u64>,
    #[serde(borrow)]
    payload: Option<Payload<'a>>,
}

#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(rename = "currentTitle", borrow)]
    current_title: Option<Cow<'a, str>>,
}

impl Probe {
    pub fn parse(text: &str) -> Option<Probe> {
        let env: Envelope<'_> = serde_json::from_str(text).ok()?;
        Some(Probe {
            seq: env.seq,
            snapshot: env.kind == "job_state",
            stamp_us: env
                .payload
                .and_then(|p| p.current_title)
                .and_then(|t| t.parse().ok()),
        })
    }
}

pub struct Stats {
    pub frames: AtomicU64,
    pub gaps: AtomicU64,
    pub repeats: AtomicU64,
    pub snapshots: AtomicU64,
    pub connect_errors: AtomicU64,
    hist: Vec<AtomicU64>,
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            frames: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            repeats: AtomicU64::new(0),
            snapshots: AtomicU64::new(0),
            connect_errors: AtomicU64::new(0),
            hist: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Counts one frame of a viewer whose last seen seq is `last`.
    pub fn record(&self, p: &Probe, last: &mut u64) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        if p.snapshot {
            self.snapshots.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(seq) = p.seq {
            if seq <= *last {
                self.repeats.fetch_add(1, Ordering::Relaxed);
                return;
            }
            if seq > *last + 1 && *last != 0 {
                self.gaps.fetch_add(seq - *last - 1, Ordering::Relaxed);
            }
            *last = seq;
        }
        if let Some(t) = p.stamp_us {
            let us = now_us().saturating_sub(t);
            let b = ((us / BUCKET_US) as usize).min(BUCKETS - 1);
            self.hist[b].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Everything counted since the previous call, as one JSON line; the
    /// histogram is sent as (bucket, count) pairs of its non-empty buckets.
    pub fn take(&self) -> String {
        let hist: Vec<(usize, u64)> = self
            .hist
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let n = c.swap(0, Ordering::Relaxed);
                (n > 0).then_some((i, n))
            })
            .collect();
        serde_json::json!({
            "frames": self.frames.swap(0, Ordering::Relaxed),
            "gaps": self.gaps.swap(0, Ordering::Relaxed),
            "repeats": self.repeats.swap(0, Ordering::Relaxed),
            "snapshots": self.snapshots.swap(0, Ordering::Relaxed),
            "connectErrors": self.connect_errors.swap(0, Ordering::Relaxed),
            "hist": hist,
        })
        .to_string()
    }
}

/// Latency percentiles over merged (bucket, count) pairs, in milliseconds.
pub fn percentiles(hist: &[(usize, u64)], ps: &[f64]) -> Vec<f64> {
    let mut merged = vec![0u64; BUCKETS];
    for &(b, n) in hist {
        merged[b.min(BUCKETS - 1)] += n;
    }
    let total: u64 = merged.iter().sum();
    ps.iter()
        .map(|p| {
            let want = ((total as f64) * p).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, n) in merged.iter().enumerate() {
                seen += n;
                if seen >= want {
                    return ((i as u64 + 1) * BUCKET_US) as f64 / 1000.0;
                }
            }
            f64::NAN
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_reads_seq_and_stamp() {
        let p = Probe::parse(
            r#"{"type":"job_progress","jobId":"j","pipeline":"csv_import","timestamp":1,"version":"1.0.0","seq":7,"payload":{"type":"job_progress","progress":0.1,"status":"s","currentTitle":"1700000000000000"}}"#,
        )
        .unwrap();
        assert_eq!(
            (p.seq, p.stamp_us, p.snapshot),
            (Some(7), Some(1_700_000_000_000_000), false)
        );
    }

    #[test]
    fn gaps_and_repeats_are_counted() {
        let s = Stats::new();
        let mut last = 0;
        for seq in [1, 2, 2, 5] {
            s.record(
                &Probe {
                    seq: Some(seq),
                    snapshot: false,
                    stamp_us: None,
                },
                &mut last,
            );
        }
        assert_eq!(s.gaps.load(Ordering::Relaxed), 2);
        assert_eq!(s.repeats.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn percentiles_walk_the_buckets() {
        let hist = vec![(0, 98), (100, 1), (500, 1)];
        let p = percentiles(&hist, &[0.5, 0.99, 1.0]);
        assert_eq!(p, vec![0.01, 1.01, 5.01]);
    }
}
