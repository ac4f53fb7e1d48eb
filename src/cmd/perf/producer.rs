//! One `perf` producer: its own connection and thread, stamped messages
//! published as fast as allowed (or at `--rate`), and with `--confirm` each
//! message's confirm latency, from its publish to the broker's ack (a
//! multiple ack settles each message it covers, in publish order).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::consumer::Part;
use super::stamp::{Stamp, now_nanos, run_id, wall};
use crate::cmd::io::pace::Pacer;
use crate::error::Error;
use amqpctl::amqp::{Channel, Confirmation, Properties, Publish};

/// How long a producer that was told to stop still waits for the confirms
/// of what it published.
const CONFIRM_GRACE: Duration = Duration::from_secs(10);

/// How often a producer waiting for confirms looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);

/// One producer's part of the run.
pub struct Producer<'a> {
    /// Its number, from 1 (in the stamp).
    pub id: u32,
    /// How many it publishes; `None` until told to stop.
    pub count: Option<u64>,
    /// What every worker is handed.
    pub part: Part<'a>,
}

impl Producer<'_> {
    /// Connects, publishes until done or told to stop, waits for the last
    /// confirms, and closes.
    pub fn run(self) -> Result<(), Error> {
        self.part.run(|channel| self.publish_all(channel))
    }

    fn publish_all(&self, channel: &Channel) -> Result<(), Error> {
        if self.part.spec.confirm.is_some() {
            channel.confirm_delivery()?;
        }
        let properties = Properties {
            delivery_mode: self.part.spec.persistent.then_some(2),
            ..Properties::default()
        };
        let mut body = vec![0u8; self.part.spec.size.largest()];
        let mut sizes = self.part.spec.size.picker();
        let mut pacer = self.part.spec.rate.clone().map(Pacer::schedule);
        // Publish times (ns) of the unconfirmed messages, oldest first (the
        // broker's confirms settle them in this order), with the interval
        // the pacer then expected between messages.
        let mut published: VecDeque<(u64, Option<u64>)> = VecDeque::new();
        let mut seq = 0u64;
        while !self.part.control.producers_stopped() && self.count.is_none_or(|n| seq < n) {
            if let Some(p) = pacer.as_mut() {
                if self.part.spec.confirm.is_some() {
                    // Settle confirms while waiting, so their latency is
                    // taken when they come, not at the next publish.
                    let due = p.next_due();
                    channel
                        .wait_confirms_until(0, Some(due), |_, c| self.settle(&mut published, c))?;
                }
                if p.wait(&self.part.stop).is_some() {
                    break;
                }
            }
            seq += 1;
            let nanos = now_nanos();
            let body = &mut body[..sizes.next_size()];
            Stamp {
                nanos: wall(nanos),
                seq,
                producer: self.id,
                run: run_id(),
            }
            .write(body);
            channel.basic_publish(&Publish {
                exchange: "",
                routing_key: self.part.queue,
                body,
                properties: &properties,
                mandatory: false,
            })?;
            {
                let mut tally = self.part.tally.lock();
                tally.count += 1;
                tally.bytes += body.len() as u64;
            }
            if let Some(window) = self.part.spec.confirm {
                let expected = pacer.as_ref().and_then(Pacer::interval);
                published.push_back((nanos, expected.map(|d| d.as_nanos() as u64)));
                channel.poll_confirms(|_, c| self.settle(&mut published, c))?;
                let full = (channel.unconfirmed() >= window).then(Instant::now);
                while channel.unconfirmed() >= window && !self.part.control.producers_stopped() {
                    let deadline = Instant::now() + STOP_POLL;
                    channel.wait_confirms_until(window - 1, Some(deadline), |_, c| {
                        self.settle(&mut published, c)
                    })?;
                }
                if let Some(since) = full {
                    self.part.tally.lock().confirm_wait += since.elapsed();
                }
            }
        }
        if self.part.spec.confirm.is_some() {
            let deadline = Instant::now() + CONFIRM_GRACE;
            channel
                .wait_confirms_until(0, Some(deadline), |_, c| self.settle(&mut published, c))?;
        }
        self.part.tally.lock().last_nanos = now_nanos();
        Ok(())
    }

    /// Records the verdict on the oldest unconfirmed message.
    fn settle(&self, published: &mut VecDeque<(u64, Option<u64>)>, outcome: Confirmation) {
        let now = now_nanos();
        let Some((at, expected)) = published.pop_front() else {
            return;
        };
        let mut tally = self.part.tally.lock();
        match outcome {
            Confirmation::Ack | Confirmation::Returned { .. } => {
                tally.confirmed += 1;
                tally.record_expecting(now.saturating_sub(at), expected);
            }
            Confirmation::Nack => tally.nacked += 1,
        }
    }
}
