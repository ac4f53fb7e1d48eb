//! RabbitMQ's management HTTP API (the `rabbitmq_management` plugin): what
//! AMQP 0-9-1 cannot do from a client, listing the broker's queues,
//! exchanges, bindings, connections and consumers, and closing another
//! connection. The only code that speaks HTTP; it knows nothing of the
//! command line.

mod client;
mod error;

pub use client::{Client, MgmtSettings, encode_segment};
pub use error::MgmtError;
