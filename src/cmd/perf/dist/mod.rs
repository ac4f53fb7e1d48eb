//! `perf --run-id ID --instances N`: one run of several `perf` processes,
//! on one host or many, with no coordinator of our own. They meet through
//! the broker (the control exchange `amqpctl.perf.ID` and a private queue
//! each; `courier`), start together once all N said hello, share the queue
//! `amqpctl-perf-ID` (or the `--queues` `amqpctl-perf-ID-1` …, or a
//! pattern's), and send each other their intervals and their end
//! (`wire`). An instance with `--report`, or one with `--collect` that runs
//! no workers, merges them (`merge`): totals, rates, and percentiles of the
//! merged histograms.

mod courier;
mod merge;
mod wire;

use std::time::Duration;

use clap::Args;

use super::stamp::{epoch, share_run};
use super::stats::RAW_ENV;
use super::summary::{RunPart, Summary};
use super::{PerfSpec, engine, html, summary};
use crate::cmd::args::connection::default_connection_name;
use crate::cmd::args::values::{check_name, parse_seconds};
use crate::cmd::broker::{ConnectSpec, connect};
use crate::cmd::io::output::status;
use crate::error::Error;
use courier::Courier;
pub use merge::corrected_note;
use wire::{Counts, Wire, encode};

/// The flags of a run of several instances.
#[derive(Debug, Args)]
pub struct DistArgs {
    /// Join the run ID of several perf instances (processes or hosts): they
    /// meet through the broker, start together and share the queue
    /// amqpctl-perf-ID (with --queues N, amqpctl-perf-ID-1 … -N).
    #[arg(long, value_name = "ID", requires = "instances")]
    run_id: Option<String>,

    /// With --run-id, how many instances the run has, a --collect one
    /// included; each waits for all of them before it starts.
    #[arg(long, value_name = "N", requires = "run_id", value_parser = clap::value_parser!(u32).range(1..=1000))]
    instances: Option<u32>,

    /// With --run-id, print and draw the run's merged results instead of
    /// this instance's own.
    #[arg(long, requires = "run_id")]
    report: bool,

    /// With --run-id, run no producers or consumers: only meet the others
    /// and merge their results (as --report does).
    #[arg(long, requires = "run_id")]
    collect: bool,

    /// With --report or --collect, succeed although an instance died
    /// mid-run (it is named either way).
    #[arg(long, requires = "run_id")]
    allow_partial: bool,

    /// With --run-id, how long to wait for every instance to join.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_seconds, requires = "run_id")]
    barrier_timeout: Duration,
}

/// A run of several instances, resolved.
#[derive(Debug, Clone)]
pub struct DistSpec {
    /// `--run-id`.
    pub run_id: String,
    /// `--instances`.
    pub instances: u32,
    /// `--report`.
    pub report: bool,
    /// `--collect`.
    pub collect: bool,
    /// `--allow-partial`.
    pub allow_partial: bool,
    /// `--barrier-timeout`.
    pub barrier_timeout: Duration,
}

impl DistArgs {
    /// The run, if `--run-id` was given, checked.
    pub fn resolve(&self) -> Result<Option<DistSpec>, Error> {
        let (Some(id), Some(instances)) = (&self.run_id, self.instances) else {
            return Ok(None);
        };
        check_name("run ID", id)?;
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
        if id.is_empty() || id.len() > 200 || !id.chars().all(allowed) {
            return Err(Error::Usage(format!(
                "--run-id {id:?}: use 1 to 200 letters, digits, '-', '_' or '.' (it names an exchange and a queue)"
            )));
        }
        if self.allow_partial && !(self.report || self.collect) {
            return Err(Error::Usage(
                "--allow-partial needs --report or --collect: only a report can be partial"
                    .to_string(),
            ));
        }
        Ok(Some(DistSpec {
            run_id: id.clone(),
            instances,
            report: self.report || self.collect,
            collect: self.collect,
            allow_partial: self.allow_partial,
            barrier_timeout: self.barrier_timeout,
        }))
    }
}

/// This instance's name: the host's and the process id (`host:pid`).
pub(super) fn instance_name() -> String {
    let name = default_connection_name("perf");
    name.strip_prefix("amqpctl perf ")
        .map(str::to_string)
        .unwrap_or(name)
}

