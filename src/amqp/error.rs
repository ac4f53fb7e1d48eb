//! Errors of the AMQP layer, sorted by what the user can do about them:
//! the broker could not be reached, refused the login, closed a channel or the
//! connection, returned or nacked a message.

use crate::tls::TlsError;

/// Everything the blocking AMQP layer can report.
///
/// Broker-raised errors print as `(CODE, "TEXT")`, the form pika users know.
#[derive(Debug, thiserror::Error)]
pub enum AmqpError {
    /// A name or value the broker could never accept (too long, …).
    #[error("{0}")]
    Invalid(String),

    /// No TCP connection (or no AMQP peer) at the address: DNS, refused,
    /// unreachable, timed out, or not an AMQP server.
    #[error("could not connect to {addr}: {reason}")]
    Connect {
        /// host:port tried.
        addr: String,
        /// What failed.
        reason: String,
    },

    /// The connect deadline (`ConnectionSettings::connect_timeout`) passed
    /// before the connection was up.
    #[error("could not connect to {addr}: timed out{during}")]
    TimedOut {
        /// host:port tried.
        addr: String,
        /// "" while connecting TCP, or " during the AMQP handshake".
        during: &'static str,
    },

    /// Something accepted a plain (non-TLS) TCP connection but gave no AMQP
    /// 0-9-1 answer to the protocol header: a malformed or unexpected first
    /// frame, or the socket closed or reset during the handshake (what a TLS
    /// listener does with a plain client).
    #[error("could not connect to {addr}: {reason}")]
    NotAmqp {
        /// host:port tried.
        addr: String,
        /// What came back instead.
        reason: String,
    },

    /// The TLS layer refused the broker or the handshake failed.
    #[error(transparent)]
    Tls(#[from] TlsError),

    /// The broker rejected the credentials or the mechanism.
    #[error("login refused by {addr}: {reason}")]
    Login {
        /// host:port of the broker.
        addr: String,
        /// Why, in the broker's words where it gave any.
        reason: String,
    },

    /// The broker closed the connection while it was being opened
    /// (vhost access refused, connection limit reached).
    #[error("({code}, \"{text}\")")]
    Refused {
        /// AMQP reply code (530, …).
        code: u16,
        /// The broker's reply text.
        text: String,
    },

    /// The broker closed an open connection (320 CONNECTION_FORCED, …).
    #[error("({code}, \"{text}\")")]
    ConnectionClosed {
        /// AMQP reply code.
        code: u16,
        /// The broker's reply text.
        text: String,
    },

    /// The connection died without a close from the broker: socket closed,
    /// I/O error, or missed heartbeats.
    #[error("connection lost: {reason}")]
    ConnectionLost {
        /// What the I/O loop saw.
        reason: String,
    },

    /// The broker closed the channel (404, 403, 406 …).
    #[error("({code}, \"{text}\")")]
    ChannelClosed {
        /// AMQP reply code.
        code: u16,
        /// The broker's reply text.
        text: String,
    },

    /// The broker cancelled our consumer (its queue was deleted, …).
    #[error("the broker cancelled the consumer on queue '{queue}'")]
    ConsumerCancelled {
        /// The queue consumed from.
        queue: String,
    },

    /// A mandatory message could not be routed and came back.
    #[error("message returned by the broker: ({code}, \"{text}\")")]
    Returned {
        /// AMQP reply code (312 NO_ROUTE).
        code: u16,
        /// The broker's reply text.
        text: String,
    },

    /// Something amiquip or the broker did that this layer does not expect.
    #[error("AMQP protocol error: {0}")]
    Protocol(String),
}

impl AmqpError {
    /// Whether the broker closed the connection because the request used a
    /// feature its configuration no longer permits (RabbitMQ 4's deprecated
    /// features: 541 "Feature `…` is deprecated."): a refusal of what was
    /// asked, not a lost connection.
    pub fn is_deprecated_feature(&self) -> bool {
        matches!(self, AmqpError::ConnectionClosed { code: 541, text }
            if text.contains("is deprecated"))
    }
}

/// Result of the AMQP layer.
pub type Result<T, E = AmqpError> = std::result::Result<T, E>;

/// Sorts an amiquip error raised on an open connection.
pub(crate) fn from_amiquip(e: amiquip::Error) -> AmqpError {
    use amiquip::Error as E;
    match e {
        E::ServerClosedChannel { code, message, .. } => AmqpError::ChannelClosed {
            code,
            text: one_line(&message),
        },
        E::ServerClosedConnection { code, message } => AmqpError::ConnectionClosed {
            code,
            text: one_line(&message),
        },
        E::MissedServerHeartbeats => AmqpError::ConnectionLost {
            reason: "missed heartbeats from the broker".to_string(),
        },
        E::UnexpectedSocketClose => AmqpError::ConnectionLost {
            reason: "the broker closed the socket".to_string(),
        },
        E::IoErrorReadingSocket { source } | E::IoErrorWritingSocket { source } => {
            AmqpError::ConnectionLost {
                reason: source.to_string(),
            }
        }
        other => AmqpError::Protocol(other.to_string()),
    }
}

/// A broker's reply text as one line: RabbitMQ 4's deprecated-feature
/// closes carry newlines and indentation (and any control character could
/// come), while every ERROR amqpctl prints is one line. Each run of
/// whitespace holding a line break, and each other control character,
/// becomes one space.
pub(crate) fn one_line(text: &str) -> String {
    let mut line = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if c == '\n' || c == '\r' || (pending_space && c.is_whitespace()) || c.is_control() {
            pending_space = true;
            continue;
        }
        if pending_space {
            line.truncate(line.trim_end().len());
            line.push(' ');
            pending_space = false;
        }
        line.push(c);
    }
    line.truncate(line.trim_end().len());
    line
}

/// Whether the error only says that the I/O thread is gone; the real cause
/// is then what closing the connection returns.
pub(crate) fn is_io_loop_gone(e: &amiquip::Error) -> bool {
    matches!(
        e,
        amiquip::Error::EventLoopDropped
            | amiquip::Error::EventLoopClientDropped
            | amiquip::Error::IoThreadPanic
    )
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn reply_texts_become_one_line() {
        let rabbitmq_4 = "INTERNAL_ERROR - Feature `transient_nonexcl_queues` is deprecated.\nIts use is not permitted per the configuration:\n    \"deprecated_features.permit.transient_nonexcl_queues = false\"\n";
        assert_eq!(
            one_line(rabbitmq_4),
            "INTERNAL_ERROR - Feature `transient_nonexcl_queues` is deprecated. Its use is not permitted per the configuration: \"deprecated_features.permit.transient_nonexcl_queues = false\""
        );
        assert_eq!(one_line("a\r\n\tb\u{1b}c"), "a b c");
        assert_eq!(
            one_line("NOT_FOUND - no queue 'q'"),
            "NOT_FOUND - no queue 'q'"
        );
    }
}
