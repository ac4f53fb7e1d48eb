//! Property tests of `KEY=VALUE` values (`--arg`, `--header`).

use proptest::prelude::*;

use crate::cmd::args::values::parse_key_value;
use amqpctl::amqp::Value;

use crate::cmd::proptest_kit::{check, pieces, text};

// ---------------------------------------------------------------------------
// 2. `--arg` / `--header` values.

/// Rust's `i64` syntax: an optional sign, then ASCII digits.
fn looks_like_integer(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

#[test]
fn key_values_never_panic() {
    check(
        "key_value",
        "never_panics",
        pieces(vec![
            "=",
            "==",
            "true",
            "false",
            "-",
            "+",
            "1",
            "9223372036854775808",
            "-9223372036854775809",
            "0x10",
            "1e3",
            " 1",
        ]),
        |s| {
            let _ = parse_key_value(&s);
            let _ = Value::from_cli(&s);
            Ok(())
        },
    );
}

#[test]
fn key_values_split_at_the_first_equals_sign() {
    check(
        "key_value",
        "split_at_first_equals",
        (text(), pieces(vec!["=", "true", "false", "1", "-"])),
        |(key, value)| {
            let key: String = key.chars().filter(|&c| c != '=').collect();
            let parsed = parse_key_value(&format!("{key}={value}"));
            if key.is_empty() {
                prop_assert!(parsed.is_err(), "{:?}", parsed);
            } else {
                prop_assert_eq!(parsed, Ok((key, Value::from_cli(&value))));
            }
            Ok(())
        },
    );
}

#[test]
fn key_values_without_equals_sign_are_refused() {
    check("key_value", "no_equals_refused", text(), |s| {
        let s: String = s.chars().filter(|&c| c != '=').collect();
        prop_assert!(parse_key_value(&s).is_err());
        Ok(())
    });
}

#[test]
fn cli_values_are_typed() {
    let other = pieces(vec![
        "1",
        "-",
        "+",
        "0",
        "true",
        "false",
        "True",
        " ",
        "1.5",
        "99999999999999999999",
    ]);
    check(
        "key_value",
        "typed",
        (any::<i64>(), any::<bool>(), other),
        |(n, plus, s)| {
            prop_assert_eq!(Value::from_cli(&n.to_string()), Value::I64(n));
            if plus && n >= 0 {
                prop_assert_eq!(Value::from_cli(&format!("+{n}")), Value::I64(n));
            }
            prop_assert_eq!(Value::from_cli("true"), Value::Bool(true));
            prop_assert_eq!(Value::from_cli("false"), Value::Bool(false));
            let expected = if s == "true" {
                Value::Bool(true)
            } else if s == "false" {
                Value::Bool(false)
            } else if looks_like_integer(&s) && s.parse::<i64>().is_ok() {
                Value::I64(s.parse().unwrap())
            } else {
                // Not an integer (or one out of i64's range): kept as text.
                Value::Str(s.clone())
            };
            prop_assert_eq!(Value::from_cli(&s), expected);
            Ok(())
        },
    );
}
