//! The command line's errors and the one table that maps every error to its
//! documented exit status.

use std::io;
use std::process::ExitCode;

use amqpctl::amqp::AmqpError;
use amqpctl::mgmt::MgmtError;
use amqpctl::sandbox::SandboxError;
use amqpctl::tls::{PemFile, TlsError};

/// The exit statuses and what they mean, word for word as the README's
/// "Exit status" table has them (a test holds the two together); the manual
/// page prints them.
pub const EXIT_STATUSES: &[(&str, &str)] = &[
    (
        "0",
        "success (also: `con` or `perf` stopped by a signal, `--count`, `--idle-timeout`, `--until-empty`, `--lazy`, or a closed stdout)",
    ),
    ("1", "unexpected failure (I/O error, protocol error)"),
    (
        "2",
        "usage error: bad flag or value, unreadable `--cafile`/`--certfile`/`--keyfile`",
    ),
    (
        "3",
        "could not connect: DNS, TCP, TLS handshake or verification, timeout; the connection was lost (heartbeats, restart); or `--blocked-timeout` passed",
    ),
    (
        "4",
        "refused at login: bad credentials, vhost access refused, connection limit",
    ),
    (
        "5",
        "the broker closed the channel with an error (404, 403, 406 …) or cancelled the consumer; also `get` on a stream (RabbitMQ refuses basic.get there with 540, closing the connection)",
    ),
    ("6", "a `--mandatory` message was returned unroutable"),
    ("7", "a `--confirm` message was nacked"),
    (
        "8",
        "`get`: the queue is empty, or nothing in it matched `--filter`",
    ),
    ("9", "`rpc call`: no reply in time"),
    (
        "10",
        "`rpc call`: the server's command failed (its reply carries an `amqpctl-error` header)",
    ),
    (
        "11",
        "`perf`: a run that ended by itself received a different number of messages than it sent",
    ),
    (
        "128+N",
        "`pub` interrupted by signal N (130 for SIGINT) before sending everything; what was sent is reported",
    ),
];

