//! `amqpctl purge` and `amqpctl delete`: remove messages, queues and
//! exchanges, saying how many messages went with them.

use clap::{Args, Subcommand};

use super::output::status;
use super::{Session, with_channel};
use crate::error::Error;
use amqpctl::amqp::{AmqpError, ExchangeOptions, QueueOptions};

#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Queue to empty.
    queue: String,
}

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

pub fn purge(session: &Session, args: PurgeArgs) -> Result<(), Error> {
    with_channel(session, |channel| {
        let n = channel.queue_purge(&args.queue)?;
        status(format_args!("Purged queue: {} ({n} messages)", args.queue));
        Ok(())
    })
}

pub fn delete(session: &Session, args: DeleteArgs) -> Result<(), Error> {
    // The broker's delete succeeds whether or not the queue or exchange
    // exists, so a passive declare asks first. Its 404 closes the channel;
    // with --if-exists that is the end of the work, and closing a channel
    // the broker closed is no error.
    with_channel(session, |channel| match &args.what {
        Deletion::Queue {
            name,
            if_unused,
            if_empty,
            if_exists,
        } => {
            let passive = QueueOptions {
                passive: true,
                ..QueueOptions::default()
            };
            let declared = match channel.queue_declare(name, &passive) {
                Ok(info) => info,
                Err(e) if *if_exists && is_not_found(&e) => {
                    status(format_args!("Queue {name} did not exist: nothing deleted"));
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            };
            let deleted = channel.queue_delete(name, *if_unused, *if_empty)?;
            // delete-ok counts what a classic or quorum queue held; for a
            // stream RabbitMQ (3.10) always answers 0. The passive declare's
            // count is then the stream's length, as of the broker's last
            // statistics tick (a few seconds behind the latest publishes).
            let n = if deleted == 0 {
                declared.messages
            } else {
                deleted
            };
            status(format_args!("Deleted queue: {name} ({n} messages)"));
            Ok(())
        }
        Deletion::Exchange {
            name,
            if_unused,
            if_exists,
        } => {
            let passive = ExchangeOptions {
                passive: true,
                ..ExchangeOptions::default()
            };
            match channel.exchange_declare(name, "direct", &passive) {
                Ok(()) => {}
                Err(e) if *if_exists && is_not_found(&e) => {
                    status(format_args!(
                        "Exchange {name} did not exist: nothing deleted"
                    ));
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
            channel.exchange_delete(name, *if_unused)?;
            status(format_args!("Deleted exchange: {name}"));
            Ok(())
        }
    })
}

/// The broker's 404 for a passive declare of something missing.
fn is_not_found(e: &AmqpError) -> bool {
    matches!(e, AmqpError::ChannelClosed { code: 404, .. })
}
