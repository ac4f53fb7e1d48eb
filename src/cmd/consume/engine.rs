//! The consuming loop of `con`: one connection's worth of declaring,
//! binding and consuming, run again after a lost connection with
//! `--reconnect`, in one of three modes (print, `--lazy`, `--exec`).

use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::acks::Acks;
use super::poison::{AfterFailure, Poison};
use super::resume::{Resume, STREAM_OFFSET};
use super::{ConsumeSpec, ExecSpec, Mode};
use crate::cmd::broker::declare::{self, Destination};
use crate::cmd::broker::inflight::{Bounded, Limits};
use crate::cmd::broker::reconnect::{self, Reconnecting};
use crate::cmd::broker::{ConnectSpec, DRAIN_GRACE, with_channel};
use crate::cmd::filter::Others;
use crate::cmd::io::exec::{self, Verdict};
use crate::cmd::io::format::Format;
use crate::cmd::io::output::{self, Lines, Progress, status};
use crate::cmd::io::saved::SaveDir;
use crate::cmd::io::signals;
use crate::error::Error;
use amqpctl::amqp::{Channel, ConsumerSettings, Delivery, Next, Table};

/// Most deliveries written between two flushes (and acked with one ack).
const MAX_BATCH: usize = 256;

/// Body bytes a batch takes at most, beyond its first delivery: large
/// bodies are written (and rendered) a few at a time, so that the batch
/// adds little to what --max-inflight-bytes lets in.
const MAX_BATCH_BYTES: usize = 1 << 20;

/// How long to wait for more messages before acking what has been written:
/// while messages stream in, acks go out in batches instead of one per
/// message (which costs the broker more than the delivery itself).
const ACK_DELAY: Duration = Duration::from_millis(2);

/// Consumes as `spec` says until done, a signal (a clean stop), or an error.
pub fn run(connect: &ConnectSpec, mut spec: ConsumeSpec) -> Result<(), Error> {
    spec.queue.settle(connect);
    let interrupts = signals::interrupts()?;
    // `amqpctl con | head -1`: stop as soon as the reader goes away, even
    // while no message comes.
    output::watch_stdout(|| signals::request_stop(signals::STDOUT_CLOSED));
    let mut consuming = Consuming {
        connect,
        remaining: spec.count.unwrap_or(u64::MAX),
        spec: &spec,
        queue: String::new(),
        // Only a stream takes an offset.
        stream: spec.offset.is_some(),
        resume: spec.offset.clone().map(Resume::new),
        interrupts: interrupts.clone(),
        lines: Lines::new(),
        progress: Progress::new(
            "received",
            spec.count,
            matches!(spec.mode, Mode::Print { quiet: true, .. }),
        ),
    };
    let reconnect = consuming.spec.reconnect;
    let result = reconnect::run(&mut consuming, reconnect, &interrupts);
    consuming.progress.finish();
    if let Some(filtering) = &spec.filter {
        filtering.filter.report();
    }
    consuming.lines.flush()?;
    match result {
        // A signal (or a closed stdout) stops con cleanly, wherever it came.
        Err(Error::Interrupted(_)) => Ok(()),
        other => other,
    }
}

/// The state of one `con` run, kept across reconnections.
struct Consuming<'a> {
    connect: &'a ConnectSpec,
    spec: &'a ConsumeSpec,
    interrupts: Receiver<i32>,
    lines: Lines,
    /// Messages still to take (`--count`).
    remaining: u64,
    /// The queue being consumed, once known.
    queue: String,
    /// Whether it is a stream (its deliveries carry offsets).
    stream: bool,
    /// With `--offset`: where to attach again after a reconnect.
    resume: Option<Resume>,
    progress: Progress,
}

impl Reconnecting for Consuming<'_> {
    fn attempt(&mut self) -> Result<(), Error> {
        let declared = self.spec.queue.declare;
        with_channel(self.connect, |channel| self.on(channel)).map_err(|e| e.for_consume(declared))
    }

    fn progress(&self) -> u64 {
        u64::MAX - self.remaining
    }

    fn before_wait(&mut self) -> Result<(), Error> {
        self.lines.flush()
    }
}

