//! The one table of the 13 message properties (AMQP's basic.properties):
//! their names and how each is read from and written into [`Properties`].
//! The JSON envelope's keys, the `%p{name}` tokens of `--format` (and their
//! help text) and the `AMQP_*` variables of `--exec` all come from it, so
//! they cannot drift apart.

use amqpctl::amqp::{Properties, Table};

/// What kind of value a property holds, which decides how it is written
/// as JSON and in text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A short string.
    Text,
    /// An octet (delivery mode, priority).
    Octet,
    /// A 64-bit timestamp, seconds since the epoch.
    Timestamp,
    /// The application headers, a field table.
    Headers,
}

impl Shape {
    /// The largest number a numeric property takes.
    pub fn max(self) -> u64 {
        match self {
            Shape::Octet => u64::from(u8::MAX),
            _ => u64::MAX,
        }
    }
}

/// One property's value, detached from [`Properties`].
#[derive(Debug, Clone, PartialEq)]
pub enum PropertyValue {
    /// A [`Shape::Text`] value.
    Text(String),
    /// A [`Shape::Octet`] or [`Shape::Timestamp`] value.
    Number(u64),
    /// The headers.
    Headers(Table),
}

/// One row of the table.
pub struct Property {
    /// The name everywhere amqpctl shows it: envelope key, `%p{name}`,
    /// and (upper-cased after `AMQP_`) the `--exec` variable.
    pub name: &'static str,
    /// Its kind of value.
    pub shape: Shape,
    get: fn(&Properties) -> Option<PropertyValue>,
    set: fn(&mut Properties, PropertyValue),
}

impl Property {
    /// The property's value in `p`, if set.
    pub fn get(&self, p: &Properties) -> Option<PropertyValue> {
        (self.get)(p)
    }

    /// Sets the property in `p`; a value of another shape is ignored (the
    /// callers decode by [`Property::shape`]).
    pub fn set(&self, p: &mut Properties, value: PropertyValue) {
        (self.set)(p, value)
    }

    /// The value as text: a `%p{name}` token and an `AMQP_*` variable.
    pub fn text(&self, p: &Properties) -> Option<String> {
        self.get(p).map(|v| match v {
            PropertyValue::Text(s) => s,
            PropertyValue::Number(n) => n.to_string(),
            PropertyValue::Headers(h) => super::envelope::table_to_json(&h).to_string(),
        })
    }

    /// The `--exec` environment variable that carries it.
    pub fn variable(&self) -> String {
        format!("AMQP_{}", self.name.to_ascii_uppercase())
    }
}

fn text(v: PropertyValue) -> Option<String> {
    match v {
        PropertyValue::Text(s) => Some(s),
        _ => None,
    }
}

fn octet(v: PropertyValue) -> Option<u8> {
    match v {
        PropertyValue::Number(n) => u8::try_from(n).ok(),
        _ => None,
    }
}

fn number(v: PropertyValue) -> Option<u64> {
    match v {
        PropertyValue::Number(n) => Some(n),
        _ => None,
    }
}

/// A row for a short-string property held in `Properties::$field`.
macro_rules! text_property {
    ($name:literal, $field:ident) => {
        Property {
            name: $name,
            shape: Shape::Text,
            get: |p| p.$field.clone().map(PropertyValue::Text),
            set: |p, v| p.$field = text(v),
        }
    };
}

/// A row for an octet property held in `Properties::$field`.
macro_rules! octet_property {
    ($name:literal, $field:ident) => {
        Property {
            name: $name,
            shape: Shape::Octet,
            get: |p| p.$field.map(|v| PropertyValue::Number(v.into())),
            set: |p, v| p.$field = octet(v),
        }
    };
}

/// Every property, in the order of the AMQP specification.
pub const PROPERTIES: [Property; 13] = [
    text_property!("content_type", content_type),
    text_property!("content_encoding", content_encoding),
    Property {
        name: "headers",
        shape: Shape::Headers,
        get: |p| p.headers.clone().map(PropertyValue::Headers),
        set: |p, v| {
            p.headers = match v {
                PropertyValue::Headers(h) => Some(h),
                _ => None,
            }
        },
    },
    octet_property!("delivery_mode", delivery_mode),
    octet_property!("priority", priority),
    text_property!("correlation_id", correlation_id),
    text_property!("reply_to", reply_to),
    text_property!("expiration", expiration),
    text_property!("message_id", message_id),
    Property {
        name: "timestamp",
        shape: Shape::Timestamp,
        get: |p| p.timestamp.map(PropertyValue::Number),
        set: |p, v| p.timestamp = number(v),
    },
    // AMQP's `type`, a keyword in Rust.
    text_property!("type", kind),
    text_property!("user_id", user_id),
    text_property!("app_id", app_id),
];

/// The property called `name`, as an index into [`PROPERTIES`].
pub fn index_of(name: &str) -> Option<usize> {
    PROPERTIES.iter().position(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use amqpctl::amqp::Value;

    /// A value of the right shape for `p`, distinct per property.
    fn sample(i: usize, p: &Property) -> PropertyValue {
        match p.shape {
            Shape::Text => PropertyValue::Text(format!("v{i}")),
            Shape::Octet | Shape::Timestamp => PropertyValue::Number(i as u64 + 1),
            Shape::Headers => {
                PropertyValue::Headers([("k".to_string(), Value::I64(1))].into_iter().collect())
            }
        }
    }

    #[test]
    fn each_property_reads_back_what_it_writes_and_touches_only_itself() {
        let mut all = Properties::default();
        for (i, p) in PROPERTIES.iter().enumerate() {
            let mut one = Properties::default();
            p.set(&mut one, sample(i, p));
            assert_eq!(p.get(&one), Some(sample(i, p)), "{}", p.name);
            let set = PROPERTIES.iter().filter(|q| q.get(&one).is_some()).count();
            assert_eq!(set, 1, "{} set more than itself", p.name);
            p.set(&mut all, sample(i, p));
        }
        // Setting one never clears another.
        assert!(PROPERTIES.iter().all(|p| p.get(&all).is_some()));
    }

    #[test]
    fn names_are_unique_and_make_exec_variables() {
        for (i, p) in PROPERTIES.iter().enumerate() {
            assert_eq!(index_of(p.name), Some(i));
        }
        assert_eq!(PROPERTIES[0].variable(), "AMQP_CONTENT_TYPE");
    }
}
