//! How `pub` reports the fate of each message: `Sent: BODY` lines, or one
//! JSON outcome line per message with `--format json`; and which failure
//! (a nack, a return) decides the exit status.

use serde_json::json;

use crate::cmd::io::output::Lines;
use crate::error::Error;
use amqpctl::amqp::{AmqpError, Confirmation};

/// Bodies longer than this, or not UTF-8 text, are summarised by
/// [`BodyDisplay::TextOrSummary`].
const SHORT_TEXT: usize = 256;

/// How a `Sent:` line shows the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyDisplay {
    /// As it is (`-m TEXT`).
    Echo,
    /// `Sent: (N bytes)`, or `Sent: SEQ (N bytes)` when `numbered`.
    Summary {
        /// Several messages: say which one.
        numbered: bool,
    },
    /// Short UTF-8 text as it is, anything else as `Sent: SEQ (N bytes)`.
    TextOrSummary,
}

impl BodyDisplay {
    /// What follows `Sent: ` for message `seq` with `body`.
    fn show<'a>(self, seq: u64, body: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        let summary = |numbered: bool| {
            let n = body.len();
            let text = if numbered {
                format!("{seq} ({n} bytes)")
            } else {
                format!("({n} bytes)")
            };
            std::borrow::Cow::Owned(text.into_bytes())
        };
        match self {
            BodyDisplay::Echo => std::borrow::Cow::Borrowed(body),
            BodyDisplay::Summary { numbered } => summary(numbered),
            BodyDisplay::TextOrSummary if is_short_text(body) => std::borrow::Cow::Borrowed(body),
            BodyDisplay::TextOrSummary => summary(true),
        }
    }
}

/// UTF-8, at most [`SHORT_TEXT`] bytes, no control characters but tabs.
fn is_short_text(body: &[u8]) -> bool {
    body.len() <= SHORT_TEXT
        && std::str::from_utf8(body).is_ok_and(|t| t.chars().all(|c| c == '\t' || !c.is_control()))
}

/// Reports each message's outcome and remembers the first failure.
pub struct Reporter {
    /// JSON outcome lines instead of `Sent:` lines.
    pub json: bool,
    /// No per-message lines at all.
    pub quiet: bool,
    /// How `Sent:` lines show bodies.
    pub bodies: BodyDisplay,
    /// The first nack or return.
    pub failure: Option<Error>,
    /// Messages reported sent (published, or confirmed with --confirm).
    pub reported: u64,
}

impl Reporter {
    /// Reports one message published without confirms.
    pub fn sent(&mut self, lines: &mut Lines, seq: u64, body: &[u8]) -> Result<(), Error> {
        self.reported += 1;
        if self.quiet {
            Ok(())
        } else if self.json {
            json_line(lines, json!({"seq": seq, "status": "sent"}))
        } else {
            lines.line(b"Sent: ", &self.bodies.show(seq, body))
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
        if failure.is_none() {
            self.reported += 1;
        }
        if self.json && !self.quiet {
            json_line(lines, line)?;
        } else if failure.is_none() && !self.quiet {
            lines.line(b"Sent: ", &self.bodies.show(seq, body))?;
        }
        if let Some(f) = failure {
            self.failure.get_or_insert(f);
        }
        Ok(())
    }

    /// Reports a message the broker never took because it closed the
    /// channel (a 404 for a missing exchange, a 403, …) before its verdict.
    pub fn refused(
        &mut self,
        lines: &mut Lines,
        seq: u64,
        code: u16,
        text: &str,
    ) -> Result<(), Error> {
        if self.json && !self.quiet {
            json_line(
                lines,
                json!({"seq": seq, "status": "refused", "code": code, "text": text}),
            )?;
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

/// The broker's code and text when `e` is its closing of the channel.
pub fn channel_closed(e: &Error) -> Option<(u16, &str)> {
    match e {
        Error::Amqp(AmqpError::ChannelClosed { code, text }) => Some((*code, text)),
        Error::Hinted { error, .. } => channel_closed(error),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_from_files_and_binary_lines_are_summarised() {
        let tar = [0u8, 159, 146, 150];
        assert_eq!(&*BodyDisplay::Echo.show(1, b"hi"), b"hi");
        assert_eq!(
            &*BodyDisplay::Summary { numbered: false }.show(1, b"hi"),
            b"(2 bytes)"
        );
        assert_eq!(
            &*BodyDisplay::Summary { numbered: true }.show(3, &tar),
            b"3 (4 bytes)"
        );
        assert_eq!(&*BodyDisplay::TextOrSummary.show(7, b"a\tb"), b"a\tb");
        assert_eq!(&*BodyDisplay::TextOrSummary.show(7, &tar), b"7 (4 bytes)");
        let long = vec![b'x'; SHORT_TEXT + 1];
        assert_eq!(
            &*BodyDisplay::TextOrSummary.show(2, &long),
            b"2 (257 bytes)"
        );
    }
}
