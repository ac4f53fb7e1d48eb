//! Throwaway local RabbitMQ nodes and clusters from the machine's
//! `rabbitmq-server` scripts: what `amqpctl sandbox` runs, and what the test
//! suite boots its own nodes with (one implementation for both).
//!
//! - [`node`]: one node in a directory of its own: boot, stop, kill, `rabbitmqctl`.
//! - [`cluster`]: a [`Sandbox`] of N joined nodes, its state file, provisioning.
//! - [`server`]: which RabbitMQ a node runs: the machine's, or another root's.
//! - [`certs`]: the CA and certificates of `--tls`.

pub mod certs;
pub mod cluster;
pub mod error;
pub mod node;
mod process;
pub mod server;

pub use certs::{CLIENT_CN, Pki};
pub use cluster::{Options, Sandbox, dir_for, join, provision};
pub use error::{Result, SandboxError};
pub use node::{Node, PLUGINS, ServerTls, write_cookie};
pub use server::{Server, rabbitmq_bin};
