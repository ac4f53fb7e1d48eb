//! Where a transfer takes its messages from: the first with basic.get (a
//! stream refuses it at once, where a consumer would wait forever for
//! messages after the stream's end), the rest from a consumer whose
//! prefetch covers the window; with `--filter`, one basic.get each. The
//! consumer's prefetch follows `--max-inflight-bytes` (`broker::inflight`),
//! from the first message's size on, and the window follows the prefetch.

use super::Plan;
use crate::cmd::broker::DRAIN_GRACE;
use crate::cmd::broker::inflight::{Bounded, Limits};
use crate::error::Error;
use amqpctl::amqp::{AmqpError, Channel, ConsumerSettings, Delivery, Next};

/// Messages a transfer whose route leaves some in place may hold unacked,
/// at most, beyond its window: the consumer's prefetch makes room for them.
const HOLD_ALLOWANCE: u64 = 8192;

/// What one pull gave.
pub enum Pulled {
    /// A message.
    Message(Delivery),
    /// Nothing yet: ask again.
    Nothing,
    /// The source is empty.
    Drained,
}

enum State<'c> {
    /// Nothing taken yet.
    Start,
    Consuming(Box<Bounded<'c>>),
    /// One basic.get per message (`--filter`: skipped messages stay
    /// unacked until the end, and would fill a consumer's prefetch).
    Getting,
}

/// The source side of a transfer.
pub struct Pull<'c> {
    src: &'c Channel,
    queue: String,
    state: State<'c>,
    /// The consumer's prefetch in messages at most; `None` for one
    /// basic.get each.
    prefetch: Option<u64>,
    /// `--window`.
    window: usize,
    /// `--max-inflight-bytes`.
    budget: u64,
}

impl<'c> Pull<'c> {
    /// Nothing taken yet: the first [`Pull::next`] starts.
    pub fn new(src: &'c Channel, plan: &Plan<'_>) -> Pull<'c> {
        let window = plan.window as u64;
        let holds = if plan.leaves {
            plan.limit.min(HOLD_ALLOWANCE)
        } else {
            0
        };
        let prefetch = (2 * window + holds).min(u64::from(u16::MAX));
        Pull {
            src,
            queue: plan.queue.to_string(),
            state: State::Start,
            prefetch: plan.filter.is_none().then_some(prefetch),
            window: plan.window,
            budget: plan.budget,
        }
    }

    /// Publishes unconfirmed at most: `--window`, or half of what the
    /// budget lets the consumer's prefetch take (the window, its run of
    /// confirmed messages not yet acked, and the deliveries on their way
    /// while confirms come).
    pub fn window(&self) -> usize {
        match &self.state {
            State::Consuming(c) if c.room() != 0 => {
                self.window.min((usize::from(c.room()) / 2).max(1))
            }
            _ => self.window,
        }
    }

    /// Whether the consumer can deliver more with `held` messages held
    /// unacked (their bodies released), making room for them if the
    /// prefetch may grow: a full prefetch would stall it.
    pub fn room_for(&mut self, held: usize) -> Result<bool, Error> {
        let window = self.window() as u64;
        // After a settle: at most window - 1 unconfirmed, and a run of
        // fewer than [`ack_batch`] confirmed and not acked.
        let in_flight = window + ack_batch(window) - 2;
        let State::Consuming(consumer) = &mut self.state else {
            return Ok(true);
        };
        let room = |c: &Bounded<'_>| match c.prefetch() {
            0 => true,
            prefetch => held as u64 + in_flight < u64::from(prefetch),
        };
        if !room(consumer) {
            consumer.hold(u16::try_from(held).unwrap_or(u16::MAX))?;
        }
        Ok(room(consumer))
    }

    /// The next message, or that there is none.
    pub fn next(&mut self) -> Result<Pulled, Error> {
        match &mut self.state {
            State::Start => self.start(),
            State::Getting => self.get(),
            State::Consuming(consumer) => match consumer.next::<()>(Some(DRAIN_GRACE), None)? {
                Next::Delivery(d) => Ok(Pulled::Message(d)),
                Next::Idle if self.src.queue_inspect(&self.queue)?.messages == 0 => {
                    Ok(Pulled::Drained)
                }
                Next::Idle | Next::Interrupted => Ok(Pulled::Nothing),
            },
        }
    }

    /// The first message, with basic.get; then the consumer starts.
    fn start(&mut self) -> Result<Pulled, Error> {
        let first = self.get().map_err(|e| not_a_stream(e, &self.queue))?;
        self.state = match self.prefetch {
            Some(prefetch) => match &first {
                Pulled::Message(d) => {
                    let limits = Limits {
                        budget: self.budget,
                        cap: u16::try_from(prefetch).unwrap_or(u16::MAX),
                    };
                    let settings = ConsumerSettings::default();
                    let size = Some(d.body().len());
                    let consumer = Bounded::start(self.src, &self.queue, settings, limits, size)?;
                    State::Consuming(Box::new(consumer))
                }
                _ => State::Getting,
            },
            _ => State::Getting,
        };
        Ok(first)
    }

    fn get(&self) -> Result<Pulled, Error> {
        Ok(match self.src.basic_get(&self.queue, false)? {
            Some((d, _)) => Pulled::Message(d),
            None => Pulled::Drained,
        })
    }

    /// A request the source answers only after it took every ack sent
    /// before it (a passive declare of the queue).
    pub fn verify(&self) -> Result<(), Error> {
        self.src.queue_inspect(&self.queue)?;
        Ok(())
    }

    /// Cancels the consumer, if one started; what it delivered and the
    /// transfer did not take goes back when the channel closes.
    pub fn cancel(self) -> Result<(), Error> {
        match self.state {
            State::Consuming(consumer) => Ok(consumer.cancel()?),
            State::Start | State::Getting => Ok(()),
        }
    }
}

/// RabbitMQ refuses basic.get on a stream (540, closing the connection):
/// a stream keeps its messages, so there is nothing to move out of it.
fn not_a_stream(e: Error, queue: &str) -> Error {
    match e {
        Error::Amqp(AmqpError::ConnectionClosed { code: 540, text }) if text.contains("stream") => {
            Error::Unsupported(AmqpError::ConnectionClosed { code: 540, text }).hinted(format!(
                "a stream keeps its messages, so they cannot be moved out of it; read them with: amqpctl con -q {queue} --offset first"
            ))
        }
        e => e,
    }
}

/// Confirmed messages acked together with one `multiple` ack: half a
/// window.
pub fn ack_batch(window: u64) -> u64 {
    (window / 2).max(1)
}
