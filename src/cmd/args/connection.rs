//! The connection flags every subcommand takes, and their resolution (with
//! `--url` merging) into the plain settings the AMQP layer opens.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::profile::{self, Profile};
use super::url::{UrlParts, parse_url};
use super::values::parse_seconds;
use crate::cmd::broker::{ConnectSpec, plain};
use crate::error::Error;
use amqpctl::amqp::{ConnectionSettings, Credentials, Endpoint};
use amqpctl::tls::{ClientIdentity, TlsSettings, Trust};

/// Connection options, global so that they work before or after the
/// subcommand's name.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Connection options")]
pub struct ConnectionArgs {
    /// Take connection settings from this profile of the config file
    /// ($AMQPCTL_CONFIG, else ~/.config/amqpctl/config.toml); flags override
    /// it.
    #[arg(
        long,
        value_name = "NAME",
        env = "AMQPCTL_PROFILE",
        global = true,
        hide_env_values = true
    )]
    pub profile: Option<String>,

    /// Broker URL, amqp://user:pass@host:port/vhost or amqps://…; repeat it to
    /// list cluster nodes, tried in order. Explicit flags override its parts.
    #[arg(
        long,
        value_name = "URL",
        env = "AMQP_URL",
        global = true,
        hide_env_values = true
    )]
    pub url: Vec<String>,

    /// Broker host, optionally with its port (HOST:PORT, [IPv6]:PORT)
    /// [default: localhost].
    #[arg(short = 's', long, value_name = "HOST[:PORT]", global = true)]
    pub server: Option<String>,

    /// Broker port [default: 5672, or 5671 with TLS].
    #[arg(long, visible_alias = "port", value_name = "N", global = true, value_parser = clap::value_parser!(u16).range(1..))]
    pub port_number: Option<u16>,

    /// Virtual host [default: /].
    #[arg(long, value_name = "NAME", global = true)]
    pub vhost: Option<String>,

    /// Credentials for PLAIN login [default: guest:guest].
    #[arg(long, value_name = "USER:PASS", global = true)]
    pub userpass: Option<String>,

    /// Read USER:PASS from the first line of FILE, keeping the password off
    /// the command line.
    #[arg(long, value_name = "FILE", global = true, conflicts_with = "userpass")]
    pub userpass_file: Option<PathBuf>,

    /// Use TLS, verifying the broker against the Mozilla root certificates.
    #[arg(long, global = true)]
    pub enable_tls: bool,

    /// Verify the broker against this PEM bundle instead; implies TLS.
    #[arg(long, value_name = "FILE", global = true)]
    pub cafile: Option<PathBuf>,

    /// Name the broker certificate must carry, also sent as SNI; implies TLS
    /// [default: the host].
    #[arg(long, value_name = "NAME", global = true)]
    pub subjectname: Option<String>,

    /// Client certificate (PEM) for mutual TLS; without credentials, log in
    /// with SASL EXTERNAL as the certificate's user.
    #[arg(long, value_name = "FILE", global = true, requires = "keyfile")]
    pub certfile: Option<PathBuf>,

    /// Private key (PEM) of --certfile.
    #[arg(long, value_name = "FILE", global = true, requires = "certfile")]
    pub keyfile: Option<PathBuf>,

    /// TLS without verifying the broker's certificate (prints a warning).
    #[arg(long, global = true, conflicts_with = "cafile")]
    pub insecure: bool,

    /// Heartbeat interval to ask for, in seconds (0 disables) [default: 60].
    #[arg(long, value_name = "SECS", global = true)]
    pub heartbeat: Option<u16>,

    /// Deadline for TCP connect, TLS handshake and AMQP handshake together.
    #[arg(long, value_name = "SECS", default_value = "10", global = true, allow_hyphen_values = true, value_parser = parse_seconds)]
    pub connect_timeout: Duration,

    /// Name the broker shows for the connection (management UI, rabbitmqctl
    /// list_connections client_properties) [default: amqpctl COMMAND
    /// HOST:PID].
    #[arg(
        long,
        value_name = "NAME",
        env = "AMQPCTL_CONNECTION_NAME",
        global = true,
        hide_env_values = true
    )]
    pub connection_name: Option<String>,
}

/// Said when a profile that names a broker overrides `$AMQP_URL`.
const AMQP_URL_IGNORED: &str =
    "WARNING: $AMQP_URL is ignored: the profile names the broker (--url would override it)";

