//! `amqpctl declare queue|exchange|binding`: one declaration, printed.

use clap::{Args, Subcommand, ValueEnum};

use super::output::status;
use super::{
    Session, check_name, check_unique_keys, parse_exchange_type, parse_key_value, table,
    with_channel,
};
use crate::error::Error;
use amqpctl::amqp::{ExchangeOptions, QueueOptions, Value};

#[derive(Debug, Args)]
pub struct DeclareArgs {
    #[command(subcommand)]
    what: Declaration,
}

/// `declare queue --type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum QueueType {
    Classic,
    Quorum,
    Stream,
}

#[derive(Debug, Subcommand)]
enum Declaration {
    /// Declare a queue ("" lets the broker name it).
    Queue {
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
        /// Queue argument KEY=VALUE (x-message-ttl=60000); integers and
        /// true/false are typed; repeatable.
        #[arg(long = "arg", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        arguments: Vec<(String, Value)>,
        /// Queue type (x-queue-type); quorum queues and streams are always
        /// durable.
        #[arg(long = "type", value_enum)]
        queue_type: Option<QueueType>,
    },
    /// Declare an exchange.
    Exchange {
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
        #[arg(long = "arg", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        arguments: Vec<(String, Value)>,
    },
    /// Bind a queue or an exchange to an exchange.
    Binding {
        /// Source exchange.
        #[arg(short = 'e', long = "exchange", value_name = "EXCHANGE")]
        exchange: String,
        /// Queue to bind.
        #[arg(
            short = 'q',
            long = "queue",
            value_name = "QUEUE",
            required_unless_present = "to_exchange",
            conflicts_with = "to_exchange"
        )]
        queue: Option<String>,
        /// Exchange to bind (exchange-to-exchange binding).
        #[arg(long, value_name = "NAME")]
        to_exchange: Option<String>,
        /// Binding key.
        #[arg(
            short = 'k',
            long = "routing-key",
            value_name = "KEY",
            default_value = ""
        )]
        routing_key: String,
        /// Binding argument KEY=VALUE (for headers exchanges); repeatable.
        #[arg(long = "arg", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        arguments: Vec<(String, Value)>,
    },
}

impl Declaration {
    /// Checks names, keys and arguments before anything is sent.
    fn check(&self) -> Result<(), Error> {
        match self {
            Declaration::Queue {
                name,
                exclusive,
                auto_delete,
                arguments,
                queue_type,
                ..
            } => {
                check_name("the queue name", name)?;
                check_unique_keys("--arg", arguments)?;
                let replicated = matches!(queue_type, Some(QueueType::Quorum | QueueType::Stream));
                if replicated && (*exclusive || *auto_delete) {
                    return Err(Error::Usage(
                        "quorum queues and streams cannot be exclusive or auto-delete".to_string(),
                    ));
                }
            }
            Declaration::Exchange {
                name, arguments, ..
            } => {
                check_name("the exchange name", name)?;
                check_unique_keys("--arg", arguments)?;
            }
            Declaration::Binding {
                exchange,
                queue,
                to_exchange,
                routing_key,
                arguments,
            } => {
                check_name("the exchange name (-e)", exchange)?;
                check_name("the queue name (-q)", queue.as_deref().unwrap_or(""))?;
                check_name(
                    "the exchange name (--to-exchange)",
                    to_exchange.as_deref().unwrap_or(""),
                )?;
                check_name("the routing key (-k)", routing_key)?;
                check_unique_keys("--arg", arguments)?;
            }
        }
        Ok(())
    }
}

pub fn run(session: &Session, args: DeclareArgs) -> Result<(), Error> {
    args.what.check()?;
    with_channel(session, |channel| match &args.what {
        Declaration::Queue {
            name,
            durable,
            auto_delete,
            exclusive,
            passive,
            arguments,
            queue_type,
        } => {
            let mut arguments = table(arguments);
            let replicated = matches!(queue_type, Some(QueueType::Quorum | QueueType::Stream));
            if let Some(kind) = queue_type {
                let kind = match kind {
                    QueueType::Classic => "classic",
                    QueueType::Quorum => "quorum",
                    QueueType::Stream => "stream",
                };
                arguments.insert("x-queue-type".to_string(), Value::Str(kind.to_string()));
            }
            let info = channel.queue_declare(
                name,
                &QueueOptions {
                    durable: *durable || replicated,
                    exclusive: *exclusive,
                    auto_delete: *auto_delete,
                    passive: *passive,
                    arguments,
                },
            )?;
            let verb = if *passive {
                "Queue exists"
            } else {
                "Created queue"
            };
            status(format_args!(
                "{verb}: {} (messages: {}, consumers: {})",
                info.name, info.messages, info.consumers
            ));
            Ok(())
        }
        Declaration::Exchange {
            name,
            kind,
            durable,
            auto_delete,
            internal,
            passive,
            arguments,
        } => {
            channel.exchange_declare(
                name,
                kind,
                &ExchangeOptions {
                    durable: *durable,
                    auto_delete: *auto_delete,
                    internal: *internal,
                    passive: *passive,
                    arguments: table(arguments),
                },
            )?;
            let verb = if *passive {
                "Exchange exists"
            } else {
                "Created exchange"
            };
            status(format_args!("{verb}: {name}"));
            Ok(())
        }
        Declaration::Binding {
            exchange,
            queue,
            to_exchange,
            routing_key,
            arguments,
        } => {
            let arguments = table(arguments);
            let (kind, destination) = match (queue, to_exchange) {
                (Some(q), _) => {
                    channel.queue_bind(q, exchange, routing_key, &arguments)?;
                    ("Queue", q)
                }
                (None, Some(x)) => {
                    channel.exchange_bind(x, exchange, routing_key, &arguments)?;
                    ("Exchange", x)
                }
                (None, None) => unreachable!("clap requires -q or --to-exchange"),
            };
            let key = if routing_key.is_empty() {
                String::new()
            } else {
                format!(" {routing_key}")
            };
            status(format_args!(
                "Bound {kind} [{destination}] to Exchange [{exchange}]{key}"
            ));
            Ok(())
        }
    })
}
