//! AMQP field values and tables in our own types, so that callers above this
//! layer never see amiquip's or amq-protocol's types.

use std::collections::BTreeMap;

use amiquip::{AmqpValue, FieldTable};

/// A field table: queue arguments, binding arguments, message headers.
pub type Table = BTreeMap<String, Value>;

/// One typed AMQP field value, as RabbitMQ understands them.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `t`: boolean.
    Bool(bool),
    /// `b`: signed 8-bit integer.
    I8(i8),
    /// `B`: unsigned 8-bit integer.
    U8(u8),
    /// `s`: signed 16-bit integer.
    I16(i16),
    /// `u`: unsigned 16-bit integer.
    U16(u16),
    /// `I`: signed 32-bit integer.
    I32(i32),
    /// `i`: unsigned 32-bit integer.
    U32(u32),
    /// `l`: signed 64-bit integer.
    I64(i64),
    /// `f`: 32-bit float.
    F32(f32),
    /// `d`: 64-bit float.
    F64(f64),
    /// `D`: decimal, `value` × 10^-`scale`.
    Decimal {
        /// Number of decimal digits after the point.
        scale: u8,
        /// The unscaled value.
        value: u32,
    },
    /// `S`: long string.
    Str(String),
    /// `S`: long string whose bytes are not UTF-8 (Java and C clients send
    /// `S` as bytes), kept byte for byte and sent again as `S`.
    StrBytes(Vec<u8>),
    /// `A`: array.
    Array(Vec<Value>),
    /// `T`: timestamp, seconds since the epoch.
    Timestamp(u64),
    /// `F`: nested table.
    Table(Table),
    /// `x`: byte array.
    Bytes(Vec<u8>),
    /// `V`: no value.
    Void,
}

impl Value {
    /// Types a command-line value the way the CLI contract says: integers
    /// become `l` (i64), `true`/`false` booleans, anything else a string.
    pub fn from_cli(text: &str) -> Value {
        if let Ok(n) = text.parse::<i64>() {
            Value::I64(n)
        } else if text == "true" {
            Value::Bool(true)
        } else if text == "false" {
            Value::Bool(false)
        } else {
            Value::Str(text.to_string())
        }
    }
}

pub(crate) fn to_amqp_table(table: &Table) -> FieldTable {
    table
        .iter()
        .map(|(k, v)| (k.clone(), to_amqp_value(v)))
        .collect()
}

pub(crate) fn from_amqp_table(table: &FieldTable) -> Table {
    table
        .iter()
        .map(|(k, v)| (k.clone(), from_amqp_value(v)))
        .collect()
}

fn to_amqp_value(value: &Value) -> AmqpValue {
    match value {
        Value::Bool(b) => AmqpValue::Boolean(*b),
        Value::I8(n) => AmqpValue::ShortShortInt(*n),
        Value::U8(n) => AmqpValue::ShortShortUInt(*n),
        Value::I16(n) => AmqpValue::ShortInt(*n),
        Value::U16(n) => AmqpValue::ShortUInt(*n),
        Value::I32(n) => AmqpValue::LongInt(*n),
        Value::U32(n) => AmqpValue::LongUInt(*n),
        Value::I64(n) => AmqpValue::LongLongInt(*n),
        Value::F32(n) => AmqpValue::Float(*n),
        Value::F64(n) => AmqpValue::Double(*n),
        Value::Decimal { scale, value } => AmqpValue::DecimalValue(amq_decimal(*scale, *value)),
        Value::Str(s) => AmqpValue::LongString(s.clone()),
        Value::StrBytes(b) => AmqpValue::LongStringBytes(b.clone()),
        Value::Array(items) => AmqpValue::FieldArray(items.iter().map(to_amqp_value).collect()),
        Value::Timestamp(t) => AmqpValue::Timestamp(*t),
        Value::Table(t) => AmqpValue::FieldTable(to_amqp_table(t)),
        Value::Bytes(b) => AmqpValue::ByteArray(b.clone()),
        Value::Void => AmqpValue::Void,
    }
}

fn from_amqp_value(value: &AmqpValue) -> Value {
    match value {
        AmqpValue::Boolean(b) => Value::Bool(*b),
        AmqpValue::ShortShortInt(n) => Value::I8(*n),
        AmqpValue::ShortShortUInt(n) => Value::U8(*n),
        AmqpValue::ShortInt(n) => Value::I16(*n),
        AmqpValue::ShortUInt(n) => Value::U16(*n),
        AmqpValue::LongInt(n) => Value::I32(*n),
        AmqpValue::LongUInt(n) => Value::U32(*n),
        AmqpValue::LongLongInt(n) => Value::I64(*n),
        AmqpValue::Float(n) => Value::F32(*n),
        AmqpValue::Double(n) => Value::F64(*n),
        AmqpValue::DecimalValue(d) => Value::Decimal {
            scale: d.scale,
            value: d.value,
        },
        AmqpValue::LongString(s) => Value::Str(s.clone()),
        AmqpValue::LongStringBytes(b) => Value::StrBytes(b.clone()),
        AmqpValue::FieldArray(items) => Value::Array(items.iter().map(from_amqp_value).collect()),
        AmqpValue::Timestamp(t) => Value::Timestamp(*t),
        AmqpValue::FieldTable(t) => Value::Table(from_amqp_table(t)),
        AmqpValue::ByteArray(b) => Value::Bytes(b.clone()),
        AmqpValue::Void => Value::Void,
    }
}

fn amq_decimal(scale: u8, value: u32) -> amq_protocol_types::DecimalValue {
    amq_protocol_types::DecimalValue { scale, value }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_values_are_typed_as_the_contract_says() {
        assert_eq!(Value::from_cli("60000"), Value::I64(60000));
        assert_eq!(Value::from_cli("-3"), Value::I64(-3));
        assert_eq!(Value::from_cli("true"), Value::Bool(true));
        assert_eq!(Value::from_cli("false"), Value::Bool(false));
        assert_eq!(
            Value::from_cli("reject-publish"),
            Value::Str("reject-publish".into())
        );
        assert_eq!(Value::from_cli("1.5"), Value::Str("1.5".into()));
    }

    #[test]
    fn tables_survive_the_round_trip_through_amiquip_types() {
        let mut inner = Table::new();
        inner.insert("n".into(), Value::I32(-7));
        let mut table = Table::new();
        table.insert("t".into(), Value::Table(inner));
        table.insert(
            "a".into(),
            Value::Array(vec![Value::Bool(true), Value::Void]),
        );
        table.insert("x".into(), Value::Bytes(vec![0, 255]));
        table.insert("s".into(), Value::StrBytes(vec![0xff, 0xfe, 0]));
        table.insert(
            "d".into(),
            Value::Decimal {
                scale: 2,
                value: 314,
            },
        );
        assert_eq!(from_amqp_table(&to_amqp_table(&table)), table);
    }
}