/// Everything a subcommand can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Flags that parse but make no sense together, or bad values.
    #[error("{0}")]
    Usage(String),

    /// Whatever the AMQP layer reported, worded for the command line (see
    /// [`describe_amqp`]).
    #[error("{}", describe_amqp(.0))]
    Amqp(#[from] AmqpError),

    /// The broker nacked a message published with `--confirm`.
    #[error("message {seq} was nacked by the broker (not stored)")]
    Nacked {
        /// Its position in this run, from 1.
        seq: u64,
    },

    /// With `--reconnect`, the broker nacked message `seq`: it is published
    /// again after the reconnect backoff (a cluster nacks while a quorum
    /// queue has no leader). Never the final error of a run.
    #[error("the broker nacked message {seq} (not stored); publishing it again")]
    NackedRetrying {
        /// Its position in this run, from 1.
        seq: u64,
    },

    /// Reading input or writing output failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being read or written.
        what: &'static str,
        /// The I/O error.
        source: io::Error,
    },

    /// stdout was closed by its reader (`amqpctl con | head -1`): a quiet end.
    #[error("broken pipe")]
    BrokenPipe,

    /// `get` found the queue empty.
    #[error("queue '{0}' is empty")]
    QueueEmpty(String),

    /// `get --filter` found no message it keeps.
    #[error("no message in queue '{queue}' matched --filter ({looked} looked at, left in place)")]
    NoMatch {
        /// The queue.
        queue: String,
        /// How many messages the filter skipped.
        looked: usize,
    },

    /// `rpc call` got no reply in time.
    #[error("no reply within {0} s")]
    NoReply(f64),

    /// `rpc call`: the server answered that its command failed (the reply's
    /// `amqpctl-error` header: what failed, and the command's stderr).
    #[error("the server's {0}")]
    ServerFailed(String),

    /// The broker kept publishing blocked longer than `--blocked-timeout`.
    #[error("the broker blocked publishing for more than {secs} s: {reason}")]
    Blocked {
        /// The timeout, in seconds.
        secs: f64,
        /// The broker's reason (e.g. "low on memory").
        reason: String,
    },

    /// An error with advice in command-line words (the layers below do not
    /// know the command line): `ERROR: (404, "…") — declare it with -Q`.
    #[error("{error} — {hint}")]
    Hinted {
        /// The error itself.
        error: Box<Error>,
        /// What to do about it.
        hint: String,
    },

    /// The broker refused an operation that the queue's type does not
    /// support (basic.get on a stream). RabbitMQ closes the whole connection
    /// for it (540 NOT_IMPLEMENTED), but nothing is wrong with the
    /// connection: like a channel error, this is exit 5.
    #[error("{error} — {hint}")]
    Unsupported {
        /// The broker's close.
        error: AmqpError,
        /// What to use instead.
        hint: String,
    },

    /// `perf` ended (not by a signal) with fewer (or more) messages
    /// received than sent.
    #[error("messages lost: {sent} sent, {received} received, {expected} expected")]
    Lost {
        /// Messages published.
        sent: u64,
        /// Deliveries of the run's messages received.
        received: u64,
        /// Deliveries expected (a stream delivers each message to every
        /// consumer).
        expected: u64,
    },

    /// A signal stopped a command before it finished.
    #[error("interrupted by signal {0}")]
    Interrupted(i32),

    /// `amqpctl sandbox` failed, worded with what to do (see
    /// [`describe_sandbox`]).
    #[error("{}", describe_sandbox(.0))]
    Sandbox(#[from] SandboxError),

    /// The management API (`list`, `info`, `unbind`, `close-connection`)
    /// failed.
    #[error("{0}")]
    Mgmt(#[from] MgmtError),
}

impl Error {
    /// Wraps an I/O error, singling out a closed stdout.
    pub fn io(what: &'static str, source: io::Error) -> Error {
        if source.kind() == io::ErrorKind::BrokenPipe {
            Error::BrokenPipe
        } else {
            Error::Io { what, source }
        }
    }

    /// The exit status documented in the README for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            Error::Amqp(e) => amqp_exit_code(e),
            Error::Nacked { .. } => 7,
            Error::NackedRetrying { .. } => 7,
            Error::Io { .. } => 1,
            Error::BrokenPipe => 0,
            Error::QueueEmpty(_) | Error::NoMatch { .. } => 8,
            Error::NoReply(_) => 9,
            Error::ServerFailed(_) => 10,
            Error::Blocked { .. } => 3,
            Error::Hinted { error, .. } => error.exit_code(),
            Error::Unsupported { .. } => 5,
            Error::Lost { .. } => 11,
            Error::Interrupted(signal) => 128u8.saturating_add(*signal as u8),
            Error::Mgmt(e) => mgmt_exit_code(e),
            Error::Sandbox(e) => sandbox_exit_code(e),
        }
    }

    /// Adds advice to the error.
    pub fn hinted(self, hint: impl Into<String>) -> Error {
        Error::Hinted {
            error: Box::new(self),
            hint: hint.into(),
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
        match self {
            Error::Amqp(AmqpError::ConnectionClosed { code: 540, text })
                if text.contains("basic.get not supported by stream queues") =>
            {
                Error::Unsupported {
                    error: AmqpError::ConnectionClosed { code: 540, text },
                    hint: format!("a stream is read with: amqpctl con -q {queue} --offset first"),
                }
            }
            e if e.is_missing_queue() => {
                e.hinted(format!("declare it first: amqpctl declare queue {queue}"))
            }
            e => e,
        }
    }

    /// Whether the broker said that a queue does not exist (404 NOT_FOUND
    /// "no queue …").
    pub fn is_missing_queue(&self) -> bool {
        match self {
            Error::Amqp(AmqpError::ChannelClosed { code: 404, text }) => {
                text.starts_with("NOT_FOUND - no queue ")
            }
            Error::Hinted { error, .. } => error.is_missing_queue(),
            _ => false,
        }
    }

    /// Whether the connection broke (as opposed to a refusal or a mistake), so
    /// that connecting again may help.
    pub fn is_connection_lost(&self) -> bool {
        match self {
            Error::Hinted { error, .. } => error.is_connection_lost(),
            _ => matches!(
                self,
                Error::Amqp(
                    AmqpError::Connect { .. }
                        | AmqpError::TimedOut { .. }
                        | AmqpError::NotAmqp { .. }
                        | AmqpError::ConnectionClosed { .. }
                        | AmqpError::ConnectionLost { .. }
                        | AmqpError::Tls(TlsError::Handshake { .. } | TlsError::TimedOut { .. })
                )
            ),
        }
    }

    /// Whether `--reconnect` should try again: the connection broke, or a
    /// cluster lost the node of the queue in use, so that the broker
    /// cancelled our consumer, says the queue's home node is down, or that
    /// a stream has no replica running on this node (all pass once the node
    /// is back, or a new leader has taken over).
    pub fn is_worth_retrying(&self) -> bool {
        match self {
            Error::Hinted { error, .. } => error.is_worth_retrying(),
            Error::Amqp(AmqpError::ConsumerCancelled { .. }) => true,
            Error::NackedRetrying { .. } => true,
            Error::Amqp(AmqpError::ChannelClosed { code: 404, text }) => {
                text.contains("is down or inaccessible")
            }
            // A stream's replica on the node connected to is not running
            // (yet): it restarts after the cluster lost the stream's leader.
            Error::Amqp(AmqpError::ChannelClosed { code: 406, text }) => {
                text.contains("does not have a replica on the local node")
            }
            _ => self.is_connection_lost(),
        }
    }

    /// Whether the error is reported on stderr (a closed pipe is not).
    pub fn is_reported(&self) -> bool {
        match self {
            Error::Hinted { error, .. } => error.is_reported(),
            _ => !matches!(self, Error::BrokenPipe),
        }
    }

    /// Advice that goes with an error whatever the command: the flags to
    /// change for a reason the AMQP or TLS layer reported.
    fn general_hint(&self) -> Option<&'static str> {
        match self {
            Error::Amqp(AmqpError::NotAmqp { .. }) => {
                Some("TLS port without --enable-tls? add --enable-tls (or --cafile FILE)")
            }
            Error::Amqp(AmqpError::Tls(TlsError::PlainAmqp { .. })) => Some(
                "the port speaks plain AMQP: drop --enable-tls/--cafile, or use the broker's TLS port (5671 by default)",
            ),
            Error::Amqp(AmqpError::Connect { addr, reason })
                if is_local(addr) && reason.contains("refused") =>
            {
                Some("no broker here? start a throwaway one: eval \"$(amqpctl sandbox up)\"")
            }
            _ => None,
        }
    }
}

