//! The command line's errors, the one place that maps each to its exit
//! status ([`exit`]), and the one place that prints them, with their advice
//! ([`hint`]) on lines of their own.

mod exit;
mod hint;

use std::io;
use std::process::ExitCode;

use amqpctl::amqp::AmqpError;
use amqpctl::mgmt::MgmtError;
use amqpctl::sandbox::SandboxError;
use amqpctl::tls::{PemFile, TlsError};

pub use exit::Exit;
use exit::{amqp_exit, mgmt_exit, sandbox_exit};

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
    /// know the command line), printed as `hint: …` on the line after the
    /// error's (see [`Error::hinted`]).
    #[error("{error}")]
    Hinted {
        /// The error itself.
        error: Box<Error>,
        /// What to do about it.
        hint: String,
    },

    /// The broker refused an operation that the queue's type does not
    /// support (basic.get or queue.purge on a stream). RabbitMQ closes the
    /// whole connection for it (540 NOT_IMPLEMENTED), but nothing is wrong
    /// with the connection: like a channel error, this is exit 5.
    #[error("{}", describe_amqp(.0))]
    Unsupported(AmqpError),

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

    /// `perf --run-id`: not every instance joined before the barrier's
    /// timeout.
    #[error(
        "perf run '{run}': {met} of {expected} instances met within {secs} s{}; start the others with the same --run-id and --instances, or raise --barrier-timeout",
        if names.is_empty() { String::new() } else { format!(" ({names})") }
    )]
    PerfBarrier {
        /// `--run-id`.
        run: String,
        /// How many met.
        met: usize,
        /// `--instances`.
        expected: u32,
        /// `--barrier-timeout`.
        secs: f64,
        /// Those that met.
        names: String,
    },

    /// `perf --run-id --report`: an instance stopped reporting before its
    /// end (and `--allow-partial` was not given).
    #[error(
        "perf run '{run}': instance {names} died mid-run (nothing heard for {secs} s, no end reported); --allow-partial accepts a partial run"
    )]
    PerfDied {
        /// `--run-id`.
        run: String,
        /// The dead, `host:pid`.
        names: String,
        /// How long silence means death.
        secs: f64,
    },

    /// A signal stopped a command before it finished.
    #[error("interrupted by signal {0}")]
    Interrupted(i32),

    /// `amqpctl sandbox` failed (what to do is its hint).
    #[error("{0}")]
    Sandbox(#[from] SandboxError),

    /// The management API (`list`, `close-connection`) failed.
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
    pub fn exit(&self) -> Exit {
        match self {
            Error::Usage(_) => Exit::Usage,
            Error::Amqp(e) => amqp_exit(e),
            Error::Nacked { .. } | Error::NackedRetrying { .. } => Exit::Nacked,
            Error::Io { .. } => Exit::Failure,
            Error::BrokenPipe => Exit::Success,
            Error::QueueEmpty(_) | Error::NoMatch { .. } => Exit::Empty,
            Error::NoReply(_) => Exit::NoReply,
            Error::ServerFailed(_) => Exit::ServerFailed,
            Error::Blocked { .. } => Exit::Connect,
            Error::Hinted { error, .. } => error.exit(),
            Error::Unsupported(_) => Exit::Broker,
            Error::Lost { .. } | Error::PerfDied { .. } => Exit::Lost,
            Error::PerfBarrier { .. } => Exit::Failure,
            Error::Interrupted(signal) => Exit::Signal(*signal),
            Error::Sandbox(e) => sandbox_exit(e),
            Error::Mgmt(e) => mgmt_exit(e),
        }
    }

    /// The number [`Error::exit`] stands for (for the unit tests).
    #[cfg(test)]
    pub fn exit_code(&self) -> u8 {
        self.exit().code()
    }

    /// The AMQP layer's error this is, through any hint (not a refusal
    /// worded [`Error::Unsupported`]), for its broker-reply predicates.
    fn amqp(&self) -> Option<&AmqpError> {
        match self {
            Error::Amqp(e) => Some(e),
            Error::Hinted { error, .. } => error.amqp(),
            _ => None,
        }
    }

    /// Whether the broker said that a queue does not exist.
    pub fn is_missing_queue(&self) -> bool {
        self.amqp().is_some_and(AmqpError::is_missing_queue)
    }

    /// Whether the connection broke, so that connecting again may help.
    pub fn is_connection_lost(&self) -> bool {
        self.amqp().is_some_and(AmqpError::is_connection_lost)
    }

    /// Whether `--reconnect` should try again: the AMQP layer says so
    /// ([`AmqpError::is_worth_retrying`]), or the broker nacked a message
    /// that is published again.
    pub fn is_worth_retrying(&self) -> bool {
        match self {
            Error::NackedRetrying { .. } => true,
            Error::Hinted { error, .. } => error.is_worth_retrying(),
            _ => self.amqp().is_some_and(AmqpError::is_worth_retrying),
        }
    }

    /// Whether the error is reported on stderr (a closed pipe is not).
    pub fn is_reported(&self) -> bool {
        match self {
            Error::Hinted { error, .. } => error.is_reported(),
            _ => !matches!(self, Error::BrokenPipe),
        }
    }
}

