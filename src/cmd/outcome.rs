//! How `pub` reports the fate of each message: `Sent: BODY` lines, or one
//! JSON outcome line per message with `--format json`; and which failure
//! (a nack, a return) decides the exit status.

use serde_json::json;

use super::output::Lines;
use crate::error::Error;
use amqpctl::amqp::{AmqpError, Confirmation};

/// Reports each message's outcome and remembers the first failure.
pub struct Reporter {
    /// JSON outcome lines instead of `Sent:` lines.
    pub json: bool,
    /// No per-message lines at all.
    pub quiet: bool,
    /// The first nack or return.
    pub failure: Option<Error>,
}

impl Reporter {
    pub fn sent(&mut self, lines: &mut Lines, seq: u64, body: &[u8]) -> Result<(), Error> {
        if self.quiet {
            Ok(())
        } else if self.json {
            json_line(lines, json!({"seq": seq, "status": "sent"}))
        } else {
            lines.line(b"Sent: ", body)
        }
    }

    /// Reports one confirmed message.
    pub fn settle(
        &mut self,
        lines: &mut Lines,
        seq: u64,
        body: &[u8],
        verdict: Confirmation,
    ) -> Result<(), Error> {
        let (line, failure) = match verdict {
            Confirmation::Ack => (json!({"seq": seq, "status": "acked"}), None),
            Confirmation::Nack => (
                json!({"seq": seq, "status": "nacked"}),
                Some(Error::Nacked { seq }),
            ),
            Confirmation::Returned { code, text } => (
                json!({"seq": seq, "status": "returned", "code": code, "text": text}),
                Some(Error::Amqp(AmqpError::Returned { code, text })),
            ),
        };
        if self.json && !self.quiet {
            json_line(lines, line)?;
        } else if failure.is_none() && !self.quiet {
            lines.line(b"Sent: ", body)?;
        }
        if let Some(f) = failure {
            self.failure.get_or_insert(f);
        }
        Ok(())
    }

    /// In text mode the first failure stops the run; the JSON outcome
    /// stream reports every message and goes on.
    pub fn should_stop(&self) -> bool {
        !self.json && self.failure.is_some()
    }
}

fn json_line(lines: &mut Lines, value: serde_json::Value) -> Result<(), Error> {
    lines.line(b"", value.to_string().as_bytes())
}
