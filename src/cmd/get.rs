//! `amqpctl get`: pull messages with basic.get, printed like `con` prints
//! them; acked after they are all written, or put back together with
//! `--requeue`.

use clap::Args;

use super::args::FormatArgs;
use super::broker::{ConnectSpec, with_channel};
use super::io::format::Format;
use super::io::output::Lines;
use crate::error::Error;

/// The flags of `amqpctl get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// Queue to read from.
    #[arg(short = 'q', long = "queue", value_name = "NAME")]
    queue: String,

    /// Take up to N messages.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,

    /// Take every ready message, until the queue is drained (exit 0, also
    /// when it was empty).
    #[arg(long, conflicts_with = "count")]
    all: bool,

    /// Put the messages back (they are redelivered later, marked redelivered).
    #[arg(long)]
    requeue: bool,

    #[command(flatten)]
    output: FormatArgs,
}

/// What `get` does, resolved from its flags.
pub struct GetSpec {
    /// The queue to read.
    pub queue: String,
    /// Most messages to take.
    pub count: u64,
    /// `--all`: drain the queue; an empty one is no error.
    pub all: bool,
    /// Put them back instead of acking.
    pub requeue: bool,
    /// How to print them.
    pub format: Format,
}

impl GetArgs {
    /// Parses the output format before connecting.
    pub fn resolve(self) -> Result<GetSpec, Error> {
        Ok(GetSpec {
            format: self.output.resolve()?,
            queue: self.queue,
            count: if self.all { u64::MAX } else { self.count },
            all: self.all,
            requeue: self.requeue,
        })
    }
}

/// `amqpctl get`.
pub fn run(connect: &ConnectSpec, args: GetArgs) -> Result<(), Error> {
    get(connect, args.resolve()?)
}

/// Takes up to `spec.count` messages, writes them, then settles them all.
pub fn get(connect: &ConnectSpec, spec: GetSpec) -> Result<(), Error> {
    let mut lines = Lines::new();
    let mut got = 0;
    let result = with_channel(connect, |channel| {
        let mut rendered = Vec::new();
        // Every delivery stays unacked until all are written: a message put
        // back at once would be the next basic.get's answer again.
        let mut last = None;
        while got < spec.count {
            let Some((delivery, _remaining)) = channel.basic_get(&spec.queue, false)? else {
                break;
            };
            rendered.clear();
            spec.format.render(&delivery, &mut rendered);
            lines.raw(&rendered)?;
            last = Some(delivery);
            got += 1;
        }
        let Some(last) = last else {
            return Ok(());
        };
        // Acked (or put back) only once every line is out; one multiple
        // (n)ack settles them all, and a requeue keeps their order.
        lines.flush()?;
        if spec.requeue {
            channel.basic_nack(last, true, true)
        } else {
            channel.basic_ack(last, true)
        }
        .map_err(Error::from)
    });
    lines.flush()?;
    result.map_err(|e| e.for_get(&spec.queue))?;
    if got == 0 && !spec.all {
        return Err(Error::QueueEmpty(spec.queue));
    }
    Ok(())
}
