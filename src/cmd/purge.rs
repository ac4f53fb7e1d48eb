//! `amqpctl purge`: remove every ready message from a queue, saying how
//! many went.

use clap::Args;

use super::broker::{ConnectSpec, with_channel};
use super::io::output::result;
use crate::error::Error;

/// The flags of `amqpctl purge`.
#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Queue to empty.
    pub queue: String,
}

/// `amqpctl purge QUEUE`.
pub fn run(connect: &ConnectSpec, args: PurgeArgs) -> Result<(), Error> {
    purge(connect, &args.queue)
}

/// Purges `queue` and says how many messages it held.
pub fn purge(connect: &ConnectSpec, queue: &str) -> Result<(), Error> {
    let mut n = 0;
    with_channel(connect, |channel| {
        n = channel.queue_purge(queue)?;
        Ok(())
    })
    .map_err(|e| e.for_purge(queue))?;
    result(format_args!("Purged queue: {queue} ({n} messages)"))
}
