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

    /// Whether the broker said that a queue does not exist (404 NOT_FOUND
    /// "no queue …").
    pub fn is_missing_queue(&self) -> bool {
        matches!(self, AmqpError::ChannelClosed { code: 404, text }
            if text.starts_with("NOT_FOUND - no queue "))
    }

    /// Whether the connection broke (as opposed to a refusal or a mistake), so
    /// that connecting again may help.
    pub fn is_connection_lost(&self) -> bool {
        !self.is_deprecated_feature()
            && matches!(
                self,
                AmqpError::Connect { .. }
                    | AmqpError::TimedOut { .. }
                    | AmqpError::NotAmqp { .. }
                    | AmqpError::ConnectionClosed { .. }
                    | AmqpError::ConnectionLost { .. }
                    | AmqpError::Tls(TlsError::Handshake { .. } | TlsError::TimedOut { .. })
            )
    }

    /// Whether connecting again may help: the connection broke, or a
    /// cluster lost the node of the queue in use, so that the broker
    /// cancelled our consumer, says the queue's home node is down, or that
    /// a stream has no replica running on this node (all pass once the node
    /// is back, or a new leader has taken over).
    pub fn is_worth_retrying(&self) -> bool {
        match self {
            AmqpError::ConsumerCancelled { .. } => true,
            AmqpError::ChannelClosed { code: 404, text } => {
                text.contains("is down or inaccessible")
            }
            // A stream's replica on the node connected to is not running
            // (yet): it restarts after the cluster lost the stream's leader.
            AmqpError::ChannelClosed { code: 406, text } => {
                // 4.0: "does not have a running replica on the local node".
                text.contains("does not have a replica on the local node")
                    || text.contains("does not have a running replica on the local node")
            }
            _ => self.is_connection_lost(),
        }
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
    use super::{AmqpError, one_line};

    #[test]
    fn a_deprecated_feature_refused_is_not_a_lost_connection() {
        let refused = AmqpError::ConnectionClosed {
            code: 541,
            text: "INTERNAL_ERROR - Feature `transient_nonexcl_queues` is deprecated. Its use is not permitted".into(),
        };
        assert!(!refused.is_connection_lost());
        assert!(!refused.is_worth_retrying());
        let forced = AmqpError::ConnectionClosed {
            code: 320,
            text: "CONNECTION_FORCED - broker forced connection closure".into(),
        };
        assert!(forced.is_connection_lost());
    }

    #[test]
    fn a_lost_queue_node_is_worth_retrying_a_missing_queue_is_not() {
        let cancelled = AmqpError::ConsumerCancelled { queue: "q".into() };
        assert!(cancelled.is_worth_retrying());
        assert!(!cancelled.is_connection_lost());
        let node_down = AmqpError::ChannelClosed {
            code: 404,
            text: "NOT_FOUND - home node 'n2@localhost' of durable queue 'q' in vhost '/' is down or inaccessible".into(),
        };
        assert!(node_down.is_worth_retrying());
        let no_replica = AmqpError::ChannelClosed {
            code: 406,
            text: "PRECONDITION_FAILED - queue 'queue 's' in vhost '/'' does not have a replica on the local node".into(),
        };
        assert!(no_replica.is_worth_retrying());
        let redeclared = AmqpError::ChannelClosed {
            code: 406,
            text: "PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q'".into(),
        };
        assert!(!redeclared.is_worth_retrying());
        let missing = AmqpError::ChannelClosed {
            code: 404,
            text: "NOT_FOUND - no queue 'q' in vhost '/'".into(),
        };
        assert!(missing.is_missing_queue());
        assert!(!missing.is_worth_retrying());
    }

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
