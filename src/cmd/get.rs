//! `amqpctl get`: pull messages with basic.get, printed like `con` prints
//! them; acked after they are all written, or put back together with
//! `--requeue`.

use clap::Args;

use super::format::{Delimiter, Format, TOKENS_HELP, parse_delimiter};
use super::output::Lines;
use super::{Session, with_channel};
use crate::error::Error;
use amqpctl::amqp::AmqpError;

#[derive(Debug, Args)]
pub struct GetArgs {
    /// Queue to read from.
    #[arg(short = 'q', long = "queue", value_name = "NAME")]
    queue: String,

    /// Take up to N messages.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,

    /// Put the messages back (they are redelivered later, marked redelivered).
    #[arg(long)]
    requeue: bool,

    #[arg(long, value_name = "FORMAT", default_value = "received", long_help = TOKENS_HELP, help = "Output format: received, body, json, or a %-template (see --help)")]
    format: String,

    /// What ends each body with --format body (escapes: \n \t \0 \xNN)
    /// [default: \n].
    #[arg(long, value_name = "D", value_parser = parse_delimiter)]
    delimiter: Option<Delimiter>,
}

pub fn run(session: &Session, args: GetArgs) -> Result<(), Error> {
    let delimiter = args.delimiter.as_ref().map(|d| d.0.as_slice());
    let format = Format::parse(&args.format, delimiter).map_err(Error::Usage)?;
    let mut lines = Lines::new();
    let mut got = 0;
    let result = with_channel(session, |channel| {
        let mut rendered = Vec::new();
        // Every delivery stays unacked until all are written: a message put
        // back at once would be the next basic.get's answer again.
        let mut last = None;
        while got < args.count {
            let Some((delivery, _remaining)) = channel.basic_get(&args.queue, false)? else {
                break;
            };
            rendered.clear();
            format.render(&delivery, &mut rendered);
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
        if args.requeue {
            channel.basic_nack(last, true, true)
        } else {
            channel.basic_ack(last, true)
        }
        .map_err(Error::from)
    });
    lines.flush()?;
    result.map_err(|e| hint(e, &args.queue))?;
    if got == 0 {
        return Err(Error::QueueEmpty(args.queue));
    }
    Ok(())
}

/// Says what to do when the queue is missing or is a stream.
fn hint(e: Error, queue: &str) -> Error {
    match e {
        Error::Amqp(AmqpError::ConnectionClosed { code: 540, text })
            if text.contains("basic.get not supported by stream queues") =>
        {
            Error::Unsupported {
                error: AmqpError::ConnectionClosed { code: 540, text },
                hint: format!("a stream is read with: amqpctl con -q {queue} --offset first"),
            }
        }
        e if e.is_missing_queue() => {
            e.hinted(format!("declare it first: amqpctl declare queue {queue}"))
        }
        e => e,
    }
}
