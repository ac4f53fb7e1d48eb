//! The exit statuses, each written once: its number and what it means. The
//! README's "Exit status" table and the manual page are renderings of
//! [`Exit::TABLE`] (a test holds the README to it), and every way out of the
//! process (an error, the panic hook, a forced exit on a repeated signal)
//! goes through [`Exit`].

use std::process::ExitCode;

use amqpctl::amqp::AmqpError;
use amqpctl::mgmt::MgmtError;
use amqpctl::sandbox::SandboxError;
use amqpctl::tls::TlsError;

/// Why the process ends, as a script reads it from `$?`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: the job is done, or ended the way it was asked to.
    Success,
    /// 1: a failure nothing on the command line can fix (I/O, protocol, bug).
    Failure,
    /// 2: the command line itself is wrong.
    Usage,
    /// 3: no working connection to the broker.
    Connect,
    /// 4: the broker refused the login.
    Login,
    /// 5: the broker refused an operation.
    Broker,
    /// 6: a message came back unroutable.
    Returned,
    /// 7: the broker did not take a confirmed message.
    Nacked,
    /// 8: `get` found nothing to show.
    Empty,
    /// 9: `rpc call` waited in vain.
    NoReply,
    /// 10: `rpc call`'s server ran its command and it failed.
    ServerFailed,
    /// 11: `perf` counted a different number of messages back.
    Lost,
    /// 128+N: signal N stopped the job before it finished.
    Signal(i32),
}

impl Exit {
    /// Every status in the order the README lists them (the signal row
    /// stands for all signals).
    pub const TABLE: &[Exit] = &[
        Exit::Success,
        Exit::Failure,
        Exit::Usage,
        Exit::Connect,
        Exit::Login,
        Exit::Broker,
        Exit::Returned,
        Exit::Nacked,
        Exit::Empty,
        Exit::NoReply,
        Exit::ServerFailed,
        Exit::Lost,
        Exit::Signal(0),
    ];

