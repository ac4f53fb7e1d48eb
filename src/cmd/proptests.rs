//! Property tests of the command line's parsers: URLs, KEY=VALUE values,
//! `--format` templates and delimiters, JSON envelopes, RFC 3339 times.
//!
//! Every property runs `cases()` cases: `PROPTEST_CASES`, 256 by default so
//! that `cargo test` stays fast; `scripts/fuzz` runs them with many more.
//! Each property prints how many cases it really ran
//! (`proptest-cases TARGET PROPERTY ran=N skipped=M ok|FAILED`, seen with
//! `--nocapture`); once `FUZZ_DEADLINE` (seconds since the epoch) has passed,
//! it stops and counts the cases left as skipped, so that a fuzz run stays
//! within its time budget. Failures are saved by proptest under
//! `proptest-regressions/` and replayed first on every later run.
//!
//! The plain `#[test]`s at the end pin the bugs the fuzzing found (all fixed
//! since): each is a regression test.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::Parser;
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value as Json, json};

use super::connect::{ConnectionArgs, parse_url, redact};
use super::envelope::{Incoming, decode, table_to_json};
use super::format::{Token, parse_delimiter, parse_template};
use super::parse_key_value;
use super::time::parse_rfc3339;
use crate::error::Error;
use amqpctl::amqp::{Credentials, Properties, Table, Value};

// ---------------------------------------------------------------------------
// Configuration and case counting.

/// Cases per property: `PROPTEST_CASES`, or 256.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// `FUZZ_DEADLINE`, seconds since the epoch, if set.
static DEADLINE: LazyLock<Option<u64>> = LazyLock::new(|| {
    std::env::var("FUZZ_DEADLINE")
        .ok()
        .and_then(|v| v.parse().ok())
});

fn past_deadline() -> bool {
    DEADLINE.is_some_and(|deadline| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .is_ok_and(|now| now.as_secs() >= deadline)
    })
}

/// Cases per proptest run; the deadline is checked between runs.
const CHUNK: u32 = 1000;

/// Checks `test` on `cases()` values of `strategy` (what `proptest!` does),
/// in runs of at most `CHUNK` cases so that it can stop at the fuzz deadline,
/// and prints how many cases ran. Failures are saved under
/// `proptest-regressions/` and replayed first by every run.
///
/// Not the `proptest!` macro itself: it reads `PROPTEST_CASES` again on each
/// run, which would defeat the chunking.
fn check<S: Strategy>(
    target: &str,
    property: &str,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let planned = cases();
    let ran = AtomicU64::new(0);
    let mut done = 0;
    let mut failure = None;
    while done < planned && !past_deadline() {
        let n = (planned - done).min(CHUNK);
        let mut config = Config::with_cases(n);
        config.source_file = Some(file!());
        let mut runner = TestRunner::new(config);
        let outcome = runner.run(&strategy, |value| {
            ran.fetch_add(1, Ordering::Relaxed);
            test(value)
        });
        if let Err(e) = outcome {
            failure = Some(format!("{e}\n{runner}"));
            break;
        }
        done += n;
    }
    println!(
        "proptest-cases {target} {property} ran={} skipped={} {}",
        ran.load(Ordering::Relaxed),
        planned - done,
        if failure.is_some() { "FAILED" } else { "ok" }
    );
    if let Some(failure) = failure {
        panic!("{target} {property}: {failure}");
    }
}

// ---------------------------------------------------------------------------
// Shared generators.

/// Short strings, biased towards the characters parsers care about.
fn text() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        3 => any::<char>(),
        1 => select(vec![
            '%', ':', '@', '/', '?', '#', '[', ']', '=', '&', '+', '-', '.', ' ', '\\', '"',
            '{', '}', '\0', '\n', '\t', 'é', '€', '𝄞', 'Z', '0', 'x',
        ]),
    ];
    vec(c, 0..12).prop_map(|cs| cs.into_iter().collect())
}

/// Any string made of pieces from `pieces` and arbitrary text.
fn pieces(pieces: Vec<&'static str>) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => select(pieces).prop_map(String::from),
        1 => text(),
        1 => any::<char>().prop_map(String::from),
    ];
    prop_oneof![
        1 => any::<String>(),
        3 => vec(piece, 0..12).prop_map(|p| p.concat()),
    ]
}

