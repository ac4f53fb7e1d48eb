//! What `perf` tells: a line a second on stderr while it runs (sent/s,
//! confirmed/s, received/s, confirm and end-to-end p50/p99), kept as the
//! timeline the HTML report draws, and the summary at the end on stdout, as
//! text or one JSON object.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use super::PerfSpec;
use super::stats::{Percentiles, Shared, histogram, merge};
use crate::cmd::io::output::{Lines, status};
use crate::error::Error;

/// How often a line is printed.
const EVERY: Duration = Duration::from_secs(1);

/// One interval of the run, as the line and the report show it.
#[derive(Debug, Clone)]
pub struct Second {
    /// Seconds since the start, at the interval's end.
    pub at: f64,
    /// Messages a second sent by each producer.
    pub sent: Vec<f64>,
    /// Messages a second confirmed by each producer.
    pub confirmed: Vec<f64>,
    /// Messages a second received by each consumer.
    pub received: Vec<f64>,
    /// Confirm latency percentiles over the interval.
    pub confirm: Option<Percentiles>,
    /// End-to-end latency percentiles over the interval.
    pub e2e: Option<Percentiles>,
}

/// Looks at the workers' tallies once a second.
pub struct Reporter {
    producers: Vec<Shared>,
    consumers: Vec<Shared>,
    confirm: bool,
    started: Instant,
    last: Instant,
    /// Counts at the last look: (sent, confirmed) per producer, received
    /// per consumer.
    last_sent: Vec<(u64, u64)>,
    last_received: Vec<u64>,
    /// The timeline so far.
    pub seconds: Vec<Second>,
}

impl Reporter {
    /// A reporter for these tallies, the run having started at `started`.
    pub fn new(
        producers: Vec<Shared>,
        consumers: Vec<Shared>,
        confirm: bool,
        started: Instant,
    ) -> Reporter {
        Reporter {
            last_sent: vec![(0, 0); producers.len()],
            last_received: vec![0; consumers.len()],
            producers,
            consumers,
            confirm,
            started,
            last: started,
            seconds: Vec::new(),
        }
    }

    /// Prints a line if a second has passed since the last.
    pub fn tick(&mut self) {
        if self.last.elapsed() >= EVERY {
            self.sample(true);
        }
    }

    /// Takes the last, partial interval (not printed: the summary follows).
    pub fn finish(&mut self) {
        if self.last.elapsed() >= Duration::from_millis(100) {
            self.sample(false);
        }
    }

    /// Messages sent, received (of any run) and received of another run,
    /// so far, in all.
    pub fn totals(&self) -> (u64, u64, u64) {
        let sent = self.sum(true, |t| t.count);
        let received = self.sum(false, |t| t.count);
        (sent, received, self.sum(false, |t| t.foreign))
    }

    fn sample(&mut self, print: bool) {
        let now = Instant::now();
        let secs = now.duration_since(self.last).as_secs_f64().max(1e-9);
        self.last = now;
        let mut confirm = histogram();
        let mut sent = Vec::new();
        let mut confirmed = Vec::new();
        for (p, last) in self.producers.iter().zip(&mut self.last_sent) {
            let mut t = p.lock();
            sent.push((t.count - last.0) as f64 / secs);
            confirmed.push((t.confirmed - last.1) as f64 / secs);
            *last = (t.count, t.confirmed);
            merge(&mut confirm, &t.interval);
            t.interval.reset();
        }
        let mut e2e = histogram();
        let mut received = Vec::new();
        for (c, last) in self.consumers.iter().zip(&mut self.last_received) {
            let mut t = c.lock();
            received.push((t.count - *last) as f64 / secs);
            *last = t.count;
            merge(&mut e2e, &t.interval);
            t.interval.reset();
        }
        let second = Second {
            at: now.duration_since(self.started).as_secs_f64(),
            sent,
            confirmed,
            received,
            confirm: Percentiles::of(&confirm),
            e2e: Percentiles::of(&e2e),
        };
        if print {
            status(self.line(&second));
        }
        self.seconds.push(second);
    }

    /// The once-a-second line.
    fn line(&self, s: &Second) -> String {
        let sum = |v: &[f64]| v.iter().sum::<f64>();
        let mut line = format!("Perf: {:.0} s, sent {:.0}/s", s.at, sum(&s.sent));
        if self.confirm {
            line += &format!(", confirmed {:.0}/s", sum(&s.confirmed));
        }
        line += &format!(", received {:.0}/s", sum(&s.received));
        if self.confirm {
            line += &format!(", confirm {}", p50_p99(s.confirm));
        }
        if !self.consumers.is_empty() {
            line += &format!(", end-to-end {}", p50_p99(s.e2e));
        }
        line
    }

    /// The confirm latencies of the whole run, every producer's merged.
    pub fn confirm_histogram(&self) -> Histogram<u64> {
        let mut h = histogram();
        for p in &self.producers {
            merge(&mut h, &p.lock().total);
        }
        h
    }

    /// The end-to-end latencies of the whole run, every consumer's merged.
    pub fn e2e_histogram(&self) -> Histogram<u64> {
        let mut h = histogram();
        for c in &self.consumers {
            merge(&mut h, &c.lock().total);
        }
        h
    }

    fn sum(&self, producers: bool, field: impl Fn(&super::stats::Tally) -> u64) -> u64 {
        let workers = if producers {
            &self.producers
        } else {
            &self.consumers
        };
        workers.iter().map(|w| field(&w.lock())).sum()
    }

    fn latest(&self, producers: bool) -> u64 {
        let workers = if producers {
            &self.producers
        } else {
            &self.consumers
        };
        workers
            .iter()
            .map(|w| w.lock().last_nanos)
            .max()
            .unwrap_or(0)
    }
}

fn p50_p99(p: Option<Percentiles>) -> String {
    match p {
        Some(p) => format!("p50 {} ms p99 {} ms", ms(p.p50), ms(p.p99)),
        None => "p50 - p99 -".to_string(),
    }
}

/// Microseconds as milliseconds, 3 decimals.
pub fn ms(us: u64) -> String {
    format!("{:.3}", us as f64 / 1000.0)
}

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