/// An error of the AMQP or TLS layer in the command line's words: the
/// layers say what happened, this adds the flag to change.
fn describe_amqp(e: &AmqpError) -> String {
    match e {
        AmqpError::TimedOut { .. } => format!("{e} (--connect-timeout)"),
        AmqpError::Tls(t) => describe_tls(t),
        _ => e.to_string(),
    }
}

fn describe_tls(e: &TlsError) -> String {
    let flag = |file: &PemFile| match file {
        PemFile::CaBundle => "--cafile",
        PemFile::ClientCertificate => "--certfile",
        PemFile::ClientKey => "--keyfile",
    };
    match e {
        TlsError::FileUnreadable { what, path, source } => {
            format!("cannot read {} {}: {source}", flag(what), path.display())
        }
        TlsError::FileEmpty { what, path, kind } => {
            format!(
                "{} {} holds no {kind} in PEM format",
                flag(what),
                path.display()
            )
        }
        TlsError::BadCaCertificate { path, reason } => {
            format!(
                "--cafile {}: unusable CA certificate: {reason}",
                path.display()
            )
        }
        TlsError::BadClientIdentity { reason } => format!("--certfile/--keyfile: {reason}"),
        TlsError::UnknownAuthority { .. } => format!("{e}: use --cafile FILE or --insecure"),
        TlsError::NameMismatch { .. } => format!("{e}: use --subjectname NAME"),
        TlsError::TimedOut { .. } => format!("{e} (--connect-timeout)"),
        TlsError::InvalidServerName { .. }
        | TlsError::CertificateNotValidNow { .. }
        | TlsError::PlainAmqp { .. }
        | TlsError::Handshake { .. } => e.to_string(),
    }
}

/// Whether `addr` (`HOST:PORT`) is this machine, where `amqpctl sandbox`
/// could start a broker.
fn is_local(addr: &str) -> bool {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1")
}

/// A sandbox error with what to do about it.
fn describe_sandbox(e: &SandboxError) -> String {
    match e {
        SandboxError::NotInstalled { .. } => format!(
            "{e}; install it (Debian, Ubuntu: apt-get install rabbitmq-server), or set AMQPCTL_RABBITMQ_BIN to the directory holding rabbitmq-server and rabbitmqctl"
        ),
        SandboxError::Exists { .. } => format!(
            "{e}: print its settings with amqpctl sandbox env, remove it with amqpctl sandbox down, or choose another --name"
        ),
        SandboxError::NotFound { .. } => format!("{e}: start one with amqpctl sandbox up"),
        _ => e.to_string(),
    }
}

