//! `amqpctl pub`: publish one or more messages, optionally declaring the
//! exchange and queue first, with publisher confirms and mandatory routing.

use std::collections::VecDeque;
use std::io::Read;
use std::time::Duration;

use clap::Args;
use crossbeam_channel::Receiver;

use super::output::Lines;
use super::{
    ExchangeArgs, QueueArgs, Session, parse_key_value, parse_seconds, signals, table, with_channel,
};
use crate::error::Error;
use amqpctl::amqp::{AmqpError, Channel, Confirmation, Properties, Publish, Value};

#[derive(Debug, Args)]
pub struct PublishArgs {
    #[command(flatten)]
    exchange: ExchangeArgs,

    #[command(flatten)]
    queue: QueueArgs,

    /// Routing key.
    #[arg(
        short = 'k',
        long = "routing-key",
        value_name = "KEY",
        default_value = ""
    )]
    routing_key: String,

    /// Message body; `-` reads it from standard input.
    #[arg(
        short = 'm',
        long = "message",
        value_name = "TEXT",
        default_value = "Hello World!"
    )]
    message: String,

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

    fn text(&self) -> Result<Vec<u8>, Error> {
        if self.message == "-" {
            let mut body = Vec::new();
            std::io::stdin()
                .lock()
                .read_to_end(&mut body)
                .map_err(|e| Error::io("reading the message from stdin", e))?;
            Ok(body)
        } else {
            Ok(self.message.clone().into_bytes())
        }
    }

    /// Body of message `i` (from 1): `I:TEXT` when sending several.
    fn body(&self, text: &[u8], i: u64) -> Vec<u8> {
        if self.nb_messages == 1 {
            text.to_vec()
        } else {
            let mut body = format!("{i}:").into_bytes();
            body.extend_from_slice(text);
            body
        }
    }
}

pub fn run(session: &Session, args: PublishArgs) -> Result<(), Error> {
    if args.queue.declare && args.queue.name.is_none() {
        return Err(Error::Usage("-Q needs a queue name with -q".to_string()));
    }
    let text = args.text()?;
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
        publish_all(channel, &args, &text, &interrupts, &mut lines)
    });
    lines.flush()?;
    result
}

/// Messages published with confirms whose verdict has not been printed yet.
struct Unconfirmed {
    bodies: VecDeque<Vec<u8>>,
    failure: Option<Error>,
}

impl Unconfirmed {
    /// Prints `Sent:` for acked messages in order; remembers the first failure.
    fn settle(
        &mut self,
        lines: &mut Lines,
        verdicts: Vec<(u64, Confirmation)>,
    ) -> Result<(), Error> {
        for (seq, verdict) in verdicts {
            let body = self.bodies.pop_front().unwrap_or_default();
            match verdict {
                Confirmation::Ack => lines.line(b"Sent: ", &body)?,
                Confirmation::Nack => {
                    self.failure.get_or_insert(Error::Nacked { seq });
                }
                Confirmation::Returned { code, text } => {
                    self.failure
                        .get_or_insert(Error::Amqp(AmqpError::Returned { code, text }));
                }
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
}

fn publish_all(
    channel: &mut Channel,
    args: &PublishArgs,
    text: &[u8],
    interrupts: &Receiver<i32>,
    lines: &mut Lines,
) -> Result<(), Error> {
    let properties = args.properties();
    let exchange = args.exchange.name();
    // With a pause between messages each one is reported before the pause.
    let window = if args.interval.is_zero() {
        args.confirm_window as usize
    } else {
        0
    };
    let mut unconfirmed = Unconfirmed {
        bodies: VecDeque::new(),
        failure: None,
    };
    let mut interrupted = None;
    for i in 1..=args.nb_messages {
        if i > 1 && !args.interval.is_zero() {
            lines.flush()?;
            if let Ok(signal) = interrupts.recv_timeout(args.interval) {
                interrupted = Some(signal);
                break;
            }
        } else if let Ok(signal) = interrupts.try_recv() {
            interrupted = Some(signal);
            break;
        }
        let body = args.body(text, i);
        channel.basic_publish(&Publish {
            exchange,
            routing_key: &args.routing_key,
            body: &body,
            properties: &properties,
            mandatory: args.mandatory,
        })?;
        if args.confirm {
            unconfirmed.bodies.push_back(body);
            unconfirmed.wait(channel, lines, window)?;
            if unconfirmed.failure.is_some() {
                break;
            }
        } else {
            lines.line(b"Sent: ", &body)?;
        }
    }
    unconfirmed.wait(channel, lines, 0)?;
    if let Some(failure) = unconfirmed.failure {
        return Err(failure);
    }
    match interrupted {
        Some(signal) => Err(Error::Interrupted(signal)),
        None => Ok(()),
    }
}
