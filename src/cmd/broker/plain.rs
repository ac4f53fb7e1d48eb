//! The plain-connection warning: the seed prints it for explicit
//! credentials without TLS (loopback too), and a user who chose that
//! connection can silence it, with `--quiet` or the environment.

use super::ConnectSpec;

/// The warning a plain connection with explicit credentials gets.
pub const NOT_SECURED: &str = "WARNING: the connection is not secured.";

/// The environment variable that silences [`NOT_SECURED`] for every
/// command (any value but empty or 0).
pub const NO_PLAIN_WARNING: &str = "AMQPCTL_NO_PLAIN_WARNING";

/// Whether [`NO_PLAIN_WARNING`] asks for silence.
pub fn silenced() -> bool {
    std::env::var_os(NO_PLAIN_WARNING).is_some_and(|v| !v.is_empty() && v != "0")
}

impl ConnectSpec {
    /// Drops the plain-connection warning: `--quiet` asks for no chatter.
    pub fn quiet(mut self) -> Self {
        self.warnings.retain(|w| *w != NOT_SECURED);
        self
    }
}
