//! `--reconnect`: the one loop that runs a command's work again after a lost
//! connection (or a consumer the broker cancelled because a cluster lost its
//! queue's node), with exponential backoff and jitter between attempts, said
//! on stderr, interruptible by SIGINT/SIGTERM. Each attempt connects afresh,
//! trying the `--url`s in order from the first, so a node that is down is
//! skipped and a node that is back is used again.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::Receiver;

use crate::cmd::io::output::status;
use crate::error::Error;

const FIRST: Duration = Duration::from_millis(500);
const LONGEST: Duration = Duration::from_secs(30);

/// Work that can be run again on a new connection.
pub trait Reconnecting {
    /// One connection's worth of work: connect, declare, work until done.
    fn attempt(&mut self) -> Result<(), Error>;

    /// A count that grows as the work gets done: an attempt that moved it
    /// resets the backoff.
    fn progress(&self) -> u64;

    /// Before the wait: flush what was written, so that output and the
    /// warning come in order.
    fn before_wait(&mut self) -> Result<(), Error>;

    /// After the wait, before the next attempt.
    fn before_retry(&mut self) {}
}

/// Runs `work` until it ends other than by a lost connection; with
/// `reconnect` off, once. A signal during the wait ends it with
/// [`Error::Interrupted`].
pub fn run(
    work: &mut impl Reconnecting,
    reconnect: bool,
    interrupts: &Receiver<i32>,
) -> Result<(), Error> {
    let mut backoff = Backoff::new();
    loop {
        let before = work.progress();
        match work.attempt() {
            Err(e) if reconnect && e.is_worth_retrying() => {
                work.before_wait()?;
                if work.progress() != before {
                    backoff.reset();
                }
                backoff.wait(&e, interrupts)?;
                work.before_retry();
            }
            other => return other,
        }
    }
}

/// The delay before the next attempt.
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff { next: FIRST }
    }

    /// After a connection that worked: start again from the shortest delay.
    fn reset(&mut self) {
        self.next = FIRST;
    }

    /// Reports `why`, then waits the next delay (±25 %); a signal ends the
    /// wait with [`Error::Interrupted`].
    fn wait(&mut self, why: &Error, interrupts: &Receiver<i32>) -> Result<(), Error> {
        let delay = jitter(self.next);
        status(format_args!(
            "WARNING: {why}; reconnecting in {:.1} s",
            delay.as_secs_f64()
        ));
        self.next = (self.next * 2).min(LONGEST);
        match interrupts.recv_timeout(delay) {
            Ok(signal) => Err(Error::Interrupted(signal)),
            Err(_) => Ok(()),
        }
    }
}

/// `d` scaled by a factor in [0.75, 1.25), from the clock's nanoseconds:
/// enough to keep many clients from reconnecting in step.
fn jitter(d: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    let factor = 0.75 + f64::from(nanos % 1000) / 2000.0;
    d.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_a_quarter() {
        for _ in 0..100 {
            let d = jitter(Duration::from_secs(4));
            assert!(
                d >= Duration::from_secs(3) && d < Duration::from_secs(5),
                "{d:?}"
            );
        }
    }
}
