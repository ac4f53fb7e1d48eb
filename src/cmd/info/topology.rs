//! The vhost's objects as the management API lists them, indexed for
//! drawing: what each exchange binds, what each queue's consumers are, and
//! which of them a name pattern shows. Both drawings (tree, dot) read it.

use std::collections::HashMap;

use serde_json::Value;

use crate::cmd::list::{cell, glob_matches, lookup};

/// One vhost's exchanges, bindings, queues, consumers and connections.
pub struct Topology {
    /// The exchanges, in the API's order (by name).
    pub exchanges: Vec<Value>,
    bindings: Vec<Value>,
    queues: HashMap<String, Value>,
    exchange_types: HashMap<String, String>,
    consumers: Vec<Value>,
    /// A connection's broker name → the name its client gave it.
    connection_names: HashMap<String, String>,
}

impl Topology {
    /// Indexes the five listings of one vhost.
    pub fn new(
        exchanges: Vec<Value>,
        bindings: Vec<Value>,
        queues: Vec<Value>,
        consumers: Vec<Value>,
        connections: Vec<Value>,
    ) -> Topology {
        let by_name = |items: Vec<Value>| -> HashMap<String, Value> {
            items
                .into_iter()
                .map(|i| (cell(lookup(&i, "name")), i))
                .collect()
        };
        let exchange_types = exchanges
            .iter()
            .map(|x| (cell(lookup(x, "name")), cell(lookup(x, "type"))))
            .collect();
        let connection_names = connections
            .iter()
            .filter_map(|c| {
                let given = lookup(c, "user_provided_name")
                    .or_else(|| lookup(c, "client_properties.connection_name"))?;
                Some((cell(lookup(c, "name")), cell(Some(given))))
            })
            .collect();
        Topology {
            exchanges,
            bindings,
            queues: by_name(queues),
            exchange_types,
            consumers,
            connection_names,
        }
    }

    /// The exchanges drawn at the top: all, or those a pattern names
    /// itself or through one of its bindings' destinations.
    pub fn shown_exchanges<'a>(&'a self, pattern: Option<&'a str>) -> Vec<&'a Value> {
        self.exchanges
            .iter()
            .filter(|x| !self.shown_bindings(&name(x), pattern).is_empty() || named(x, pattern))
            .collect()
    }

    /// The bindings of exchange `source` drawn: all when the pattern names
    /// the exchange (or there is none), else those leading to what it names.
    pub fn shown_bindings(&self, source: &str, pattern: Option<&str>) -> Vec<&Value> {
        let all_shown = pattern.is_none_or(|p| glob_matches(p, shown_name(source)));
        self.bindings
            .iter()
            .filter(|b| cell(lookup(b, "source")) == source)
            .filter(|b| all_shown || pattern.is_some_and(|p| glob_matches(p, &destination(b))))
            .collect()
    }

    /// Every binding of exchange `source`.
    pub fn bindings_of(&self, source: &str) -> Vec<&Value> {
        self.shown_bindings(source, None)
    }

    /// A queue's listing, if the API had it.
    pub fn queue(&self, name: &str) -> Option<&Value> {
        self.queues.get(name)
    }

    /// An exchange's type, if the API listed it.
    pub fn exchange_type(&self, name: &str) -> String {
        self.exchange_types.get(name).cloned().unwrap_or_default()
    }

    /// The consumers of a queue.
    pub fn consumers_of(&self, queue: &str) -> Vec<&Value> {
        self.consumers
            .iter()
            .filter(|c| cell(lookup(c, "queue.name")) == queue)
            .collect()
    }

    /// A consumer's connection: the name its client gave it (amqpctl's
    /// connection name) when there is one, and the broker's.
    pub fn connection_of(&self, consumer: &Value) -> (Option<&str>, String) {
        let broker = cell(lookup(consumer, "channel_details.connection_name"));
        (
            self.connection_names.get(&broker).map(String::as_str),
            broker,
        )
    }
}

/// An object's `name`.
pub fn name(item: &Value) -> String {
    cell(lookup(item, "name"))
}

/// A binding's destination's name.
pub fn destination(binding: &Value) -> String {
    cell(lookup(binding, "destination"))
}

/// Whether a binding leads to an exchange.
pub fn to_exchange(binding: &Value) -> bool {
    cell(lookup(binding, "destination_type")) == "exchange"
}

/// The default exchange's name as drawn.
pub fn shown_name(exchange: &str) -> &str {
    match exchange {
        "" => "(default)",
        name => name,
    }
}

/// A count out of a listing, `?` while the broker has not reported it.
pub fn count(item: Option<&Value>, field: &str) -> String {
    match item.and_then(|i| lookup(i, field)) {
        None => "?".to_string(),
        some => cell(some),
    }
}

fn named(exchange: &Value, pattern: Option<&str>) -> bool {
    pattern.is_none_or(|p| glob_matches(p, shown_name(&name(exchange))))
}
