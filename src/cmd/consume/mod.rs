//! `amqpctl con`: consume from a queue, optionally declaring and binding it
//! first. This file holds the flags and their resolution into a
//! [`ConsumeSpec`]; `engine` consumes. With manual acknowledgement a
//! message is acked only after its line is flushed to stdout (or its
//! `--exec` command succeeded), so a consumer killed at any moment loses
//! nothing.

mod acks;
mod engine;
mod poison;
mod resume;

use std::time::Duration;

use clap::Args;

use super::args::values::{check_name, parse_offset, parse_positive_seconds, parse_seconds};
use super::args::{ExchangeArgs, FormatArgs, InflightArgs, QueueArgs};
use super::broker::ConnectSpec;
use super::broker::declare::{ExchangeSpec, QueueSpec};
use super::filter::{Filter, Filtering, Others};
use super::io::format::Format;
use super::io::output::status;
use crate::error::Error;
use amqpctl::amqp::Value;

/// The flags of `amqpctl con`.
#[derive(Debug, Args)]
#[command(after_help = crate::cmd::filter::HELP)]
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
    /// The broker then ignores --prefetch and pushes all it has: at a stop
    /// (a signal, --idle-timeout, --until-empty, a closed stdout, the end
    /// of --lazy) what it pushed but con had not printed is lost. With
    /// --count N, con acks the N itself, so exactly N are taken.
    #[arg(long)]
    ack_auto: bool,

    /// basic.qos prefetch count; 0 asks for no limit. Large bodies lower
    /// it (--max-inflight-bytes).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    prefetch: u16,

    #[command(flatten)]
    inflight: InflightArgs,

    /// Take one message, print it, never ack it, exit SECS later (a worker
    /// that dies mid-task).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, allow_hyphen_values = true, conflicts_with_all = ["count", "exec"])]
    lazy: Option<Duration>,

    /// Exit 0 after N messages.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,

    /// Exit 0 when no message came for SECS.
    #[arg(long, value_name = "SECS", value_parser = parse_positive_seconds, allow_hyphen_values = true)]
    idle_timeout: Option<Duration>,

    /// Exit 0 once the queue is drained: nothing came for a moment and the
    /// broker counts no ready message (a stream: nothing came for a moment).
    #[arg(long, conflicts_with = "lazy")]
    until_empty: bool,

    #[command(flatten)]
    output: FormatArgs,

    /// Also save each message as files in DIR (N.body and its N.json
    /// envelope, names in arrival order), acked once both are written;
    /// `pub --from-dir DIR` publishes them again.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["exec", "lazy"])]
    save_dir: Option<std::path::PathBuf>,

    /// Print no per-message lines (messages are still acked), nor the
    /// plain-connection warning (AMQPCTL_NO_PLAIN_WARNING=1 silences that
    /// one for every command).
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

    /// After a lost connection, or a consumer the broker cancelled (its
    /// queue's node went away), connect again (backoff with jitter; the
    /// --urls in order, the node just lost last), re-declare and go on
    /// consuming.
    #[arg(long)]
    reconnect: bool,

    /// Where to start in a stream queue: first, last, next, an offset, or an
    /// RFC 3339 time (2024-01-31T12:00:00Z); after a --reconnect, right
    /// after the last message delivered.
    #[arg(long, value_name = "OFFSET", value_parser = parse_offset)]
    offset: Option<Value>,

    /// Take only the messages for which this CEL expression is true, e.g.
    /// 'headers.region == "eu" && json.level == "error"' (the names are in
    /// Filters below). With manual acks on a named queue,
    /// add --filter-requeue.
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,

    /// With --filter and manual acks: requeue the messages that do not
    /// match (they are delivered again, to this consumer or another).
    #[arg(long, requires = "filter", conflicts_with = "ack_auto")]
    filter_requeue: bool,
}

/// What `con` does, resolved from its flags and checked: the engine's input.
pub struct ConsumeSpec {
    /// `-q -Q …`.
    pub queue: QueueSpec,
    /// `-e -t -E`.
    pub exchange: ExchangeSpec,
    /// `--bind-queue`: the binding keys (`-k`, or just "").
    pub bindings: Option<Vec<String>>,
    /// `--ack-auto`.
    pub ack_auto: bool,
    /// `--prefetch`.
    pub prefetch: u16,
    /// `--max-inflight-bytes` (0: no bound).
    pub max_inflight_bytes: u64,
    /// `--count`.
    pub count: Option<u64>,
    /// `--idle-timeout`.
    pub idle_timeout: Option<Duration>,
    /// `--until-empty`.
    pub until_empty: bool,
    /// `--reconnect`.
    pub reconnect: bool,
    /// `--offset`: where to start in a stream.
    pub offset: Option<Value>,
    /// `--filter`, `--filter-requeue`.
    pub filter: Option<Filtering>,
    /// What happens to each message.
    pub mode: Mode,
}

