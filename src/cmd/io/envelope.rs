//! The JSON envelope: one message per line with its routing, every property
//! and its body, lossless in both directions, so that `con --format json`
//! piped into `pub --format json` moves messages byte for byte.
//!
//! Header values keep their AMQP type: booleans, 64-bit integers, strings,
//! arrays and tables are plain JSON; every other type is an object
//! `{"type": T, "value": V}` (`i8 u8 i16 u16 i32 u32 f32 f64 timestamp
//! bytes decimal void`, and `table` for a table that itself has a `type`
//! key). A string (`S`) that is not UTF-8 is `{"type": "string",
//! "encoding": "base64", "value": V}`. Bodies are UTF-8 text when they are
//! valid UTF-8, base64 otherwise, as `body_encoding` says.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Number, Value as Json, json};

use super::properties::{PROPERTIES, PropertyValue, Shape};
use amqpctl::amqp::{Delivery, Properties, Table, Value};

/// A message read from an envelope line, ready to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    pub exchange: String,
    pub routing_key: String,
    pub properties: Properties,
    pub body: Vec<u8>,
}

/// Encodes a delivery as one JSON object (without the newline).
pub fn encode(d: &Delivery) -> Vec<u8> {
    let mut m = routing_and_properties(d);
    match std::str::from_utf8(d.body()) {
        Ok(text) => {
            m.insert("body".into(), json!(text));
            m.insert("body_encoding".into(), json!("utf8"));
        }
        Err(_) => {
            m.insert("body".into(), json!(BASE64.encode(d.body())));
            m.insert("body_encoding".into(), json!("base64"));
        }
    }
    serde_json::to_vec(&Json::Object(m)).unwrap_or_default()
}

/// A delivery's envelope without its body: what `con --save-dir` keeps
/// beside the body file.
pub fn routing_and_properties(d: &Delivery) -> Map<String, Json> {
    let mut m = Map::new();
    m.insert("exchange".into(), json!(d.exchange()));
    m.insert("routing_key".into(), json!(d.routing_key()));
    m.insert("redelivered".into(), json!(d.redelivered()));
    m.insert("delivery_tag".into(), json!(d.delivery_tag()));
    properties_to_json(&d.properties(), &mut m);
    m
}

fn properties_to_json(p: &Properties, m: &mut Map<String, Json>) {
    for property in &PROPERTIES {
        let value = match property.get(p) {
            None => continue,
            Some(PropertyValue::Text(s)) => json!(s),
            Some(PropertyValue::Number(n)) => json!(n),
            Some(PropertyValue::Headers(h)) => table_to_json(&h),
        };
        m.insert(property.name.into(), value);
    }
}

/// Headers as a JSON object, typed as the module docs say.
pub fn table_to_json(t: &Table) -> Json {
    Json::Object(
        t.iter()
            .map(|(k, v)| (k.clone(), value_to_json(v)))
            .collect(),
    )
}

fn tagged(kind: &str, value: Json) -> Json {
    json!({ "type": kind, "value": value })
}

fn value_to_json(v: &Value) -> Json {
    match v {
        Value::Bool(b) => json!(b),
        Value::I64(n) => json!(n),
        Value::Str(s) => json!(s),
        Value::Array(items) => Json::Array(items.iter().map(value_to_json).collect()),
        Value::Table(t) if t.contains_key("type") => tagged("table", table_to_json(t)),
        Value::Table(t) => table_to_json(t),
        Value::I8(n) => tagged("i8", json!(n)),
        Value::U8(n) => tagged("u8", json!(n)),
        Value::I16(n) => tagged("i16", json!(n)),
        Value::U16(n) => tagged("u16", json!(n)),
        Value::I32(n) => tagged("i32", json!(n)),
        Value::U32(n) => tagged("u32", json!(n)),
        Value::F32(n) => tagged("f32", json!(n)),
        Value::F64(n) => tagged("f64", json!(n)),
        Value::Timestamp(t) => tagged("timestamp", json!(t)),
        Value::Bytes(b) => tagged("bytes", json!(BASE64.encode(b))),
        Value::StrBytes(b) => {
            json!({ "type": "string", "encoding": "base64", "value": BASE64.encode(b) })
        }
        Value::Decimal { scale, value } => {
            json!({ "type": "decimal", "scale": scale, "value": value })
        }
        Value::Void => tagged("void", Json::Null),
    }
}

