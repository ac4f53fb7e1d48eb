//! Where lines go: data lines (`Sent:`, `Received:`) to stdout, flushed at
//! once on a terminal and in batches into pipes; status lines to stderr.
//! "Written" means accepted by the kernel: into a pipe, that is the pipe's
//! buffer, whether or not its reader reads it.

use std::fmt::Display;
use std::io::{self, BufWriter, IsTerminal, Stdout, Write};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::error::Error;

/// Prints a status line (`Created queue: …`, `WARNING: …`) on stderr.
pub fn status(line: impl Display) {
    eprintln!("{line}");
}

/// Writes a whole generated text (completion script, manual page) to
/// stdout. Generators write into memory first: clap_complete panics when its
/// writer fails, and a closed stdout must stay a quiet exit.
pub fn write_stdout(bytes: &[u8]) -> Result<(), Error> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("writing to stdout", e))
}

/// The process's stdout buffer, shared so that a forced exit (a signal
/// thread) can still flush what was written.
fn buffer() -> &'static Mutex<BufWriter<Stdout>> {
    static OUT: OnceLock<Mutex<BufWriter<Stdout>>> = OnceLock::new();
    OUT.get_or_init(|| Mutex::new(BufWriter::with_capacity(64 * 1024, io::stdout())))
}

/// Flushes buffered data lines before a forced exit; gives up after a
/// moment if stdout does not take them (a stuck reader must not keep the
/// process alive).
pub fn flush_for_exit() {
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_millis(500);
        loop {
            if let Ok(mut out) = buffer().try_lock() {
                let _ = out.flush();
                break;
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = done_tx.send(());
    });
    let _ = done_rx.recv_timeout(Duration::from_secs(1));
}

/// Buffered data lines on stdout.
pub struct Lines {
    flush_each: bool,
}

impl Lines {
    /// Takes stdout; lines are flushed one by one when it is a terminal.
    pub fn new() -> Lines {
        Lines {
            flush_each: io::stdout().is_terminal(),
        }
    }

    fn write(&mut self, parts: &[&[u8]]) -> Result<(), Error> {
        let mut out = buffer()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut written = Ok(());
        for part in parts {
            written = written.and_then(|()| out.write_all(part));
        }
        if self.flush_each {
            written = written.and_then(|()| out.flush());
        }
        written.map_err(|e| Error::io("writing to stdout", e))
    }

    /// Writes `prefix`, `body` as raw bytes, and a newline.
    pub fn line(&mut self, prefix: &[u8], body: &[u8]) -> Result<(), Error> {
        self.write(&[prefix, body, b"\n"])
    }

    /// Writes bytes as they are (already formatted lines).
    pub fn raw(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.write(&[bytes])
    }

    /// Pushes buffered lines out; everything written so far is then on stdout.
    pub fn flush(&mut self) -> Result<(), Error> {
        buffer()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .flush()
            .map_err(|e| Error::io("writing to stdout", e))
    }
}

/// Calls `on_closed` once if the reader of stdout goes away (a pipe's read
/// end closed, a socket's peer gone, a terminal hung up), even while nothing
/// is being written: `amqpctl con | head -1` must not wait for the next
/// message to notice. Watches nothing when stdout is a file or /dev/null.
pub fn watch_stdout(on_closed: impl FnOnce() + Send + 'static) {
    let spawned = std::thread::Builder::new()
        .name("stdout-watch".to_string())
        .spawn(move || {
            let mut fds = libc::pollfd {
                fd: libc::STDOUT_FILENO,
                events: 0,
                revents: 0,
            };
            loop {
                // SAFETY: one valid pollfd, and its count.
                let n = unsafe { libc::poll(&mut fds, 1, -1) };
                if n < 0 {
                    if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    return;
                }
                if fds.revents & libc::POLLNVAL != 0 {
                    return;
                }
                if fds.revents & (libc::POLLERR | libc::POLLHUP) != 0 {
                    on_closed();
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        log::warn!("cannot watch stdout for its reader going away: {e}");
    }
}

/// A progress line on stderr (count and rate), redrawn at most twice a
/// second, and only when stderr is a terminal; it ends with the total.
pub struct Progress {
    verb: &'static str,
    enabled: bool,
    count: u64,
    started: Instant,
    drawn: Option<Instant>,
}

impl Progress {
    /// A progress line saying "N `verb`".
    pub fn new(verb: &'static str) -> Progress {
        Progress {
            verb,
            enabled: io::stderr().is_terminal(),
            count: 0,
            started: Instant::now(),
            drawn: None,
        }
    }

    /// Counts `n` more messages, redrawing if it is time.
    pub fn add(&mut self, n: u64) {
        self.count += n;
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if self
            .drawn
            .is_some_and(|t| now - t < Duration::from_millis(500))
            || now - self.started < Duration::from_secs(1)
        {
            return;
        }
        self.drawn = Some(now);
        let rate = self.count as f64 / (now - self.started).as_secs_f64();
        eprint!("\r{} {} ({rate:.0} msg/s)\x1b[K", self.count, self.verb);
    }

    /// Replaces the progress line, if one was drawn, with the final total.
    pub fn finish(&mut self) {
        if self.drawn.take().is_some() {
            let secs = self.started.elapsed().as_secs_f64();
            let rate = self.count as f64 / secs.max(1e-9);
            eprintln!(
                "\r{} {} in {secs:.1} s ({rate:.0} msg/s)\x1b[K",
                self.count, self.verb
            );
        }
    }
}
