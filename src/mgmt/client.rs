//! A blocking client of the management API on ureq (rustls, no OpenSSL):
//! basic auth, JSON answers, HTTP statuses sorted into [`MgmtError`].

use std::time::Duration;

use serde_json::Value;
use ureq::Agent;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, parse_pem};

use super::MgmtError;
use crate::tls::Trust;

/// The largest answer read: a broker with 100,000 queues lists ~100 MB.
const MAX_ANSWER: u64 = 512 * 1024 * 1024;

/// Where the API is and how to log in to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MgmtSettings {
    /// `http[s]://host:port[/prefix]`, without credentials or a trailing `/`.
    pub base: String,
    /// The user (basic auth).
    pub username: String,
    /// Its password; never printed.
    pub password: String,
    /// How an `https` server is verified.
    pub trust: Trust,
    /// Deadline of each request, connect included.
    pub timeout: Duration,
}

/// A logged-in client: [`Client::open`] has checked that the API answers and
/// takes the credentials.
pub struct Client {
    agent: Agent,
    base: String,
    auth: String,
    /// The user's tags (`administrator`, `monitoring`, …) from `/api/whoami`.
    pub tags: Vec<String>,
}

impl Client {
    /// Checks that the API is there and takes the login (`GET /api/whoami`).
    pub fn open(settings: &MgmtSettings) -> Result<Client, MgmtError> {
        let tls = match &settings.trust {
            Trust::WebPki => TlsConfig::builder().build(),
            Trust::Insecure => TlsConfig::builder().disable_verification(true).build(),
            Trust::CaFile(path) => {
                let pem = std::fs::read(path).map_err(|e| MgmtError::Unreachable {
                    url: settings.base.clone(),
                    reason: format!("cannot read {}: {e}", path.display()),
                })?;
                let certs: Vec<Certificate<'static>> = parse_pem(&pem)
                    .filter_map(|item| match item {
                        Ok(PemItem::Certificate(c)) => Some(c),
                        _ => None,
                    })
                    .collect();
                TlsConfig::builder()
                    .root_certs(RootCerts::new_with_certs(&certs))
                    .build()
            }
        };
        let agent: Agent = Agent::config_builder()
            .timeout_global(Some(settings.timeout))
            .http_status_as_error(false)
            .tls_config(tls)
            .build()
            .into();
        let auth = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{}:{}", settings.username, settings.password),
        );
        let mut client = Client {
            agent,
            base: settings.base.clone(),
            auth: format!("Basic {auth}"),
            tags: Vec::new(),
        };
        let whoami = match client.request("GET", "/api/whoami", None) {
            Ok(v) => v,
            Err(MgmtError::Refused {
                status: 401,
                reason,
            }) => {
                return Err(MgmtError::Login {
                    user: settings.username.clone(),
                    reason,
                });
            }
            Err(MgmtError::NotFound { .. }) => {
                return Err(MgmtError::NoApi {
                    url: settings.base.clone(),
                    status: 404,
                });
            }
            Err(MgmtError::BadAnswer { .. }) => {
                return Err(MgmtError::NoApi {
                    url: settings.base.clone(),
                    status: 200,
                });
            }
            Err(e) => return Err(e),
        };
        client.tags = match &whoami["tags"] {
            Value::Array(tags) => tags
                .iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect(),
            Value::String(tags) => tags.split(',').map(String::from).collect(),
            _ => Vec::new(),
        };
        Ok(client)
    }

    /// `GET /api/SEGMENTS…`, each segment percent-encoded, as a list.
    pub fn list(&self, segments: &[&str]) -> Result<Vec<Value>, MgmtError> {
        let path = api_path(segments);
        match self.request("GET", &path, None)? {
            Value::Array(items) => Ok(items),
            other => Err(MgmtError::BadAnswer {
                path,
                reason: format!("expected a list, got {}", kind(&other)),
            }),
        }
    }

    /// `DELETE /api/SEGMENTS…`; `reason` goes in `X-Reason` (the text a
    /// closed connection's client is told).
    pub fn delete(&self, segments: &[&str], reason: Option<&str>) -> Result<(), MgmtError> {
        self.request("DELETE", &api_path(segments), reason)
            .map(|_| ())
    }

    /// One request; the answer's JSON (`null` when empty).
    fn request(&self, method: &str, path: &str, reason: Option<&str>) -> Result<Value, MgmtError> {
        let url = format!("{}{path}", self.base);
        log::debug!("management API: {method} {url}");
        let sent = match method {
            "DELETE" => {
                let mut req = self.agent.delete(&url).header("Authorization", &self.auth);
                if let Some(reason) = reason {
                    req = req.header("X-Reason", reason);
                }
                req.call()
            }
            _ => self
                .agent
                .get(&url)
                .header("Authorization", &self.auth)
                .call(),
        };
        let mut answer = sent.map_err(|e| MgmtError::Unreachable {
            url: self.base.clone(),
            reason: e.to_string(),
        })?;
        let status = answer.status().as_u16();
        let text = answer
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_string()
            .map_err(|e| MgmtError::BadAnswer {
                path: path.to_string(),
                reason: e.to_string(),
            })?;
        let json = if text.trim().is_empty() {
            Ok(Value::Null)
        } else {
            serde_json::from_str::<Value>(&text)
        };
        match (status, json) {
            (200..=299, Ok(v)) => Ok(v),
            (200..=299, Err(e)) => Err(MgmtError::BadAnswer {
                path: path.to_string(),
                reason: e.to_string(),
            }),
            (401 | 403, body) => Err(MgmtError::Refused {
                status,
                reason: reason_of(body.ok(), "not authorised"),
            }),
            (404, _) => Err(MgmtError::NotFound {
                what: path.to_string(),
            }),
            (_, body) => Err(MgmtError::Http {
                status,
                path: path.to_string(),
                reason: reason_of(body.ok(), "no reason given"),
            }),
        }
    }
}

/// `/api/a/b` from segments, each percent-encoded (vhost `/` is `%2F`).
fn api_path(segments: &[&str]) -> String {
    let mut path = String::from("/api");
    for s in segments {
        path.push('/');
        path.push_str(&encode_segment(s));
    }
    path
}

/// One path segment, percent-encoded: everything but RFC 3986's unreserved
/// characters.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The broker's `reason` (or `error`) field, on one line.
fn reason_of(body: Option<Value>, fallback: &str) -> String {
    let text = body
        .as_ref()
        .and_then(|b| b["reason"].as_str().or_else(|| b["error"].as_str()))
        .unwrap_or(fallback);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(api_path(&["queues", "/"]), "/api/queues/%2F");
        assert_eq!(
            encode_segment("amqpctl con h:1 -> x"),
            "amqpctl%20con%20h%3A1%20-%3E%20x"
        );
    }

    #[test]
    fn reasons_are_folded_onto_one_line() {
        let body =
            serde_json::json!({"error": "not_authorised", "reason": "Not\nadministrator  user"});
        assert_eq!(reason_of(Some(body), "x"), "Not administrator user");
        assert_eq!(reason_of(None, "fallback"), "fallback");
    }
}
