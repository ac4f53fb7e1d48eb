//! `amqpctl rpc call` and `amqpctl rpc serve`: tutorial 6's request/reply,
//! on RabbitMQ's direct reply-to, interoperable with pika's RPC client and
//! server.

use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};

use super::args::values::parse_seconds;
use super::broker::declare::{self, Detail};
use super::broker::flow::FlowWait;
use super::broker::{ConnectSpec, with_channel, with_connection};
use super::io::exec::{self, Verdict};
use super::io::output::{Lines, status};
use super::io::signals;
use crate::error::Error;
use crossbeam_channel::Receiver;

use amqpctl::amqp::{
    Channel, Confirmation, Consumer, ConsumerSettings, Next, Properties, Publish, QueueOptions,
    Table, Value,
};

/// RabbitMQ's pseudo-queue for direct replies.
const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// The reply header by which `rpc serve` says that its command failed: a
/// short description and the command's stderr. (RabbitMQ reserves `x-`.)
const ERROR_HEADER: &str = "amqpctl-error";

/// At most this much of a failed command's stderr goes into the error
/// header: the header travels in one frame, which the broker limits.
const MAX_ERROR_STDERR: usize = 4096;

/// How often a waiting call checks whether its request was returned.
const RETURN_CHECK: Duration = Duration::from_millis(50);

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
        /// Request body.
        #[arg(short = 'm', long = "message", value_name = "TEXT")]
        message: String,
        /// Seconds to wait for the reply.
        #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_seconds)]
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

