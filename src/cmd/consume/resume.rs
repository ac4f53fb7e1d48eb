//! Where a stream reader attaches again after `--reconnect`: right after
//! the last message it delivered (written to stdout or --save-dir, or
//! handed to an --exec command), read off that delivery's
//! `x-stream-offset`. Attaching again at `--offset` itself would read
//! everything since then a second time, and `--count N` would stop short
//! of N distinct messages.

use amqpctl::amqp::{Delivery, Value};

pub use crate::cmd::broker::inflight::STREAM_OFFSET;
use crate::cmd::broker::inflight::offset;

/// A stream reader's place, kept across reconnections.
pub struct Resume {
    /// `--offset` as given: where to start until something is delivered.
    start: Value,
    /// The offset of the last message delivered.
    last: Option<i64>,
}

impl Resume {
    /// A reader that starts at `start` (`--offset`).
    pub fn new(start: Value) -> Resume {
        Resume { start, last: None }
    }

    /// The `x-stream-offset` to attach with: `--offset` until a message
    /// was delivered, then the offset after the last one delivered.
    pub fn argument(&self) -> Value {
        match self.last {
            Some(last) => Value::I64(last.saturating_add(1)),
            None => self.start.clone(),
        }
    }

    /// Records that `d` (and everything before it) was delivered.
    pub fn delivered(&mut self, d: &Delivery) {
        if let Some(offset) = offset(d) {
            self.last = Some(self.last.map_or(offset, |last| last.max(offset)));
        }
    }

    /// Whether `d` was delivered before a reconnect: a broker may start a
    /// new attachment at the beginning of the chunk that holds the offset
    /// asked for.
    pub fn delivered_before(&self, d: &Delivery) -> bool {
        match (self.last, offset(d)) {
            (Some(last), Some(offset)) => offset <= last,
            _ => false,
        }
    }
}
