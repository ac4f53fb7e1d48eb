//! `--max-inflight-bytes` (`con`, `move`, `redrive`): a consumer whose
//! prefetch follows the size of the bodies it receives, so that what the
//! broker may send ahead stays under a budget in bytes. The broker counts a
//! prefetch in messages only, and a client holds every byte it sent
//! (amiquip reads the socket eagerly), so the bound holds from the first
//! delivery: a consumer starts at a prefetch of 1 unless it knows a body
//! size already (a transfer's first message, taken with basic.get).
//!
//! The rule: prefetch = budget / S, where S is the largest body among the
//! last [`BLOCK`] to 2 × [`BLOCK`] deliveries; at least 1, at most the
//! count prefetch asked for. It goes down as soon as S grows, and up only
//! by a quarter or more.
//!
//! A `basic.qos` changes only the consumers started after it (RabbitMQ
//! keeps an existing consumer's prefetch), and global QoS is refused on
//! RabbitMQ 4 and by quorum queues; so a change starts a new consumer with
//! the new prefetch on the same channel and cancels the old one, whose
//! unacked deliveries stay valid. On a queue, the new one starts first (an
//! auto-delete queue would go with its last consumer, a single active
//! consumer would pass to another client) and both consumers' deliveries
//! are handed out in delivery-tag order, the queue's order. On a stream the
//! old one is cancelled first and the new one attaches after the last
//! offset received.

use std::collections::VecDeque;
use std::time::Duration;

use crossbeam_channel::Receiver;

use crate::error::Error;
use amqpctl::amqp::{AmqpError, Channel, Consumer, ConsumerSettings, Delivery, Next, Value};

/// Deliveries in a block of the size estimate: the largest body of this
/// block and the one before it.
const BLOCK: u32 = 64;

/// The prefetch for bodies of `size` bytes under `budget` bytes (0: no
/// budget): budget / size, at least 1, at most `cap` (0: no limit in
/// messages, then 0 too from 65,535 on).
pub fn prefetch_for(budget: u64, size: u64, cap: u16) -> u16 {
    if budget == 0 {
        return cap;
    }
    let fits = (budget / size.max(1)).max(1);
    let level = u16::try_from(fits).unwrap_or(u16::MAX);
    match cap {
        0 if level == u16::MAX => 0,
        0 => level,
        cap => level.min(cap),
    }
}

/// Whether the rule's new `level` replaces `now`: at once when lower (the
/// bound), when higher only by a quarter or more, so that bodies of
/// varying size do not restart the consumer again and again.
fn worth_changing(now: u16, level: u16) -> bool {
    let count = |l: u16| if l == 0 { 65_536 } else { u32::from(l) };
    let (now, level) = (count(now), count(level));
    level < now || level * 4 >= now * 5
}

/// The largest body lately: of the current block of deliveries and of the
/// block before it (so a large body counts for at least [`BLOCK`] more).
#[derive(Default)]
struct Recent {
    previous: u64,
    current: u64,
    seen: u32,
}

impl Recent {
    fn add(&mut self, size: u64) {
        if self.seen == BLOCK {
            self.previous = std::mem::take(&mut self.current);
            self.seen = 0;
        }
        self.current = self.current.max(size);
        self.seen += 1;
    }

    fn largest(&self) -> u64 {
        self.previous.max(self.current)
    }
}

/// What bounds a consumer: the budget in bytes and the count prefetch.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `--max-inflight-bytes` (0: none).
    pub budget: u64,
    /// The prefetch in messages asked for (0: none).
    pub cap: u16,
}

/// A consumer whose prefetch keeps prefetch × body size under a budget.
pub struct Bounded<'c> {
    channel: &'c Channel,
    queue: String,
    settings: ConsumerSettings,
    consumer: Option<Consumer<'c>>,
    /// Received and not yet handed out, in delivery-tag order: what a
    /// cancelled consumer had delivered, merged with its successor's.
    backlog: VecDeque<Delivery>,
    limits: Limits,
    /// The rule's prefetch at the last change (0: no limit).
    level: u16,
    /// Deliveries held unacked with their bodies released (a transfer's
    /// left ones), as at the last change: the prefetch makes room for them.
    held: u16,
    prefetch: u16,
    recent: Recent,
    /// Whether the queue is a stream (its deliveries carry offsets), once
    /// the first delivery told.
    stream: Option<bool>,
    /// A stream's last offset received: where a new consumer attaches.
    last_offset: Option<i64>,
}