/// Percent-encodes every byte but the RFC 3986 unreserved characters (and
/// those too when `all`: "%61" is as good as "a").
fn percent_encode(s: &str, upper: bool, all: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if !all && (b.is_ascii_alphanumeric() || b"-._~".contains(&b)) {
            out.push(b as char);
        } else if upper {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// 1. URL parsing (`--url`).

fn url_like() -> impl Strategy<Value = String> {
    pieces(vec![
        "amqp://",
        "amqps://",
        "AMQP://",
        "http://",
        "amqp:",
        "amqp:/",
        "amqp:///",
        "//",
        "user",
        "guest:guest@",
        "host",
        "@",
        ":",
        "[",
        "]",
        "[::1]",
        "[::ffff:1.2.3.4]",
        "[fe80::1%25eth0]",
        "1.2.3.4",
        "/",
        "?",
        "#",
        "&",
        "=",
        "?heartbeat=",
        "heartbeat=30",
        "heartbeat=99999",
        "%",
        "%2",
        "%2f",
        "%2F",
        "%25",
        "%zz",
        "%C3",
        "%C3%A9",
        "%ff",
        "%+f",
        "%-1",
        ":0",
        ":1",
        ":5672",
        ":65535",
        ":65536",
        ":99999999999999999999",
        ":-1",
        ":+5",
        "\\",
        " ",
        "\t",
        "\n",
        "%2e",
        "..",
        ".",
    ])
}

/// Parses connection flags the way the command line does.
#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    c: ConnectionArgs,
}

#[derive(Debug, Clone)]
enum Host {
    Name(String),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

#[derive(Debug, Clone)]
struct UrlModel {
    tls: bool,
    host: Option<Host>,
    port: Option<u16>,
    credentials: Option<(String, String)>,
    vhost: Option<String>,
    heartbeat: Option<u16>,
    upper_hex: bool,
    /// Percent-encode unreserved characters too.
    encode_all: bool,
}

impl UrlModel {
    fn to_url(&self) -> String {
        let enc = |s: &str| percent_encode(s, self.upper_hex, self.encode_all);
        let mut url = String::from(if self.tls { "amqps://" } else { "amqp://" });
        if let Some((user, pass)) = &self.credentials {
            url.push_str(&format!("{}:{}@", enc(user), enc(pass)));
        }
        match &self.host {
            None => {}
            Some(Host::Name(name)) => url.push_str(&enc(name)),
            Some(Host::V4(ip)) => url.push_str(&ip.to_string()),
            Some(Host::V6(ip)) => url.push_str(&format!("[{ip}]")),
        }
        if let Some(port) = self.port {
            url.push_str(&format!(":{port}"));
        }
        if let Some(vhost) = &self.vhost {
            url.push('/');
            url.push_str(&enc(vhost));
        }
        if let Some(heartbeat) = self.heartbeat {
            url.push_str(&format!("?heartbeat={heartbeat}"));
        }
        url
    }
}

fn url_model() -> impl Strategy<Value = UrlModel> {
    let label = "[a-zA-Z0-9]([a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?";
    let name = proptest::string::string_regex(&format!("{label}(\\.{label}){{0,3}}"))
        .expect("valid regex");
    let host = prop_oneof![
        3 => name.prop_map(Host::Name),
        1 => any::<[u8; 4]>().prop_map(|b| Host::V4(Ipv4Addr::from(b))),
        1 => any::<u128>().prop_map(|n| Host::V6(Ipv6Addr::from(n))),
    ];
    (
        any::<bool>(),
        option::of(host),
        option::of(1..=u16::MAX),
        option::of((text(), text())),
        option::of(text()),
        option::of(any::<u16>()),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(tls, host, port, credentials, vhost, heartbeat, upper_hex, encode_all)| {
                // Without a host, a URL can carry neither credentials nor a
                // port ("amqp://u:p@/v" is refused by the URL library).
                let (port, credentials) = if host.is_some() {
                    (port, credentials)
                } else {
                    (None, None)
                };
                UrlModel {
                    tls,
                    host,
                    port,
                    credentials,
                    vhost,
                    heartbeat,
                    upper_hex,
                    encode_all,
                }
            },
        )
}

#[test]
fn url_parsing_never_panics() {
    check("url", "never_panics", url_like(), |raw| {
        let _ = parse_url(&raw);
        let _ = redact(&raw);
        Ok(())
    });
}

#[test]
fn url_errors_never_show_the_password() {
    let scheme = select(vec!["amqp://", "amqps://", "AMQP://", "http://", "ftp://"]);
    check(
        "url",
        "errors_never_show_the_password",
        (scheme, "[a-zA-Z0-9]{1,8}", "[a-zA-Z0-9]{8,16}", url_like()),
        |(scheme, user, password, rest)| {
            prop_assume!(!rest.contains(&password) && !user.contains(&password));
            let raw = format!("{scheme}{user}:{password}@{rest}");
            match parse_url(&raw) {
                Err(e) => {
                    prop_assert!(matches!(e, Error::Usage(_)), "not a usage error: {e:?}");
                    let msg = e.to_string();
                    prop_assert!(!msg.contains(&password), "{raw:?} gave {msg:?}");
                }
                // Parsed: the password may only be in the credentials, not in
                // the host or vhost (which end up in messages and logs).
                Ok(parts) => {
                    let shown = format!("{parts:?}");
                    prop_assert_eq!(shown.matches(password.as_str()).count(), 1, "{}", shown);
                }
            }
            prop_assert!(!redact(&raw).contains(&password));
            Ok(())
        },
    );
}

#[test]
fn url_parts_are_decoded_back_exactly() {
    check("url", "round_trip", url_model(), |m| {
        let url = m.to_url();
        let flags = Flags::try_parse_from(["t".to_string(), format!("--url={url}")])
            .map_err(|e| TestCaseError::fail(format!("{url}: {e}")))?;
        let s = match flags.c.resolve() {
            Ok(r) => r.settings,
            Err(e) => return Err(TestCaseError::fail(format!("{url}: {e}"))),
        };
        prop_assert_eq!(s.tls.is_some(), m.tls, "{}", url);
        prop_assert_eq!(s.endpoints.len(), 1);
        let endpoint = &s.endpoints[0];
        let port = m.port.unwrap_or(if m.tls { 5671 } else { 5672 });
        prop_assert_eq!(endpoint.port, port, "{}", url);
        match &m.host {
            None => prop_assert_eq!(&endpoint.host, "localhost", "{}", url),
            Some(Host::Name(name)) => prop_assert_eq!(&endpoint.host, name, "{}", url),
            Some(Host::V4(ip)) => prop_assert_eq!(&endpoint.host, &ip.to_string(), "{}", url),
            Some(Host::V6(ip)) => {
                prop_assert_eq!(endpoint.host.parse::<Ipv6Addr>().ok(), Some(*ip), "{}", url)
            }
        }
        // No vhost, or an empty one ("amqp://host/"), means the default "/".
        let vhost = match m.vhost.as_deref() {
            None | Some("") => "/",
            Some(v) => v,
        };
        prop_assert_eq!(&s.vhost, vhost, "{}", url);
        // "user:pass@" with both empty is no credentials at all.
        let expected = match &m.credentials {
            Some((u, p)) if !(u.is_empty() && p.is_empty()) => Credentials::Plain {
                username: u.clone(),
                password: p.clone(),
            },
            _ => Credentials::Plain {
                username: "guest".into(),
                password: "guest".into(),
            },
        };
        // Credentials' Debug hides the password: compare, then show the parts.
        if s.credentials != expected {
            let got = match &s.credentials {
                Credentials::Plain { username, password } => format!("{username:?}:{password:?}"),
                Credentials::External => "External".into(),
            };
            return Err(TestCaseError::fail(format!(
                "{url}: credentials {got}, want {:?}",
                m.credentials
            )));
        }
        prop_assert_eq!(s.heartbeat, m.heartbeat.unwrap_or(60), "{}", url);
        Ok(())
    });
}

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

// ---------------------------------------------------------------------------
// 3. `--format` templates and `--delimiter`.

fn template_like() -> impl Strategy<Value = String> {
    pieces(vec![
        "%",
        "%%",
        "%b",
        "%e",
        "%k",
        "%h",
        "%T",
        "%d",
        "%r",
        "%p",
        "%p{",
        "%p{}",
        "%p{type}",
        "%p{message_id}",
        "%p{app_id",
        "%p{é}",
        "%z",
        "%é",
        "{",
        "}",
        "\\",
        "\\\\",
        "\\n",
        "\\t",
        "\\r",
        "\\0",
        "\\x",
        "\\x4",
        "\\x41",
        "\\xff",
        "\\xé1",
        "\\x1é",
        "\\x+f",
        "\\é",
        "\\q",
        "é",
        "€",
        "𝄞",
    ])
}

/// One piece of a generated template, with what it must parse into.
#[derive(Debug, Clone)]
enum Piece {
    /// Text without `%` or `\`.
    Text(String),
    /// `%%`.
    Percent,
    /// An escape and its byte.
    Escape(String, u8),
    /// A `%` token.
    Token(&'static str, Token),
}

fn plain_text() -> impl Strategy<Value = String> {
    text().prop_map(|s| s.chars().filter(|c| !matches!(c, '%' | '\\')).collect())
}

fn piece() -> impl Strategy<Value = Piece> {
    use super::format::Property as P;
    let escape = prop_oneof![
        select(vec![
            ("\\n", b'\n'),
            ("\\t", b'\t'),
            ("\\r", b'\r'),
            ("\\0", 0),
            ("\\\\", b'\\'),
        ])
        .prop_map(|(e, b)| Piece::Escape(e.into(), b)),
        (any::<u8>(), any::<bool>()).prop_map(|(b, upper)| {
            let e = if upper {
                format!("\\x{b:02X}")
            } else {
                format!("\\x{b:02x}")
            };
            Piece::Escape(e, b)
        }),
    ];
    let token = select(vec![
        ("%b", Token::Body),
        ("%e", Token::Exchange),
        ("%k", Token::RoutingKey),
        ("%h", Token::Headers),
        ("%T", Token::Timestamp),
        ("%d", Token::DeliveryTag),
        ("%r", Token::Redelivered),
        ("%p{content_type}", Token::Property(P::ContentType)),
        ("%p{content_encoding}", Token::Property(P::ContentEncoding)),
        ("%p{delivery_mode}", Token::Property(P::DeliveryMode)),
        ("%p{priority}", Token::Property(P::Priority)),
        ("%p{correlation_id}", Token::Property(P::CorrelationId)),
        ("%p{reply_to}", Token::Property(P::ReplyTo)),
        ("%p{expiration}", Token::Property(P::Expiration)),
        ("%p{message_id}", Token::Property(P::MessageId)),
        ("%p{timestamp}", Token::Property(P::Timestamp)),
        ("%p{type}", Token::Property(P::Type)),
        ("%p{user_id}", Token::Property(P::UserId)),
        ("%p{app_id}", Token::Property(P::AppId)),
    ])
    .prop_map(|(s, t)| Piece::Token(s, t));
    prop_oneof![
        3 => plain_text().prop_map(Piece::Text),
        1 => Just(Piece::Percent),
        2 => escape,
        2 => token,
    ]
}

/// The template text of `pieces`, and the tokens it must parse into.
fn render_pieces(pieces: &[Piece]) -> (String, Vec<Token>) {
    let mut spec = String::new();
    let mut tokens = Vec::new();
    let mut literal = Vec::new();
    for p in pieces {
        match p {
            Piece::Text(t) => {
                spec.push_str(t);
                literal.extend_from_slice(t.as_bytes());
            }
            Piece::Percent => {
                spec.push_str("%%");
                literal.push(b'%');
            }
            Piece::Escape(e, b) => {
                spec.push_str(e);
                literal.push(*b);
            }
            Piece::Token(s, t) => {
                spec.push_str(s);
                if !literal.is_empty() {
                    tokens.push(Token::Literal(std::mem::take(&mut literal)));
                }
                tokens.push(t.clone());
            }
        }
    }
    if !literal.is_empty() {
        tokens.push(Token::Literal(literal));
    }
    (spec, tokens)
}

#[test]
fn templates_and_delimiters_never_panic() {
    check("format", "never_panics", template_like(), |spec| {
        let _ = parse_template(&spec);
        let _ = parse_delimiter(&spec);
        let _ = super::format::Format::parse(&spec, Some(b"\n"));
        let _ = super::format::Format::parse(&spec, None);
        Ok(())
    });
}

#[test]
fn plain_text_templates_are_one_literal() {
    check("format", "plain_text_is_literal", plain_text(), |spec| {
        let expected = if spec.is_empty() {
            vec![]
        } else {
            vec![Token::Literal(spec.as_bytes().to_vec())]
        };
        prop_assert_eq!(parse_template(&spec), Ok(expected));
        if spec.is_empty() {
            prop_assert!(parse_delimiter(&spec).is_err());
        } else {
            prop_assert_eq!(
                parse_delimiter(&spec).map(|d| d.0),
                Ok(spec.as_bytes().to_vec())
            );
        }
        Ok(())
    });
}

#[test]
fn double_percent_is_a_literal_percent() {
    check(
        "format",
        "double_percent",
        vec(plain_text(), 1..6),
        |parts| {
            let spec = parts.join("%%");
            let literal = parts.join("%").into_bytes();
            let expected = if literal.is_empty() {
                vec![]
            } else {
                vec![Token::Literal(literal)]
            };
            prop_assert_eq!(parse_template(&spec), Ok(expected), "{:?}", spec);
            Ok(())
        },
    );
}

#[test]
fn templates_parse_into_their_tokens() {
    check(
        "format",
        "tokens_round_trip",
        vec(piece(), 0..10),
        |pieces| {
            let (spec, tokens) = render_pieces(&pieces);
            prop_assert_eq!(parse_template(&spec), Ok(tokens), "{:?}", spec);
            // A delimiter takes the same escapes (and no tokens).
            if !pieces
                .iter()
                .any(|p| matches!(p, Piece::Token(..) | Piece::Percent))
            {
                let (_, tokens) = render_pieces(&pieces);
                let bytes: Vec<u8> = tokens
                    .into_iter()
                    .flat_map(|t| match t {
                        Token::Literal(b) => b,
                        _ => unreachable!(),
                    })
                    .collect();
                if bytes.is_empty() {
                    prop_assert!(parse_delimiter(&spec).is_err());
                } else {
                    prop_assert_eq!(parse_delimiter(&spec).map(|d| d.0), Ok(bytes), "{:?}", spec);
                }
            }
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------
// 4. JSON envelopes (`pub --format json`).

fn header_key() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => select(vec!["type", "value", "scale", "x-match"]).prop_map(String::from),
        3 => text(),
    ]
}

/// Any typed header value (finite floats only: JSON has no NaN/inf).
fn header_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i8>().prop_map(Value::I8),
        any::<u8>().prop_map(Value::U8),
        any::<i16>().prop_map(Value::I16),
        any::<u16>().prop_map(Value::U16),
        any::<i32>().prop_map(Value::I32),
        any::<u32>().prop_map(Value::U32),
        any::<i64>().prop_map(Value::I64),
        any::<f32>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::F32),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::F64),
        (any::<u8>(), any::<u32>()).prop_map(|(scale, value)| Value::Decimal { scale, value }),
        text().prop_map(Value::Str),
        any::<u64>().prop_map(Value::Timestamp),
        vec(any::<u8>(), 0..16).prop_map(Value::Bytes),
        Just(Value::Void),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(header_key(), inner, 0..6).prop_map(Value::Table),
        ]
    })
}

