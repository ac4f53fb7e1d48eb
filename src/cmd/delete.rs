//! `amqpctl delete queue|exchange`: delete one, saying how many messages
//! went with a queue; a missing one is exit 5 unless `--if-exists`.

use clap::{Args, Subcommand};

use super::broker::{ConnectSpec, with_channel};
use super::io::output::result;
use crate::error::Error;
use amqpctl::amqp::{AmqpError, Channel};

/// The flags of `amqpctl delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(subcommand)]
    what: Deletion,
}

#[derive(Debug, Subcommand)]
enum Deletion {
    /// Delete a queue and the messages in it.
    Queue {
        /// Queue name.
        name: String,
        /// Only if it has no consumers (else exit 5).
        #[arg(long)]
        if_unused: bool,
        /// Only if it holds no messages (else exit 5).
        #[arg(long)]
        if_empty: bool,
        /// A missing queue is no error (else exit 5).
        #[arg(long)]
        if_exists: bool,
    },
    /// Delete an exchange.
    Exchange {
        /// Exchange name.
        name: String,
        /// Only if it has no bindings (else exit 5).
        #[arg(long)]
        if_unused: bool,
        /// A missing exchange is no error (else exit 5).
        #[arg(long)]
        if_exists: bool,
    },
}

/// What to delete and on which conditions, resolved from the flags.
pub enum DeleteSpec {
    /// A queue.
    Queue {
        /// Its name.
        name: String,
        /// Only without consumers.
        if_unused: bool,
        /// Only when empty.
        if_empty: bool,
        /// A missing queue is no error.
        if_exists: bool,
    },
    /// An exchange.
    Exchange {
        /// Its name.
        name: String,
        /// Only without bindings.
        if_unused: bool,
        /// A missing exchange is no error.
        if_exists: bool,
    },
}

impl DeleteArgs {
    /// The plain spec of the flags.
    pub fn resolve(self) -> DeleteSpec {
        match self.what {
            Deletion::Queue {
                name,
                if_unused,
                if_empty,
                if_exists,
            } => DeleteSpec::Queue {
                name,
                if_unused,
                if_empty,
                if_exists,
            },
            Deletion::Exchange {
                name,
                if_unused,
                if_exists,
            } => DeleteSpec::Exchange {
                name,
                if_unused,
                if_exists,
            },
        }
    }
}

/// `amqpctl delete`.
pub fn run(connect: &ConnectSpec, args: DeleteArgs) -> Result<(), Error> {
    delete(connect, args.resolve())
}

/// Deletes what `spec` names. The broker's delete succeeds whether or not
/// the queue or exchange exists, so a passive declare asks first. Its 404
/// closes the channel; with --if-exists that is the end of the work, and
/// closing a channel the broker closed is no error.
pub fn delete(connect: &ConnectSpec, spec: DeleteSpec) -> Result<(), Error> {
    with_channel(connect, |channel| match spec {
        DeleteSpec::Queue {
            name,
            if_unused,
            if_empty,
            if_exists,
        } => delete_queue(channel, &name, if_unused, if_empty, if_exists),
        DeleteSpec::Exchange {
            name,
            if_unused,
            if_exists,
        } => delete_exchange(channel, &name, if_unused, if_exists),
    })
}

fn delete_queue(
    channel: &Channel,
    name: &str,
    if_unused: bool,
    if_empty: bool,
    if_exists: bool,
) -> Result<(), Error> {
    let declared = match channel.queue_inspect(name) {
        Ok(info) => info,
        Err(e) if if_exists && is_not_found(&e) => {
            return result(format_args!("Queue {name} did not exist: nothing deleted"));
        }
        Err(e) => return Err(e.into()),
    };
    let deleted = channel.queue_delete(name, if_unused, if_empty)?;
    // delete-ok counts what a classic or quorum queue held; for a stream
    // RabbitMQ (3.10) always answers 0. The passive declare's count is then
    // the stream's length, as of the broker's last statistics tick (a few
    // seconds behind the latest publishes).
    let n = if deleted == 0 {
        declared.messages
    } else {
        deleted
    };
    result(format_args!("Deleted queue: {name} ({n} messages)"))
}

fn delete_exchange(
    channel: &Channel,
    name: &str,
    if_unused: bool,
    if_exists: bool,
) -> Result<(), Error> {
    match channel.exchange_check(name) {
        Ok(()) => {}
        Err(e) if if_exists && is_not_found(&e) => {
            return result(format_args!(
                "Exchange {name} did not exist: nothing deleted"
            ));
        }
        Err(e) => return Err(e.into()),
    }
    channel.exchange_delete(name, if_unused)?;
    result(format_args!("Deleted exchange: {name}"))
}

fn is_not_found(e: &AmqpError) -> bool {
    matches!(e, AmqpError::ChannelClosed { code: 404, .. })
}
