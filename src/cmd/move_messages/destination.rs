//! `move`'s destination broker: its `--to-…` flags, and their resolution
//! against the source's connection flags. Without `--to-url` the
//! destination is the source broker (`--to-cafile`, `--to-insecure` and a
//! `--to-profile` that names no broker change only how it is reached);
//! `--to-url` names a broker of its own, and nothing of the source's
//! address, credentials or profile (`AMQPCTL_PROFILE`) carries over.

use std::path::PathBuf;

use clap::Args;

use crate::cmd::args::ConnectionArgs;
use crate::cmd::args::profile;
use crate::cmd::broker::ConnectSpec;
use crate::error::Error;

/// The destination broker's flags.
#[derive(Debug, Args)]
pub struct ToFlags {
    /// The destination broker's URL [default: the source broker].
    #[arg(long, value_name = "URL", help_heading = "Destination broker")]
    to_url: Option<String>,

    /// Take the destination's connection settings from this profile.
    #[arg(long, value_name = "NAME", help_heading = "Destination broker")]
    to_profile: Option<String>,

    /// Verify the destination against this PEM bundle; implies TLS.
    #[arg(long, value_name = "FILE", help_heading = "Destination broker")]
    to_cafile: Option<PathBuf>,

    /// TLS to the destination without verifying its certificate.
    #[arg(
        long,
        help_heading = "Destination broker",
        conflicts_with = "to_cafile"
    )]
    to_insecure: bool,
}

/// The destination, resolved.
pub struct ToBroker {
    /// How to connect to it.
    pub spec: ConnectSpec,
    /// Whether it is the source broker (same endpoints and vhost): then the
    /// source queue cannot be the destination.
    pub same_broker: bool,
}

impl ToFlags {
    /// The destination's connection settings; `source` are the global
    /// connection flags, `source_spec` what they resolved to.
    pub fn resolve(
        self,
        source: &ConnectionArgs,
        source_spec: &ConnectSpec,
    ) -> Result<ToBroker, Error> {
        let own = self.to_url.is_some() || self.to_profile.is_some();
        let mut args = match (self.to_url, &self.to_profile) {
            (Some(url), _) => ConnectionArgs {
                url: vec![url],
                profile: self.to_profile.clone(),
                ..blank(source)
            },
            (None, Some(name)) => {
                let p = profile::load(name).map_err(|e| to_profile_error(e, name))?;
                match p.url.is_some() || p.host.is_some() {
                    true => ConnectionArgs {
                        profile: Some(name.clone()),
                        ..blank(source)
                    },
                    false => ConnectionArgs {
                        profile: Some(name.clone()),
                        ..source.clone()
                    },
                }
            }
            (None, None) => source.clone(),
        };
        if let Some(ca) = self.to_cafile {
            args.cafile = Some(ca);
            args.insecure = false;
        }
        if self.to_insecure {
            args.insecure = true;
            args.cafile = None;
        }
        let name = source_spec.settings.connection_name.as_deref();
        args.connection_name = Some(format!("{} (destination)", name.unwrap_or("amqpctl move")));
        let mut spec = match &self.to_profile {
            Some(name) => args.resolve().map_err(|e| to_profile_error(e, name))?,
            None => args.resolve()?,
        };
        let same_broker = spec.settings.endpoints == source_spec.settings.endpoints
            && spec.settings.vhost == source_spec.settings.vhost;
        if !own && spec.warnings == source_spec.warnings {
            // Printed once, for the source.
            spec.warnings.clear();
        }
        Ok(ToBroker { spec, same_broker })
    }
}

/// No flags but the source's timing: what `--to-url` or a profile that
/// names a broker starts from.
fn blank(source: &ConnectionArgs) -> ConnectionArgs {
    ConnectionArgs {
        profile: None,
        url: Vec::new(),
        server: None,
        port_number: None,
        vhost: None,
        userpass: None,
        userpass_file: None,
        enable_tls: false,
        cafile: None,
        subjectname: None,
        certfile: None,
        keyfile: None,
        insecure: false,
        heartbeat: source.heartbeat,
        connect_timeout: source.connect_timeout,
        connection_name: None,
    }
}

/// A profile's error, worded for `--to-profile`.
fn to_profile_error(e: Error, name: &str) -> Error {
    match e {
        Error::Usage(m) => Error::Usage(match m.strip_prefix("--profile ") {
            Some(rest) => format!("--to-profile {rest}"),
            None => format!("--to-profile {name}: {m}"),
        }),
        e => e,
    }
}

/// A failure to reach the destination, said to be the destination's.
pub fn destination_error(e: Error) -> Error {
    match e {
        Error::Interrupted(_) => e,
        e => e.hinted("this was the destination broker (--to-url, --to-profile)"),
    }
}
