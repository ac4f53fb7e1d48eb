//! `--filter EXPR`: a CEL expression (Common Expression Language, the
//! `cel` crate) that says which messages `con`, `get`, `move` and
//! `redrive` act on. The expression sees one message as variables:
//!
//! - `routing_key`, `exchange` (strings) and `redelivered` (bool);
//! - every property by its name in the one table (`content_type`,
//!   `delivery_mode`, `priority`, `message_id`, `timestamp`, `type`, …):
//!   a string or an int, `null` when the message does not carry it;
//! - `headers`: a map (empty when there are none), values typed: integers
//!   as ints, `f`/`d`/decimals as doubles, strings, bools, arrays as lists,
//!   tables as maps, byte arrays (and non-UTF-8 strings) as bytes,
//!   timestamps as ints (seconds), void as `null`;
//! - `body` (bytes), `text` (the body as a string, `null` when it is not
//!   UTF-8) and `json` (the body parsed as JSON, `null` when it does not
//!   parse).
//!
//! A name the expression uses that is none of these is a usage error
//! before anything happens on the broker. When the expression fails on a
//! message (`json.level` on a body that is not an object, a missing map
//! key) or gives something other than a bool, that message does not
//! match; the first failure is a warning line, and the run's last line
//! counts them all.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;

use cel::objects::{Key, Map};
use cel::{Context, ExecutionError, Program, Value as Cel};
use serde_json::Value as Json;

use super::io::output::status;
use super::io::properties::{PROPERTIES, PropertyValue, index_of};
use crate::error::Error;
use amqpctl::amqp::{Delivery, Properties, Table, Value};

/// The variables a message gives its expression, besides the properties.
const MESSAGE_VARIABLES: [&str; 6] = [
    "routing_key",
    "exchange",
    "redelivered",
    "body",
    "text",
    "json",
];

/// The reference `--help` gives for `--filter` (con, get, move, redrive):
/// the bare binary has no README to point to.
pub const HELP: &str = "\
Filters: --filter EXPR takes the messages for which the CEL expression is true.
  routing_key, exchange  strings; redelivered, a bool
  content_type, delivery_mode, priority, message_id, timestamp, type, app_id, …
                         every property by its name: a string or an int, null
                         when unset
  headers                a map: headers.region, headers[\"x-first-death-reason\"]
                         (floats as doubles, arrays as lists, tables as maps)
  body, text, json       the body as bytes, as a string (null when not UTF-8),
                         parsed as JSON (null when not JSON)
  e.g. 'json.level == \"error\" && headers.region == \"eu\"',
       'text.contains(\"error\")', 'priority > 4 || type == \"urgent\"'
A syntax error or an unknown name is exit 2 before anything is sent; an
expression that fails on a message, or gives no bool, does not match it.";

/// A compiled `--filter`, and the count of messages it failed on.
pub struct Filter {
    program: Program,
    source: String,
    /// The functions and macros of CEL's standard library.
    root: Context<'static, 'static>,
    /// The variables the expression uses: only those are made per message
    /// (so a body is decoded as JSON only for an expression that asks).
    used: Vec<String>,
    failures: Cell<u64>,
}

/// `con --filter`: what becomes of a message that does not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Others {
    /// Nothing to do: `--ack-auto` took it already.
    Dropped,
    /// Acked: the queue is con's own (broker-named) or a stream, where
    /// nobody else waits for it.
    Acked,
    /// `--filter-requeue`: put back for another consumer (or this one).
    Requeued,
}

/// `con --filter`: the expression and the fate of what it skips.
pub struct Filtering {
    /// The expression.
    pub filter: Filter,
    /// What happens to the messages it skips.
    pub others: Others,
}

/// A filter's verdict on one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The expression is true for it.
    Matches,
    /// False, or the expression failed on it.
    Skips,
}

