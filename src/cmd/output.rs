//! Where lines go: data lines (`Sent:`, `Received:`) to stdout, flushed at
//! once on a terminal and in batches into pipes; status lines to stderr.

use std::fmt::Display;
use std::io::{self, BufWriter, IsTerminal, StdoutLock, Write};

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

    /// Pushes buffered lines out; everything written so far is then on stdout.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.out
            .flush()
            .map_err(|e| Error::io("writing to stdout", e))
    }
}
