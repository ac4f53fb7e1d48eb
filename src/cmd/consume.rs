//! `amqpctl con`: consume from a queue, optionally declaring and binding it
//! first. With manual acknowledgement a message is acked only after its line
//! is flushed to stdout, so a consumer killed at any moment loses nothing.

use std::time::Duration;

use clap::Args;
use crossbeam_channel::Receiver;

use super::output::{Lines, status};
use super::{ExchangeArgs, QueueArgs, Session, parse_seconds, signals, with_channel};
use crate::error::Error;
use amqpctl::amqp::{Channel, ConsumerSettings, Delivery, Next, Table};

/// Most deliveries written between two flushes (and acked with one ack).
const MAX_BATCH: usize = 256;

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    queue: QueueArgs,

    #[command(flatten)]
    exchange: ExchangeArgs,

    /// Binding key for --bind-queue; repeat it to bind several.
    #[arg(short = 'k', long = "routing-key", value_name = "KEY")]
    routing_keys: Vec<String>,

    /// Bind the queue to -e with each -k (or "").
    #[arg(long)]
    bind_queue: bool,

    /// Automatic acknowledgement (the broker forgets a message once sent).
    #[arg(long)]
    ack_auto: bool,

    /// basic.qos prefetch count; 0 asks for no limit.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    prefetch: u16,

    /// Take one message, print it, never ack it, exit SECS later (a worker
    /// that dies mid-task).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, conflicts_with = "count")]
    lazy: Option<Duration>,

    /// Exit 0 after N messages.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,

    /// Exit 0 when no message came for SECS.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    idle_timeout: Option<Duration>,
}

pub fn run(session: &Session, args: ConsumeArgs) -> Result<(), Error> {
    if args.queue.name.is_none() && !args.queue.declare {
        return Err(Error::Usage(
            "con needs a queue: -q NAME, or -Q for a broker-named one".to_string(),
        ));
    }
    if args.bind_queue && args.exchange.name().is_empty() {
        return Err(Error::Usage(
            "--bind-queue needs an exchange with -e".to_string(),
        ));
    }
    let interrupts = signals::interrupts()?;
    let mut lines = Lines::new();
    let result = with_channel(session, |channel| {
        args.exchange.declare_if_asked(channel)?;
        let queue = match (&args.queue.name, args.queue.declare) {
            (name, true) => args.queue.declare(channel, name.as_deref().unwrap_or(""))?,
            (Some(name), false) => name.clone(),
            (None, false) => unreachable!("checked above"),
        };
        if args.bind_queue {
            bind(channel, &queue, &args)?;
        }
        channel.basic_qos(args.prefetch)?;
        consume(channel, &queue, &args, &interrupts, &mut lines)
    });
    lines.flush()?;
    result
}

fn bind(channel: &Channel, queue: &str, args: &ConsumeArgs) -> Result<(), Error> {
    let exchange = args.exchange.name();
    let keys = if args.routing_keys.is_empty() {
        vec![String::new()]
    } else {
        args.routing_keys.clone()
    };
    for key in &keys {
        channel.queue_bind(queue, exchange, key, &Table::new())?;
        if key.is_empty() {
            status(format_args!(
                "Bound Queue [{queue}] to Exchange [{exchange}]"
            ));
        } else {
            status(format_args!(
                "Bound Queue [{queue}] to Exchange [{exchange}] {key}"
            ));
        }
    }
    Ok(())
}

fn consume(
    channel: &Channel,
    queue: &str,
    args: &ConsumeArgs,
    interrupts: &Receiver<i32>,
    lines: &mut Lines,
) -> Result<(), Error> {
    let consumer = channel.basic_consume(
        queue,
        &ConsumerSettings {
            no_ack: args.ack_auto,
            ..ConsumerSettings::default()
        },
    )?;
    let manual_ack = !args.ack_auto;
    let mut remaining = args.count.unwrap_or(u64::MAX);
    let mut batch: Vec<Delivery> = Vec::with_capacity(MAX_BATCH);
    while remaining > 0 {
        let first = match consumer.next(args.idle_timeout, Some(interrupts))? {
            Next::Delivery(d) => d,
            Next::Idle | Next::Interrupted => break,
        };
        if let Some(pause) = args.lazy {
            lines.line(b"Received: ", first.body())?;
            lines.flush()?;
            // Never acked: the broker requeues it when the channel closes.
            let _ = interrupts.recv_timeout(pause);
            break;
        }
        batch.push(first);
        let limit = remaining.min(MAX_BATCH as u64) as usize;
        while batch.len() < limit {
            match consumer.try_next()? {
                Some(d) => batch.push(d),
                None => break,
            }
        }
        for d in &batch {
            lines.line(b"Received: ", d.body())?;
        }
        lines.flush()?;
        remaining -= batch.len() as u64;
        let multiple = batch.len() > 1;
        if let Some(last) = batch.pop()
            && manual_ack
        {
            channel.basic_ack(last, multiple)?;
        }
        batch.clear();
    }
    consumer.cancel()?;
    Ok(())
}
