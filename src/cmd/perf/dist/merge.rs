//! The report of a `--run-id` run: every instance's counts added up, its
//! histograms merged (so a percentile is of all the latencies, never an
//! average of percentiles), and a timeline of rates per instance and
//! combined, for the summary, `--json` and `--html`. An instance that died
//! adds what it last reported; its corrected histograms, which only an end
//! carries, are missing, and the summary says whose the corrected figures
//! are.

use hdrhistogram::Histogram;

use super::DistSpec;
use super::courier::Heard;
use super::wire::{Counts, Wire, decode};
use crate::cmd::perf::queues::is_run_queue;
use crate::cmd::perf::report::{Reporter, Second};
use crate::cmd::perf::stats::{Percentiles, histogram, merge};
use crate::cmd::perf::summary::{Clocks, InstancePart, RunPart, RunSecond, SCHEMA, Step, Summary};
use crate::cmd::perf::{PerfSpec, QueueType};
use crate::error::Error;

/// One instance as the report sees it.
struct Part {
    name: String,
    counts: Counts,
    finished: bool,
    confirm: Histogram<u64>,
    e2e: Histogram<u64>,
    /// Under `--rate`, the confirm and end-to-end latencies corrected for
    /// coordinated omission (`None` unpaced, and for an instance that
    /// died: its intervals carry raw figures only).
    corrected: Option<[Histogram<u64>; 2]>,
}

/// The merged summary and a reporter that replays the merged timeline.
pub fn merged(spec: &PerfSpec, d: &DistSpec, heard: &Heard) -> Result<(Summary, Reporter), Error> {
    let parts = heard
        .workers()
        .map(|name| part(name, heard))
        .collect::<Result<Vec<Part>, Error>>()?;
    let (total, confirm, e2e) = add_up(&parts);
    let [confirm_corrected, e2e_corrected] = [0, 1].map(|i| {
        let mut h = histogram();
        for c in parts.iter().filter_map(|p| p.corrected.as_ref()) {
            merge(&mut h, &c[i]);
        }
        h
    });
    let (queue, queues) = named_queues(spec, &parts);
    let seconds = timeline(heard);
    let first = parts.first().map(|p| &p.counts);
    let size = first.map_or(spec.size.mean(), |c| c.size);
    let queue_type = [QueueType::Classic, QueueType::Quorum, QueueType::Stream]
        .into_iter()
        .find(|t| first.is_some_and(|c| c.queue_type == t.name()))
        .unwrap_or(spec.queue_type);
    let summary = Summary {
        schema: SCHEMA,
        producers: total.workers[0],
        consumers: total.workers[1],
        queue,
        queue_type: queue_type.name(),
        size,
        // The reporting instance's own flags: the instances send no sizes.
        sizes: spec.size.0.clone(),
        rate: Step::of(spec.rate.as_deref()),
        confirm: spec.confirm.is_some() || total.confirmed + total.nacked > 0,
        elapsed_secs: total.elapsed_secs,
        sent: total.sent,
        confirmed: total.confirmed,
        nacked: total.nacked,
        received: total.received,
        foreign: total.foreign,
        sent_per_sec: total.rates[0],
        confirmed_per_sec: total.rates[1],
        received_per_sec: total.rates[2],
        confirm_latency_us: Percentiles::of(&confirm),
        e2e_latency_us: Percentiles::of(&e2e),
        confirm_corrected_latency_us: Percentiles::of(&confirm_corrected),
        e2e_corrected_latency_us: Percentiles::of(&e2e_corrected),
        interrupted: total.interrupted,
        // On a stream a message reaches every consumer of its queue: the
        // instances spread theirs evenly over the queues.
        deliveries_per_message: match queue_type {
            QueueType::Stream => u64::from((total.workers[1] / queues.len().max(1) as u32).max(1)),
            QueueType::Classic | QueueType::Quorum => 1,
        },
        queues,
        latency: spec.latency,
        clocks: Clocks::of(d.instances),
        self_check: None,
        run: Some(run_part(d, &parts, &seconds)),
    };
    let names = parts.iter().map(|p| p.name.clone()).collect();
    let reporter = Reporter::replay(seconds, names, &confirm, &e2e);
    Ok((summary, reporter))
}

