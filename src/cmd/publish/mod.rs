//! `amqpctl pub`: publish messages (one, numbered copies, a file, stdin
//! lines or JSON envelopes), optionally declaring the exchange and queue
//! first, with publisher confirms and mandatory routing. This file holds the
//! flags and their resolution into a [`PublishSpec`]; `engine` publishes.

mod engine;
mod input;
mod outcome;
mod source;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::args::values::{check_name, check_unique_keys, parse_key_value, parse_seconds, table};
use super::args::{ExchangeArgs, QueueArgs};
use super::broker::ConnectSpec;
use super::broker::declare::{ExchangeSpec, QueueSpec};
use super::io::format::{Delimiter, parse_delimiter};
use super::io::output::status;
use super::io::pace::{parse_rate, parse_speed};
use crate::error::Error;
use amqpctl::amqp::{Properties, Value};
use outcome::BodyDisplay;
use source::Source;

/// Messages in flight with --confirm when --confirm-window is not given.
const DEFAULT_CONFIRM_WINDOW: u64 = 1000;

/// `pub --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PubFormat {
    /// Bodies from -m/--file/--lines; `Sent: BODY` lines out.
    Text,
    /// JSON envelopes in (one per stdin line, as `con --format json` prints
    /// them); one JSON outcome line out per message.
    Json,
}

/// The flags of `amqpctl pub`.
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
        default_value = "Hello World!",
        allow_hyphen_values = true
    )]
    message: String,

    /// Read the body from this file (one message).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["message", "lines"])]
    file: Option<PathBuf>,

    /// Publish the messages `con --save-dir DIR` saved, in their order, each
    /// with its own routing and properties (-e/-k override them).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["message", "file", "lines", "nb_messages", "format"])]
    from_dir: Option<PathBuf>,

    /// With --from-dir: keep the messages' original spacing, F times as
    /// fast (2 is twice as fast) [default: as fast as possible].
    #[arg(long, value_name = "F", value_parser = parse_speed, allow_hyphen_values = true, conflicts_with_all = ["interval", "rate"])]
    speed: Option<f64>,

    /// Publish each line of stdin as a message (streaming).
    #[arg(long, conflicts_with_all = ["message", "nb_messages"])]
    lines: bool,

    /// What separates messages with --lines (escapes: \n \t \0 \xNN)
    /// [default: \n]
    #[arg(long, value_name = "D", value_parser = parse_delimiter)]
    delimiter: Option<Delimiter>,

    /// Input and output format.
    #[arg(long, value_enum, default_value_t = PubFormat::Text, conflicts_with_all = ["message", "file", "lines", "nb_messages"])]
    format: PubFormat,

    /// Number of messages; when more than one, body I is `I:TEXT`.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    nb_messages: u64,

    /// Pause between messages in seconds (fractions allowed, 0 for none)
    /// [default: 1 with --nb-messages; 0 for --lines and --format json].
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, allow_hyphen_values = true)]
    interval: Option<Duration>,

    /// Publish N messages a second, evenly spaced (fractions allowed; also
    /// with --lines and --format json).
    #[arg(long, value_name = "N", value_parser = parse_rate, conflicts_with = "interval")]
    rate: Option<f64>,

    /// Persistent delivery (delivery mode 2).
    #[arg(long)]
    persistent: bool,

    /// An unroutable message is an error (exit 6). With --format json it
    /// implies --confirm: only the broker's verdict tells a returned
    /// message from one it took.
    #[arg(long)]
    mandatory: bool,

    /// Publisher confirms: `Sent:` only once the broker acked; a nack exits 7.
    #[arg(long)]
    confirm: bool,

    /// With --confirm and --interval 0: messages in flight before waiting for
    /// their confirms [default: 1000].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    confirm_window: Option<u64>,

    /// Print no per-message lines, nor the plain-connection warning
    /// (AMQPCTL_NO_PLAIN_WARNING=1 silences that one for every command).
    #[arg(long)]
    quiet: bool,

    /// After a lost connection, connect again (backoff with jitter; the
    /// --urls in order), re-declare, and publish again what was not
    /// confirmed, or was nacked (up to 5 times a message).
    #[arg(long, requires = "confirm")]
    reconnect: bool,

    /// Give up (exit 3) when the broker blocks publishing longer than SECS
    /// [default: wait as long as it blocks].
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, allow_hyphen_values = true)]
    blocked_timeout: Option<Duration>,

    /// content_type property (e.g. application/json).
    #[arg(long, value_name = "MIME", help_heading = "Message properties")]
    content_type: Option<String>,

    /// content_encoding property (e.g. gzip).
    #[arg(long, value_name = "ENC", help_heading = "Message properties")]
    content_encoding: Option<String>,

    /// Header KEY=VALUE; repeatable. Integers and true/false are typed by
    /// their look; KEY:TYPE=VALUE forces the type (string, int, float, bool),
    /// e.g. zip:string=01234.
    #[arg(long = "header", value_name = "KEY[:TYPE]=VALUE", value_parser = parse_key_value, help_heading = "Message properties")]
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
    #[arg(long, value_name = "TYPE", help_heading = "Message properties")]
    r#type: Option<String>,

    /// app_id property.
    #[arg(long, value_name = "ID", help_heading = "Message properties")]
    app_id: Option<String>,
}

