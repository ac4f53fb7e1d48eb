//! `--management-url` and its resolution: where the management API of the
//! broker that the connection flags name is, and how to log in to it.
//! By default it is the AMQP host on port 15672 (15671, the plugin's
//! documented TLS port, when the connection uses TLS), with the same
//! credentials and the same certificate checks.

use std::time::Duration;

use clap::Args;

use super::ConnectionArgs;
use super::profile;
use super::url::{percent_encoding_decode, redact};
use crate::cmd::broker::ConnectSpec;
use crate::error::Error;
use amqpctl::amqp::Credentials;
use amqpctl::mgmt::MgmtSettings;
use amqpctl::tls::Trust;

/// The management API's flags.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Management API options")]
pub struct ManagementArgs {
    /// The management API's base URL, http[s]://[user:pass@]host:port
    /// (also the profile key management_url) [default: the broker's host,
    /// port 15672, or https on 15671 with TLS; the connection's
    /// credentials].
    #[arg(
        long,
        value_name = "URL",
        env = "RABBITMQADMIN_BASE_URI",
        hide_env_values = true
    )]
    pub management_url: Option<String>,
}

impl ManagementArgs {
    /// The API's settings for the broker `connection` names (resolved as
    /// `spec`): this flag, else the profile's `management_url`, else the
    /// AMQP host.
    pub fn resolve(
        &self,
        connection: &ConnectionArgs,
        spec: &ConnectSpec,
    ) -> Result<MgmtSettings, Error> {
        let from_profile = match (&self.management_url, &connection.profile) {
            (None, Some(name)) => profile::load(name)?.management_url,
            _ => None,
        };
        let settings = &spec.settings;
        let (username, password) = match &settings.credentials {
            Credentials::Plain { username, password } => (username.clone(), password.clone()),
            Credentials::External => (String::new(), String::new()),
        };
        let trust = settings
            .tls
            .as_ref()
            .map_or(Trust::WebPki, |tls| tls.trust.clone());
        let timeout = settings.connect_timeout.max(Duration::from_secs(1)) * 3;
        let Some(given) = self.management_url.clone().or(from_profile) else {
            let endpoint = settings
                .endpoints
                .first()
                .ok_or_else(|| Error::Usage("no broker to ask".to_string()))?;
            let host = match endpoint.host.contains(':') {
                true => format!("[{}]", endpoint.host),
                false => endpoint.host.clone(),
            };
            let base = match settings.tls {
                Some(_) => format!("https://{host}:15671"),
                None => format!("http://{host}:15672"),
            };
            return logged_in(base, username, password, trust, timeout);
        };
        let bad = |why: &str| Error::Usage(format!("--management-url {}: {why}", redact(&given)));
        let mut url = url::Url::parse(&given).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(bad("expected http://host:port or https://host:port"));
        }
        let (username, password) = match url.username() {
            "" => (username, password),
            user => {
                let decode = |s: &str| {
                    percent_encoding_decode(s).ok_or_else(|| bad("invalid percent-encoding"))
                };
                (decode(user)?, decode(url.password().unwrap_or(""))?)
            }
        };
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.set_query(None);
        url.set_fragment(None);
        let base = url.as_str().trim_end_matches('/').to_string();
        logged_in(base, username, password, trust, timeout)
    }
}

/// The settings, refused when there is no password to log in with (SASL
/// EXTERNAL has none, and the API takes basic auth).
fn logged_in(
    base: String,
    username: String,
    password: String,
    trust: Trust,
    timeout: Duration,
) -> Result<MgmtSettings, Error> {
    if username.is_empty() {
        return Err(Error::Usage(
            "the management API logs in with a user and password: give --userpass (or user:pass@ in --management-url)"
                .to_string(),
        ));
    }
    Ok(MgmtSettings {
        base,
        username,
        password,
        trust,
        timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        c: ConnectionArgs,
        #[command(flatten)]
        m: ManagementArgs,
    }

    fn resolve(args: &[&str]) -> Result<MgmtSettings, Error> {
        let mut all = vec!["t"];
        all.extend_from_slice(args);
        let t = T::try_parse_from(all).expect("flags parse");
        let spec = t.c.resolve()?;
        t.m.resolve(&t.c, &spec)
    }

    #[test]
    fn the_default_is_the_amqp_host_on_15672_with_its_credentials() {
        let s = resolve(&["--url", "amqp://al:pw@broker:5673/v"]).unwrap();
        assert_eq!(s.base, "http://broker:15672");
        assert_eq!((s.username.as_str(), s.password.as_str()), ("al", "pw"));
        let s = resolve(&["--url", "amqps://[::1]", "--cafile", "ca.pem"]).unwrap();
        assert_eq!(s.base, "https://[::1]:15671");
        assert_eq!(s.trust, Trust::CaFile("ca.pem".into()));
    }

    #[test]
    fn the_flag_overrides_and_its_credentials_win_without_a_trailing_slash() {
        let s = resolve(&["--management-url", "http://ad%40m:s%3Ac@h:1234/"]).unwrap();
        assert_eq!(s.base, "http://h:1234");
        assert_eq!((s.username.as_str(), s.password.as_str()), ("ad@m", "s:c"));
        let s = resolve(&["--management-url", "https://h:1234/prefix/"]).unwrap();
        assert_eq!(s.base, "https://h:1234/prefix");
    }

    #[test]
    fn bad_urls_are_usage_errors_without_the_password() {
        for url in ["ftp://u:hunter2@h/", "http//u:hunter2@h", "http://"] {
            let Err(Error::Usage(msg)) = resolve(&["--management-url", url]) else {
                panic!("{url} should be refused");
            };
            assert!(!msg.contains("hunter2"), "{msg}");
        }
    }
}
