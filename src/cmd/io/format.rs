//! How `con` and `get` print a message: the walkthrough's `Received: BODY`,
//! raw bodies, JSON envelopes, or a kcat-style template; and the escapes
//! (`\n \t \0 \xNN`) that templates and delimiters share.

use amqpctl::amqp::{Delivery, Properties};

use super::envelope;
use super::output::Lines;
use super::properties::{PROPERTIES, Shape, index_of};
use crate::error::Error;

/// Bodies this large or larger go to stdout from the delivery itself
/// instead of being copied into the batch's buffer first: for 1 MiB bodies
/// that copy was a tenth of `con`'s CPU (`perf record`).
const PASS_THROUGH: usize = 64 * 1024;

/// The help text of `--format`: the formats, then the template tokens
/// with every property `%p{name}` can name.
pub fn tokens_help() -> String {
    let names: Vec<&str> = PROPERTIES
        .iter()
        .filter(|p| p.shape != Shape::Headers)
        .map(|p| p.name)
        .collect();
    format!(
        "Output format: `received` (default: `Received: BODY`), `body` (raw bodies \
     ended by --delimiter), `json` (one envelope per line), or a template with \
     %b body, %e exchange, %k routing key, %h headers (JSON), %p{{name}} a property \
     ({}), \
     %T timestamp, %d delivery tag, %r redelivered, %% a percent sign, \
     and the escapes \\n \\t \\0 \\\\ \\xNN",
        names.join(", ")
    )
}

/// A parsed output format.
#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    /// `Received: BODY`.
    Received,
    /// The body, then the delimiter.
    Body(Vec<u8>),
    /// One JSON envelope per line.
    Json,
    /// A template.
    Template(Vec<Token>),
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    Literal(Vec<u8>),
    Body,
    Exchange,
    RoutingKey,
    Headers,
    /// `%p{name}`: the property at this index of [`PROPERTIES`].
    Property(usize),
    Timestamp,
    DeliveryTag,
    Redelivered,
}

impl Format {
    /// Parses `--format`, with `delimiter` for `body` (`\n` when not
    /// given). A delimiter given with another format, or a template with no
    /// `%` token (a misspelt format name prints the same text for every
    /// message), is refused.
    pub fn parse(spec: &str, delimiter: Option<&[u8]>) -> Result<Format, String> {
        let format = match spec {
            "received" => Format::Received,
            "body" => Format::Body(delimiter.unwrap_or(b"\n").to_vec()),
            "json" => Format::Json,
            template => {
                let tokens = parse_template(template)?;
                if tokens.iter().all(|t| matches!(t, Token::Literal(_))) {
                    return Err(format!(
                        "--format '{template}' is not received, body or json, and as a template it has no %-token (see --help)"
                    ));
                }
                Format::Template(tokens)
            }
        };
        if delimiter.is_some() && !matches!(format, Format::Body(_)) {
            return Err(format!(
                "--delimiter only applies to --format body (not --format {spec})"
            ));
        }
        Ok(format)
    }

    /// Writes `batch` to `lines` as [`Format::render`] renders it, through
    /// `rendered` (cleared first); a large body in `received` or `body`
    /// format is written from the delivery, not copied.
    pub fn write_batch(
        &self,
        batch: &[Delivery],
        rendered: &mut Vec<u8>,
        lines: &mut Lines,
    ) -> Result<(), Error> {
        rendered.clear();
        for d in batch {
            let body = d.body();
            let parts: [&[u8]; 3] = match self {
                Format::Received if body.len() >= PASS_THROUGH => [b"Received: ", body, b"\n"],
                Format::Body(delimiter) if body.len() >= PASS_THROUGH => [b"", body, delimiter],
                _ => {
                    self.render(d, rendered);
                    continue;
                }
            };
            lines.raw(rendered)?;
            rendered.clear();
            lines.parts(&parts)?;
        }
        lines.raw(rendered)
    }

