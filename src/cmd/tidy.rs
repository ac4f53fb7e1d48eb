//! `amqpctl purge` and `amqpctl delete`: remove messages, queues and
//! exchanges, saying how many messages went with them.

use clap::{Args, Subcommand};

use super::output::status;
use super::{Session, with_channel};
use crate::error::Error;

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
    },
    /// Delete an exchange.
    Exchange {
        /// Exchange name.
        name: String,
        /// Only if it has no bindings (else exit 5).
        #[arg(long)]
        if_unused: bool,
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
    with_channel(session, |channel| match &args.what {
        Deletion::Queue {
            name,
            if_unused,
            if_empty,
        } => {
            let n = channel.queue_delete(name, *if_unused, *if_empty)?;
            status(format_args!("Deleted queue: {name} ({n} messages)"));
            Ok(())
        }
        Deletion::Exchange { name, if_unused } => {
            channel.exchange_delete(name, *if_unused)?;
            status(format_args!("Deleted exchange: {name}"));
            Ok(())
        }
    })
}