impl Consuming<'_> {
    /// Declares, binds and consumes on `channel`.
    fn on(&mut self, channel: &mut Channel) -> Result<(), Error> {
        self.spec.exchange.prepare(channel)?;
        let queue = self.spec.queue.prepare(channel)?.ok_or_else(|| {
            Error::Usage("con needs a queue: -q NAME, or -Q for a broker-named one".to_string())
        })?;
        for key in self.spec.bindings.iter().flatten() {
            let exchange = &self.spec.exchange.name;
            declare::bind(
                channel,
                Destination::Queue(&queue),
                exchange,
                key,
                &Table::new(),
            )?;
        }
        self.queue = queue.clone();
        let prefetch = self.window();
        let mut arguments = Table::new();
        if let Some(resume) = &self.resume {
            arguments.insert(STREAM_OFFSET.to_string(), resume.argument());
        }
        let settings = ConsumerSettings {
            no_ack: self.spec.ack_auto,
            arguments,
            ..ConsumerSettings::default()
        };
        let limits = Limits {
            budget: self.spec.max_inflight_bytes,
            cap: prefetch,
        };
        let mut consumer = Bounded::start(channel, &queue, settings, limits, None)?;
        let mut acks = Acks::new(self.spec.ack_auto, consumer.prefetch());
        let spec = self.spec;
        let consumed = match &spec.mode {
            Mode::Print {
                format,
                quiet,
                save_dir,
            } => {
                let mut saver = save_dir.as_deref().map(SaveDir::open).transpose()?;
                self.print(&mut consumer, &mut acks, format, *quiet, saver.as_mut())
            }
            Mode::Lazy { format, pause } => self.hold_one(&mut consumer, format, *pause),
            Mode::Exec(exec) => self.execute(&mut consumer, &mut acks, exec),
        };
        let consumed = consumed.and_then(|()| acks.send(consumer.channel()));
        let cancelled = consumer.cancel();
        consumed?;
        cancelled
    }

    /// The prefetch to ask for: `--prefetch`, but with `--count` no more
    /// than the messages still to take (unless --filter-requeue, whose
    /// requeued message would come back alone, again and again), so that
    /// none is delivered only to be requeued.
    fn window(&self) -> u16 {
        let requeues = self
            .spec
            .filter
            .as_ref()
            .is_some_and(|f| matches!(f.others, Others::Requeued));
        if self.spec.count.is_none() || requeues {
            return self.spec.prefetch;
        }
        let limit = u16::try_from(self.remaining).unwrap_or(u16::MAX);
        match self.spec.prefetch {
            0 => limit,
            p => p.min(limit),
        }
    }

    /// Prints deliveries in batches, each batch flushed before it is acked.
    fn print(
        &mut self,
        consumer: &mut Bounded<'_>,
        acks: &mut Acks,
        format: &Format,
        quiet: bool,
        mut saver: Option<&mut SaveDir>,
    ) -> Result<(), Error> {
        let mut batch: Vec<Delivery> = Vec::with_capacity(MAX_BATCH);
        let mut rendered = Vec::with_capacity(64 * 1024);
        while self.remaining > 0 {
            let Some(first) = self.next(consumer, acks)? else {
                break;
            };
            let mut bytes = first.body().len();
            batch.push(first);
            let limit = self.remaining.min(MAX_BATCH as u64) as usize;
            while batch.len() < limit && bytes < MAX_BATCH_BYTES {
                match consumer.try_next()? {
                    Some(d) => {
                        bytes += d.body().len();
                        batch.extend(self.keep(consumer.channel(), d)?);
                    }
                    None => break,
                }
            }
            if let Some(saver) = saver.as_deref_mut() {
                for d in &batch {
                    saver.save(d)?;
                }
            }
            if !quiet {
                format.write_batch(&batch, &mut rendered, &mut self.lines)?;
                self.lines.flush()?;
            }
            self.remaining -= batch.len() as u64;
            self.progress.add(batch.len() as u64);
            if let (Some(resume), Some(last)) = (&mut self.resume, batch.last()) {
                resume.delivered(last);
            }
            let n = batch.len();
            if let Some(last) = batch.pop() {
                acks.follow(consumer.prefetch());
                acks.written(consumer.channel(), last, n)?;
            }
            batch.clear();
        }
        Ok(())
    }

    /// `--lazy`: prints one delivery and holds it unacked for `pause`; the
    /// broker requeues it when the channel closes.
    fn hold_one(
        &mut self,
        consumer: &mut Bounded<'_>,
        format: &Format,
        pause: Duration,
    ) -> Result<(), Error> {
        // Nothing is written before it, so no ack is pending.
        let mut none = Acks::new(true, self.spec.prefetch);
        if let Some(d) = self.next(consumer, &mut none)? {
            let mut rendered = Vec::new();
            format.render(&d, &mut rendered);
            self.lines.raw(&rendered)?;
            self.lines.flush()?;
            let _ = self.interrupts.recv_timeout(pause);
        }
        Ok(())
    }

    /// `--exec`: one command per delivery, which settles it; pauses after
    /// failures as `--exec-backoff` says.
    fn execute(
        &mut self,
        consumer: &mut Bounded<'_>,
        acks: &mut Acks,
        exec: &ExecSpec,
    ) -> Result<(), Error> {
        let mut poison = Poison::new(exec.backoff, exec.max_attempts);
        while self.remaining > 0 {
            let Some(d) = self.next(consumer, acks)? else {
                break;
            };
            self.remaining -= 1;
            self.progress.add(1);
            // Handed to the command: not again, even if its ack is lost.
            if let Some(resume) = &mut self.resume {
                resume.delivered(&d);
            }
            match run_exec(consumer.channel(), exec, d, &mut poison, &self.interrupts)? {
                Some(pause) if !pause.is_zero() => {
                    if self.interrupts.recv_timeout(pause).is_ok() {
                        break;
                    }
                }
                Some(_) => {}
                None => break,
            }
        }
        Ok(())
    }

    /// The next delivery (that `--filter` keeps); `None` at a signal,
    /// after --idle-timeout without one, or once the queue is drained
    /// (--until-empty).
    fn next(
        &mut self,
        consumer: &mut Bounded<'_>,
        acks: &mut Acks,
    ) -> Result<Option<Delivery>, Error> {
        let started = Instant::now();
        while let Some(d) = self.next_delivery(consumer, acks, started)? {
            if let Some(d) = self.keep(consumer.channel(), d)? {
                return Ok(Some(d));
            }
            // Requeued messages come back at once: no wait would time out.
            if self
                .spec
                .idle_timeout
                .is_some_and(|t| started.elapsed() >= t)
            {
                break;
            }
        }
        Ok(None)
    }

    /// The next delivery, whatever it is; `None` as for [`Self::next`],
    /// --idle-timeout counted from `started`. Pending acks go out before a
    /// wait longer than [`ACK_DELAY`].
    fn next_delivery(
        &mut self,
        consumer: &mut Bounded<'_>,
        acks: &mut Acks,
        started: Instant,
    ) -> Result<Option<Delivery>, Error> {
        let idle_timeout = self.spec.idle_timeout;
        if acks.pending() {
            let short = idle_timeout.map_or(ACK_DELAY, |t| t.min(ACK_DELAY));
            match consumer.next(Some(short), Some(&self.interrupts))? {
                Next::Delivery(d) => return Ok(Some(self.seen(d))),
                Next::Interrupted => return Ok(None),
                Next::Idle => {}
            }
            acks.send(consumer.channel())?;
        }
        loop {
            let rest = idle_timeout.map(|t| t.saturating_sub(started.elapsed()));
            let wait = match (rest, self.spec.until_empty) {
                (Some(rest), true) => Some(rest.min(DRAIN_GRACE)),
                (None, true) => Some(DRAIN_GRACE),
                (rest, false) => rest,
            };
            match consumer.next(wait, Some(&self.interrupts))? {
                Next::Delivery(d) => return Ok(Some(self.seen(d))),
                Next::Interrupted => return Ok(None),
                Next::Idle if rest.is_some_and(|rest| rest <= DRAIN_GRACE) => return Ok(None),
                Next::Idle if !self.spec.until_empty || self.drained(consumer.channel())? => {
                    return Ok(None);
                }
                Next::Idle => {}
            }
        }
    }

    /// `d` when `--filter` keeps it (or there is none) and it was not
    /// delivered before a reconnect; otherwise settles it (as the filter's
    /// flags say) and returns `None`.
    fn keep(&self, channel: &Channel, d: Delivery) -> Result<Option<Delivery>, Error> {
        if self.resume.as_ref().is_some_and(|r| r.delivered_before(&d)) {
            // A stream keeps it: the ack only makes room in the prefetch.
            channel.basic_ack(d, false)?;
            return Ok(None);
        }
        let Some(filtering) = &self.spec.filter else {
            return Ok(Some(d));
        };
        if filtering.filter.matches(&d) {
            return Ok(Some(d));
        }
        match filtering.others {
            Others::Dropped => {}
            Others::Acked => channel.basic_ack(d, false)?,
            Others::Requeued => channel.basic_nack(d, false, true)?,
        }
        Ok(None)
    }

    /// Notes what a delivery tells about the queue (a stream's deliveries
    /// carry their offset).
    fn seen(&mut self, d: Delivery) -> Delivery {
        if self.spec.until_empty && !self.stream {
            self.stream = d
                .properties()
                .headers
                .is_some_and(|h| h.contains_key(STREAM_OFFSET));
        }
        d
    }

    /// Whether the queue is drained, after [`DRAIN_GRACE`] without a
    /// delivery: the broker counts no ready message. A stream keeps its
    /// messages, so for one the quiet moment is the end.
    fn drained(&self, channel: &Channel) -> Result<bool, Error> {
        if self.stream {
            return Ok(true);
        }
        Ok(channel.queue_inspect(&self.queue)?.messages == 0)
    }
}

