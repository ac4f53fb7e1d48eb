//! Property tests of `--format` templates and `--delimiter`, and a
//! regression the fuzzing found.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use crate::cmd::io::format::{Token, parse_delimiter, parse_template};
use crate::cmd::io::properties::{PROPERTIES, Shape};

use crate::cmd::proptest_kit::{check, pieces, text};

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
    Token(String, Token),
}

fn plain_text() -> impl Strategy<Value = String> {
    text().prop_map(|s| s.chars().filter(|c| !matches!(c, '%' | '\\')).collect())
}

fn piece() -> impl Strategy<Value = Piece> {
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
    // Every property %p{name} can name comes from the property table, so
    // a property added there is fuzzed here too.
    let mut tokens: Vec<(String, Token)> = [
        ("%b", Token::Body),
        ("%e", Token::Exchange),
        ("%k", Token::RoutingKey),
        ("%h", Token::Headers),
        ("%T", Token::Timestamp),
        ("%d", Token::DeliveryTag),
        ("%r", Token::Redelivered),
    ]
    .into_iter()
    .map(|(s, t)| (s.to_string(), t))
    .collect();
    tokens.extend(
        PROPERTIES
            .iter()
            .enumerate()
            .filter(|(_, p)| p.shape != Shape::Headers)
            .map(|(i, p)| (format!("%p{{{}}}", p.name), Token::Property(i))),
    );
    let token = select(tokens).prop_map(|(s, t)| Piece::Token(s, t));
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
        let _ = crate::cmd::io::format::Format::parse(&spec, Some(b"\n"));
        let _ = crate::cmd::io::format::Format::parse(&spec, None);
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

#[test]
fn regression_template_hex_escape_needs_two_hex_digits() {
    // `u8::from_str_radix` accepts a leading '+': "\x+f" is taken as 0x0F.
    // actual: Ok([Literal([15])]) and Ok(Delimiter([15])).
    assert!(parse_template("\\x+f").is_err(), "\\x+f is not \\xNN");
    assert!(parse_delimiter("\\x+f").is_err(), "\\x+f is not \\xNN");
}
