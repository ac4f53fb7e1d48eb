//! `amqpctl pub`: publish messages (one, numbered copies, a file, stdin
//! lines or JSON envelopes), optionally declaring the exchange and queue
//! first, with publisher confirms and mandatory routing.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use crossbeam_channel::Receiver;
use signal_hook::consts::SIGINT;

use super::flow::FlowWait;
use super::format::{Delimiter, parse_delimiter};
use super::outcome::{BodyDisplay, Reporter};
use super::output::{Lines, Progress, status};
use super::reconnect::Backoff;
use super::source::Source;
use super::{
    ExchangeArgs, QueueArgs, Session, check_name, check_unique_keys, parse_key_value,
    parse_seconds, signals, table, with_channel_watching,
};
use crate::error::Error;
use amqpctl::amqp::{AmqpError, Channel, Properties, Publish, Unblocked, Value};

/// How often a wait for confirms looks at flow control and signals.
const FLOW_CHECK: Duration = Duration::from_millis(200);

/// Messages in flight with --confirm when --confirm-window is not given.
const DEFAULT_CONFIRM_WINDOW: u64 = 1000;

/// How long outstanding confirms may still come after a signal.
const CONFIRM_GRACE: Duration = Duration::from_secs(5);

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

    /// Pause between messages in seconds (fractions allowed, 0 for none)
    /// [default: 1 with --nb-messages; 0 for --lines and --format json].
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, allow_hyphen_values = true)]
    interval: Option<Duration>,

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
    /// their confirms [default: 1000].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    confirm_window: Option<u64>,

    /// Print no per-message lines.
    #[arg(long)]
    quiet: bool,

    /// After a lost connection, connect again (backoff with jitter),
    /// re-declare, and publish again what was not confirmed.
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

    /// The pause between messages: the seed's one second for numbered
    /// copies, none for streams of input, unless --interval says otherwise.
    fn interval(&self) -> Duration {
        self.interval
            .unwrap_or(if self.lines || self.format == PubFormat::Json {
                Duration::ZERO
            } else {
                Duration::from_secs(1)
            })
    }

    /// The routing key when neither -k nor an envelope gives one: on the
    /// default exchange, the -q queue (so `pub -q Q` reaches Q), else "".
    fn default_routing_key(&self) -> String {
        match &self.queue.name {
            Some(queue) if self.exchange.name().is_empty() => queue.clone(),
            _ => String::new(),
        }
    }

    /// How `Sent:` lines show bodies: bodies read from a file or stdin are
    /// summarised (a tarball must not be echoed), stdin lines are shown when
    /// they are short text, `-m TEXT` is shown as given.
    fn body_display(&self) -> BodyDisplay {
        if self.lines {
            BodyDisplay::TextOrSummary
        } else if self.file.is_some() || self.message == "-" {
            BodyDisplay::Summary {
                numbered: self.nb_messages > 1,
            }
        } else {
            BodyDisplay::Echo
        }
    }

    /// Checks everything that can be checked here, before connecting: a
    /// usage error must change nothing on the broker.
    fn check(&self) -> Result<(), Error> {
        if self.queue.declare && self.queue.name.is_none() {
            return Err(Error::Usage("-Q needs a queue name with -q".to_string()));
        }
        self.exchange.check()?;
        self.queue.check()?;
        if let Some(key) = &self.routing_key {
            check_name("the routing key (-k)", key)?;
        }
        check_unique_keys("--header", &self.headers)?;
        if self.confirm_window.is_some() && !self.confirm {
            status("WARNING: --confirm-window has no effect without --confirm");
        }
        Ok(())
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
    args.check()?;
    let mut source = args.source()?;
    let interrupts = signals::interrupts()?;
    let mut lines = Lines::new();
    let mut run = Run {
        pending: VecDeque::new(),
        reporter: Reporter {
            json: args.format == PubFormat::Json,
            quiet: args.quiet,
            bodies: args.body_display(),
            failure: None,
            reported: 0,
        },
        published: 0,
        interrupted: None,
        progress: Progress::new("sent"),
    };
    let mut backoff = Backoff::new();
    let result = loop {
        let published_before = run.published;
        let flow = FlowWait::new(args.blocked_timeout);
        let attempt = with_channel_watching(session, flow, |channel| {
            args.exchange.declare_if_asked(channel)?;
            if let Some(name) = &args.queue.name
                && args.queue.declare
            {
                args.queue.declare(channel, name)?;
            }
            if args.confirm {
                channel.confirm_delivery()?;
            }
            run.publish_all(channel, &args, &mut source, &interrupts, &mut lines)
        });
        match attempt {
            Err(e) if args.reconnect && e.is_connection_lost() => {
                lines.flush()?;
                if run.published > published_before {
                    backoff.reset();
                }
                if let Err(stop) = backoff.wait(&e, &interrupts) {
                    break Err(stop);
                }
                if !run.pending.is_empty() {
                    status(format_args!(
                        "Publishing again {} messages the broker had not confirmed",
                        run.pending.len()
                    ));
                }
            }
            other => break other,
        }
    };
    run.progress.finish();
    lines.flush()?;
    // Where the broker's fate for them is unknown, say how many messages
    // went out unconfirmed. (After a channel error they were refused.)
    if let Err(Error::Interrupted(signal)) = &result {
        // Said even with --quiet: a script must learn how far it got.
        let sent = run.reporter.reported;
        if args.confirm {
            status(format_args!(
                "Stopped by signal {signal}: {sent} of {} messages published were confirmed",
                run.published
            ));
        } else {
            status(format_args!(
                "Stopped by signal {signal}: {sent} messages sent"
            ));
        }
    }
    let unknown_fate = matches!(&result, Err(e) if e.is_connection_lost()
        || matches!(e, Error::Blocked { .. } | Error::Interrupted(_)));
    if unknown_fate && !run.pending.is_empty() {
        let n = run.pending.len();
        let (what, were) = if n == 1 {
            ("message", "was")
        } else {
            ("messages", "were")
        };
        status(format_args!(
            "WARNING: {n} published {what} {were} not confirmed; they may or may not be on the broker"
        ));
    }
    result
}

