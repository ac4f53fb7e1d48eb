//! `amqpctl rpc serve`: answers requests from a queue with a command's
//! stdout, on a replies channel of its own in confirm mode; a failed command
//! gets an error reply at once.

use std::io::Write;
use std::time::Duration;

use crossbeam_channel::Receiver;

use super::ERROR_HEADER;
use crate::cmd::broker::declare;
use crate::cmd::broker::flow::FlowWait;
use crate::cmd::broker::{ConnectSpec, with_connection};
use crate::cmd::io::exec::{self, Verdict};
use crate::cmd::io::output::status;
use crate::cmd::io::signals;
use crate::error::Error;
use amqpctl::amqp::{
    Channel, Confirmation, Consumer, ConsumerSettings, Next, Properties, Publish, QueueOptions,
    Table, Value,
};

/// At most this much of a failed command's stderr goes into the error
/// header: the header travels in one frame, which the broker limits.
const MAX_ERROR_STDERR: usize = 4096;

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

/// Serves requests from `queue` until `count` are answered or a signal.
pub fn serve(
    connect: &ConnectSpec,
    queue: &str,
    declare: bool,
    command: &str,
    exec_timeout: Option<Duration>,
    count: Option<u64>,
    prefetch: u16,
) -> Result<(), Error> {
    let interrupts = signals::interrupts()?;
    let mut options = QueueOptions::default();
    if declare {
        crate::cmd::broker::transient::settle(connect, queue, &mut options);
    }
    with_connection(connect, FlowWait::new(None), |connection, channel| {
        // Replies go out on a channel of their own, in confirm mode, while
        // the requests channel holds the consumer.
        let mut replies = connection.channel()?;
        let served = (|| {
            if declare {
                let info = channel.queue_declare(queue, &options)?;
                declare::announce_queue(&info);
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
