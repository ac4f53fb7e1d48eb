//! Running child processes, above all the `amqpctl` binary under test: one-shot runs with a
//! hard timeout, and long-running children whose output is streamed line by line.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long [`run`] and [`run_with_stdin`] let `amqpctl` run before killing it.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// A `Command` for the `amqpctl` binary built by cargo, with `args`.
pub fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_amqpctl"));
    cmd.args(args);
    cmd
}

/// Runs `amqpctl args` with stdin from /dev/null; panics if it runs longer than [`RUN_TIMEOUT`].
pub fn run(args: &[&str]) -> Output {
    output_with_timeout(command(args), None, RUN_TIMEOUT)
}

/// Runs `amqpctl args` with `stdin` as its standard input; panics if it runs longer than
/// [`RUN_TIMEOUT`].
pub fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    output_with_timeout(command(args), Some(stdin), RUN_TIMEOUT)
}

/// Runs `cmd` to completion, feeding it `stdin` (or /dev/null) and capturing stdout and
/// stderr. If it is still running after `timeout`, kills it and panics with what it printed.
pub fn output_with_timeout(mut cmd: Command, stdin: Option<&[u8]>, timeout: Duration) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
    let writer = child.stdin.take().map(|mut pipe| {
        let bytes = stdin.unwrap_or_default().to_vec();
        // A child that exits without reading everything makes this fail; that is its business.
        thread::spawn(move || drop(pipe.write_all(&bytes)))
    });
    let stdout = read_to_end(child.stdout.take().expect("piped stdout"));
    let stderr = read_to_end(child.stderr.take().expect("piped stderr"));
    let status = wait_timeout(&mut child, timeout);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    if let Some(writer) = writer {
        writer.join().expect("stdin writer thread");
    }
    let output = Output {
        status: status.unwrap_or_default(),
        stdout: stdout.join().expect("stdout reader thread"),
        stderr: stderr.join().expect("stderr reader thread"),
    };
    assert!(
        status.is_some(),
        "{cmd:?} still running after {timeout:?}; killed it.\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    output
}

/// The lines of `output.stdout`, decoded lossily, without line terminators.
pub fn stdout_lines(output: &Output) -> Vec<String> {
    lines(&output.stdout)
}

/// The lines of `output.stderr`, decoded lossily, without line terminators.
pub fn stderr_lines(output: &Output) -> Vec<String> {
    lines(&output.stderr)
}

fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn read_to_end(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Waits up to `timeout` for `child` to exit.
fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Starts `amqpctl args` in the background; see [`Spawned`].
pub fn spawn(args: &[&str]) -> Spawned {
    Spawned::start(command(args))
}

/// A running child with stdin from /dev/null, whose stdout and stderr lines are delivered
/// through channels as they arrive and also kept as full transcripts. Killed on drop.
pub struct Spawned {
    child: Child,
    status: Option<ExitStatus>,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    stdout_transcript: Arc<Mutex<Vec<String>>>,
    stderr_transcript: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
}

impl Spawned {
    /// Starts `cmd` (stdin, stdout and stderr are overridden).
    pub fn start(mut cmd: Command) -> Spawned {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
        let (stdout_tx, stdout) = mpsc::channel();
        let (stderr_tx, stderr) = mpsc::channel();
        let stdout_transcript = Arc::default();
        let stderr_transcript = Arc::default();
        let readers = vec![
            pump_lines(
                child.stdout.take().expect("piped stdout"),
                stdout_tx,
                Arc::clone(&stdout_transcript),
            ),
            pump_lines(
                child.stderr.take().expect("piped stderr"),
                stderr_tx,
                Arc::clone(&stderr_transcript),
            ),
        ];
        Spawned {
            child,
            status: None,
            stdout,
            stderr,
            stdout_transcript,
            stderr_transcript,
            readers,
        }
    }

    /// The child's OS process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The next stdout line not yet returned by this method, waiting up to `timeout`.
    pub fn wait_stdout_line(&self, timeout: Duration) -> Option<String> {
        self.stdout.recv_timeout(timeout).ok()
    }

    /// The next stderr line containing `needle`, waiting up to `timeout`. Lines before it
    /// are consumed (they stay in the transcript).
    pub fn wait_stderr_containing(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.stderr.recv_timeout(left).ok()?;
            if line.contains(needle) {
                return Some(line);
            }
        }
    }

    /// Every stdout line read so far, whether or not returned by [`Self::wait_stdout_line`].
    pub fn stdout_lines_so_far(&self) -> Vec<String> {
        self.stdout_transcript.lock().unwrap().clone()
    }

    /// Every stderr line read so far.
    pub fn stderr_lines_so_far(&self) -> Vec<String> {
        self.stderr_transcript.lock().unwrap().clone()
    }

    /// Sends signal `sig` (e.g. `libc::SIGINT`) to the child.
    pub fn signal(&self, sig: i32) {
        assert!(self.status.is_none(), "signal to a child already reaped");
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) has no memory-safety preconditions; the child is not reaped yet,
        // so its pid cannot have been reused.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig}) failed");
    }

    /// Kills the child (if still running), reaps it and waits for its output to be read.
    pub fn kill(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = Some(self.child.wait().expect("wait for killed child"));
            self.join_readers();
        }
    }

    /// Waits up to `timeout` for the child to exit; on timeout kills it and returns `None`.
    /// Once this returns, the transcripts are complete.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.status.is_none() {
            match wait_timeout(&mut self.child, timeout) {
                Some(status) => {
                    self.status = Some(status);
                    self.join_readers();
                }
                None => {
                    self.kill();
                    return None;
                }
            }
        }
        self.status
    }

    fn join_readers(&mut self) {
        for reader in self.readers.drain(..) {
            reader.join().expect("output reader thread");
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads `pipe` line by line until EOF, appending each line to `transcript` and then
/// sending it on `tx` (sending fails harmlessly once the receiver is gone).
fn pump_lines(
    pipe: impl Read + Send + 'static,
    tx: Sender<String>,
    transcript: Arc<Mutex<Vec<String>>>,
) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        while matches!(reader.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
            let line = String::from_utf8_lossy(&buf)
                .trim_end_matches(['\n', '\r'])
                .to_owned();
            transcript.lock().unwrap().push(line.clone());
            let _ = tx.send(line);
            buf.clear();
        }
    })
}
