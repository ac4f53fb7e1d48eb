//! `get --requeue` on a quorum queue: every requeue on RabbitMQ 3.x and
//! 4.0–4.2 (basic.nack and basic.reject alike, and a channel's close)
//! counts a delivery, and past the queue's delivery limit (20 by default
//! since 4.0) the broker drops or dead-letters the message. 4.3 no longer
//! counts basic.nack, which `get --requeue` uses. So a peek says when it
//! used up a delivery, and refuses before it could use the last one.

use amqpctl::amqp::{Delivery, Value};

use crate::error::Error;

/// A quorum queue's delivery limit unless set otherwise (RabbitMQ 4).
pub const DEFAULT_DELIVERY_LIMIT: i64 = 20;

/// How many times the message was returned before, from the header a
/// quorum queue adds (`x-delivery-count`); `None` without the header.
pub fn delivery_count(delivery: &Delivery) -> Option<i64> {
    integer_header(delivery, "x-delivery-count")
}

/// The integer in header `name` (of whichever width the broker sent),
/// e.g. a stream's `x-stream-offset` (`con --reconnect`); `None` without it.
pub fn integer_header(delivery: &Delivery, name: &str) -> Option<i64> {
    match delivery.properties().headers?.get(name)? {
        Value::I64(n) => Some(*n),
        Value::I32(n) => Some(i64::from(*n)),
        Value::I16(n) => Some(i64::from(*n)),
        Value::I8(n) => Some(i64::from(*n)),
        Value::U32(n) => Some(i64::from(*n)),
        Value::U16(n) => Some(i64::from(*n)),
        Value::U8(n) => Some(i64::from(*n)),
        _ => None,
    }
}

/// Before printing a peeked message: refuses (unless `insist`) when the
/// requeue would leave it no delivery to spare; otherwise the WARNING to
/// print after it, when the requeue counts (`counts`: the broker is older
/// than 4.3).
pub fn check(
    delivery: &Delivery,
    queue: &str,
    counts: bool,
    insist: bool,
) -> Result<Option<String>, Error> {
    let Some(before) = delivery_count(delivery).filter(|_| counts) else {
        return Ok(None);
    };
    let after = before + 1;
    if after >= DEFAULT_DELIVERY_LIMIT && !insist {
        return Err(Error::Usage(format!(
            "a message of queue '{queue}' has been delivered {after} times; past its delivery limit ({DEFAULT_DELIVERY_LIMIT} by default) the broker drops or dead-letters it, and every peek counts: take it without --requeue, or insist with --peek-past-limit"
        )));
    }
    Ok(Some(format!(
        "WARNING: this peek used one of the message's deliveries (delivery count now {after}; a quorum queue drops or dead-letters it past its delivery limit, {DEFAULT_DELIVERY_LIMIT} by default)"
    )))
}
