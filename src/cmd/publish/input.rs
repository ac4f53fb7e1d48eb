//! stdin for `pub`, read on a thread of its own: a wait for the next line
//! (`tail -f log | amqpctl pub --lines`) must end at a signal, which a
//! blocking read on the main thread would not notice until input came.

use std::io::Read;

use crossbeam_channel::{Receiver, select};

use crate::error::Error;

/// How much one read takes from stdin.
const CHUNK: usize = 64 * 1024;

/// Chunks read from stdin by a thread, split into records here.
pub struct Input {
    chunks: Receiver<std::io::Result<Vec<u8>>>,
    buf: Vec<u8>,
    /// Where the next record starts in `buf`.
    pos: usize,
    /// How far `buf` is known to hold no delimiter.
    searched: usize,
    /// The reader reached the end of input.
    eof: bool,
}

impl Input {
    /// Starts reading `reader` (stdin, or a test's bytes) on a thread.
    pub fn spawn(mut reader: impl Read + Send + 'static) -> Input {
        let (tx, chunks) = crossbeam_channel::bounded(4);
        let spawned = std::thread::Builder::new()
            .name("stdin".to_string())
            .spawn(move || {
                loop {
                    let mut chunk = vec![0; CHUNK];
                    match reader.read(&mut chunk) {
                        Ok(0) => return,
                        Ok(n) => {
                            chunk.truncate(n);
                            if tx.send(Ok(chunk)).is_err() {
                                return;
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
            });
        let eof = match spawned {
            Ok(_) => false,
            Err(e) => {
                log::warn!("cannot start reading stdin: {e}");
                true
            }
        };
        Input {
            chunks,
            buf: Vec::new(),
            pos: 0,
            searched: 0,
            eof,
        }
    }

    /// The next record up to `delimiter` (which is dropped; the last record
    /// may lack it), `None` at the end of input, [`Error::Interrupted`] at a
    /// signal on `interrupts` while waiting for input.
    pub fn record(
        &mut self,
        delimiter: &[u8],
        interrupts: &Receiver<i32>,
    ) -> Result<Option<Vec<u8>>, Error> {
        let width = delimiter.len().max(1);
        loop {
            let from = self.searched.max(self.pos);
            if let Some(i) = find(&self.buf[from..], delimiter) {
                let end = from + i;
                let record = self.buf[self.pos..end].to_vec();
                self.pos = end + delimiter.len();
                self.searched = self.pos;
                return Ok(Some(record));
            }
            if self.eof {
                if self.pos < self.buf.len() {
                    let record = self.buf[self.pos..].to_vec();
                    self.pos = self.buf.len();
                    return Ok(Some(record));
                }
                return Ok(None);
            }
            // A delimiter may straddle what is here and what comes next.
            self.searched = self.buf.len().saturating_sub(width - 1).max(self.pos);
            self.buf.drain(..self.pos);
            self.searched -= self.pos;
            self.pos = 0;
            self.more(interrupts)?;
        }
    }

    /// Everything up to the end of input.
    pub fn all(&mut self, interrupts: &Receiver<i32>) -> Result<Vec<u8>, Error> {
        while !self.eof {
            self.more(interrupts)?;
        }
        Ok(self.buf.split_off(self.pos))
    }

    /// Waits for the next chunk (or the end), or a signal.
    fn more(&mut self, interrupts: &Receiver<i32>) -> Result<(), Error> {
        select! {
            recv(self.chunks) -> chunk => match chunk {
                Ok(Ok(chunk)) => self.buf.extend_from_slice(&chunk),
                Ok(Err(e)) => return Err(Error::io("reading stdin", e)),
                Err(_) => self.eof = true,
            },
            recv(interrupts) -> signal => {
                if let Ok(signal) = signal {
                    return Err(Error::Interrupted(signal));
                }
            }
        }
        Ok(())
    }
}

/// Where `needle` first starts in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    match needle {
        [] => None,
        [byte] => haystack.iter().position(|b| b == byte),
        _ => haystack.windows(needle.len()).position(|w| w == needle),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_split_on_multi_byte_delimiters() {
        let mut input = Input::spawn(std::io::Cursor::new(b"a--b-c----last".to_vec()));
        let never = crossbeam_channel::never();
        let mut got = Vec::new();
        while let Some(r) = input.record(b"--", &never).unwrap() {
            got.push(r);
        }
        assert_eq!(
            got,
            vec![
                b"a".to_vec(),
                b"b-c".to_vec(),
                b"".to_vec(),
                b"last".to_vec()
            ]
        );
    }

    /// Gives one byte per read, so that every delimiter straddles reads.
    struct Trickle(Vec<u8>, usize);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let Some(&b) = self.0.get(self.1) else {
                return Ok(0);
            };
            buf[0] = b;
            self.1 += 1;
            Ok(1)
        }
    }

    #[test]
    fn delimiters_split_across_reads_are_found() {
        let mut input = Input::spawn(Trickle(b"ab--cd--".to_vec(), 0));
        let never = crossbeam_channel::never();
        assert_eq!(input.record(b"--", &never).unwrap(), Some(b"ab".to_vec()));
        assert_eq!(input.record(b"--", &never).unwrap(), Some(b"cd".to_vec()));
        assert_eq!(input.record(b"--", &never).unwrap(), None);
        let mut input = Input::spawn(Trickle(b"whole body".to_vec(), 0));
        assert_eq!(input.all(&never).unwrap(), b"whole body".to_vec());
    }
}
