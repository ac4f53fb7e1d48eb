//! What a lost connection leaves unsure in a transfer, kept across
//! reconnections (`--reconnect`): the messages the destination had
//! confirmed whose source ack may have gone with the connection, and the
//! ones published without a verdict yet. Each comes back to the source
//! unless its ack was taken; when one is taken and published again, the
//! summary counts it at the destination twice (surely, or perhaps). What
//! never comes back before the source is drained had its ack taken: moved.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use amqpctl::amqp::Delivery;

/// A message as a transfer tells it again when it comes back: body and
/// routing. Not its headers: a quorum queue adds `x-delivery-count` to a
/// message it delivers again.
pub fn fingerprint(d: &Delivery) -> u64 {
    let mut h = DefaultHasher::new();
    d.body().hash(&mut h);
    d.exchange().hash(&mut h);
    d.routing_key().hash(&mut h);
    h.finish()
}

/// How a message taken again was at the destination before.
pub enum Before {
    /// Confirmed there: it is there twice once published again.
    Confirmed,
    /// Published, unconfirmed at the loss: perhaps there twice.
    Unconfirmed,
}

/// The unsure messages of lost connections, by [`fingerprint`] (several
/// messages may share one: it counts them).
#[derive(Debug, Default)]
pub struct Suspects {
    confirmed: HashMap<u64, u32>,
    unconfirmed: HashMap<u64, u32>,
}

impl Suspects {
    /// Notes messages the destination confirmed, not known acked.
    pub fn confirmed(&mut self, prints: impl IntoIterator<Item = u64>) {
        for p in prints {
            *self.confirmed.entry(p).or_insert(0) += 1;
        }
    }

    /// Notes messages published without a verdict.
    pub fn unconfirmed(&mut self, prints: impl IntoIterator<Item = u64>) {
        for p in prints {
            *self.unconfirmed.entry(p).or_insert(0) += 1;
        }
    }

    /// Whether `d`, taken again (the broker says it was delivered before),
    /// is one of them, and how it was at the destination; it no longer is.
    pub fn back(&mut self, d: &Delivery) -> Option<Before> {
        if !d.redelivered() || self.is_empty() {
            return None;
        }
        let p = fingerprint(d);
        if take(&mut self.confirmed, p) {
            return Some(Before::Confirmed);
        }
        take(&mut self.unconfirmed, p).then_some(Before::Unconfirmed)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.confirmed.is_empty() && self.unconfirmed.is_empty()
    }

    /// How many have not come back: confirmed, unconfirmed.
    pub fn left(&self) -> (u64, u64) {
        let count = |m: &HashMap<u64, u32>| m.values().map(|&n| u64::from(n)).sum();
        (count(&self.confirmed), count(&self.unconfirmed))
    }

    /// Adds `other`'s.
    pub fn merge(&mut self, other: Suspects) {
        for (p, n) in other.confirmed {
            *self.confirmed.entry(p).or_insert(0) += n;
        }
        for (p, n) in other.unconfirmed {
            *self.unconfirmed.entry(p).or_insert(0) += n;
        }
    }
}

/// Takes one `p` out of `counts`, if there is one.
fn take(counts: &mut HashMap<u64, u32>, p: u64) -> bool {
    let Some(n) = counts.get_mut(&p) else {
        return false;
    };
    *n -= 1;
    if *n == 0 {
        counts.remove(&p);
    }
    true
}