impl Filter {
    /// Compiles `source`; a syntax error, or a name that is no variable of
    /// a message, is a usage error naming the problem.
    pub fn compile(source: &str) -> Result<Filter, Error> {
        let program = Program::compile(source).map_err(|e| {
            let first = e.to_string();
            let first = first.lines().next().unwrap_or("syntax error").trim();
            // "ERROR: <input>:1:9: Syntax error: …" → "at 1:9: syntax error: …"
            let first = first
                .trim_start_matches("ERROR: ")
                .trim_start_matches("<input>:");
            Error::Usage(format!("--filter {source:?}: at {first}"))
        })?;
        let used = program
            .references()
            .variables()
            .into_iter()
            .filter(|name| MESSAGE_VARIABLES.contains(name) || index_of(name).is_some())
            .map(str::to_string)
            .collect();
        let filter = Filter {
            program,
            source: source.to_string(),
            root: Context::default(),
            used,
            failures: Cell::new(0),
        };
        // Run once on a message that has nothing: a name that is not a
        // variable shows up as an undeclared reference.
        let empty = Sample::default();
        if let Err(ExecutionError::UndeclaredReference(name)) =
            filter.program.execute(&filter.context(&empty.view()))
        {
            return Err(Error::Usage(format!(
                "--filter {source:?}: unknown name '{name}'; a message has {}",
                known_names()
            )));
        }
        Ok(filter)
    }

    /// Whether the expression is true for this delivery.
    pub fn matches(&self, d: &Delivery) -> bool {
        self.judge(d) == Verdict::Matches
    }

    /// Judges one delivery.
    pub fn judge(&self, d: &Delivery) -> Verdict {
        let properties = d.properties();
        let message = Message {
            routing_key: d.routing_key(),
            exchange: d.exchange(),
            redelivered: d.redelivered(),
            properties: &properties,
            body: d.body(),
        };
        self.judge_message(&message)
    }

    /// Judges a message given by its parts.
    fn judge_message(&self, message: &Message<'_>) -> Verdict {
        match self.program.execute(&self.context(message)) {
            Ok(Cel::Bool(true)) => Verdict::Matches,
            Ok(Cel::Bool(false)) => Verdict::Skips,
            Ok(other) => {
                self.failed(&format!("it gave {other:?}, not true or false"));
                Verdict::Skips
            }
            Err(e) => {
                self.failed(&e.to_string());
                Verdict::Skips
            }
        }
    }

    fn failed(&self, why: &str) {
        self.failures.set(self.failures.get() + 1);
        if self.failures.get() == 1 {
            status(format_args!(
                "WARNING: --filter {:?} failed on a message ({why}): taken as not matching",
                self.source
            ));
        }
    }

    /// The closing warning when the expression failed on messages.
    pub fn report(&self) {
        let failures = self.failures.get();
        if failures > 0 {
            status(format_args!(
                "WARNING: --filter failed on {failures} messages, taken as not matching"
            ));
        }
    }

    /// The variables of `message` that the expression uses, in a scope of
    /// the context that holds the functions (built once: it is most of
    /// the cost).
    fn context(&self, message: &Message<'_>) -> Context<'_, 'static> {
        let mut context = self.root.new_inner_scope();
        for name in &self.used {
            context.add_variable_from_value(name.clone(), variable(name, message));
        }
        context
    }
}

/// The value of the variable `name` for `message`; `null` for a name that
/// is none (never asked: only known names are used).
fn variable(name: &str, message: &Message<'_>) -> Cel {
    match name {
        "routing_key" => message.routing_key.into(),
        "exchange" => message.exchange.into(),
        "redelivered" => message.redelivered.into(),
        "body" => Cel::Bytes(Arc::new(message.body.to_vec())),
        "text" => std::str::from_utf8(message.body)
            .map_or(Cel::Null, |t| Cel::String(Arc::new(t.to_string()))),
        "json" => serde_json::from_slice::<Json>(message.body)
            .ok()
            .map_or(Cel::Null, |j| json_value(&j)),
        _ => match index_of(name).and_then(|i| PROPERTIES[i].get(message.properties)) {
            None if name == "headers" => Cel::Map(Map::from(HashMap::<Key, Cel>::new())),
            None => Cel::Null,
            Some(PropertyValue::Text(s)) => Cel::String(Arc::new(s)),
            Some(PropertyValue::Number(n)) => Cel::Int(i64::try_from(n).unwrap_or(i64::MAX)),
            Some(PropertyValue::Headers(h)) => table(&h),
        },
    }
}

