//! Child processes: one-shot runs with a hard timeout, long-running children whose output
//! is streamed line by line ([`Spawned`]), and children whose stdout the test reads and
//! closes itself ([`Piped`]). Every panic shows the command line and what it printed.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::run::Run;
use amqpctl::child::read_all;

/// How long a one-shot run may take before it is killed, unless told otherwise.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// What a one-shot child reads on stdin: /dev/null, bytes, or another process's output
/// (e.g. the stdout of a [`Piped`] child). The library's, as is the runner below.
pub use amqpctl::child::Input as Stdin;

/// `cmd` as a shell-like line for messages: the program's file name, then its arguments
/// (quoted where they hold spaces or quotes).
pub fn command_line(cmd: &Command) -> String {
    let program = std::path::Path::new(cmd.get_program());
    let mut line = program
        .file_name()
        .unwrap_or(program.as_os_str())
        .to_string_lossy()
        .into_owned();
    for arg in cmd.get_args() {
        let arg = arg.to_string_lossy();
        let plain = !arg.is_empty()
            && arg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:=%@,+{}#*".contains(c));
        if plain {
            write!(line, " {arg}").unwrap();
        } else {
            write!(line, " '{}'", arg.replace('\'', r"'\''")).unwrap();
        }
    }
    line
}

/// `bytes` as indented text lines under a `name (N lines):` heading, for a panic message.
pub fn transcript(name: &str, bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return format!("  {name}: (empty)\n");
    }
    let text = String::from_utf8_lossy(bytes);
    let n = text.lines().count();
    let mut shown = format!("  {name} ({n} line{}):\n", if n == 1 { "" } else { "s" });
    for line in text.lines() {
        writeln!(shown, "      {line}").unwrap();
    }
    shown
}

/// Runs `cmd` to completion, feeding it `stdin` and capturing stdout and stderr
/// ([`amqpctl::child::output_within`]). If it is still running after `timeout`, kills it
/// and panics with what it printed.
pub fn output_with_timeout(cmd: Command, stdin: Stdin, timeout: Duration) -> Output {
    let line = command_line(&cmd);
    let finished = amqpctl::child::output_within(cmd, stdin, timeout)
        .unwrap_or_else(|e| panic!("cannot spawn {line}: {e}"));
    let output = Output {
        status: finished.status.unwrap_or_default(),
        stdout: finished.stdout,
        stderr: finished.stderr,
    };
    assert!(
        finished.status.is_some(),
        "still running after {timeout:?}; killed it.\n  command: {line}\n{}{}",
        transcript("stdout", &output.stdout),
        transcript("stderr", &output.stderr),
    );
    output
}

/// Waits up to `timeout` for `child` to exit.
fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    amqpctl::child::wait_until(child, Some(deadline), Duration::from_millis(10), |_| {})
        .expect("try_wait")
}

/// A running child with stdin from /dev/null, whose stdout and stderr lines are delivered
/// through channels as they arrive and also kept as full transcripts. Killed on drop.
pub struct Spawned {
    child: Child,
    command_line: String,
    status: Option<ExitStatus>,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    stdout_transcript: Arc<Mutex<Vec<String>>>,
    stderr_transcript: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
}

