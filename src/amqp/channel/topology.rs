//! The topology half of [`Channel`]: declaring, inspecting, binding,
//! deleting and purging queues and exchanges, each waiting for the broker's
//! answer like the rest of the channel.

use amiquip::{ExchangeDeclareOptions, ExchangeType, QueueDeclareOptions};

use super::{Channel, check_name};
use crate::amqp::error::Result;
use crate::amqp::value::{Table, to_amqp_table};

/// How to declare a queue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueOptions {
    /// Survive a broker restart.
    pub durable: bool,
    /// Private to this connection, deleted when it closes.
    pub exclusive: bool,
    /// Deleted when its last consumer goes.
    pub auto_delete: bool,
    /// Only check that it exists (404 if not).
    pub passive: bool,
    /// `x-` arguments (`x-message-ttl`, `x-queue-type`, …).
    pub arguments: Table,
}

/// What the broker says about a declared queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueInfo {
    /// Its name (the broker's choice when declared with an empty name).
    pub name: String,
    /// Messages ready in it.
    pub messages: u32,
    /// Consumers on it.
    pub consumers: u32,
}

/// How to declare an exchange.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExchangeOptions {
    /// Survive a broker restart.
    pub durable: bool,
    /// Deleted when its last binding goes.
    pub auto_delete: bool,
    /// Only reachable through exchange-to-exchange bindings.
    pub internal: bool,
    /// Only check that it exists (404 if not).
    pub passive: bool,
    /// Exchange arguments (`alternate-exchange`, …).
    pub arguments: Table,
}

impl Channel {
    /// Declares a queue; an empty name asks the broker to name it.
    pub fn queue_declare(&self, name: &str, options: &QueueOptions) -> Result<QueueInfo> {
        check_name("queue", name)?;
        let queue = if options.passive {
            self.inner.queue_declare_passive(name)
        } else {
            self.inner.queue_declare(
                name,
                QueueDeclareOptions {
                    durable: options.durable,
                    exclusive: options.exclusive,
                    auto_delete: options.auto_delete,
                    arguments: to_amqp_table(&options.arguments),
                },
            )
        }
        .map_err(|e| self.explain(e))?;
        Ok(QueueInfo {
            name: queue.name().to_string(),
            messages: queue.declared_message_count().unwrap_or(0),
            consumers: queue.declared_consumer_count().unwrap_or(0),
        })
    }

    /// Declares an exchange of type `kind` (`direct`, `fanout`, `topic`,
    /// `headers`, or a plugin's type such as `x-delayed-message`).
    pub fn exchange_declare(
        &self,
        name: &str,
        kind: &str,
        options: &ExchangeOptions,
    ) -> Result<()> {
        check_name("exchange", name)?;
        if options.passive {
            self.inner.exchange_declare_passive(name)
        } else {
            self.inner.exchange_declare(
                exchange_type(kind),
                name,
                ExchangeDeclareOptions {
                    durable: options.durable,
                    auto_delete: options.auto_delete,
                    internal: options.internal,
                    arguments: to_amqp_table(&options.arguments),
                },
            )
        }
        .map(drop)
        .map_err(|e| self.explain(e))
    }

    /// Asks the broker about a queue that must exist (a passive declare:
    /// 404 closes the channel if it does not): its ready messages and
    /// consumers.
    pub fn queue_inspect(&self, name: &str) -> Result<QueueInfo> {
        let passive = QueueOptions {
            passive: true,
            ..QueueOptions::default()
        };
        self.queue_declare(name, &passive)
    }

    /// Checks that an exchange exists (a passive declare: 404 closes the
    /// channel if it does not).
    pub fn exchange_check(&self, name: &str) -> Result<()> {
        let passive = ExchangeOptions {
            passive: true,
            ..ExchangeOptions::default()
        };
        self.exchange_declare(name, "direct", &passive)
    }

    /// Binds `queue` to `exchange` with `routing_key`.
    pub fn queue_bind(
        &self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: &Table,
    ) -> Result<()> {
        check_name("routing key", routing_key)?;
        self.inner
            .queue_bind(queue, exchange, routing_key, to_amqp_table(arguments))
            .map_err(|e| self.explain(e))
    }

    /// Binds exchange `destination` to exchange `source` with `routing_key`.
    pub fn exchange_bind(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: &Table,
    ) -> Result<()> {
        check_name("routing key", routing_key)?;
        self.inner
            .exchange_bind(destination, source, routing_key, to_amqp_table(arguments))
            .map_err(|e| self.explain(e))
    }

    /// Deletes a queue; returns how many messages it held.
    pub fn queue_delete(&self, name: &str, if_unused: bool, if_empty: bool) -> Result<u32> {
        self.inner
            .queue_delete(
                name,
                amiquip::QueueDeleteOptions {
                    if_unused,
                    if_empty,
                },
            )
            .map_err(|e| self.explain(e))
    }

    /// Deletes an exchange.
    pub fn exchange_delete(&self, name: &str, if_unused: bool) -> Result<()> {
        self.inner
            .exchange_delete(name, if_unused)
            .map_err(|e| self.explain(e))
    }

    /// Removes every ready message from a queue; returns how many.
    pub fn queue_purge(&self, name: &str) -> Result<u32> {
        self.inner.queue_purge(name).map_err(|e| self.explain(e))
    }
}

/// The amiquip type of an exchange type name; unknown names are plugin types.
fn exchange_type(kind: &str) -> ExchangeType {
    match kind {
        "direct" => ExchangeType::Direct,
        "fanout" => ExchangeType::Fanout,
        "topic" => ExchangeType::Topic,
        "headers" => ExchangeType::Headers,
        other => ExchangeType::Custom(other.to_string()),
    }
}
