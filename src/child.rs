//! A child process with a deadline: the one runner that the sandbox's
//! `rabbitmq-server` and `rabbitmqctl` calls, `--exec` commands and the test
//! suite's one-shot runs share, so that reading both pipes without blocking
//! and killing at the deadline are written once.

use std::io::{self, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How often [`output_within`] looks whether its child has exited.
const POLL: Duration = Duration::from_millis(10);

/// What a child run by [`output_within`] reads on stdin.
pub enum Input {
    /// /dev/null.
    Null,
    /// These bytes (written on a thread of their own), then end of file.
    Bytes(Vec<u8>),
    /// Whatever this is, e.g. another process's stdout.
    From(Stdio),
}

/// What a child left when it exited or was killed at its deadline.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status; `None` when it was killed at the deadline.
    pub status: Option<ExitStatus>,
    /// All it wrote on stdout.
    pub stdout: Vec<u8>,
    /// All it wrote on stderr.
    pub stderr: Vec<u8>,
}

/// Runs `cmd` to its end with `input` on stdin, capturing stdout and stderr;
/// kills it once `timeout` has passed. Only spawning it can fail.
pub fn output_within(mut cmd: Command, input: Input, timeout: Duration) -> io::Result<Finished> {
    let bytes = match input {
        Input::Null => {
            cmd.stdin(Stdio::null());
            None
        }
        Input::Bytes(bytes) => {
            cmd.stdin(Stdio::piped());
            Some(bytes)
        }
        Input::From(stdio) => {
            cmd.stdin(stdio);
            None
        }
    };
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    // A pipe handed to the child must not stay open here too.
    drop(cmd);
    // A child that exits without reading all its input makes the write fail:
    // that is its business.
    let writer = bytes
        .zip(child.stdin.take())
        .map(|(bytes, mut pipe)| thread::spawn(move || drop(pipe.write_all(&bytes))));
    let stdout = child.stdout.take().map(read_all);
    let stderr = child.stderr.take().map(read_all);
    let deadline = Instant::now() + timeout;
    let status = wait_until(&mut child, Some(deadline), POLL, |_| {}).unwrap_or(None);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    Ok(Finished {
        status,
        stdout: joined(stdout),
        stderr: joined(stderr),
    })
}

/// Waits for `child` to exit, looking every `poll`, until `deadline` (if
/// any) has passed; `between` runs after each look that found it running
/// (to pass on a signal, say). `None`: still running at the deadline.
pub fn wait_until(
    child: &mut Child,
    deadline: Option<Instant>,
    poll: Duration,
    mut between: impl FnMut(&Child),
) -> io::Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(None);
        }
        between(child);
        thread::sleep(poll);
    }
}

/// Reads a pipe to its end on a thread of its own, so that a child that
/// fills one pipe while the other is read cannot block.
pub fn read_all(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// What a [`read_all`] thread read (nothing, if there was no pipe).
pub fn joined(reader: Option<JoinHandle<Vec<u8>>>) -> Vec<u8> {
    reader.and_then(|r| r.join().ok()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_past_its_deadline_is_killed_with_what_it_printed() {
        let mut sh = Command::new("/bin/sh");
        sh.args(["-c", "echo started; exec sleep 30"]);
        let started = Instant::now();
        let finished = output_within(sh, Input::Null, Duration::from_millis(300)).unwrap();
        assert!(finished.status.is_none());
        assert_eq!(finished.stdout, b"started\n");
        assert!(started.elapsed() < Duration::from_secs(20));
    }

    #[test]
    fn a_child_reads_its_input_and_both_pipes_are_kept() {
        let mut sh = Command::new("/bin/sh");
        sh.args(["-c", "cat; echo oops >&2; exit 3"]);
        let input = Input::Bytes(b"body".to_vec());
        let finished = output_within(sh, input, Duration::from_secs(30)).unwrap();
        assert_eq!(finished.status.and_then(|s| s.code()), Some(3));
        assert_eq!(finished.stdout, b"body");
        assert_eq!(finished.stderr, b"oops\n");
    }
}
