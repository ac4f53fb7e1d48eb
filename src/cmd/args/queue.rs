//! `-q -Q --durable-queue --nad-queue --exclusive`: the queue flags of `pub`
//! and `con`; the queue types `declare` and `perf` take.

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, ValueEnum};

use super::values::check_name;
use crate::cmd::broker::declare::QueueSpec;
use crate::cmd::io::output::status;
use crate::error::Error;
use amqpctl::amqp::{QueueOptions, Table, Value};

/// Queue flags shared by `pub` and `con`.
#[derive(Debug, Args)]
pub struct QueueArgs {
    /// Queue name.
    #[arg(id = "queue", short = 'q', long = "queue", value_name = "NAME")]
    pub name: Option<String>,

    /// Declare the queue first (auto-delete unless --nad-queue).
    #[arg(id = "declare_queue", short = 'Q', long = "declare-queue")]
    pub declare: bool,

    /// Declare the queue durable: it survives a broker restart.
    #[arg(long)]
    pub durable_queue: bool,

    /// Declare the queue without auto-delete.
    #[arg(long)]
    pub nad_queue: bool,

    /// Declare the queue exclusive to this connection.
    #[arg(long)]
    pub exclusive: bool,
}

impl QueueArgs {
    /// Checks the name and warns about declaration flags given without -Q,
    /// before anything is sent.
    pub fn resolve(&self) -> Result<QueueSpec, Error> {
        if let Some(name) = &self.name {
            check_name("the queue name (-q)", name)?;
        }
        if !self.declare {
            for (given, flag) in [
                (self.durable_queue, "--durable-queue"),
                (self.nad_queue, "--nad-queue"),
                (self.exclusive, "--exclusive"),
            ] {
                if given {
                    status(format_args!(
                        "WARNING: {flag} has no effect without -Q (the queue is not declared)"
                    ));
                }
            }
        }
        Ok(QueueSpec {
            name: self.name.clone(),
            declare: self.declare,
            options: QueueOptions {
                durable: self.durable_queue,
                exclusive: self.exclusive,
                auto_delete: !self.nad_queue,
                passive: false,
                arguments: Table::new(),
            },
        })
    }
}

/// The queue types, as `declare queue --type` and `perf --queue-type` take
/// them: one list of names for both flags and for `x-queue-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueueType {
    /// A classic queue.
    Classic,
    /// A quorum queue (durable, replicated).
    Quorum,
    /// A stream (durable, append-only; consumers read from the next message).
    Stream,
}

impl QueueType {
    /// The queue argument that sets the type.
    pub const ARGUMENT: &'static str = "x-queue-type";

    /// Its name, as `x-queue-type` spells it.
    pub fn name(self) -> &'static str {
        match self {
            QueueType::Classic => "classic",
            QueueType::Quorum => "quorum",
            QueueType::Stream => "stream",
        }
    }

    /// Whether the broker keeps it on several nodes (so it is always durable).
    pub fn is_replicated(self) -> bool {
        matches!(self, QueueType::Quorum | QueueType::Stream)
    }

    /// Adds `x-queue-type` to a queue's arguments.
    pub fn insert_into(self, arguments: &mut Table) {
        arguments.insert(
            QueueType::ARGUMENT.to_string(),
            Value::Str(self.name().to_string()),
        );
    }

    /// The same values without their descriptions, for a flag whose help
    /// lists them inline (`[possible values: classic, quorum, stream]`).
    pub fn names_only() -> impl TypedValueParser<Value = QueueType> {
        let names = QueueType::value_variants().iter().map(|t| t.name());
        PossibleValuesParser::new(names).try_map(|name| QueueType::from_str(&name, false))
    }
}
