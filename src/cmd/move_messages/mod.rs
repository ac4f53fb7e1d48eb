//! `amqpctl move`: move messages from a queue to a queue or an exchange, on
//! the same broker or another, body, properties and headers intact, on the
//! transfer engine (`cmd/transfer`): each source message is acked only
//! after the destination confirmed it, so a move stopped at any instant
//! leaves every message in the source, the destination, or both (a
//! duplicate), never neither. The destination broker's flags are in
//! `destination.rs`.

mod destination;

use std::cell::Cell;

use clap::Args;

use super::args::ConnectionArgs;
use super::args::InflightArgs;
use super::args::reconnect::ReconnectArgs;
use super::args::values::check_name;
use super::broker::flow::FlowWait;
use super::broker::{ConnectSpec, put_back, with_connection};
use super::filter::Filter;
use super::io::output::{Lines, status};
use super::io::pace::parse_rate;
use super::io::signals;
use super::transfer::again;
use super::transfer::{DEFAULT_WINDOW, Outgoing, Plan, Route, Tally, transfer};
use crate::error::Error;
use amqpctl::amqp::{AmqpError, Channel, Delivery};
use destination::{ToFlags, destination_error};

/// The flags of `amqpctl move`.
#[derive(Debug, Args)]
#[command(after_help = crate::cmd::filter::HELP)]
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
    #[arg(long, value_name = "N", default_value_t = DEFAULT_WINDOW, value_parser = clap::value_parser!(u16).range(1..))]
    window: u16,

    /// Move N messages a second, evenly spaced.
    #[arg(long, value_name = "N", value_parser = parse_rate)]
    rate: Option<f64>,

    /// Go on until the queue is empty, moving also what arrives during the
    /// move [default: only the messages it holds when the move starts].
    #[arg(long)]
    until_empty: bool,

    /// Move only the messages for which this CEL expression is true (see
    /// Filters below); the others stay, each looked at once.
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,

    /// Only count what would move; move nothing.
    #[arg(long)]
    dry_run: bool,

    #[command(flatten)]
    reconnect: ReconnectArgs,

    #[command(flatten)]
    inflight: InflightArgs,

    #[command(flatten)]
    to: ToFlags,
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
    /// `--max-inflight-bytes` (0: no bound).
    pub budget: u64,
    /// `--rate`: messages per second.
    pub rate: Option<f64>,
    /// `--until-empty`: not only what the queue holds at the start.
    pub until_empty: bool,
    /// `--filter`.
    pub filter: Option<Filter>,
    /// Count only.
    pub dry_run: bool,
    /// `--reconnect`: go on after a lost connection.
    pub reconnect: bool,
    /// The destination broker.
    pub to: ConnectSpec,
}

impl MoveArgs {
    /// Checks the names, resolves the destination broker and refuses a
    /// destination that is the source queue itself, before anything is
    /// sent. `source` are the global connection flags, `source_spec` what
    /// they resolved to.
    pub fn resolve(
        self,
        source: &ConnectionArgs,
        source_spec: &ConnectSpec,
    ) -> Result<MoveSpec, Error> {
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
        let to = self.to.resolve(source, source_spec)?;
        if to.same_broker {
            not_into_itself(&self.queue, &destination)?;
        }
        Ok(MoveSpec {
            queue: self.queue,
            destination,
            count: self.count,
            window: usize::from(self.window),
            budget: self.inflight.max_inflight_bytes,
            rate: self.rate,
            until_empty: self.until_empty,
            filter: self.filter.as_deref().map(Filter::compile).transpose()?,
            dry_run: self.dry_run,
            reconnect: self.reconnect.reconnect,
            to: to.spec,
        })
    }
}

/// A move from a queue into itself (directly, or through the default
/// exchange) would take the messages around forever.
fn not_into_itself(queue: &str, destination: &Destination) -> Result<(), Error> {
    let into_itself = match destination {
        Destination::Queue(q) => q == queue,
        Destination::Exchange { name, routing_key } if name.is_empty() => {
            // Without -k each message keeps its routing key, and a message
            // published through the default exchange has its queue's name.
            routing_key.as_deref().is_none_or(|k| k == queue)
        }
        Destination::Exchange { .. } => false,
    };
    if into_itself {
        return Err(Error::Usage(match destination {
            Destination::Queue(_) => {
                format!("--to-queue {queue} is the source queue (-q): nothing to move")
            }
            Destination::Exchange { .. } => format!(
                "--to-exchange '' routes back to the source queue {queue}: give -k another queue, or --to-queue"
            ),
        }));
    }
    Ok(())
}

/// `amqpctl move`.
pub fn run(source: &ConnectionArgs, connect: &ConnectSpec, args: MoveArgs) -> Result<(), Error> {
    let spec = args.resolve(source, connect)?;
    move_messages(connect, spec)
}

