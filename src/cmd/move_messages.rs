//! `amqpctl move`: move messages from a queue to a queue or an exchange, on
//! the same broker or another, body, properties and headers intact. Each
//! source message is acked only after the destination confirmed it, so a
//! move stopped at any instant leaves every message in the source, the
//! destination, or both (a duplicate), never neither.

use std::collections::VecDeque;
use std::time::Duration;

use clap::{Args, Parser};
use crossbeam_channel::Receiver;

use super::args::ConnectionArgs;
use super::args::values::check_name;
use super::broker::{ConnectSpec, connect};
use super::io::output::{Progress, status};
use super::io::pace::{Pacer, parse_rate};
use super::io::signals;
use crate::error::Error;
use amqpctl::amqp::{Channel, Confirmation, Consumer, ConsumerSettings, Delivery, Next, Publish};

/// How long the move waits without a delivery before asking the broker
/// whether the source is drained.
const DRAIN_GRACE: Duration = Duration::from_millis(300);

/// The flags of `amqpctl move`.
#[derive(Debug, Args)]
pub struct MoveArgs {
    /// Queue to take the messages from.
    #[arg(short = 'q', long = "queue", value_name = "NAME")]
    queue: String,

    #[command(flatten)]
    target: Target,

    /// Routing key for --to-exchange [default: each message's own].
    #[arg(
        short = 'k',
        long = "routing-key",
        value_name = "KEY",
        requires = "to_exchange"
    )]
    routing_key: Option<String>,

    /// Move at most N messages [default: every message the queue holds when
    /// the move starts].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,

    /// Messages published and not yet confirmed at most.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..))]
    window: u16,

    /// Move N messages a second, evenly spaced.
    #[arg(long, value_name = "N", value_parser = parse_rate)]
    rate: Option<f64>,

    /// Only count what would move; move nothing.
    #[arg(long)]
    dry_run: bool,

    /// The destination broker's URL [default: the source broker].
    #[arg(long, value_name = "URL", help_heading = "Destination broker")]
    to_url: Option<String>,

    /// Take the destination's connection settings from this profile.
    #[arg(long, value_name = "NAME", help_heading = "Destination broker")]
    to_profile: Option<String>,

    /// Verify the destination against this PEM bundle; implies TLS.
    #[arg(long, value_name = "FILE", help_heading = "Destination broker")]
    to_cafile: Option<std::path::PathBuf>,

    /// TLS to the destination without verifying its certificate.
    #[arg(
        long,
        help_heading = "Destination broker",
        conflicts_with = "to_cafile"
    )]
    to_insecure: bool,
}

/// `--to-queue` or `--to-exchange`: one of them.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct Target {
    /// Queue to put them in (through the default exchange).
    #[arg(long, value_name = "NAME")]
    to_queue: Option<String>,

    /// Exchange to publish them to instead.
    #[arg(long, value_name = "NAME")]
    to_exchange: Option<String>,
}

/// Where moved messages go.
#[derive(Debug, Clone)]
pub enum Destination {
    /// A queue, through the default exchange.
    Queue(String),
    /// An exchange, with a fixed routing key or each message's own.
    Exchange {
        /// The exchange.
        name: String,
        /// The key; `None` keeps each message's routing key.
        routing_key: Option<String>,
    },
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Queue(q) => write!(f, "queue {q}"),
            Destination::Exchange { name, .. } => write!(f, "exchange {name}"),
        }
    }
}

/// What `move` does, resolved from its flags.
pub struct MoveSpec {
    /// The source queue.
    pub queue: String,
    /// Where the messages go.
    pub destination: Destination,
    /// Most messages to move.
    pub count: Option<u64>,
    /// Unconfirmed publishes at most.
    pub window: usize,
    /// `--rate`: messages per second.
    pub rate: Option<f64>,
    /// Count only.
    pub dry_run: bool,
    /// The destination broker; `None` is the source's.
    pub to: Option<ConnectSpec>,
}

/// The destination's connection flags, parsed as if given on a command
/// line of their own, so that they mean what the global ones mean.
#[derive(Parser)]
struct DestinationFlags {
    #[command(flatten)]
    connection: ConnectionArgs,
}

