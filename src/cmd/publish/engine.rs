//! The publishing loop of `pub`: takes messages from the source, publishes
//! them (with confirms: keeps each until the broker's verdict, in a window),
//! respects flow control and signals, and after a lost connection publishes
//! again what was not confirmed.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::PublishSpec;
use super::outcome::{self, Reporter};
use crate::cmd::broker::flow::{self, FlowWait};
use crate::cmd::broker::reconnect::{self, Reconnecting};
use crate::cmd::broker::{ConnectSpec, with_connection};
use crate::cmd::io::output::{Lines, Progress, status};
use crate::cmd::io::pace::Pacer;
use crate::cmd::io::signals;
use crate::error::Error;
use amqpctl::amqp::{AmqpError, Channel, Confirmation, Properties, Publish, Unblocked};

/// How often a wait for confirms looks at flow control and signals.
const FLOW_CHECK: Duration = Duration::from_millis(200);

/// How long outstanding confirms may still come after a signal.
const CONFIRM_GRACE: Duration = Duration::from_secs(5);

/// With `--reconnect`, how many times one message may be nacked and
/// published again before the nack ends the run (exit 7). A cluster that
/// lost a quorum queue's leader nacks until a new one is elected; a queue
/// that refuses messages for good (`x-overflow=reject-publish`) would nack
/// forever.
const NACK_RETRIES: u32 = 5;

/// Publishes everything `spec` describes; reports how far it got when a
/// signal or a lost connection ends it early.
pub fn run(connect: &ConnectSpec, mut spec: PublishSpec) -> Result<(), Error> {
    spec.queue.settle(connect);
    let interrupts = signals::interrupts()?;
    let pacer = spec.rate.map(Pacer::new);
    let quiet = spec.quiet;
    let mut publisher = Publisher {
        connect,
        reporter: Reporter {
            json: spec.json,
            quiet: spec.quiet,
            bodies: spec.bodies,
            failure: None,
            reported: 0,
        },
        spec,
        interrupts,
        // stdout is a report: a reader gone does not stop the publishing.
        lines: Lines::report(),
        pending: VecDeque::new(),
        published: 0,
        interrupted: None,
        progress: Progress::new("sent", None, quiet),
        pacer,
        replay: None,
    };
    let reconnect = publisher.spec.reconnect;
    let interrupts = publisher.interrupts.clone();
    let result = reconnect::run(&mut publisher, reconnect, &interrupts);
    if let Err(e) = &result
        && let Some((code, text)) = outcome::channel_closed(e)
    {
        // Every message's fate is told: these were refused with the channel.
        for m in &publisher.pending {
            publisher
                .reporter
                .refused(&mut publisher.lines, m.seq, code, text)?;
        }
    }
    publisher.progress.finish();
    publisher.lines.flush()?;
    publisher.summarise(&result);
    result
}

/// A message published with confirms, kept until the broker's verdict, so
/// that it can be reported and, after a reconnect, published again.
struct Pending {
    /// Its place in the input, from 1 (numbers outcome lines).
    seq: u64,
    body: Vec<u8>,
    exchange: String,
    routing_key: String,
    properties: Option<Properties>,
    /// How many times the broker nacked it.
    nacks: u32,
}

/// The state of one `pub` run, kept across reconnections.
struct Publisher<'a> {
    connect: &'a ConnectSpec,
    spec: PublishSpec,
    interrupts: Receiver<i32>,
    lines: Lines,
    /// Published, not yet confirmed, in publish order.
    pending: VecDeque<Pending>,
    reporter: Reporter,
    /// Messages taken from the source so far (numbers outcome lines).
    published: u64,
    /// The signal that stopped the run, and when.
    interrupted: Option<(i32, Instant)>,
    progress: Progress,
    /// `--rate`: when the next message is due.
    pacer: Option<Pacer>,
    /// `--speed`: when the replay started, and the first message's
    /// receive time.
    replay: Option<(Instant, u64)>,
}

impl Reconnecting for Publisher<'_> {
    fn attempt(&mut self) -> Result<(), Error> {
        let connect = self.connect;
        let flow = FlowWait::new(self.spec.blocked_timeout);
        with_connection(connect, flow, |_, channel| {
            self.spec.exchange.prepare(channel)?;
            self.spec.queue.prepare(channel)?;
            if self.spec.confirm {
                channel.confirm_delivery()?;
            }
            self.publish_all(channel)
        })
    }

    fn progress(&self) -> u64 {
        self.published
    }

    fn before_wait(&mut self) -> Result<(), Error> {
        self.lines.flush()
    }

    fn before_retry(&mut self) {
        if !self.pending.is_empty() {
            status(format_args!(
                "Publishing again {} messages the broker had not confirmed",
                self.pending.len()
            ));
        }
    }
}

