//! `amqpctl close-connection NAME`: close another client's connection (a
//! stuck consumer), which AMQP cannot do from a client; through the
//! management API. NAME is the connection's own name (amqpctl's
//! `--connection-name`, `amqpctl con HOST:PID` by default) or the broker's.

use clap::Args;

use super::args::{ConnectionArgs, ManagementArgs};
use super::broker::ConnectSpec;
use super::broker::management;
use super::io::output::status;
use super::list::{What, cell, lookup};
use crate::error::Error;
use amqpctl::mgmt::MgmtError;

/// The flags of `amqpctl close-connection`.
#[derive(Debug, Args)]
pub struct CloseConnectionArgs {
    /// The connection's name as its client gave it, or the broker's
    /// (`127.0.0.1:5555 -> 127.0.0.1:5672`); every connection so named.
    pub name: String,

    /// The reason the client is told.
    #[arg(
        long,
        value_name = "TEXT",
        default_value = "closed by amqpctl close-connection"
    )]
    pub reason: String,

    #[command(flatten)]
    pub management: ManagementArgs,
}

/// `amqpctl close-connection NAME`.
pub fn run(
    spec: &ConnectSpec,
    connection: &ConnectionArgs,
    args: CloseConnectionArgs,
) -> Result<(), Error> {
    let settings = args.management.resolve(connection, spec)?;
    let mgmt = management::open(&settings, spec)?;
    let all = mgmt.client.list(&What::Connections.path(None))?;
    let named: Vec<String> = all
        .iter()
        .filter(|c| {
            ["user_provided_name", "name"]
                .iter()
                .any(|f| cell(lookup(c, f)) == args.name)
        })
        .map(|c| cell(lookup(c, "name")))
        .collect();
    if named.is_empty() {
        return Err(Error::Mgmt(MgmtError::NotFound {
            what: format!("connection '{}'", args.name),
        }));
    }
    for broker_name in named {
        mgmt.client
            .delete(&["connections", &broker_name], Some(&args.reason))?;
        status(format_args!(
            "Closed connection: {} ({broker_name})",
            args.name
        ));
    }
    Ok(())
}
