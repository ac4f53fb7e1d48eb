//! A rustls session over a non-blocking mio socket, shaped for amiquip's I/O
//! loop.
//!
//! amiquip polls the socket edge-triggered, asks for writability only while
//! its own output buffer holds bytes, and after `WouldBlock` retries the write
//! from the same offset. So `write` behaves like OpenSSL's: while ciphertext
//! from earlier plaintext is still unsent it returns `WouldBlock`, and once that
//! ciphertext is out, the retried call reports the plaintext accepted before.
//! Accepting plaintext without being able to send it would otherwise leave
//! amiquip with an empty buffer, no writable interest, and a stalled session.

use std::io::{self, Read, Write};
use std::net::TcpStream as StdTcpStream;
use std::sync::Arc;
use std::time::Instant;

use mio::{Evented, Poll, PollOpt, Ready, Token};
use rustls::{CertificateError, ClientConfig, ClientConnection};

use super::TlsError;
use super::config::server_name;

/// An established TLS session on a non-blocking socket; amiquip reads and
/// writes AMQP frames through it.
pub struct TlsStream {
    tls: ClientConnection,
    sock: mio::net::TcpStream,
    /// Plaintext bytes taken by a write that then returned `WouldBlock`
    /// because their ciphertext could not be sent yet.
    accepted_unreported: Option<usize>,
}

/// Performs the TLS handshake on a connected blocking socket before `deadline`,
/// verifying the broker as `name`, and returns the session ready for amiquip.
///
/// `peer` (host:port) only serves the error messages.
pub fn handshake(
    tcp: StdTcpStream,
    config: Arc<ClientConfig>,
    name: &str,
    peer: &str,
    deadline: Instant,
) -> Result<TlsStream, TlsError> {
    let mut tls =
        ClientConnection::new(config, server_name(name)?).map_err(|e| TlsError::Handshake {
            peer: peer.to_string(),
            reason: e.to_string(),
        })?;
    let mut tcp = Recording {
        tcp,
        first: Vec::with_capacity(AMQP_HEADER.len()),
    };
    while tls.is_handshaking() || tls.wants_write() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(timed_out(peer));
        }
        let io_err = |e: io::Error| classify(e, peer, name);
        tcp.tcp.set_read_timeout(Some(remaining)).map_err(io_err)?;
        tcp.tcp.set_write_timeout(Some(remaining)).map_err(io_err)?;
        let done = tls.complete_io(&mut tcp);
        if done.is_err() && tcp.first.starts_with(AMQP_HEADER) {
            return Err(TlsError::PlainAmqp {
                peer: peer.to_string(),
            });
        }
        match done {
            Ok((0, 0)) if tls.is_handshaking() => {
                return Err(TlsError::Handshake {
                    peer: peer.to_string(),
                    reason: "the broker closed the connection".to_string(),
                });
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(timed_out(peer));
            }
            Err(e) => return Err(classify(e, peer, name)),
        }
    }
    let tcp = tcp.tcp;
    let io_err = |e: io::Error| classify(e, peer, name);
    tcp.set_read_timeout(None).map_err(io_err)?;
    tcp.set_write_timeout(None).map_err(io_err)?;
    tcp.set_nonblocking(true).map_err(io_err)?;
    let sock = mio::net::TcpStream::from_stream(tcp).map_err(io_err)?;
    Ok(TlsStream {
        tls,
        sock,
        accepted_unreported: None,
    })
}

/// What an AMQP 0-9-1 server sends to a client whose first bytes are not
/// its protocol header (a TLS hello, say), before it closes the socket.
const AMQP_HEADER: &[u8] = b"AMQP";

/// The socket during the handshake, keeping the first bytes the server sent
/// so that a plain AMQP listener can be told from other failures.
struct Recording {
    tcp: StdTcpStream,
    first: Vec<u8>,
}

impl Read for Recording {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.tcp.read(buf)?;
        let room = AMQP_HEADER.len().saturating_sub(self.first.len());
        self.first.extend_from_slice(&buf[..n.min(room)]);
        Ok(n)
    }
}

impl Write for Recording {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

fn timed_out(peer: &str) -> TlsError {
    TlsError::TimedOut {
        peer: peer.to_string(),
    }
}

/// Turns a handshake I/O error into the error that names its cause.
fn classify(e: io::Error, peer: &str, name: &str) -> TlsError {
    let peer = peer.to_string();
    let rustls_error = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls_error {
        Some(rustls::Error::InvalidCertificate(cert_error)) => match cert_error {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                TlsError::UnknownAuthority { peer }
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsError::NameMismatch {
                    peer,
                    name: name.to_string(),
                }
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                TlsError::CertificateNotValidNow {
                    peer,
                    reason: "has expired",
                }
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                TlsError::CertificateNotValidNow {
                    peer,
                    reason: "is not valid yet",
                }
            }
            other => TlsError::Handshake {
                peer,
                reason: format!("invalid certificate: {other:?}"),
            },
        },
        Some(other) => TlsError::Handshake {
            peer,
            reason: other.to_string(),
        },
        None => TlsError::Handshake {
            peer,
            reason: e.to_string(),
        },
    }
}

impl TlsStream {
    /// Sends pending ciphertext; `WouldBlock` if some of it must wait.
    fn send_ciphertext(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            self.tls.write_tls(&mut self.sock)?;
        }
        Ok(())
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(accepted) = self.accepted_unreported {
            self.send_ciphertext()?;
            self.accepted_unreported = None;
            return Ok(accepted);
        }
        self.send_ciphertext()?;
        let accepted = self.tls.writer().write(buf)?;
        match self.send_ciphertext() {
            Ok(()) => Ok(accepted),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.accepted_unreported = Some(accepted);
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_ciphertext()
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.tls.reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return done,
            }
            if self.tls.read_tls(&mut self.sock)? == 0 {
                // The socket is at end of file: let rustls say whether the
                // session ended cleanly (Ok(0)) or was cut (UnexpectedEof).
                self.tls
                    .process_new_packets()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                return match self.tls.reader().read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                    done => done,
                };
            }
            self.tls
                .process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            // Answers rustls owes the peer (alerts, key updates) go out now
            // if the socket takes them, else with the next write.
            match self.send_ciphertext() {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                _ => {}
            }
        }
    }
}

impl Evented for TlsStream {
    fn register(
        &self,
        poll: &Poll,
        token: Token,
        interest: Ready,
        opts: PollOpt,
    ) -> io::Result<()> {
        self.sock.register(poll, token, interest, opts)
    }

    fn reregister(
        &self,
        poll: &Poll,
        token: Token,
        interest: Ready,
        opts: PollOpt,
    ) -> io::Result<()> {
        self.sock.reregister(poll, token, interest, opts)
    }

    fn deregister(&self, poll: &Poll) -> io::Result<()> {
        self.sock.deregister(poll)
    }
}
