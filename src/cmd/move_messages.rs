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
use super::filter::Filter;
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

    /// Go on until the queue is empty, moving also what arrives during the
    /// move [default: only the messages it holds when the move starts].
    #[arg(long)]
    until_empty: bool,

    /// Move only the messages for which this CEL expression is true (see
    /// the README's Filters section); the others stay, each looked at once.
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,

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
    /// `--until-empty`: not only what the queue holds at the start.
    pub until_empty: bool,
    /// `--filter`.
    pub filter: Option<Filter>,
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
            until_empty: self.until_empty,
            filter: self.filter.as_deref().map(Filter::compile).transpose()?,
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
    /// Looked at and left in place: `--filter` skipped them.
    skipped: u64,
}

/// Moves up to `spec.count` of the messages the source holds now (or,
/// with `--until-empty`, until it is empty).
pub fn move_messages(source: &ConnectSpec, spec: MoveSpec) -> Result<(), Error> {
    let interrupts = signals::interrupts()?;
    let (src_conn, src) = connect(source)?;
    let ready = u64::from(src.queue_inspect(&spec.queue)?.messages);
    // Messages to look at, at most (each is looked at once); --count
    // counts the messages moved.
    let limit = if spec.until_empty { u64::MAX } else { ready };
    if spec.dry_run {
        let dry = dry_run(&src, &spec, limit);
        let closed = (src.close(), src_conn.close());
        dry?;
        closed.0?;
        return Ok(closed.1?);
    }
    let (dst_conn, mut dst) = connect(spec.to.as_ref().unwrap_or(source))?;
    let mut tally = Tally::default();
    let moved = (|| {
        dst.confirm_delivery()?;
        if spec.filter.is_some() {
            // Skipped messages stay unacked until the end, so a consumer's
            // prefetch window would fill with them: one basic.get each.
            return transfer(
                &Pull::Get(&src),
                &mut dst,
                &spec,
                limit,
                &interrupts,
                &mut tally,
            );
        }
        src.basic_qos(u16::try_from(spec.window).unwrap_or(u16::MAX))?;
        let consumer = src.basic_consume(&spec.queue, &ConsumerSettings::default())?;
        let result = transfer(
            &Pull::Consumer(&consumer),
            &mut dst,
            &spec,
            limit,
            &interrupts,
            &mut tally,
        );
        let cancelled = consumer.cancel();
        result?;
        cancelled.map_err(Error::from)
    })();
    let closed = (dst.close(), dst_conn.close(), src.close(), src_conn.close());
    report(&spec, &tally, limit, &moved);
    moved?;
    closed.0?;
    closed.1?;
    closed.2?;
    closed.3?;
    Ok(())
}

/// The summary line, and the filter's warnings.
fn report(spec: &MoveSpec, tally: &Tally, limit: u64, moved: &Result<(), Error>) {
    let duplicates = if tally.duplicates > 0 {
        format!("; {} may be in both queues", tally.duplicates)
    } else {
        String::new()
    };
    let stopped = match moved {
        Err(Error::Interrupted(signal)) => format!("Stopped by signal {signal}: "),
        _ => String::new(),
    };
    let of = match (&spec.filter, spec.until_empty) {
        (Some(_), _) => format!(" of {}", tally.moved + tally.skipped),
        (None, false) => format!(" of {}", spec.count.map_or(limit, |n| n.min(limit))),
        (None, true) => String::new(),
    };
    let skipped = match &spec.filter {
        Some(_) => format!("; {} did not match --filter (left in place)", tally.skipped),
        None => String::new(),
    };
    status(format_args!(
        "{stopped}Moved {}{of} messages from queue {} to {}{skipped}{duplicates}",
        tally.moved, spec.queue, spec.destination
    ));
    if let Some(filter) = &spec.filter {
        filter.report();
    }
}

/// `--dry-run`: counts what would move. With `--filter` that means looking
/// at each message (with basic.get), then putting them all back.
fn dry_run(src: &Channel, spec: &MoveSpec, limit: u64) -> Result<(), Error> {
    let count = spec.count.unwrap_or(u64::MAX);
    let Some(filter) = &spec.filter else {
        status(format_args!(
            "Would move {} messages from queue {} to {}",
            count.min(limit),
            spec.queue,
            spec.destination
        ));
        return Ok(());
    };
    let mut looked = 0;
    let mut matching = 0;
    let mut last = None;
    while looked < limit && matching < count {
        let Some((d, _)) = src.basic_get(&spec.queue, false)? else {
            break;
        };
        looked += 1;
        if filter.matches(&d) {
            matching += 1;
        }
        last = Some(d);
    }
    if let Some(last) = last {
        src.basic_nack(last, true, true)?;
    }
    status(format_args!(
        "Would move {matching} of {looked} messages from queue {} to {} ({} do not match --filter)",
        spec.queue,
        spec.destination,
        looked - matching
    ));
    filter.report();
    Ok(())
}

