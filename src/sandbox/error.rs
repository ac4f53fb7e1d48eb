//! `SandboxError`: what can go wrong while managing throwaway RabbitMQ nodes,
//! worded without command-line flags (`src/error.rs` adds those).

use std::io;
use std::path::PathBuf;

/// Everything the sandbox layer can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The RabbitMQ server scripts are not where they should be.
    #[error("the RabbitMQ server is not installed: no {} found", .path.display())]
    NotInstalled {
        /// The script that is missing.
        path: PathBuf,
    },

    /// A file or directory of the sandbox could not be read or written.
    #[error("{what} {}: {source}", .path.display())]
    Io {
        /// What was being done (`create`, `write`, …).
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },

    /// A program (`rabbitmq-server`, `rabbitmqctl`) could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: io::Error,
    },

    /// `up` for a name that already has a sandbox.
    #[error("a sandbox named '{name}' already exists in {}", .dir.display())]
    Exists {
        /// Its name.
        name: String,
        /// Its directory.
        dir: PathBuf,
    },

    /// A command about a sandbox that does not exist.
    #[error("no sandbox named '{name}' (no {})", .dir.display())]
    NotFound {
        /// The name asked for.
        name: String,
        /// Where its directory would be.
        dir: PathBuf,
    },

    /// The state file is not what `up` wrote.
    #[error("unreadable sandbox state {}: {reason}", .path.display())]
    BadState {
        /// The state file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A node name or number the sandbox does not have.
    #[error("sandbox '{sandbox}' has no node '{node}' (its nodes: {known})")]
    NoSuchNode {
        /// The sandbox.
        sandbox: String,
        /// What was asked for.
        node: String,
        /// Its nodes, numbered.
        known: String,
    },

    /// A bad request: zero nodes, a name that cannot be a node name.
    #[error("{0}")]
    Invalid(String),

    /// A node did not come up; `detail` is what its log and crash dump say.
    #[error("node {node} did not start: {reason}\n{detail}")]
    Boot {
        /// The node.
        node: String,
        /// What went wrong.
        reason: String,
        /// The relevant lines of its log.
        detail: String,
    },

    /// A `rabbitmqctl` (or other RabbitMQ script) call failed.
    #[error("{command} on {node} failed ({status}): {output}")]
    Ctl {
        /// The node.
        node: String,
        /// The command and its arguments.
        command: String,
        /// Its exit status, or "timed out".
        status: String,
        /// What it printed.
        output: String,
    },

    /// The certificates for `--tls` could not be made.
    #[error("cannot generate certificates: {0}")]
    Certificates(String),
}

/// The sandbox layer's results.
pub type Result<T> = std::result::Result<T, SandboxError>;

/// Wraps an I/O error with what was being done to which path.
pub(crate) fn io_error(
    what: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> SandboxError {
    let path = path.into();
    move |source| SandboxError::Io { what, path, source }
}
