//! The commands' side of the management API: resolve where it is, print the
//! connection warnings, log in. `list`, `info`, `unbind` and
//! `close-connection` start here.

use amqpctl::mgmt::{Client, MgmtSettings};

use super::ConnectSpec;
use crate::cmd::io::output::status;
use crate::error::Error;

/// A logged-in management client for the broker the flags name, and the
/// vhost they name.
pub struct Mgmt {
    /// The client.
    pub client: Client,
    /// The vhost of `--vhost` (or the URL's, or `/`).
    pub vhost: String,
}

/// Opens the management API at `settings` (resolved by the command from
/// its flags, `ManagementArgs::resolve`) of the broker `spec` connects to.
pub fn open(settings: &MgmtSettings, spec: &ConnectSpec) -> Result<Mgmt, Error> {
    for warning in &spec.warnings {
        status(warning);
    }
    log::info!("management API at {}", settings.base);
    Ok(Mgmt {
        client: Client::open(settings)?,
        vhost: spec.settings.vhost.clone(),
    })
}
