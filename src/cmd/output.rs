//! Where lines go: data lines (`Sent:`, `Received:`) to stdout, flushed at
//! once on a terminal and in batches into pipes; status lines to stderr.

use std::fmt::Display;
use std::io::{self, BufWriter, IsTerminal, StdoutLock, Write};
use std::time::{Duration, Instant};

use crate::error::Error;

/// Prints a status line (`Created queue: …`, `WARNING: …`) on stderr.
pub fn status(line: impl Display) {
    eprintln!("{line}");
}

/// Buffered data lines on stdout.
pub struct Lines {
    out: BufWriter<StdoutLock<'static>>,
    flush_each: bool,
}

impl Lines {
    /// Takes stdout; lines are flushed one by one when it is a terminal.
    pub fn new() -> Lines {
        let stdout = io::stdout();
        let flush_each = stdout.is_terminal();
        Lines {
            out: BufWriter::with_capacity(64 * 1024, stdout.lock()),
            flush_each,
        }
    }

    /// Writes `prefix`, `body` as raw bytes, and a newline.
    pub fn line(&mut self, prefix: &[u8], body: &[u8]) -> Result<(), Error> {
        let written = self
            .out
            .write_all(prefix)
            .and_then(|()| self.out.write_all(body))
            .and_then(|()| self.out.write_all(b"\n"));
        written.map_err(|e| Error::io("writing to stdout", e))?;
        if self.flush_each {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes bytes as they are (already formatted lines).
    pub fn raw(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.out
            .write_all(bytes)
            .map_err(|e| Error::io("writing to stdout", e))?;
        if self.flush_each {
            self.flush()?;
        }
        Ok(())
    }

    /// Pushes buffered lines out; everything written so far is then on stdout.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.out
            .flush()
            .map_err(|e| Error::io("writing to stdout", e))
    }
}

/// A progress line on stderr (count and rate), redrawn at most twice a
/// second, and only when stderr is a terminal.
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

    /// Ends the progress line, if one was drawn.
    pub fn finish(&mut self) {
        if self.drawn.take().is_some() {
            eprint!("\r\x1b[K");
        }
    }
}