impl Spawned {
    /// The child's OS process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Starts `cmd` (stdin, stdout and stderr are overridden).
    pub fn start(cmd: Command) -> Spawned {
        let (mut child, command_line) = start_piped(cmd);
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
            command_line,
            status: None,
            stdout,
            stderr,
            stdout_transcript,
            stderr_transcript,
            readers,
        }
    }

    /// The next stdout line not yet returned by this method or [`Self::next_stdout_line`],
    /// waiting up to `timeout`; `None` if none comes.
    pub fn wait_stdout_line(&self, timeout: Duration) -> Option<String> {
        self.stdout.recv_timeout(timeout).ok()
    }

    /// Like [`Self::wait_stdout_line`], but panics (with the transcripts) if no line comes.
    #[track_caller]
    pub fn next_stdout_line(&self, timeout: Duration) -> String {
        self.wait_stdout_line(timeout)
            .unwrap_or_else(|| self.fail(&format!("no stdout line within {timeout:?}")))
    }

    /// The next `n` stdout lines; panics if they do not all come within `timeout` each.
    #[track_caller]
    pub fn next_stdout_lines(&self, n: usize, timeout: Duration) -> Vec<String> {
        (0..n)
            .map(|i| {
                self.wait_stdout_line(timeout).unwrap_or_else(|| {
                    self.fail(&format!("stdout line {} of {n} never came", i + 1))
                })
            })
            .collect()
    }

    /// The next stderr line containing `needle`, waiting up to `timeout`; panics (with the
    /// transcripts) if none comes. Lines before it are consumed (they stay in the transcript).
    #[track_caller]
    pub fn await_stderr(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => self.fail(&format!(
                    "no stderr line containing {needle:?} within {timeout:?}"
                )),
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

    /// Waits up to `timeout` for the child to exit and checks its exit code; panics with
    /// the transcripts if it does not exit in time or exits otherwise.
    #[track_caller]
    pub fn exits_with(&mut self, code: i32, timeout: Duration) {
        match self.wait_exit(timeout) {
            None => self.fail(&format!(
                "expected exit code {code}: still running after {timeout:?} (killed it)"
            )),
            Some(status) if status.code() != Some(code) => {
                self.fail(&format!("expected exit code {code}, got {status}"))
            }
            Some(_) => {}
        }
    }

    /// Stops the child as Ctrl-C would (SIGINT) and checks that it exits 0 within `timeout`,
    /// as a consumer stopped by its user does.
    #[track_caller]
    pub fn interrupt(mut self, timeout: Duration) {
        self.signal(libc::SIGINT);
        self.exits_with(0, timeout);
    }

    /// Panics with `what`, the command line, the status and everything printed so far.
    #[track_caller]
    fn fail(&self, what: &str) -> ! {
        let join = |lines: Vec<String>| lines.iter().map(|l| format!("{l}\n")).collect::<String>();
        panic!(
            "{what}\n  command: {}\n  status:  {}\n{}{}",
            self.command_line,
            self.status
                .map_or_else(|| "running".to_string(), |s| s.to_string()),
            transcript("stdout so far", join(self.stdout_lines_so_far()).as_bytes()),
            transcript("stderr so far", join(self.stderr_lines_so_far()).as_bytes()),
        )
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

/// Starts `cmd` with stdin from /dev/null and stdout and stderr piped; returns the child
/// and its command line.
fn start_piped(mut cmd: Command) -> (Child, String) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let command_line = command_line(&cmd);
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {command_line}: {e}"));
    (child, command_line)
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

/// A running child with stdin from /dev/null whose stdout is a pipe the test takes, reads
/// and closes itself (as `head` would); stderr is captured. Killed on drop.
pub struct Piped {
    child: Child,
    command_line: String,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

impl Piped {
    /// Starts `cmd` (stdin, stdout and stderr are overridden).
    pub fn start(cmd: Command) -> Piped {
        let (mut child, command_line) = start_piped(cmd);
        let stderr = read_all(child.stderr.take().expect("piped stderr"));
        Piped {
            child,
            command_line,
            stderr: Some(stderr),
        }
    }

    /// The child's stdout; the test's to read and drop. Panics if taken before.
    pub fn take_stdout(&mut self) -> ChildStdout {
        self.child.stdout.take().expect("stdout not taken yet")
    }

    /// Waits up to `timeout` for the child to exit; panics (killing it) if it does not.
    /// The [`Run`] has its status and stderr (its stdout was the test's).
    #[track_caller]
    pub fn wait(mut self, timeout: Duration) -> Run {
        let status = wait_timeout(&mut self.child, timeout);
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let stderr = self
            .stderr
            .take()
            .expect("waited once")
            .join()
            .expect("stderr reader thread");
        assert!(
            status.is_some(),
            "still running {timeout:?} after it was expected to end (killed it)\n  command: {}\n{}",
            self.command_line,
            transcript("stderr", &stderr),
        );
        let output = Output {
            status: status.unwrap_or_default(),
            stdout: Vec::new(),
            stderr,
        };
        Run::new(std::mem::take(&mut self.command_line), None, output)
    }
}

impl Drop for Piped {
    fn drop(&mut self) {
        if self.stderr.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
