//! Publisher-confirm bookkeeping: which publishes are outstanding, which of
//! them the broker returned as unroutable, and the broker's (possibly
//! multiple, possibly out-of-order) acks and nacks settled one by one in
//! publish order.

use std::collections::VecDeque;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use amiquip::{Confirm, ConfirmSmoother};
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};

use super::channel::Publish;

/// The broker's verdict on one published message, like lapin's `Confirmation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// The broker took responsibility for the message.
    Ack,
    /// The broker refused the message (queue full with `reject-publish`, …).
    Nack,
    /// A mandatory message no queue took; the broker returned it, then acked.
    Returned {
        /// AMQP reply code (312 NO_ROUTE).
        code: u16,
        /// The broker's reply text.
        text: String,
    },
}

struct Outstanding {
    seq: u64,
    /// For mandatory publishes: identifies the message a `basic.return` is
    /// about (returns carry no sequence number).
    fingerprint: Option<u64>,
    returned: Option<(u16, String)>,
}

/// Tracks the publishes of one channel in confirm mode.
pub(crate) struct ConfirmTracker {
    rx: Receiver<Confirm>,
    smoother: ConfirmSmoother,
    next_seq: u64,
    outstanding: VecDeque<Outstanding>,
}

fn fingerprint(exchange: &str, routing_key: &str, body: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    exchange.hash(&mut h);
    routing_key.hash(&mut h);
    body.hash(&mut h);
    h.finish()
}

impl ConfirmTracker {
    pub(crate) fn new(rx: Receiver<Confirm>) -> ConfirmTracker {
        ConfirmTracker {
            rx,
            smoother: ConfirmSmoother::new(),
            next_seq: 1,
            outstanding: VecDeque::new(),
        }
    }

    /// Records a publish; returns its sequence number.
    pub(crate) fn published(&mut self, message: &Publish<'_>) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.outstanding.push_back(Outstanding {
            seq,
            fingerprint: message
                .mandatory
                .then(|| fingerprint(message.exchange, message.routing_key, message.body)),
            returned: None,
        });
        seq
    }

    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// Blocks until at most `max_outstanding` remain (`Ok(true)`) or the
    /// deadline passes (`Ok(false)`). `Err(())` means the channel closed; the
    /// caller asks the channel why.
    pub(crate) fn wait(
        &mut self,
        max_outstanding: usize,
        deadline: Option<Instant>,
        returns: &Receiver<amiquip::Return>,
        mut on_confirm: impl FnMut(u64, Confirmation),
    ) -> Result<bool, ()> {
        while self.outstanding.len() > max_outstanding {
            let confirm = match deadline {
                None => self.rx.recv().map_err(|_| ())?,
                Some(d) => match self.rx.recv_deadline(d) {
                    Ok(c) => c,
                    Err(RecvTimeoutError::Timeout) => return Ok(false),
                    Err(RecvTimeoutError::Disconnected) => return Err(()),
                },
            };
            self.settle(confirm, returns, &mut on_confirm);
        }
        Ok(true)
    }

    /// Settles whatever confirms have arrived, without blocking.
    pub(crate) fn poll(
        &mut self,
        returns: &Receiver<amiquip::Return>,
        mut on_confirm: impl FnMut(u64, Confirmation),
    ) -> Result<(), ()> {
        loop {
            match self.rx.try_recv() {
                Ok(confirm) => self.settle(confirm, returns, &mut on_confirm),
                Err(TryRecvError::Empty) => return Ok(()),
                Err(TryRecvError::Disconnected) if self.outstanding.is_empty() => return Ok(()),
                Err(TryRecvError::Disconnected) => return Err(()),
            }
        }
    }

    fn settle(
        &mut self,
        confirm: Confirm,
        returns: &Receiver<amiquip::Return>,
        on_confirm: &mut impl FnMut(u64, Confirmation),
    ) {
        // The broker sends a message's basic.return before its basic.ack, and
        // amiquip forwards frames in order, so every return that concerns
        // this confirm is already waiting.
        while let Ok(r) = returns.try_recv() {
            self.match_return(r);
        }
        for single in self.smoother.process(confirm) {
            let Some(entry) = self.outstanding.pop_front() else {
                log::warn!("broker confirmed a message that was never published: {single:?}");
                continue;
            };
            let outcome = match (single, entry.returned) {
                (Confirm::Nack(_), _) => Confirmation::Nack,
                (Confirm::Ack(_), Some((code, text))) => Confirmation::Returned { code, text },
                (Confirm::Ack(_), None) => Confirmation::Ack,
            };
            on_confirm(entry.seq, outcome);
        }
    }

    /// Marks the earliest unsettled mandatory publish with the same exchange,
    /// routing key and body as returned (returns come back in publish order).
    fn match_return(&mut self, r: amiquip::Return) {
        let fp = fingerprint(&r.exchange, &r.routing_key, &r.content);
        match self
            .outstanding
            .iter_mut()
            .find(|o| o.returned.is_none() && o.fingerprint == Some(fp))
        {
            Some(entry) => entry.returned = Some((r.reply_code, r.reply_text)),
            None => log::warn!("a returned message matches no outstanding publish"),
        }
    }
}

#[cfg(test)]
mod tests {
    use amiquip::{Confirm, ConfirmPayload, ConfirmSmoother};

    fn single(tag: u64) -> ConfirmPayload {
        ConfirmPayload {
            delivery_tag: tag,
            multiple: false,
        }
    }

    /// RabbitMQ confirms out of order; a multiple nack covers only the tags
    /// still outstanding (vendor/amiquip/PATCHES.md, change 4).
    #[test]
    fn a_multiple_nack_leaves_a_tag_acked_on_its_own_acked() {
        let mut smoother = ConfirmSmoother::new();
        let mut seen: Vec<Confirm> = Vec::new();
        seen.extend(smoother.process(Confirm::Ack(single(1))));
        seen.extend(smoother.process(Confirm::Ack(single(3))));
        seen.extend(smoother.process(Confirm::Nack(ConfirmPayload {
            delivery_tag: 4,
            multiple: true,
        })));
        assert_eq!(
            seen,
            vec![
                Confirm::Ack(single(1)),
                Confirm::Nack(single(2)),
                Confirm::Ack(single(3)),
                Confirm::Nack(single(4)),
            ]
        );
    }
}