fn sandbox_exit_code(e: &SandboxError) -> u8 {
    match e {
        SandboxError::Exists { .. } => 2,
        SandboxError::NotFound { .. } => 2,
        SandboxError::NoSuchNode { .. } => 2,
        SandboxError::Invalid(_) => 2,
        SandboxError::NotInstalled { .. } => 1,
        SandboxError::Io { .. } => 1,
        SandboxError::Spawn { .. } => 1,
        SandboxError::BadState { .. } => 1,
        SandboxError::Boot { .. } => 1,
        SandboxError::Ctl { .. } => 1,
        SandboxError::Certificates(_) => 1,
    }
}

/// Like AMQP's: unreachable 3, login 4, a refusal or a missing thing 5.
fn mgmt_exit_code(e: &MgmtError) -> u8 {
    match e {
        MgmtError::Unreachable { .. } => 3,
        MgmtError::NoApi { .. } => 3,
        MgmtError::Login { .. } => 4,
        MgmtError::Refused { .. } => 5,
        MgmtError::NotFound { .. } => 5,
        MgmtError::Http { .. } => 1,
        MgmtError::BadAnswer { .. } => 1,
    }
}

fn amqp_exit_code(e: &AmqpError) -> u8 {
    match e {
        AmqpError::Invalid(_) => 2,
        AmqpError::Tls(t) => tls_exit_code(t),
        AmqpError::Connect { .. } => 3,
        AmqpError::TimedOut { .. } => 3,
        AmqpError::NotAmqp { .. } => 3,
        AmqpError::ConnectionClosed { .. } => 3,
        AmqpError::ConnectionLost { .. } => 3,
        AmqpError::Login { .. } => 4,
        AmqpError::Refused { .. } => 4,
        AmqpError::ChannelClosed { .. } => 5,
        AmqpError::ConsumerCancelled { .. } => 5,
        AmqpError::Returned { .. } => 6,
        AmqpError::Protocol(_) => 1,
    }
}

fn tls_exit_code(e: &TlsError) -> u8 {
    match e {
        TlsError::FileUnreadable { .. } => 2,
        TlsError::FileEmpty { .. } => 2,
        TlsError::BadCaCertificate { .. } => 2,
        TlsError::BadClientIdentity { .. } => 2,
        TlsError::InvalidServerName { .. } => 2,
        TlsError::UnknownAuthority { .. } => 3,
        TlsError::NameMismatch { .. } => 3,
        TlsError::CertificateNotValidNow { .. } => 3,
        TlsError::PlainAmqp { .. } => 3,
        TlsError::TimedOut { .. } => 3,
        TlsError::Handshake { .. } => 3,
    }
}