impl ConnectionArgs {
    /// Merges the profile (if any), the URLs and the explicit flags into
    /// connection settings.
    pub fn resolve(&self) -> Result<ConnectSpec, Error> {
        match &self.profile {
            Some(name) => {
                let profile = profile::load(name)?;
                let mut spec = self.with_profile(name, &profile)?.resolve_flags()?;
                if self.url_from_env() && (profile.url.is_some() || profile.host.is_some()) {
                    spec.warnings.push(AMQP_URL_IGNORED);
                }
                Ok(spec)
            }
            None => self.resolve_flags(),
        }
    }

    /// Whether `--url` holds only what `$AMQP_URL` put there (clap fills it
    /// from the environment when no `--url` is given): a profile then
    /// names the broker, since a flag or a chosen profile beats the
    /// environment.
    fn url_from_env(&self) -> bool {
        match std::env::var("AMQP_URL") {
            Ok(env) if !env.is_empty() => self.url == [env],
            _ => false,
        }
    }

    /// These flags with what they leave unsaid taken from `profile`. An
    /// explicit `--url` names the broker itself: the profile's url, host,
    /// port, vhost and credentials then stay unused.
    fn with_profile(&self, name: &str, profile: &Profile) -> Result<ConnectionArgs, Error> {
        let mut args = self.clone();
        let names_broker = profile.url.is_some() || profile.host.is_some();
        if self.url_from_env() && names_broker {
            args.url.clear();
        }
        let own_url = args.url.iter().any(|u| !u.is_empty());
        if !own_url {
            if let Some(url) = &profile.url {
                args.url = vec![url.clone()];
            }
            args.server = args.server.or_else(|| profile.host.clone());
            args.port_number = args.port_number.or(profile.port);
            args.vhost = args.vhost.or_else(|| profile.vhost.clone());
            if args.userpass.is_none() && args.userpass_file.is_none() {
                args.userpass = profile.userpass(name)?;
            }
        }
        args.enable_tls |= profile.tls.unwrap_or(false);
        args.insecure |= profile.insecure.unwrap_or(false) && args.cafile.is_none();
        args.cafile = args.cafile.or_else(|| profile.cafile.clone());
        args.certfile = args.certfile.or_else(|| profile.certfile.clone());
        args.keyfile = args.keyfile.or_else(|| profile.keyfile.clone());
        args.subjectname = args.subjectname.or_else(|| profile.subjectname.clone());
        args.heartbeat = args.heartbeat.or(profile.heartbeat);
        args.connection_name = args
            .connection_name
            .or_else(|| profile.connection_name.clone());
        if args.certfile.is_some() != args.keyfile.is_some() {
            return Err(Error::Usage(format!(
                "profile '{name}': certfile and keyfile go together"
            )));
        }
        Ok(args)
    }

    /// Merges the URLs and the explicit flags into connection settings:
    /// endpoints, then credentials, then TLS, each from the flags first and
    /// the first URL after.
    fn resolve_flags(&self) -> Result<ConnectSpec, Error> {
        let urls = self
            .url
            .iter()
            .filter(|u| !u.is_empty())
            .map(|u| parse_url(u))
            .collect::<Result<Vec<_>, _>>()?;
        let first = urls.first();
        let tls_wanted = self.enable_tls
            || self.cafile.is_some()
            || self.subjectname.is_some()
            || self.certfile.is_some()
            || self.insecure
            || urls.iter().any(|u| u.tls);
        let endpoints = self.endpoints(&urls, tls_wanted)?;
        let (credentials, credentials_given) = self.credentials(first)?;
        let tls = tls_wanted.then(|| self.tls_settings());

        let mut warnings = Vec::new();
        if credentials_given && tls.is_none() && !plain::silenced() {
            warnings.push(plain::NOT_SECURED);
        }
        if self.insecure {
            warnings.push(
                "WARNING: TLS certificate verification is disabled (--insecure); the broker is not authenticated.",
            );
        }

        Ok(ConnectSpec {
            settings: ConnectionSettings {
                endpoints,
                vhost: self
                    .vhost
                    .clone()
                    .or_else(|| first.and_then(|u| u.vhost.clone()))
                    .unwrap_or_else(|| "/".to_string()),
                credentials,
                heartbeat: self
                    .heartbeat
                    .or_else(|| first.and_then(|u| u.heartbeat))
                    .unwrap_or(60),
                connect_timeout: self.connect_timeout,
                tls,
                connection_name: self.connection_name.clone(),
            },
            warnings,
        })
    }

