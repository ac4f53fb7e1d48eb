//! The summary at the end of a run, on stdout as text lines or one JSON
//! object (what `--json` prints, and the HTML report shows); and the error
//! of a run that lost messages.

use serde::Serialize;

use super::check::SelfCheck;
use super::report::{Reporter, ms};
use super::shape::Weighted;
use super::stats::Percentiles;
use super::{Latency, PerfSpec};
use crate::cmd::io::output::Lines;
use crate::cmd::io::pace::RateStep;
use crate::error::Error;

/// The version of `--json`'s object, its `schema` field: the README's
/// "perf --json" table documents it; a field that changes meaning or goes
/// away takes a new number, a new field does not.
pub const SCHEMA: &str = "amqpctl.perf.summary/1";

/// The summary of a run: what `--json` prints, and the text and the report
/// show.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// `--producers`.
    pub producers: u32,
    /// `--consumers`.
    pub consumers: u32,
    /// The queue, or `--queue-pattern`.
    pub queue: String,
    /// Every queue of the run (one, or `--queues`).
    pub queues: Vec<String>,
    /// Its type.
    pub queue_type: &'static str,
    /// `--size`: the body size, or a weighted list's mean size.
    pub size: usize,
    /// `--size`'s sizes and their weights (one of weight 1 for a plain
    /// size).
    pub sizes: Vec<Weighted>,
    /// `--rate`, per producer: its steps (one without a length for a
    /// plain rate); `None` unpaced.
    pub rate: Option<Vec<Step>>,
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
    /// Under `--rate`, confirm latency corrected for coordinated omission.
    pub confirm_corrected_latency_us: Option<Percentiles>,
    /// Under `--rate`, end-to-end latency corrected for coordinated
    /// omission.
    pub e2e_corrected_latency_us: Option<Percentiles>,
    /// Whether a signal stopped the run.
    pub interrupted: bool,
    /// Deliveries each message makes when nothing is lost: one per
    /// consumer on a stream, else one.
    pub deliveries_per_message: u64,
    /// `--latency`: the latency the run is about.
    pub latency: Latency,
    /// Which latencies compare two clocks.
    pub clocks: Clocks,
    /// Whether the client or the broker held the run back (not in a
    /// merged summary: each instance checks itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_check: Option<SelfCheck>,
    /// `--run-id`: the run of several instances this summary is of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<RunPart>,
}

/// One step of `--rate`, as the summary shows it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Step {
    /// Messages a second, per producer (0: a pause).
    pub per_sec: f64,
    /// How long, in seconds; `None`: the whole run.
    pub secs: Option<f64>,
}

impl Step {
    /// The steps of `--rate`.
    pub fn of(rate: Option<&[RateStep]>) -> Option<Vec<Step>> {
        let steps = rate?.iter().map(|st| Step {
            per_sec: st.per_sec,
            secs: st.length.map(|l| l.as_secs_f64()),
        });
        Some(steps.collect())
    }
}

/// How many clocks each latency reads: `one` (the publisher's) or `two`
/// (the publisher's stamp against the consumer's clock, which may be
/// another host's).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Clocks {
    /// Publish to confirm: always the publisher's clock alone.
    pub confirm: &'static str,
    /// Publish to delivery: two clocks in a run of several instances.
    pub end_to_end: &'static str,
}

impl Clocks {
    /// The clocks of a run of `instances` processes.
    pub fn of(instances: u32) -> Clocks {
        Clocks {
            confirm: "one",
            end_to_end: if instances > 1 { "two" } else { "one" },
        }
    }
}

/// A summary's place in a `--run-id` run.
#[derive(Debug, Clone, Serialize)]
pub struct RunPart {
    /// `--run-id`.
    pub id: String,
    /// `--instances`.
    pub expected: u32,
    /// This instance (a part's summary), or none (the merged summary).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// In the merged summary, each instance's own counts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<InstancePart>,
    /// Instances that stopped reporting before their end: their counts
    /// are the last they sent.
    pub died: Vec<String>,
    /// In the merged summary, the rates of each second, per instance (in
    /// `instances`' order) and combined.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<RunSecond>,
    /// In the merged summary under `--rate`, the instances whose corrected
    /// histograms it merges (one that died sent none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub corrected_from: Vec<String>,
}

/// One second of a merged run.
#[derive(Debug, Clone, Serialize)]
pub struct RunSecond {
    /// Seconds since the start, at the second's end.
    pub at: f64,
    /// Messages a second sent, per instance.
    pub sent_per_sec: Vec<f64>,
    /// Messages a second received, per instance.
    pub received_per_sec: Vec<f64>,
    /// Messages a second sent by all of them.
    pub all_sent_per_sec: f64,
    /// Messages a second received by all of them.
    pub all_received_per_sec: f64,
}