fn headers() -> impl Strategy<Value = Table> {
    btree_map(header_key(), header_value(), 0..6)
}

/// Arbitrary JSON, biased towards what the envelope decoder looks at.
fn json_value() -> impl Strategy<Value = Json> {
    let word = select(vec![
        "i8",
        "u8",
        "i16",
        "u16",
        "i32",
        "u32",
        "i64",
        "f32",
        "f64",
        "timestamp",
        "bytes",
        "decimal",
        "void",
        "table",
        "nope",
        "utf8",
        "base64",
        "AAE=",
        "===",
    ]);
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        any::<u64>().prop_map(Json::from),
        select(vec![
            0i128,
            -1,
            255,
            256,
            65536,
            i128::from(u32::MAX) + 1,
            i128::from(i64::MIN),
            i128::from(u64::MAX),
        ])
        .prop_map(|n| serde_json::from_str::<Json>(&n.to_string()).unwrap_or(Json::Null)),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Json::Number)),
        word.prop_map(Json::from),
        text().prop_map(Json::from),
    ];
    let key = prop_oneof![
        select(vec![
            "type",
            "value",
            "scale",
            "headers",
            "body",
            "body_encoding",
            "exchange",
            "routing_key",
            "priority",
            "delivery_mode",
            "timestamp",
            "content_type",
            "app_id",
        ])
        .prop_map(String::from),
        text(),
    ];
    leaf.prop_recursive(4, 64, 6, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Json::Array),
            vec((key.clone(), inner.clone()), 0..6)
                .prop_map(|kv| Json::Object(kv.into_iter().collect())),
            (
                select(vec![
                    "i8",
                    "u8",
                    "i16",
                    "u16",
                    "i32",
                    "u32",
                    "i64",
                    "f32",
                    "f64",
                    "timestamp",
                    "bytes",
                    "decimal",
                    "void",
                    "table",
                    "x"
                ]),
                inner.clone(),
                option::of(inner)
            )
                .prop_map(|(kind, value, scale)| {
                    let mut m = Map::new();
                    m.insert("type".into(), json!(kind));
                    m.insert("value".into(), value);
                    if let Some(scale) = scale {
                        m.insert("scale".into(), scale);
                    }
                    Json::Object(m)
                }),
        ]
    })
}

