//! Acks for written deliveries: one multiple ack for a batch, sent once
//! enough are pending (so the prefetch window never runs dry) or before a
//! wait for more.

use amqpctl::amqp::{Channel, Delivery};

use crate::error::Error;

/// Written-but-unacked deliveries, acked together with one multiple ack.
pub struct Acks {
    manual: bool,
    last: Option<Delivery>,
    count: usize,
    /// Ack once this many are pending.
    threshold: usize,
}

impl Acks {
    /// Acks for a consumer with this prefetch (0: unlimited); none at all
    /// with `--ack-auto`.
    pub fn new(ack_auto: bool, prefetch: u16) -> Acks {
        Acks {
            manual: !ack_auto,
            last: None,
            count: 0,
            threshold: threshold(prefetch),
        }
    }

    /// Follows the consumer's prefetch as `--max-inflight-bytes` changes
    /// it: a quarter of it pending sends the ack.
    pub fn follow(&mut self, prefetch: u16) {
        self.threshold = threshold(prefetch);
    }

    /// Whether written deliveries wait for their ack.
    pub fn pending(&self) -> bool {
        self.last.is_some()
    }

    /// Records that everything up to `last` (`n` deliveries) is written and
    /// flushed; acks when enough are pending.
    pub fn written(&mut self, channel: &Channel, last: Delivery, n: usize) -> Result<(), Error> {
        if !self.manual {
            return Ok(());
        }
        self.last = Some(last);
        self.count += n;
        if self.count >= self.threshold {
            self.send(channel)?;
        }
        Ok(())
    }

    /// Acks every written delivery (one multiple ack).
    pub fn send(&mut self, channel: &Channel) -> Result<(), Error> {
        if let Some(last) = self.last.take() {
            self.count = 0;
            channel.basic_ack(last, true)?;
        }
        Ok(())
    }
}

/// Acks pending at most: a quarter of the prefetch (0: no limit).
fn threshold(prefetch: u16) -> usize {
    let window = if prefetch == 0 {
        1024
    } else {
        usize::from(prefetch)
    };
    (window / 4).max(1)
}
