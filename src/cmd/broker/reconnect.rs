//! `--reconnect`: the one loop that runs a command's work again after a lost
//! connection (or a consumer the broker cancelled because a cluster lost its
//! queue's node), with exponential backoff and jitter between attempts, said
//! on stderr, interruptible by SIGINT/SIGTERM. Each attempt connects afresh,
//! trying the `--url`s in order from the first, except the node (or nodes)
//! the failed attempt was connected to, which go last: a node that is down
//! or frozen is not tried first again, and one that is back is used again.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::Receiver;

use amqpctl::amqp::Endpoint;

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
        locked(&REACHED).clear();
        match work.attempt() {
            Err(e) if reconnect && e.is_worth_retrying() => {
                let reached = std::mem::take(&mut *locked(&REACHED));
                if !reached.is_empty() {
                    *locked(&LOST) = reached;
                }
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

/// The nodes the current attempt connected to ([`reached`]).
static REACHED: Mutex<Vec<Endpoint>> = Mutex::new(Vec::new());

/// The nodes the last failed attempt had connected to: the next connects
/// try them last ([`order`]).
static LOST: Mutex<Vec<Endpoint>> = Mutex::new(Vec::new());

/// A lock on one of the lists; a thread that panicked holding it left a
/// list that is still a list.
fn locked(list: &'static Mutex<Vec<Endpoint>>) -> MutexGuard<'static, Vec<Endpoint>> {
    list.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Notes that the current attempt connected to `endpoint` (called by
/// `broker::connect`): if the attempt ends in a lost connection, it is the
/// node that failed.
pub fn reached(endpoint: &Endpoint) {
    let mut reached = locked(&REACHED);
    if !reached.contains(endpoint) {
        reached.push(endpoint.clone());
    }
}

/// `endpoints` in the order to try them: as given, but the nodes of the
/// last lost connection after the others.
pub fn order(endpoints: &[Endpoint]) -> Vec<Endpoint> {
    let lost = locked(&LOST);
    let (mut first, last): (Vec<Endpoint>, Vec<Endpoint>) =
        endpoints.iter().cloned().partition(|e| !lost.contains(e));
    first.extend(last);
    first
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

    fn node(port: u16) -> Endpoint {
        Endpoint {
            host: "127.0.0.1".into(),
            port,
        }
    }

    #[test]
    fn the_nodes_of_the_lost_connection_go_last() {
        let all = [node(1), node(2), node(3)];
        assert_eq!(order(&all), all);
        *locked(&LOST) = vec![node(1)];
        assert_eq!(order(&all), [node(2), node(3), node(1)]);
        *locked(&LOST) = vec![node(2)];
        assert_eq!(order(&all), [node(1), node(3), node(2)]);
        // A node of another list (move's destination) changes nothing here.
        *locked(&LOST) = vec![node(9)];
        assert_eq!(order(&all), all);
        locked(&LOST).clear();
    }

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
