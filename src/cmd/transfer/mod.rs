//! The transfer engine `move` and `redrive` share: take messages from a
//! queue, publish each where its route says, and ack it at the source only
//! once the destination confirmed it. Many are in flight at once (the
//! window); confirms are settled as they come, and the source's acks go out
//! in runs with `multiple`. A transfer stopped at any instant leaves every
//! message in the source, the destination, or both, never neither.

pub mod again;
mod flight;
mod pull;
mod suspects;

use crossbeam_channel::Receiver;

use super::filter::Filter;
use super::io::output::Progress;
use super::io::pace::Pacer;
use crate::error::Error;
use amqpctl::amqp::{Channel, Delivery, Properties};
use flight::Flight;
use pull::{Pull, Pulled};
use suspects::{Before, Suspects};

/// Messages acked at the source between two requests that show it took
/// the acks (see [`Pull::verify`]): what a lost connection may leave in
/// both queues although counted as moved.
const VERIFY_EVERY: u64 = 500;

/// Publishes unconfirmed at most, by default (`move --window`, and
/// `redrive`'s): chosen by `scripts/bench`'s move case.
pub const DEFAULT_WINDOW: u16 = 1000;

/// Where one message goes, as its route decided.
pub struct Outgoing {
    /// The exchange to publish to (`""`: the default exchange).
    pub exchange: String,
    /// The routing key.
    pub routing_key: String,
    /// The properties it goes with (the source's, or changed by the route).
    pub properties: Properties,
}

/// A route's decision on one message.
#[allow(clippy::large_enum_variant)] // one per message, moved at once: no box
pub enum Route {
    /// Publish it there.
    Send(Outgoing),
    /// Leave it in the source (the route counts why).
    Leave,
}

/// What a transfer does, settled by the command's `resolve()`.
pub struct Plan<'a> {
    /// The source queue.
    pub queue: &'a str,
    /// Messages looked at, at most.
    pub limit: u64,
    /// Messages sent, at most.
    pub count: u64,
    /// Publishes unconfirmed at most.
    pub window: usize,
    /// `--max-inflight-bytes`: body bytes the source may send ahead (0:
    /// no bound); a smaller window follows from it for large bodies.
    pub budget: u64,
    /// Messages a second, evenly spaced.
    pub rate: Option<f64>,
    /// `--filter`: what it skips stays, each looked at once.
    pub filter: Option<&'a Filter>,
    /// Whether the route may leave messages in place (they are held
    /// unacked until the end, so the consumer's prefetch makes room).
    pub leaves: bool,
    /// The progress bar's verb and total.
    pub progress: (&'static str, Option<u64>),
}

/// What a transfer did, for its summary line.
#[derive(Debug, Default)]
pub struct Tally {
    /// Confirmed by the destination and acked at the source.
    pub moved: u64,
    /// Confirmed (or maybe published) and not known to be acked at the
    /// source: a later run may take them again.
    pub duplicates: u64,
    /// Confirmed by the destination before a lost connection, then taken
    /// again (their source ack was lost with it) and published again
    /// (`--reconnect`): the destination holds them twice.
    pub twice: u64,
    /// Published and unconfirmed at a lost connection, then taken and
    /// published again: the destination may hold them twice.
    pub maybe_twice: u64,
    /// The unsure messages of the lost connections retried so far, to
    /// tell when they come back.
    pub suspects: Suspects,
    /// Those of this attempt's error, looked for if it is retried.
    pub lost: Suspects,
    /// Whether the attempt ended with the source drained.
    pub drained: bool,
    /// Skipped by `--filter`, left in place.
    pub skipped: u64,
    /// Left in place by the route.
    pub left: u64,
    /// Not looked at: the route left so many in place that the consumer's
    /// prefetch could take no more ([`Error`]-free early end).
    pub held_full: bool,
}

impl Tally {
    /// Adds the counts of `other` (a later attempt of the same run).
    pub fn add(&mut self, other: Tally) {
        self.moved += other.moved;
        self.duplicates += other.duplicates;
        self.twice += other.twice;
        self.maybe_twice += other.maybe_twice;
        self.suspects.merge(other.suspects);
        self.lost.merge(other.lost);
        self.drained = other.drained;
        self.skipped += other.skipped;
        self.left += other.left;
        self.held_full |= other.held_full;
    }

    /// After a lost connection, before the next attempt: what was unsure
    /// at the loss is looked for among what is taken again, not counted
    /// as in both queues.
    pub fn retrying(&mut self) {
        self.suspects.merge(std::mem::take(&mut self.lost));
        self.duplicates = 0;
    }