/// `amqpctl rpc call|serve`.
pub fn run(connect: &ConnectSpec, args: RpcArgs) -> Result<(), Error> {
    match args.role {
        Role::Call {
            exchange,
            routing_key,
            message,
            timeout,
        } => call(
            connect,
            &exchange,
            &routing_key,
            message.as_bytes(),
            timeout,
        ),
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

fn correlation_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("amqpctl-{}-{nanos:x}", std::process::id())
}

fn call(
    connect: &ConnectSpec,
    exchange: &str,
    key: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<(), Error> {
    let mut lines = Lines::new();
    let result = with_channel(connect, |channel| {
        // Direct reply-to: a no-ack consumer on the pseudo-queue, started
        // before the request goes out, on the same channel.
        let replies = channel.basic_consume(
            DIRECT_REPLY_TO,
            &ConsumerSettings {
                no_ack: true,
                ..ConsumerSettings::default()
            },
        )?;
        let id = correlation_id();
        let properties = Properties {
            reply_to: Some(DIRECT_REPLY_TO.to_string()),
            correlation_id: Some(id.clone()),
            // A request nobody took within the timeout expires instead of
            // waiting in the queue for a server whose answer nobody reads.
            expiration: Some(timeout.as_millis().to_string()),
            ..Properties::default()
        };
        channel.basic_publish(&Publish {
            exchange,
            routing_key: key,
            body,
            properties: &properties,
            mandatory: true,
        })?;
        let deadline = Instant::now() + timeout;
        loop {
            // An unroutable request comes back: no need to wait it out.
            channel.check_returned()?;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::NoReply(timeout.as_secs_f64()));
            }
            match replies.next::<()>(Some(left.min(RETURN_CHECK)), None)? {
                Next::Delivery(d)
                    if d.properties().correlation_id.as_deref() == Some(id.as_str()) =>
                {
                    if let Some(error) = d
                        .properties()
                        .headers
                        .as_ref()
                        .and_then(|h| h.get(ERROR_HEADER))
                    {
                        return Err(Error::ServerFailed(match error {
                            Value::Str(text) => text.clone(),
                            Value::Bytes(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                            other => format!("{other:?}"),
                        }));
                    }
                    // One newline ends the reply, whether or not it had one.
                    let body = d.body();
                    lines.line(b"", body.strip_suffix(b"\n").unwrap_or(body))?;
                    break;
                }
                Next::Delivery(_) | Next::Idle | Next::Interrupted => continue,
            }
        }
        replies.cancel()?;
        Ok(())
    });
    lines.flush()?;
    result
}

/// `--exec command exited with 3: boom`: why it failed, and the end of what
/// it printed on stderr.
fn error_description(why: &str, stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    if text.is_empty() {
        return format!("--exec command {why}");
    }
    let mut start = text.len().saturating_sub(MAX_ERROR_STDERR);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let cut = if start > 0 { "…" } else { "" };
    format!("--exec command {why}: {cut}{}", &text[start..])
}

fn serve(
    connect: &ConnectSpec,
    queue: &str,
    declare: bool,
    command: &str,
    exec_timeout: Option<Duration>,
    count: Option<u64>,
    prefetch: u16,
) -> Result<(), Error> {
    let interrupts = signals::interrupts()?;
    with_connection(connect, FlowWait::new(None), |connection, channel| {
        // Replies go out on a channel of their own, in confirm mode, while
        // the requests channel holds the consumer.
        let mut replies = connection.channel()?;
        let served = (|| {
            if declare {
                let info = channel.queue_declare(queue, &QueueOptions::default())?;
                declare::announce_queue(&info, Detail::Name);
            }
            channel.basic_qos(prefetch)?;
            replies.confirm_delivery()?;
            let requests = channel.basic_consume(queue, &ConsumerSettings::default())?;
            let answered = answer(
                &requests,
                &mut replies,
                command,
                exec_timeout,
                count,
                &interrupts,
            );
            let cancelled = requests.cancel();
            answered?;
            cancelled.map_err(Error::from)
        })();
        let closed = replies.close();
        served?;
        closed.map_err(Error::from)
    })
}

fn answer(
    requests: &Consumer<'_>,
    replies: &mut Channel,
    command: &str,
    exec_timeout: Option<Duration>,
    count: Option<u64>,
    interrupts: &Receiver<i32>,
) -> Result<(), Error> {
    let mut remaining = count.unwrap_or(u64::MAX);
    while remaining > 0 {
        let request = match requests.next(None, Some(interrupts))? {
            Next::Delivery(d) => d,
            Next::Idle | Next::Interrupted => break,
        };
        remaining -= 1;
        let p = request.properties();
        let Some(reply_to) = p.reply_to.clone() else {
            status(format_args!(
                "WARNING: request {} has no reply_to: rejected",
                request.delivery_tag()
            ));
            requests.channel().basic_reject(request, false)?;
            continue;
        };
        let (verdict, output) = exec::run_capturing(command, &request, exec_timeout)?;
        // What the command said on stderr still reaches ours.
        if !output.stderr.is_empty() {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(&output.stderr).and_then(|()| err.flush());
        }
        if let Verdict::Failed(why) = verdict {
            // The caller is told at once instead of waiting out its timeout.
            let error = error_description(&why, &output.stderr);
            let reply_properties = Properties {
                correlation_id: p.correlation_id.clone(),
                headers: Some(Table::from([(ERROR_HEADER.to_string(), Value::Str(error))])),
                ..Properties::default()
            };
            let outcome = replies.publish_confirmed(&Publish {
                exchange: "",
                routing_key: &reply_to,
                body: b"",
                properties: &reply_properties,
                mandatory: false,
            })?;
            status(format_args!(
                "WARNING: --exec command {why}: request rejected, error reply sent"
            ));
            if outcome != Confirmation::Ack {
                status(format_args!(
                    "WARNING: the error reply to {reply_to} was not confirmed: {outcome:?}"
                ));
            }
            requests.channel().basic_reject(request, false)?;
            continue;
        }
        let reply_properties = Properties {
            correlation_id: p.correlation_id.clone(),
            ..Properties::default()
        };
        // The reply is confirmed before the request is acked: a crash in
        // between repeats the request instead of losing the reply.
        let outcome = replies.publish_confirmed(&Publish {
            exchange: "",
            routing_key: &reply_to,
            body: &output.stdout,
            properties: &reply_properties,
            mandatory: false,
        })?;
        if outcome != Confirmation::Ack {
            status(format_args!(
                "WARNING: the reply to {reply_to} was not confirmed: {outcome:?}"
            ));
        }
        requests.channel().basic_ack(request, false)?;
    }
    Ok(())
}
