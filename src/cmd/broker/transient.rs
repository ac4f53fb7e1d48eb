//! RabbitMQ 4.3 refuses transient non-exclusive queues by default (the
//! deprecated feature `transient_nonexcl_queues`; 4.0–4.2 can be configured
//! to). It says so with a 541 that closes the whole connection, so the
//! declaration cannot simply be retried on the same channel. Before a
//! command declares such a queue, a throwaway connection to a 4.x broker
//! tries a throwaway queue of that kind; when the broker refuses it, the
//! command declares its queue durable instead and says so on one WARNING
//! line. The commands of the walkthrough keep working; a 3.x broker is not
//! asked (it never refuses).

use std::time::{SystemTime, UNIX_EPOCH};

use amqpctl::amqp::{Connection, QueueOptions};

use super::ConnectSpec;
use crate::cmd::io::output::status;

/// Makes `options` durable, with a WARNING naming `queue`, when they ask
/// for a transient non-exclusive queue that the broker would refuse.
/// Anything going wrong while asking leaves them as they are: the real
/// declaration then reports it.
pub fn settle(connect: &ConnectSpec, queue: &str, options: &mut QueueOptions) {
    let transient_shared = !options.durable && !options.exclusive && !options.passive;
    if transient_shared && refuses_transient_shared(connect) {
        options.durable = true;
        let queue = if queue.is_empty() {
            "(broker-named)".to_string()
        } else {
            format!("'{queue}'")
        };
        status(format_args!(
            "WARNING: the broker refuses transient non-exclusive queues (RabbitMQ 4.3's default): declaring queue {queue} durable"
        ));
    }
}

/// Whether the broker is 4.x and refuses a transient non-exclusive queue.
fn refuses_transient_shared(connect: &ConnectSpec) -> bool {
    let Ok(connection) = Connection::open(&connect.settings) else {
        return false;
    };
    if connection
        .server_version()
        .is_none_or(|(major, _)| major < 4)
    {
        let _ = connection.close();
        return false;
    }
    let Ok(channel) = connection.channel() else {
        let _ = connection.close();
        return false;
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let probe = format!("amqpctl.probe.{}.{nanos}", std::process::id());
    let options = QueueOptions {
        auto_delete: true,
        ..QueueOptions::default()
    };
    match channel.queue_declare(&probe, &options) {
        Ok(_) => {
            let _ = channel.queue_delete(&probe, false, false);
            let _ = channel.close();
            let _ = connection.close();
            false
        }
        Err(e) => {
            let _ = connection.close();
            e.is_deprecated_feature()
        }
    }
}