/// What `pub` does, resolved from its flags and checked: the engine's input.
pub struct PublishSpec {
    /// `-e -t -E`.
    pub exchange: ExchangeSpec,
    /// `-q -Q …`.
    pub queue: QueueSpec,
    /// `-e` as given: it overrides an envelope's exchange, even when "".
    pub exchange_flag: Option<String>,
    /// `-k`; when absent, an envelope's key or [`PublishSpec::default_key`].
    pub routing_key: Option<String>,
    /// The key when neither -k nor an envelope gives one: on the default
    /// exchange the -q queue (so `pub -q Q` reaches Q), else "".
    pub default_key: String,
    /// Where the messages come from.
    pub source: Source,
    /// `--format json`: one JSON outcome line per message.
    pub json: bool,
    /// `--quiet`.
    pub quiet: bool,
    /// How `Sent:` lines show bodies.
    pub bodies: BodyDisplay,
    /// The flags' message properties (an envelope brings its own).
    pub properties: Properties,
    /// The pause between messages.
    pub interval: Duration,
    /// `--rate`: messages per second.
    pub rate: Option<f64>,
    /// `--speed`: replay saved messages at their spacing, this much faster.
    pub speed: Option<f64>,
    /// `--mandatory`.
    pub mandatory: bool,
    /// `--confirm`.
    pub confirm: bool,
    /// With confirms: messages in flight before waiting for their confirms
    /// (0 with a pause between messages: each is reported before the pause).
    pub confirm_window: usize,
    /// `--reconnect`.
    pub reconnect: bool,
    /// `--blocked-timeout`.
    pub blocked_timeout: Option<Duration>,
}

impl PublishArgs {
    /// `--quiet`, which also drops the plain-connection warning before the
    /// connection is opened.
    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// Checks everything that can be checked before connecting (a usage
    /// error must change nothing on the broker), reads a `--file` or `-m -`
    /// body, and settles every default.
    pub fn resolve(mut self) -> Result<PublishSpec, Error> {
        if self.queue.declare && self.queue.name.is_none() {
            return Err(Error::Usage("-Q needs a queue name with -q".to_string()));
        }
        let exchange = self.exchange.resolve()?;
        let queue = self.queue.resolve()?;
        self.check(&exchange, &queue)?;
        let streamed = self.lines || self.format == PubFormat::Json || self.from_dir.is_some();
        // The seed's one second between numbered copies; none for streams.
        let interval = self.interval.unwrap_or(if streamed || self.rate.is_some() {
            Duration::ZERO
        } else {
            Duration::from_secs(1)
        });
        let default_key = match &queue.name {
            Some(queue) if exchange.name.is_empty() => queue.clone(),
            _ => String::new(),
        };
        let bodies = self.bodies();
        let source = self.source()?;
        let confirm_window = if interval.is_zero() {
            self.confirm_window.unwrap_or(DEFAULT_CONFIRM_WINDOW) as usize
        } else {
            0
        };
        let properties = self.properties();
        Ok(PublishSpec {
            exchange,
            queue,
            exchange_flag: self.exchange.name,
            routing_key: self.routing_key,
            default_key,
            source,
            json: self.format == PubFormat::Json,
            quiet: self.quiet,
            bodies,
            properties,
            interval,
            rate: self.rate,
            speed: self.speed,
            mandatory: self.mandatory,
            // Without confirms a return cannot be matched to its message,
            // and a JSON outcome line would say "sent" for it.
            confirm: self.confirm || (self.mandatory && self.format == PubFormat::Json),
            confirm_window,
            reconnect: self.reconnect,
            blocked_timeout: self.blocked_timeout,
        })
    }