    /// Appends the rendering of `d` to `out`.
    pub fn render(&self, d: &Delivery, out: &mut Vec<u8>) {
        match self {
            Format::Received => {
                out.extend_from_slice(b"Received: ");
                out.extend_from_slice(d.body());
                out.push(b'\n');
            }
            Format::Body(delimiter) => {
                out.extend_from_slice(d.body());
                out.extend_from_slice(delimiter);
            }
            Format::Json => {
                out.extend_from_slice(&envelope::encode(d));
                out.push(b'\n');
            }
            Format::Template(tokens) => {
                let properties = tokens
                    .iter()
                    .any(|t| matches!(t, Token::Headers | Token::Property(_) | Token::Timestamp))
                    .then(|| d.properties());
                for token in tokens {
                    render_token(token, d, properties.as_ref(), out);
                }
            }
        }
    }
}

fn render_token(token: &Token, d: &Delivery, p: Option<&Properties>, out: &mut Vec<u8>) {
    match token {
        Token::Literal(bytes) => out.extend_from_slice(bytes),
        Token::Body => out.extend_from_slice(d.body()),
        Token::Exchange => out.extend_from_slice(d.exchange().as_bytes()),
        Token::RoutingKey => out.extend_from_slice(d.routing_key().as_bytes()),
        Token::DeliveryTag => out.extend_from_slice(d.delivery_tag().to_string().as_bytes()),
        Token::Redelivered => out.extend_from_slice(d.redelivered().to_string().as_bytes()),
        Token::Headers => {
            let headers = p.and_then(|p| p.headers.clone()).unwrap_or_default();
            out.extend_from_slice(envelope::table_to_json(&headers).to_string().as_bytes());
        }
        Token::Property(index) => {
            if let Some(text) = p.and_then(|p| PROPERTIES[*index].text(p)) {
                out.extend_from_slice(text.as_bytes());
            }
        }
        Token::Timestamp => {
            if let Some(ts) = p.and_then(|p| p.timestamp) {
                out.extend_from_slice(ts.to_string().as_bytes());
            }
        }
    }
}

