//! Where `pub` gets its messages: one text repeated `--nb-messages` times
//! (numbered, or filled into a `{seq}`/`{timestamp}` template), a file,
//! standard input whole, stdin split into lines (streaming, constant
//! memory), or JSON envelopes from stdin.

use std::io::{BufRead, BufReader, Read, Stdin};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use amqpctl::amqp::Properties;

use crate::cmd::io::{envelope, saved};
use crate::error::Error;

/// One message to publish: a body the command line routes, or an envelope
/// with routing and properties of its own.
#[derive(Debug)]
pub struct Outgoing {
    /// The body, byte for byte.
    pub body: Vec<u8>,
    /// From `--format json` or `--from-dir`: where it goes and how.
    pub envelope: Option<Envelope>,
}

/// What an envelope adds to a body.
#[derive(Debug)]
pub struct Envelope {
    /// The exchange to publish to (-e overrides it).
    pub exchange: String,
    /// The routing key (-k overrides it).
    pub routing_key: String,
    /// Every property.
    pub properties: Properties,
    /// When a saved message was first received (ms since the epoch), for
    /// `--speed`.
    pub received_at_ms: Option<u64>,
}

impl Outgoing {
    fn body(body: Vec<u8>) -> Outgoing {
        Outgoing {
            body,
            envelope: None,
        }
    }

    fn envelope(message: envelope::Incoming, received_at_ms: Option<u64>) -> Outgoing {
        Outgoing {
            body: message.body,
            envelope: Some(Envelope {
                exchange: message.exchange,
                routing_key: message.routing_key,
                properties: message.properties,
                received_at_ms,
            }),
        }
    }
}

/// A stream of messages.
pub enum Source {
    /// `count` messages from one text.
    Repeat {
        text: Vec<u8>,
        count: u64,
        template: bool,
        sent: u64,
    },
    /// stdin split on `delimiter`.
    Lines {
        input: BufReader<Stdin>,
        delimiter: Vec<u8>,
    },
    /// stdin, one JSON envelope per line.
    Json { input: BufReader<Stdin>, line: u64 },
    /// The messages `con --save-dir` saved, oldest first.
    Dir {
        sidecars: std::collections::VecDeque<std::path::PathBuf>,
    },
}

impl Source {
    /// `count` copies of `text`: numbered `I:TEXT` when more than one, or
    /// filled in when `text` has `{seq}` or `{timestamp}` placeholders.
    pub fn repeat(text: Vec<u8>, count: u64) -> Source {
        let template = contains(&text, b"{seq}") || contains(&text, b"{timestamp}");
        Source::Repeat {
            text,
            count,
            template,
            sent: 0,
        }
    }

    /// All of stdin as one message body.
    pub fn read_stdin() -> Result<Vec<u8>, Error> {
        let mut body = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut body)
            .map_err(|e| Error::io("reading the message from stdin", e))?;
        warn_if_over_default_limit(&body);
        Ok(body)
    }

    /// A file as one message body.
    pub fn read_file(path: &Path) -> Result<Vec<u8>, Error> {
        let body = std::fs::read(path)
            .map_err(|e| Error::Usage(format!("cannot read --file {}: {e}", path.display())))?;
        warn_if_over_default_limit(&body);
        Ok(body)
    }

    /// Lines of stdin.
    pub fn lines(delimiter: Vec<u8>) -> Source {
        Source::Lines {
            input: BufReader::with_capacity(64 * 1024, std::io::stdin()),
            delimiter,
        }
    }

    /// JSON envelopes from stdin.
    pub fn json() -> Source {
        Source::Json {
            input: BufReader::with_capacity(64 * 1024, std::io::stdin()),
            line: 0,
        }
    }

    /// The messages saved in `dir`; an empty or missing directory is an
    /// error, checked before connecting.
    pub fn dir(dir: &Path) -> Result<Source, Error> {
        let sidecars = saved::list(dir)?;
        if sidecars.is_empty() {
            return Err(Error::Usage(format!(
                "--from-dir {}: no saved messages (N.json with N.body) in it",
                dir.display()
            )));
        }
        Ok(Source::Dir {
            sidecars: sidecars.into(),
        })
    }

    /// The next message, or `None` at the end.
    pub fn next(&mut self) -> Result<Option<Outgoing>, Error> {
        match self {
            Source::Repeat {
                text,
                count,
                template,
                sent,
            } => {
                if *sent >= *count {
                    return Ok(None);
                }
                *sent += 1;
                let body = if *template {
                    fill(text, *sent)
                } else if *count == 1 {
                    text.clone()
                } else {
                    let mut b = Vec::with_capacity(text.len() + 8);
                    b.extend_from_slice(sent.to_string().as_bytes());
                    b.push(b':');
                    b.extend_from_slice(text);
                    b
                };
                Ok(Some(Outgoing::body(body)))
            }
            Source::Lines { input, delimiter } => {
                Ok(read_record(input, delimiter)?.map(Outgoing::body))
            }
            Source::Dir { sidecars } => {
                let Some(sidecar) = sidecars.pop_front() else {
                    return Ok(None);
                };
                let saved = saved::read(&sidecar)?;
                Ok(Some(Outgoing::envelope(
                    saved.message,
                    saved.received_at_ms,
                )))
            }
            Source::Json { input, line } => loop {
                let Some(record) = read_record(input, b"\n")? else {
                    return Ok(None);
                };
                *line += 1;
                if record.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let m = envelope::decode(&record)
                    .map_err(|e| Error::Usage(format!("stdin line {line}: {e}")))?;
                return Ok(Some(Outgoing::envelope(m, None)));
            },
        }
    }
}