#[test]
fn envelope_decoding_never_panics_on_bytes() {
    let jsonish = pieces(vec![
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        "\"",
        "\"type\"",
        "\"value\"",
        "\"headers\"",
        "\"body\"",
        "\"body_encoding\"",
        "\"base64\"",
        "\"utf8\"",
        "\"i8\"",
        "\"decimal\"",
        "\"table\"",
        "\"scale\"",
        "null",
        "true",
        "1e400",
        "-1",
        "18446744073709551616",
        "1.5",
        "\\u0000",
        "\\ud800",
        "{\"headers\":{",
        "{\"body\":",
    ]);
    check(
        "envelope",
        "never_panics_bytes",
        (vec(any::<u8>(), 0..64), jsonish),
        |(bytes, text)| {
            let _ = decode(&bytes);
            let _ = decode(text.as_bytes());
            Ok(())
        },
    );
}

#[test]
fn envelope_decoding_never_panics_on_json() {
    check(
        "envelope",
        "never_panics_json",
        (
            json_value(),
            json_value(),
            json_value(),
            json_value(),
            json_value(),
        ),
        |(json, headers, body, encoding, number)| {
            let _ = decode(&serde_json::to_vec(&json).unwrap());
            let envelope = json!({
                "exchange": "e",
                "headers": headers,
                "body": body,
                "body_encoding": encoding,
                "priority": number,
            });
            let _ = decode(&serde_json::to_vec(&envelope).unwrap());
            Ok(())
        },
    );
}