/// One instance's counts in the merged summary.
#[derive(Debug, Clone, Serialize)]
pub struct InstancePart {
    /// Its name (host:pid).
    pub name: String,
    /// Messages it published.
    pub sent: u64,
    /// Publishes the broker acked.
    pub confirmed: u64,
    /// Messages its consumers received.
    pub received: u64,
    /// Whether it reported its end.
    pub finished: bool,
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
            schema: SCHEMA,
            producers: spec.producers,
            consumers: spec.consumers,
            queue: spec.queue.clone(),
            queues: spec.queues.names.clone(),
            queue_type: spec.queue_type.name(),
            size: spec.size.mean(),
            sizes: spec.size.0.clone(),
            rate: Step::of(spec.rate.as_deref()),
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
            confirm_corrected_latency_us: Percentiles::of(&reporter.corrected(true)),
            e2e_corrected_latency_us: Percentiles::of(&reporter.corrected(false)),
            interrupted,
            deliveries_per_message: spec.deliveries_per_message(),
            latency: spec.latency,
            clocks: Clocks::of(spec.dist.as_ref().map_or(1, |d| d.instances)),
            self_check: None,
            run: None,
        }
    }

    /// The error of a run that ended by itself with messages missing (or
    /// more received than sent).
    pub fn loss(&self) -> Option<Error> {
        let ours = self.received - self.foreign;
        let expected = self.sent * self.deliveries_per_message;
        let partial = self.run.as_ref().is_some_and(|r| !r.died.is_empty());
        let lost = !self.interrupted
            && !partial
            && self.producers > 0
            && self.consumers > 0
            && ours != expected;
        lost.then_some(Error::Lost {
            sent: self.sent,
            received: ours,
            expected,
        })
    }

    /// The text summary's lines.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "Perf: {}, {}, {} {}, {}, {:.2} s{}",
            counted(self.producers, "producer"),
            counted(self.consumers, "consumer"),
            self.queue_type,
            match self.queues.len() {
                0 | 1 => format!("queue {}", self.queue),
                n => format!("queues {} ({n})", self.queue),
            },
            sizes(self.size, &self.sizes),
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
        let corrected = [
            ("Confirm", self.confirm_corrected_latency_us),
            ("End-to-end", self.e2e_corrected_latency_us),
        ];
        for (what, p) in corrected {
            if p.is_some() {
                lines.push(format!(
                    "{what} latency corrected for coordinated omission: {}",
                    latency(p)
                ));
            }
        }
        if let Some(check) = &self.self_check {
            lines.extend(check.lines());
        }
        if let Some(run) = &self.run {
            lines.extend(run_lines(run, self.clocks));
        }
        lines
    }
}

/// The lines of a `--run-id` run: which part this is, or the instances
/// merged, the dead, and the clocks each latency read.
fn run_lines(run: &RunPart, clocks: Clocks) -> Vec<String> {
    let mut lines = Vec::new();
    match &run.instance {
        Some(me) => lines.push(format!(
            "Run: {}, instance {me}, one of {} (the --report instance merges them)",
            run.id, run.expected
        )),
        None => lines.push(format!(
            "Run: {}, {} of {} instances merged{}",
            run.id,
            run.instances.len(),
            run.expected,
            if run.instances.len() < run.expected as usize {
                ", the others collecting"
            } else {
                ""
            }
        )),
    }
    for i in &run.instances {
        lines.push(format!(
            "Instance {}: sent {}, confirmed {}, received {}{}",
            i.name,
            i.sent,
            i.confirmed,
            i.received,
            if i.finished { "" } else { ", died mid-run" }
        ));
    }
    if !run.died.is_empty() {
        lines.push(format!(
            "Died: {} (stopped reporting; counts as last reported)",
            run.died.join(", ")
        ));
    }
    lines.extend(super::dist::corrected_note(run));
    lines.push(format!(
        "Clocks: confirm latency on {} clock (the publisher's), end-to-end latency on {} (publisher's stamp, consumer's clock)",
        clocks.confirm, clocks.end_to_end
    ));
    lines
}

/// `24-byte messages`, or a weighted list's `messages of 100:80,10000:15
/// bytes:weight (mean 8100)`.
fn sizes(mean: usize, sizes: &[Weighted]) -> String {
    match sizes {
        [one] => format!("{}-byte messages", one.bytes),
        _ => {
            let parts: Vec<String> = sizes
                .iter()
                .map(|w| format!("{}:{}", w.bytes, w.weight))
                .collect();
            format!("messages of {} bytes:weight (mean {mean})", parts.join(","))
        }
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