/// Parses a `--format` template into its tokens.
pub fn parse_template(spec: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut literal = Vec::new();
    let mut chars = spec.char_indices().peekable();
    let flush = |literal: &mut Vec<u8>, tokens: &mut Vec<Token>| {
        if !literal.is_empty() {
            tokens.push(Token::Literal(std::mem::take(literal)));
        }
    };
    while let Some((i, c)) = chars.next() {
        match c {
            '%' => {
                let token = match chars.next().map(|(_, c)| c) {
                    Some('%') => {
                        literal.push(b'%');
                        continue;
                    }
                    Some('b') => Token::Body,
                    Some('e') => Token::Exchange,
                    Some('k') => Token::RoutingKey,
                    Some('h') => Token::Headers,
                    Some('T') => Token::Timestamp,
                    Some('d') => Token::DeliveryTag,
                    Some('r') => Token::Redelivered,
                    Some('p') => {
                        let rest = &spec[i + 2..];
                        let name = rest
                            .strip_prefix('{')
                            .and_then(|r| r.split_once('}'))
                            .map(|(name, _)| name)
                            .ok_or_else(|| {
                                "--format: %p needs a property name: %p{name}".to_string()
                            })?;
                        let prop = index_of(name)
                            .filter(|i| PROPERTIES[*i].shape != Shape::Headers)
                            .ok_or_else(|| {
                                format!("--format: unknown property '{name}' in %p{{{name}}}")
                            })?;
                        for _ in 0..name.len() + 2 {
                            chars.next();
                        }
                        Token::Property(prop)
                    }
                    Some(other) => {
                        return Err(format!(
                            "--format: unknown token %{other} (known: %b %e %k %h %p{{name}} %T %d %r %%)"
                        ));
                    }
                    None => {
                        return Err(
                            "--format: a lone % ends the template (write %% for a percent sign)"
                                .into(),
                        );
                    }
                };
                flush(&mut literal, &mut tokens);
                tokens.push(token);
            }
            '\\' => {
                let rest = &spec[i..];
                let (bytes, used) = unescape_one(rest).map_err(|e| format!("--format: {e}"))?;
                literal.extend_from_slice(&bytes);
                for _ in 1..used {
                    chars.next();
                }
            }
            c => {
                let mut buf = [0u8; 4];
                literal.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    flush(&mut literal, &mut tokens);
    Ok(tokens)
}

/// Decodes the escape at the start of `s` (which starts with a backslash):
/// its bytes and how many characters it used.
fn unescape_one(s: &str) -> Result<(Vec<u8>, usize), String> {
    let mut chars = s.chars().skip(1);
    match chars.next() {
        Some('n') => Ok((vec![b'\n'], 2)),
        Some('t') => Ok((vec![b'\t'], 2)),
        Some('r') => Ok((vec![b'\r'], 2)),
        Some('0') => Ok((vec![0], 2)),
        Some('\\') => Ok((vec![b'\\'], 2)),
        Some('x') => {
            let hex: String = chars.take(2).collect();
            match u8::from_str_radix(&hex, 16) {
                Ok(b) if hex.len() == 2 && hex.bytes().all(|c| c.is_ascii_hexdigit()) => {
                    Ok((vec![b], 4))
                }
                _ => Err(format!("\\x needs two hex digits, not '{hex}'")),
            }
        }
        Some(other) => Err(format!(
            "unknown escape \\{other} (known: \\n \\t \\r \\0 \\\\ \\xNN)"
        )),
        None => Err("a lone \\ ends the text (write \\\\ for a backslash)".into()),
    }
}

/// A record delimiter given with `--delimiter` (one value, many bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delimiter(pub Vec<u8>);

/// Decodes escapes in a delimiter (`--delimiter '\0'`, `'\x1e'`).
pub fn parse_delimiter(s: &str) -> Result<Delimiter, String> {
    unescape(s).map(Delimiter)
}

fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c == '\\' {
            let (bytes, used) = unescape_one(rest)?;
            out.extend_from_slice(&bytes);
            rest = &rest[rest.char_indices().nth(used).map_or(rest.len(), |(i, _)| i)..];
        } else {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            rest = &rest[c.len_utf8()..];
        }
    }
    if out.is_empty() {
        return Err("the delimiter must not be empty".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_into_tokens() {
        assert_eq!(
            parse_template("%k=%b\\n").unwrap(),
            vec![
                Token::RoutingKey,
                Token::Literal(b"=".to_vec()),
                Token::Body,
                Token::Literal(b"\n".to_vec())
            ]
        );
        let tokens = parse_template("%p{message_id}|%%|\\x41").unwrap();
        assert!(
            matches!(tokens[0], Token::Property(i) if format!("%p{{{}}}|", PROPERTIES[i].name) == "%p{message_id}|"),
            "{tokens:?}"
        );
        assert_eq!(tokens[1..], [Token::Literal(b"|%|A".to_vec())]);
    }

    #[test]
    fn malformed_templates_say_what_is_wrong() {
        assert!(
            parse_template("%z")
                .unwrap_err()
                .contains("unknown token %z")
        );
        assert!(
            parse_template("%p{nope}")
                .unwrap_err()
                .contains("unknown property 'nope'")
        );
        assert!(
            parse_template("%p")
                .unwrap_err()
                .contains("%p needs a property name")
        );
        assert!(parse_template("50%").unwrap_err().contains("lone %"));
        assert!(
            parse_template("\\q")
                .unwrap_err()
                .contains("unknown escape \\q")
        );
        assert!(
            parse_template("\\xZZ")
                .unwrap_err()
                .contains("two hex digits")
        );
    }

    #[test]
    fn delimiters_take_escapes() {
        assert_eq!(unescape("\\n").unwrap(), b"\n");
        assert_eq!(unescape("\\0").unwrap(), b"\0");
        assert_eq!(unescape("\\x1e").unwrap(), b"\x1e");
        assert_eq!(unescape("--").unwrap(), b"--");
        assert_eq!(unescape("a\\tb").unwrap(), b"a\tb");
        assert!(unescape("").is_err());
    }
}

#[cfg(test)]
mod proptests;
