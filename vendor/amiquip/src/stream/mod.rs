use crate::Result;
use mio::net::TcpStream;
use mio::Evented;
use std::io::{self, Read, Write};
use std::mem::MaybeUninit;
use std::os::unix::io::AsRawFd;

pub(crate) trait HandshakeStream: Evented + Send + 'static {
    type Stream: IoStream;

    fn progress_handshake(&mut self) -> Result<Option<Self::Stream>>;
}

/// Combination trait for readable, writable streams that can be polled by mio.
pub trait IoStream: Read + Write + Evented + Send + 'static {
    /// amqpctl patch (change 16): `read`, into memory that need not have been
    /// written yet, so that a large content body can be read from the socket
    /// straight into its message's buffer without zeroing it first. The
    /// default zeroes `buf` and reads into it.
    fn read_uninit(&mut self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
        read_zeroed(self, buf)
    }
}

/// amqpctl patch (change 16): a plain socket reads into the memory itself,
/// through `recv(2)`; the kernel writes the bytes it returns and no others.
impl IoStream for TcpStream {
    fn read_uninit(&mut self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes, and recv
        // only writes to it; no reference to uninitialized bytes is made.
        let n = unsafe { libc::recv(self.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

/// amqpctl patch (change 16): `read` into `buf` once it is zeroed.
pub(crate) fn read_zeroed<R: Read + ?Sized>(
    reader: &mut R,
    buf: &mut [MaybeUninit<u8>],
) -> io::Result<usize> {
    for byte in buf.iter_mut() {
        byte.write(0);
    }
    // SAFETY: every byte of `buf` was written just above.
    let buf = unsafe { &mut *(buf as *mut [MaybeUninit<u8>] as *mut [u8]) };
    reader.read(buf)
}

#[cfg(feature = "native-tls")]
mod native_tls;

#[cfg(feature = "native-tls")]
pub use self::native_tls::TlsConnector;