/// Where a move takes its messages from.
enum Pull<'a, 'c> {
    /// A consumer, its prefetch the confirm window: the fast way.
    Consumer(&'a Consumer<'c>),
    /// One basic.get per message, for `--filter`.
    Get(&'a Channel),
}

/// What one pull gave.
enum Pulled {
    Message(Delivery),
    /// Nothing yet: ask again.
    Nothing,
    /// The source is empty.
    Drained,
}

impl Pull<'_, '_> {
    fn channel(&self) -> &Channel {
        match self {
            Pull::Consumer(consumer) => consumer.channel(),
            Pull::Get(channel) => channel,
        }
    }

    fn next(&self, queue: &str) -> Result<Pulled, Error> {
        match self {
            Pull::Consumer(consumer) => match consumer.next::<()>(Some(DRAIN_GRACE), None)? {
                Next::Delivery(d) => Ok(Pulled::Message(d)),
                Next::Interrupted => Ok(Pulled::Nothing),
                Next::Idle if consumer.channel().queue_inspect(queue)?.messages == 0 => {
                    Ok(Pulled::Drained)
                }
                Next::Idle => Ok(Pulled::Nothing),
            },
            Pull::Get(channel) => Ok(match channel.basic_get(queue, false)? {
                Some((d, _)) => Pulled::Message(d),
                None => Pulled::Drained,
            }),
        }
    }
}

/// Publishes each delivery (that `--filter` keeps) to the destination and
/// acks it at the source once confirmed, `spec.window` in flight at most;
/// skipped ones go back at the end.
fn transfer(
    pull: &Pull<'_, '_>,
    dst: &mut Channel,
    spec: &MoveSpec,
    limit: u64,
    interrupts: &Receiver<i32>,
    tally: &mut Tally,
) -> Result<(), Error> {
    let src = pull.channel();
    let mut pending: VecDeque<Delivery> = VecDeque::new();
    let mut skipped: Vec<Delivery> = Vec::new();
    let mut looked = 0;
    let mut taken = 0;
    let count = spec.count.unwrap_or(u64::MAX);
    let bounded = !spec.until_empty && spec.filter.is_none();
    let mut progress = Progress::new("moved", bounded.then_some(count.min(limit)), false);
    let mut failure = None;
    let mut pacer = spec.rate.map(Pacer::new);
    let mut stopped = None;
    let result = (|| {
        while looked < limit && taken < count && failure.is_none() {
            if let Ok(signal) = interrupts.try_recv() {
                stopped = Some(signal);
                break;
            }
            let d = match pull.next(&spec.queue)? {
                Pulled::Message(d) => d,
                Pulled::Nothing => continue,
                Pulled::Drained => break,
            };
            looked += 1;
            if spec.filter.as_ref().is_some_and(|f| !f.matches(&d)) {
                tally.skipped += 1;
                skipped.push(d);
                continue;
            }
            if let Some(signal) = pacer.as_mut().and_then(|p| p.wait(interrupts)) {
                // Not yet published: it goes back with the channel.
                stopped = Some(signal);
                break;
            }
            taken += 1;
            publish(dst, spec, &d)?;
            pending.push_back(d);
            settle(dst, src, &mut pending, spec.window - 1, tally, &mut failure)?;
            progress.add(1);
        }
        // A clean stop waits for what is in flight, so nothing is left in
        // both queues.
        settle(dst, src, &mut pending, 0, tally, &mut failure)?;
        // Only skipped ones are unacked now: one multiple nack puts them
        // back, in their order.
        if let Some(last) = skipped.pop() {
            src.basic_nack(last, true, true)?;
        }
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

/// Publishes one message to the destination, body, properties and headers
/// as they came.
fn publish(dst: &Channel, spec: &MoveSpec, d: &Delivery) -> Result<(), Error> {
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
    Ok(())
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