impl<'c> Bounded<'c> {
    /// Starts consuming `queue` on `channel`. `first` is the size of a body
    /// already known (else the prefetch starts at 1). With no budget, or
    /// `no_ack` (the broker ignores any prefetch then), it is a plain
    /// consumer with `limits.cap`.
    pub fn start(
        channel: &'c Channel,
        queue: &str,
        settings: ConsumerSettings,
        mut limits: Limits,
        first: Option<usize>,
    ) -> Result<Bounded<'c>, Error> {
        if settings.no_ack {
            limits.budget = 0;
        }
        let mut recent = Recent::default();
        let level = match first {
            _ if limits.budget == 0 => 0,
            Some(size) => {
                recent.add(size as u64);
                prefetch_for(limits.budget, size as u64, 0)
            }
            None => 1,
        };
        let mut bounded = Bounded {
            channel,
            queue: queue.to_string(),
            settings,
            consumer: None,
            backlog: VecDeque::new(),
            limits,
            level,
            held: 0,
            prefetch: 0,
            recent,
            stream: None,
            last_offset: None,
        };
        bounded.prefetch = bounded.combined(level, 0);
        bounded.consumer = Some(bounded.consume(bounded.prefetch)?);
        Ok(bounded)
    }

    fn consume(&self, prefetch: u16) -> Result<Consumer<'c>, Error> {
        log::debug!(
            "consumer of '{}' with prefetch {prefetch} (max-inflight-bytes {}, largest recent body {} bytes)",
            self.queue,
            self.limits.budget,
            self.recent.largest()
        );
        self.channel.basic_qos(prefetch)?;
        Ok(self.channel.basic_consume(&self.queue, &self.settings)?)
    }

    /// The prefetch of the consumer now (0: no limit).
    pub fn prefetch(&self) -> u16 {
        self.prefetch
    }

    /// What the prefetch leaves for deliveries not held: the budget's
    /// share (0: no limit).
    pub fn room(&self) -> u16 {
        self.combined(self.level, 0)
    }

    /// The channel it consumes on, for acknowledgements.
    pub fn channel(&self) -> &'c Channel {
        self.channel
    }

    /// Waits for the next delivery as [`Consumer::next`] does.
    pub fn next<T>(
        &mut self,
        timeout: Option<Duration>,
        interrupt: Option<&Receiver<T>>,
    ) -> Result<Next, Error> {
        loop {
            if let Some(d) = self.backlog.pop_front() {
                if interrupt.is_some_and(|i| i.try_recv().is_ok()) {
                    self.backlog.push_front(d);
                    return Ok(Next::Interrupted);
                }
                return self.handed(d).map(Next::Delivery);
            }
            match self.current()?.next(timeout, interrupt)? {
                Next::Delivery(d) if self.seen_before(&d) => self.skip(d)?,
                Next::Delivery(d) => return self.handed(d).map(Next::Delivery),
                other => return Ok(other),
            }
        }
    }

    /// A delivery that has already arrived, without waiting.
    pub fn try_next(&mut self) -> Result<Option<Delivery>, Error> {
        loop {
            if let Some(d) = self.backlog.pop_front() {
                return self.handed(d).map(Some);
            }
            match self.current()?.try_next()? {
                Some(d) if self.seen_before(&d) => self.skip(d)?,
                Some(d) => return self.handed(d).map(Some),
                None => return Ok(None),
            }
        }
    }

    /// Makes room for `held` deliveries kept unacked with their bodies
    /// released, besides the budget's share, as far as the count prefetch
    /// allows: a new consumer when the prefetch grows.
    pub fn hold(&mut self, held: u16) -> Result<(), Error> {
        let wanted = self.combined(self.level, held);
        if self.limits.budget != 0 && self.prefetch != 0 && (wanted == 0 || wanted > self.prefetch)
        {
            self.held = held;
            self.change(wanted)?;
        }
        Ok(())
    }

    /// Cancels the consumer; what it received and did not hand out goes
    /// back to the queue when the channel closes.
    pub fn cancel(mut self) -> Result<(), Error> {
        match self.consumer.take() {
            Some(consumer) => Ok(consumer.cancel()?),
            None => Ok(()),
        }
    }

    fn current(&self) -> Result<&Consumer<'c>, Error> {
        self.consumer.as_ref().ok_or_else(|| {
            Error::Amqp(AmqpError::Protocol(
                "the consumer was closed by this client".to_string(),
            ))
        })
    }

    /// A stream's new consumer may start at the beginning of the chunk
    /// that holds the offset asked for: what came before is skipped.
    fn seen_before(&self, d: &Delivery) -> bool {
        match self.last_offset {
            Some(last) => offset(d).is_some_and(|o| o <= last),
            None => false,
        }
    }

    /// A stream keeps a skipped delivery: the ack only returns its credit.
    fn skip(&self, d: Delivery) -> Result<(), Error> {
        Ok(self.channel.basic_ack(d, false)?)
    }

    /// Notes `d`'s size (and offset), changes the prefetch if the rule
    /// says so, and hands `d` out.
    fn handed(&mut self, d: Delivery) -> Result<Delivery, Error> {
        // Only a stream's deliveries are read for headers: converting the
        // properties of each would cost small messages their speed.
        if self.stream != Some(false) {
            let o = offset(&d);
            self.stream = Some(o.is_some());
            if let Some(o) = o {
                self.last_offset = Some(self.last_offset.map_or(o, |last| last.max(o)));
            }
        }
        if self.limits.budget == 0 {
            return Ok(d);
        }
        self.recent.add(d.body().len() as u64);
        let level = prefetch_for(self.limits.budget, self.recent.largest(), 0);
        if worth_changing(self.level, level) {
            self.level = level;
            let wanted = self.combined(level, self.held);
            if wanted != self.prefetch {
                self.change(wanted)?;
            }
        }
        Ok(d)
    }

    /// The prefetch for the rule's `level` with room for `held`, at most
    /// the count prefetch (0: no limit).
    fn combined(&self, level: u16, held: u16) -> u16 {
        let n = match level {
            0 => 0,
            n => n.saturating_add(held),
        };
        match (self.limits.cap, n) {
            (0, n) => n,
            (cap, 0) => cap,
            (cap, n) => n.min(cap),
        }
    }

    /// Replaces the consumer by one with prefetch `wanted`.
    fn change(&mut self, wanted: u16) -> Result<(), Error> {
        let Some(old) = self.consumer.take() else {
            return Ok(());
        };
        let mut pending: Vec<Delivery> = self.backlog.drain(..).collect();
        if self.stream == Some(true) {
            // A stream: the old consumer goes first; the new one attaches
            // after everything received.
            pending.extend(old.cancel_keeping()?);
            if let Some(last) = pending.iter().filter_map(offset).max() {
                self.last_offset = Some(self.last_offset.map_or(last, |l| l.max(last)));
            }
            let next = self.last_offset.map_or(0, |last| last.saturating_add(1));
            self.settings
                .arguments
                .insert(STREAM_OFFSET.to_string(), Value::I64(next));
            self.consumer = Some(self.consume(wanted)?);
        } else {
            let new = self.consume(wanted)?;
            pending.extend(old.cancel_keeping()?);
            while let Some(d) = new.try_next()? {
                pending.push(d);
            }
            self.consumer = Some(new);
        }
        // Every later delivery has a higher tag than these.
        pending.sort_by_key(Delivery::delivery_tag);
        self.backlog = pending.into();
        self.prefetch = wanted;
        Ok(())
    }
}

