//! What each listing shows: its API path, its default columns (named as
//! rabbitmqadmin names them: the API's fields, dotted for nested ones), the
//! field a name pattern matches, and reading a column out of an API object.

use clap::ValueEnum;
use serde_json::Value;

/// The things `amqpctl list` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum What {
    /// Queues and streams, with their message counts and rates.
    Queues,
    /// Exchanges.
    Exchanges,
    /// Bindings, exchange-to-queue and exchange-to-exchange.
    Bindings,
    /// Client connections.
    Connections,
    /// Consumers.
    Consumers,
    /// Virtual hosts.
    Vhosts,
}

impl What {
    /// The API path's segments: of `vhost`, or of every vhost.
    pub fn path(self, vhost: Option<&str>) -> Vec<&str> {
        let kind = match self {
            What::Queues => "queues",
            What::Exchanges => "exchanges",
            What::Bindings => "bindings",
            What::Connections => "connections",
            What::Consumers => "consumers",
            What::Vhosts => return vec!["vhosts"],
        };
        match (self, vhost) {
            (_, None) => vec![kind],
            (What::Connections, Some(v)) => vec!["vhosts", v, "connections"],
            (_, Some(v)) => vec![kind, v],
        }
    }

    /// The columns shown without `--columns`.
    pub fn default_columns(self, all_vhosts: bool) -> Vec<&'static str> {
        let vhost = match self {
            What::Consumers => "queue.vhost",
            _ => "vhost",
        };
        let mut columns = match (all_vhosts, self) {
            (true, What::Vhosts) | (false, _) => Vec::new(),
            (true, _) => vec![vhost],
        };
        columns.extend_from_slice(match self {
            What::Queues => &[
                "name",
                "type",
                "messages_ready",
                "messages_unacknowledged",
                "consumers",
                "message_stats.publish_details.rate",
                "message_stats.deliver_get_details.rate",
            ][..],
            What::Exchanges => &["name", "type", "durable", "auto_delete", "internal"],
            What::Bindings => &[
                "source",
                "destination_type",
                "destination",
                "routing_key",
                "arguments",
            ],
            What::Connections => &["user_provided_name", "name", "user", "state", "channels"],
            What::Consumers => &[
                "queue.name",
                "consumer_tag",
                "channel_details.connection_name",
                "ack_required",
                "prefetch_count",
            ],
            What::Vhosts => &[
                "name",
                "messages",
                "messages_ready",
                "messages_unacknowledged",
            ],
        });
        columns
    }

    /// The fields a name pattern is matched against (any one matching).
    pub fn name_fields(self) -> &'static [&'static str] {
        match self {
            What::Bindings => &["source", "destination"],
            What::Connections => &["user_provided_name", "name"],
            What::Consumers => &["queue.name"],
            _ => &["name"],
        }
    }
}

/// The value at a dotted path (`message_stats.publish_details.rate`), if
/// the object has it.
pub fn lookup<'a>(item: &'a Value, column: &str) -> Option<&'a Value> {
    column
        .split('.')
        .try_fold(item, |v, key| v.get(key))
        .filter(|v| !v.is_null())
}

/// A value as text for a table or TSV cell: strings as they are, other
/// scalars as JSON, lists and objects as compact JSON; nothing when absent.
pub fn cell(value: Option<&Value>) -> String {
    match value {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Whether `name` matches the glob `pattern`: `*` any run of characters,
/// `?` one character, everything else itself.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matching with backtracking to the last `*`.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_a_shell() {
        assert!(glob_matches("orders.*", "orders.eu"));
        assert!(glob_matches("*", ""));
        assert!(glob_matches("a?c*", "abcdef"));
        assert!(glob_matches("*.dlq", "x.y.dlq"));
        assert!(!glob_matches("orders.*", "order"));
        assert!(!glob_matches("a?c", "ac"));
        assert!(!glob_matches("q", "q1"));
    }

    #[test]
    fn dotted_columns_reach_nested_fields() {
        let item = serde_json::json!({"name": "q", "message_stats": {"publish_details": {"rate": 1.5}}, "policy": null});
        assert_eq!(
            cell(lookup(&item, "message_stats.publish_details.rate")),
            "1.5"
        );
        assert_eq!(cell(lookup(&item, "name")), "q");
        assert_eq!(cell(lookup(&item, "policy")), "");
        assert_eq!(cell(lookup(&item, "nope.deeper")), "");
    }
}