#[derive(Debug, Clone)]
struct EnvelopeModel {
    exchange: String,
    routing_key: String,
    body: Vec<u8>,
    body_as_text: bool,
    headers: Table,
    content_type: Option<String>,
    delivery_mode: Option<u8>,
    priority: Option<u8>,
    correlation_id: Option<String>,
    timestamp: Option<u64>,
    kind: Option<String>,
}

fn envelope_model() -> impl Strategy<Value = EnvelopeModel> {
    let body = prop_oneof![vec(any::<u8>(), 0..48), text().prop_map(String::into_bytes),];
    (
        (text(), text(), body, any::<bool>(), headers()),
        (
            option::of(text()),
            option::of(any::<u8>()),
            option::of(any::<u8>()),
            option::of(text()),
            option::of(any::<u64>()),
            option::of(text()),
        ),
    )
        .prop_map(
            |(
                (exchange, routing_key, body, body_as_text, headers),
                (content_type, delivery_mode, priority, correlation_id, timestamp, kind),
            )| EnvelopeModel {
                exchange,
                routing_key,
                body,
                body_as_text,
                headers,
                content_type,
                delivery_mode,
                priority,
                correlation_id,
                timestamp,
                kind,
            },
        )
}

#[test]
fn envelopes_decode_back_exactly() {
    check("envelope", "round_trip", envelope_model(), |m| {
        let mut line = Map::new();
        line.insert("exchange".into(), json!(m.exchange));
        line.insert("routing_key".into(), json!(m.routing_key));
        line.insert("headers".into(), table_to_json(&m.headers));
        match std::str::from_utf8(&m.body) {
            Ok(text) if m.body_as_text => {
                line.insert("body".into(), json!(text));
                line.insert("body_encoding".into(), json!("utf8"));
            }
            _ => {
                line.insert("body".into(), json!(BASE64.encode(&m.body)));
                line.insert("body_encoding".into(), json!("base64"));
            }
        }
        let mut put = |k: &str, v: Option<Json>| {
            if let Some(v) = v {
                line.insert(k.into(), v);
            }
        };
        put("content_type", m.content_type.as_ref().map(|v| json!(v)));
        put("delivery_mode", m.delivery_mode.map(|v| json!(v)));
        put("priority", m.priority.map(|v| json!(v)));
        put(
            "correlation_id",
            m.correlation_id.as_ref().map(|v| json!(v)),
        );
        put("timestamp", m.timestamp.map(|v| json!(v)));
        put("type", m.kind.as_ref().map(|v| json!(v)));
        let bytes = serde_json::to_vec(&Json::Object(line)).unwrap();
        let expected = Incoming {
            exchange: m.exchange.clone(),
            routing_key: m.routing_key.clone(),
            properties: Properties {
                content_type: m.content_type.clone(),
                headers: Some(m.headers.clone()),
                delivery_mode: m.delivery_mode,
                priority: m.priority,
                correlation_id: m.correlation_id.clone(),
                timestamp: m.timestamp,
                kind: m.kind.clone(),
                ..Properties::default()
            },
            body: m.body.clone(),
        };
        prop_assert_eq!(
            decode(&bytes),
            Ok(expected),
            "{}",
            String::from_utf8_lossy(&bytes)
        );
        Ok(())
    });
}

