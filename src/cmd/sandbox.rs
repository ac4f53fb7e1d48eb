//! `amqpctl sandbox`: a throwaway local RabbitMQ, one node or a cluster, from
//! the machine's `rabbitmq-server` (the work is `amqpctl::sandbox`'s; this is
//! its command line and its output). `up` prints only `export …` lines on
//! stdout, so `eval "$(amqpctl sandbox up)"` points later commands at it.

use clap::{Args, Subcommand};

use super::io::output::{status, write_stdout};
use crate::error::Error;
use std::path::PathBuf;

use amqpctl::sandbox::{Node, Options, Sandbox, Server};

/// The flags of `amqpctl sandbox`.
#[derive(Debug, Args)]
pub struct SandboxArgs {
    #[command(subcommand)]
    action: Action,
}

/// Which sandbox: its name.
#[derive(Debug, Args)]
struct Which {
    /// The sandbox's name; several can run side by side.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "default",
        env = "AMQPCTL_SANDBOX",
        hide_env_values = true
    )]
    name: String,
}

/// One node of a sandbox.
#[derive(Debug, Args)]
struct NodeOf {
    /// The node: its number (1, 2, …) or its name.
    node: String,
    #[command(flatten)]
    which: Which,
}

impl NodeOf {
    /// Does `act` to the node, once the sandbox is loaded and the node found.
    fn act(&self, act: impl FnOnce(&Node) -> Result<(), Error>) -> Result<(), Error> {
        let sandbox = Sandbox::load(&self.which.name)?;
        act(sandbox.node(&self.node)?)
    }
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Boot a node or a cluster on free ports of 127.0.0.1, with vhost
    /// domain1 and users alice/alice123 and bob/bob123, and print the
    /// `export` lines that point amqpctl at it.
    Up {
        /// Nodes to boot and join into one cluster.
        #[arg(long, value_name = "N", default_value = "1", value_parser = clap::value_parser!(u16).range(1..=9))]
        nodes: u16,
        /// Also a TLS listener on every node, with a CA, server and client
        /// certificates generated for it.
        #[arg(long)]
        tls: bool,
        /// Run the RabbitMQ installed in this root file system (e.g. a
        /// debootstrapped Debian trixie, for RabbitMQ 4.0) instead of the
        /// machine's, chrooted (needs root).
        #[arg(
            long,
            value_name = "DIR",
            env = "AMQPCTL_RABBITMQ_ROOT",
            hide_env_values = true
        )]
        rabbitmq_root: Option<PathBuf>,
        /// Configure RabbitMQ 4.3's defaults on a 4.x node: transient
        /// non-exclusive queues and global QoS refused.
        #[arg(long)]
        rabbitmq_43_defaults: bool,
        #[command(flatten)]
        which: Which,
    },
    /// Show each node: running or not, its pid and ports.
    Status {
        #[command(flatten)]
        which: Which,
    },
    /// Print the `export` lines again.
    Env {
        #[command(flatten)]
        which: Which,
    },
    /// Stop one node cleanly.
    Stop {
        #[command(flatten)]
        at: NodeOf,
    },
    /// Start a stopped or killed node again, on the same ports with the same
    /// data.
    Start {
        #[command(flatten)]
        at: NodeOf,
    },
    /// Kill one node's Erlang VM with SIGKILL, as a crash would (for fault
    /// drills).
    Kill {
        #[command(flatten)]
        at: NodeOf,
    },
    /// Stop every node and remove the sandbox's directory.
    Down {
        #[command(flatten)]
        which: Which,
    },
}

/// `amqpctl sandbox ACTION`.
pub fn run(args: SandboxArgs) -> Result<(), Error> {
    match args.action {
        Action::Up {
            nodes,
            tls,
            rabbitmq_root,
            rabbitmq_43_defaults,
            which,
        } => {
            let options = Options {
                nodes: usize::from(nodes),
                tls,
                server: Server {
                    root: rabbitmq_root,
                    defaults_4_3: rabbitmq_43_defaults,
                },
            };
            let sandbox = Sandbox::up(&which.name, options, &|line| status(line))?;
            print_exports(&sandbox)
        }
        Action::Status { which } => print_status(&Sandbox::load(&which.name)?),
        Action::Env { which } => print_exports(&Sandbox::load(&which.name)?),
        Action::Stop { at } => at.act(|node| {
            node.stop()?;
            status(format_args!("Stopped node {}", node.name));
            Ok(())
        }),
        Action::Start { at } => at.act(|node| {
            if let Some(pid) = node.running_pid() {
                status(format_args!(
                    "Node {} is already running (pid {pid})",
                    node.name
                ));
                return Ok(());
            }
            node.boot()?;
            status(format_args!("Started node {}", node.name));
            Ok(())
        }),
        Action::Kill { at } => at.act(|node| {
            match node.kill() {
                Some(pid) => status(format_args!("Killed node {} (pid {pid})", node.name)),
                None => status(format_args!("Node {} was not running", node.name)),
            }
            Ok(())
        }),
        Action::Down { which } => {
            let sandbox = Sandbox::load(&which.name)?;
            let (name, dir, n) = (
                sandbox.name.clone(),
                sandbox.dir.clone(),
                sandbox.nodes.len(),
            );
            sandbox.down()?;
            status(format_args!(
                "Removed sandbox {name} ({n} node{}, {})",
                if n == 1 { "" } else { "s" },
                dir.display()
            ));
            Ok(())
        }
    }
}

