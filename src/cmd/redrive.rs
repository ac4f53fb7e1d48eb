//! `amqpctl redrive -q DLQ`: put dead-lettered messages back where they
//! came from. The origin is the `x-death` entry of the queue the message
//! was first dead-lettered from (`x-first-death-queue`): its exchange, and
//! its routing keys (the first as the routing key, the rest as `CC`). Each
//! copy in the DLQ is acked only after the origin confirmed the message, and
//! a counter header of our own (`amqpctl-redrives`) marks how often it went
//! back, so that `--max-redrives` can leave a message that keeps failing.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use clap::Args;

use super::args::InflightArgs;
use super::args::reconnect::ReconnectArgs;
use super::args::values::check_name;
use super::broker::flow::FlowWait;
use super::broker::{ConnectSpec, put_back, with_connection};
use super::filter::Filter;
use super::io::output::{Lines, status};
use super::io::signals;
use super::transfer::again;
use super::transfer::{self, Outgoing, Plan, Route, Tally};
use crate::error::Error;
use amqpctl::amqp::{Channel, Delivery, Properties, Table, Value};

/// The header that counts redrives. Not `x-`: brokers from 4.0 treat `x-`
/// headers as their own.
pub const REDRIVES_HEADER: &str = "amqpctl-redrives";

/// The flags of `amqpctl redrive`.
#[derive(Debug, Args)]
#[command(after_help = crate::cmd::filter::HELP)]
pub struct RedriveArgs {
    /// The dead-letter queue to take the messages from.
    #[arg(short = 'q', long = "queue", value_name = "NAME")]
    queue: String,

    /// Leave in place the messages already redriven N times or more.
    #[arg(long, value_name = "N")]
    max_redrives: Option<i64>,

    /// Redrive at most N messages [default: every message the queue holds
    /// when it starts].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,

    /// Print where the messages would go (origin queue, exchange, reason,
    /// count) and move nothing.
    #[arg(long)]
    dry_run: bool,

    /// Redrive only the messages for which this CEL expression is true (see
    /// Filters below); the others stay, each looked at once.
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,

    #[command(flatten)]
    reconnect: ReconnectArgs,

    #[command(flatten)]
    inflight: InflightArgs,
}

/// Where a dead-lettered message came from, read off its headers, and why
/// it was dead-lettered last.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Origin {
    queue: String,
    exchange: String,
    routing_keys: Vec<String>,
    reason: String,
}