/// Runs this instance of the run `d`.
pub fn run(connect_spec: &ConnectSpec, spec: &PerfSpec, d: &DistSpec) -> Result<(), Error> {
    share_run(&d.run_id);
    epoch();
    let me = instance_name();
    let (courier, roster) = Courier::start(connect_spec, d, &me)?;
    status(format_args!(
        "Run {}: {} instances met: {}",
        d.run_id,
        roster.len(),
        roster.join(", ")
    ));
    let local = if d.collect {
        None
    } else {
        match engine::execute(connect_spec, spec, Some(courier.taps.clone())) {
            Ok(ran) => {
                let _ = courier.done.send(end(&me, spec, &ran.0, &ran.1));
                Some(ran)
            }
            Err(e) => {
                drop(courier.finish());
                return Err(e);
            }
        }
    };
    let heard = courier.finish()?;
    if let Some((_, reporter)) = &local {
        write_raw(reporter)?;
    }
    if !d.report {
        let Some((mut summary, reporter)) = local else {
            return Ok(());
        };
        summary.run = Some(RunPart {
            id: d.run_id.clone(),
            expected: d.instances,
            instance: Some(me),
            instances: Vec::new(),
            died: Vec::new(),
            timeline: Vec::new(),
            corrected_from: Vec::new(),
        });
        return show(spec, &summary, &reporter);
    }
    let (summary, reporter) = merge::merged(spec, d, &heard)?;
    let own = merge::own_queues(spec, d, &heard);
    if !own.is_empty() {
        let (connection, channel) = connect(connect_spec)?;
        for queue in &own {
            channel.queue_delete(queue, false, false)?;
        }
        channel.close()?;
        connection.close()?;
    }
    show(spec, &summary, &reporter)?;
    let died = summary
        .run
        .as_ref()
        .map(|r| r.died.clone())
        .unwrap_or_default();
    if !died.is_empty() && !d.allow_partial {
        return Err(Error::PerfDied {
            run: d.run_id.clone(),
            names: died.join(", "),
            secs: courier::DEAD_AFTER.as_secs_f64(),
        });
    }
    summary.loss().map_or(Ok(()), Err)
}

/// Prints the summary and writes `--html`.
fn show(spec: &PerfSpec, s: &Summary, reporter: &super::report::Reporter) -> Result<(), Error> {
    summary::print(s, spec.json)?;
    if let Some(file) = &spec.html {
        html::write(file, s, reporter)?;
    }
    Ok(())
}

/// The instance's end, for the others.
fn end(me: &str, spec: &PerfSpec, s: &Summary, reporter: &super::report::Reporter) -> Wire {
    let length = Duration::from_secs_f64(s.elapsed_secs.max(0.0));
    let base = std::time::SystemTime::now() - length;
    let log = |confirm: &hdrhistogram::Histogram<u64>, e2e: &hdrhistogram::Histogram<u64>| {
        encode(confirm, e2e, base, Duration::ZERO, length)
    };
    Wire::Final {
        instance: me.to_string(),
        counts: Counts {
            workers: [s.producers, s.consumers],
            sent: s.sent,
            confirmed: s.confirmed,
            nacked: s.nacked,
            received: s.received,
            foreign: s.foreign,
            rates: [s.sent_per_sec, s.confirmed_per_sec, s.received_per_sec],
            elapsed_secs: s.elapsed_secs,
            interrupted: s.interrupted,
            size: s.size,
            queue_type: s.queue_type.to_string(),
            queue: s.queue.clone(),
            queues: s.queues.clone(),
            own_queues: !spec.queues.keep,
        },
        log: log(&reporter.confirm_histogram(), &reporter.e2e_histogram()),
        corrected: s
            .rate
            .is_some()
            .then(|| log(&reporter.corrected(true), &reporter.corrected(false))),
    }
}

/// The test aid [`RAW_ENV`]: every latency this instance recorded, a file
/// per kind (`PID.e2e`, `PID.confirm`), one µs value a line.
fn write_raw(reporter: &super::report::Reporter) -> Result<(), Error> {
    let Some(dir) = std::env::var_os(RAW_ENV) else {
        return Ok(());
    };
    let dir = std::path::PathBuf::from(dir);
    for (kind, producers) in [("confirm", true), ("e2e", false)] {
        let values = reporter.raw(producers);
        let text: String = values.iter().map(|v| format!("{v}\n")).collect();
        let file = dir.join(format!("{}.{kind}", std::process::id()));
        std::fs::write(file, text).map_err(|e| Error::io("writing the raw latencies", e))?;
    }
    Ok(())
}