impl Publisher<'_> {
    /// Says how far an interrupted run got, and how many messages went out
    /// unconfirmed where the broker's fate for them is unknown. (After a
    /// channel error they were refused.)
    fn summarise(&self, result: &Result<(), Error>) {
        if let Err(Error::Interrupted(signal)) = result {
            // Said even with --quiet: a script must learn how far it got.
            let sent = self.reporter.reported;
            if self.spec.confirm {
                status(format_args!(
                    "Stopped by signal {signal}: {sent} of {} messages published were confirmed",
                    self.published
                ));
            } else {
                status(format_args!(
                    "Stopped by signal {signal}: {sent} messages sent"
                ));
            }
        }
        let unknown_fate = matches!(result, Err(e) if e.is_connection_lost()
            || matches!(e, Error::Blocked { .. } | Error::Interrupted(_)));
        if unknown_fate && !self.pending.is_empty() {
            let n = self.pending.len();
            let (what, were) = if n == 1 {
                ("message", "was")
            } else {
                ("messages", "were")
            };
            status(format_args!(
                "WARNING: {n} published {what} {were} not confirmed; they may or may not be on the broker"
            ));
        }
    }

    /// Waits until at most `window` messages are unconfirmed, reporting the
    /// confirmed ones in order. Meanwhile it watches flow control (a blocked
    /// broker confirms nothing) and signals: after one, outstanding confirms
    /// get [`CONFIRM_GRACE`] more, then are reported as unconfirmed.
    fn wait(&mut self, channel: &Channel, window: usize) -> Result<(), Error> {
        loop {
            let mut verdicts = Vec::new();
            let deadline = Instant::now() + FLOW_CHECK;
            let reached =
                channel.wait_confirms_until(window, Some(deadline), |_, c| verdicts.push(c))?;
            let mut nacked = Vec::new();
            for verdict in verdicts {
                let mut done = self.pending.pop_front().ok_or_else(|| {
                    Error::Amqp(AmqpError::Protocol(
                        "a confirm for an unknown message".to_string(),
                    ))
                })?;
                if verdict == Confirmation::Nack
                    && self.retries_nacks()
                    && done.nacks < NACK_RETRIES
                {
                    done.nacks += 1;
                    nacked.push(done);
                    continue;
                }
                // Outcome lines number messages by their place in the input,
                // which a reconnect does not change.
                self.reporter
                    .settle(&mut self.lines, done.seq, &done.body, verdict)?;
            }
            if let Some(first) = nacked.first() {
                let seq = first.seq;
                // Published again first, in their order, after the reconnect.
                for m in nacked.into_iter().rev() {
                    self.pending.push_front(m);
                }
                return Err(Error::NackedRetrying { seq });
            }
            if reached {
                return Ok(());
            }
            if let Ok(signal) = self.interrupts.try_recv() {
                self.interrupted.get_or_insert((signal, Instant::now()));
            }
            if let Some((_, when)) = self.interrupted
                && when.elapsed() > CONFIRM_GRACE
            {
                return Ok(());
            }
            self.respect_flow_control(channel)?;
        }
    }

    /// Whether a nack is published again rather than reported: with
    /// `--reconnect`, in text mode (JSON outcome lines report each nack and
    /// go on).
    fn retries_nacks(&self) -> bool {
        self.spec.reconnect && !self.reporter.json
    }

    fn publish(&self, channel: &Channel, m: &Pending) -> Result<(), Error> {
        channel.basic_publish(&Publish {
            exchange: &m.exchange,
            routing_key: &m.routing_key,
            body: &m.body,
            properties: m.properties.as_ref().unwrap_or(&self.spec.properties),
            mandatory: self.spec.mandatory,
        })?;
        Ok(())
    }

    /// Waits while the broker blocks publishing (connection.blocked).
    fn respect_flow_control(&mut self, channel: &Channel) -> Result<(), Error> {
        let Some(reason) = channel.blocked_reason() else {
            return Ok(());
        };
        if self.interrupted.is_some() {
            // Stopping already: only the confirms' grace is left to wait.
            return Ok(());
        }
        self.lines.flush()?;
        flow::announce_blocked(&reason);
        match channel.wait_unblocked(self.spec.blocked_timeout, Some(&self.interrupts)) {
            Unblocked::Yes => {
                flow::announce_unblocked();
                Ok(())
            }
            Unblocked::TimedOut => Err(flow::blocked_too_long(self.spec.blocked_timeout, reason)),
            Unblocked::Interrupted(signal) => {
                self.interrupted.get_or_insert((signal, Instant::now()));
                Ok(())
            }
        }
    }

    /// `message` as the next one to publish: routed by the flags, else by
    /// its envelope, else by the default key.
    fn routed(&self, message: super::source::Outgoing) -> Pending {
        let (exchange, routing_key, properties) = match message.envelope {
            Some(e) => (Some(e.exchange), Some(e.routing_key), Some(e.properties)),
            None => (None, None, None),
        };
        Pending {
            seq: self.published + 1,
            nacks: 0,
            exchange: self
                .spec
                .exchange_flag
                .clone()
                .or(exchange)
                .unwrap_or_default(),
            routing_key: self
                .spec
                .routing_key
                .clone()
                .or(routing_key)
                .unwrap_or_else(|| self.spec.default_key.clone()),
            body: message.body,
            properties,
        }
    }

    /// One connection's publishing: first again what the broker had not
    /// confirmed, then the source until it ends, a signal, or an error.
    fn publish_all(&mut self, channel: &mut Channel) -> Result<(), Error> {
        for m in &self.pending {
            self.publish(channel, m)?;
        }
        while self.interrupted.is_none() && !self.reporter.should_stop() {
            if let Ok(signal) = self.interrupts.try_recv() {
                self.stop(signal);
                break;
            }
            let message = match self.spec.source.next(&self.interrupts) {
                Ok(Some(message)) => message,
                Ok(None) => break,
                Err(Error::Interrupted(signal)) => {
                    self.stop(signal);
                    break;
                }
                Err(bad_input) => {
                    // What went out before the bad input is still reported.
                    self.wait(channel, 0)?;
                    return Err(bad_input);
                }
            };
            let received_at_ms = message.envelope.as_ref().and_then(|e| e.received_at_ms);
            if let Some(signal) = self.pause_before(received_at_ms)? {
                self.stop(signal);
                break;
            }
            self.respect_flow_control(channel)?;
            if self.interrupted.is_some() {
                break;
            }
            let m = self.routed(message);
            self.send(channel, m)?;
        }
        self.wait(channel, 0)?;
        if let Some(failure) = self.reporter.failure.take() {
            return Err(failure);
        }
        match self.interrupted {
            Some((signal, _)) => Err(Error::Interrupted(signal)),
            None => Ok(()),
        }
    }

    /// Notes the signal that stops the run.
    fn stop(&mut self, signal: i32) {
        self.interrupted = Some((signal, Instant::now()));
    }

    /// Waits for what is due before the next message goes out: its place in
    /// a `--speed` replay (by when it was received), the `--rate` schedule,
    /// the pause between messages (never after the last one). A signal ends
    /// the wait and is returned.
    fn pause_before(&mut self, received_at_ms: Option<u64>) -> Result<Option<i32>, Error> {
        if let (Some(speed), Some(at)) = (self.spec.speed, received_at_ms) {
            let (started, first) = *self.replay.get_or_insert((Instant::now(), at));
            let offset = Duration::from_millis(at.saturating_sub(first)).div_f64(speed);
            let wait = (started + offset).saturating_duration_since(Instant::now());
            if let Some(signal) = self.sleep(wait)? {
                return Ok(Some(signal));
            }
        }
        if let Some(pacer) = self.pacer.as_mut() {
            self.lines.flush()?;
            if let Some(signal) = pacer.wait(&self.interrupts) {
                return Ok(Some(signal));
            }
        }
        if self.published > 0 {
            return self.sleep(self.spec.interval);
        }
        Ok(None)
    }

    /// Sleeps `wait` unless a signal comes first (returned), with the
    /// lines printed so far flushed: nothing is held back during a pause.
    fn sleep(&mut self, wait: Duration) -> Result<Option<i32>, Error> {
        if wait.is_zero() {
            return Ok(None);
        }
        self.lines.flush()?;
        Ok(self.interrupts.recv_timeout(wait).ok())
    }

    /// Publishes the next message: with confirms, kept pending until the
    /// window has room; without, reported sent.
    fn send(&mut self, channel: &Channel, m: Pending) -> Result<(), Error> {
        self.published += 1;
        self.progress.add(1);
        if self.spec.confirm {
            // Pending before it is sent: if the connection breaks during
            // the publish, the message is counted and published again.
            self.pending.push_back(m);
            if let Some(m) = self.pending.back() {
                self.publish(channel, m)?;
            }
            self.wait(channel, self.spec.confirm_window)
        } else {
            self.publish(channel, &m)?;
            self.reporter.sent(&mut self.lines, self.published, &m.body)
        }
    }
}