// ---------------------------------------------------------------------------
// 5. RFC 3339 times (`con --offset`).

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01, by counting whole years and months.
fn days_since_epoch(y: i64, m: i64, d: i64) -> i64 {
    let years: i64 = (1970..y).map(|y| if is_leap(y) { 366 } else { 365 }).sum();
    let months: i64 = (1..m).map(|m| days_in_month(y, m)).sum();
    years + months + d - 1
}

#[derive(Debug, Clone)]
struct TimeModel {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    frac: Option<String>,
    separator: char,
    /// None is `Z`; otherwise the offset in minutes (sign included).
    offset: Option<i64>,
    lower_z: bool,
}

impl TimeModel {
    fn text(&self) -> String {
        let mut s = format!(
            "{:04}-{:02}-{:02}{}{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.separator, self.hour, self.minute, self.second
        );
        if let Some(frac) = &self.frac {
            s.push('.');
            s.push_str(frac);
        }
        match self.offset {
            None if self.lower_z => s.push('z'),
            None => s.push('Z'),
            Some(minutes) => {
                let sign = if minutes < 0 { '-' } else { '+' };
                let minutes = minutes.abs();
                s.push_str(&format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60));
            }
        }
        s
    }

    fn expected(&self) -> Option<u64> {
        let secs = days_since_epoch(self.year, self.month, self.day) * 86_400
            + self.hour * 3600
            + self.minute * 60
            + self.second
            - self.offset.unwrap_or(0) * 60;
        u64::try_from(secs).ok()
    }
}

