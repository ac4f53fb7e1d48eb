//! Declarations the commands make on the way (`pub -E -Q`, `con
//! --bind-queue`, `rpc serve -Q`, `declare …`), and the one place that
//! prints the status lines announcing them (`Created queue: …`, `Bound
//! Queue [q] to Exchange [x] key`).

use amqpctl::amqp::{Channel, ExchangeOptions, QueueInfo, QueueOptions, Table};

use crate::cmd::io::output::status;
use crate::error::Error;

/// The queue a command works on, and whether it declares it first.
#[derive(Debug, Clone)]
pub struct QueueSpec {
    /// `-q`; `None` with `-Q` asks the broker to name it.
    pub name: Option<String>,
    /// `-Q`: declare before use.
    pub declare: bool,
    /// How to declare it.
    pub options: QueueOptions,
}

impl QueueSpec {
    /// Before connecting: a transient non-exclusive queue the broker would
    /// refuse is declared durable instead ([`super::transient`]).
    pub fn settle(&mut self, connect: &super::ConnectSpec) {
        if self.declare {
            let name = self.name.as_deref().unwrap_or("");
            super::transient::settle(connect, name, &mut self.options);
        }
    }

    /// Declares the queue if asked and returns its name (the broker's
    /// choice for an unnamed one); `None` when there is neither a name nor a
    /// declaration.
    pub fn prepare(&self, channel: &Channel) -> Result<Option<String>, Error> {
        if self.declare {
            let name = self.name.as_deref().unwrap_or("");
            let info = channel.queue_declare(name, &self.options)?;
            announce_queue(&info);
            return Ok(Some(info.name));
        }
        Ok(self.name.clone())
    }
}

/// The exchange a command works on, and whether it declares it first.
#[derive(Debug, Clone)]
pub struct ExchangeSpec {
    /// `-e`; "" is the default exchange.
    pub name: String,
    /// `-t`: its type, for the declaration.
    pub kind: String,
    /// `-E`: declare before use.
    pub declare: bool,
}

impl ExchangeSpec {
    /// Declares the exchange if `-E` asks for it, and says so.
    pub fn prepare(&self, channel: &Channel) -> Result<(), Error> {
        if self.declare {
            channel.exchange_declare(&self.name, &self.kind, &ExchangeOptions::default())?;
            announce_exchange(&self.name, false);
        }
        Ok(())
    }
}

/// Prints that a queue was declared on the way (`Created queue: NAME`).
pub fn announce_queue(info: &QueueInfo) {
    status(format_args!("Created queue: {}", info.name));
}

/// Prints that an exchange was declared (`passive`: checked to exist).
pub fn announce_exchange(name: &str, passive: bool) {
    let verb = if passive {
        "Exchange exists"
    } else {
        "Created exchange"
    };
    status(format_args!("{verb}: {name}"));
}

/// What a binding binds: a queue or, exchange to exchange, an exchange.
#[derive(Debug, Clone, Copy)]
pub enum Destination<'a> {
    /// `queue.bind`.
    Queue(&'a str),
    /// `exchange.bind`.
    Exchange(&'a str),
}

/// Binds `destination` to `exchange` with `key`, and says so on stderr
/// (on the way, for `pub` and `con`).
pub fn bind(
    channel: &Channel,
    destination: Destination<'_>,
    exchange: &str,
    key: &str,
    arguments: &Table,
) -> Result<(), Error> {
    let line = bind_silently(channel, destination, exchange, key, arguments)?;
    status(line);
    Ok(())
}

/// Binds `destination` to `exchange` with `key` and returns the line that
/// says so (`Bound Queue [Q] to Exchange [E] KEY`), for the caller to print
/// where its results go.
pub fn bind_silently(
    channel: &Channel,
    destination: Destination<'_>,
    exchange: &str,
    key: &str,
    arguments: &Table,
) -> Result<String, Error> {
    let (kind, name) = match destination {
        Destination::Queue(queue) => {
            channel.queue_bind(queue, exchange, key, arguments)?;
            ("Queue", queue)
        }
        Destination::Exchange(to) => {
            channel.exchange_bind(to, exchange, key, arguments)?;
            ("Exchange", to)
        }
    };
    let key = if key.is_empty() {
        String::new()
    } else {
        format!(" {key}")
    };
    Ok(format!(
        "Bound {kind} [{name}] to Exchange [{exchange}]{key}"
    ))
}
