//! `move --reconnect` and `redrive --reconnect`: a transfer taken up again
//! on a new connection after a lost one, by the loop `pub` and `con` use
//! (`broker::reconnect`: backoff with jitter, the `--url`s in order). What
//! the destination confirmed and the source took the ack for stays done.
//! What was in flight at the loss (published, maybe confirmed, not acked)
//! went back to the source with everything else unacked, and is taken
//! again: the destination may then hold it twice, which the summary counts.

use std::cell::Cell;

use crossbeam_channel::Receiver;

use super::Tally;
use crate::cmd::broker::reconnect::{self, Reconnecting};
use crate::error::Error;

/// One connection's worth of a transfer: given what the attempts before
/// it did, it adds its own counts to the second tally.
pub trait Attempt: FnMut(&Tally, &mut Tally) -> Result<(), Error> {}

impl<F: FnMut(&Tally, &mut Tally) -> Result<(), Error>> Attempt for F {}

/// With `--reconnect`, how many attempts in a row may end with a nack
/// and move nothing before the nack ends the run (exit 7), as `pub`
/// publishes a nacked message again 5 times: a cluster nacks while a
/// quorum queue has no leader, a full `x-overflow=reject-publish` queue
/// until something takes messages off it.
const NACK_RETRIES: u32 = 5;

/// A transfer over as many connections as it takes.
struct Again<W> {
    work: W,
    reconnect: bool,
    /// The whole run's counts.
    tally: Tally,
    /// What the last attempt skipped and left in place: back in the
    /// source after a loss, looked at again by the next attempt.
    looked_again: (u64, u64),
    /// Attempts in a row that ended with a nack having moved nothing.
    nacked: u32,
}

impl<W: Attempt> Reconnecting for Again<W> {
    fn attempt(&mut self) -> Result<(), Error> {
        let mut this = Tally {
            suspects: std::mem::take(&mut self.tally.suspects),
            ..Tally::default()
        };
        let result = (self.work)(&self.tally, &mut this);
        self.looked_again = (this.skipped, this.left);
        let moved = this.moved;
        self.tally.add(this);
        match result {
            Err(Error::Nacked { seq }) if self.reconnect => {
                self.nacked = if moved > 0 { 1 } else { self.nacked + 1 };
                // Numbered in the whole run (the attempt numbers its own).
                let seq = seq + self.tally.moved - moved;
                match self.nacked > NACK_RETRIES {
                    true => Err(Error::Nacked { seq }),
                    false => Err(Error::NackedRetrying { seq }),
                }
            }
            other => other,
        }
    }

    fn progress(&self) -> u64 {
        self.tally.moved
    }

    fn before_wait(&mut self) -> Result<(), Error> {
        Ok(())
    }

    fn before_retry(&mut self) {
        let (skipped, left) = std::mem::take(&mut self.looked_again);
        self.tally.skipped -= skipped;
        self.tally.left -= left;
        // In both queues at the loss: the next attempt takes them again.
        self.tally.retrying();
    }
}

/// A count of the source taken when the run starts (what the queue holds):
/// the first attempt takes it with `count`, the later ones keep it.
pub fn at_start(
    kept: &Cell<Option<u64>>,
    count: impl FnOnce() -> Result<u64, Error>,
) -> Result<u64, Error> {
    if let Some(n) = kept.get() {
        return Ok(n);
    }
    let n = count()?;
    kept.set(Some(n));
    Ok(n)
}

/// Runs `work` until it ends other than by a lost connection (with
/// `reconnect` off, once); returns the whole run's counts and how it ended.
pub fn run(
    reconnect: bool,
    interrupts: &Receiver<i32>,
    work: impl Attempt,
) -> (Tally, Result<(), Error>) {
    let mut again = Again {
        work,
        reconnect,
        tally: Tally::default(),
        looked_again: (0, 0),
        nacked: 0,
    };
    let result = reconnect::run(&mut again, reconnect, interrupts);
    again.tally.settle();
    (again.tally, result)
}
