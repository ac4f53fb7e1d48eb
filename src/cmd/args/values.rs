//! Value parsers for flags (seconds, `KEY=VALUE`, exchange types) and the
//! checks that refuse, before anything is sent, what the broker would
//! refuse or silently drop.

use std::time::Duration;

use crate::error::Error;
use amqpctl::amqp::{MAX_SHORT_STRING, Table, Value};

/// Refuses a name or key longer than AMQP can carry, saying which (`what`,
/// e.g. "the routing key (-k)"), before anything reaches the broker.
pub fn check_name(what: &str, value: &str) -> Result<(), Error> {
    if value.len() > MAX_SHORT_STRING {
        return Err(Error::Usage(format!(
            "{what} is {} bytes long; AMQP allows at most {MAX_SHORT_STRING}",
            value.len()
        )));
    }
    Ok(())
}

/// Refuses a key given twice in `--arg`/`--header` pairs: the broker would
/// see only one of the values.
pub fn check_unique_keys(flag: &str, pairs: &[(String, Value)]) -> Result<(), Error> {
    let mut seen = std::collections::BTreeSet::new();
    for (key, _) in pairs {
        if !seen.insert(key.as_str()) {
            return Err(Error::Usage(format!(
                "{flag} {key} is given twice; give each key once"
            )));
        }
    }
    Ok(())
}

/// Parses seconds with fractions ("1", "0.25"); rejects negatives and NaN.
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("'{s}' is not a valid number of seconds (must be 0 or more)"))
}

/// Parses a wait that must be longer than nothing (`--idle-timeout`): 0
/// would end before the first message could arrive.
pub fn parse_positive_seconds(s: &str) -> Result<Duration, String> {
    match parse_seconds(s)? {
        d if d.is_zero() => Err(format!("'{s}' is not a wait: give more than 0 seconds")),
        d => Ok(d),
    }
}

/// The longest per-message expiration RabbitMQ takes: 2^32-1 milliseconds
/// (about 49 days); a longer one is refused with 406.
pub const MAX_EXPIRATION_SECS: u64 = 4_294_967;

/// Parses `rpc call --timeout`: more than 0 (the request would expire
/// before a server could take it) and at most [`MAX_EXPIRATION_SECS`]
/// (the request carries it as its expiration).
pub fn parse_rpc_timeout(s: &str) -> Result<Duration, String> {
    match parse_positive_seconds(s)? {
        d if d.as_millis() < 1 => Err(format!("'{s}' is below the 1 ms a request can wait")),
        d if d.as_secs() > MAX_EXPIRATION_SECS => Err(format!(
            "'{s}' is longer than the {MAX_EXPIRATION_SECS} s a message may wait on RabbitMQ"
        )),
        d => Ok(d),
    }
}

/// Accepts the four standard exchange types and plugin types (`x-…`).
pub fn parse_exchange_type(s: &str) -> Result<String, String> {
    match s {
        "direct" | "fanout" | "topic" | "headers" => Ok(s.to_string()),
        plugin if plugin.starts_with("x-") && plugin.len() > 2 => Ok(s.to_string()),
        _ => Err(format!(
            "unknown exchange type '{s}' (direct, fanout, topic, headers, or a plugin's x-… type)"
        )),
    }
}

/// Parses `KEY=VALUE`, typing VALUE by its look as the CLI contract says,
/// or `KEY:TYPE=VALUE`, typing it as TYPE: `zip:string=01234` must reach
/// the broker as the text 01234, not the integer 1234. A key whose part
/// after its last `:` names no type is taken whole (`a:b=c` is key `a:b`).
pub fn parse_key_value(s: &str) -> Result<(String, Value), String> {
    let Some((key, text)) = s.split_once('=') else {
        return Err(format!("'{s}' is not KEY=VALUE"));
    };
    let (key, value) = match key.rsplit_once(':') {
        Some((name, kind)) if forced(kind, "").is_some() => (name, forced(kind, text)),
        _ => (key, Some(Ok(Value::from_cli(text)))),
    };
    if key.is_empty() {
        return Err(format!("'{s}' is not KEY=VALUE"));
    }
    match value {
        Some(Ok(value)) => Ok((key.to_string(), value)),
        Some(Err(e)) => Err(format!("'{s}': {e}")),
        None => Err(format!("'{s}' is not KEY=VALUE")),
    }
}