/// Every name an expression may use, for the usage error.
fn known_names() -> String {
    let mut names: Vec<&str> = MESSAGE_VARIABLES.to_vec();
    names.extend(PROPERTIES.iter().map(|p| p.name));
    names.join(", ")
}

/// One message as the filter sees it.
struct Message<'a> {
    routing_key: &'a str,
    exchange: &'a str,
    redelivered: bool,
    properties: &'a Properties,
    body: &'a [u8],
}

/// A message with nothing in it, for checking the names at compile time.
#[derive(Default)]
struct Sample {
    properties: Properties,
}

impl Sample {
    fn view(&self) -> Message<'_> {
        Message {
            routing_key: "",
            exchange: "",
            redelivered: false,
            properties: &self.properties,
            body: b"",
        }
    }
}

/// A field table as a CEL map.
fn table(t: &Table) -> Cel {
    let map: HashMap<Key, Cel> = t
        .iter()
        .map(|(k, v)| (Key::from(k.as_str()), field(v)))
        .collect();
    Cel::Map(Map::from(map))
}

/// One header value in CEL's types.
fn field(v: &Value) -> Cel {
    match v {
        Value::Bool(b) => Cel::Bool(*b),
        Value::I8(n) => Cel::Int(i64::from(*n)),
        Value::U8(n) => Cel::Int(i64::from(*n)),
        Value::I16(n) => Cel::Int(i64::from(*n)),
        Value::U16(n) => Cel::Int(i64::from(*n)),
        Value::I32(n) => Cel::Int(i64::from(*n)),
        Value::U32(n) => Cel::Int(i64::from(*n)),
        Value::I64(n) => Cel::Int(*n),
        Value::F32(n) => Cel::Float(f64::from(*n)),
        Value::F64(n) => Cel::Float(*n),
        Value::Decimal { scale, value } => {
            Cel::Float(f64::from(*value) / 10f64.powi(i32::from(*scale)))
        }
        Value::Str(s) => Cel::String(Arc::new(s.clone())),
        Value::StrBytes(b) | Value::Bytes(b) => Cel::Bytes(Arc::new(b.clone())),
        Value::Array(items) => Cel::List(Arc::new(items.iter().map(field).collect())),
        Value::Timestamp(t) => Cel::Int(i64::try_from(*t).unwrap_or(i64::MAX)),
        Value::Table(t) => table(t),
        Value::Void => Cel::Null,
    }
}