/// Runs the --exec command for one delivery and settles it. Returns the
/// pause before the next message (zero after a success), or `None` when a
/// stop request came while the command ran.
fn run_exec(
    channel: &Channel,
    exec: &ExecSpec,
    d: Delivery,
    poison: &mut Poison,
    interrupts: &Receiver<i32>,
) -> Result<Option<Duration>, Error> {
    let (verdict, stopped) = exec::run_until(&exec.command, &d, exec.timeout, interrupts)?;
    let tag = d.delivery_tag();
    let pause = match verdict {
        Verdict::Done => {
            poison.succeeded(&d);
            channel.basic_ack(d, false)?;
            Duration::ZERO
        }
        Verdict::Failed(why) if stopped.is_some() => {
            // Stopped mid-task: not the message's fault, so not counted.
            status(format_args!(
                "WARNING: --exec command {why} after the stop request, for delivery {tag}: requeued"
            ));
            channel.basic_nack(d, false, true)?;
            Duration::ZERO
        }
        Verdict::Failed(why) if exec.no_requeue => {
            status(format_args!(
                "WARNING: --exec command {why} for delivery {tag}: rejected"
            ));
            channel.basic_reject(d, false)?;
            Duration::ZERO
        }
        Verdict::Failed(why) => {
            let (fate, pause) = poison.failed(&d);
            match fate {
                AfterFailure::Reject(n) => {
                    status(format_args!(
                        "WARNING: --exec command {why} for delivery {tag}: rejected after {n} attempts (--exec-max-attempts)"
                    ));
                    channel.basic_reject(d, false)?;
                }
                AfterFailure::Requeue(n) => {
                    status(format_args!(
                        "WARNING: --exec command {why} for delivery {tag} (attempt {n}): requeued"
                    ));
                    channel.basic_nack(d, false, true)?;
                }
            }
            pause
        }
    };
    Ok(if stopped.is_some() { None } else { Some(pause) })
}
