//! `amqpctl rpc call`: one request on direct reply-to, and its reply (or
//! the server's error reply, or a timeout).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::ERROR_HEADER;
use crate::cmd::broker::{ConnectSpec, with_channel};
use crate::cmd::io::output::Lines;
use crate::error::Error;
use amqpctl::amqp::{ConsumerSettings, Next, Properties, Publish, Value};

/// RabbitMQ's pseudo-queue for direct replies.
const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// How often a waiting call checks whether its request was returned.
const RETURN_CHECK: Duration = Duration::from_millis(50);

fn correlation_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("amqpctl-{}-{nanos:x}", std::process::id())
}

/// Sends `body` to `exchange` with `routing_key` and prints the reply.
pub fn call(
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
                            Value::Bytes(bytes) | Value::StrBytes(bytes) => {
                                String::from_utf8_lossy(bytes).into_owned()
                            }
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