/// A JSON body in CEL's types: numbers that are integers become ints.
fn json_value(j: &Json) -> Cel {
    match j {
        Json::Null => Cel::Null,
        Json::Bool(b) => Cel::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Cel::Int(i),
            (None, Some(u), _) => Cel::UInt(u),
            (None, None, f) => Cel::Float(f.unwrap_or(f64::NAN)),
        },
        Json::String(s) => Cel::String(Arc::new(s.clone())),
        Json::Array(items) => Cel::List(Arc::new(items.iter().map(json_value).collect())),
        Json::Object(m) => {
            let map: HashMap<Key, Cel> = m
                .iter()
                .map(|(k, v)| (Key::from(k.as_str()), json_value(v)))
                .collect();
            Cel::Map(Map::from(map))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message_with<'a>(properties: &'a Properties, body: &'a [u8]) -> Message<'a> {
        Message {
            routing_key: "orders.eu",
            exchange: "shop",
            redelivered: true,
            properties,
            body,
        }
    }

    fn judge(source: &str, properties: &Properties, body: &[u8]) -> Verdict {
        let filter = Filter::compile(source).expect("compiles");
        filter.judge_message(&message_with(properties, body))
    }

    fn headers() -> Properties {
        let mut h = Table::new();
        h.insert("attempt".into(), Value::I32(3));
        h.insert("region".into(), Value::Str("eu".into()));
        h.insert(
            "price".into(),
            Value::Decimal {
                scale: 2,
                value: 1999,
            },
        );
        h.insert("tags".into(), Value::Array(vec![Value::Str("a".into())]));
        h.insert("raw".into(), Value::Bytes(vec![0xff, 0]));
        Properties {
            headers: Some(h),
            content_type: Some("application/json".into()),
            priority: Some(5),
            kind: Some("order".into()),
            ..Properties::default()
        }
    }

    #[test]
    fn routing_properties_headers_and_body_are_variables() {
        let p = headers();
        let body = br#"{"level": "error", "n": 7}"#;
        for source in [
            r#"routing_key.startsWith("orders.") && exchange == "shop" && redelivered"#,
            r#"content_type == "application/json" && priority > 3 && type == "order""#,
            r#"headers.attempt == 3 && headers.region == "eu" && headers.price > 19.98"#,
            r#""a" in headers.tags && headers.raw == b"\xff\x00""#,
            r#"json.level == "error" && json.n == 7"#,
            r#"text.contains("error") && body.size() == 26"#,
            r#"text.matches("level.*error")"#,
            r#"message_id == null && !has(headers.missing)"#,
        ] {
            assert_eq!(judge(source, &p, body), Verdict::Matches, "{source}");
        }
        assert_eq!(judge("priority < 3", &p, body), Verdict::Skips);
    }

    #[test]
    fn a_body_that_is_not_json_or_text_is_null_there() {
        let p = Properties::default();
        assert_eq!(
            judge("json == null && text == null", &p, b"\xff\xfe"),
            Verdict::Matches
        );
        assert_eq!(
            judge("json == null && text == 'x{'", &p, b"x{"),
            Verdict::Matches
        );
        assert_eq!(judge("headers.size() == 0", &p, b""), Verdict::Matches);
    }

    #[test]
    fn failures_and_non_bools_do_not_match_and_are_counted() {
        let p = Properties::default();
        let filter = Filter::compile("json.level == 'error'").expect("compiles");
        assert_eq!(
            filter.judge_message(&message_with(&p, b"plain")),
            Verdict::Skips
        );
        assert_eq!(
            filter.judge_message(&message_with(&p, b"[1]")),
            Verdict::Skips
        );
        assert_eq!(filter.failures.get(), 2);
        let filter = Filter::compile("routing_key").expect("compiles");
        assert_eq!(filter.judge_message(&message_with(&p, b"")), Verdict::Skips);
        assert_eq!(filter.failures.get(), 1);
    }

    #[test]
    fn unknown_names_and_syntax_errors_are_usage_errors() {
        let Err(Error::Usage(why)) = Filter::compile("routingkey == 'x'") else {
            panic!("an unknown name compiles");
        };
        assert!(why.contains("unknown name 'routingkey'"), "{why}");
        assert!(why.contains("routing_key, exchange"), "{why}");
        let Err(Error::Usage(why)) = Filter::compile("routing_key ==") else {
            panic!("a syntax error compiles");
        };
        assert!(why.starts_with("--filter \"routing_key ==\": "), "{why}");
        assert!(!why.contains('\n'), "{why}");
    }

    #[test]
    fn macros_with_their_own_names_are_not_unknown() {
        let p = headers();
        let source = r#"headers.tags.exists(t, t == "a") && [1, 2].all(x, x > 0)"#;
        assert_eq!(judge(source, &p, b""), Verdict::Matches);
    }
}
