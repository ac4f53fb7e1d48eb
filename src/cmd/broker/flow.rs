//! Waiting while the broker blocks publishing (connection.blocked, sent
//! under a memory or disk alarm): said on stderr once, bounded by
//! `--blocked-timeout`, ended by a signal.

use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::cmd::io::output::status;
use crate::cmd::io::signals;
use crate::error::Error;

/// One wait that the broker's flow control may hold up, such as the close
/// after the last publish.
pub struct FlowWait {
    timeout: Option<Duration>,
    interrupts: Option<Receiver<i32>>,
    /// When the block was first seen, and why.
    blocked: Option<(Instant, String)>,
    interrupted: Option<i32>,
}

impl FlowWait {
    /// A wait that gives up after `timeout` of being blocked (never when
    /// `None`), or at a signal if the command listens for them.
    pub fn new(timeout: Option<Duration>) -> FlowWait {
        FlowWait {
            timeout,
            interrupts: signals::installed(),
            blocked: None,
            interrupted: None,
        }
    }

    /// Called while waiting, with why the broker blocks publishing now (if
    /// it does): says so once, and whether to go on waiting.
    pub fn keep_waiting(&mut self, blocked: Option<String>) -> bool {
        if let Some(signal) = self.interrupts.as_ref().and_then(|i| i.try_recv().ok()) {
            self.interrupted = Some(signal);
            return false;
        }
        match (blocked, &self.blocked) {
            (Some(reason), None) => {
                announce_blocked(&reason);
                self.blocked = Some((Instant::now(), reason));
            }
            (None, Some(_)) => {
                announce_unblocked();
                self.blocked = None;
            }
            _ => {}
        }
        match (&self.blocked, self.timeout) {
            (Some((since, _)), Some(limit)) => since.elapsed() < limit,
            _ => true,
        }
    }

    /// Why the wait was given up: a signal, or the block outlasting the
    /// timeout.
    pub fn give_up_reason(&self) -> Error {
        match self.interrupted {
            Some(signal) => Error::Interrupted(signal),
            None => blocked_too_long(
                self.timeout,
                self.blocked
                    .as_ref()
                    .map_or_else(|| "no reason given".to_string(), |(_, r)| r.clone()),
            ),
        }
    }
}

/// Says that the broker blocks publishing, and why.
pub fn announce_blocked(reason: &str) {
    status(format_args!(
        "WARNING: the broker blocks publishing ({reason}); waiting"
    ));
}

/// Says that the block is over.
pub fn announce_unblocked() {
    status("The broker unblocked publishing");
}

/// The error for a block that outlasted `--blocked-timeout`.
pub fn blocked_too_long(timeout: Option<Duration>, reason: String) -> Error {
    Error::Blocked {
        secs: timeout.map_or(0.0, |t| t.as_secs_f64()),
        reason,
    }
}
