//! `amqpctl get`: pull messages with basic.get, printed like `con` prints
//! them; acked after they are all written, or put back together with
//! `--requeue`.

use clap::Args;

use super::args::FormatArgs;
use super::broker::flow::FlowWait;
use super::broker::{ConnectSpec, put_back, with_connection};
use super::filter::Filter;
use super::io::format::Format;
use super::io::output::Lines;
use super::io::output::status;
use super::peek;
use crate::error::Error;
use amqpctl::amqp::{Channel, Delivery};

/// The flags of `amqpctl get`.
#[derive(Debug, Args)]
#[command(after_help = crate::cmd::filter::HELP)]
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

    /// With --requeue, peek even when the message would have no delivery
    /// to spare afterwards (a quorum queue's delivery limit).
    #[arg(long, requires = "requeue")]
    peek_past_limit: bool,

    /// Take only the messages for which this CEL expression is true (see
    /// Filters below); the others stay in the queue, each
    /// looked at once.
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,

    #[command(flatten)]
    output: FormatArgs,
}

/// What `get` does, resolved from its flags.
pub struct GetSpec {
    /// The queue to read.
    pub queue: String,
    /// Most messages to take.
    pub count: usize,
    /// `--all`: drain the queue; an empty one is no error.
    pub all: bool,
    /// Put them back instead of acking.
    pub requeue: bool,
    /// `--peek-past-limit`.
    pub peek_past_limit: bool,
    /// How to print them.
    pub format: Format,
    /// `--filter`.
    pub filter: Option<Filter>,
}

impl GetArgs {
    /// Parses the output format before connecting.
    pub fn resolve(self) -> Result<GetSpec, Error> {
        Ok(GetSpec {
            filter: self.filter.as_deref().map(Filter::compile).transpose()?,
            format: self.output.resolve()?,
            queue: self.queue,
            count: if self.all {
                usize::MAX
            } else {
                usize::try_from(self.count).unwrap_or(usize::MAX)
            },
            all: self.all,
            requeue: self.requeue,
            peek_past_limit: self.peek_past_limit,
        })
    }
}

/// `amqpctl get`.
pub fn run(connect: &ConnectSpec, args: GetArgs) -> Result<(), Error> {
    get(connect, args.resolve()?)
}

/// Takes up to `spec.count` messages (that `--filter` keeps), writes
/// them, then settles them all; what the filter skips goes back.
pub fn get(connect: &ConnectSpec, spec: GetSpec) -> Result<(), Error> {
    let mut lines = Lines::new();
    let mut taken = Taken::default();
    let mut warnings = Vec::new();
    let mut refused = None;
    let result = with_connection(connect, FlowWait::new(None), |connection, channel| {
        // 4.3 no longer counts a basic.nack with requeue as a delivery.
        let counts = connection.server_version().is_none_or(|v| v < (4, 3));
        let mut rendered = Vec::new();
        // Every delivery stays unacked until all are written: a message put
        // back at once would be the next basic.get's answer again.
        while taken.kept.len() < spec.count {
            let Some((delivery, _remaining)) = channel.basic_get(&spec.queue, false)? else {
                break;
            };
            if spec.filter.as_ref().is_some_and(|f| !f.matches(&delivery)) {
                taken.skipped.push(delivery);
                continue;
            }
            if spec.requeue {
                match peek::check(&delivery, &spec.queue, counts, spec.peek_past_limit) {
                    Ok(warning) => warnings.extend(warning),
                    Err(e) => {
                        // Put back unprinted, with a delivery to spare.
                        taken.skipped.push(delivery);
                        refused = Some(e);
                        break;
                    }
                }
            }
            rendered.clear();
            spec.format.render(&delivery, &mut rendered);
            lines.raw(&rendered)?;
            taken.kept.push(delivery);
        }
        // Settled only once every line is out.
        lines.flush()?;
        taken.settle(channel, spec.requeue)
    });
    lines.flush()?;
    for warning in &warnings {
        status(warning);
    }
    if let Some(filter) = &spec.filter {
        filter.report();
    }
    result.map_err(|e| e.for_get(&spec.queue))?;
    if let Some(refusal) = refused {
        return Err(refusal);
    }
    if taken.got == 0 && !spec.all {
        return Err(match spec.filter {
            Some(_) => Error::NoMatch {
                queue: spec.queue,
                looked: taken.looked,
            },
            None => Error::QueueEmpty(spec.queue),
        });
    }
    Ok(())
}

/// What a `get` took: the messages it printed and those `--filter`
/// skipped, all unacked until [`Taken::settle`].
#[derive(Default)]
struct Taken {
    kept: Vec<Delivery>,
    skipped: Vec<Delivery>,
    /// How many were printed / looked at, once settled.
    got: usize,
    looked: usize,
}

impl Taken {
    /// Acks (or puts back, with `requeue`) what was printed and puts back
    /// what was skipped. Without skipped messages one multiple (n)ack
    /// settles them all, and a requeue keeps their order.
    fn settle(&mut self, channel: &Channel, requeue: bool) -> Result<(), Error> {
        self.got = self.kept.len();
        self.looked = self.got + self.skipped.len();
        let settle = |d, multiple| {
            if requeue {
                channel.basic_nack(d, multiple, true)
            } else {
                channel.basic_ack(d, multiple)
            }
        };
        if self.skipped.is_empty() {
            if let Some(last) = self.kept.pop() {
                settle(last, true)?;
            }
            self.kept.clear();
            return Ok(());
        }
        for d in self.kept.drain(..) {
            settle(d, false)?;
        }
        // Only skipped ones are unacked now.
        put_back(channel, std::mem::take(&mut self.skipped))
    }
}
