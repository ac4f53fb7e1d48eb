//! The summary at the end of a run, on stdout as text lines or one JSON
//! object (what `--json` prints, and the HTML report shows); and the error
//! of a run that lost messages.

use serde::Serialize;

use super::PerfSpec;
use super::report::{Reporter, ms};
use super::stats::Percentiles;
use crate::cmd::io::output::Lines;
use crate::error::Error;

/// The summary of a run: what `--json` prints, and the text and the report
/// show.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// `--producers`.
    pub producers: u32,
    /// `--consumers`.
    pub consumers: u32,
    /// The queue.
    pub queue: String,
    /// Its type.
    pub queue_type: &'static str,
    /// `--size`.
    pub size: usize,
    /// Whether `--confirm` was on.
    pub confirm: bool,
    /// Seconds from the producers' start to the end of the run.
    pub elapsed_secs: f64,
    /// Messages published.
    pub sent: u64,
    /// Publishes the broker acked.
    pub confirmed: u64,
    /// Publishes the broker nacked.
    pub nacked: u64,
    /// Messages received, of any run.
    pub received: u64,
    /// Of those, the deliveries of other runs (other publishers, or a
    /// queue's earlier messages): not timed, and not this run's.
    pub foreign: u64,
    /// Sent over the producers' time (from the start until the last one
    /// had published and, with `--confirm`, seen its confirms).
    pub sent_per_sec: f64,
    /// Confirmed over the same time.
    pub confirmed_per_sec: f64,
    /// Received over the consumers' time (from the start to the last
    /// delivery).
    pub received_per_sec: f64,
    /// Confirm latency, µs.
    pub confirm_latency_us: Option<Percentiles>,
    /// End-to-end latency, µs.
    pub e2e_latency_us: Option<Percentiles>,
    /// Whether a signal stopped the run.
    pub interrupted: bool,
    /// Deliveries each message makes when nothing is lost: one per
    /// consumer on a stream, else one.
    pub deliveries_per_message: u64,
}

impl Summary {
    /// The summary of `reporter`'s tallies, the producers having started
    /// at `start` (ns on the stamp clock).
    pub fn of(spec: &PerfSpec, reporter: &Reporter, start: u64, interrupted: bool) -> Summary {
        let sent = reporter.sum(true, |t| t.count);
        let confirmed = reporter.sum(true, |t| t.confirmed);
        let received = reporter.sum(false, |t| t.count);
        let per_sec = |n: u64, end: u64| {
            let secs = end.saturating_sub(start) as f64 / 1e9;
            if n == 0 || secs <= 0.0 {
                0.0
            } else {
                n as f64 / secs
            }
        };
        let send_end = reporter.latest(true);
        Summary {
            producers: spec.producers,
            consumers: spec.consumers,
            queue: spec.queue.clone(),
            queue_type: spec.queue_type.name(),
            size: spec.size,
            confirm: spec.confirm.is_some(),
            elapsed_secs: reporter.started.elapsed().as_secs_f64(),
            sent,
            confirmed,
            nacked: reporter.sum(true, |t| t.nacked),
            received,
            foreign: reporter.sum(false, |t| t.foreign),
            sent_per_sec: per_sec(sent, send_end),
            confirmed_per_sec: per_sec(confirmed, send_end),
            received_per_sec: per_sec(received, reporter.latest(false)),
            confirm_latency_us: Percentiles::of(&reporter.confirm_histogram()),
            e2e_latency_us: Percentiles::of(&reporter.e2e_histogram()),
            interrupted,
            deliveries_per_message: spec.deliveries_per_message(),
        }
    }

    /// The error of a run that ended by itself with messages missing (or
    /// more received than sent).
    pub fn loss(&self) -> Option<Error> {
        let ours = self.received - self.foreign;
        let expected = self.sent * self.deliveries_per_message;
        let lost =
            !self.interrupted && self.producers > 0 && self.consumers > 0 && ours != expected;
        lost.then_some(Error::Lost {
            sent: self.sent,
            received: ours,
            expected,
        })
    }

    /// The text summary's lines.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "Perf: {}, {}, {} queue {}, {}-byte messages, {:.2} s{}",
            counted(self.producers, "producer"),
            counted(self.consumers, "consumer"),
            self.queue_type,
            self.queue,
            self.size,
            self.elapsed_secs,
            if self.interrupted {
                ", interrupted"
            } else {
                ""
            }
        )];
        lines.push(format!("Sent: {} ({:.0}/s)", self.sent, self.sent_per_sec));
        if self.confirm {
            lines.push(format!(
                "Confirmed: {} ({:.0}/s), nacked: {}",
                self.confirmed, self.confirmed_per_sec, self.nacked
            ));
        }
        lines.push(format!(
            "Received: {} ({:.0}/s)",
            self.received, self.received_per_sec
        ));
        if self.foreign > 0 {
            lines.push(format!("Not from this run: {} (not timed)", self.foreign));
        }
        if self.confirm {
            lines.push(format!(
                "Confirm latency: {}",
                latency(self.confirm_latency_us)
            ));
        }
        if self.consumers > 0 {
            lines.push(format!(
                "End-to-end latency: {}",
                latency(self.e2e_latency_us)
            ));
        }
        lines
    }
}

/// `1 producer`, `2 producers`.
fn counted(n: u32, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// `min 0.101 ms, p50 …, max … ms`, or `none` without samples.
pub fn latency(p: Option<Percentiles>) -> String {
    match p {
        None => "none".to_string(),
        Some(p) => format!(
            "min {} ms, p50 {} ms, p75 {} ms, p95 {} ms, p99 {} ms, p99.9 {} ms, max {} ms",
            ms(p.min),
            ms(p.p50),
            ms(p.p75),
            ms(p.p95),
            ms(p.p99),
            ms(p.p99_9),
            ms(p.max)
        ),
    }
}

/// Prints the summary on stdout: text lines, or one JSON object.
pub fn print(summary: &Summary, json: bool) -> Result<(), Error> {
    let mut out = Lines::new();
    if json {
        let text = serde_json::to_string(summary)
            .map_err(|e| Error::io("writing the summary", std::io::Error::other(e)))?;
        out.raw(text.as_bytes())?;
        out.raw(b"\n")?;
    } else {
        for line in summary.lines() {
            out.raw(line.as_bytes())?;
            out.raw(b"\n")?;
        }
    }
    out.flush()
}
