//! `-q -Q --durable-queue --nad-queue --exclusive`: the queue flags of `pub`
//! and `con`.

use clap::Args;

use super::values::check_name;
use crate::cmd::broker::declare::QueueSpec;
use crate::cmd::io::output::status;
use crate::error::Error;
use amqpctl::amqp::{QueueOptions, Table};

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
