//! The blocking AMQP layer: connections and channels with the semantics of
//! pika's `BlockingConnection`/`BlockingChannel`, on amiquip. It is the only
//! code that touches amiquip, and it knows nothing of the command line.

mod channel;
mod confirms;
mod connection;
mod consumer;
mod error;
mod properties;
mod server;
mod settings;
mod value;

pub use channel::{
    Channel, Closing, ExchangeOptions, MAX_SHORT_STRING, Publish, QueueInfo, QueueOptions,
};
pub use confirms::Confirmation;
pub use connection::{ConnectAbort, Connection, Opening, Unblocked};
pub use consumer::{Consumer, ConsumerSettings, Delivery, Next};
pub use error::{AmqpError, Result};
pub use properties::Properties;
pub use settings::{ConnectionSettings, Credentials, Endpoint};
pub use value::{Table, Value};

/// amiquip takes any stream that is `Read + Write + Evented`; our rustls
/// adapter is one.
impl amiquip::IoStream for crate::tls::TlsStream {}
