//! `amqpctl redrive -q DLQ`: put dead-lettered messages back where they
//! came from. The origin is the `x-death` entry of the queue the message
//! was first dead-lettered from (`x-first-death-queue`): its exchange, and
//! its routing keys (the first as the routing key, the rest as `CC`). Each
//! copy in the DLQ is acked only after the origin confirmed the message, and
//! a counter header of our own (`amqpctl-redrives`) marks how often it went
//! back, so that `--max-redrives` can leave a message that keeps failing.

use std::collections::BTreeMap;

use clap::Args;

use super::args::values::check_name;
use super::broker::{ConnectSpec, connect};
use super::filter::Filter;
use super::io::output::{Progress, status};
use super::io::signals;
use crate::error::Error;
use amqpctl::amqp::{Channel, Confirmation, Delivery, Properties, Publish, Table, Value};

/// The header that counts redrives. Not `x-`: brokers from 4.0 treat `x-`
/// headers as their own.
pub const REDRIVES_HEADER: &str = "amqpctl-redrives";

/// The flags of `amqpctl redrive`.
#[derive(Debug, Args)]
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
    /// the README's Filters section); the others stay, each looked at once.
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,
}

/// Where a dead-lettered message came from, read off its headers.
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
    // x-death lists the newest entry first.
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
        reason: text(entry, "reason").unwrap_or_default(),
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

/// `amqpctl redrive`.
pub fn run(connect_spec: &ConnectSpec, args: RedriveArgs) -> Result<(), Error> {
    check_name("the queue name (-q)", &args.queue)?;
    let filter = args.filter.as_deref().map(Filter::compile).transpose()?;
    let interrupts = signals::interrupts()?;
    let (connection, channel) = connect(connect_spec)?;
    let result = redrive(&channel, &args, filter.as_ref(), &interrupts);
    let closed = channel.close();
    let disconnected = connection.close();
    result?;
    closed?;
    disconnected?;
    Ok(())
}

/// What one redrive did.
#[derive(Default)]
struct Tally {
    redriven: u64,
    no_origin: u64,
    over_limit: u64,
    /// Skipped by `--filter`.
    skipped: u64,
}