impl MoveArgs {
    /// Checks the names and resolves the destination broker's settings
    /// before anything is sent.
    pub fn resolve(self) -> Result<MoveSpec, Error> {
        check_name("the queue name (-q)", &self.queue)?;
        let destination = match (self.target.to_queue, self.target.to_exchange) {
            (Some(q), _) => {
                check_name("the queue name (--to-queue)", &q)?;
                Destination::Queue(q)
            }
            (None, Some(name)) => {
                check_name("the exchange name (--to-exchange)", &name)?;
                if let Some(key) = &self.routing_key {
                    check_name("the routing key (-k)", key)?;
                }
                Destination::Exchange {
                    name,
                    routing_key: self.routing_key,
                }
            }
            (None, None) => {
                return Err(Error::Usage(
                    "move needs --to-queue NAME or --to-exchange NAME".to_string(),
                ));
            }
        };
        let remote = self.to_url.is_some()
            || self.to_profile.is_some()
            || self.to_cafile.is_some()
            || self.to_insecure;
        let to = if remote {
            let mut argv = vec!["move".to_string()];
            let mut flag = |name: &str, value: Option<String>| {
                if let Some(v) = value {
                    argv.push(name.to_string());
                    argv.push(v);
                }
            };
            flag("--url", self.to_url);
            flag("--profile", self.to_profile);
            flag("--cafile", self.to_cafile.map(|p| p.display().to_string()));
            if self.to_insecure {
                argv.push("--insecure".to_string());
            }
            let flags = DestinationFlags::try_parse_from(&argv)
                .map_err(|e| Error::Usage(format!("the destination flags: {}", e.kind())))?;
            Some(flags.connection.resolve()?)
        } else {
            None
        };
        Ok(MoveSpec {
            queue: self.queue,
            destination,
            count: self.count,
            window: usize::from(self.window),
            rate: self.rate,
            dry_run: self.dry_run,
            to,
        })
    }
}

/// `amqpctl move`.
pub fn run(connect: &ConnectSpec, args: MoveArgs) -> Result<(), Error> {
    move_messages(connect, args.resolve()?)
}

/// What a move did, for its summary line.
#[derive(Debug, Default)]
struct Tally {
    /// Confirmed by the destination and acked at the source.
    moved: u64,
    /// Confirmed by the destination, not (known to be) acked at the source:
    /// a later move may take them again.
    duplicates: u64,
}

/// Moves up to `spec.count` of the messages the source holds now.
pub fn move_messages(source: &ConnectSpec, spec: MoveSpec) -> Result<(), Error> {
    let interrupts = signals::interrupts()?;
    let (src_conn, src) = connect(source)?;
    let ready = u64::from(src.queue_inspect(&spec.queue)?.messages);
    let limit = spec.count.map_or(ready, |n| n.min(ready));
    if spec.dry_run {
        status(format_args!(
            "Would move {limit} messages from queue {} to {}",
            spec.queue, spec.destination
        ));
        src.close()?;
        return Ok(src_conn.close()?);
    }
    let (dst_conn, mut dst) = connect(spec.to.as_ref().unwrap_or(source))?;
    let mut tally = Tally::default();
    let moved = (|| {
        dst.confirm_delivery()?;
        src.basic_qos(u16::try_from(spec.window).unwrap_or(u16::MAX))?;
        let consumer = src.basic_consume(&spec.queue, &ConsumerSettings::default())?;
        let result = transfer(&consumer, &mut dst, &spec, limit, &interrupts, &mut tally);
        let cancelled = consumer.cancel();
        result?;
        cancelled.map_err(Error::from)
    })();
    let closed = (dst.close(), dst_conn.close(), src.close(), src_conn.close());
    let duplicates = if tally.duplicates > 0 {
        format!("; {} may be in both queues", tally.duplicates)
    } else {
        String::new()
    };
    let stopped = match &moved {
        Err(Error::Interrupted(signal)) => format!("Stopped by signal {signal}: "),
        _ => String::new(),
    };
    status(format_args!(
        "{stopped}Moved {} of {limit} messages from queue {} to {}{duplicates}",
        tally.moved, spec.queue, spec.destination
    ));
    moved?;
    closed.0?;
    closed.1?;
    closed.2?;
    closed.3?;
    Ok(())
}

