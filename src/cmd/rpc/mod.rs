//! `amqpctl rpc call` and `amqpctl rpc serve`: tutorial 6's request/reply,
//! on RabbitMQ's direct reply-to, interoperable with pika's RPC client and
//! server. This file holds the flags; `call` and `serve` the two roles.

mod call;
mod serve;

use std::time::Duration;

use clap::{Args, Subcommand};

use super::args::values::{parse_rpc_timeout, parse_seconds};
use super::broker::ConnectSpec;
use crate::error::Error;
use call::call;
use serve::serve;

/// The reply header by which `rpc serve` says that its command failed: a
/// short description and the command's stderr. (RabbitMQ reserves `x-`.)
const ERROR_HEADER: &str = "amqpctl-error";

/// The flags of `amqpctl rpc`.
#[derive(Debug, Args)]
pub struct RpcArgs {
    #[command(subcommand)]
    role: Role,
}

#[derive(Debug, Subcommand)]
enum Role {
    /// Send a request and print the reply (exit 9 if none comes in time, 10
    /// if the server says that its command failed).
    Call {
        /// Exchange to send the request to.
        #[arg(
            short = 'e',
            long = "exchange",
            value_name = "NAME",
            default_value = ""
        )]
        exchange: String,
        /// Routing key of the server's queue.
        #[arg(short = 'k', long = "routing-key", value_name = "KEY")]
        routing_key: String,
        /// Request body; - reads it from standard input.
        #[arg(
            short = 'm',
            long = "message",
            value_name = "TEXT",
            allow_hyphen_values = true
        )]
        message: String,
        /// Seconds to wait for the reply.
        #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_rpc_timeout, allow_hyphen_values = true)]
        timeout: Duration,
    },
    /// Answer requests from a queue with CMD's stdout (CMD runs with sh -c,
    /// the request body on stdin, as with `con --exec`).
    Serve {
        /// Queue of requests.
        #[arg(short = 'q', long = "queue", value_name = "NAME")]
        queue: String,
        /// Declare the queue first (not auto-delete).
        #[arg(short = 'Q', long = "declare-queue")]
        declare: bool,
        /// Command that computes a reply.
        #[arg(long, value_name = "CMD")]
        exec: String,
        /// Kill a command after SECS (the request is then rejected, and the
        /// caller gets an error reply).
        #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
        exec_timeout: Option<Duration>,
        /// Stop after N requests.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        count: Option<u64>,
        /// Requests worked on at once (basic.qos).
        #[arg(long, value_name = "N", default_value_t = 1)]
        prefetch: u16,
    },
}

impl RpcArgs {
    /// `rpc call` or `rpc serve`, for the connection's default name.
    pub fn name(&self) -> &'static str {
        match self.role {
            Role::Call { .. } => "rpc call",
            Role::Serve { .. } => "rpc serve",
        }
    }
}

/// `amqpctl rpc call|serve`.
pub fn run(connect: &ConnectSpec, args: RpcArgs) -> Result<(), Error> {
    match args.role {
        Role::Call {
            exchange,
            routing_key,
            message,
            timeout,
        } => {
            // `-m -` reads the body from stdin, as `pub -m -` does; read
            // before connecting, so a failing stdin changes nothing.
            let body = if message == "-" {
                let mut body = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut body)
                    .map_err(|e| Error::io("reading the request from stdin", e))?;
                body
            } else {
                message.into_bytes()
            };
            call(connect, &exchange, &routing_key, &body, timeout)
        }
        Role::Serve {
            queue,
            declare,
            exec,
            exec_timeout,
            count,
            prefetch,
        } => serve(
            connect,
            &queue,
            declare,
            &exec,
            exec_timeout,
            count,
            prefetch,
        ),
    }
}
