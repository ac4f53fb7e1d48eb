//! The run: declare the queue, start the consumers and wait until each is
//! registered, start the producers, then watch: a line a second on stderr,
//! the stop conditions (`--count`, `--duration`, a signal, everything
//! received), and at the end the summary, the report and the queue's
//! deletion.

use std::thread::{self, ScopedJoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::check::SelfCheck;
use super::consumer::{Part, Worker};
use super::producer::Producer;
use super::report::{Interval, Reporter};
use super::stamp::{epoch, now_nanos};
use super::stats::Shared;
use super::summary::Summary;
use super::{Control, PerfSpec, QueueType};
use crate::cmd::broker::declare::QueueSpec;
use crate::cmd::broker::{ConnectSpec, connect};
use crate::cmd::io::output::status;
use crate::cmd::io::signals;
use crate::error::Error;
use amqpctl::amqp::{QueueOptions, Table};

/// How often the monitor looks at the workers.
const TICK: Duration = Duration::from_millis(20);

/// Once the producers are done, how long the consumers may go without
/// receiving anything before the rest is counted lost.
const DRAIN_IDLE: Duration = Duration::from_secs(3);

/// How long to wait for the consumers to register.
const READY_WAIT: Duration = Duration::from_secs(30);

/// Runs `perf` as `spec` says, on connections made as `connect` says.
pub fn run(connect_spec: &ConnectSpec, spec: &PerfSpec) -> Result<(), Error> {
    let (summary, reporter) = execute(connect_spec, spec, None)?;
    super::summary::print(&summary, spec.json)?;
    if let Some(file) = &spec.html {
        super::html::write(file, &summary, &reporter)?;
    }
    if let Some(lost) = summary.loss() {
        return Err(lost);
    }
    Ok(())
}

/// The run itself: declare the queue, run the workers (every interval also
/// sent to `tap`), delete the queue unless it is kept; what they counted.
pub fn execute(
    connect_spec: &ConnectSpec,
    spec: &PerfSpec,
    tap: Option<Sender<Interval>>,
) -> Result<(Summary, Reporter), Error> {
    let interrupts = signals::interrupts()?;
    epoch();
    let (connection, channel) = connect(connect_spec)?;
    let start = super::check::Start::now();
    let prepared: Result<(), Error> = spec.queues.names.iter().try_for_each(|name| {
        let queue = QueueSpec {
            name: Some(name.clone()),
            declare: true,
            options: queue_options(spec.queue_type),
        };
        queue.prepare(&channel).map(drop)
    });
    let ran = prepared.and_then(|_| workers(connect_spec, spec, &interrupts, tap));
    let deleted = if spec.keep_queue {
        Ok(())
    } else {
        spec.queues.names.iter().try_for_each(|name| {
            channel
                .queue_delete(name, false, false)
                .map(drop)
                .map_err(Error::from)
        })
    };
    let closed = channel.close();
    let disconnected = connection.close();
    let (mut summary, reporter) = ran?;
    summary.self_check = Some(SelfCheck::of(&start, &reporter, spec));
    deleted?;
    closed?;
    disconnected?;
    Ok((summary, reporter))
}

/// Every queue is durable (a quorum queue or stream must be; a classic one
/// then matches a queue declared `--durable` beforehand), and typed.
fn queue_options(kind: QueueType) -> QueueOptions {
    let mut arguments = Table::new();
    if kind != QueueType::Classic {
        kind.insert_into(&mut arguments);
    }
    QueueOptions {
        durable: true,
        arguments,
        ..QueueOptions::default()
    }
}

/// A worker's connection: the run's, named after the worker.
pub(super) fn worker_connect(spec: &ConnectSpec, who: &str) -> ConnectSpec {
    let mut settings = spec.settings.clone();
    settings.connection_name = Some(match settings.connection_name.take() {
        Some(name) => format!("{name} {who}"),
        None => who.to_string(),
    });
    ConnectSpec {
        settings,
        warnings: Vec::new(),
    }
}

/// A worker's thread, its stop channel and its tally.
struct Running<'scope> {
    handle: ScopedJoinHandle<'scope, Result<(), Error>>,
    stop: Sender<i32>,
}

