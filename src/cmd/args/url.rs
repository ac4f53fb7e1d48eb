//! `--url amqp[s]://user:pass@host:port/vhost?heartbeat=N`: parsed into its
//! parts (percent-decoded, `.` and `..` kept as vhost names), and redacted
//! for every message that shows it.

use url::Url;

use crate::error::Error;

/// The parts of one `--url`.
#[derive(Debug, Default, PartialEq)]
pub struct UrlParts {
    pub tls: bool,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub vhost: Option<String>,
    pub credentials: Option<(String, String)>,
    pub heartbeat: Option<u16>,
}

/// Shows a URL with its password replaced, for messages and logs.
pub fn redact(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) if url.has_authority() => {
            if url.password().is_some() {
                let _ = url.set_password(Some("xxxxx"));
            }
            url.to_string()
        }
        // Without `//` the URL library sees no user info, but the text may
        // still hold `user:password@`: show none of it.
        _ => match raw.split_once(':') {
            Some((scheme, _))
                if scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
            {
                format!("{scheme}:…")
            }
            _ => "<unparsable URL>".to_string(),
        },
    }
}

/// Parses one `--url` into its parts; errors never show the password.
pub fn parse_url(raw: &str) -> Result<UrlParts, Error> {
    let bad = |why: String| Error::Usage(format!("invalid --url {}: {why}", redact(raw)));
    let url = Url::parse(raw).map_err(|e| bad(e.to_string()))?;
    let tls = match url.scheme() {
        "amqp" => false,
        "amqps" => true,
        other => return Err(bad(format!("unknown scheme '{other}' (use amqp or amqps)"))),
    };
    if !url.has_authority() {
        return Err(bad(format!("expected {}://…", url.scheme())));
    }
    let decode = |s: &str| {
        percent_encoding_decode(s).ok_or_else(|| bad("invalid percent-encoding".to_string()))
    };
    let host = match url.host_str().filter(|h| !h.is_empty()) {
        Some(h) if h.starts_with('[') => {
            Some(h.trim_start_matches('[').trim_end_matches(']').to_string())
        }
        Some(h) => Some(decode(h)?),
        None => None,
    };
    let port = match url.port() {
        Some(0) => return Err(bad("port 0 is not a valid broker port".to_string())),
        p => p,
    };
    // The path as written: the URL library would drop `.` and `..`, which
    // are valid vhost names.
    let path = raw_path(raw);
    let vhost = match path.strip_prefix('/').unwrap_or(path) {
        "" => None,
        segment if segment.contains('/') => {
            return Err(bad(
                "the vhost must be one path segment (write '/' in a vhost as %2f)".to_string(),
            ));
        }
        segment => Some(decode(segment)?),
    };
    let credentials = if url.username().is_empty() && url.password().is_none() {
        None
    } else {
        Some((
            decode(url.username())?,
            decode(url.password().unwrap_or(""))?,
        ))
    };
    let mut heartbeat = None;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "heartbeat" => {
                heartbeat = Some(
                    v.parse::<u16>()
                        .map_err(|_| bad(format!("heartbeat '{v}' is not a number of seconds")))?,
                )
            }
            other => return Err(bad(format!("unsupported parameter '{other}'"))),
        }
    }
    Ok(UrlParts {
        tls,
        host,
        port,
        vhost,
        credentials,
        heartbeat,
    })
}

/// The path of an `amqp://authority/path?query#fragment` URL, as written.
fn raw_path(raw: &str) -> &str {
    let after_authority = raw
        .split_once("://")
        .map_or("", |(_, rest)| rest.find('/').map_or("", |i| &rest[i..]));
    let end = after_authority
        .find(['?', '#'])
        .unwrap_or(after_authority.len());
    &after_authority[..end]
}

/// `s` percent-decoded; `None` for a bad escape or bytes that are not UTF-8.
pub fn percent_encoding_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod proptests;
