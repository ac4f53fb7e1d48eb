//! `amqpctl pub`: publish messages (one, numbered copies, a file, stdin
//! lines or JSON envelopes), optionally declaring the exchange and queue
//! first, with publisher confirms and mandatory routing.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use crossbeam_channel::Receiver;
use serde_json::json;

use super::format::{Delimiter, parse_delimiter};
use super::output::{Lines, Progress};
use super::source::Source;
use super::{
    ExchangeArgs, QueueArgs, Session, parse_key_value, parse_seconds, signals, table, with_channel,
};
use crate::error::Error;
use amqpctl::amqp::{AmqpError, Channel, Confirmation, Properties, Publish, Value};

/// `pub --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PubFormat {
    /// Bodies from -m/--file/--lines; `Sent: BODY` lines out.
    Text,
    /// JSON envelopes in (one per stdin line, as `con --format json` prints
    /// them); one JSON outcome line out per message.
    Json,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    #[command(flatten)]
    exchange: ExchangeArgs,

    #[command(flatten)]
    queue: QueueArgs,

    /// Routing key [default: ""].
    #[arg(short = 'k', long = "routing-key", value_name = "KEY")]
    routing_key: Option<String>,

    /// Message body; `-` reads it from standard input. With --nb-messages,
    /// `{seq}` and `{timestamp}` (ms since the epoch) are filled in.
    #[arg(
        short = 'm',
        long = "message",
        value_name = "TEXT",
        default_value = "Hello World!"
    )]
    message: String,

    /// Read the body from this file (one message).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["message", "lines"])]
    file: Option<PathBuf>,

    /// Publish each line of stdin as a message (streaming).
    #[arg(long, conflicts_with_all = ["message", "nb_messages"])]
    lines: bool,

    /// What separates messages with --lines (escapes: \n \t \0 \xNN).
    #[arg(long, value_name = "D", default_value = "\\n", value_parser = parse_delimiter)]
    delimiter: Delimiter,

    /// Input and output format.
    #[arg(long, value_enum, default_value_t = PubFormat::Text, conflicts_with_all = ["message", "file", "lines", "nb_messages"])]
    format: PubFormat,

    /// Number of messages; when more than one, body I is `I:TEXT`.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    nb_messages: u64,

    /// Pause between messages in seconds (fractions allowed, 0 for none).
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_seconds)]
    interval: Duration,

    /// Persistent delivery (delivery mode 2).
    #[arg(long)]
    persistent: bool,

    /// An unroutable message is an error (exit 6).
    #[arg(long)]
    mandatory: bool,

    /// Publisher confirms: `Sent:` only once the broker acked; a nack exits 7.
    #[arg(long)]
    confirm: bool,

    /// With --confirm and --interval 0: messages in flight before waiting for
    /// their confirms.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    confirm_window: u64,

    /// Print no per-message lines.
    #[arg(long)]
    quiet: bool,

    /// content_type property (e.g. application/json).
    #[arg(long, value_name = "MIME", help_heading = "Message properties")]
    content_type: Option<String>,

    /// content_encoding property (e.g. gzip).
    #[arg(long, value_name = "ENC", help_heading = "Message properties")]
    content_encoding: Option<String>,

    /// Header KEY=VALUE (integers and true/false are typed); repeatable.
    #[arg(long = "header", value_name = "KEY=VALUE", value_parser = parse_key_value, help_heading = "Message properties")]
    headers: Vec<(String, Value)>,

    /// correlation_id property.
    #[arg(long, value_name = "ID", help_heading = "Message properties")]
    correlation_id: Option<String>,

    /// reply_to property.
    #[arg(long, value_name = "QUEUE", help_heading = "Message properties")]
    reply_to: Option<String>,

    /// expiration property: per-message TTL in milliseconds.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u32), help_heading = "Message properties")]
    expiration: Option<u32>,

    /// priority property (0-255; queues honour up to their x-max-priority).
    #[arg(long, value_name = "N", help_heading = "Message properties")]
    priority: Option<u8>,

    /// message_id property.
    #[arg(long, value_name = "ID", help_heading = "Message properties")]
    message_id: Option<String>,

    /// type property.
    #[arg(
        long = "type",
        value_name = "TYPE",
        help_heading = "Message properties"
    )]
    kind: Option<String>,

    /// app_id property.
    #[arg(long, value_name = "ID", help_heading = "Message properties")]
    app_id: Option<String>,
}

impl PublishArgs {
    fn properties(&self) -> Properties {
        Properties {
            content_type: self.content_type.clone(),
            content_encoding: self.content_encoding.clone(),
            headers: (!self.headers.is_empty()).then(|| table(&self.headers)),
            delivery_mode: self.persistent.then_some(2),
            priority: self.priority,
            correlation_id: self.correlation_id.clone(),
            reply_to: self.reply_to.clone(),
            expiration: self.expiration.map(|ms| ms.to_string()),
            message_id: self.message_id.clone(),
            timestamp: None,
            kind: self.kind.clone(),
            user_id: None,
            app_id: self.app_id.clone(),
        }
    }