/// Starts the workers, watches them, and returns what they counted.
fn workers(
    connect_spec: &ConnectSpec,
    spec: &PerfSpec,
    interrupts: &Receiver<i32>,
    tap: Option<Sender<Interval>>,
) -> Result<(Summary, Reporter), Error> {
    let control = Control::new(spec);
    let producer_specs = worker_specs(connect_spec, "producer", spec.producers);
    let consumer_specs = worker_specs(connect_spec, "consumer", spec.consumers);
    let producer_tallies: Vec<Shared> = producer_specs.iter().map(|_| Shared::new()).collect();
    let consumer_tallies: Vec<Shared> = consumer_specs.iter().map(|_| Shared::new()).collect();
    thread::scope(|scope| {
        let crew = Crew {
            spec,
            control: &control,
        };
        let (consumers, ready_rx) = crew.consumers(scope, &consumer_specs, &consumer_tallies);
        let mut watch = Watch {
            spec,
            control: &control,
            interrupts,
            interrupted: false,
            consumers,
            producers: Vec::new(),
        };
        watch.await_consumers(&ready_rx);
        let start = now_nanos();
        let started = Instant::now();
        control.start_at(start);
        // Not after a signal, nor when a consumer failed to start.
        if !control.producers_stopped() {
            watch.producers = crew.producers(scope, &producer_specs, &producer_tallies);
        }
        let mut reporter = Reporter::new(
            producer_tallies.clone(),
            consumer_tallies.clone(),
            spec.confirm.is_some(),
            started,
        );
        reporter.tap = tap;
        reporter.metrics = spec.metrics.as_ref().map(|m| m.board.clone());
        watch.until_done(&mut reporter, started);
        reporter.finish();
        if let Some(m) = &spec.metrics {
            m.board.finish(&reporter);
        }
        let interrupted = watch.join()?;
        let summary = Summary::of(spec, &reporter, start, interrupted);
        Ok((summary, reporter))
    })
}

/// The connections of `n` workers of a kind (`producer 1`, …).
fn worker_specs(connect_spec: &ConnectSpec, kind: &str, n: u32) -> Vec<ConnectSpec> {
    (1..=n)
        .map(|i| worker_connect(connect_spec, &format!("{kind} {i}")))
        .collect()
}

/// What every worker of a run shares.
struct Crew<'env> {
    spec: &'env PerfSpec,
    control: &'env Control,
}

impl<'env> Crew<'env> {
    /// Starts a consumer on each connection; the receiver hears each one
    /// register.
    fn consumers<'scope>(
        &self,
        scope: &'scope thread::Scope<'scope, 'env>,
        specs: &'env [ConnectSpec],
        tallies: &[Shared],
    ) -> (Vec<Running<'scope>>, Receiver<()>) {
        let (ready_tx, ready_rx) = crossbeam_channel::unbounded();
        let mut consumers = Vec::new();
        for (i, (c, tally)) in specs.iter().zip(tallies).enumerate() {
            let (stop, stop_rx) = crossbeam_channel::bounded(1);
            let worker = Worker {
                part: Part::new(self.spec, self.control, i as u32, c, tally, stop_rx),
                ready: ready_tx.clone(),
            };
            let handle = spawn(scope, "perf-consumer", self.control, move || worker.run());
            consumers.push(Running { handle, stop });
        }
        (consumers, ready_rx)
    }

    /// Starts a producer on each connection, each with its share of
    /// `--count`.
    fn producers<'scope>(
        &self,
        scope: &'scope thread::Scope<'scope, 'env>,
        specs: &'env [ConnectSpec],
        tallies: &[Shared],
    ) -> Vec<Running<'scope>> {
        let mut producers = Vec::new();
        for (i, (p, tally)) in specs.iter().zip(tallies).enumerate() {
            let (stop, stop_rx) = crossbeam_channel::bounded(1);
            let producer = Producer {
                id: i as u32 + 1,
                count: share(self.spec.count, self.spec.producers, i as u32),
                part: Part::new(self.spec, self.control, i as u32, p, tally, stop_rx),
            };
            let handle = spawn(scope, "perf-producer", self.control, move || producer.run());
            producers.push(Running { handle, stop });
        }
        producers
    }
}

fn panicked() -> Error {
    Error::io(
        "a perf worker",
        std::io::Error::other("the thread panicked"),
    )
}

fn spawn<'scope, 'env>(
    scope: &'scope thread::Scope<'scope, 'env>,
    name: &str,
    control: &'env Control,
    work: impl FnOnce() -> Result<(), Error> + Send + 'scope,
) -> ScopedJoinHandle<'scope, Result<(), Error>> {
    thread::Builder::new()
        .name(name.to_string())
        .spawn_scoped(scope, move || {
            let result = work();
            match &result {
                // The worker's connect took the signal: hand it on to the
                // monitor, which stops the others.
                Err(Error::Interrupted(signal)) => signals::request_stop(*signal),
                Err(_) => control.fail(),
                Ok(()) => {}
            }
            result
        })
        .unwrap_or_else(|e| {
            // Without a thread there is no run; a panic here reaches the
            // user as the panic hook's one line.
            panic!("cannot start a perf worker thread: {e}")
        })
}

/// Producer `i`'s share of `--count`: split evenly, the first ones taking
/// the remainder.
fn share(count: Option<u64>, producers: u32, i: u32) -> Option<u64> {
    let n = count?;
    let p = u64::from(producers.max(1));
    Some(n / p + u64::from(u64::from(i) < n % p))
}

