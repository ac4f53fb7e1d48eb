//! A connection and what its channels share: opening it (interruptibly; the
//! handshake itself is in `handshake.rs`), the broker's flow control, and a
//! close that returns the error that ended the connection instead of
//! dropping it.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use amiquip::ConnectionBlockedNotification;
use crossbeam_channel::Receiver;

use super::channel::Channel;
use super::error::{AmqpError, Result, from_amiquip, is_io_loop_gone};
use super::settings::{ConnectionSettings, Endpoint};

mod abort;
mod handshake;
pub use abort::ConnectAbort;
use handshake::{Parts, open_first};

/// An open AMQP connection, like pika's `BlockingConnection`.
///
/// Close it with [`Connection::close`]: dropping it closes too, but loses the
/// error a late broker close would report.
pub struct Connection {
    pub(crate) core: Rc<Core>,
    endpoint: Endpoint,
}

/// State shared by a connection and its channels, so that a channel that sees
/// the I/O loop die can fetch the reason from the connection.
pub(crate) struct Core {
    pub(crate) conn: RefCell<Option<amiquip::Connection>>,
    /// connection.blocked / unblocked notifications from the broker.
    flow: Receiver<ConnectionBlockedNotification>,
    /// Why the broker blocks publishing, while it does.
    blocked: RefCell<Option<String>>,
}

/// How waiting for the broker to unblock publishing ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unblocked<T = ()> {
    /// The broker unblocked publishing.
    Yes,
    /// The wait timed out.
    TimedOut,
    /// The interrupt channel fired, with this value (the caller's signal
    /// number, say, so that it can report and exit with the real one).
    Interrupted(T),
}

impl Core {
    fn note_flow(&self, n: ConnectionBlockedNotification) {
        *self.blocked.borrow_mut() = match n {
            ConnectionBlockedNotification::Blocked(reason) => Some(reason),
            ConnectionBlockedNotification::Unblocked => None,
        };
    }

    /// Why the broker blocks publishing, if it does now (as far as its
    /// notifications have arrived).
    pub(crate) fn blocked_reason(&self) -> Option<String> {
        while let Ok(n) = self.flow.try_recv() {
            self.note_flow(n);
        }
        self.blocked.borrow().clone()
    }

    /// Waits for the broker to unblock publishing.
    pub(crate) fn wait_unblocked<T>(
        &self,
        timeout: Option<Duration>,
        interrupt: Option<&Receiver<T>>,
    ) -> Unblocked<T> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let fallback = crossbeam_channel::never();
        let mut interrupt = interrupt.unwrap_or(&fallback);
        while self.blocked_reason().is_some() {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let notification = match left {
                Some(left) if left.is_zero() => return Unblocked::TimedOut,
                Some(left) => crossbeam_channel::select! {
                    recv(self.flow) -> n => Some(n.ok()),
                    recv(interrupt) -> got => match got {
                        Ok(value) => return Unblocked::Interrupted(value),
                        Err(_) => None,
                    },
                    default(left) => return Unblocked::TimedOut,
                },
                None => crossbeam_channel::select! {
                    recv(self.flow) -> n => Some(n.ok()),
                    recv(interrupt) -> got => match got {
                        Ok(value) => return Unblocked::Interrupted(value),
                        Err(_) => None,
                    },
                },
            };
            match notification {
                Some(Some(n)) => self.note_flow(n),
                // The connection is gone; the next call will say why.
                Some(None) => return Unblocked::Yes,
                // A closed interrupt channel interrupts nothing.
                None => interrupt = &fallback,
            }
        }
        Unblocked::Yes
    }

    /// Maps an error raised on a channel; when it only says that the I/O loop
    /// is gone, closes the connection to learn why it went.
    pub(crate) fn explain(&self, e: amiquip::Error) -> AmqpError {
        if !is_io_loop_gone(&e) {
            return from_amiquip(e);
        }
        match self.conn.borrow_mut().take() {
            Some(conn) => match conn.close() {
                Err(cause) if !is_io_loop_gone(&cause) => from_amiquip(cause),
                _ => AmqpError::ConnectionLost {
                    reason: "the connection's I/O loop stopped".to_string(),
                },
            },
            None => AmqpError::ConnectionLost {
                reason: "the connection is closed".to_string(),
            },
        }
    }
}

impl Connection {
    /// Opens a connection to the first endpoint that answers.
    ///
    /// Connection-level failures (DNS, TCP, TLS handshake, timeout) move on to
    /// the next endpoint; a refused login stops at once, since every node of
    /// a cluster would refuse it too.
    pub fn open(settings: &ConnectionSettings) -> Result<Connection> {
        open_first(settings, None).map(Connection::from_parts)
    }

    /// Like [`Connection::open`], but gives up as soon as `interrupt`
    /// receives something (a signal), whatever stage the connect is at (TCP,
    /// TLS or AMQP handshake; name resolution is waited for). The one who
    /// sends on `interrupt` calls `abort`'s [`ConnectAbort::abort`] after
    /// sending: that shuts the socket down and wakes the connect, on this
    /// thread, at once.
    pub fn open_interruptible<T>(
        settings: &ConnectionSettings,
        interrupt: &Receiver<T>,
        abort: &ConnectAbort,
    ) -> Result<Opening<T>> {
        if let Ok(value) = interrupt.try_recv() {
            return Ok(Opening::Interrupted(value));
        }
        let opened = open_first(settings, Some(abort));
        if abort.is_aborted() {
            drop(opened);
            return match interrupt.try_recv() {
                Ok(value) => Ok(Opening::Interrupted(value)),
                // Someone else took the value: the connect is still over.
                Err(_) => Err(AmqpError::ConnectionLost {
                    reason: "the connect was interrupted".to_string(),
                }),
            };
        }
        opened.map(|p| Opening::Open(Connection::from_parts(p)))
    }

    fn from_parts(parts: Parts) -> Connection {
        let Parts {
            conn,
            flow,
            endpoint,
        } = parts;
        Connection {
            core: Rc::new(Core {
                conn: RefCell::new(Some(conn)),
                flow,
                blocked: RefCell::new(None),
            }),
            endpoint,
        }
    }

    /// The endpoint this connection reached.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Opens a new channel.
    pub fn channel(&self) -> Result<Channel> {
        let opened = match self.core.conn.borrow_mut().as_mut() {
            Some(conn) => conn.open_channel(None),
            None => {
                return Err(AmqpError::ConnectionLost {
                    reason: "the connection is closed".to_string(),
                });
            }
        };
        match opened {
            Ok(ch) => Channel::new(ch, self.core.clone()),
            Err(e) => Err(self.core.explain(e)),
        }
    }

    /// Closes the connection, returning the error that ended it if the broker
    /// or the network ended it first.
    pub fn close(self) -> Result<()> {
        match self.core.conn.borrow_mut().take() {
            Some(conn) => conn.close().map_err(from_amiquip),
            None => Ok(()),
        }
    }
}

/// What an interruptible open came to.
pub enum Opening<T> {
    /// Connected.
    Open(Connection),
    /// The interrupt channel received this first.
    Interrupted(T),
}
