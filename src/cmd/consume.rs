//! `amqpctl con`: consume from a queue, optionally declaring and binding it
//! first. With manual acknowledgement a message is acked only after its line
//! is flushed to stdout (or its `--exec` command succeeded), so a consumer
//! killed at any moment loses nothing.

use std::time::Duration;

use clap::Args;
use crossbeam_channel::Receiver;

use super::exec::{self, Verdict};
use super::format::{Delimiter, Format, TOKENS_HELP, parse_delimiter};
use super::output::{self, Lines, Progress, status};
use super::poison::{AfterFailure, Poison};
use super::reconnect::Backoff;
use super::{ExchangeArgs, QueueArgs, Session, check_name, parse_seconds, signals, with_channel};
use crate::error::Error;
use amqpctl::amqp::{Channel, Consumer, ConsumerSettings, Delivery, Next, Table, Value};

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
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, allow_hyphen_values = true, conflicts_with_all = ["count", "exec"])]
    lazy: Option<Duration>,

    /// Exit 0 after N messages.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,

    /// Exit 0 when no message came for SECS.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, allow_hyphen_values = true)]
    idle_timeout: Option<Duration>,

    #[arg(long, value_name = "FORMAT", default_value = "received", long_help = TOKENS_HELP, help = "Output format: received, body, json, or a %-template (see --help)")]
    format: String,

    /// What ends each body with --format body (escapes: \n \t \0 \xNN)
    /// [default: \n].
    #[arg(long, value_name = "D", value_parser = parse_delimiter)]
    delimiter: Option<Delimiter>,

    /// Print no per-message lines (messages are still acked).
    #[arg(long)]
    quiet: bool,

    /// Run CMD (with sh -c) per message, body on stdin, routing and
    /// properties in AMQP_* variables; exit 0 acks, anything else nacks
    /// with requeue (or rejects with --no-requeue).
    #[arg(long, value_name = "CMD", conflicts_with = "ack_auto")]
    exec: Option<String>,

    /// Kill an --exec command after SECS (counts as a failure).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, allow_hyphen_values = true, requires = "exec")]
    exec_timeout: Option<Duration>,

    /// A failed --exec rejects the message without requeue (dead-letters it).
    #[arg(long, requires = "exec")]
    no_requeue: bool,

    /// Pause after a failed --exec command before the next message,
    /// doubled after each further failure in a row up to 30 s; a success
    /// resets it (0: no pause).
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_seconds, allow_hyphen_values = true, requires = "exec")]
    exec_backoff: Duration,

    /// Reject a message (without requeue, so it is dead-lettered) once its
    /// --exec command failed N times: counted by the broker's
    /// x-delivery-count on quorum queues, else by amqpctl itself.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), requires = "exec", conflicts_with = "no_requeue")]
    exec_max_attempts: Option<u32>,

    /// After a lost connection, connect again (backoff with jitter),
    /// re-declare and go on consuming.
    #[arg(long)]
    reconnect: bool,

    /// Where to start in a stream queue: first, last, next, an offset, or an
    /// RFC 3339 time (2024-01-31T12:00:00Z).
    #[arg(long, value_name = "OFFSET", value_parser = parse_offset)]
    offset: Option<Value>,
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
    if !args.bind_queue && !args.routing_keys.is_empty() {
        return Err(Error::Usage(
            "-k has no effect without --bind-queue: con binds the queue with -k only when asked (add --bind-queue)".to_string(),
        ));
    }
    args.queue.check()?;
    args.exchange.check()?;
    for key in &args.routing_keys {
        check_name("the routing key (-k)", key)?;
    }
    if !args.exchange.name().is_empty() && !args.exchange.declare && !args.bind_queue {
        status("WARNING: -e has no effect without -E or --bind-queue (con reads the queue)");
    }
    if args.offset.is_some() && args.ack_auto {
        return Err(Error::Usage(
            "--offset reads a stream, which needs manual acks: drop --ack-auto".to_string(),
        ));
    }
    let delimiter = args.delimiter.as_ref().map(|d| d.0.as_slice());
    let format = Format::parse(&args.format, delimiter).map_err(Error::Usage)?;
    let interrupts = signals::interrupts()?;
    // `amqpctl con | head -1`: stop as soon as the reader goes away, even
    // while no message comes.
    output::watch_stdout(|| signals::request_stop(signals::STDOUT_CLOSED));
    let mut lines = Lines::new();
    let mut remaining = args.count.unwrap_or(u64::MAX);
    let mut progress = Progress::new("received");
    let mut backoff = Backoff::new();
    let result = loop {
        let before = remaining;
        let attempt = attempt(
            session,
            &args,
            &format,
            &interrupts,
            &mut lines,
            &mut remaining,
            &mut progress,
        );
        match attempt {
            Err(e) if args.reconnect && e.is_connection_lost() => {
                lines.flush()?;
                if remaining < before {
                    backoff.reset();
                }
                if let Err(stop) = backoff.wait(&e, &interrupts) {
                    // A signal while waiting to reconnect is a clean stop.
                    break match stop {
                        Error::Interrupted(_) => Ok(()),
                        other => Err(other),
                    };
                }
            }
            other => break other,
        }
    };
    progress.finish();
    lines.flush()?;
    match result {
        // A signal (or a closed stdout) stops con cleanly, wherever it came.
        Err(Error::Interrupted(_)) => Ok(()),
        other => other,
    }
}