/// The monitor's view of the run.
struct Watch<'a, 'scope> {
    spec: &'a PerfSpec,
    control: &'a Control,
    interrupts: &'a Receiver<i32>,
    interrupted: bool,
    consumers: Vec<Running<'scope>>,
    producers: Vec<Running<'scope>>,
}

impl Watch<'_, '_> {
    /// Joins every worker: whether the run was interrupted (by a signal,
    /// or a worker's connect that took one), or the first worker's error.
    fn join(self) -> Result<bool, Error> {
        let mut interrupted = self.interrupted;
        // Every one joined before any error is looked at: a scope would
        // rethrow the panic of a thread left to it.
        let results: Vec<Result<(), Error>> = self
            .producers
            .into_iter()
            .chain(self.consumers)
            .map(|r| r.handle.join().unwrap_or_else(|_| Err(panicked())))
            .collect();
        for result in results {
            match result {
                Ok(()) => {}
                Err(Error::Interrupted(_)) => interrupted = true,
                Err(e) => return Err(e),
            }
        }
        Ok(interrupted)
    }

    /// Waits until every consumer is registered (or one failed, or a
    /// signal came).
    fn await_consumers(&mut self, ready: &Receiver<()>) {
        let deadline = Instant::now() + READY_WAIT;
        let mut registered = 0;
        while registered < self.consumers.len() {
            if self.take_signal(TICK) {
                return;
            }
            while ready.try_recv().is_ok() {
                registered += 1;
            }
            if self.consumers.iter().any(|c| c.handle.is_finished()) || Instant::now() > deadline {
                // A consumer failed: stop; its error is reported at the join.
                self.stop_all();
                return;
            }
        }
    }

    /// Whether a signal came within `wait`; if so, stops everything.
    fn take_signal(&mut self, wait: Duration) -> bool {
        match self.interrupts.recv_timeout(wait) {
            Ok(_) => {
                self.interrupted = true;
                self.stop_all();
                true
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => {
                std::thread::sleep(wait);
                false
            }
        }
    }

    fn stop_all(&self) {
        self.stop_producers();
        self.control.stop_consumers();
        for c in &self.consumers {
            let _ = c.stop.try_send(0);
        }
    }

    fn stop_producers(&self) {
        self.control.stop_producers();
        for p in &self.producers {
            let _ = p.stop.try_send(0);
        }
    }

    /// Watches until every worker has finished, printing a line a second.
    fn until_done(&mut self, reporter: &mut Reporter, started: Instant) {
        let mut drained_since: Option<(u64, Instant)> = None;
        loop {
            self.take_signal(TICK);
            reporter.tick();
            let all_done = self
                .producers
                .iter()
                .chain(&self.consumers)
                .all(|w| w.handle.is_finished());
            if all_done {
                return;
            }
            if self.control.has_failed() {
                self.stop_all();
            }
            if self.control.consumers_stopped() {
                continue;
            }
            if let Some(d) = self.spec.duration
                && started.elapsed() >= d
            {
                self.stop_producers();
                if self.producers.is_empty() {
                    self.stop_all();
                }
            }
            let (sent, all, foreign) = reporter.totals();
            // A stream delivers every message to every consumer.
            let received = (all - foreign) / self.spec.deliveries_per_message();
            if self.producers.is_empty() {
                if self.spec.count.is_some_and(|n| all >= n) {
                    self.stop_all();
                }
                continue;
            }
            let producers_done = self.producers.iter().all(|p| p.handle.is_finished());
            if !producers_done {
                continue;
            }
            // Instances of one --run-id share the queue: what this one
            // sent may reach the others, so only a quiet queue ends it.
            let shared = self.spec.dist.is_some();
            if received >= sent && !shared {
                self.stop_all();
                continue;
            }
            // Draining: stop once nothing came for a while.
            match drained_since {
                Some((seen, since)) if seen == received => {
                    if since.elapsed() >= DRAIN_IDLE && shared {
                        self.stop_all();
                    } else if since.elapsed() >= DRAIN_IDLE {
                        status(format_args!(
                            "WARNING: nothing received for {} s: {} of {sent} messages missing",
                            DRAIN_IDLE.as_secs(),
                            sent - received
                        ));
                        self.stop_all();
                    }
                }
                _ => drained_since = Some((received, Instant::now())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_is_split_evenly_between_producers() {
        let shares: Vec<u64> = (0..3).filter_map(|i| share(Some(10), 3, i)).collect();
        assert_eq!(shares, vec![4, 3, 3]);
        assert_eq!(shares.iter().sum::<u64>(), 10);
        assert_eq!(share(Some(1), 2, 1), Some(0));
        assert_eq!(share(None, 2, 0), None);
    }
}