/// An error of the AMQP or TLS layer in the command line's words: the
/// layers say what happened, this adds the flag to change.
fn describe_amqp(e: &AmqpError) -> String {
    match e {
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
        TlsError::UnknownAuthority { .. }
        | TlsError::NameMismatch { .. }
        | TlsError::TimedOut { .. }
        | TlsError::Setup { .. }
        | TlsError::InvalidServerName { .. }
        | TlsError::CertificateNotValidNow { .. }
        | TlsError::PlainAmqp { .. }
        | TlsError::Handshake { .. } => e.to_string(),
    }
}

/// Prints the error once, as `ERROR: …`, then each of its hints as
/// `hint: …` on a line of its own, and turns it into the exit status.
pub fn report(e: &Error) -> ExitCode {
    if e.is_reported() {
        eprintln!("ERROR: {e}");
        for hint in e.hints() {
            eprintln!("hint: {hint}");
        }
    }
    e.exit().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The broker's closing of a channel, as the AMQP layer reports it.
    fn channel_closed(code: u16, text: &str) -> Error {
        Error::Amqp(AmqpError::ChannelClosed {
            code,
            text: text.into(),
        })
    }

    #[test]
    fn a_deprecated_feature_refused_is_status_5_not_a_lost_connection() {
        let refused = Error::Amqp(AmqpError::ConnectionClosed {
            code: 541,
            text: "INTERNAL_ERROR - Feature `transient_nonexcl_queues` is deprecated. Its use is not permitted".into(),
        });
        assert_eq!(refused.exit_code(), 5);
        assert!(!refused.is_connection_lost());
        assert!(!refused.is_worth_retrying());
    }

    #[test]
    fn broker_errors_map_to_the_documented_codes() {
        let channel = channel_closed(404, "NOT_FOUND - no exchange 'logs' in vhost '/'");
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
    fn a_hint_keeps_the_broker_reply_predicates() {
        let missing = channel_closed(404, "NOT_FOUND - no queue 'q' in vhost '/'")
            .hinted("declare it with -Q");
        assert!(missing.is_missing_queue());
        assert!(!missing.is_worth_retrying());
        let lost = Error::Amqp(AmqpError::ConnectionLost {
            reason: "reset".into(),
        })
        .hinted("try --reconnect");
        assert!(lost.is_connection_lost() && lost.is_worth_retrying());
        assert!(Error::NackedRetrying { seq: 1 }.is_worth_retrying());
        let unsupported = Error::Unsupported(AmqpError::ConnectionClosed {
            code: 540,
            text: "NOT_IMPLEMENTED - queue.purge not supported by stream queues".into(),
        });
        assert!(!unsupported.is_connection_lost());
    }

    #[test]
    fn a_closed_stdout_is_a_quiet_success() {
        let e = Error::io("writing", io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(e.exit_code(), 0);
        assert!(!e.is_reported());
    }

    #[test]
    fn tls_set_up_is_a_failure_not_a_usage_error() {
        let setup = Error::Amqp(AmqpError::Tls(TlsError::Setup {
            reason: "no protocol versions".into(),
        }));
        assert_eq!(setup.exit(), Exit::Failure);
        assert!(!setup.to_string().contains("--certfile"));
        let identity = Error::Amqp(AmqpError::Tls(TlsError::BadClientIdentity {
            reason: "key does not match".into(),
        }));
        assert_eq!(identity.exit(), Exit::Usage);
        assert_eq!(Error::Interrupted(15).exit_code(), 143);
    }
}