    /// The number the process exits with.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Usage => 2,
            Exit::Connect => 3,
            Exit::Login => 4,
            Exit::Broker => 5,
            Exit::Returned => 6,
            Exit::Nacked => 7,
            Exit::Empty => 8,
            Exit::NoReply => 9,
            Exit::ServerFailed => 10,
            Exit::Lost => 11,
            Exit::Signal(n) => 128u8.saturating_add(u8::try_from(n).unwrap_or(u8::MAX)),
        }
    }

    /// The status as the table's first column prints it.
    pub fn label(self) -> String {
        match self {
            Exit::Signal(_) => "128+N".to_string(),
            e => e.code().to_string(),
        }
    }

    /// What the status means, as the README and the manual page say it.
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Success => {
                "success (also: `con` or `perf` stopped by a signal, `--count`, `--idle-timeout`, `--until-empty`, `--lazy`, or a closed stdout)"
            }
            Exit::Failure => "unexpected failure (I/O error, protocol error, internal error)",
            Exit::Usage => {
                "usage error: bad flag or value, unreadable `--cafile`/`--certfile`/`--keyfile`; nothing was changed on the broker"
            }
            Exit::Connect => {
                "could not connect: DNS, TCP, TLS handshake or verification, timeout; the connection was lost (heartbeats, restart); or `--blocked-timeout` passed"
            }
            Exit::Login => {
                "refused at login: bad credentials, vhost access refused, connection limit"
            }
            Exit::Broker => {
                "the broker refused an operation: it closed the channel with an error (404, 403, 406 …) or cancelled the consumer; also what a queue's type does not support (`get` or `purge` of a stream)"
            }
            Exit::Returned => {
                "a message was returned unroutable: `--mandatory`, and `move` or `rpc call` to a queue that does not exist (they publish mandatory)"
            }
            Exit::Nacked => "a `--confirm` message was nacked",
            Exit::Empty => "`get`: the queue is empty, or nothing in it matched `--filter`",
            Exit::NoReply => "`rpc call`: no reply in time",
            Exit::ServerFailed => {
                "`rpc call`: the server's command failed (its reply carries an `amqpctl-error` header)"
            }
            Exit::Lost => {
                "`perf`: a run that ended by itself received a different number of messages than it sent"
            }
            Exit::Signal(_) => {
                "`pub` or `move` stopped by signal N before finishing (130 for SIGINT, 143 for SIGTERM; also a second signal that forces any command out); what was done is reported"
            }
        }
    }

    /// Ends the process now with this status (for the panic hook and a
    /// forced exit, where no error travels back to `main`).
    pub fn now(self) -> ! {
        std::process::exit(i32::from(self.code()))
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

/// Mistakes in naming a sandbox are usage errors; the rest are failures.
/// Like AMQP's: unreachable 3, login 4, a refusal or a missing thing 5.
pub(super) fn mgmt_exit(e: &MgmtError) -> Exit {
    match e {
        MgmtError::Unreachable { .. } => Exit::Connect,
        MgmtError::NoApi { .. } => Exit::Connect,
        MgmtError::Login { .. } => Exit::Login,
        MgmtError::Refused { .. } => Exit::Broker,
        MgmtError::NotFound { .. } => Exit::Broker,
        MgmtError::Http { .. } => Exit::Failure,
        MgmtError::BadAnswer { .. } => Exit::Failure,
    }
}

pub(super) fn sandbox_exit(e: &SandboxError) -> Exit {
    match e {
        SandboxError::Exists { .. } => Exit::Usage,
        SandboxError::NotFound { .. } => Exit::Usage,
        SandboxError::NoSuchNode { .. } => Exit::Usage,
        SandboxError::Invalid(_) => Exit::Usage,
        SandboxError::NotInstalled { .. } => Exit::Failure,
        SandboxError::Io { .. } => Exit::Failure,
        SandboxError::Spawn { .. } => Exit::Failure,
        SandboxError::BadState { .. } => Exit::Failure,
        SandboxError::Boot { .. } => Exit::Failure,
        SandboxError::Ctl { .. } => Exit::Failure,
        SandboxError::Certificates(_) => Exit::Failure,
    }
}

pub(super) fn amqp_exit(e: &AmqpError) -> Exit {
    match e {
        AmqpError::Invalid(_) => Exit::Usage,
        AmqpError::Tls(t) => tls_exit(t),
        AmqpError::Connect { .. } => Exit::Connect,
        AmqpError::TimedOut { .. } => Exit::Connect,
        AmqpError::NotAmqp { .. } => Exit::Connect,
        // A refusal of what was asked, though it closes the connection.
        e if e.is_deprecated_feature() => Exit::Broker,
        AmqpError::ConnectionClosed { .. } => Exit::Connect,
        AmqpError::ConnectionLost { .. } => Exit::Connect,
        AmqpError::Login { .. } => Exit::Login,
        AmqpError::Refused { .. } => Exit::Login,
        AmqpError::ChannelClosed { .. } => Exit::Broker,
        AmqpError::ConsumerCancelled { .. } => Exit::Broker,
        AmqpError::Returned { .. } => Exit::Returned,
        AmqpError::Protocol(_) => Exit::Failure,
    }
}

/// A file or name the user gave is a usage error; a handshake that fails
/// is a connection failure; rustls failing to start is a failure.
pub(super) fn tls_exit(e: &TlsError) -> Exit {
    match e {
        TlsError::FileUnreadable { .. } => Exit::Usage,
        TlsError::FileEmpty { .. } => Exit::Usage,
        TlsError::BadCaCertificate { .. } => Exit::Usage,
        TlsError::BadClientIdentity { .. } => Exit::Usage,
        TlsError::InvalidServerName { .. } => Exit::Usage,
        TlsError::Setup { .. } => Exit::Failure,
        TlsError::UnknownAuthority { .. } => Exit::Connect,
        TlsError::NameMismatch { .. } => Exit::Connect,
        TlsError::CertificateNotValidNow { .. } => Exit::Connect,
        TlsError::PlainAmqp { .. } => Exit::Connect,
        TlsError::TimedOut { .. } => Exit::Connect,
        TlsError::Handshake { .. } => Exit::Connect,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_table_is_the_enum_rendered() {
        let readme = include_str!("../../README.md");
        let table: Vec<&str> = readme
            .lines()
            .skip_while(|l| *l != "## Exit status")
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .skip(2) // the heading and its rule
            .collect();
        let ours: Vec<String> = Exit::TABLE
            .iter()
            .map(|e| format!("| {} | {} |", e.label(), e.meaning()))
            .collect();
        assert_eq!(
            table,
            ours,
            "the README's exit table drifted; it should read:\n{}",
            ours.join("\n")
        );
    }

    #[test]
    fn signals_exit_with_128_plus_their_number() {
        assert_eq!(Exit::Signal(2).code(), 130);
        assert_eq!(Exit::Signal(15).code(), 143);
        assert_eq!(Exit::Signal(-1).code(), 255);
    }

    #[test]
    fn every_status_has_its_own_number() {
        let codes: Vec<u8> = Exit::TABLE.iter().map(|e| e.code()).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), codes.len());
    }
}