/// Prints the error once, as `ERROR: …`, and turns it into the exit status.
pub fn report(e: &Error) -> ExitCode {
    if e.is_reported() {
        match e.general_hint() {
            Some(hint) => eprintln!("ERROR: {e} — {hint}"),
            None => eprintln!("ERROR: {e}"),
        }
    }
    ExitCode::from(e.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_errors_map_to_the_documented_codes() {
        let channel = Error::Amqp(AmqpError::ChannelClosed {
            code: 404,
            text: "NOT_FOUND - no exchange 'logs' in vhost '/'".into(),
        });
        assert_eq!(channel.exit_code(), 5);
        assert_eq!(
            channel.to_string(),
            "(404, \"NOT_FOUND - no exchange 'logs' in vhost '/'\")"
        );
        let refused = Error::Amqp(AmqpError::Refused {
            code: 530,
            text: "NOT_ALLOWED".into(),
        });
        assert_eq!(refused.exit_code(), 4);
        let returned = Error::Amqp(AmqpError::Returned {
            code: 312,
            text: "NO_ROUTE".into(),
        });
        assert_eq!(returned.exit_code(), 6);
        assert_eq!(Error::Nacked { seq: 1 }.exit_code(), 7);
        assert_eq!(Error::Usage("x".into()).exit_code(), 2);
        let connect = Error::Amqp(AmqpError::Connect {
            addr: "h:1".into(),
            reason: "refused".into(),
        });
        assert_eq!(connect.exit_code(), 3);
        let login = Error::Amqp(AmqpError::Login {
            addr: "h:1".into(),
            reason: "no".into(),
        });
        assert_eq!(login.exit_code(), 4);
    }

    #[test]
    fn hints_keep_the_code_and_the_broker_prefix() {
        let missing = Error::Amqp(AmqpError::ChannelClosed {
            code: 404,
            text: "NOT_FOUND - no queue 'q' in vhost '/'".into(),
        });
        assert!(missing.is_missing_queue());
        let hinted = missing.hinted("declare it with -Q");
        assert_eq!(hinted.exit_code(), 5);
        assert!(hinted.is_missing_queue());
        assert_eq!(
            hinted.to_string(),
            "(404, \"NOT_FOUND - no queue 'q' in vhost '/'\") — declare it with -Q"
        );
        let stream = Error::Unsupported {
            error: AmqpError::ConnectionClosed {
                code: 540,
                text: "NOT_IMPLEMENTED".into(),
            },
            hint: "use con".into(),
        };
        assert_eq!(stream.exit_code(), 5);
        assert!(!stream.is_connection_lost());
        let plain = Error::Amqp(AmqpError::NotAmqp {
            addr: "h:1".into(),
            reason: "reset".into(),
        });
        assert_eq!(plain.exit_code(), 3);
        assert!(
            plain
                .general_hint()
                .is_some_and(|h| h.contains("--enable-tls"))
        );
        let tls = Error::Amqp(AmqpError::Tls(TlsError::PlainAmqp { peer: "h:1".into() }));
        assert_eq!(tls.exit_code(), 3);
        assert!(tls.general_hint().is_some_and(|h| h.contains("plain AMQP")));
    }

    #[test]
    fn the_exit_statuses_are_the_readme_table() {
        let readme = include_str!("../README.md");
        let table: Vec<&str> = readme
            .lines()
            .skip_while(|l| *l != "## Exit status")
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .skip(2) // the heading and its rule
            .collect();
        let ours: Vec<String> = EXIT_STATUSES
            .iter()
            .map(|(code, meaning)| format!("| {code} | {meaning} |"))
            .collect();
        assert_eq!(table, ours);
    }

    #[test]
    fn a_lost_queue_node_is_worth_retrying_a_missing_queue_is_not() {
        let cancelled = Error::Amqp(AmqpError::ConsumerCancelled { queue: "q".into() });
        assert!(cancelled.is_worth_retrying());
        assert!(!cancelled.is_connection_lost());
        let node_down = Error::Amqp(AmqpError::ChannelClosed {
            code: 404,
            text: "NOT_FOUND - home node 'n2@localhost' of durable queue 'q' in vhost '/' is down or inaccessible".into(),
        });
        assert!(node_down.is_worth_retrying());
        let no_replica = Error::Amqp(AmqpError::ChannelClosed {
            code: 406,
            text: "PRECONDITION_FAILED - queue 'queue 's' in vhost '/'' does not have a replica on the local node".into(),
        });
        assert!(no_replica.is_worth_retrying());
        let redeclared = Error::Amqp(AmqpError::ChannelClosed {
            code: 406,
            text: "PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q'".into(),
        });
        assert!(!redeclared.is_worth_retrying());
        let missing = Error::Amqp(AmqpError::ChannelClosed {
            code: 404,
            text: "NOT_FOUND - no queue 'q' in vhost '/'".into(),
        })
        .hinted("declare it with -Q");
        assert!(!missing.is_worth_retrying());
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
        assert!(
            missing
                .to_string()
                .contains("apt-get install rabbitmq-server")
        );
        let none = Error::from(SandboxError::NotFound {
            name: "x".into(),
            dir: "/tmp/amqpctl-sandbox-x".into(),
        });
        assert_eq!(none.exit_code(), 2);
        assert!(
            none.to_string()
                .ends_with("start one with amqpctl sandbox up")
        );
    }

    #[test]
    fn a_closed_stdout_is_a_quiet_success() {
        let e = Error::io("writing", io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(e.exit_code(), 0);
        assert!(!e.is_reported());
    }

    #[test]
    fn signals_exit_with_128_plus_their_number() {
        assert_eq!(Error::Interrupted(2).exit_code(), 130);
        assert_eq!(Error::Interrupted(15).exit_code(), 143);
    }
}