/// The queue (or pattern) and every queue the instances that ended said
/// they used, else the reporting instance's own.
fn named_queues(spec: &PerfSpec, parts: &[Part]) -> (String, Vec<String>) {
    let queues = distinct(parts.iter().flat_map(|p| &p.counts.queues));
    match parts.iter().find(|p| !p.counts.queues.is_empty()) {
        Some(p) => (p.counts.queue.clone(), queues),
        None => (spec.queue.clone(), spec.queues.names.clone()),
    }
}

/// The run's own queues, for the report to delete once every instance
/// ended: those the instances that ended said were the run's own (a name
/// of the run's, `amqpctl-perf-ID` or `amqpctl-perf-ID-N`), else, when
/// none said which queues it used, the reporting instance's own.
pub fn own_queues(spec: &PerfSpec, d: &DistSpec, heard: &Heard) -> Vec<String> {
    let ends = heard.finals.values().filter_map(|w| match w {
        Wire::Final { counts, .. } => Some(counts),
        _ => None,
    });
    let ends: Vec<&Counts> = ends.collect();
    if ends.iter().all(|c| c.queues.is_empty()) {
        return if spec.queues.keep {
            Vec::new()
        } else {
            spec.queues.names.clone()
        };
    }
    let own = ends.iter().filter(|c| c.own_queues).flat_map(|c| &c.queues);
    distinct(own.filter(|q| is_run_queue(&d.run_id, q)))
}

/// `names` without repeats, in order.
fn distinct<'a>(names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        if !out.contains(name) {
            out.push(name.clone());
        }
    }
    out
}

/// The run's part of the merged summary: each instance's counts, the
/// dead, the timeline, and whose corrected histograms were merged.
fn run_part(d: &DistSpec, parts: &[Part], seconds: &[Second]) -> RunPart {
    RunPart {
        id: d.run_id.clone(),
        expected: d.instances,
        instance: None,
        instances: parts
            .iter()
            .map(|p| InstancePart {
                name: p.name.clone(),
                sent: p.counts.sent,
                confirmed: p.counts.confirmed,
                received: p.counts.received,
                finished: p.finished,
            })
            .collect(),
        died: parts
            .iter()
            .filter(|p| !p.finished)
            .map(|p| p.name.clone())
            .collect(),
        timeline: seconds.iter().map(run_second).collect(),
        corrected_from: parts
            .iter()
            .filter(|p| p.corrected.is_some())
            .map(|p| p.name.clone())
            .collect(),
    }
}

/// Whose corrected latencies the merged summary shows, when not every
/// instance's: `Corrected latencies: from 2 of 3 instances; none from
/// HOST:PID (died mid-run)`.
pub fn corrected_note(run: &RunPart) -> Option<String> {
    let why = |i: &InstancePart| {
        if i.finished {
            "unpaced"
        } else {
            "died mid-run"
        }
    };
    let missing: Vec<String> = run
        .instances
        .iter()
        .filter(|i| !run.corrected_from.contains(&i.name))
        .map(|i| format!("{} ({})", i.name, why(i)))
        .collect();
    if run.corrected_from.is_empty() || missing.is_empty() {
        return None;
    }
    Some(format!(
        "Corrected latencies: from {} of {} instances; none from {}",
        run.corrected_from.len(),
        run.instances.len(),
        missing.join(", ")
    ))
}

/// A second of the timeline as `--json` shows it.
fn run_second(s: &Second) -> RunSecond {
    RunSecond {
        at: s.at,
        sent_per_sec: s.sent.clone(),
        received_per_sec: s.received.clone(),
        all_sent_per_sec: s.sent.iter().sum(),
        all_received_per_sec: s.received.iter().sum(),
    }
}

