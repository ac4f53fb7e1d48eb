//! The command line: clap types for every subcommand, the flags they share,
//! and the dispatch from a parsed command to its module.

mod connect;
mod consume;
mod declare;
mod envelope;
mod exec;
mod flow;
mod format;
mod get;
mod outcome;
mod output;
mod poison;
#[cfg(test)]
mod proptests;
mod publish;
mod reconnect;
mod rpc;
mod shell;
mod signals;
mod source;
mod tidy;
mod time;

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::error::Error;
use amqpctl::amqp::{
    Channel, Closing, Connection, ExchangeOptions, MAX_SHORT_STRING, Opening, QueueOptions, Table,
    Value,
};

pub use connect::ConnectionArgs;

/// amqpctl: publish, consume and declare on a RabbitMQ (AMQP 0-9-1) broker.
#[derive(Debug, Parser)]
#[command(name = "amqpctl", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// More log output on stderr (-v info, -vv debug, -vvv trace); passwords
    /// are never logged.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Publish messages (replaces amqp-pub.py).
    #[command(name = "pub")]
    Publish(Box<publish::PublishArgs>),
    /// Consume messages (replaces amqp-con.py).
    #[command(name = "con")]
    Consume(consume::ConsumeArgs),
    /// Declare a queue, an exchange or a binding.
    Declare(declare::DeclareArgs),
    /// Fetch messages with basic.get (exit 8 when the queue is empty).
    Get(get::GetArgs),
    /// Remove every ready message from a queue.
    Purge(tidy::PurgeArgs),
    /// Delete a queue or an exchange.
    Delete(tidy::DeleteArgs),
    /// Request/reply (tutorial 6): call a server, or serve requests.
    Rpc(rpc::RpcArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(shell::CompletionsArgs),
    /// Print the manual page (roff).
    Manpage,
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<(), Error> {
    // Resolved only by the subcommands that connect.
    let session = || -> Result<Session, Error> {
        let resolved = cli.connection.resolve()?;
        Ok(Session {
            settings: resolved.settings,
            warnings: resolved.warnings,
        })
    };
    match cli.command {
        Command::Publish(args) => publish::run(&session()?, *args),
        Command::Consume(args) => consume::run(&session()?, args),
        Command::Declare(args) => declare::run(&session()?, args),
        Command::Get(args) => get::run(&session()?, args),
        Command::Purge(args) => tidy::purge(&session()?, args),
        Command::Delete(args) => tidy::delete(&session()?, args),
        Command::Rpc(args) => rpc::run(&session()?, args),
        Command::Completions(args) => shell::completions(args),
        Command::Manpage => shell::manpage(),
    }
}

/// What a subcommand needs to connect.
pub struct Session {
    settings: amqpctl::amqp::ConnectionSettings,
    warnings: Vec<&'static str>,
}

impl Session {
    /// Prints the connection warnings, then connects and opens a channel.
    /// When the command listens for signals, a signal ends the connect at
    /// once (TCP, TLS or AMQP handshake) with [`Error::Interrupted`].
    fn connect(&self) -> Result<(Connection, Channel), Error> {
        for w in &self.warnings {
            output::status(w);
        }
        let connection = match signals::installed() {
            Some(stop) => match Connection::open_interruptible(&self.settings, &stop)? {
                Opening::Open(c) => c,
                Opening::Interrupted(signal) => return Err(Error::Interrupted(signal)),
            },
            None => Connection::open(&self.settings)?,
        };
        match connection.channel() {
            Ok(channel) => Ok((connection, channel)),
            Err(e) => {
                let _ = connection.close();
                Err(e.into())
            }
        }
    }
}

/// Runs `work` on a fresh channel, then closes channel and connection,
/// reporting the first error: a broker error raised after the last call
/// surfaces from the closes. A close the broker holds up because it blocks
/// publishing waits as long as it blocks.
fn with_channel(
    session: &Session,
    work: impl FnOnce(&mut Channel) -> Result<(), Error>,
) -> Result<(), Error> {
    with_channel_watching(session, flow::FlowWait::new(None), work)
}

/// Like [`with_channel`], with `flow` deciding how long a blocked broker may
/// hold up the close (`--blocked-timeout`, signals).
fn with_channel_watching(
    session: &Session,
    mut flow: flow::FlowWait,
    work: impl FnOnce(&mut Channel) -> Result<(), Error>,
) -> Result<(), Error> {
    let (connection, mut channel) = session.connect()?;
    let worked = work(&mut channel);
    if worked.is_err() && channel.blocked_reason().is_some() {
        // A blocked connection is not read by the broker, so a close would
        // wait for as long as the block lasts: leave the socket to the OS.
        std::mem::forget(channel);
        std::mem::forget(connection);
        return worked;
    }
    let closed = channel.close_watching(|blocked| flow.keep_waiting(blocked));
    if matches!(closed, Ok(Closing::Abandoned)) {
        std::mem::forget(connection);
        worked?;
        return Err(flow.give_up_reason());
    }
    let disconnected = connection.close();
    worked?;
    closed?;
    disconnected?;
    Ok(())
}

/// Queue flags shared by `pub` and `con`.
#[derive(Debug, Args)]
pub struct QueueArgs {
    /// Queue name.
    #[arg(id = "queue", short = 'q', long = "queue", value_name = "NAME")]
    pub name: Option<String>,

    /// Declare the queue first (auto-delete unless --nad-queue).
    #[arg(id = "declare_queue", short = 'Q', long = "declare-queue")]
    pub declare: bool,

    /// Declare the queue durable: it survives a broker restart.
    #[arg(long)]
    pub durable_queue: bool,

    /// Declare the queue without auto-delete.
    #[arg(long)]
    pub nad_queue: bool,

    /// Declare the queue exclusive to this connection.
    #[arg(long)]
    pub exclusive: bool,
}

impl QueueArgs {
    /// Checks the name and warns about declaration flags given without -Q,
    /// before anything is sent.
    fn check(&self) -> Result<(), Error> {
        if let Some(name) = &self.name {
            check_name("the queue name (-q)", name)?;
        }
        if !self.declare {
            for (given, flag) in [
                (self.durable_queue, "--durable-queue"),
                (self.nad_queue, "--nad-queue"),
                (self.exclusive, "--exclusive"),
            ] {
                if given {
                    output::status(format_args!(
                        "WARNING: {flag} has no effect without -Q (the queue is not declared)"
                    ));
                }
            }
        }
        Ok(())
    }

    fn options(&self) -> QueueOptions {
        QueueOptions {
            durable: self.durable_queue,
            exclusive: self.exclusive,
            auto_delete: !self.nad_queue,
            passive: false,
            arguments: Table::new(),
        }
    }

    /// Declares the queue (`name`, or a broker-named one) and prints it.
    fn declare(&self, channel: &Channel, name: &str) -> Result<String, Error> {
        let info = channel.queue_declare(name, &self.options())?;
        output::status(format_args!("Created queue: {}", info.name));
        Ok(info.name)
    }
}

/// Exchange flags shared by `pub` and `con`.
#[derive(Debug, Args)]
pub struct ExchangeArgs {
    /// Exchange name ("" is the default exchange).
    #[arg(id = "exchange", short = 'e', long = "exchange", value_name = "NAME")]
    pub name: Option<String>,

    /// Exchange type, used when declaring it.
    #[arg(id = "exchange_type", short = 't', long = "exchange-type", value_name = "TYPE", default_value = "direct", value_parser = parse_exchange_type)]
    pub kind: String,

    /// Declare the exchange first.
    #[arg(id = "declare_exchange", short = 'E', long = "declare-exchange")]
    pub declare: bool,
}

impl ExchangeArgs {
    /// Checks the name before anything is sent.
    fn check(&self) -> Result<(), Error> {
        check_name("the exchange name (-e)", self.name())?;
        if self.declare && (self.name().is_empty() || self.name().starts_with("amq.")) {
            return Err(Error::Usage(format!(
                "-E needs an exchange name of our own with -e (got '{}')",
                self.name()
            )));
        }
        Ok(())
    }

    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    /// Declares the exchange if `-E` asks for it, and prints it.
    fn declare_if_asked(&self, channel: &Channel) -> Result<(), Error> {
        if !self.declare {
            return Ok(());
        }
        let name = self.name();
        channel.exchange_declare(name, &self.kind, &ExchangeOptions::default())?;
        output::status(format_args!("Created exchange: {name}"));
        Ok(())
    }
}

/// Refuses a name or key longer than AMQP can carry, saying which (`what`,
/// e.g. "the routing key (-k)"), before anything reaches the broker.
fn check_name(what: &str, value: &str) -> Result<(), Error> {
    if value.len() > MAX_SHORT_STRING {
        return Err(Error::Usage(format!(
            "{what} is {} bytes long; AMQP allows at most {MAX_SHORT_STRING}",
            value.len()
        )));
    }
    Ok(())
}

/// Refuses a key given twice in `--arg`/`--header` pairs: the broker would
/// see only one of the values.
fn check_unique_keys(flag: &str, pairs: &[(String, Value)]) -> Result<(), Error> {
    let mut seen = std::collections::BTreeSet::new();
    for (key, _) in pairs {
        if !seen.insert(key.as_str()) {
            return Err(Error::Usage(format!(
                "{flag} {key} is given twice; give each key once"
            )));
        }
    }
    Ok(())
}

/// Parses seconds with fractions ("1", "0.25"); rejects negatives and NaN.
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("'{s}' is not a valid number of seconds (must be 0 or more)"))
}