/// Reads the origin of a dead-lettered message: the `x-death` entry of its
/// `x-first-death-queue` (the oldest such entry), else the oldest entry.
fn origin(headers: &Table) -> Option<Origin> {
    let Some(Value::Array(deaths)) = headers.get("x-death") else {
        return None;
    };
    let entries: Vec<&Table> = deaths
        .iter()
        .filter_map(|d| match d {
            Value::Table(t) => Some(t),
            _ => None,
        })
        .collect();
    let text = |t: &Table, k: &str| match t.get(k) {
        Some(Value::Str(s)) => Some(s.clone()),
        Some(Value::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    };
    let first_queue = text(headers, "x-first-death-queue");
    // x-death lists the newest entry first: its reason is the latest.
    let latest = entries.first().and_then(|t| text(t, "reason"));
    let entry = entries
        .iter()
        .rev()
        .find(|t| first_queue.is_some() && text(t, "queue") == first_queue)
        .or(entries.last())?;
    let routing_keys = match entry.get("routing-keys") {
        Some(Value::Array(keys)) => keys
            .iter()
            .filter_map(|k| match k {
                Value::Str(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Some(Origin {
        queue: text(entry, "queue")?,
        exchange: text(entry, "exchange").unwrap_or_default(),
        routing_keys,
        reason: latest.unwrap_or_default(),
    })
}

/// How often a message was redriven already.
fn redrives(headers: Option<&Table>) -> i64 {
    match headers.and_then(|h| h.get(REDRIVES_HEADER)) {
        Some(Value::I64(n)) => *n,
        Some(Value::I32(n)) => i64::from(*n),
        _ => 0,
    }
}

/// What `redrive` does, resolved from its flags.
pub struct RedriveSpec {
    /// The dead-letter queue.
    pub queue: String,
    /// Leave messages redriven this often already.
    pub max_redrives: Option<i64>,
    /// Redrive at most this many.
    pub count: Option<u64>,
    /// Print the origins table only.
    pub dry_run: bool,
    /// `--filter`.
    pub filter: Option<Filter>,
    /// `--max-inflight-bytes` (0: no bound).
    pub budget: u64,
    /// `--reconnect`: go on after a lost connection.
    pub reconnect: bool,
}

impl RedriveArgs {
    /// Checks the queue name and compiles the filter before connecting.
    pub fn resolve(self) -> Result<RedriveSpec, Error> {
        check_name("the queue name (-q)", &self.queue)?;
        Ok(RedriveSpec {
            filter: self.filter.as_deref().map(Filter::compile).transpose()?,
            queue: self.queue,
            max_redrives: self.max_redrives,
            count: self.count,
            dry_run: self.dry_run,
            budget: self.inflight.max_inflight_bytes,
            reconnect: self.reconnect.reconnect,
        })
    }
}

/// `amqpctl redrive`; with `--reconnect`, over as many connections as it
/// takes.
pub fn run(connect_spec: &ConnectSpec, args: RedriveArgs) -> Result<(), Error> {
    let spec = args.resolve()?;
    let interrupts = signals::interrupts()?;
    // What the queue holds when the redrive starts.
    let starting = Cell::new(None);
    // What the last attempt left in place: a lost connection puts them
    // back, and the next attempt looks at them again.
    let left = RefCell::new(None);
    let (tally, redriven) = again::run(spec.reconnect, &interrupts, |done, tally| {
        with_connection(connect_spec, FlowWait::new(None), |connection, src| {
            let ready = again::at_start(&starting, || {
                Ok(u64::from(src.queue_inspect(&spec.queue)?.messages))
            })?;
            if spec.dry_run {
                return dry_run(src, &spec, ready);
            }
            // Home is published on a channel of its own, in confirm mode.
            let dst = connection.channel()?;
            dst.confirm_delivery()?;
            let mut this = Left::default();
            let redriven = transfer::transfer(
                src,
                &dst,
                &plan(&spec, ready, done),
                &mut |d| home(d, &spec, &mut this),
                &interrupts,
                tally,
            );
            *left.borrow_mut() = Some(this);
            redriven?;
            Ok(dst.close()?)
        })
    });
    if let (Some(ready), Some(left)) = (starting.get(), left.into_inner()) {
        report(
            &spec,
            &tally,
            &left,
            spec.count.map_or(ready, |n| n.min(ready)),
        );
    }
    redriven
}

/// The transfer engine's plan for a redrive of a queue that held `ready`
/// messages at the start, after the attempts before it redrove
/// `done.moved` (what they had in flight is taken again).
fn plan<'s>(spec: &'s RedriveSpec, ready: u64, done: &Tally) -> Plan<'s> {
    let limit = spec.count.map_or(ready, |n| n.min(ready));
    let count = limit.saturating_sub(done.moved);
    Plan {
        queue: &spec.queue,
        limit: ready.saturating_sub(done.moved),
        count,
        // No --window (yet): move's default.
        window: usize::from(transfer::DEFAULT_WINDOW),
        budget: spec.budget,
        rate: None,
        filter: spec.filter.as_ref(),
        leaves: true,
        progress: ("redriven", Some(count)),
    }
}

/// What a redrive left in place, and why.
#[derive(Default)]
struct Left {
    no_origin: u64,
    over_limit: u64,
}

/// The route home of one dead letter: its origin's exchange, its first
/// routing key (the rest as `CC`), and the redrive counter one up; or why
/// it stays.
fn home(d: &Delivery, spec: &RedriveSpec, left: &mut Left) -> Route {
    let properties = d.properties();
    let Some(origin) = properties.headers.as_ref().and_then(origin) else {
        left.no_origin += 1;
        return Route::Leave;
    };
    let count = redrives(properties.headers.as_ref());
    if spec.max_redrives.is_some_and(|max| count >= max) {
        left.over_limit += 1;
        return Route::Leave;
    }
    let (routing_key, cc) = match origin.routing_keys.split_first() {
        Some((first, rest)) => (first.clone(), rest.to_vec()),
        None => (origin.queue.clone(), Vec::new()),
    };
    let mut headers = properties.headers.clone().unwrap_or_default();
    headers.insert(REDRIVES_HEADER.to_string(), Value::I64(count + 1));
    if cc.is_empty() {
        headers.remove("CC");
    } else {
        headers.insert(
            "CC".to_string(),
            Value::Array(cc.into_iter().map(Value::Str).collect()),
        );
    }
    Route::Send(Outgoing {
        exchange: origin.exchange,
        routing_key,
        properties: Properties {
            headers: Some(headers),
            ..properties
        },
    })
}

/// The counts for `--dry-run`'s table: origin queue, exchange, reason.
type Origins = BTreeMap<(String, String, String), u64>;

/// `--dry-run`: looks at every message (with basic.get), puts them all
/// back, and prints on stdout where they would go.
fn dry_run(channel: &Channel, spec: &RedriveSpec, ready: u64) -> Result<(), Error> {
    let limit = spec.count.map_or(ready, |n| n.min(ready));
    let mut table = Origins::new();
    let mut left = Left::default();
    let mut held = Vec::new();
    let (mut skipped, mut counted) = (0, 0);
    while counted < limit && (held.len() as u64) < ready {
        let Some((d, _)) = channel.basic_get(&spec.queue, false)? else {
            break;
        };
        if spec.filter.as_ref().is_some_and(|f| !f.matches(&d)) {
            skipped += 1;
        } else if let Route::Send(_) = home(&d, spec, &mut left) {
            let headers = d.properties().headers;
            if let Some(o) = headers.as_ref().and_then(origin) {
                *table.entry((o.queue, o.exchange, o.reason)).or_default() += 1;
                counted += 1;
            }
        }
        held.push(d);
    }
    put_back(channel, held)?;
    let mut out = Lines::new();
    let mut line = |text: String| out.raw(format!("{text}\n").as_bytes());
    line(format!(
        "{:<32} {:<24} {:<10} {:>7}",
        "origin queue", "exchange", "reason", "count"
    ))?;
    for ((queue, exchange, reason), n) in &table {
        let exchange = if exchange.is_empty() {
            "(default)"
        } else {
            exchange
        };
        line(format!("{queue:<32} {exchange:<24} {reason:<10} {n:>7}"))?;
    }
    out.flush()?;
    if let Some(filter) = &spec.filter {
        status(format_args!("{skipped} messages did not match --filter"));
        filter.report();
    }
    warn_left(&left);
    Ok(())
}

/// The summary, and what was left and why.
fn report(spec: &RedriveSpec, tally: &Tally, left: &Left, limit: u64) {
    if spec.filter.is_some() {
        status(format_args!(
            "Redrove {} of {} messages from queue {}; {} did not match --filter (left in place)",
            tally.moved,
            tally.moved + tally.left + tally.skipped,
            spec.queue,
            tally.skipped
        ));
    } else {
        status(format_args!(
            "Redrove {} of {limit} messages from queue {}",
            tally.moved, spec.queue
        ));
    }
    warn(
        tally.twice,
        "messages are home twice (confirmed there, their ack lost with a connection: redriven again)",
    );
    warn(
        tally.maybe_twice,
        "more messages may be home twice (unconfirmed at a lost connection, redriven again)",
    );
    warn(
        tally.duplicates,
        format_args!("messages may be both home and in queue {}", spec.queue),
    );
    if tally.held_full {
        status(format_args!(
            "WARNING: stopped after leaving {} messages in place, as many as it can hold; run it again once they are dealt with",
            tally.left
        ));
    }
    if let Some(filter) = &spec.filter {
        filter.report();
    }
    warn_left(left);
}

/// Warnings for the messages left in place.
fn warn_left(left: &Left) {
    warn(
        left.no_origin,
        "messages have no x-death header: left in place",
    );
    warn(
        left.over_limit,
        "messages were redriven --max-redrives times already: left in place",
    );
}

/// `WARNING: N what`, unless none are.
fn warn(n: u64, what: impl std::fmt::Display) {
    if n > 0 {
        status(format_args!("WARNING: {n} {what}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn death(queue: &str, exchange: &str, reason: &str, keys: &[&str]) -> Value {
        let mut t = Table::new();
        t.insert("queue".into(), Value::Str(queue.into()));
        t.insert("exchange".into(), Value::Str(exchange.into()));
        t.insert("reason".into(), Value::Str(reason.into()));
        t.insert(
            "routing-keys".into(),
            Value::Array(keys.iter().map(|k| Value::Str(k.to_string())).collect()),
        );
        t.insert("count".into(), Value::I64(1));
        Value::Table(t)
    }

    #[test]
    fn the_origin_is_the_first_death_queues_entry() {
        let mut h = Table::new();
        // Newest first: dead-lettered from `retry` last, from `work` first.
        h.insert(
            "x-death".into(),
            Value::Array(vec![
                death("retry", "retry-x", "expired", &["r"]),
                death("work", "jobs", "rejected", &["job.a", "cc.b"]),
            ]),
        );
        h.insert("x-first-death-queue".into(), Value::Str("work".into()));
        let o = origin(&h).expect("an origin");
        assert_eq!(o.queue, "work");
        assert_eq!(o.exchange, "jobs");
        assert_eq!(o.routing_keys, ["job.a", "cc.b"]);
        // The reason is the latest death's.
        assert_eq!(o.reason, "expired");
        // Without x-first-death-queue: the oldest entry.
        h.remove("x-first-death-queue");
        assert_eq!(origin(&h).expect("an origin").queue, "work");
        assert_eq!(origin(&Table::new()), None);
    }
}
