//! Property tests of `--url` parsing, and regressions the fuzzing found.

use std::net::{Ipv4Addr, Ipv6Addr};

use clap::Parser;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;

use crate::cmd::args::ConnectionArgs;
use crate::cmd::args::url::{parse_url, redact};
use crate::error::Error;
use amqpctl::amqp::Credentials;

use crate::cmd::proptest_kit::{check, percent_encode, pieces, text};

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