    /// At the end of the run: the unsure messages of retried losses that
    /// did not come back had their source ack taken if the source was
    /// drained (moved); otherwise they may be in both queues.
    pub fn settle(&mut self) {
        let (confirmed, unconfirmed) = std::mem::take(&mut self.suspects).left();
        if self.drained {
            self.moved += confirmed;
        } else {
            self.duplicates += confirmed + unconfirmed;
        }
    }
}

/// Moves messages from `src`'s queue through `route` to `dst` (a channel in
/// confirm mode), as `plan` says. A signal ends it cleanly: what is in flight
/// is confirmed and acked first.
pub fn transfer(
    src: &Channel,
    dst: &Channel,
    plan: &Plan<'_>,
    route: &mut dyn FnMut(&Delivery) -> Route,
    interrupts: &Receiver<i32>,
    tally: &mut Tally,
) -> Result<(), Error> {
    let mut pull = Pull::new(src, plan);
    let mut flight = Flight::new(src, dst, pull::ack_batch(plan.window as u64));
    let mut progress = Progress::new(plan.progress.0, plan.progress.1, false);
    let mut stopped = None;
    let result = (|| {
        stopped = take_all(
            &mut pull,
            &mut flight,
            plan,
            route,
            interrupts,
            tally,
            &mut progress,
        )?;
        flight.finish(tally)?;
        match stopped {
            Some(signal) => Err(Error::Interrupted(signal)),
            None => Ok(()),
        }
    })();
    progress.finish();
    let cancelled = pull.cancel();
    // Published but unconfirmed: after a lost connection or a signal they
    // may have reached the destination; a destination that closed the
    // channel (404, 403 …) took none of them.
    if let Err(e) = &result {
        tally.duplicates += flight.confirmed_unacked();
        if e.is_connection_lost() || matches!(e, Error::Interrupted(_)) {
            tally.duplicates += flight.pending.len() as u64;
        }
        if e.is_connection_lost() {
            // Acked, but the acks may have gone with the connection.
            tally.moved -= flight.unverified();
            tally.duplicates += flight.unverified();
        }
        // Looked for when taken again, if the error is retried.
        flight.lost(&mut tally.lost, e.is_connection_lost());
    }
    result?;
    if let Some(failure) = flight.failure.take() {
        return Err(failure);
    }
    cancelled
}

/// The loop: take, route, publish, settle. Returns the signal that stopped
/// it, if one did.
fn take_all(
    pull: &mut Pull<'_>,
    flight: &mut Flight<'_>,
    plan: &Plan<'_>,
    route: &mut dyn FnMut(&Delivery) -> Route,
    interrupts: &Receiver<i32>,
    tally: &mut Tally,
    progress: &mut Progress,
) -> Result<Option<i32>, Error> {
    let mut pacer = plan.rate.map(Pacer::new);
    let (mut looked, mut sent) = (0, 0);
    while looked < plan.limit && sent < plan.count && flight.failure.is_none() {
        if let Ok(signal) = interrupts.try_recv() {
            return Ok(Some(signal));
        }
        if !pull.room_for(flight.held.len())? {
            tally.held_full = true;
            break;
        }
        let mut d = match pull.next()? {
            Pulled::Message(d) => d,
            Pulled::Nothing => continue,
            Pulled::Drained => {
                tally.drained = true;
                break;
            }
        };
        looked += 1;
        if plan.filter.is_some_and(|f| !f.matches(&d)) {
            tally.skipped += 1;
            d.release_body();
            flight.held.push(d);
            continue;
        }
        let Route::Send(out) = route(&d) else {
            tally.left += 1;
            d.release_body();
            flight.held.push(d);
            continue;
        };
        if let Some(signal) = pacer.as_mut().and_then(|p| p.wait(interrupts)) {
            // Not published: it goes back with the others held.
            flight.held.push(d);
            return Ok(Some(signal));
        }
        flight.publish(&d, &out)?;
        match tally.suspects.back(&d) {
            Some(Before::Confirmed) => tally.twice += 1,
            Some(Before::Unconfirmed) => tally.maybe_twice += 1,
            None => {}
        }
        sent += 1;
        flight.pending.push_back(d);
        let window = pull.window();
        flight.follow(window as u64);
        flight.settle(window - 1, tally)?;
        if flight.unverified() >= VERIFY_EVERY {
            pull.verify()?;
            flight.verified();
        }
        progress.add(1);
    }
    Ok(None)
}