/// One connection's worth of consuming: declare, bind, consume until done,
/// a signal, or an error.
fn attempt(
    session: &Session,
    args: &ConsumeArgs,
    format: &Format,
    interrupts: &Receiver<i32>,
    lines: &mut Lines,
    remaining: &mut u64,
    progress: &mut Progress,
) -> Result<(), Error> {
    with_channel(session, |channel| {
        args.exchange.declare_if_asked(channel)?;
        let queue = match (&args.queue.name, args.queue.declare) {
            (name, true) => args.queue.declare(channel, name.as_deref().unwrap_or(""))?,
            (Some(name), false) => name.clone(),
            (None, false) => unreachable!("checked above"),
        };
        if args.bind_queue {
            bind(channel, &queue, args)?;
        }
        channel.basic_qos(args.prefetch)?;
        let mut arguments = Table::new();
        if let Some(offset) = &args.offset {
            arguments.insert("x-stream-offset".to_string(), offset.clone());
        }
        let consumer = channel.basic_consume(
            &queue,
            &ConsumerSettings {
                no_ack: args.ack_auto,
                arguments,
                ..ConsumerSettings::default()
            },
        )?;
        let consumed = consume(
            &consumer, args, format, interrupts, lines, remaining, progress,
        );
        let cancelled = consumer.cancel();
        consumed?;
        cancelled.map_err(Error::from)
    })
    .map_err(|e| {
        if e.is_missing_queue() && !args.queue.declare {
            e.hinted("declare it with -Q")
        } else {
            e
        }
    })
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
    consumer: &Consumer<'_>,
    args: &ConsumeArgs,
    format: &Format,
    interrupts: &Receiver<i32>,
    lines: &mut Lines,
    remaining: &mut u64,
    progress: &mut Progress,
) -> Result<(), Error> {
    let channel = consumer.channel();
    let mut acks = Acks::new(args);
    let mut poison = Poison::new(args.exec_backoff, args.exec_max_attempts);
    let mut batch: Vec<Delivery> = Vec::with_capacity(MAX_BATCH);
    let mut rendered = Vec::with_capacity(64 * 1024);
    while *remaining > 0 {
        let first = match next(consumer, args, interrupts, &mut acks)? {
            Some(d) => d,
            None => break,
        };
        if let Some(pause) = args.lazy {
            rendered.clear();
            format.render(&first, &mut rendered);
            lines.raw(&rendered)?;
            lines.flush()?;
            // Never acked: the broker requeues it when the channel closes.
            let _ = interrupts.recv_timeout(pause);
            break;
        }
        if let Some(command) = &args.exec {
            *remaining -= 1;
            progress.add(1);
            match run_exec(channel, command, first, args, &mut poison, interrupts)? {
                Some(pause) if !pause.is_zero() => {
                    if interrupts.recv_timeout(pause).is_ok() {
                        break;
                    }
                }
                Some(_) => {}
                None => break,
            }
            continue;
        }
        batch.push(first);
        let limit = (*remaining).min(MAX_BATCH as u64) as usize;
        while batch.len() < limit {
            match consumer.try_next()? {
                Some(d) => batch.push(d),
                None => break,
            }
        }
        if !args.quiet {
            rendered.clear();
            for d in &batch {
                format.render(d, &mut rendered);
            }
            lines.raw(&rendered)?;
            lines.flush()?;
        }
        *remaining -= batch.len() as u64;
        progress.add(batch.len() as u64);
        let n = batch.len();
        if let Some(last) = batch.pop() {
            acks.written(channel, last, n)?;
        }
        batch.clear();
    }
    acks.send(channel)
}

/// How long to wait for more messages before acking what has been written:
/// while messages stream in, acks go out in batches instead of one per
/// message (which costs the broker more than the delivery itself).
const ACK_DELAY: Duration = Duration::from_millis(2);

/// Written-but-unacked deliveries, acked together with one multiple ack.
struct Acks {
    manual: bool,
    last: Option<Delivery>,
    count: usize,
    /// Ack once this many are pending, so the broker's prefetch window
    /// never runs dry.
    threshold: usize,
}

