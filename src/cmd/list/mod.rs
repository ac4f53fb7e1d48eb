//! `amqpctl list queues|exchanges|bindings|connections|consumers|vhosts`:
//! what is on the broker, from the management API (AMQP 0-9-1 cannot list),
//! in rabbitmqadmin's column names.

mod columns;
mod render;

use std::io::IsTerminal;

use clap::Args;
use serde_json::Value;

use super::args::{ConnectionArgs, ManagementArgs};
use super::broker::ConnectSpec;
use super::broker::management;
use super::io::output::write_stdout;
use crate::error::Error;
use amqpctl::mgmt::MgmtError;
pub use columns::{What, cell, glob_matches, lookup};
use render::{ListFormat, render};

/// The flags of `amqpctl list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// What to list.
    #[arg(value_enum)]
    pub what: What,

    /// Only what is named so: a glob (`*` any characters, `?` one) matched
    /// against the name (bindings: source or destination; connections:
    /// amqpctl's connection name or the broker's; consumers: the queue).
    #[arg(value_name = "PATTERN")]
    pub pattern: Option<String>,

    /// The columns to show, comma-separated: the API's field names, dotted
    /// for nested ones (message_stats.publish_details.rate).
    #[arg(long, value_name = "A,B,C", value_delimiter = ',')]
    pub columns: Vec<String>,

    /// Output format [default: table on a terminal, else tsv].
    #[arg(long, value_enum)]
    pub format: Option<ListFormat>,

    /// Every vhost rather than --vhost's (adds a vhost column).
    #[arg(long)]
    pub all_vhosts: bool,

    #[command(flatten)]
    pub management: ManagementArgs,
}

/// One listing, checked.
struct ListSpec {
    what: What,
    pattern: Option<String>,
    columns: Vec<String>,
    format: ListFormat,
    all_vhosts: bool,
}

impl ListArgs {
    fn resolve(&self) -> Result<ListSpec, Error> {
        if let Some(bad) = self
            .columns
            .iter()
            .find(|c| c.is_empty() || c.split('.').any(str::is_empty))
        {
            return Err(Error::Usage(format!(
                "--columns: '{bad}' is not a column name (a,b or a.b)"
            )));
        }
        let columns = match self.columns.is_empty() {
            true => self
                .what
                .default_columns(self.all_vhosts)
                .into_iter()
                .map(String::from)
                .collect(),
            false => self.columns.clone(),
        };
        let format = self
            .format
            .unwrap_or(match std::io::stdout().is_terminal() {
                true => ListFormat::Table,
                false => ListFormat::Tsv,
            });
        Ok(ListSpec {
            what: self.what,
            pattern: self.pattern.clone(),
            columns,
            format,
            all_vhosts: self.all_vhosts,
        })
    }
}

/// `amqpctl list WHAT`.
pub fn run(spec: &ConnectSpec, connection: &ConnectionArgs, args: ListArgs) -> Result<(), Error> {
    let list = args.resolve()?;
    let settings = args.management.resolve(connection, spec)?;
    let mgmt = management::open(&settings, spec)?;
    let vhost = (!list.all_vhosts).then_some(mgmt.vhost.as_str());
    let items = mgmt
        .client
        .list(&list.what.path(vhost))
        .map_err(|e| missing_vhost(e, &mgmt.vhost))?;
    let shown: Vec<&Value> = items
        .iter()
        .filter(|item| match &list.pattern {
            None => true,
            Some(p) => list
                .what
                .name_fields()
                .iter()
                .any(|f| glob_matches(p, &cell(lookup(item, f)))),
        })
        .collect();
    write_stdout(render(list.format, &list.columns, &shown).as_bytes())
}

/// A 404 for a vhost's listing names the vhost.
pub fn missing_vhost(e: MgmtError, vhost: &str) -> Error {
    match e {
        MgmtError::NotFound { .. } => Error::Mgmt(MgmtError::NotFound {
            what: format!("vhost '{vhost}'"),
        }),
        e => Error::Mgmt(e),
    }
}