/// What `con` does with the messages.
pub enum Mode {
    /// Print each (unless `quiet`), in batches, acked once flushed (and,
    /// with `--save-dir`, saved).
    Print {
        /// `--format`, `--delimiter`.
        format: Format,
        /// `--quiet`.
        quiet: bool,
        /// `--save-dir`.
        save_dir: Option<std::path::PathBuf>,
    },
    /// `--lazy`: print one, never ack it, exit `pause` later.
    Lazy {
        /// `--format`, `--delimiter`.
        format: Format,
        /// How long to hold the message.
        pause: Duration,
    },
    /// `--exec`: run a command per message; its exit status settles it.
    Exec(ExecSpec),
}

/// `--exec` and the flags that go with it.
pub struct ExecSpec {
    /// The command, run with `sh -c`.
    pub command: String,
    /// `--exec-timeout`.
    pub timeout: Option<Duration>,
    /// `--no-requeue`: a failure rejects.
    pub no_requeue: bool,
    /// `--exec-backoff`.
    pub backoff: Duration,
    /// `--exec-max-attempts`.
    pub max_attempts: Option<u32>,
}

impl ConsumeArgs {
    /// `--quiet`, which also drops the plain-connection warning before the
    /// connection is opened.
    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// Checks everything that can be checked before connecting: a usage
    /// error must change nothing on the broker.
    pub fn resolve(self) -> Result<ConsumeSpec, Error> {
        if self.queue.name.is_none() && !self.queue.declare {
            return Err(Error::Usage(
                "con needs a queue: -q NAME, or -Q for a broker-named one".to_string(),
            ));
        }
        let exchange_named = self.exchange.name.as_deref().is_some_and(|n| !n.is_empty());
        if self.bind_queue && !exchange_named {
            return Err(Error::Usage(
                "--bind-queue needs an exchange with -e".to_string(),
            ));
        }
        if !self.bind_queue && !self.routing_keys.is_empty() {
            return Err(Error::Usage(
                "-k has no effect without --bind-queue: con binds the queue with -k only when asked (add --bind-queue)".to_string(),
            ));
        }
        let queue = self.queue.resolve()?;
        let exchange = self.exchange.resolve()?;
        for key in &self.routing_keys {
            check_name("the routing key (-k)", key)?;
        }
        if exchange_named && !exchange.declare && !self.bind_queue {
            status("WARNING: -e has no effect without -E or --bind-queue (con reads the queue)");
        }
        if self.offset.is_some() && self.ack_auto {
            return Err(Error::Usage(
                "--offset reads a stream, which needs manual acks: drop --ack-auto".to_string(),
            ));
        }
        let filter = self.filtering()?;
        let format = self.output.resolve()?;
        if let Some(dir) = &self.save_dir {
            // Made (and found writable) before anything is sent.
            super::io::saved::SaveDir::open(dir)?;
        }
        let mode = match (self.lazy, self.exec) {
            (Some(pause), _) => Mode::Lazy { format, pause },
            (None, Some(command)) => Mode::Exec(ExecSpec {
                command,
                timeout: self.exec_timeout,
                no_requeue: self.no_requeue,
                backoff: self.exec_backoff,
                max_attempts: self.exec_max_attempts,
            }),
            (None, None) => Mode::Print {
                format,
                quiet: self.quiet,
                save_dir: self.save_dir,
            },
        };
        let bindings = self.bind_queue.then(|| {
            if self.routing_keys.is_empty() {
                vec![String::new()]
            } else {
                self.routing_keys
            }
        });
        Ok(ConsumeSpec {
            queue,
            exchange,
            bindings,
            // --count N takes exactly N: a no-ack consumer would be pushed
            // everything, and what came after the Nth would be dropped.
            ack_auto: self.ack_auto && self.count.is_none(),
            prefetch: self.prefetch,
            max_inflight_bytes: self.inflight.max_inflight_bytes,
            count: self.count,
            idle_timeout: self.idle_timeout,
            until_empty: self.until_empty,
            reconnect: self.reconnect,
            offset: self.offset,
            filter,
            mode,
        })
    }

    /// `--filter`: compiled, and the fate of the messages it skips settled.
    /// On a named queue with manual acks, a skipped message can only be
    /// requeued, which delivers it again: only with --filter-requeue.
    fn filtering(&self) -> Result<Option<Filtering>, Error> {
        let Some(source) = &self.filter else {
            return Ok(None);
        };
        let filter = Filter::compile(source)?;
        let others = if self.ack_auto && self.count.is_some() {
            // Acked by con itself (see `resolve`): dropping is acking.
            Others::Acked
        } else if self.ack_auto {
            Others::Dropped
        } else if self.filter_requeue {
            if self.until_empty {
                return Err(Error::Usage(
                    "--until-empty never ends while a message that does not match is requeued: use get --all --filter, which looks at each message once".to_string(),
                ));
            }
            Others::Requeued
        } else if self.queue.name.is_none() || self.offset.is_some() {
            // A broker-named queue is con's alone; a stream keeps its messages.
            Others::Acked
        } else {
            return Err(Error::Usage(
                "--filter on a queue with manual acks: a message that does not match would be requeued and delivered again and again; add --filter-requeue to do that anyway, --ack-auto to drop them, or use move --filter or get --all --filter".to_string(),
            ));
        };
        Ok(Some(Filtering { filter, others }))
    }
}

/// `amqpctl con`.
pub fn run(connect: &ConnectSpec, args: ConsumeArgs) -> Result<(), Error> {
    engine::run(connect, args.resolve()?)
}