/// Accepts the four standard exchange types and plugin types (`x-…`).
fn parse_exchange_type(s: &str) -> Result<String, String> {
    match s {
        "direct" | "fanout" | "topic" | "headers" => Ok(s.to_string()),
        plugin if plugin.starts_with("x-") && plugin.len() > 2 => Ok(s.to_string()),
        _ => Err(format!(
            "unknown exchange type '{s}' (direct, fanout, topic, headers, or a plugin's x-… type)"
        )),
    }
}

/// Parses `KEY=VALUE`, typing VALUE as the CLI contract says.
pub fn parse_key_value(s: &str) -> Result<(String, Value), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), Value::from_cli(v))),
        _ => Err(format!("'{s}' is not KEY=VALUE")),
    }
}

/// Collects `KEY=VALUE` pairs into a table.
fn table(pairs: &[(String, Value)]) -> Table {
    pairs.iter().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn seconds_take_fractions_and_refuse_negatives() {
        assert_eq!(parse_seconds("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_seconds("0"), Ok(Duration::ZERO));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("soon").is_err());
        assert!(parse_seconds("NaN").is_err());
    }

    #[test]
    fn key_values_are_typed() {
        assert_eq!(
            parse_key_value("x-max-length=10"),
            Ok(("x-max-length".into(), Value::I64(10)))
        );
        assert_eq!(
            parse_key_value("a=b=c"),
            Ok(("a".into(), Value::Str("b=c".into())))
        );
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=v").is_err());
    }

    #[test]
    fn exchange_types_are_checked() {
        assert!(parse_exchange_type("fanout").is_ok());
        assert!(parse_exchange_type("x-delayed-message").is_ok());
        assert!(parse_exchange_type("fan-out").is_err());
    }

    #[test]
    fn connection_flags_work_before_and_after_the_subcommand() {
        let before = Cli::try_parse_from(["amqpctl", "--vhost", "v", "pub"]).unwrap();
        let after = Cli::try_parse_from(["amqpctl", "pub", "--vhost", "v"]).unwrap();
        assert_eq!(before.connection.vhost.as_deref(), Some("v"));
        assert_eq!(after.connection.vhost.as_deref(), Some("v"));
    }
}
