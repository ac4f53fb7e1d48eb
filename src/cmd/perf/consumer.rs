//! One `perf` consumer: its own connection and thread, a prefetch, and
//! either automatic acks or one multiple ack every K deliveries; each
//! delivery's stamp gives its end-to-end latency on the process's clock.

use std::time::Duration;

use crossbeam_channel::Receiver;

use super::shape::rate_at;
use super::stamp::{Stamp, now_nanos, run_id, wall};
use super::stats::Shared;
use super::{Control, PerfSpec};
use crate::cmd::broker::{ConnectSpec, with_channel};
use crate::error::Error;
use amqpctl::amqp::{Channel, Consumer, ConsumerSettings, Delivery, Next};

/// How long a consumer waits for a delivery before it acks what it holds
/// and looks at the stop flag again.
const IDLE_POLL: Duration = Duration::from_millis(50);

/// What each worker of the run is handed, consumer or producer alike.
pub struct Part<'a> {
    /// The run's settings.
    pub spec: &'a PerfSpec,
    /// The queue it works on (one of `--queues`).
    pub queue: &'a str,
    /// Where it connects.
    pub connect: &'a ConnectSpec,
    /// Its counts and latencies.
    pub tally: Shared,
    /// The run's stop flags.
    pub control: &'a Control,
    /// Fires when the run stops at once (a signal; for a producer also
    /// `--duration`).
    pub stop: Receiver<i32>,
}

impl<'a> Part<'a> {
    /// Worker `i`'s part of the run `spec` on the connection `connect`.
    pub fn new(
        spec: &'a PerfSpec,
        control: &'a Control,
        i: u32,
        connect: &'a ConnectSpec,
        tally: &Shared,
        stop: Receiver<i32>,
    ) -> Part<'a> {
        Part {
            spec,
            queue: spec.queues.of_worker(i),
            connect,
            tally: tally.clone(),
            control,
            stop,
        }
    }

    /// Runs `work` on a connection and channel of its own, then keeps the
    /// thread's CPU time in the tally.
    pub fn run(&self, work: impl FnOnce(&Channel) -> Result<(), Error>) -> Result<(), Error> {
        let ran = with_channel(self.connect, |channel| work(channel));
        self.tally.lock().cpu = super::check::thread_cpu();
        ran
    }
}

/// One consumer's part of the run.
pub struct Worker<'a> {
    /// What every worker is handed.
    pub part: Part<'a>,
    /// Told once the consumer is registered, so producers start after it
    /// (a stream consumer reads from the next message on).
    pub ready: crossbeam_channel::Sender<()>,
}

impl Worker<'_> {
    /// Connects, consumes until told to stop, acks what it holds, and
    /// closes.
    pub fn run(self) -> Result<(), Error> {
        self.part.run(|channel| self.consume(channel))
    }

    fn consume(&self, channel: &Channel) -> Result<(), Error> {
        if !self.part.spec.ack_auto {
            channel.basic_qos(self.part.spec.prefetch)?;
        }
        let mut settings = ConsumerSettings {
            no_ack: self.part.spec.ack_auto,
            ..ConsumerSettings::default()
        };
        if self.part.spec.queue_type == super::QueueType::Stream {
            settings.arguments.insert(
                "x-stream-offset".to_string(),
                self.part.spec.stream_offset.clone(),
            );
        }
        let consumer = channel.basic_consume(self.part.queue, &settings)?;
        let _ = self.ready.send(());
        let received = self.receive(&consumer);
        let cancelled = consumer.cancel();
        received?;
        cancelled?;
        Ok(())
    }

    fn receive(&self, consumer: &Consumer<'_>) -> Result<(), Error> {
        let mut unacked: Option<Delivery> = None;
        let mut pending = 0u32;
        let me = run_id();
        while !self.part.control.consumers_stopped() {
            let delivery = match consumer.next(Some(IDLE_POLL), Some(&self.part.stop))? {
                Next::Delivery(d) => d,
                Next::Idle => {
                    self.ack(consumer, &mut unacked, &mut pending)?;
                    continue;
                }
                Next::Interrupted => break,
            };
            if !self.part.spec.ack_auto && !self.part.control.take_delivery() {
                // Over --count (a run without producers): left unacked, so
                // the broker requeues it when the channel closes. (An
                // automatic ack took it already: it is counted.)
                break;
            }
            let now = now_nanos();
            {
                let mut tally = self.part.tally.lock();
                tally.count += 1;
                tally.bytes += delivery.body().len() as u64;
                tally.waiting_sum += consumer.waiting() as u64;
                tally.waiting_samples += 1;
                tally.last_nanos = now;
                match Stamp::read(delivery.body()) {
                    Some(stamp) if stamp.run == me => {
                        let expected = self.expected_interval(stamp.nanos);
                        tally.record_expecting(wall(now).saturating_sub(stamp.nanos), expected);
                    }
                    _ => tally.foreign += 1,
                }
            }
            if !self.part.spec.ack_auto {
                pending += 1;
                unacked = Some(delivery);
                if pending >= self.part.spec.ack_every {
                    self.ack(consumer, &mut unacked, &mut pending)?;
                }
            }
            // --consumer-latency: the work a real consumer would do; a
            // signal ends it.
            if let Some(work) = self.part.spec.consumer_latency
                && self.part.stop.recv_timeout(work).is_ok()
            {
                break;
            }
        }
        self.ack(consumer, &mut unacked, &mut pending)
    }

    /// Under `--rate`, the interval (ns) this consumer expects between the
    /// deliveries of a message published at `published` (wall ns): its
    /// share of every producer's rate at that point of the schedule.
    fn expected_interval(&self, published: u64) -> Option<u64> {
        let steps = self.part.spec.rate.as_deref()?;
        // Before this instance's producers start, another instance's
        // message (a --run-id run) is placed at the schedule's start.
        let started = self.part.control.started().map_or(published, wall);
        let elapsed = Duration::from_nanos(published.saturating_sub(started));
        let rate = rate_at(steps, elapsed) * f64::from(self.part.spec.producers);
        // A stream gives each consumer every message; a queue splits them.
        let share = match self.part.spec.queue_type {
            super::QueueType::Stream => 1.0,
            super::QueueType::Classic | super::QueueType::Quorum => {
                f64::from(self.part.spec.consumers.max(1))
            }
        };
        (rate > 0.0).then(|| (share * 1e9 / rate) as u64)
    }

    /// Acks every delivery held, with one multiple ack.
    fn ack(
        &self,
        consumer: &Consumer<'_>,
        unacked: &mut Option<Delivery>,
        pending: &mut u32,
    ) -> Result<(), Error> {
        if let Some(last) = unacked.take() {
            consumer.channel().basic_ack(last, *pending > 1)?;
        }
        *pending = 0;
        Ok(())
    }
}