/// The header a stream's deliveries carry their offset in, and the
/// consumer argument that says where to start.
pub const STREAM_OFFSET: &str = "x-stream-offset";

/// A delivery's stream offset, if it carries one.
pub fn offset(d: &Delivery) -> Option<i64> {
    crate::cmd::peek::integer_header(d, STREAM_OFFSET)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_keeps_prefetch_times_size_under_the_budget() {
        let mib = 1 << 20;
        assert_eq!(prefetch_for(32 * mib, mib, 1000), 32);
        assert_eq!(prefetch_for(32 * mib, mib + 6, 1000), 31);
        assert_eq!(prefetch_for(32 * mib, 100, 1000), 1000);
        assert_eq!(prefetch_for(32 * mib, 64 * mib, 1000), 1);
        assert_eq!(prefetch_for(32 * mib, 0, 1000), 1000);
        assert_eq!(prefetch_for(0, mib, 1000), 1000);
        assert_eq!(prefetch_for(32 * mib, 100, 0), 0);
        assert_eq!(prefetch_for(32 * mib, 1024, 0), 32768);
    }

    #[test]
    fn the_prefetch_goes_up_by_a_quarter_or_more() {
        assert!(worth_changing(32, 31));
        assert!(!worth_changing(29, 31));
        assert!(worth_changing(1, 2));
        assert!(worth_changing(800, 0));
        assert!(worth_changing(0, 65_000));
        assert!(!worth_changing(60_000, 0));
        assert!(!worth_changing(32, 32));
    }

    #[test]
    fn a_large_body_counts_for_a_block_at_least() {
        let mut recent = Recent::default();
        recent.add(1000);
        for _ in 0..BLOCK * 2 - 1 {
            recent.add(10);
        }
        assert_eq!(recent.largest(), 1000);
        recent.add(10);
        assert_eq!(recent.largest(), 10);
        recent.add(1000);
        for _ in 0..BLOCK {
            recent.add(10);
        }
        assert_eq!(recent.largest(), 1000);
    }
}
