//! Ending a connect in progress from another thread, at once, without a
//! thread of the connect's own: the socket is shut down, which wakes
//! whatever waits on it (the TCP connect, the TLS handshake on this thread,
//! the AMQP handshake on amiquip's I/O thread), and every later step gives
//! up. Before the handshake there is nothing to clean up, so that is all an
//! interrupted connect needs.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// A handle on one connect (all its endpoints) that another thread can end
/// at once with [`ConnectAbort::abort`]: the signal thread, say, so that a
/// signal ends a connect that hangs. Clones share the connect.
#[derive(Clone, Default)]
pub struct ConnectAbort {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// A duplicate of the descriptor of the socket being connected: the
    /// shut-down reaches the socket even after the connect's own descriptor
    /// is closed, and never a descriptor number reused since.
    socket: Option<OwnedFd>,
    aborted: bool,
}

impl ConnectAbort {
    /// A connect not aborted yet.
    pub fn new() -> ConnectAbort {
        ConnectAbort::default()
    }

    /// Ends the connect at once, whatever stage it is at; from then on it
    /// gives up (called from any thread).
    pub fn abort(&self) {
        let mut state = self.lock();
        state.aborted = true;
        if let Some(socket) = &state.socket {
            // SAFETY: `socket` is a descriptor we own, open until we drop it.
            unsafe { libc::shutdown(socket.as_raw_fd(), libc::SHUT_RDWR) };
        }
    }

    /// Whether [`ConnectAbort::abort`] was called.
    pub fn is_aborted(&self) -> bool {
        self.lock().aborted
    }

    /// Watches `socket` until [`ConnectAbort::disarm`]; false when the
    /// connect is aborted already.
    fn arm(&self, socket: &impl AsFd) -> bool {
        let duplicate = socket.as_fd().try_clone_to_owned();
        let mut state = self.lock();
        if state.aborted {
            return false;
        }
        // Without a duplicate (out of descriptors) the connect still runs;
        // only an abort then waits for its timeout.
        state.socket = duplicate.ok();
        true
    }

    /// Stops watching the socket: it is connected, or given up.
    pub(super) fn disarm(&self) {
        self.lock().socket = None;
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Connects to `addr` within `timeout`, like `TcpStream::connect_timeout`,
/// but on a socket that `abort` can shut down while it waits. The socket
/// stays armed: the handshakes after the connect wait on it too.
pub(super) fn connect(
    addr: &SocketAddr,
    timeout: Duration,
    abort: &ConnectAbort,
) -> io::Result<TcpStream> {
    let aborted = || io::Error::new(io::ErrorKind::Interrupted, "the connect was interrupted");
    // Non-blocking, the connect started (mio asks net2 for a CLOEXEC socket).
    let pending = mio::net::TcpStream::connect(addr)?;
    // SAFETY: the descriptor comes from `into_raw_fd`, so it is open and
    // owned by nobody else.
    let tcp = unsafe { TcpStream::from_raw_fd(pending.into_raw_fd()) };
    if !abort.arm(&tcp) {
        return Err(aborted());
    }
    let deadline = Instant::now() + timeout;
    let mut poll = libc::pollfd {
        fd: tcp.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let millis = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd, for the duration of the call.
        match unsafe { libc::poll(&mut poll, 1, millis) } {
            0 => continue,
            n if n > 0 => break,
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    if abort.is_aborted() {
        return Err(aborted());
    }
    if let Some(e) = tcp.take_error()? {
        return Err(e);
    }
    tcp.set_nonblocking(false)?;
    Ok(tcp)
}