    /// The usage errors and WARNINGs of flags that do not go together.
    fn check(&self, exchange: &ExchangeSpec, queue: &QueueSpec) -> Result<(), Error> {
        if let Some(key) = &self.routing_key {
            check_name("the routing key (-k)", key)?;
        }
        check_unique_keys("--header", &self.headers)?;
        if self.speed.is_some() && self.from_dir.is_none() {
            return Err(Error::Usage(
                "--speed replays saved messages: it goes with --from-dir DIR".to_string(),
            ));
        }
        // Without -Q, -q only gives the default routing key.
        if let (Some(q), Some(key), false) = (&queue.name, &self.routing_key, queue.declare)
            && key != q
        {
            let key = if key.is_empty() { "''" } else { key.as_str() };
            status(format_args!(
                "WARNING: -q {q} is unused: -k {key} routes the message (-q gives the default routing key, or names the queue -Q declares)"
            ));
        }
        // -Q declares the queue; only `con --bind-queue` binds one, so a
        // message for another exchange reaches the new queue only through
        // a binding made beforehand.
        if let (Some(q), true, false) = (&queue.name, queue.declare, exchange.name.is_empty()) {
            let x = &exchange.name;
            status(format_args!(
                "WARNING: -Q declares {q} but pub does not bind it to -e {x}: bind it first (amqpctl declare binding -e {x} -q {q} -k KEY), or the message may be unroutable"
            ));
        }
        // A delimiter separates stdin lines: with -m, --file or --format
        // json it would silently do nothing.
        if self.delimiter.is_some() && !self.lines {
            return Err(Error::Usage(
                "--delimiter separates the messages of --lines: give --lines, or drop --delimiter"
                    .to_string(),
            ));
        }
        if self.confirm_window.is_some() && !self.confirm {
            status("WARNING: --confirm-window has no effect without --confirm");
        }
        Ok(())
    }

    /// Bodies read from a file or stdin are summarised (a tarball must not
    /// be echoed), stdin lines are shown when they are short text, `-m
    /// TEXT` is shown as given.
    fn bodies(&self) -> BodyDisplay {
        if self.lines {
            BodyDisplay::TextOrSummary
        } else if self.file.is_some() || self.message == "-" || self.from_dir.is_some() {
            BodyDisplay::Summary {
                numbered: self.nb_messages > 1,
            }
        } else {
            BodyDisplay::Echo
        }
    }

    /// Where the bodies come from; a file or stdin is read here, before
    /// connecting.
    fn source(&self) -> Result<Source, Error> {
        Ok(if let Some(dir) = &self.from_dir {
            Source::dir(dir)?
        } else if self.format == PubFormat::Json {
            Source::json()
        } else if self.lines {
            Source::lines(
                self.delimiter
                    .clone()
                    .map_or_else(|| b"\n".to_vec(), |d| d.0),
            )
        } else if let Some(path) = &self.file {
            Source::repeat(Source::read_file(path)?, self.nb_messages)
        } else if self.message == "-" {
            Source::repeat(Source::read_stdin()?, self.nb_messages)
        } else {
            Source::repeat(self.message.clone().into_bytes(), self.nb_messages)
        })
    }

    /// The message properties the flags give, taken out of the flags.
    fn properties(&mut self) -> Properties {
        Properties {
            content_type: self.content_type.take(),
            content_encoding: self.content_encoding.take(),
            headers: (!self.headers.is_empty()).then(|| table(&self.headers)),
            delivery_mode: self.persistent.then_some(2),
            priority: self.priority,
            correlation_id: self.correlation_id.take(),
            reply_to: self.reply_to.take(),
            expiration: self.expiration.map(|ms| ms.to_string()),
            message_id: self.message_id.take(),
            timestamp: None,
            kind: self.r#type.take(),
            user_id: None,
            app_id: self.app_id.take(),
        }
    }
}

/// `amqpctl pub`.
pub fn run(connect: &ConnectSpec, args: PublishArgs) -> Result<(), Error> {
    engine::run(connect, args.resolve()?)
}
