//! The command line: the `Cli` and its dispatch. Each subcommand is a
//! module here (its flags, their resolution into a plain spec, and the work);
//! `args` holds the flag groups they share, `io` and `broker` the machinery
//! they share.

mod args;
mod broker;
mod filter;
mod io;

mod close_connection;
mod completions;
mod consume;
mod declare;
mod delete;
mod get;
mod info;
mod list;
mod manpage;
mod move_messages;
mod peek;
mod perf;
mod profiles;
mod publish;
mod purge;
mod redrive;
mod rpc;
mod sandbox;
mod transfer;
mod unbind;

#[cfg(test)]
mod proptest_kit;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::error::Error;
use args::ConnectionArgs;
use broker::ConnectSpec;

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
    Purge(purge::PurgeArgs),
    /// Delete a queue or an exchange.
    Delete(delete::DeleteArgs),
    /// List queues, exchanges, bindings, connections, consumers or vhosts
    /// (management API).
    List(list::ListArgs),
    /// The broker as a tree: exchanges, their bindings, queues, consumers
    /// and connections (management API; --format dot for graphviz).
    Info(info::InfoArgs),
    /// Remove a binding of a queue or an exchange (management API).
    Unbind(unbind::UnbindArgs),
    /// Close a client's connection by its name (management API).
    CloseConnection(close_connection::CloseConnectionArgs),
    /// Move messages to another queue or exchange, acking each only once the
    /// destination confirmed it.
    Move(move_messages::MoveArgs),
    /// Put dead-lettered messages back where they came from (x-death),
    /// acking each DLQ copy once its origin confirmed it.
    Redrive(redrive::RedriveArgs),
    /// Request/reply (tutorial 6): call a server, or serve requests.
    Rpc(rpc::RpcArgs),
    /// Load test: producers and consumers in one process, with rates and
    /// confirm and end-to-end latencies.
    Perf(perf::PerfArgs),
    /// A throwaway local RabbitMQ, one node or a cluster, for trying amqpctl
    /// out and for fault drills.
    Sandbox(sandbox::SandboxArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
    /// Print the manual page (roff).
    Manpage,
    /// List the connection profiles of the config file (passwords hidden).
    Profiles,
}

/// The subcommands that never connect: their help pages leave out the
/// connection options (still accepted there, as global flags are).
const OFFLINE: [&str; 4] = ["profiles", "completions", "manpage", "sandbox"];

/// The command line's definition as parsing, help, the manual page and the
/// completions see it: [`Cli`]'s, with the connection options hidden on the
/// [`OFFLINE`] subcommands, where twenty lines of them said nothing.
pub fn command() -> clap::Command {
    let cmd = Cli::command();
    // A subcommand that defines a global flag itself keeps its own copy
    // when clap hands the globals down; sandbox's subcommands inherit it.
    let connection: Vec<clap::Id> = ConnectionArgs::augment_args(clap::Command::new("c"))
        .get_arguments()
        .map(|a| a.get_id().clone())
        .collect();
    let copies: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter_map(|a| match a.get_id() {
            id if connection.contains(id) => Some(a.clone().hide(true)),
            id if id == "verbose" => Some(a.clone().help_heading(None::<&str>)),
            _ => None,
        })
        .collect();
    OFFLINE.iter().fold(cmd, |cmd, name| {
        cmd.mut_subcommand(name, |sub| sub.args(copies.clone()))
    })
}

/// Parses the process's arguments against [`command`], exiting as clap does
/// (status 2, or 0 for --help) when they do not parse.
pub fn parse() -> Cli {
    let matches = command()
        .try_get_matches()
        .unwrap_or_else(|e| usage_without_environment(e).exit());
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// The same parse error, its usage line written as if no environment
/// variable were set. clap counts a value from `$AMQP_URL` (or any `env =`
/// of ours) as given, so every usage line showed `--url <URL>` as if it
/// were required; none of those options is, and the variables cannot cause
/// a usage error themselves, so parsing again without them finds the
/// user's mistake with a usage line of what the user typed. Help and
/// version "errors" go out unchanged.
fn usage_without_environment(error: clap::Error) -> clap::Error {
    if !error.use_stderr() {
        return error;
    }
    without_environment(command())
        .try_get_matches()
        .err()
        .unwrap_or(error)
}

/// `cmd` with no argument anywhere in it reading an environment variable.
fn without_environment(cmd: clap::Command) -> clap::Command {
    let from_env: Vec<clap::Id> = cmd
        .get_arguments()
        .filter(|a| a.get_env().is_some())
        .map(|a| a.get_id().clone())
        .collect();
    let cmd = from_env
        .iter()
        .fold(cmd, |cmd, id| cmd.mut_arg(id, |a| a.env(None::<&str>)));
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    names.iter().fold(cmd, |cmd, name| {
        cmd.mut_subcommand(name, without_environment)
    })
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<(), Error> {
    // Resolved only by the subcommands that connect, each giving its name
    // for the connection's default name.
    let connect = |command: &str| -> Result<ConnectSpec, Error> {
        let mut spec = cli.connection.resolve()?;
        spec.settings
            .connection_name
            .get_or_insert_with(|| args::connection::default_connection_name(command));
        Ok(spec)
    };
    match cli.command {
        Command::Publish(args) => {
            let spec = connect("pub")?;
            let spec = if args.quiet() { spec.quiet() } else { spec };
            publish::run(&spec, *args)
        }
        Command::Consume(args) => {
            let spec = connect("con")?;
            let spec = if args.quiet() { spec.quiet() } else { spec };
            consume::run(&spec, args)
        }
        Command::Declare(args) => declare::run(&connect("declare")?, args),
        Command::Get(args) => get::run(&connect("get")?, args),
        Command::Purge(args) => purge::run(&connect("purge")?, args),
        Command::Delete(args) => delete::run(&connect("delete")?, args),
        Command::List(args) => list::run(&connect("list")?, &cli.connection, args),
        Command::Info(args) => info::run(&connect("info")?, &cli.connection, args),
        Command::Unbind(args) => unbind::run(&connect("unbind")?, &cli.connection, args),
        Command::CloseConnection(args) => {
            close_connection::run(&connect("close-connection")?, &cli.connection, args)
        }
        Command::Move(args) => move_messages::run(&cli.connection, &connect("move")?, args),
        Command::Redrive(args) => redrive::run(&connect("redrive")?, args),
        Command::Rpc(args) => rpc::run(&connect(args.name())?, args),
        Command::Perf(args) => perf::run(&connect("perf")?, args),
        Command::Sandbox(args) => sandbox::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Manpage => manpage::run(),
        Command::Profiles => profiles::run(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
        command().debug_assert();
    }

    #[test]
    fn offline_subcommands_still_take_the_global_flags() {
        let parse = |argv: &[&str]| {
            let matches = command().try_get_matches_from(argv).expect("parses");
            Cli::from_arg_matches(&matches).expect("a Cli")
        };
        assert_eq!(parse(&["amqpctl", "sandbox", "status", "-vv"]).verbose, 2);
        let cli = parse(&["amqpctl", "profiles", "--vhost", "v"]);
        assert_eq!(cli.connection.vhost.as_deref(), Some("v"));
    }

    #[test]
    fn connection_flags_work_before_and_after_the_subcommand() {
        let before = Cli::try_parse_from(["amqpctl", "--vhost", "v", "pub"]).unwrap();
        let after = Cli::try_parse_from(["amqpctl", "pub", "--vhost", "v"]).unwrap();
        assert_eq!(before.connection.vhost.as_deref(), Some("v"));
        assert_eq!(after.connection.vhost.as_deref(), Some("v"));
    }
}
