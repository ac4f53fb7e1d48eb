//! The messages of a transfer between take and ack: published and not yet
//! confirmed (`pending`), confirmed and not yet acked (a run acked with one
//! `multiple` ack), and taken but left in place (`held`, put back at the
//! end). The invariant: a source message is acked only once the
//! destination confirmed it.

use std::collections::VecDeque;

use super::suspects::{Suspects, fingerprint};
use super::{Outgoing, Tally};
use crate::error::Error;
use amqpctl::amqp::{AmqpError, Channel, Confirmation, Delivery, Publish};

/// What is in flight between the two channels.
pub struct Flight<'c> {
    src: &'c Channel,
    dst: &'c Channel,
    /// Published, unconfirmed, in publish (and delivery-tag) order.
    pub pending: VecDeque<Delivery>,
    /// Taken and left in place: unacked until [`Flight::finish`].
    pub held: Vec<Delivery>,
    /// The last of a run of confirmed messages not yet acked, and the run's
    /// length: acked together with one `multiple` ack.
    run: Option<Delivery>,
    run_len: u64,
    /// The [`fingerprint`]s of the run.
    run_prints: Vec<u64>,
    /// A run this long is acked without waiting for more.
    ack_batch: u64,
    /// The [`fingerprint`]s of the messages acked since the source last
    /// answered a request: acks have no reply, so after a lost connection
    /// these may not have been taken.
    acked_prints: Vec<u64>,
    /// The first refusal (nack, return): the transfer ends with it.
    pub failure: Option<Error>,
}

impl<'c> Flight<'c> {
    /// Nothing in flight yet; runs of `ack_batch` confirmed messages are
    /// acked at once.
    pub fn new(src: &'c Channel, dst: &'c Channel, ack_batch: u64) -> Flight<'c> {
        Flight {
            src,
            dst,
            pending: VecDeque::new(),
            held: Vec::new(),
            run: None,
            run_len: 0,
            run_prints: Vec::new(),
            ack_batch: ack_batch.max(1),
            acked_prints: Vec::new(),
            failure: None,
        }
    }

    /// Acks runs of half of `window` from now on: the window follows the
    /// source's prefetch (`--max-inflight-bytes`).
    pub fn follow(&mut self, window: u64) {
        self.ack_batch = super::pull::ack_batch(window);
    }

    /// Publishes one message to the destination, body as it came,
    /// mandatory: an unroutable one comes back as a refusal.
    pub fn publish(&self, d: &Delivery, out: &Outgoing) -> Result<(), Error> {
        self.dst.basic_publish(&Publish {
            exchange: &out.exchange,
            routing_key: &out.routing_key,
            body: d.body(),
            properties: &out.properties,
            mandatory: true,
        })?;
        Ok(())
    }

    /// Settles the confirms that arrived, then waits until at most
    /// `window` publishes are unconfirmed.
    pub fn settle(&mut self, window: usize, tally: &mut Tally) -> Result<(), Error> {
        let mut verdicts = Vec::new();
        self.dst.poll_confirms(|_, c| verdicts.push(c))?;
        self.dst.wait_confirms(window, |_, c| verdicts.push(c))?;
        for verdict in verdicts {
            let Some(d) = self.pending.pop_front() else {
                break;
            };
            match verdict {
                Confirmation::Ack => self.confirmed(d, tally)?,
                Confirmation::Nack => self.refused(
                    d,
                    // Numbered by its place among those settled.
                    Error::Nacked {
                        seq: tally.moved + self.run_len + 1,
                    },
                    tally,
                )?,
                Confirmation::Returned { code, text } => {
                    let e = Error::Amqp(AmqpError::Returned { code, text });
                    self.refused(d, e, tally)?;
                }
            }
        }
        if self.run_len >= self.ack_batch {
            self.ack_run(tally)?;
        }
        Ok(())
    }

    /// Waits for every confirm, acks what is confirmed and puts back what
    /// was held: what a clean end (or a signal) does.
    pub fn finish(&mut self, tally: &mut Tally) -> Result<(), Error> {
        self.settle(0, tally)?;
        self.ack_run(tally)?;
        crate::cmd::broker::put_back(self.src, std::mem::take(&mut self.held))
    }

    /// Confirmed by the destination and not yet acked at the source: after
    /// a lost connection, in both queues.
    pub fn confirmed_unacked(&self) -> u64 {
        self.run_len
    }

    /// Acked since the source last answered a request.
    pub fn unverified(&self) -> u64 {
        self.acked_prints.len() as u64
    }

    /// The source answered a request: it took every ack sent before.
    pub fn verified(&mut self) {
        self.acked_prints.clear();
    }

    /// At an error: what the destination confirmed and the source was not
    /// acked for (or, `acks_lost` with the connection, perhaps), and what
    /// is unconfirmed. All of it goes back to the source unless acked.
    pub fn lost(&self, suspects: &mut Suspects, acks_lost: bool) {
        let acked = if acks_lost {
            &self.acked_prints[..]
        } else {
            &[]
        };
        suspects.confirmed(self.run_prints.iter().chain(acked).copied());
        suspects.unconfirmed(self.pending.iter().map(fingerprint));
    }

    /// A confirmed message joins the run, unless a held message below it
    /// would be acked with the run: then it is acked alone.
    fn confirmed(&mut self, d: Delivery, tally: &mut Tally) -> Result<(), Error> {
        let below = self
            .held
            .first()
            .is_some_and(|h| h.delivery_tag() < d.delivery_tag());
        if below {
            self.ack_run(tally)?;
        }
        self.run_prints.push(fingerprint(&d));
        self.run = Some(d);
        self.run_len += 1;
        if below {
            self.ack_run(tally)?;
        }
        Ok(())
    }

    /// A refused message goes back at once (after the run before it is
    /// acked); the transfer ends with the first refusal.
    fn refused(&mut self, d: Delivery, e: Error, tally: &mut Tally) -> Result<(), Error> {
        self.ack_run(tally)?;
        self.src.basic_nack(d, false, true)?;
        self.failure.get_or_insert(e);
        Ok(())
    }

    /// Acks the run of confirmed messages with one `multiple` ack (one
    /// alone when it is the run). Until the source takes the ack, they
    /// are in both queues.
    fn ack_run(&mut self, tally: &mut Tally) -> Result<(), Error> {
        let Some(last) = self.run.take() else {
            return Ok(());
        };
        let n = std::mem::take(&mut self.run_len);
        tally.duplicates += n;
        self.src.basic_ack(last, n > 1)?;
        tally.duplicates -= n;
        tally.moved += n;
        self.acked_prints.append(&mut self.run_prints);
        Ok(())
    }
}