/// `text` as the type `kind` names, or None when `kind` names none of
/// string, int, float and bool.
fn forced(kind: &str, text: &str) -> Option<Result<Value, String>> {
    let value = match kind {
        "string" => Ok(Value::Str(text.to_string())),
        "int" => text
            .parse::<i64>()
            .map(Value::I64)
            .map_err(|_| format!("'{text}' is not an int (a whole number in 64 bits)")),
        "float" => match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::F64(f)),
            _ => Err(format!("'{text}' is not a float (a finite number)")),
        },
        "bool" => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("'{text}' is not a bool (true or false)")),
        },
        _ => return None,
    };
    Some(value)
}

/// Collects `KEY=VALUE` pairs into a table.
pub fn table(pairs: &[(String, Value)]) -> Table {
    pairs.iter().cloned().collect()
}

/// Parses `con --offset`: first, last, next, a non-negative offset, or an
/// RFC 3339 time (sent as an AMQP timestamp).
pub fn parse_offset(s: &str) -> Result<Value, String> {
    match s {
        "first" | "last" | "next" => Ok(Value::Str(s.to_string())),
        _ => {
            if let Ok(n) = s.parse::<u64>() {
                return i64::try_from(n)
                    .map(Value::I64)
                    .map_err(|_| format!("offset {s} is too large"));
            }
            super::rfc3339::parse_rfc3339(s)
                .map(Value::Timestamp)
                .ok_or_else(|| {
                    format!("'{s}' is not first, last, next, an offset or an RFC 3339 time")
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_take_fractions_and_refuse_negatives() {
        assert_eq!(parse_seconds("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_seconds("0"), Ok(Duration::ZERO));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("soon").is_err());
        assert!(parse_seconds("NaN").is_err());
    }

    #[test]
    fn key_values_are_typed() {
        assert_eq!(
            parse_key_value("x-max-length=10"),
            Ok(("x-max-length".into(), Value::I64(10)))
        );
        assert_eq!(
            parse_key_value("a=b=c"),
            Ok(("a".into(), Value::Str("b=c".into())))
        );
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=v").is_err());
    }

    #[test]
    fn a_type_after_the_key_forces_the_value_s_type() {
        let kv = |k: &str, v: Value| Ok((k.to_string(), v));
        assert_eq!(
            parse_key_value("zip:string=01234"),
            kv("zip", Value::Str("01234".into()))
        );
        assert_eq!(
            parse_key_value("t:string=true"),
            kv("t", Value::Str("true".into()))
        );
        assert_eq!(parse_key_value("n:int=-7"), kv("n", Value::I64(-7)));
        assert_eq!(parse_key_value("f:float=1.5"), kv("f", Value::F64(1.5)));
        assert_eq!(parse_key_value("b:bool=false"), kv("b", Value::Bool(false)));
        assert_eq!(parse_key_value("a:b=c"), kv("a:b", Value::Str("c".into())));
        assert_eq!(parse_key_value("a:b:int=1"), kv("a:b", Value::I64(1)));
        for bad in ["n:int=abc", "f:float=NaN", "b:bool=yes", ":string=x"] {
            assert!(parse_key_value(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn exchange_types_are_checked() {
        assert!(parse_exchange_type("fanout").is_ok());
        assert!(parse_exchange_type("x-delayed-message").is_ok());
        assert!(parse_exchange_type("fan-out").is_err());
    }
}

#[cfg(test)]
mod proptests;