fn time_model() -> impl Strategy<Value = TimeModel> {
    (1970i64..=2100, 1i64..=12)
        .prop_flat_map(|(year, month)| {
            (
                Just(year),
                Just(month),
                1..=days_in_month(year, month),
                (0i64..24, 0i64..60, 0i64..60),
                option::of("[0-9]{1,9}"),
                select(vec!['T', 't', ' ']),
                option::of(-(23 * 60 + 59)..=(23 * 60 + 59i64)),
                any::<bool>(),
            )
        })
        .prop_map(
            |(year, month, day, (hour, minute, second), frac, separator, offset, lower_z)| {
                TimeModel {
                    year,
                    month,
                    day,
                    hour,
                    minute,
                    second,
                    frac,
                    separator,
                    offset,
                    lower_z,
                }
            },
        )
}

fn time_like() -> impl Strategy<Value = String> {
    let shaped = (
        "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,4})?([Zz]|[+-][0-9+-]{2}:[0-9+-]{2})?",
        any::<usize>(),
        any::<char>(),
        0..3usize,
    )
        .prop_map(|(s, at, c, how)| {
            // Replace, insert or keep a character somewhere.
            let mut chars: Vec<char> = s.chars().collect();
            let at = at % (chars.len() + 1);
            match how {
                0 if at < chars.len() => chars[at] = c,
                1 => chars.insert(at, c),
                _ => {}
            }
            chars.into_iter().collect::<String>()
        });
    prop_oneof![
        1 => any::<String>(),
        1 => pieces(vec!["2024-", "01-", "31T", "12:", "00:", "00", ".", "Z", "+01:00", "-", ":", "é"]),
        3 => shaped,
    ]
}

#[test]
fn rfc3339_never_panics() {
    check("time", "never_panics", time_like(), |s| {
        let _ = parse_rfc3339(&s);
        Ok(())
    });
}

#[test]
fn rfc3339_matches_a_day_count() {
    check("time", "matches_reference", time_model(), |t| {
        let text = t.text();
        prop_assert_eq!(parse_rfc3339(&text), t.expected(), "{}", text);
        Ok(())
    });
}

// ---------------------------------------------------------------------------
// Regressions: bugs the fuzzing found. These fail until the parsers are
// fixed; each says what is expected and what the parser does instead.

fn resolve_url(url: &str) -> Result<amqpctl::amqp::ConnectionSettings, Error> {
    let flags =
        Flags::try_parse_from(["t".to_string(), format!("--url={url}")]).expect("flags parse");
    flags.c.resolve().map(|r| r.settings)
}

