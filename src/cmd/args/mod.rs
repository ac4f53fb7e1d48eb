//! The flags several commands share (connection, queue, exchange, output
//! format) and the value parsers behind every flag. Each group turns into a
//! plain spec in its `resolve`, checked there, before anything is sent.

pub mod binding;
pub mod connection;
pub mod exchange;
pub mod format;
pub mod inflight;
pub mod management;
pub mod profile;
pub mod queue;
pub mod reconnect;
pub mod rfc3339;
pub mod url;
pub mod values;

pub use binding::BindingArgs;
pub use connection::ConnectionArgs;
pub use exchange::ExchangeArgs;
pub use format::FormatArgs;
pub use inflight::InflightArgs;
pub use management::ManagementArgs;
pub use queue::QueueArgs;