/// Moves up to `spec.count` of the messages the source holds now (or,
/// with `--until-empty`, until it is empty); with `--reconnect`, over as
/// many connections as it takes.
pub fn move_messages(source: &ConnectSpec, spec: MoveSpec) -> Result<(), Error> {
    let interrupts = signals::interrupts()?;
    // Messages to look at, at most, counted when the move starts.
    let starting = Cell::new(None);
    let transferred = Cell::new(false);
    let (tally, moved) = again::run(spec.reconnect, &interrupts, |done, tally| {
        with_connection(source, FlowWait::new(None), |_, src| {
            let limit = again::at_start(&starting, || first_limit(src, &spec))?;
            with_connection(&spec.to, FlowWait::new(None), |_, dst| {
                check_destination(dst, &spec)?;
                if spec.dry_run {
                    return dry_run(src, &spec, limit);
                }
                dst.confirm_delivery()?;
                transferred.set(true);
                transfer(
                    src,
                    dst,
                    &plan(&spec, limit, done),
                    &mut |d| route(&spec, d),
                    &interrupts,
                    tally,
                )
            })
            .map_err(connecting_destination)
        })
    });
    if transferred.get() {
        report(&spec, &tally, starting.get().unwrap_or(0), &moved);
    }
    moved
}

/// Messages to look at, at most (each is looked at once): what the queue
/// holds when the move starts, or with `--until-empty` no limit. --count
/// counts the messages moved.
fn first_limit(src: &Channel, spec: &MoveSpec) -> Result<u64, Error> {
    let ready = u64::from(src.queue_inspect(&spec.queue)?.messages);
    Ok(if spec.until_empty { u64::MAX } else { ready })
}

/// The transfer engine's plan for this move, after the attempts before it
/// moved `done.moved` (what they had in flight is taken again).
fn plan<'s>(spec: &'s MoveSpec, limit: u64, done: &Tally) -> Plan<'s> {
    let count = spec.count.unwrap_or(u64::MAX).saturating_sub(done.moved);
    let limit = limit.saturating_sub(done.moved);
    let bounded = !spec.until_empty && spec.filter.is_none();
    Plan {
        queue: &spec.queue,
        limit,
        count,
        window: spec.window,
        budget: spec.budget,
        rate: spec.rate,
        filter: spec.filter.as_ref(),
        leaves: false,
        progress: ("moved", bounded.then_some(count.min(limit))),
    }
}

/// Where one message goes: body, properties and headers as they came.
fn route(spec: &MoveSpec, d: &Delivery) -> Route {
    let (exchange, routing_key) = match &spec.destination {
        Destination::Queue(q) => ("", q.as_str()),
        Destination::Exchange { name, routing_key } => (
            name.as_str(),
            routing_key.as_deref().unwrap_or(d.routing_key()),
        ),
    };
    Route::Send(Outgoing {
        exchange: exchange.to_string(),
        routing_key: routing_key.to_string(),
        properties: d.properties(),
    })
}

/// Errors of connecting to the destination are said to be its; errors of
/// the move itself are not.
fn connecting_destination(e: Error) -> Error {
    let opening = matches!(
        e,
        Error::Amqp(
            AmqpError::Login { .. }
                | AmqpError::Refused { .. }
                | AmqpError::Connect { .. }
                | AmqpError::TimedOut { .. }
                | AmqpError::Tls(_)
        )
    );
    match opening {
        true => destination_error(e),
        false => e,
    }
}

/// The destination exists: a queue is checked (a missing one would only
/// show as 312 NO_ROUTE), an exchange too in a dry run (a real run learns
/// of a missing one from the publish).
fn check_destination(dst: &Channel, spec: &MoveSpec) -> Result<(), Error> {
    match &spec.destination {
        Destination::Queue(q) => match dst.queue_inspect(q) {
            Ok(_) => Ok(()),
            Err(e) => Err(Error::from(e).for_missing_queue(q)),
        },
        Destination::Exchange { name, .. } if spec.dry_run && !name.is_empty() => {
            Ok(dst.exchange_check(name)?)
        }
        Destination::Exchange { .. } => Ok(()),
    }
}

/// The summary line, and the filter's warnings.
fn report(spec: &MoveSpec, tally: &Tally, limit: u64, moved: &Result<(), Error>) {
    let mut duplicates = String::new();
    if tally.twice > 0 {
        duplicates = format!(
            "; {} at the destination twice (confirmed there, their source ack lost with a connection: moved again)",
            tally.twice
        );
    }
    if tally.maybe_twice > 0 {
        duplicates += &format!(
            "; {} more may be at the destination twice (unconfirmed at a lost connection, moved again)",
            tally.maybe_twice
        );
    }
    if tally.duplicates > 0 {
        duplicates += &format!("; {} may be in both queues", tally.duplicates);
    }
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

/// `--dry-run`: counts what would move, on stdout. With `--filter` that
/// means looking at each message (with basic.get), then putting them all
/// back.
fn dry_run(src: &Channel, spec: &MoveSpec, limit: u64) -> Result<(), Error> {
    let count = spec.count.unwrap_or(u64::MAX);
    let mut out = Lines::new();
    let Some(filter) = &spec.filter else {
        let line = format!(
            "Would move {} messages from queue {} to {}\n",
            count.min(limit),
            spec.queue,
            spec.destination
        );
        out.raw(line.as_bytes())?;
        return out.flush();
    };
    let mut looked = 0;
    let mut matching = 0;
    let mut held = Vec::new();
    while looked < limit && matching < count {
        let Some((d, _)) = src.basic_get(&spec.queue, false)? else {
            break;
        };
        looked += 1;
        if filter.matches(&d) {
            matching += 1;
        }
        held.push(d);
    }
    put_back(src, held)?;
    let line = format!(
        "Would move {matching} of {looked} messages from queue {} to {} ({} do not match --filter)\n",
        spec.queue,
        spec.destination,
        looked - matching
    );
    out.raw(line.as_bytes())?;
    out.flush()?;
    filter.report();
    Ok(())
}
