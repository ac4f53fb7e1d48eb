//! `amqpctl unbind`: remove a queue's or an exchange's binding, named as
//! `declare binding` names it (`-e`, `-q`/`--to-exchange`, `-k`, `--arg`).
//!
//! Through the management API rather than AMQP's `queue.unbind`: the broker
//! answers an AMQP unbind of a binding that is not there with success, so a
//! typo would look like a fix. The API lists the bindings between the two
//! ends first; none matching is `no such binding` (exit 5), and the one that
//! matches is deleted by its `properties_key`.

use clap::{Arg, Args};
use serde_json::Value as Json;

use super::args::values::{check_name, check_unique_keys, parse_key_value};
use super::args::{BindingArgs, ConnectionArgs, ManagementArgs};
use super::broker::ConnectSpec;
use super::broker::management;
use super::io::output::result;
use super::list::{cell, lookup};
use crate::error::Error;
use amqpctl::amqp::Value;
use amqpctl::mgmt::MgmtError;

/// The flags of `amqpctl unbind`: those of `declare binding`, `-q` and
/// `--to-exchange` worded for a binding that is there.
#[derive(Debug, Args)]
#[command(mut_args(reword))]
pub struct UnbindArgs {
    #[command(flatten)]
    ends: BindingArgs,
    /// Binding argument KEY=VALUE, as it was bound (headers exchanges);
    /// repeatable. The binding's arguments must be exactly these.
    #[arg(long = "arg", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    arguments: Vec<(String, Value)>,

    #[command(flatten)]
    management: ManagementArgs,
}

/// `declare binding`'s `-q` and `--to-exchange`, worded for a binding that
/// is there (clap's words: a one-line doc comment loses its full stop).
/// Mutated in place, so the help, the manual page and the completions keep
/// the flags' order.
fn reword(arg: Arg) -> Arg {
    match arg.get_id().as_str() {
        "queue" => arg.help("Bound queue"),
        "to_exchange" => arg.help("Bound exchange (exchange-to-exchange binding)"),
        _ => arg,
    }
}

/// One binding to remove, checked.
struct UnbindSpec {
    exchange: String,
    destination: String,
    /// `q` or `e`, as the API's paths name a destination's kind.
    kind: &'static str,
    key: String,
    arguments: serde_json::Map<String, Json>,
}

impl UnbindArgs {
    fn resolve(&self) -> Result<UnbindSpec, Error> {
        let ends = &self.ends;
        check_name("the exchange name (-e)", &ends.exchange)?;
        check_name("the routing key (-k)", &ends.routing_key)?;
        check_unique_keys("--arg", &self.arguments)?;
        let (destination, to_exchange) = ends.destination("unbind")?;
        let kind = if to_exchange { "e" } else { "q" };
        check_name("the destination's name", &destination)?;
        if ends.exchange.is_empty() {
            return Err(Error::Usage(
                "the default exchange's bindings cannot be removed".to_string(),
            ));
        }
        Ok(UnbindSpec {
            exchange: ends.exchange.clone(),
            destination,
            kind,
            key: ends.routing_key.clone(),
            arguments: self
                .arguments
                .iter()
                .map(|(k, v)| (k.clone(), json_of(v)))
                .collect(),
        })
    }
}

/// An `--arg` value as the API shows it.
fn json_of(value: &Value) -> Json {
    match value {
        Value::Bool(b) => Json::Bool(*b),
        Value::I64(n) => Json::from(*n),
        Value::Str(s) => Json::String(s.clone()),
        other => Json::String(format!("{other:?}")),
    }
}

/// `amqpctl unbind`.
pub fn run(spec: &ConnectSpec, connection: &ConnectionArgs, args: UnbindArgs) -> Result<(), Error> {
    let unbind = args.resolve()?;
    let settings = args.management.resolve(connection, spec)?;
    let mgmt = management::open(&settings, spec)?;
    let vhost = mgmt.vhost.as_str();
    let ends = [
        "bindings",
        vhost,
        "e",
        unbind.exchange.as_str(),
        unbind.kind,
        unbind.destination.as_str(),
    ];
    let (kind, name) = match unbind.kind {
        "q" => ("Queue", &unbind.destination),
        _ => ("Exchange", &unbind.destination),
    };
    let key = match unbind.key.is_empty() {
        true => String::new(),
        false => format!(" {}", unbind.key),
    };
    // A 404 here is the exchange, the destination or the vhost missing:
    // no such binding either way.
    let no_such = Error::Mgmt(MgmtError::NotFound {
        what: format!(
            "binding of {kind} [{name}] to Exchange [{}]{key}",
            unbind.exchange
        ),
    })
    .hinted("amqpctl list bindings shows what is bound");
    let between = match mgmt.client.list(&ends) {
        Err(MgmtError::NotFound { .. }) => return Err(no_such),
        listed => listed?,
    };
    let found = between.iter().find(|b| {
        cell(lookup(b, "routing_key")) == unbind.key
            && b.get("arguments")
                .and_then(Json::as_object)
                .map_or(unbind.arguments.is_empty(), |a| *a == unbind.arguments)
    });
    let Some(binding) = found else {
        return Err(no_such);
    };
    let props = cell(lookup(binding, "properties_key"));
    let mut path = ends.to_vec();
    path.push(&props);
    mgmt.client.delete(&path, None)?;
    result(format_args!(
        "Unbound {kind} [{name}] from Exchange [{}]{key}",
        unbind.exchange
    ))
}
