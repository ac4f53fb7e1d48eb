//! Plain connection settings: what the command line resolves to, and all the
//! blocking layer needs to open a connection.

use std::fmt;
use std::time::Duration;

use crate::tls::TlsSettings;

/// One broker address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// How to log in.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// SASL PLAIN with a user name and password.
    Plain {
        /// User name.
        username: String,
        /// Password; never printed (see the `Debug` impl).
        password: String,
    },
    /// SASL EXTERNAL: the broker takes the identity from the TLS client
    /// certificate.
    External,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Plain { username, .. } => f
                .debug_struct("Plain")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credentials::External => f.write_str("External"),
        }
    }
}

/// Everything needed to open a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// Brokers to try, in order; the first that accepts a TCP connection is used.
    pub endpoints: Vec<Endpoint>,
    /// Virtual host.
    pub vhost: String,
    /// Login.
    pub credentials: Credentials,
    /// Heartbeat interval to ask for, in seconds (0 disables).
    pub heartbeat: u16,
    /// Deadline for TCP connect, TLS handshake and AMQP handshake together.
    pub connect_timeout: Duration,
    /// TLS, if the connection is to be encrypted.
    pub tls: Option<TlsSettings>,
    /// The name the broker shows for the connection (the `connection_name`
    /// client property: management UI, `rabbitmqctl list_connections
    /// client_properties`), if any.
    pub connection_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_password() {
        let c = Credentials::Plain {
            username: "alice".into(),
            password: "s3cret".into(),
        };
        let shown = format!("{c:?}");
        assert!(shown.contains("alice"));
        assert!(!shown.contains("s3cret"));
    }

    #[test]
    fn ipv6_endpoints_are_bracketed() {
        let e = Endpoint {
            host: "::1".into(),
            port: 5672,
        };
        assert_eq!(e.to_string(), "[::1]:5672");
    }
}