/// Publishes each delivery to the destination and acks it at the source
/// once confirmed, `spec.window` in flight at most.
fn transfer(
    consumer: &Consumer<'_>,
    dst: &mut Channel,
    spec: &MoveSpec,
    limit: u64,
    interrupts: &Receiver<i32>,
    tally: &mut Tally,
) -> Result<(), Error> {
    let src = consumer.channel();
    let mut pending: VecDeque<Delivery> = VecDeque::new();
    let mut taken = 0;
    let mut progress = Progress::new("moved", Some(limit), false);
    let mut failure = None;
    let mut pacer = spec.rate.map(Pacer::new);
    let mut stopped = None;
    let result = (|| {
        while taken < limit && failure.is_none() {
            if let Ok(signal) = interrupts.try_recv() {
                stopped = Some(signal);
                break;
            }
            let d = match consumer.next::<()>(Some(DRAIN_GRACE), None)? {
                Next::Delivery(d) => d,
                Next::Interrupted => continue,
                Next::Idle => {
                    if src.queue_inspect(&spec.queue)?.messages == 0 {
                        break;
                    }
                    continue;
                }
            };
            if let Some(signal) = pacer.as_mut().and_then(|p| p.wait(interrupts)) {
                // Not yet published: it goes back with the channel.
                stopped = Some(signal);
                break;
            }
            taken += 1;
            let properties = d.properties();
            let (exchange, routing_key) = match &spec.destination {
                Destination::Queue(q) => ("", q.as_str()),
                Destination::Exchange { name, routing_key } => (
                    name.as_str(),
                    routing_key.as_deref().unwrap_or(d.routing_key()),
                ),
            };
            dst.basic_publish(&Publish {
                exchange,
                routing_key,
                body: d.body(),
                properties: &properties,
                mandatory: true,
            })?;
            pending.push_back(d);
            settle(dst, src, &mut pending, spec.window - 1, tally, &mut failure)?;
            progress.add(1);
        }
        // A clean stop waits for what is in flight, so nothing is left in
        // both queues.
        settle(dst, src, &mut pending, 0, tally, &mut failure)?;
        match stopped {
            Some(signal) => Err(Error::Interrupted(signal)),
            None => Ok(()),
        }
    })();
    progress.finish();
    // Published but unconfirmed: after a lost connection or a signal they
    // may have reached the destination; a destination that closed the
    // channel (404, 403 …) took none of them.
    let unknown = match &result {
        Err(e) => e.is_connection_lost() || matches!(e, Error::Interrupted(_)),
        Ok(()) => false,
    };
    if unknown {
        tally.duplicates += pending.len() as u64;
    }
    match (result, failure) {
        (Err(e), _) => Err(e),
        (Ok(()), Some(failure)) => Err(failure),
        (Ok(()), None) => Ok(()),
    }
}

/// Waits until at most `window` publishes are unconfirmed; acks at the
/// source what the destination took, and puts back (and remembers as the
/// failure) what it refused or returned.
fn settle(
    dst: &Channel,
    src: &Channel,
    pending: &mut VecDeque<Delivery>,
    window: usize,
    tally: &mut Tally,
    failure: &mut Option<Error>,
) -> Result<(), Error> {
    let mut verdicts = Vec::new();
    dst.wait_confirms(window, |_, c| verdicts.push(c))?;
    for verdict in verdicts {
        let Some(d) = pending.pop_front() else {
            break;
        };
        match verdict {
            Confirmation::Ack => {
                // Until the source takes the ack, the message is in both.
                tally.duplicates += 1;
                src.basic_ack(d, false)?;
                tally.duplicates -= 1;
                tally.moved += 1;
            }
            Confirmation::Nack => {
                src.basic_nack(d, false, true)?;
                failure.get_or_insert(Error::Nacked {
                    seq: tally.moved + 1,
                });
            }
            Confirmation::Returned { code, text } => {
                src.basic_nack(d, false, true)?;
                failure.get_or_insert(Error::Amqp(amqpctl::amqp::AmqpError::Returned {
                    code,
                    text,
                }));
            }
        }
    }
    Ok(())
}
