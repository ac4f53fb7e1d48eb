//! Poison messages under `con --exec`: a pause between consecutive failures
//! (so a command that keeps failing does not spin the broker), and a bound
//! on attempts after which a message is rejected without requeue, so the
//! queue's dead-letter exchange gets it.
//!
//! Attempts are counted from the broker's `x-delivery-count` header where
//! the queue keeps one (quorum queues); elsewhere amqpctl counts the
//! failures it saw itself, keyed by the message id, or a hash of the
//! exchange, routing key and body when there is none. That count is best
//! effort: failures seen by other consumers or earlier runs are not in it.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use amqpctl::amqp::{Delivery, Value};

/// The longest pause between failures.
pub const LONGEST_PAUSE: Duration = Duration::from_secs(30);

/// Counts beyond this many distinct messages are forgotten (best effort).
const MAX_TRACKED: usize = 100_000;

/// Failure bookkeeping for one `con --exec` run.
pub struct Poison {
    /// Pause after the first failure in a row (doubled after each further
    /// one, up to [`LONGEST_PAUSE`]); zero for none.
    first_pause: Duration,
    pause: Duration,
    /// Attempts after which a failed message is rejected without requeue.
    max_attempts: Option<u32>,
    failures: HashMap<u64, u32>,
}

/// What to do with a message whose command failed.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// Put it back; this was attempt N.
    Requeue(u32),
    /// Reject it without requeue; this was attempt N, the last allowed.
    Reject(u32),
}

impl Poison {
    /// `first_pause` after a failure, doubling; reject after `max_attempts`.
    pub fn new(first_pause: Duration, max_attempts: Option<u32>) -> Poison {
        Poison {
            first_pause,
            pause: first_pause,
            max_attempts,
            failures: HashMap::new(),
        }
    }

    /// The command succeeded for `d`.
    pub fn succeeded(&mut self, d: &Delivery) {
        self.failures.remove(&key(d));
        self.pause = self.first_pause;
    }

    /// The command failed for `d`: decides its fate, and returns how long to
    /// pause before the next message.
    pub fn failed(&mut self, d: &Delivery) -> (AfterFailure, Duration) {
        let k = key(d);
        let attempt = match broker_delivery_count(d) {
            Some(earlier) => earlier.saturating_add(1),
            None => self
                .failures
                .get(&k)
                .copied()
                .unwrap_or(0)
                .saturating_add(1),
        };
        let fate = match self.max_attempts {
            Some(max) if attempt >= max => {
                self.failures.remove(&k);
                AfterFailure::Reject(attempt)
            }
            _ => {
                if self.failures.len() >= MAX_TRACKED {
                    self.failures.clear();
                }
                self.failures.insert(k, attempt);
                AfterFailure::Requeue(attempt)
            }
        };
        let pause = self.pause;
        self.pause = (self.pause * 2).min(LONGEST_PAUSE);
        (fate, pause)
    }
}

/// Earlier deliveries of `d`, as a quorum queue counts them.
fn broker_delivery_count(d: &Delivery) -> Option<u32> {
    let headers = d.properties().headers?;
    let n = match headers.get("x-delivery-count")? {
        Value::I64(n) => u64::try_from(*n).ok()?,
        Value::I32(n) => u64::try_from(*n).ok()?,
        Value::U32(n) => u64::from(*n),
        Value::I16(n) => u64::try_from(*n).ok()?,
        Value::U16(n) => u64::from(*n),
        Value::I8(n) => u64::try_from(*n).ok()?,
        Value::U8(n) => u64::from(*n),
        _ => return None,
    };
    Some(u32::try_from(n).unwrap_or(u32::MAX))
}

/// What identifies a message across its redeliveries.
fn key(d: &Delivery) -> u64 {
    let mut h = DefaultHasher::new();
    match d.properties().message_id {
        Some(id) => ("id", id).hash(&mut h),
        None => ("content", d.exchange(), d.routing_key(), d.body()).hash(&mut h),
    }
    h.finish()
}
