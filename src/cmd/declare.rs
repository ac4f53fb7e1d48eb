//! `amqpctl declare queue|exchange|binding`: one declaration, printed.

use clap::{Args, Subcommand};

use super::args::BindingArgs;
use super::args::queue::QueueType;
use super::args::values::{
    check_name, check_unique_keys, parse_exchange_type, parse_key_value, table,
};
use super::broker::declare::{self, Destination};
use super::broker::flow::FlowWait;
use super::broker::{ConnectSpec, with_connection};
use super::io::output::result;
use crate::error::Error;
use amqpctl::amqp::{ExchangeOptions, QueueOptions, Table, Value};

/// The flags of `amqpctl declare`.
#[derive(Debug, Args)]
pub struct DeclareArgs {
    #[command(subcommand)]
    what: Declaration,
}

#[derive(Debug, Subcommand)]
enum Declaration {
    /// Declare a queue ("" lets the broker name it).
    Queue(QueueDeclaration),
    /// Declare an exchange.
    Exchange(ExchangeDeclaration),
    /// Bind a queue or an exchange to an exchange.
    Binding(BindingDeclaration),
}

// `declare queue`'s flags (the help text is the variant's).
#[derive(Debug, Args)]
struct QueueDeclaration {
    /// Queue name.
    name: String,
    /// Survive a broker restart.
    #[arg(long)]
    durable: bool,
    /// Delete when the last consumer goes.
    #[arg(long)]
    auto_delete: bool,
    /// Private to this connection (so gone when the command exits).
    #[arg(long)]
    exclusive: bool,
    /// Only check that it exists (exit 5 if not).
    #[arg(long)]
    passive: bool,
    /// Queue argument KEY=VALUE (x-message-ttl=60000); repeatable.
    /// Integers and true/false are typed by their look; KEY:TYPE=VALUE
    /// forces the type (string, int, float, bool).
    #[arg(long = "arg", value_name = "KEY[:TYPE]=VALUE", value_parser = parse_key_value)]
    arguments: Vec<(String, Value)>,
    /// Queue type (x-queue-type); quorum queues and streams are always
    /// durable.
    #[arg(long = "type", value_parser = QueueType::names_only())]
    queue_type: Option<QueueType>,
}

// `declare exchange`'s flags.
#[derive(Debug, Args)]
struct ExchangeDeclaration {
    /// Exchange name.
    name: String,
    /// Exchange type.
    #[arg(short = 't', long = "type", value_name = "TYPE", default_value = "direct", value_parser = parse_exchange_type)]
    kind: String,
    /// Survive a broker restart.
    #[arg(long)]
    durable: bool,
    /// Delete when the last binding goes.
    #[arg(long)]
    auto_delete: bool,
    /// Only reachable through exchange-to-exchange bindings.
    #[arg(long)]
    internal: bool,
    /// Only check that it exists (exit 5 if not).
    #[arg(long)]
    passive: bool,
    /// Exchange argument KEY=VALUE (alternate-exchange=ae); repeatable.
    /// Integers and true/false are typed by their look; KEY:TYPE=VALUE
    /// forces the type (string, int, float, bool).
    #[arg(long = "arg", value_name = "KEY[:TYPE]=VALUE", value_parser = parse_key_value)]
    arguments: Vec<(String, Value)>,
}

// `declare binding`'s flags.
#[derive(Debug, Args)]
struct BindingDeclaration {
    #[command(flatten)]
    ends: BindingArgs,
    /// Binding argument KEY=VALUE (for headers exchanges); repeatable.
    /// Integers and true/false are typed by their look; KEY:TYPE=VALUE
    /// forces the type (string, int, float, bool).
    #[arg(long = "arg", value_name = "KEY[:TYPE]=VALUE", value_parser = parse_key_value)]
    arguments: Vec<(String, Value)>,
}

/// One declaration, resolved from the flags and checked.
pub enum DeclareSpec {
    /// `declare queue`.
    Queue {
        /// Its name ("" lets the broker name it).
        name: String,
        /// How to declare it.
        options: QueueOptions,
    },
    /// `declare exchange`.
    Exchange {
        /// Its name.
        name: String,
        /// Its type.
        kind: String,
        /// How to declare it.
        options: ExchangeOptions,
    },
    /// `declare binding`.
    Binding {
        /// The source exchange.
        exchange: String,
        /// The bound queue, or exchange with `to_exchange`.
        destination: String,
        /// Whether `destination` is an exchange.
        to_exchange: bool,
        /// The binding key.
        key: String,
        /// The binding arguments.
        arguments: Table,
    },
}

impl DeclareArgs {
    /// Checks names, keys and arguments before anything is sent, then
    /// settles the options.
    pub fn resolve(self) -> Result<DeclareSpec, Error> {
        match self.what {
            Declaration::Queue(queue) => queue.resolve(),
            Declaration::Exchange(exchange) => exchange.resolve(),
            Declaration::Binding(binding) => binding.resolve(),
        }
    }
}