    /// One endpoint per URL (or one without): `-s` and `--port-number`
    /// override each URL's host and port.
    fn endpoints(&self, urls: &[UrlParts], tls_wanted: bool) -> Result<Vec<Endpoint>, Error> {
        let default_port = if tls_wanted { 5671 } else { 5672 };
        let (server_host, server_port) = match &self.server {
            Some(s) => {
                let (host, port) = split_server(s)?;
                (Some(host), port)
            }
            None => (None, None),
        };
        if let (Some(a), Some(b)) = (server_port, self.port_number)
            && a != b
        {
            return Err(Error::Usage(format!(
                "-s gives port {a} but --port-number gives {b}: give the port once"
            )));
        }
        let explicit_port = self.port_number.or(server_port);
        let endpoint_of = |u: Option<&UrlParts>| Endpoint {
            host: server_host
                .clone()
                .or_else(|| u.and_then(|u| u.host.clone()))
                .unwrap_or_else(|| "localhost".to_string()),
            port: explicit_port
                .or_else(|| u.and_then(|u| u.port))
                .unwrap_or(default_port),
        };
        Ok(match urls {
            [] => vec![endpoint_of(None)],
            _ => urls.iter().map(|u| endpoint_of(Some(u))).collect(),
        })
    }

    /// The login: `--userpass`/`--userpass-file`, else the first URL's,
    /// else EXTERNAL with a client certificate, else guest; and whether
    /// credentials were given at all (then a plain connection warns).
    fn credentials(&self, first: Option<&UrlParts>) -> Result<(Credentials, bool), Error> {
        let explicit_userpass = match (&self.userpass, &self.userpass_file) {
            (Some(up), _) => Some(split_userpass(up)?),
            (None, Some(path)) => Some(read_userpass_file(path)?),
            (None, None) => None,
        };
        let url_credentials = first.and_then(|u| u.credentials.clone());
        let given = explicit_userpass.is_some() || url_credentials.is_some();
        let credentials = match (explicit_userpass.or(url_credentials), &self.certfile) {
            (Some((username, password)), _) => Credentials::Plain { username, password },
            (None, Some(_)) => Credentials::External,
            (None, None) => Credentials::Plain {
                username: "guest".to_string(),
                password: "guest".to_string(),
            },
        };
        Ok((credentials, given))
    }

    /// How the broker is verified and who the client is, once TLS is on.
    fn tls_settings(&self) -> TlsSettings {
        TlsSettings {
            trust: if self.insecure {
                Trust::Insecure
            } else if let Some(ca) = &self.cafile {
                Trust::CaFile(ca.clone())
            } else {
                Trust::WebPki
            },
            server_name: self.subjectname.clone(),
            identity: match (&self.certfile, &self.keyfile) {
                (Some(cert), Some(key)) => Some(ClientIdentity {
                    cert: cert.clone(),
                    key: key.clone(),
                }),
                _ => None,
            },
        }
    }
}

/// The connection's name without `--connection-name`: the command, this
/// machine's host name and this process's id, so that the broker's list of
/// connections tells two runs apart.
pub fn default_connection_name(command: &str) -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let host = match rc {
        0 => buf.split(|&b| b == 0).next().unwrap_or_default(),
        _ => b"",
    };
    let host = match String::from_utf8_lossy(host) {
        h if h.is_empty() => "localhost".into(),
        h => h,
    };
    format!("amqpctl {command} {host}:{}", std::process::id())
}

/// Splits `-s HOST[:PORT]` as amqp-tools spells it: `host`, `host:5672`,
/// `[::1]:5672`; a bare IPv6 address (`::1`) is a host.
fn split_server(s: &str) -> Result<(String, Option<u16>), Error> {
    let bad = |why: &str| Error::Usage(format!("-s {s}: {why}"));
    let port = |p: &str| match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(bad("the port must be a number from 1 to 65535")),
        Ok(n) => Ok(Some(n)),
    };
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| bad("an IPv6 address in brackets needs its ']'"))?;
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(p) => (host, port(p)?),
                None => return Err(bad("expected :PORT after ']'")),
            },
        }
    } else {
        match s.split_once(':') {
            Some((host, p)) if !p.contains(':') => (host, port(p)?),
            _ => (s, None),
        }
    };
    if host.is_empty() {
        return Err(bad("the host is empty"));
    }
    Ok((host.to_string(), port))
}

fn read_userpass_file(path: &std::path::Path) -> Result<(String, String), Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Usage(format!(
            "cannot read --userpass-file {}: {e}",
            path.display()
        ))
    })?;
    let first = text.lines().next().unwrap_or("");
    split_userpass(first).map_err(|_| {
        Error::Usage(format!(
            "--userpass-file {}: the first line must be USER:PASS",
            path.display()
        ))
    })
}

fn split_userpass(up: &str) -> Result<(String, String), Error> {
    match up.split_once(':') {
        Some((user, pass)) if !user.is_empty() => Ok((user.to_string(), pass.to_string())),
        _ => Err(Error::Usage(
            "--userpass must be USER:PASS with a non-empty user".to_string(),
        )),
    }
}

#[cfg(test)]
mod tests;
