//! Where lines go: data lines (`Sent:`, `Received:`) to stdout, flushed at
//! once on a terminal and in batches into pipes; status lines to stderr.
//! "Written" means accepted by the kernel: into a pipe, that is the pipe's
//! buffer, whether or not its reader reads it.

use std::fmt::Display;
use std::io::{self, BufWriter, IsTerminal, Stdout, Write};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::Error;

/// Prints a status line (`Created queue: …`, `WARNING: …`) on stderr,
/// above the progress bar if one is drawn.
pub fn status(line: impl Display) {
    let bar = active_bar().lock().ok().and_then(|b| b.clone());
    match bar {
        Some(bar) => bar.suspend(|| eprintln!("{line}")),
        None => eprintln!("{line}"),
    }
}

/// Prints a command's result line (`Purged queue: Q (3 messages)`,
/// `Declared queue: …`) on stdout, where a script reads it: the result of
/// `declare`, `purge` and `delete` is their data, not a diagnostic.
pub fn result(line: impl Display) -> Result<(), Error> {
    write_stdout(format!("{line}\n").as_bytes())
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
    /// A report (`pub`'s `Sent:` lines): when its reader goes away, the
    /// work goes on and the lines go nowhere.
    report: bool,
    /// The report's reader went away.
    closed: bool,
}

impl Lines {
    /// Takes stdout; lines are flushed one by one when it is a terminal.
    /// A closed stdout is an error ([`Error::BrokenPipe`]): the caller
    /// stops.
    pub fn new() -> Lines {
        Lines {
            flush_each: io::stdout().is_terminal(),
            report: false,
            closed: false,
        }
    }

    /// Like [`Lines::new`], for a report on work that must not stop half
    /// done (`pub … | head -1`): once stdout's reader is gone, says so once
    /// on stderr and drops the lines instead of failing.
    pub fn report() -> Lines {
        Lines {
            report: true,
            ..Lines::new()
        }
    }

    /// `written`, unless it says the report's reader went away.
    fn unless_closed(&mut self, written: io::Result<()>) -> Result<(), Error> {
        match written {
            Err(e) if self.report && e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                status(
                    "WARNING: stdout was closed; the work goes on, its report lines are dropped",
                );
                Ok(())
            }
            other => other.map_err(|e| Error::io("writing to stdout", e)),
        }
    }

    fn write(&mut self, parts: &[&[u8]]) -> Result<(), Error> {
        // On a terminal, lines go above the progress bar, not through it.
        if self.flush_each
            && let Some(bar) = active_bar().lock().ok().and_then(|b| b.clone())
        {
            return bar.suspend(|| self.write_now(parts));
        }
        self.write_now(parts)
    }

    fn write_now(&mut self, parts: &[&[u8]]) -> Result<(), Error> {
        if self.closed {
            return Ok(());
        }
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
        if written.is_err() && self.report {
            // What the buffer still holds has no reader either.
            *out = BufWriter::with_capacity(64 * 1024, io::stdout());
        }
        drop(out);
        self.unless_closed(written)
    }

    /// Writes `prefix`, `body` as raw bytes, and a newline.
    pub fn line(&mut self, prefix: &[u8], body: &[u8]) -> Result<(), Error> {
        self.write(&[prefix, body, b"\n"])
    }

    /// Writes bytes as they are (already formatted lines).
    pub fn raw(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.write(&[bytes])
    }

    /// Writes `parts` one after the other, each as it is: a large part
    /// goes to stdout without a copy into the buffer.
    pub fn parts(&mut self, parts: &[&[u8]]) -> Result<(), Error> {
        self.write(parts)
    }

    /// Pushes buffered lines out; everything written so far is then on stdout.
    pub fn flush(&mut self) -> Result<(), Error> {
        if self.closed {
            return Ok(());
        }
        let mut out = buffer()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let flushed = out.flush();
        if flushed.is_err() && self.report {
            *out = BufWriter::with_capacity(64 * 1024, io::stdout());
        }
        drop(out);
        self.unless_closed(flushed)
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

/// The progress bar being drawn, if any, so that status lines can be
/// printed above it instead of through it.
fn active_bar() -> &'static Mutex<Option<ProgressBar>> {
    static BAR: OnceLock<Mutex<Option<ProgressBar>>> = OnceLock::new();
    BAR.get_or_init(|| Mutex::new(None))
}

/// Progress on stderr for long runs (indicatif): done / total with a bar,
/// rate and time left where the total is known, count and rate otherwise.
/// Drawn only when stderr is a terminal and `--quiet` was not given, after
/// the first second; it ends with a line giving the total.
pub struct Progress {
    verb: &'static str,
    bar: Option<ProgressBar>,
    count: u64,
    started: Instant,
    shown: bool,
    /// When the rate shown was last computed.
    rated: Instant,
}

impl Progress {
    /// Progress of messages `verb` ("sent", "received", "moved"), out of
    /// `total` when known.
    pub fn new(verb: &'static str, total: Option<u64>, quiet: bool) -> Progress {
        let bar = (!quiet && io::stderr().is_terminal()).then(|| {
            let template = match total {
                Some(_) => format!("{{pos}}/{{len}} {verb} [{{bar:30}}] {{msg}}, {{eta}} left"),
                None => format!("{{pos}} {verb} ({{msg}})"),
            };
            let bar = match total {
                Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::hidden()),
                None => ProgressBar::hidden(),
            };
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Progress {
            verb,
            bar,
            count: 0,
            started: Instant::now(),
            shown: false,
            rated: Instant::now(),
        }
    }

    /// Counts `n` more messages.
    pub fn add(&mut self, n: u64) {
        self.count += n;
        let Some(bar) = &self.bar else {
            return;
        };
        bar.inc(n);
        if self.rated.elapsed() >= Duration::from_millis(250) {
            self.rated = Instant::now();
            let rate = self.count as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!("{rate:.0} msg/s"));
        }
        // Short runs never show a bar.
        if !self.shown && self.started.elapsed() >= Duration::from_secs(1) {
            self.shown = true;
            bar.set_draw_target(ProgressDrawTarget::stderr());
            if let Ok(mut active) = active_bar().lock() {
                *active = Some(bar.clone());
            }
        }
    }

    /// Replaces the bar, if one was shown, with the final total.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take()
            && self.shown
        {
            bar.finish_and_clear();
            if let Ok(mut active) = active_bar().lock() {
                *active = None;
            }
            let secs = self.started.elapsed().as_secs_f64();
            let rate = self.count as f64 / secs.max(1e-9);
            eprintln!(
                "{} {} in {secs:.1} s ({rate:.0} msg/s)",
                self.count, self.verb
            );
        }
    }
}
