//! What the workers count and time, shared with the reporter: each producer
//! and consumer owns one [`Tally`] behind a mutex (uncontended but for the
//! reporter's once-a-second look), with an hdrhistogram of its latencies
//! for the current second and one for the whole run.

use std::sync::{Arc, Mutex, MutexGuard};

use hdrhistogram::Histogram;
use serde::Serialize;

/// The longest latency told apart (µs); longer ones count as this.
const HIGHEST_US: u64 = 3_600_000_000;

/// A latency histogram in microseconds, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, HIGHEST_US, 3).unwrap_or_else(|_| unreachable!())
}

/// One worker's counts and latencies.
pub struct Tally {
    /// Messages published (producer) or received, of any run (consumer).
    pub count: u64,
    /// Body bytes published (producer) or received (consumer).
    pub bytes: u64,
    /// Publishes the broker acked (producer with `--confirm`).
    pub confirmed: u64,
    /// Publishes the broker nacked.
    pub nacked: u64,
    /// Of those received, the deliveries of another run (or unstamped):
    /// not timed, and not this run's messages.
    pub foreign: u64,
    /// When (ns on the stamp clock) the producer finished, confirms
    /// included, or the consumer received its last message of this run.
    pub last_nanos: u64,
    /// Latencies since the reporter's last look.
    pub interval: Histogram<u64>,
    /// Latencies of the whole run.
    pub total: Histogram<u64>,
    /// Under `--rate`, the whole run's latencies corrected for coordinated
    /// omission: each one longer than the interval expected between
    /// messages also stands for those that interval says should have been
    /// timed meanwhile (HdrHistogram's expected-interval recording).
    pub corrected: Histogram<u64>,
    /// The worker thread's CPU time, at its end.
    pub cpu: std::time::Duration,
    /// How long the producer waited for confirms with a full window.
    pub confirm_wait: std::time::Duration,
    /// Deliveries waiting in the client, summed over every delivery taken.
    pub waiting_sum: u64,
    /// How many deliveries `waiting_sum` sampled.
    pub waiting_samples: u64,
    /// Every latency as recorded (µs), kept only for the test suite's
    /// check of merged percentiles: see [`RAW_ENV`].
    pub raw: Option<Vec<u64>>,
}

/// A debugging and test aid, not a feature: with this variable set to a
/// directory, a `--run-id` instance writes every latency it recorded there
/// (one file per instance and kind, one µs value a line), so that a test
/// can compute the percentiles of all of them without histograms.
pub const RAW_ENV: &str = "AMQPCTL_PERF_RAW_LATENCIES";

impl Tally {
    fn new() -> Tally {
        Tally {
            count: 0,
            bytes: 0,
            confirmed: 0,
            nacked: 0,
            foreign: 0,
            last_nanos: 0,
            interval: histogram(),
            total: histogram(),
            corrected: histogram(),
            cpu: std::time::Duration::ZERO,
            confirm_wait: std::time::Duration::ZERO,
            waiting_sum: 0,
            waiting_samples: 0,
            raw: std::env::var_os(RAW_ENV).map(|_| Vec::new()),
        }
    }

    /// Records one latency, in nanoseconds (rounded up to whole µs).
    #[cfg(test)]
    pub fn record(&mut self, nanos: u64) {
        self.record_expecting(nanos, None);
    }

    /// Records one latency, in nanoseconds (rounded up to whole µs), and
    /// with `expected` (the interval, ns, a paced run expects between the
    /// latencies this worker times) its coordinated-omission correction.
    pub fn record_expecting(&mut self, nanos: u64, expected: Option<u64>) {
        let us = nanos.div_ceil(1000).clamp(1, HIGHEST_US);
        self.interval.saturating_record(us);
        self.total.saturating_record(us);
        if let Some(interval) = expected {
            let interval = interval.div_ceil(1000).max(1);
            if self.corrected.record_correct(us, interval).is_err() {
                log::warn!("a corrected latency could not be recorded");
            }
        }
        if let Some(raw) = &mut self.raw {
            raw.push(us);
        }
    }
}

/// A worker's tally, shared with the reporter.
#[derive(Clone)]
pub struct Shared(Arc<Mutex<Tally>>);

impl Shared {
    /// A fresh, empty tally.
    pub fn new() -> Shared {
        Shared(Arc::new(Mutex::new(Tally::new())))
    }

    /// The tally, locked (a worker that panicked holding it left counts
    /// that are still the best there are).
    pub fn lock(&self) -> MutexGuard<'_, Tally> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Latency percentiles in microseconds, as the summary, `--json` and the
/// report show them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    /// How many latencies.
    pub count: u64,
    /// The smallest.
    pub min: u64,
    /// The median.
    pub p50: u64,
    /// 75th percentile.
    pub p75: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p99_9: u64,
    /// The largest.
    pub max: u64,
}

impl Percentiles {
    /// The percentiles of `h`; `None` when it holds nothing.
    pub fn of(h: &Histogram<u64>) -> Option<Percentiles> {
        if h.is_empty() {
            return None;
        }
        Some(Percentiles {
            count: h.len(),
            min: h.min(),
            p50: h.value_at_quantile(0.50),
            p75: h.value_at_quantile(0.75),
            p95: h.value_at_quantile(0.95),
            p99: h.value_at_quantile(0.99),
            p99_9: h.value_at_quantile(0.999),
            max: h.max(),
        })
    }
}

/// Adds `from` into `into` (same bounds, so it cannot fail).
pub fn merge(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    if into.add(from).is_err() {
        log::warn!("a latency histogram could not be merged");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_ordered_and_round_up_to_microseconds() {
        let shared = Shared::new();
        {
            let mut t = shared.lock();
            for nanos in [1, 999, 1_001, 5_000_000, 60_000_000_000] {
                t.record(nanos);
            }
        }
        let t = shared.lock();
        let p = Percentiles::of(&t.total).expect("samples");
        assert_eq!(p.count, 5);
        assert_eq!(p.min, 1);
        assert!(p.min <= p.p50 && p.p50 <= p.p75 && p.p75 <= p.p95);
        assert!(p.p95 <= p.p99 && p.p99 <= p.p99_9 && p.p99_9 <= p.max);
        // 60 s, within hdrhistogram's 3 significant digits.
        assert!(p.max.abs_diff(60_000_000) < 60_000_000 / 500, "{}", p.max);
        assert_eq!(Percentiles::of(&histogram()), None);
    }

    #[test]
    fn a_stall_counts_the_latencies_it_hid_in_the_corrected_histogram() {
        let mut t = Tally::new();
        // 1 ms apart, 99 fast ones and a stall of 100 ms.
        for _ in 0..99 {
            t.record_expecting(200_000, Some(1_000_000));
        }
        t.record_expecting(100_000_000, Some(1_000_000));
        t.record(5_000_000);
        assert_eq!(t.total.len(), 101);
        // The stall stands for the 99 that would have come during it, at
        // 99, 98 … 1 ms.
        assert_eq!(t.corrected.len(), 100 + 99);
        let raw = Percentiles::of(&t.total).expect("raw");
        let corrected = Percentiles::of(&t.corrected).expect("corrected");
        assert!(
            raw.p75 < 1000 && corrected.p75 > 40_000,
            "{raw:?} {corrected:?}"
        );
    }

    #[test]
    fn a_latency_beyond_an_hour_counts_as_an_hour() {
        let mut t = Tally::new();
        t.record(u64::MAX);
        assert!(t.total.max() >= HIGHEST_US);
        assert_eq!(t.total.len(), 1);
    }
}
