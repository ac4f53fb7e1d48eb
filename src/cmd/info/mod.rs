//! `amqpctl info`: the broker as a tree, as rabtap draws it: exchanges hold
//! their bindings, bindings lead to queues (and exchanges), queues hold
//! their consumers and the consumers their connections; or, with
//! `--format dot`, the same as a graphviz digraph. Read from the management
//! API with `list`'s fetching.

mod dot;
mod topology;
mod tree;

use clap::{Args, ValueEnum};

use super::args::{ConnectionArgs, ManagementArgs};
use super::broker::ConnectSpec;
use super::broker::management;
use super::io::output::write_stdout;
use super::list::{What, missing_vhost};
use crate::error::Error;
use topology::Topology;

/// The flags of `amqpctl info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Only the exchanges so named, and the bindings leading to queues or
    /// exchanges so named: a glob (`*` any characters, `?` one).
    #[arg(value_name = "PATTERN")]
    pub pattern: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: InfoFormat,

    #[command(flatten)]
    pub management: ManagementArgs,
}

/// How `info` draws the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InfoFormat {
    /// A tree, one line a node.
    Text,
    /// A graphviz digraph (`| dot -Tsvg > broker.svg`).
    Dot,
}

/// `amqpctl info`.
pub fn run(spec: &ConnectSpec, connection: &ConnectionArgs, args: InfoArgs) -> Result<(), Error> {
    let settings = args.management.resolve(connection, spec)?;
    let mgmt = management::open(&settings, spec)?;
    let vhost = mgmt.vhost.as_str();
    let fetch = |what: What| {
        mgmt.client
            .list(&what.path(Some(vhost)))
            .map_err(|e| missing_vhost(e, vhost))
    };
    let topology = Topology::new(
        fetch(What::Exchanges)?,
        fetch(What::Bindings)?,
        fetch(What::Queues)?,
        fetch(What::Consumers)?,
        fetch(What::Connections)?,
    );
    let pattern = args.pattern.as_deref();
    let text = match args.format {
        InfoFormat::Text => tree::render(vhost, &topology, pattern),
        InfoFormat::Dot => dot::render(vhost, &topology, pattern),
    };
    write_stdout(text.as_bytes())
}