/// Decodes one envelope line.
pub fn decode(line: &[u8]) -> Result<Incoming, String> {
    let json: Json = serde_json::from_slice(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let Json::Object(m) = json else {
        return Err("an envelope must be a JSON object".into());
    };
    // A misspelt key would otherwise be dropped without a word.
    if let Some(unknown) = m.keys().find(|k| !is_envelope_key(k)) {
        return Err(format!(
            "unknown key '{unknown}' (an envelope has body, body_encoding, exchange, routing_key and the message properties)"
        ));
    }
    let text = |k: &str| -> Result<Option<String>, String> {
        match m.get(k) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("'{k}' must be a string")),
        }
    };
    let number = |k: &str, max: u64| -> Result<Option<u64>, String> {
        match m.get(k) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::Number(n)) => match n.as_u64() {
                Some(v) if v <= max => Ok(Some(v)),
                _ => Err(format!("'{k}' must be an integer from 0 to {max}")),
            },
            Some(_) => Err(format!("'{k}' must be a number")),
        }
    };
    let mut properties = Properties::default();
    for property in &PROPERTIES {
        let key = property.name;
        let value = match property.shape {
            Shape::Text => text(key)?.map(PropertyValue::Text),
            Shape::Octet | Shape::Timestamp => {
                number(key, property.shape.max())?.map(PropertyValue::Number)
            }
            Shape::Headers => match m.get(key) {
                None | Some(Json::Null) => None,
                Some(Json::Object(h)) => Some(PropertyValue::Headers(
                    json_to_table(h).map_err(|e| format!("{key}: {e}"))?,
                )),
                Some(_) => return Err(format!("'{key}' must be an object")),
            },
        };
        if let Some(value) = value {
            property.set(&mut properties, value);
        }
    }
    let body_text = text("body")?.unwrap_or_default();
    let body = match text("body_encoding")?.as_deref() {
        None | Some("utf8") => body_text.into_bytes(),
        Some("base64") => BASE64
            .decode(body_text.as_bytes())
            .map_err(|e| format!("body is not valid base64: {e}"))?,
        Some(other) => return Err(format!("unknown body_encoding '{other}' (utf8 or base64)")),
    };
    Ok(Incoming {
        exchange: text("exchange")?.unwrap_or_default(),
        routing_key: text("routing_key")?.unwrap_or_default(),
        properties,
        body,
    })
}

/// Whether `key` belongs in an envelope: what [`encode`] writes (the
/// delivery's tag and redelivered flag are read back and ignored).
fn is_envelope_key(key: &str) -> bool {
    const ROUTING: [&str; 6] = [
        "body",
        "body_encoding",
        "exchange",
        "routing_key",
        "redelivered",
        "delivery_tag",
    ];
    ROUTING.contains(&key) || PROPERTIES.iter().any(|p| p.name == key)
}

fn json_to_table(m: &Map<String, Json>) -> Result<Table, String> {
    m.iter()
        .map(|(k, v)| {
            Ok((
                k.clone(),
                json_to_value(v).map_err(|e| format!("{k}: {e}"))?,
            ))
        })
        .collect()
}

fn json_to_value(v: &Json) -> Result<Value, String> {
    Ok(match v {
        Json::Null => Value::Void,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::I64(i),
            None => Value::F64(n.as_f64().ok_or("number out of range")?),
        },
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(items) => {
            Value::Array(items.iter().map(json_to_value).collect::<Result<_, _>>()?)
        }
        Json::Object(o) => match o.get("type") {
            Some(Json::String(kind)) => tagged_value(kind, o)?,
            _ => Value::Table(json_to_table(o)?),
        },
    })
}

