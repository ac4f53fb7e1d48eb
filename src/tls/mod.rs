//! TLS for broker connections, on rustls: which certificates to trust, which
//! name to verify, an optional client certificate, and the stream adapter that
//! lets amiquip's mio-based I/O loop speak through a rustls session.

mod config;
mod error;
mod stream;

pub use config::{ClientIdentity, TlsSettings, Trust, client_config};
pub use error::{PemFile, TlsError};
pub use stream::{TlsStream, handshake};