fn print_exports(sandbox: &Sandbox) -> Result<(), Error> {
    let text: String = exports(sandbox)
        .iter()
        .map(|(key, value)| format!("export {key}={}\n", shell_quote(value)))
        .collect();
    write_stdout(text.as_bytes())
}

/// The shell variables that point amqpctl at this sandbox, in order: the
/// flag and variable names are the command line's, so they are worded here,
/// not in the library that runs the nodes.
fn exports(sandbox: &Sandbox) -> Vec<(&'static str, String)> {
    let url = |n: &Node| format!("amqp://127.0.0.1:{}", n.amqp_port);
    let mut vars = vec![("AMQPCTL_SANDBOX", sandbox.name.clone())];
    if let Some(first) = sandbox.nodes.first() {
        vars.push(("AMQP_URL", url(first)));
        // rabbitmqadmin's variable for the management API, which amqpctl reads too.
        if let Some(port) = first.mgmt_port {
            vars.push(("RABBITMQADMIN_BASE_URI", format!("http://127.0.0.1:{port}")));
        }
    }
    let urls: Vec<String> = sandbox.nodes.iter().map(url).collect();
    vars.push(("AMQPCTL_SANDBOX_URLS", url_flags(&urls)));
    if let Some(pki) = &sandbox.pki {
        let tls_urls: Vec<String> = sandbox
            .nodes
            .iter()
            .filter_map(|n| n.amqps_port)
            .map(|p| format!("amqps://127.0.0.1:{p}"))
            .collect();
        if let Some(first) = tls_urls.first() {
            vars.push(("AMQPCTL_SANDBOX_TLS_URL", first.clone()));
        }
        vars.push(("AMQPCTL_SANDBOX_TLS_URLS", url_flags(&tls_urls)));
        vars.push(("AMQPCTL_SANDBOX_CAFILE", pki.ca.display().to_string()));
        vars.push((
            "AMQPCTL_SANDBOX_CERTFILE",
            pki.client_cert.display().to_string(),
        ));
        vars.push((
            "AMQPCTL_SANDBOX_KEYFILE",
            pki.client_key.display().to_string(),
        ));
    }
    vars
}

/// `--url A --url B …`: one flag a node, for `$AMQPCTL_SANDBOX_URLS`.
fn url_flags(urls: &[String]) -> String {
    urls.iter()
        .map(|u| format!("--url {u}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_status(sandbox: &Sandbox) -> Result<(), Error> {
    let running = sandbox.running_nodes();
    let mut text = format!(
        "Sandbox {}: {} node{}, {} running{}, {}\n",
        sandbox.name,
        sandbox.nodes.len(),
        if sandbox.nodes.len() == 1 { "" } else { "s" },
        running.len(),
        if sandbox.pki.is_some() { ", TLS" } else { "" },
        sandbox.dir.display()
    );
    for (i, node) in sandbox.nodes.iter().enumerate() {
        let state = match node.running_pid() {
            Some(pid) if running.contains(&node.name) => format!("running (pid {pid})"),
            Some(pid) => format!("not running RabbitMQ (VM pid {pid})"),
            None => "stopped".to_string(),
        };
        let tls = node
            .amqps_port
            .map_or_else(String::new, |p| format!(" amqps://127.0.0.1:{p}"));
        text.push_str(&format!(
            "{} {} {state} amqp://127.0.0.1:{}{tls}\n",
            i + 1,
            node.name,
            node.amqp_port
        ));
    }
    // The nodes' Erlang cookie is in the sandbox's directory, their HOME.
    if let Some(first) = sandbox.nodes.first() {
        text.push_str(&format!(
            "rabbitmqctl: HOME={} {} -n {} cluster_status\n",
            shell_quote(&first.home.display().to_string()),
            first.server.bin().join("rabbitmqctl").display(),
            first.name
        ));
    }
    write_stdout(text.as_bytes())
}

/// `value` as one shell word: as is when it is plain, else single-quoted.
fn shell_quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@,+=".contains(c));
    if plain {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_are_single_shell_words() {
        assert_eq!(
            shell_quote("amqp://127.0.0.1:5672"),
            "amqp://127.0.0.1:5672"
        );
        assert_eq!(shell_quote("--url a --url b"), "'--url a --url b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
