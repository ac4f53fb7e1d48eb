//! What the endpoint serves: the run's figures as of the reporter's last
//! look, kept apart from the workers' tallies so that a scrape never takes
//! a worker's lock. The reporter writes it once a second (and once more at
//! the end); the endpoint's thread reads it.

use std::sync::{Arc, Mutex, MutexGuard};

use hdrhistogram::Histogram;

use super::super::report::{Reporter, Second};
use super::super::stats::{histogram, merge};

/// The figures, shared by the reporter and the endpoint.
#[derive(Clone)]
pub struct Board(Arc<Mutex<Figures>>);

impl std::fmt::Debug for Board {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Board")
    }
}

/// The run's figures, as the endpoint renders them.
pub struct Figures {
    /// Labels on every sample (`run_id`, `run_instance` of a `--run-id`).
    pub labels: Vec<(&'static str, String)>,
    /// Producers and consumers of the run.
    pub workers: [u64; 2],
    /// Sent, confirmed, nacked, received (of any run), foreign: in all.
    pub counts: [u64; 5],
    /// Bytes sent and received, in all.
    pub bytes: [u64; 2],
    /// Sent, confirmed and received a second over the last interval.
    pub rates: [f64; 3],
    /// Confirm latencies of the run so far.
    pub confirm: Histogram<u64>,
    /// End-to-end latencies of the run so far.
    pub e2e: Histogram<u64>,
    /// Whether the run ended: the figures are final.
    pub ended: bool,
    /// Whether the final figures were served once.
    pub final_scraped: bool,
}

impl Board {
    /// An empty board whose samples carry `labels`.
    pub fn new(labels: Vec<(&'static str, String)>) -> Board {
        Board(Arc::new(Mutex::new(Figures {
            labels,
            workers: [0; 2],
            counts: [0; 5],
            bytes: [0; 2],
            rates: [0.0; 3],
            confirm: histogram(),
            e2e: histogram(),
            ended: false,
            final_scraped: false,
        })))
    }

    /// The figures, locked (a panic while rendering leaves figures that
    /// are still the best there are).
    pub fn lock(&self) -> MutexGuard<'_, Figures> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the reporter's interval: `second`'s rates, the interval's
    /// latencies (added to the run's), the totals so far.
    pub fn sample(
        &self,
        reporter: &Reporter,
        second: &Second,
        confirm: &Histogram<u64>,
        e2e: &Histogram<u64>,
    ) {
        let sum = |v: &[f64]| v.iter().sum::<f64>();
        let (counts, bytes, workers) = totals(reporter);
        let mut f = self.lock();
        f.workers = workers;
        f.counts = counts;
        f.bytes = bytes;
        f.rates = [
            sum(&second.sent),
            sum(&second.confirmed),
            sum(&second.received),
        ];
        merge(&mut f.confirm, confirm);
        merge(&mut f.e2e, e2e);
    }

    /// Takes the run's final figures, once every worker finished: the
    /// totals and whole-run histograms the summary shows, no rate.
    pub fn finish(&self, reporter: &Reporter) {
        let (counts, bytes, workers) = totals(reporter);
        let (confirm, e2e) = (reporter.confirm_histogram(), reporter.e2e_histogram());
        let mut f = self.lock();
        f.workers = workers;
        f.counts = counts;
        f.bytes = bytes;
        f.rates = [0.0; 3];
        f.confirm = confirm;
        f.e2e = e2e;
        f.ended = true;
    }

    /// Whether the run ended.
    pub fn ended(&self) -> bool {
        self.lock().ended
    }

    /// Whether the final figures were served.
    pub fn final_scraped(&self) -> bool {
        self.lock().final_scraped
    }
}

/// The counts, bytes and workers of `reporter`'s tallies.
fn totals(reporter: &Reporter) -> ([u64; 5], [u64; 2], [u64; 2]) {
    let (sent, received, foreign) = reporter.totals();
    let counts = [
        sent,
        reporter.sum(true, |t| t.confirmed),
        reporter.sum(true, |t| t.nacked),
        received,
        foreign,
    ];
    let bytes = [
        reporter.sum(true, |t| t.bytes),
        reporter.sum(false, |t| t.bytes),
    ];
    let workers = [reporter.count(true) as u64, reporter.count(false) as u64];
    (counts, bytes, workers)
}