fn redrive(
    channel: &Channel,
    args: &RedriveArgs,
    filter: Option<&Filter>,
    interrupts: &crossbeam_channel::Receiver<i32>,
) -> Result<(), Error> {
    let ready = u64::from(channel.queue_inspect(&args.queue)?.messages);
    let limit = args.count.map_or(ready, |n| n.min(ready));
    // Every message is looked at once; --count counts those the filter keeps.
    if !args.dry_run {
        channel.confirm_delivery()?;
    }
    let mut tally = Tally::default();
    let mut table = Origins::new();
    // Messages left in place are held unacked until the end, so that each
    // message is visited once; then they all go back together.
    let mut held: Vec<Delivery> = Vec::new();
    let mut failure = None;
    let mut visited = 0;
    let mut progress = Progress::new("redriven", Some(limit), false);
    let result = (|| {
        while visited - tally.skipped < limit && visited < ready && failure.is_none() {
            if let Ok(signal) = interrupts.try_recv() {
                return Err(Error::Interrupted(signal));
            }
            let Some((d, _)) = channel.basic_get(&args.queue, false)? else {
                break;
            };
            visited += 1;
            if filter.is_some_and(|f| !f.matches(&d)) {
                tally.skipped += 1;
                held.push(d);
                continue;
            }
            progress.add(1);
            match visit(channel, d, args, &mut tally, &mut table)? {
                Visit::Redriven => {}
                Visit::Left(d) => held.push(d),
                Visit::Refused(d, e) => {
                    held.push(d);
                    failure = Some(e);
                }
            }
        }
        Ok(())
    })();
    progress.finish();
    // What stays goes back to the DLQ, in its order.
    if let Some(last) = held.pop() {
        channel.basic_nack(last, true, true)?;
    }
    report(args, &tally, &table, limit);
    if let Some(filter) = filter {
        filter.report();
    }
    result?;
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// What became of one message.
enum Visit {
    /// Published home, confirmed, acked in the DLQ.
    Redriven,
    /// Left in the DLQ (no origin, over --max-redrives, or a dry run).
    Left(Delivery),
    /// The broker refused it at home: it stays, and the run ends with this.
    Refused(Delivery, Error),
}

/// The counts for `--dry-run`'s table: origin queue, exchange, reason.
type Origins = BTreeMap<(String, String, String), u64>;

/// Sends one message home, or says why it stays.
fn visit(
    channel: &Channel,
    d: Delivery,
    args: &RedriveArgs,
    tally: &mut Tally,
    table: &mut Origins,
) -> Result<Visit, Error> {
    let properties = d.properties();
    let Some(origin) = properties.headers.as_ref().and_then(origin) else {
        tally.no_origin += 1;
        return Ok(Visit::Left(d));
    };
    let count = redrives(properties.headers.as_ref());
    if args.max_redrives.is_some_and(|max| count >= max) {
        tally.over_limit += 1;
        return Ok(Visit::Left(d));
    }
    if args.dry_run {
        *table
            .entry((origin.queue, origin.exchange, origin.reason))
            .or_default() += 1;
        return Ok(Visit::Left(d));
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
    let out = Properties {
        headers: Some(headers),
        ..properties
    };
    channel.basic_publish(&Publish {
        exchange: &origin.exchange,
        routing_key: &routing_key,
        body: d.body(),
        properties: &out,
        mandatory: true,
    })?;
    let mut verdict = None;
    channel.wait_confirms(0, |_, c| verdict = Some(c))?;
    Ok(match verdict {
        Some(Confirmation::Ack) | None => {
            channel.basic_ack(d, false)?;
            tally.redriven += 1;
            Visit::Redriven
        }
        Some(Confirmation::Nack) => Visit::Refused(
            d,
            Error::Nacked {
                seq: tally.redriven + 1,
            },
        ),
        Some(Confirmation::Returned { code, text }) => Visit::Refused(
            d,
            Error::Amqp(amqpctl::amqp::AmqpError::Returned { code, text }),
        ),
    })
}

/// The summary, or `--dry-run`'s table, and what was left and why.
fn report(args: &RedriveArgs, tally: &Tally, table: &Origins, limit: u64) {
    if args.dry_run {
        status(format_args!(
            "{:<32} {:<24} {:<10} {:>7}",
            "origin queue", "exchange", "reason", "count"
        ));
        for ((queue, exchange, reason), n) in table {
            let exchange = if exchange.is_empty() {
                "(default)"
            } else {
                exchange
            };
            status(format_args!(
                "{queue:<32} {exchange:<24} {reason:<10} {n:>7}"
            ));
        }
    } else if args.filter.is_some() {
        status(format_args!(
            "Redrove {} of {} messages from queue {}; {} did not match --filter (left in place)",
            tally.redriven,
            tally.redriven + tally.no_origin + tally.over_limit + tally.skipped,
            args.queue,
            tally.skipped
        ));
    } else {
        status(format_args!(
            "Redrove {} of {limit} messages from queue {}",
            tally.redriven, args.queue
        ));
    }
    if args.dry_run && args.filter.is_some() {
        status(format_args!(
            "{} messages did not match --filter",
            tally.skipped
        ));
    }
    if tally.no_origin > 0 {
        status(format_args!(
            "WARNING: {} messages have no x-death header: left in place",
            tally.no_origin
        ));
    }
    if tally.over_limit > 0 {
        status(format_args!(
            "WARNING: {} messages were redriven --max-redrives times already: left in place",
            tally.over_limit
        ));
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
        assert_eq!(o.reason, "rejected");
        // Without x-first-death-queue: the oldest entry.
        h.remove("x-first-death-queue");
        assert_eq!(origin(&h).expect("an origin").queue, "work");
        assert_eq!(origin(&Table::new()), None);
    }
}