impl Acks {
    fn new(args: &ConsumeArgs) -> Acks {
        let window = if args.prefetch == 0 {
            1024
        } else {
            usize::from(args.prefetch)
        };
        Acks {
            manual: !args.ack_auto,
            last: None,
            count: 0,
            threshold: (window / 4).max(1),
        }
    }

    /// Records that everything up to `last` (`n` deliveries) is written and
    /// flushed; acks when enough are pending.
    fn written(&mut self, channel: &Channel, last: Delivery, n: usize) -> Result<(), Error> {
        if !self.manual {
            return Ok(());
        }
        self.last = Some(last);
        self.count += n;
        if self.count >= self.threshold {
            self.send(channel)?;
        }
        Ok(())
    }

    /// Acks every written delivery (one multiple ack).
    fn send(&mut self, channel: &Channel) -> Result<(), Error> {
        if let Some(last) = self.last.take() {
            self.count = 0;
            channel.basic_ack(last, true)?;
        }
        Ok(())
    }
}

/// The next delivery; `None` at a signal or after --idle-timeout. Pending
/// acks go out before a wait longer than [`ACK_DELAY`].
fn next(
    consumer: &Consumer<'_>,
    args: &ConsumeArgs,
    interrupts: &Receiver<i32>,
    acks: &mut Acks,
) -> Result<Option<Delivery>, Error> {
    let mut waited = Duration::ZERO;
    if acks.last.is_some() {
        let short = args.idle_timeout.map_or(ACK_DELAY, |t| t.min(ACK_DELAY));
        match consumer.next(Some(short), Some(interrupts))? {
            Next::Delivery(d) => return Ok(Some(d)),
            Next::Interrupted => return Ok(None),
            Next::Idle => waited = short,
        }
        acks.send(consumer.channel())?;
    }
    let rest = args.idle_timeout.map(|t| t.saturating_sub(waited));
    Ok(match consumer.next(rest, Some(interrupts))? {
        Next::Delivery(d) => Some(d),
        Next::Idle | Next::Interrupted => None,
    })
}

/// Runs the --exec command for one delivery and settles it. Returns the
/// pause before the next message (zero after a success), or `None` when a
/// stop request came while the command ran.
fn run_exec(
    channel: &Channel,
    command: &str,
    d: Delivery,
    args: &ConsumeArgs,
    poison: &mut Poison,
    interrupts: &Receiver<i32>,
) -> Result<Option<Duration>, Error> {
    let (verdict, stopped) = exec::run_until(command, &d, args.exec_timeout, interrupts)?;
    let tag = d.delivery_tag();
    let pause = match verdict {
        Verdict::Done => {
            poison.succeeded(&d);
            channel.basic_ack(d, false)?;
            Duration::ZERO
        }
        Verdict::Failed(why) if stopped.is_some() => {
            // Stopped mid-task: not the message's fault, so not counted.
            status(format_args!(
                "WARNING: --exec command {why} after the stop request, for delivery {tag}: requeued"
            ));
            channel.basic_nack(d, false, true)?;
            Duration::ZERO
        }
        Verdict::Failed(why) if args.no_requeue => {
            status(format_args!(
                "WARNING: --exec command {why} for delivery {tag}: rejected"
            ));
            channel.basic_reject(d, false)?;
            Duration::ZERO
        }
        Verdict::Failed(why) => {
            let (fate, pause) = poison.failed(&d);
            match fate {
                AfterFailure::Reject(n) => {
                    status(format_args!(
                        "WARNING: --exec command {why} for delivery {tag}: rejected after {n} attempts (--exec-max-attempts)"
                    ));
                    channel.basic_reject(d, false)?;
                }
                AfterFailure::Requeue(n) => {
                    status(format_args!(
                        "WARNING: --exec command {why} for delivery {tag} (attempt {n}): requeued"
                    ));
                    channel.basic_nack(d, false, true)?;
                }
            }
            pause
        }
    };
    Ok(if stopped.is_some() { None } else { Some(pause) })
}

/// Parses `--offset`: first, last, next, a non-negative offset, or an RFC
/// 3339 time (sent as an AMQP timestamp).
fn parse_offset(s: &str) -> Result<Value, String> {
    match s {
        "first" | "last" | "next" => Ok(Value::Str(s.to_string())),
        _ => {
            if let Ok(n) = s.parse::<u64>() {
                return i64::try_from(n)
                    .map(Value::I64)
                    .map_err(|_| format!("offset {s} is too large"));
            }
            super::time::parse_rfc3339(s)
                .map(Value::Timestamp)
                .ok_or_else(|| {
                    format!("'{s}' is not first, last, next, an offset or an RFC 3339 time")
                })
        }
    }
}