    fn source(&self) -> Result<Source, Error> {
        Ok(if self.format == PubFormat::Json {
            Source::json()
        } else if self.lines {
            Source::lines(self.delimiter.0.clone())
        } else if let Some(path) = &self.file {
            Source::repeat(Source::read_file(path)?, self.nb_messages)
        } else if self.message == "-" {
            Source::repeat(Source::read_stdin()?, self.nb_messages)
        } else {
            Source::repeat(self.message.clone().into_bytes(), self.nb_messages)
        })
    }
}

pub fn run(session: &Session, args: PublishArgs) -> Result<(), Error> {
    if args.queue.declare && args.queue.name.is_none() {
        return Err(Error::Usage("-Q needs a queue name with -q".to_string()));
    }
    let mut source = args.source()?;
    let interrupts = signals::interrupts()?;
    let mut lines = Lines::new();
    let result = with_channel(session, |channel| {
        args.exchange.declare_if_asked(channel)?;
        if let Some(name) = &args.queue.name
            && args.queue.declare
        {
            args.queue.declare(channel, name)?;
        }
        if args.confirm {
            channel.confirm_delivery()?;
        }
        publish_all(channel, &args, &mut source, &interrupts, &mut lines)
    });
    lines.flush()?;
    result
}

/// Reports each message's outcome and remembers the first failure.
struct Reporter {
    json: bool,
    quiet: bool,
    /// Bodies of messages awaiting their confirm, for `Sent:` lines.
    bodies: VecDeque<Vec<u8>>,
    failure: Option<Error>,
}

impl Reporter {
    fn keeps_bodies(&self) -> bool {
        !self.json && !self.quiet
    }

    fn sent(&mut self, lines: &mut Lines, seq: u64, body: &[u8]) -> Result<(), Error> {
        if self.quiet {
            Ok(())
        } else if self.json {
            self.json_line(lines, json!({"seq": seq, "status": "sent"}))
        } else {
            lines.line(b"Sent: ", body)
        }
    }

    fn json_line(&self, lines: &mut Lines, value: serde_json::Value) -> Result<(), Error> {
        lines.line(b"", value.to_string().as_bytes())
    }

    /// Reports confirmed messages in order.
    fn settle(
        &mut self,
        lines: &mut Lines,
        verdicts: Vec<(u64, Confirmation)>,
    ) -> Result<(), Error> {
        for (seq, verdict) in verdicts {
            let body = if self.keeps_bodies() {
                self.bodies.pop_front().unwrap_or_default()
            } else {
                Vec::new()
            };
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
                self.json_line(lines, line)?;
            } else if failure.is_none() && !self.quiet {
                lines.line(b"Sent: ", &body)?;
            }
            if let Some(f) = failure {
                self.failure.get_or_insert(f);
            }
        }
        Ok(())
    }

    fn wait(
        &mut self,
        channel: &mut Channel,
        lines: &mut Lines,
        window: usize,
    ) -> Result<(), Error> {
        let mut verdicts = Vec::new();
        channel.wait_confirms(window, |seq, c| verdicts.push((seq, c)))?;
        self.settle(lines, verdicts)
    }

    /// In text mode the first failure stops the run; the JSON outcome
    /// stream reports every message and goes on.
    fn should_stop(&self) -> bool {
        !self.json && self.failure.is_some()
    }
}

fn publish_all(
    channel: &mut Channel,
    args: &PublishArgs,
    source: &mut Source,
    interrupts: &Receiver<i32>,
    lines: &mut Lines,
) -> Result<(), Error> {
    let default_properties = args.properties();
    let default_key = args.routing_key.clone().unwrap_or_default();
    // With a pause between messages each one is reported before the pause.
    let window = if args.interval.is_zero() {
        args.confirm_window as usize
    } else {
        0
    };
    let mut reporter = Reporter {
        json: args.format == PubFormat::Json,
        quiet: args.quiet,
        bodies: VecDeque::new(),
        failure: None,
    };
    let mut progress = Progress::new("sent");
    let mut interrupted = None;
    let mut published: u64 = 0;
    loop {
        if published > 0 && !args.interval.is_zero() {
            lines.flush()?;
            if let Ok(signal) = interrupts.recv_timeout(args.interval) {
                interrupted = Some(signal);
                break;
            }
        } else if let Ok(signal) = interrupts.try_recv() {
            interrupted = Some(signal);
            break;
        }
        let Some(message) = source.next()? else {
            break;
        };
        let exchange = args
            .exchange
            .name
            .as_deref()
            .or(message.exchange.as_deref())
            .unwrap_or("");
        let routing_key = args
            .routing_key
            .as_deref()
            .or(message.routing_key.as_deref())
            .unwrap_or(&default_key);
        channel.basic_publish(&Publish {
            exchange,
            routing_key,
            body: &message.body,
            properties: message.properties.as_ref().unwrap_or(&default_properties),
            mandatory: args.mandatory,
        })?;
        published += 1;
        progress.add(1);
        if args.confirm {
            if reporter.keeps_bodies() {
                reporter.bodies.push_back(message.body);
            }
            reporter.wait(channel, lines, window)?;
            if reporter.should_stop() {
                break;
            }
        } else {
            reporter.sent(lines, published, &message.body)?;
        }
    }
    reporter.wait(channel, lines, 0)?;
    progress.finish();
    if let Some(failure) = reporter.failure {
        return Err(failure);
    }
    match interrupted {
        Some(signal) => Err(Error::Interrupted(signal)),
        None => Ok(()),
    }
}
