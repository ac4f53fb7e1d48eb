//! What `perf` tells while it runs: a line a second on stderr (sent/s,
//! confirmed/s, received/s, confirm and end-to-end p50/p99), kept as the
//! timeline the HTML report draws; `summary` tells the end.

use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use hdrhistogram::Histogram;

use super::stats::{Percentiles, Shared, Tally, histogram, merge};
use crate::cmd::io::output::status;

/// How often a line is printed.
const EVERY: Duration = Duration::from_secs(1);

/// One interval of the run, as the line and the report show it.
#[derive(Debug, Clone)]
pub struct Second {
    /// Seconds since the start, at the interval's end.
    pub at: f64,
    /// The interval's length, in seconds.
    pub length: f64,
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

/// One interval with its latency histograms and the run's totals at its
/// end: what a `--run-id` instance sends the others.
pub struct Interval {
    /// The interval, as the line shows it.
    pub second: Second,
    /// Its confirm latencies.
    pub confirm: Histogram<u64>,
    /// Its end-to-end latencies.
    pub e2e: Histogram<u64>,
    /// Sent, confirmed, received and foreign so far, in all.
    pub counts: [u64; 4],
}

/// Looks at the workers' tallies once a second.
pub struct Reporter {
    producers: Vec<Shared>,
    consumers: Vec<Shared>,
    confirm: bool,
    /// When the producers started.
    pub started: Instant,
    last: Instant,
    /// Counts at the last look: (sent, confirmed) per producer, received
    /// per consumer.
    last_sent: Vec<(u64, u64)>,
    last_received: Vec<u64>,
    /// The timeline so far.
    pub seconds: Vec<Second>,
    /// Where every interval goes too (a `--run-id` instance's courier).
    pub tap: Option<Sender<Interval>>,
    /// The `--metrics-listen` endpoint's figures, updated every interval.
    pub metrics: Option<super::metrics::Board>,
    /// Every thread's CPU, sampled once a second, for the self-check.
    pub threads: super::check::Threads,
    /// In a merged report, the instances whose rates `seconds` hold (one
    /// series each); empty in a run of one process (a series per worker).
    pub instances: Vec<String>,
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
            tap: None,
            metrics: None,
            threads: super::check::Threads::default(),
            instances: Vec::new(),
        }
    }

    /// A reporter that only replays what others measured: the merged
    /// timeline of `instances` and the merged histograms of the whole run.
    pub fn replay(
        seconds: Vec<Second>,
        instances: Vec<String>,
        confirm_total: &Histogram<u64>,
        e2e_total: &Histogram<u64>,
    ) -> Reporter {
        let tally = |h: &Histogram<u64>| {
            let shared = Shared::new();
            merge(&mut shared.lock().total, h);
            shared
        };
        let mut reporter = Reporter::new(
            vec![tally(confirm_total)],
            vec![tally(e2e_total)],
            !confirm_total.is_empty(),
            Instant::now(),
        );
        reporter.seconds = seconds;
        reporter.instances = instances;
        reporter
    }

    /// Every latency the producers (`producers`) or consumers recorded, when
    /// the test aid [`super::stats::RAW_ENV`] kept them.
    pub fn raw(&self, producers: bool) -> Vec<u64> {
        let workers = self.workers(producers);
        let mut all = Vec::new();
        for w in workers {
            all.extend(w.lock().raw.iter().flatten());
        }
        all
    }

    /// Prints a line if a second has passed since the last.
    pub fn tick(&mut self) {
        if self.last.elapsed() >= EVERY {
            self.threads.sample();
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
            length: secs,
            sent,
            confirmed,
            received,
            confirm: Percentiles::of(&confirm),
            e2e: Percentiles::of(&e2e),
        };
        if print {
            status(self.line(&second));
        }
        if let Some(board) = &self.metrics {
            board.sample(self, &second, &confirm, &e2e);
        }
        if let Some(tap) = &self.tap {
            let (sent, received, foreign) = self.totals();
            let _ = tap.send(Interval {
                counts: [sent, self.sum(true, |t| t.confirmed), received, foreign],
                second: second.clone(),
                confirm,
                e2e,
            });
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

    /// The latencies of the whole run corrected for coordinated omission,
    /// the producers' (`producers`: confirm) or the consumers' merged.
    pub fn corrected(&self, producers: bool) -> Histogram<u64> {
        let mut h = histogram();
        for w in self.workers(producers) {
            merge(&mut h, &w.lock().corrected);
        }
        h
    }

    /// A count summed over the producers (`producers`) or the consumers.
    pub fn sum(&self, producers: bool, field: impl Fn(&Tally) -> u64) -> u64 {
        let workers = self.workers(producers);
        workers.iter().map(|w| field(&w.lock())).sum()
    }

    /// A float summed over the producers (`producers`) or the consumers.
    pub fn sum_f(&self, producers: bool, field: impl Fn(&Tally) -> f64) -> f64 {
        self.workers(producers)
            .iter()
            .map(|w| field(&w.lock()))
            .sum()
    }

    /// The largest value of `field` over every worker.
    pub fn max(&self, field: impl Fn(&Tally) -> f64) -> f64 {
        self.producers
            .iter()
            .chain(&self.consumers)
            .map(|w| field(&w.lock()))
            .fold(0.0, f64::max)
    }

    /// How many producers (`producers`) or consumers.
    pub fn count(&self, producers: bool) -> usize {
        self.workers(producers).len()
    }

    fn workers(&self, producers: bool) -> &[Shared] {
        if producers {
            &self.producers
        } else {
            &self.consumers
        }
    }

    /// When the last producer finished, or the last consumer received
    /// (ns on the stamp clock).
    pub fn latest(&self, producers: bool) -> u64 {
        let workers = self.workers(producers);
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