impl QueueDeclaration {
    /// A quorum queue or stream is durable, and neither exclusive nor
    /// auto-delete; `--type` becomes `x-queue-type`.
    fn resolve(self) -> Result<DeclareSpec, Error> {
        check_name_and_arguments("the queue name", &self.name, &self.arguments)?;
        let replicated = self.queue_type.is_some_and(QueueType::is_replicated);
        if replicated && (self.exclusive || self.auto_delete) {
            return Err(Error::Usage(
                "quorum queues and streams cannot be exclusive or auto-delete".to_string(),
            ));
        }
        let mut arguments = table(&self.arguments);
        if let Some(kind) = self.queue_type {
            check_no_type_argument(kind, &self.arguments)?;
            kind.insert_into(&mut arguments);
        }
        Ok(DeclareSpec::Queue {
            name: self.name,
            options: QueueOptions {
                durable: self.durable || replicated,
                exclusive: self.exclusive,
                auto_delete: self.auto_delete,
                passive: self.passive,
                arguments,
            },
        })
    }
}

impl ExchangeDeclaration {
    fn resolve(self) -> Result<DeclareSpec, Error> {
        check_name_and_arguments("the exchange name", &self.name, &self.arguments)?;
        Ok(DeclareSpec::Exchange {
            name: self.name,
            kind: self.kind,
            options: ExchangeOptions {
                durable: self.durable,
                auto_delete: self.auto_delete,
                internal: self.internal,
                passive: self.passive,
                arguments: table(&self.arguments),
            },
        })
    }
}

impl BindingDeclaration {
    fn resolve(self) -> Result<DeclareSpec, Error> {
        let ends = &self.ends;
        check_name("the exchange name (-e)", &ends.exchange)?;
        check_name("the queue name (-q)", ends.queue.as_deref().unwrap_or(""))?;
        check_name(
            "the exchange name (--to-exchange)",
            ends.to_exchange.as_deref().unwrap_or(""),
        )?;
        check_name("the routing key (-k)", &ends.routing_key)?;
        check_unique_keys("--arg", &self.arguments)?;
        let (destination, to_exchange) = ends.destination("declare binding")?;
        Ok(DeclareSpec::Binding {
            exchange: self.ends.exchange,
            destination,
            to_exchange,
            key: self.ends.routing_key,
            arguments: table(&self.arguments),
        })
    }
}

/// `--type T` with an `--arg x-queue-type=…` as well: two answers to one
/// question, so a usage error rather than one silently winning.
fn check_no_type_argument(given: QueueType, arguments: &[(String, Value)]) -> Result<(), Error> {
    match arguments.iter().find(|(k, _)| k == QueueType::ARGUMENT) {
        Some(_) => Err(Error::Usage(format!(
            "--type {} and --arg {} say the queue type twice: keep one",
            given.name(),
            QueueType::ARGUMENT
        ))),
        None => Ok(()),
    }
}

/// Refuses a name AMQP cannot carry and an `--arg` key given twice.
fn check_name_and_arguments(
    what: &str,
    name: &str,
    arguments: &[(String, Value)],
) -> Result<(), Error> {
    check_name(what, name)?;
    check_unique_keys("--arg", arguments)
}

/// `amqpctl declare`.
pub fn run(connect: &ConnectSpec, args: DeclareArgs) -> Result<(), Error> {
    declare(connect, args.resolve()?)
}

/// Declares what `spec` says and prints the result on stdout, once the
/// channel closed without a late broker error: `Created queue: …` when the
/// broker made it, `Declared queue: …` when it was already there (same
/// for exchanges), `Queue exists: …` for `--passive`.
///
/// Whether it was there comes from a passive declare on a channel of its
/// own just before the real one. Another client creating the same name in
/// between is reported as `Created`; nothing else can be misreported (a
/// queue or exchange is never un-declared by declaring it).
pub fn declare(connect: &ConnectSpec, mut spec: DeclareSpec) -> Result<(), Error> {
    if let DeclareSpec::Queue { name, options } = &mut spec {
        crate::cmd::broker::transient::settle(connect, name, options);
    }
    let mut line = String::new();
    with_connection(connect, FlowWait::new(None), |connection, channel| {
        line = match &spec {
            DeclareSpec::Queue { name, options } => {
                let existed = !options.passive
                    && !name.is_empty()
                    && connection.channel()?.queue_inspect(name).is_ok();
                let info = channel.queue_declare(name, options)?;
                let verb = match (options.passive, existed) {
                    (true, _) => "Queue exists",
                    (false, true) => "Declared queue",
                    (false, false) => "Created queue",
                };
                format!(
                    "{verb}: {} (messages: {}, consumers: {})",
                    info.name, info.messages, info.consumers
                )
            }
            DeclareSpec::Exchange {
                name,
                kind,
                options,
            } => {
                let existed =
                    !options.passive && connection.channel()?.exchange_check(name).is_ok();
                channel.exchange_declare(name, kind, options)?;
                let verb = match (options.passive, existed) {
                    (true, _) => "Exchange exists",
                    (false, true) => "Declared exchange",
                    (false, false) => "Created exchange",
                };
                format!("{verb}: {name}")
            }
            DeclareSpec::Binding {
                exchange,
                destination,
                to_exchange,
                key,
                arguments,
            } => {
                let destination = if *to_exchange {
                    Destination::Exchange(destination)
                } else {
                    Destination::Queue(destination)
                };
                declare::bind_silently(channel, destination, exchange, key, arguments)?
            }
        };
        Ok(())
    })?;
    result(line)
}
