//! Advice in command-line words. The layers below say what happened; this
//! module says which flag or command to try. Every hint is printed on a line
//! of its own after the error (`hint: declare it with -Q`), so the `ERROR:`
//! line stays exactly what the broker or the layer said.
//!
//! To give a hint: `err.hinted("what to do")`. To give one whatever the
//! command, add a case to [`Error::general_hint`].

use amqpctl::amqp::AmqpError;
use amqpctl::sandbox::{SandboxError, rabbitmq_bin};
use amqpctl::tls::TlsError;

use super::Error;

impl Error {
    /// Adds advice to the error; it is printed as `hint: …` after it.
    pub fn hinted(self, hint: impl Into<String>) -> Error {
        Error::Hinted {
            error: Box::new(self),
            hint: hint.into(),
        }
    }

    /// Every hint that goes with the error, in the order they are printed:
    /// the general ones first, then those the commands added.
    pub fn hints(&self) -> Vec<String> {
        match self {
            Error::Hinted { error, hint } => {
                let mut hints = error.hints();
                hints.push(hint.clone());
                hints
            }
            e => e.general_hint().into_iter().collect(),
        }
    }

    /// `con`'s advice: a missing queue that `con` did not declare can be
    /// declared with -Q.
    pub fn for_consume(self, declared: bool) -> Error {
        if self.is_missing_queue() && !declared {
            self.hinted("declare it with -Q")
        } else {
            self
        }
    }

    /// `get`'s advice: how to declare a missing queue, and how to read a
    /// stream, which RabbitMQ refuses to basic.get.
    pub fn for_get(self, queue: &str) -> Error {
        self.for_queue(
            queue,
            format!("a stream is read with: amqpctl con -q {queue} --offset first"),
        )
    }

    /// `purge`'s advice: a stream cannot be purged (RabbitMQ closes the
    /// connection with 540), but it can be deleted or given a retention.
    pub fn for_purge(self, queue: &str) -> Error {
        self.for_queue(
            queue,
            format!(
                "a stream keeps its messages: delete it (amqpctl delete queue {queue}) or declare it with a retention (--arg x-max-age=1h)"
            ),
        )
    }

    /// The advice of a command on one queue that RabbitMQ refuses for a
    /// stream: `for_stream` then, else how to declare a missing queue.
    fn for_queue(self, queue: &str, for_stream: String) -> Error {
        match self {
            Error::Amqp(e) if is_stream_refusal(&e) => Error::Unsupported(e).hinted(for_stream),
            e => e.for_missing_queue(queue),
        }
    }

    /// How to declare `queue`, where the error says it is missing (`get`,
    /// `purge`, `move --to-queue`).
    pub fn for_missing_queue(self, queue: &str) -> Error {
        match self.is_missing_queue() {
            true => self.hinted(format!("declare it first: amqpctl declare queue {queue}")),
            false => self,
        }
    }

    /// Advice that goes with an error whatever the command: the flags to
    /// change for a reason the AMQP, TLS or sandbox layer reported.
    pub(super) fn general_hint(&self) -> Option<String> {
        let hint = match self {
            Error::Amqp(AmqpError::NotAmqp { .. }) => {
                "TLS port without --enable-tls? add --enable-tls (or --cafile FILE)"
            }
            Error::Amqp(AmqpError::TimedOut { .. })
            | Error::Amqp(AmqpError::Tls(TlsError::TimedOut { .. })) => {
                "a slow network or broker? allow longer with --connect-timeout SECS"
            }
            Error::Amqp(AmqpError::ChannelClosed { code: 406, text })
                if text.contains("larger than configured max size") =>
            {
                "the broker's max_message_size caps a message (16 MiB by default on RabbitMQ 4, 128 MiB on 3.x)"
            }
            Error::Amqp(AmqpError::Tls(TlsError::PlainAmqp { .. })) => {
                "the port speaks plain AMQP: drop --enable-tls/--cafile, or use the broker's TLS port (5671 by default)"
            }
            Error::Amqp(AmqpError::Tls(TlsError::UnknownAuthority { .. })) => {
                "use --cafile FILE or --insecure"
            }
            Error::Amqp(AmqpError::Tls(TlsError::NameMismatch { .. })) => "use --subjectname NAME",
            Error::Amqp(AmqpError::Connect { addr, reason })
                if is_local(addr) && reason.contains("refused") =>
            {
                "no broker here? start a throwaway one: eval \"$(amqpctl sandbox up)\""
            }
            Error::Sandbox(e) => return sandbox_hint(e),
            _ => return None,
        };
        Some(hint.to_string())
    }
}

