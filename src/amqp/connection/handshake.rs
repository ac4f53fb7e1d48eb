//! Opening a connection: the endpoints tried in order, one deadline over
//! TCP, TLS and the AMQP handshake, and the handshake's failures sorted by
//! what the user can do about them.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Instant;

use amiquip::{
    AmqpValue, Auth, ConnectionBlockedNotification, ConnectionOptions, ConnectionTuning, FieldTable,
};
use crossbeam_channel::Receiver;

use super::abort::ConnectAbort;
use crate::amqp::error::{AmqpError, Result, from_amiquip, one_line};
use crate::amqp::settings::{ConnectionSettings, Credentials, Endpoint};
use crate::tls;

/// Messages a channel may queue for amiquip's I/O thread before a publish
/// waits. amiquip's default (16) makes the publishing thread and the I/O
/// thread hand over almost every frame with a context switch; a deeper queue
/// lets the I/O thread take many per wake-up (about a dozen here). Each
/// entry is a whole small publish or one body frame, and the queue is
/// allocated and written through when the channel opens, so a deeper one
/// costs every connection page faults: 4,096 entries were 93 of a one-shot
/// `pub`'s 500, at the same publish rate as 512.
const MEM_CHANNEL_BOUND: usize = 512;

/// Bytes of frames amiquip's I/O thread holds for the socket before it stops
/// taking more from the channels (amiquip's default: 16 MiB). The kernel's
/// socket buffer is far smaller, so 4 MiB keeps the socket as busy, and it
/// bounds the buffer, which holds up to twice this (written bytes are
/// dropped lazily: vendor/amiquip/PATCHES.md, change 6).
const BUFFERED_WRITES_HIGH_WATER: usize = 4 << 20;

/// An opened amiquip connection, before it is wrapped.
pub(super) struct Parts {
    pub(super) conn: amiquip::Connection,
    pub(super) flow: Receiver<ConnectionBlockedNotification>,
    pub(super) endpoint: Endpoint,
}

/// Opens a connection to the first endpoint that answers (see
/// [`super::Connection::open`]); with `abort`, gives up as soon as it is
/// aborted.
pub(super) fn open_first(
    settings: &ConnectionSettings,
    abort: Option<&ConnectAbort>,
) -> Result<Parts> {
    let tls_config = match &settings.tls {
        Some(t) => Some(tls::client_config(t)?),
        None => None,
    };
    let mut last_error = AmqpError::Invalid("no broker address given".to_string());
    for endpoint in &settings.endpoints {
        let opened = open_one(settings, endpoint, tls_config.as_ref(), abort);
        if let Some(abort) = abort {
            abort.disarm();
            if abort.is_aborted() {
                return Err(AmqpError::ConnectionLost {
                    reason: "the connect was interrupted".to_string(),
                });
            }
        }
        match opened {
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
    abort: Option<&ConnectAbort>,
) -> Result<amiquip::Connection> {
    let deadline = Instant::now() + settings.connect_timeout;
    let addr = endpoint.to_string();
    let tcp = connect_tcp(endpoint, deadline, abort)?;
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

/// Connects to the first resolved address that accepts, before `deadline`
/// (on a socket `abort` can shut down, if given).
fn connect_tcp(
    endpoint: &Endpoint,
    deadline: Instant,
    abort: Option<&ConnectAbort>,
) -> Result<TcpStream> {
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
        let connected = match abort {
            Some(abort) => super::abort::connect(&sockaddr, remaining, abort),
            None => TcpStream::connect_timeout(&sockaddr, remaining),
        };
        match connected {
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
        E::ServerClosedConnection { code: 403, .. }
        | E::InvalidCredentials
        | E::UnsupportedAuthMechanism { .. } => login_error(e, addr, credentials),
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

/// Sorts a refused login: the broker's own reason when it gives one.
fn login_error(e: amiquip::Error, addr: String, credentials: &Credentials) -> AmqpError {
    use amiquip::Error as E;
    let reason = match e {
        // We announce authentication_failure_close, so RabbitMQ says why it
        // refuses a login: a close with 403 ACCESS_REFUSED and its text (a
        // refusal at connection.open, of the vhost or over a connection
        // limit, is 530 NOT_ALLOWED).
        E::ServerClosedConnection { message, .. } => one_line(&message),
        // A broker that ignores the capability just closes the socket after
        // our login; amiquip reports that as invalid credentials.
        E::InvalidCredentials => match credentials {
            Credentials::Plain { username, .. } => {
                format!("ACCESS_REFUSED - wrong user name or password for user '{username}'")
            }
            Credentials::External => {
                "ACCESS_REFUSED - the client certificate's user is unknown to the broker"
                    .to_string()
            }
        },
        E::UnsupportedAuthMechanism {
            available,
            requested,
        } => format!("the broker does not offer SASL {requested} (it offers {available})"),
        other => return from_amiquip(other),
    };
    AmqpError::Login { addr, reason }
}