/// Reads up to the next `delimiter` (which is dropped); the last record may
/// lack it. `None` at end of input.
/// RabbitMQ 4's default `max_message_size`: bodies over it are refused
/// (406). A broker may be configured for more, so it is only a warning.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;

/// Warns, before anything is sent, about a body over RabbitMQ 4's default
/// limit.
fn warn_if_over_default_limit(body: &[u8]) {
    if body.len() > DEFAULT_MAX_MESSAGE_SIZE {
        crate::cmd::io::output::status(format_args!(
            "WARNING: the message is {} bytes, over RabbitMQ 4's default max_message_size of {DEFAULT_MAX_MESSAGE_SIZE}: the broker may refuse it",
            body.len()
        ));
    }
}

fn read_record(input: &mut impl BufRead, delimiter: &[u8]) -> Result<Option<Vec<u8>>, Error> {
    let last = *delimiter.last().unwrap_or(&b'\n');
    let mut record = Vec::new();
    loop {
        let n = input
            .read_until(last, &mut record)
            .map_err(|e| Error::io("reading stdin", e))?;
        if n == 0 {
            return Ok((!record.is_empty()).then_some(record));
        }
        if record.ends_with(delimiter) {
            record.truncate(record.len() - delimiter.len());
            return Ok(Some(record));
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Replaces `{seq}` and `{timestamp}` (Unix time in milliseconds).
fn fill(text: &[u8], seq: u64) -> Vec<u8> {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let mut out = Vec::with_capacity(text.len() + 16);
    let mut rest = text;
    while !rest.is_empty() {
        if rest.starts_with(b"{seq}") {
            out.extend_from_slice(seq.to_string().as_bytes());
            rest = &rest[5..];
        } else if rest.starts_with(b"{timestamp}") {
            out.extend_from_slice(millis.to_string().as_bytes());
            rest = &rest[11..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bodies(mut s: Source) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(m) = s.next().unwrap() {
            out.push(m.body);
        }
        out
    }

    #[test]
    fn repeated_messages_are_numbered_like_the_seed_scripts() {
        assert_eq!(
            bodies(Source::repeat(b"Hello!".to_vec(), 1)),
            vec![b"Hello!".to_vec()]
        );
        assert_eq!(
            bodies(Source::repeat(b"Hello!".to_vec(), 2)),
            vec![b"1:Hello!".to_vec(), b"2:Hello!".to_vec()]
        );
    }

    #[test]
    fn templates_fill_seq_and_timestamp() {
        let got = bodies(Source::repeat(b"n={seq} t={timestamp}".to_vec(), 2));
        let first = String::from_utf8(got[0].clone()).unwrap();
        assert!(first.starts_with("n=1 t=1"), "{first}");
        assert!(
            String::from_utf8(got[1].clone())
                .unwrap()
                .starts_with("n=2 ")
        );
    }

    #[test]
    fn records_split_on_multi_byte_delimiters() {
        let mut input: &[u8] = b"a--b-c----last";
        let mut got = Vec::new();
        while let Some(r) = read_record(&mut input, b"--").unwrap() {
            got.push(r);
        }
        assert_eq!(
            got,
            vec![
                b"a".to_vec(),
                b"b-c".to_vec(),
                b"".to_vec(),
                b"last".to_vec()
            ]
        );
    }
}