/// Whether the broker refused what a stream does not do (basic.get,
/// queue.purge): RabbitMQ closes the connection with 540 NOT_IMPLEMENTED.
fn is_stream_refusal(e: &AmqpError) -> bool {
    matches!(e, AmqpError::ConnectionClosed { code: 540, text }
        if text.contains("not supported by stream queues"))
}

fn sandbox_hint(e: &SandboxError) -> Option<String> {
    let hint = match e {
        // Under another root (`--rabbitmq-root`), the script is missing there.
        SandboxError::NotInstalled { path } if !path.starts_with(rabbitmq_bin()) => {
            "a root needs RabbitMQ inside it, e.g. debootstrap --variant=minbase --include=rabbitmq-server trixie DIR"
        }
        SandboxError::NotInstalled { .. } => {
            "install it (Debian, Ubuntu: apt-get install rabbitmq-server), or set AMQPCTL_RABBITMQ_BIN to the directory holding rabbitmq-server and rabbitmqctl"
        }
        SandboxError::Exists { .. } => {
            "print its settings with amqpctl sandbox env, remove it with amqpctl sandbox down, or choose another --name"
        }
        SandboxError::NotFound { .. } => "start one with amqpctl sandbox up",
        _ => return None,
    };
    Some(hint.to_string())
}

/// Whether `addr` (`HOST:PORT`) is this machine, where `amqpctl sandbox`
/// could start a broker.
fn is_local(addr: &str) -> bool {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_is_not_part_of_the_error_line() {
        let missing = Error::Amqp(AmqpError::ChannelClosed {
            code: 404,
            text: "NOT_FOUND - no queue 'q' in vhost '/'".into(),
        });
        let hinted = missing.hinted("declare it with -Q");
        assert_eq!(hinted.exit_code(), 5);
        assert!(hinted.is_missing_queue());
        assert_eq!(
            hinted.to_string(),
            "(404, \"NOT_FOUND - no queue 'q' in vhost '/'\")"
        );
        assert_eq!(hinted.hints(), ["declare it with -Q"]);
    }

    #[test]
    fn a_stream_refusal_is_exit_5_for_get_and_purge() {
        let closed = || {
            Error::Amqp(AmqpError::ConnectionClosed {
                code: 540,
                text: "NOT_IMPLEMENTED - queue.purge not supported by stream queues".into(),
            })
        };
        assert_eq!(closed().exit_code(), 3);
        for e in [closed().for_get("s"), closed().for_purge("s")] {
            assert_eq!(e.exit_code(), 5);
            assert!(!e.is_connection_lost());
            assert_eq!(e.hints().len(), 1);
        }
    }

    #[test]
    fn general_hints_name_the_flag() {
        let plain = Error::Amqp(AmqpError::NotAmqp {
            addr: "h:1".into(),
            reason: "reset".into(),
        });
        assert!(plain.hints()[0].contains("--enable-tls"));
        let tls = Error::Amqp(AmqpError::Tls(TlsError::PlainAmqp { peer: "h:1".into() }));
        assert!(tls.hints()[0].contains("plain AMQP"));
        let ca = Error::Amqp(AmqpError::Tls(TlsError::UnknownAuthority {
            peer: "h:1".into(),
        }));
        assert_eq!(ca.hints(), ["use --cafile FILE or --insecure"]);
    }

    #[test]
    fn a_refused_local_connection_suggests_a_sandbox() {
        let refused = |addr: &str| {
            Error::Amqp(AmqpError::Connect {
                addr: addr.into(),
                reason: "Connection refused (os error 111)".into(),
            })
        };
        for addr in ["localhost:5672", "127.0.0.1:1", "[::1]:5672"] {
            assert!(
                refused(addr)
                    .general_hint()
                    .is_some_and(|h| h.contains("amqpctl sandbox up")),
                "{addr}"
            );
        }
        assert!(refused("broker.example:5672").general_hint().is_none());
        let unresolved = Error::Amqp(AmqpError::Connect {
            addr: "localhost:5672".into(),
            reason: "timed out".into(),
        });
        assert!(unresolved.general_hint().is_none());
    }

    #[test]
    fn sandbox_errors_say_what_to_do() {
        let missing = Error::from(SandboxError::NotInstalled {
            path: "/usr/lib/rabbitmq/bin/rabbitmq-server".into(),
        });
        assert_eq!(missing.exit_code(), 1);
        assert!(missing.hints()[0].contains("apt-get install rabbitmq-server"));
        let none = Error::from(SandboxError::NotFound {
            name: "x".into(),
            dir: "/tmp/amqpctl-sandbox-x".into(),
        });
        assert_eq!(none.exit_code(), 2);
        assert_eq!(none.hints(), ["start one with amqpctl sandbox up"]);
    }
}