fn tagged_value(kind: &str, o: &Map<String, Json>) -> Result<Value, String> {
    let value = o.get("value").unwrap_or(&Json::Null);
    let int = |min: i128, max: i128| -> Result<i128, String> {
        let n = value
            .as_number()
            .and_then(Number::as_i128)
            .ok_or_else(|| format!("a {kind} needs an integer value"))?;
        if n < min || n > max {
            return Err(format!("{n} does not fit a {kind}"));
        }
        Ok(n)
    };
    let float = || {
        value
            .as_f64()
            .ok_or_else(|| format!("a {kind} needs a number"))
    };
    Ok(match kind {
        "i8" => Value::I8(int(i8::MIN.into(), i8::MAX.into())? as i8),
        "u8" => Value::U8(int(0, u8::MAX.into())? as u8),
        "i16" => Value::I16(int(i16::MIN.into(), i16::MAX.into())? as i16),
        "u16" => Value::U16(int(0, u16::MAX.into())? as u16),
        "i32" => Value::I32(int(i32::MIN.into(), i32::MAX.into())? as i32),
        "u32" => Value::U32(int(0, u32::MAX.into())? as u32),
        "i64" => Value::I64(int(i64::MIN.into(), i64::MAX.into())? as i64),
        "timestamp" => Value::Timestamp(int(0, u64::MAX.into())? as u64),
        "f32" => Value::F32(float()? as f32),
        "f64" => Value::F64(float()?),
        "bytes" => Value::Bytes(
            BASE64
                .decode(value.as_str().ok_or("bytes need a base64 string")?)
                .map_err(|e| format!("bytes: {e}"))?,
        ),
        "string" => {
            let text = value.as_str().ok_or("a string needs a string value")?;
            match o.get("encoding").map(|e| (e, e.as_str())) {
                None | Some((_, Some("utf8"))) => Value::Str(text.to_string()),
                Some((_, Some("base64"))) => {
                    Value::StrBytes(BASE64.decode(text).map_err(|e| format!("string: {e}"))?)
                }
                Some((other, _)) => {
                    return Err(format!(
                        "unknown string encoding {other} (\"utf8\" or \"base64\")"
                    ));
                }
            }
        }
        "decimal" => Value::Decimal {
            scale: o
                .get("scale")
                .and_then(Json::as_u64)
                .and_then(|s| u8::try_from(s).ok())
                .ok_or("a decimal needs a scale from 0 to 255")?,
            value: int(0, u32::MAX.into())? as u32,
        },
        "void" => Value::Void,
        "table" => match value {
            Json::Object(t) => Value::Table(json_to_table(t)?),
            _ => return Err("a table needs an object value".into()),
        },
        other => return Err(format!("unknown AMQP type '{other}'")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_header_type_round_trips() {
        let mut inner = Table::new();
        inner.insert("type".into(), Value::Str("looks tagged".into()));
        inner.insert("n".into(), Value::U16(7));
        let mut t = Table::new();
        for (k, v) in [
            ("b", Value::Bool(true)),
            ("i8", Value::I8(-8)),
            ("u8", Value::U8(8)),
            ("i16", Value::I16(-16)),
            ("u16", Value::U16(16)),
            ("i32", Value::I32(-32)),
            ("u32", Value::U32(32)),
            ("i64", Value::I64(-64)),
            ("f32", Value::F32(1.5)),
            ("f64", Value::F64(-2.25)),
            (
                "dec",
                Value::Decimal {
                    scale: 2,
                    value: 314,
                },
            ),
            ("s", Value::Str("ü".into())),
            (
                "a",
                Value::Array(vec![Value::I32(1), Value::Void, Value::Str("x".into())]),
            ),
            ("ts", Value::Timestamp(1_700_000_000)),
            ("t", Value::Table(inner.clone())),
            ("x", Value::Bytes(vec![0, 255, 10])),
            ("sb", Value::StrBytes(vec![0xff, 0xfe, 0, b'a'])),
            ("v", Value::Void),
        ] {
            t.insert(k.into(), v);
        }
        let json = serde_json::to_vec(&table_to_json(&t)).unwrap();
        let back: Json = serde_json::from_slice(&json).unwrap();
        let Json::Object(m) = back else { panic!() };
        assert_eq!(json_to_table(&m).unwrap(), t);
    }

    #[test]
    fn strings_that_are_not_utf8_are_tagged_base64() {
        let mut t = Table::new();
        t.insert("s".into(), Value::StrBytes(vec![0xff, 0xfe, 0]));
        assert_eq!(
            table_to_json(&t).to_string(),
            r#"{"s":{"encoding":"base64","type":"string","value":"//4A"}}"#
        );
        let plain = json!({ "s": { "type": "string", "value": "ü" } });
        let Json::Object(m) = plain else { panic!() };
        assert_eq!(json_to_table(&m).unwrap()["s"], Value::Str("ü".into()));
        assert!(
            decode(br#"{"headers":{"s":{"type":"string","value":"x","encoding":"hex"}}}"#)
                .unwrap_err()
                .contains(r#"unknown string encoding "hex" ("utf8" or "base64")"#)
        );
    }

    #[test]
    fn decoding_reports_what_is_wrong() {
        assert!(
            decode(b"{\"body\":")
                .unwrap_err()
                .starts_with("invalid JSON")
        );
        assert_eq!(
            decode(b"[1]").unwrap_err(),
            "an envelope must be a JSON object"
        );
        assert_eq!(
            decode(br#"{"body":"x","body_encoding":"hex"}"#).unwrap_err(),
            "unknown body_encoding 'hex' (utf8 or base64)"
        );
        assert_eq!(
            decode(br#"{"priority":300}"#).unwrap_err(),
            "'priority' must be an integer from 0 to 255"
        );
        assert!(
            decode(br#"{"headers":{"h":{"type":"u8","value":300}}}"#)
                .unwrap_err()
                .contains("does not fit a u8")
        );
        let ok = decode(br#"{"exchange":"e","routing_key":"k","body":"AAE=","body_encoding":"base64","delivery_mode":2}"#).unwrap();
        assert_eq!(ok.body, vec![0, 1]);
        assert_eq!(ok.properties.delivery_mode, Some(2));
    }
}

#[cfg(test)]
mod proptests;
