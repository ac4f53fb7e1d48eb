//! Opening and closing a connection: endpoints tried in order, one deadline
//! over TCP, TLS and the AMQP handshake, and a close that returns the error
//! that ended the connection instead of dropping it.

use std::cell::RefCell;
use std::net::{TcpStream, ToSocketAddrs};
use std::rc::Rc;
use std::time::{Duration, Instant};

use amiquip::{
    AmqpValue, Auth, ConnectionBlockedNotification, ConnectionOptions, ConnectionTuning, FieldTable,
};
use crossbeam_channel::Receiver;

use super::channel::Channel;
use super::error::{AmqpError, Result, from_amiquip, is_io_loop_gone, one_line};
use super::settings::{ConnectionSettings, Credentials, Endpoint};
use crate::tls;

/// Messages a channel may queue for amiquip's I/O thread before a publish
/// waits. amiquip's default (16) makes the publishing thread and the I/O
/// thread hand over almost every frame with a context switch; a deeper queue
/// lets the I/O thread take many frames per wake-up. Memory stays bounded:
/// each entry is one frame.
const MEM_CHANNEL_BOUND: usize = 4096;

/// Bytes of frames amiquip's I/O thread holds for the socket before it stops
/// taking more from the channels (amiquip's default: 16 MiB). The kernel's
/// socket buffer is far smaller, so 4 MiB keeps the socket as busy, and it
/// bounds the buffer, which holds up to twice this (written bytes are
/// dropped lazily: vendor/amiquip/PATCHES.md, change 6).
const BUFFERED_WRITES_HIGH_WATER: usize = 4 << 20;

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
pub enum Unblocked {
    /// The broker unblocked publishing.
    Yes,
    /// The wait timed out.
    TimedOut,
    /// The interrupt channel fired.
    Interrupted,
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
    ) -> Unblocked {
        let deadline = timeout.map(|t| Instant::now() + t);
        let fallback = crossbeam_channel::never();
        let interrupt = interrupt.unwrap_or(&fallback);
        while self.blocked_reason().is_some() {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let notification = match left {
                Some(left) if left.is_zero() => return Unblocked::TimedOut,
                Some(left) => crossbeam_channel::select! {
                    recv(self.flow) -> n => n.ok(),
                    recv(interrupt) -> _ => return Unblocked::Interrupted,
                    default(left) => return Unblocked::TimedOut,
                },
                None => crossbeam_channel::select! {
                    recv(self.flow) -> n => n.ok(),
                    recv(interrupt) -> _ => return Unblocked::Interrupted,
                },
            };
            match notification {
                Some(n) => self.note_flow(n),
                // The connection is gone; the next call will say why.
                None => return Unblocked::Yes,
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
        open_first(settings).map(Connection::from_parts)
    }

    /// Like [`Connection::open`], but gives up as soon as `interrupt`
    /// receives something (a signal), whatever stage the connect is at (TCP,
    /// TLS or AMQP handshake): the attempt goes on in the background and is
    /// dropped when it ends.
    pub fn open_interruptible<T>(
        settings: &ConnectionSettings,
        interrupt: &Receiver<T>,
    ) -> Result<Opening<T>> {
        let owned = settings.clone();
        let (tx, rx) = crossbeam_channel::bounded(1);
        std::thread::Builder::new()
            .name("connect".to_string())
            .spawn(move || drop(tx.send(open_first(&owned))))
            .map_err(|e| AmqpError::Protocol(format!("cannot start connecting: {e}")))?;
        let opened = crossbeam_channel::select! {
            recv(rx) -> opened => opened,
            recv(interrupt) -> got => match got {
                Ok(value) => return Ok(Opening::Interrupted(value)),
                Err(_) => rx.recv(),
            },
        };
        match opened {
            Ok(parts) => parts.map(|p| Opening::Open(Connection::from_parts(p))),
            Err(_) => Err(AmqpError::Protocol(
                "the connecting thread ended without an answer".to_string(),
            )),
        }
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

/// An opened amiquip connection, before it is wrapped (it crosses from the
/// connecting thread).
struct Parts {
    conn: amiquip::Connection,
    flow: Receiver<ConnectionBlockedNotification>,
    endpoint: Endpoint,
}

fn open_first(settings: &ConnectionSettings) -> Result<Parts> {
    let tls_config = match &settings.tls {
        Some(t) => Some(tls::client_config(t)?),
        None => None,
    };
    let mut last_error = AmqpError::Invalid("no broker address given".to_string());
    for endpoint in &settings.endpoints {
        match open_one(settings, endpoint, tls_config.as_ref()) {
            Ok(mut conn) => {
                log::info!("connected to {endpoint}");
                let flow = conn.listen_for_connection_blocked().map_err(from_amiquip)?;
                return Ok(Parts {
                    conn,
                    flow,
                    endpoint: endpoint.clone(),
                });
            }
            Err(
                e @ (AmqpError::Connect { .. }
                | AmqpError::TimedOut { .. }
                | AmqpError::NotAmqp { .. }
                | AmqpError::Tls(_)),
            ) => {
                log::info!("{e}");
                last_error = e;
            }
            Err(e) => return Err(e),
        }
    }
    Err(last_error)
}

fn open_one(
    settings: &ConnectionSettings,
    endpoint: &Endpoint,
    tls_config: Option<&std::sync::Arc<rustls::ClientConfig>>,
) -> Result<amiquip::Connection> {
    let deadline = Instant::now() + settings.connect_timeout;
    let addr = endpoint.to_string();
    let tcp = connect_tcp(endpoint, deadline)?;
    let _ = tcp.set_nodelay(true);
    let remaining = deadline.saturating_duration_since(Instant::now());
    let options = ConnectionOptions::<Auth>::default()
        .virtual_host(settings.vhost.clone())
        .heartbeat(settings.heartbeat)
        .connection_timeout(Some(remaining.max(std::time::Duration::from_millis(1))))
        .information(Some(format!("amqpctl {}", env!("CARGO_PKG_VERSION"))))
        .client_properties(client_properties(settings))
        .auth(match &settings.credentials {
            Credentials::Plain { username, password } => Auth::Plain {
                username: username.clone(),
                password: password.clone(),
            },
            Credentials::External => Auth::External,
        });
    let tuning = ConnectionTuning::default()
        .mem_channel_bound(MEM_CHANNEL_BOUND)
        .buffered_writes_high_water(BUFFERED_WRITES_HIGH_WATER);
    let opened = match (tls_config, &settings.tls) {
        (Some(config), Some(tls_settings)) => {
            let name = tls_settings
                .server_name
                .as_deref()
                .unwrap_or(&endpoint.host);
            let stream = tls::handshake(tcp, config.clone(), name, &addr, deadline)?;
            amiquip::Connection::insecure_open_stream(stream, options, tuning)
        }
        _ => {
            let connect_error = |e: std::io::Error| AmqpError::Connect {
                addr: addr.clone(),
                reason: e.to_string(),
            };
            tcp.set_nonblocking(true).map_err(connect_error)?;
            let stream = mio::net::TcpStream::from_stream(tcp).map_err(connect_error)?;
            amiquip::Connection::insecure_open_stream(stream, options, tuning)
        }
    };
    opened.map_err(|e| handshake_error(e, &addr, &settings.credentials, tls_config.is_some()))
}

/// What the broker shows of us besides what amiquip reports itself (the
/// platform, and the capabilities it handles): amqpctl's name and version in
/// place of amiquip's, and the connection's name.
fn client_properties(settings: &ConnectionSettings) -> FieldTable {
    let mut properties = FieldTable::new();
    let mut set = |key: &str, value: &str| {
        properties.insert(key.to_string(), AmqpValue::LongString(value.to_string()));
    };
    set("product", "amqpctl");
    set("version", env!("CARGO_PKG_VERSION"));
    if let Some(name) = &settings.connection_name {
        set("connection_name", name);
    }
    properties
}

/// Connects to the first resolved address that accepts, before `deadline`.
fn connect_tcp(endpoint: &Endpoint, deadline: Instant) -> Result<TcpStream> {
    let addr = endpoint.to_string();
    let fail = |reason: String| AmqpError::Connect {
        addr: addr.clone(),
        reason,
    };
    let timed_out = |during| AmqpError::TimedOut {
        addr: addr.clone(),
        during,
    };
    if endpoint.port == 0 {
        return Err(fail("port 0 is not a valid broker port".to_string()));
    }
    let resolved = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .map_err(|e| fail(format!("cannot resolve host '{}': {e}", endpoint.host)))?;
    let mut last = fail(format!("host '{}' has no address", endpoint.host));
    for sockaddr in resolved {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(timed_out(""));
        }
        match TcpStream::connect_timeout(&sockaddr, remaining) {
            Ok(tcp) => return Ok(tcp),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = timed_out("");
            }
            Err(e) => last = fail(e.to_string()),
        }
    }
    Err(last)
}

/// Sorts an error raised while the AMQP handshake ran (over TLS or not).
fn handshake_error(
    e: amiquip::Error,
    addr: &str,
    credentials: &Credentials,
    over_tls: bool,
) -> AmqpError {
    use amiquip::Error as E;
    let addr = addr.to_string();
    match e {
        // We announce authentication_failure_close, so RabbitMQ says why it
        // refuses a login: a close with 403 ACCESS_REFUSED and its text (a
        // refusal at connection.open, of the vhost or over a connection
        // limit, is 530 NOT_ALLOWED).
        E::ServerClosedConnection { code: 403, message } => AmqpError::Login {
            addr,
            reason: one_line(&message),
        },
        // A broker that ignores the capability just closes the socket after
        // our login; amiquip reports that as invalid credentials.
        E::InvalidCredentials => AmqpError::Login {
            addr,
            reason: match credentials {
                Credentials::Plain { username, .. } => {
                    format!("ACCESS_REFUSED - wrong user name or password for user '{username}'")
                }
                Credentials::External => {
                    "ACCESS_REFUSED - the client certificate's user is unknown to the broker"
                        .to_string()
                }
            },
        },
        E::UnsupportedAuthMechanism {
            available,
            requested,
        } => AmqpError::Login {
            addr,
            reason: format!("the broker does not offer SASL {requested} (it offers {available})"),
        },
        E::ServerClosedConnection { code, message } => AmqpError::Refused {
            code,
            text: one_line(&message),
        },
        E::ConnectionTimeout => AmqpError::TimedOut {
            addr,
            during: " during the AMQP handshake",
        },
        // Without TLS, a server that does not speak AMQP 0-9-1 (a TLS
        // listener, say) answers the protocol header with something else, or
        // closes or resets the socket. Over TLS a close means something else
        // (the broker refused our client certificate after the handshake).
        E::MalformedFrame | E::FrameUnexpected if !over_tls => AmqpError::NotAmqp {
            addr,
            reason: "the server does not speak AMQP 0-9-1".to_string(),
        },
        E::MalformedFrame | E::FrameUnexpected => AmqpError::Connect {
            addr,
            reason: "the server does not speak AMQP 0-9-1".to_string(),
        },
        E::UnexpectedSocketClose if !over_tls => AmqpError::NotAmqp {
            addr,
            reason: "the server closed the connection during the AMQP handshake".to_string(),
        },
        E::UnexpectedSocketClose => AmqpError::Connect {
            addr,
            reason: "the server closed the connection during the AMQP handshake".to_string(),
        },
        E::IoErrorReadingSocket { source } | E::IoErrorWritingSocket { source }
            if !over_tls && source.kind() == std::io::ErrorKind::ConnectionReset =>
        {
            AmqpError::NotAmqp {
                addr,
                reason: format!("{source} during the AMQP handshake"),
            }
        }
        E::IoErrorReadingSocket { source } | E::IoErrorWritingSocket { source } => {
            AmqpError::Connect {
                addr,
                reason: source.to_string(),
            }
        }
        other => from_amiquip(other),
    }
}