/// A message published with confirms, kept until the broker's verdict, so
/// that it can be reported and, after a reconnect, published again.
struct Pending {
    body: Vec<u8>,
    exchange: String,
    routing_key: String,
    properties: Option<Properties>,
}

/// The state of one `pub` run, kept across reconnections.
struct Run {
    /// Published, not yet confirmed, in publish order.
    pending: VecDeque<Pending>,
    reporter: Reporter,
    /// Messages taken from the source so far (numbers outcome lines).
    published: u64,
    /// The signal that stopped the run, and when.
    interrupted: Option<(i32, Instant)>,
    progress: Progress,
}

impl Run {
    /// Waits until at most `window` messages are unconfirmed, reporting the
    /// confirmed ones in order. Meanwhile it watches flow control (a blocked
    /// broker confirms nothing) and signals: after one, outstanding confirms
    /// get [`CONFIRM_GRACE`] more, then are reported as unconfirmed.
    fn wait(
        &mut self,
        channel: &Channel,
        args: &PublishArgs,
        interrupts: &Receiver<i32>,
        lines: &mut Lines,
        window: usize,
    ) -> Result<(), Error> {
        loop {
            let mut verdicts = Vec::new();
            let deadline = Instant::now() + FLOW_CHECK;
            let reached =
                channel.wait_confirms_until(window, Some(deadline), |_, c| verdicts.push(c))?;
            for verdict in verdicts {
                let done = self.pending.pop_front().ok_or_else(|| {
                    Error::Amqp(AmqpError::Protocol(
                        "a confirm for an unknown message".to_string(),
                    ))
                })?;
                // Outcome lines number messages by their place in the input,
                // which a reconnect does not change.
                let seq = self.published - self.pending.len() as u64;
                self.reporter.settle(lines, seq, &done.body, verdict)?;
            }
            if reached {
                return Ok(());
            }
            if let Ok(signal) = interrupts.try_recv() {
                self.interrupted.get_or_insert((signal, Instant::now()));
            }
            if let Some((_, when)) = self.interrupted
                && when.elapsed() > CONFIRM_GRACE
            {
                return Ok(());
            }
            self.respect_flow_control(channel, args, interrupts, lines)?;
        }
    }