/// The instances' counts added up, and their histograms merged.
fn add_up(parts: &[Part]) -> (Counts, Histogram<u64>, Histogram<u64>) {
    let (mut confirm, mut e2e) = (histogram(), histogram());
    let mut total = Counts::default();
    for p in parts {
        merge(&mut confirm, &p.confirm);
        merge(&mut e2e, &p.e2e);
        let c = &p.counts;
        total.workers[0] += c.workers[0];
        total.workers[1] += c.workers[1];
        total.sent += c.sent;
        total.confirmed += c.confirmed;
        total.nacked += c.nacked;
        total.received += c.received;
        total.foreign += c.foreign;
        // The instances ran side by side: their rates add up.
        for (t, r) in total.rates.iter_mut().zip(c.rates) {
            *t += r;
        }
        total.elapsed_secs = total.elapsed_secs.max(c.elapsed_secs);
        total.interrupted |= c.interrupted;
    }
    (total, confirm, e2e)
}

/// An instance's end, or, for one that died, what its intervals told.
fn part(name: &str, heard: &Heard) -> Result<Part, Error> {
    let unreadable = |e: String| {
        Error::io(
            "reading an instance's histograms",
            std::io::Error::other(format!("{name}: {e}")),
        )
    };
    if let Some(Wire::Final {
        counts,
        log,
        corrected,
        ..
    }) = heard.finals.get(name)
    {
        let (confirm, e2e) = decode(log).map_err(unreadable)?;
        let corrected = match corrected {
            Some(log) => Some(decode(log).map_err(unreadable)?.into()),
            None => None,
        };
        return Ok(Part {
            name: name.to_string(),
            counts: counts.clone(),
            finished: true,
            confirm,
            e2e,
            corrected,
        });
    }
    let mut p = Part {
        name: name.to_string(),
        counts: Counts::default(),
        finished: false,
        confirm: histogram(),
        e2e: histogram(),
        corrected: None,
    };
    for wire in heard.intervals.get(name).into_iter().flatten() {
        if let Wire::Interval {
            at, counts, log, ..
        } = wire
        {
            let (c, e) = decode(log).map_err(unreadable)?;
            merge(&mut p.confirm, &c);
            merge(&mut p.e2e, &e);
            [
                p.counts.sent,
                p.counts.confirmed,
                p.counts.received,
                p.counts.foreign,
            ] = *counts;
            p.counts.elapsed_secs = *at;
        }
    }
    Ok(p)
}

/// The run's timeline: interval i of every instance side by side (they
/// started together at the barrier), its rates per instance, its
/// percentiles from the instances' merged interval histograms.
fn timeline(heard: &Heard) -> Vec<Second> {
    let workers: Vec<&Vec<Wire>> = heard
        .workers()
        .map(|w| heard.intervals.get(w).map_or(&EMPTY, |v| v))
        .collect();
    let len = workers.iter().map(|v| v.len()).max().unwrap_or(0);
    let mut seconds = Vec::with_capacity(len);
    for i in 0..len {
        let mut s = Second {
            at: 0.0,
            length: 0.0,
            sent: Vec::new(),
            confirmed: Vec::new(),
            received: Vec::new(),
            confirm: None,
            e2e: None,
        };
        let (mut confirm, mut e2e) = (histogram(), histogram());
        for w in &workers {
            let mut rates = [0.0; 3];
            if let Some(Wire::Interval {
                at, rates: r, log, ..
            }) = w.get(i)
            {
                s.at = s.at.max(*at);
                rates = *r;
                if let Ok((c, e)) = decode(log) {
                    merge(&mut confirm, &c);
                    merge(&mut e2e, &e);
                }
            }
            s.sent.push(rates[0]);
            s.confirmed.push(rates[1]);
            s.received.push(rates[2]);
        }
        s.confirm = Percentiles::of(&confirm);
        s.e2e = Percentiles::of(&e2e);
        seconds.push(s);
    }
    seconds
}

static EMPTY: Vec<Wire> = Vec::new();