#[test]
fn regression_url_without_authority_is_refused_and_hides_the_password() {
    // "amqp:/…" and "amqp:…" (a mistyped "amqp://") have no authority, which
    // the amqp URI grammar requires. They are accepted, taking the userinfo
    // as the vhost, and an error then echoes the password unredacted:
    // actual: Err("invalid --url amqp:/alice:s3cretpass@host/: the vhost
    // must be one path segment …").
    let Err(e) = parse_url("amqp:/alice:s3cretpass@host/") else {
        panic!("amqp:/… (no //host) should be refused");
    };
    assert!(!e.to_string().contains("s3cretpass"), "{e}");
    // actual: Ok(UrlParts { host: None, vhost: Some("alice:s3cretpass@host"),
    // credentials: None, .. }): the password would be sent as a vhost name.
    let parsed = parse_url("amqp:alice:s3cretpass@host");
    assert!(parsed.is_err(), "amqp:… (no //host) should be refused");
}

#[test]
fn regression_url_host_is_percent_decoded() {
    // The example of the RabbitMQ URI spec (Appendix A): host "hoast".
    // actual: host "ho%61st" (user, password and vhost are decoded).
    let s = resolve_url("amqp://user%61:%61pass@ho%61st:10000/v%2fhost").unwrap();
    assert_eq!(s.endpoints[0].host, "hoast");
    assert_eq!(s.vhost, "v/host");
    // A non-ASCII host is percent-encoded by the URL library (the amqp
    // scheme's host is opaque to it) and never decoded back.
    // actual: "h%C3%B6st".
    let s = resolve_url("amqp://h%C3%B6st/").unwrap();
    assert_eq!(s.endpoints[0].host, "höst");
}

#[test]
fn regression_url_percent_escape_needs_two_hex_digits() {
    // `u8::from_str_radix` accepts a leading '+', so "%+f" decodes to 0x0F.
    // actual: Ok, username "u\u{f}".
    assert!(
        parse_url("amqp://u%+f:pw@h/").is_err(),
        "%+f is not a percent-escape"
    );
    // actual: Ok, vhost "v\u{f}".
    assert!(
        parse_url("amqp://h/v%+f").is_err(),
        "%+f is not a percent-escape"
    );
}

#[test]
fn regression_vhost_dot_segments_are_not_dropped() {
    // "%2e" and "%2e%2e" are dot segments to the URL library, which removes
    // them: the vhosts "." and ".." silently become the default "/".
    // actual: "/" both times.
    assert_eq!(resolve_url("amqp://h/%2e").unwrap().vhost, ".");
    assert_eq!(resolve_url("amqp://h/%2E%2E").unwrap().vhost, "..");
}

#[test]
fn regression_template_hex_escape_needs_two_hex_digits() {
    // `u8::from_str_radix` accepts a leading '+': "\x+f" is taken as 0x0F.
    // actual: Ok([Literal([15])]) and Ok(Delimiter([15])).
    assert!(parse_template("\\x+f").is_err(), "\\x+f is not \\xNN");
    assert!(parse_delimiter("\\x+f").is_err(), "\\x+f is not \\xNN");
}

#[test]
fn regression_rfc3339_refuses_impossible_dates_and_offsets() {
    // Every month is taken to have 31 days, and the date rolls over.
    // actual: Some(1709251200), which is 2024-03-01T00:00:00Z.
    assert_eq!(parse_rfc3339("2024-02-30T00:00:00Z"), None);
    // actual: Some(1677628800), 2023-03-01 (2023 is not a leap year).
    assert_eq!(parse_rfc3339("2023-02-29T00:00:00Z"), None);
    // actual: Some(1714521600), 2024-05-01.
    assert_eq!(parse_rfc3339("2024-04-31T00:00:00Z"), None);
    // The offset's hours go through `i64::from_str`, which takes a sign:
    // "+-1:00" is read as -01:00. actual: Some(1704070800).
    assert_eq!(parse_rfc3339("2024-01-01T00:00:00+-1:00"), None);
    // Offsets are not range-checked. actual: Some(1703704860).
    assert_eq!(parse_rfc3339("2024-01-01T00:00:00+99:99"), None);
}

#[test]
fn regression_f64_headers_survive_the_json_envelope() {
    // serde_json parses floats with a fast algorithm that can be one ulp
    // off unless its `float_roundtrip` feature is on, so `con --format json
    // | pub --format json` changes some f64 headers (about 30% of random
    // bit patterns; 1/11 and sqrt(14) among everyday values).
    // actual: F64(0.09090909090909093) for 1/11.
    for f in [1.0 / 11.0, 14f64.sqrt(), -5.039677564043524e185] {
        let mut headers = Table::new();
        headers.insert("f".into(), Value::F64(f));
        let line = json!({ "headers": table_to_json(&headers) }).to_string();
        let decoded = decode(line.as_bytes()).unwrap();
        assert_eq!(decoded.properties.headers, Some(headers), "{line}");
    }
}