    fn publish(
        &self,
        channel: &Channel,
        args: &PublishArgs,
        m: &Pending,
        default: &Properties,
    ) -> Result<(), Error> {
        channel.basic_publish(&Publish {
            exchange: &m.exchange,
            routing_key: &m.routing_key,
            body: &m.body,
            properties: m.properties.as_ref().unwrap_or(default),
            mandatory: args.mandatory,
        })?;
        Ok(())
    }

    /// Waits while the broker blocks publishing (connection.blocked).
    fn respect_flow_control(
        &mut self,
        channel: &Channel,
        args: &PublishArgs,
        interrupts: &Receiver<i32>,
        lines: &mut Lines,
    ) -> Result<(), Error> {
        let Some(reason) = channel.blocked_reason() else {
            return Ok(());
        };
        lines.flush()?;
        status(format_args!(
            "WARNING: the broker blocks publishing ({reason}); waiting"
        ));
        match channel.wait_unblocked(args.blocked_timeout, Some(interrupts)) {
            Unblocked::Yes => {
                status("The broker unblocked publishing");
                Ok(())
            }
            Unblocked::TimedOut => Err(Error::Blocked {
                secs: args.blocked_timeout.map_or(0.0, |t| t.as_secs_f64()),
                reason,
            }),
            Unblocked::Interrupted => {
                self.interrupted.get_or_insert((SIGINT, Instant::now()));
                Ok(())
            }
        }
    }

    fn publish_all(
        &mut self,
        channel: &mut Channel,
        args: &PublishArgs,
        source: &mut Source,
        interrupts: &Receiver<i32>,
        lines: &mut Lines,
    ) -> Result<(), Error> {
        let default_properties = args.properties();
        let interval = args.interval();
        let default_key = args.default_routing_key();
        // With a pause between messages each one is reported before the pause.
        let window = if interval.is_zero() {
            args.confirm_window.unwrap_or(DEFAULT_CONFIRM_WINDOW) as usize
        } else {
            0
        };
        // After a reconnect: what the broker had not confirmed goes again.
        for m in &self.pending {
            self.publish(channel, args, m, &default_properties)?;
        }
        while self.interrupted.is_none() && !self.reporter.should_stop() {
            if let Ok(signal) = interrupts.try_recv() {
                self.interrupted = Some((signal, Instant::now()));
                break;
            }
            let message = match source.next() {
                Ok(Some(message)) => message,
                Ok(None) => break,
                Err(bad_input) => {
                    // What went out before the bad input is still reported.
                    self.wait(channel, args, interrupts, lines, 0)?;
                    return Err(bad_input);
                }
            };
            // The pause goes between messages, never after the last one.
            if self.published > 0 && !interval.is_zero() {
                lines.flush()?;
                if let Ok(signal) = interrupts.recv_timeout(interval) {
                    self.interrupted = Some((signal, Instant::now()));
                    break;
                }
            }
            self.respect_flow_control(channel, args, interrupts, lines)?;
            if self.interrupted.is_some() {
                break;
            }
            let m = Pending {
                exchange: args
                    .exchange
                    .name
                    .clone()
                    .or(message.exchange)
                    .unwrap_or_default(),
                routing_key: args
                    .routing_key
                    .clone()
                    .or(message.routing_key)
                    .unwrap_or_else(|| default_key.clone()),
                body: message.body,
                properties: message.properties,
            };
            self.published += 1;
            self.progress.add(1);
            if args.confirm {
                // Pending before it is sent: if the connection breaks during
                // the publish, the message is counted and published again.
                self.pending.push_back(m);
                if let Some(m) = self.pending.back() {
                    self.publish(channel, args, m, &default_properties)?;
                }
                self.wait(channel, args, interrupts, lines, window)?;
            } else {
                self.publish(channel, args, &m, &default_properties)?;
                self.reporter.sent(lines, self.published, &m.body)?;
            }
        }
        self.wait(channel, args, interrupts, lines, 0)?;
        if let Some(failure) = self.reporter.failure.take() {
            return Err(failure);
        }
        match self.interrupted {
            Some((signal, _)) => Err(Error::Interrupted(signal)),
            None => Ok(()),
        }
    }
}
