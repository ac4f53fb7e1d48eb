//! Running `amqpctl` and checking what a user sees, in one expression:
//!
//! ```ignore
//! amqpctl(&["pub", "-k", &q, "-m", "x"]).code(0).stdout(["Sent: x"]).no_stderr();
//! ```
//!
//! A [`Run`] is a finished command. Its checks panic with the command line, the exit
//! status and everything it printed; a `Run` whose exit code was never checked panics
//! when dropped, so no setup step goes unchecked. Expected lines are exact, except that
//! `[..]` in one matches any text within the line.

use std::ffi::OsStr;
use std::panic::Location;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use super::broker::Broker;
use super::process::{
    Piped, RUN_TIMEOUT, Spawned, Stdin, command_line, output_with_timeout, transcript,
};

/// The amqpctl binary cargo built for these tests.
pub const AMQPCTL: &str = env!("CARGO_BIN_EXE_amqpctl");

/// The connection flags for `b`'s plain listener: `--server 127.0.0.1 --port-number N`.
pub fn connection_flags(b: &Broker) -> Vec<String> {
    vec![
        "--server".into(),
        "127.0.0.1".into(),
        "--port-number".into(),
        b.amqp_port().to_string(),
    ]
}

/// Runs `amqpctl ARGS` against the shared node.
#[track_caller]
#[must_use = "check its exit code: .code(N)"]
pub fn amqpctl(args: &[&str]) -> Run {
    Cmd::amqpctl_on(super::broker(), args).run()
}

/// Runs `amqpctl ARGS` against the shared node with `stdin` as its input.
#[track_caller]
#[must_use = "check its exit code: .code(N)"]
pub fn amqpctl_stdin(args: &[&str], stdin: &[u8]) -> Run {
    Cmd::amqpctl_on(super::broker(), args).stdin(stdin).run()
}

/// Runs `amqpctl ARGS` against `b`.
#[track_caller]
#[must_use = "check its exit code: .code(N)"]
pub fn amqpctl_on(b: &Broker, args: &[&str]) -> Run {
    Cmd::amqpctl_on(b, args).run()
}

/// Runs `amqpctl ARGS` against the shared node's TLS listener, as `localhost` (the name
/// in its certificate).
#[track_caller]
#[must_use = "check its exit code: .code(N)"]
pub fn amqpctl_tls(args: &[&str]) -> Run {
    let port = super::broker().amqps_port().to_string();
    let mut all = vec!["--server", "localhost", "--port-number", &port];
    all.extend_from_slice(args);
    Cmd::amqpctl(&all).run()
}

/// The arguments `pub -q Q -Q -k Q EXTRA`: a publisher that declares the queue it sends to.
pub fn declaring_pub<'a>(q: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    [&["pub", "-q", q, "-Q", "-k", q][..], extra].concat()
}

/// Starts `amqpctl ARGS` against the shared node in the background.
pub fn spawn_amqpctl(args: &[&str]) -> Spawned {
    Cmd::amqpctl_on(super::broker(), args).spawn()
}

/// Starts `amqpctl ARGS` against the shared node in the background and waits up to
/// `timeout` for a stderr line containing `needle` (e.g. "Created queue"), which says it is
/// going; the child and that line.
#[track_caller]
pub fn spawn_amqpctl_until(args: &[&str], needle: &str, timeout: Duration) -> (Spawned, String) {
    let child = spawn_amqpctl(args);
    let line = child.await_stderr(needle, timeout);
    (child, line)
}

/// Starts `amqpctl ARGS` against `b` in the background.
pub fn spawn_amqpctl_on(b: &Broker, args: &[&str]) -> Spawned {
    Cmd::amqpctl_on(b, args).spawn()
}

/// A command about to run: the program and its arguments, its stdin, its environment and
/// how long it may take.
pub struct Cmd {
    command: Command,
    stdin: Stdin,
    timeout: Duration,
}

impl Cmd {
    /// `amqpctl ARGS` exactly as given: no connection flags added.
    pub fn amqpctl(args: &[&str]) -> Cmd {
        Cmd::new(AMQPCTL, args)
    }

    /// `amqpctl` with `b`'s connection flags, then `ARGS`.
    pub fn amqpctl_on(b: &Broker, args: &[&str]) -> Cmd {
        let mut cmd = Cmd::amqpctl(&[]);
        cmd.command.args(connection_flags(b)).args(args);
        cmd
    }

    /// Any program with `args`.
    pub fn new(program: impl AsRef<OsStr>, args: &[&str]) -> Cmd {
        let mut command = Command::new(program);
        command.args(args);
        Cmd::from(command)
    }

    /// Any prepared command; its stdin, stdout and stderr are overridden.
    pub fn from(command: Command) -> Cmd {
        Cmd {
            command,
            stdin: Stdin::Null,
            timeout: RUN_TIMEOUT,
        }
    }

    /// Feeds it `bytes` on stdin (instead of /dev/null).
    pub fn stdin(mut self, bytes: &[u8]) -> Cmd {
        self.stdin = Stdin::Bytes(bytes.to_vec());
        self
    }

    /// Gives it `stdio` as stdin, e.g. another child's stdout.
    pub fn stdin_from(mut self, stdio: impl Into<Stdio>) -> Cmd {
        self.stdin = Stdin::From(stdio.into());
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Cmd {
        self.command.env(key, value);
        self
    }

    /// Runs it without `key` in its environment.
    pub fn env_remove(mut self, key: &str) -> Cmd {
        self.command.env_remove(key);
        self
    }

    /// How long [`Cmd::run`] lets it run before killing it (default [`RUN_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Cmd {
        self.timeout = timeout;
        self
    }

    /// Runs it to completion.
    #[track_caller]
    #[must_use = "check its exit code: .code(N)"]
    pub fn run(self) -> Run {
        let line = command_line(&self.command);
        let stdin = match &self.stdin {
            Stdin::Null => None,
            Stdin::Bytes(bytes) => Some(format!("{} bytes", bytes.len())),
            Stdin::From(_) => Some("a pipe".to_string()),
        };
        let output = output_with_timeout(self.command, self.stdin, self.timeout);
        Run::new(line, stdin, output)
    }

    /// Starts it in the background with stdin from /dev/null, its output streamed line by line.
    pub fn spawn(self) -> Spawned {
        Spawned::start(self.command)
    }

    /// Starts it in the background with stdin from /dev/null and its stdout a pipe for the
    /// test to read and close.
    pub fn spawn_piped(self) -> Piped {
        Piped::start(self.command)
    }
}

/// A finished command: see the module docs.
pub struct Run {
    command_line: String,
    stdin: Option<String>,
    output: Output,
    code_checked: bool,
    made_at: &'static Location<'static>,
}

impl Run {
    #[track_caller]
    pub(super) fn new(command_line: String, stdin: Option<String>, output: Output) -> Run {
        Run {
            command_line,
            stdin,
            output,
            code_checked: false,
            made_at: Location::caller(),
        }
    }

    /// Checks the exit code.
    #[track_caller]
    pub fn code(mut self, code: i32) -> Run {
        self.code_checked = true;
        if self.output.status.code() != Some(code) {
            self.fail(&format!("expected exit code {code}"));
        }
        self
    }

    /// Checks that the exit code is one of `codes`.
    #[track_caller]
    pub fn code_one_of(mut self, codes: &[i32]) -> Run {
        self.code_checked = true;
        if !self
            .output
            .status
            .code()
            .is_some_and(|c| codes.contains(&c))
        {
            self.fail(&format!("expected an exit code in {codes:?}"));
        }
        self
    }

    /// Checks stdout: exactly these lines (`[..]` matches any text within a line).
    #[track_caller]
    pub fn stdout(self, lines: impl IntoIterator<Item = impl AsRef<str>>) -> Run {
        self.lines_are("stdout", self.stdout_lines(), lines);
        self
    }

    /// Checks stderr: exactly these lines (`[..]` matches any text within a line).
    #[track_caller]
    pub fn stderr(self, lines: impl IntoIterator<Item = impl AsRef<str>>) -> Run {
        self.lines_are("stderr", self.stderr_lines(), lines);
        self
    }

    /// Checks that some stdout line matches `pattern`.
    #[track_caller]
    pub fn stdout_has(self, pattern: impl AsRef<str>) -> Run {
        self.has_line("stdout", self.stdout_lines(), pattern.as_ref());
        self
    }

    /// Checks that some stderr line matches `pattern`.
    #[track_caller]
    pub fn stderr_has(self, pattern: impl AsRef<str>) -> Run {
        self.has_line("stderr", self.stderr_lines(), pattern.as_ref());
        self
    }

    /// Checks that stdout is empty.
    #[track_caller]
    pub fn no_stdout(self) -> Run {
        if !self.output.stdout.is_empty() {
            self.fail("expected nothing on stdout");
        }
        self
    }

    /// Checks that stderr is empty.
    #[track_caller]
    pub fn no_stderr(self) -> Run {
        if !self.output.stderr.is_empty() {
            self.fail("expected nothing on stderr");
        }
        self
    }

    /// Checks stdout byte for byte.
    #[track_caller]
    pub fn stdout_bytes(self, expected: &[u8]) -> Run {
        if self.output.stdout != expected {
            self.fail(&format!(
                "stdout is {:?}, expected {:?}",
                String::from_utf8_lossy(&self.output.stdout),
                String::from_utf8_lossy(expected)
            ));
        }
        self
    }

    /// Checks that stdout and stderr nowhere contain `text` (e.g. a password).
    #[track_caller]
    pub fn never_shows(self, text: &str) -> Run {
        if self.stdout_text().contains(text) || self.stderr_text().contains(text) {
            self.fail(&format!("{text:?} was printed"));
        }
        self
    }

    /// Checks that the output does not look like a panic or a backtrace.
    #[track_caller]
    pub fn no_panic(self) -> Run {
        let stderr = self.stderr_text();
        if ["panicked", "backtrace", "RUST_BACKTRACE"]
            .iter()
            .any(|word| stderr.contains(word))
        {
            self.fail("it panicked");
        }
        self
    }

    /// The stdout lines, decoded lossily, without line terminators.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout_text().lines().map(str::to_owned).collect()
    }

    /// The stderr lines, decoded lossily, without line terminators.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr_text().lines().map(str::to_owned).collect()
    }

    /// Stdout, decoded lossily.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    /// Stderr, decoded lossily.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Stdout as the bytes it printed, e.g. to feed another command.
    pub fn stdout_raw(&self) -> &[u8] {
        &self.output.stdout
    }

    #[track_caller]
    fn lines_are(
        &self,
        name: &str,
        actual: Vec<String>,
        expected: impl IntoIterator<Item = impl AsRef<str>>,
    ) {
        let expected: Vec<String> = expected
            .into_iter()
            .map(|l| l.as_ref().to_owned())
            .collect();
        let same = actual.len() == expected.len()
            && actual
                .iter()
                .zip(&expected)
                .all(|(line, pattern)| line_matches(pattern, line));
        if !same {
            let shown: String = expected.iter().map(|l| format!("{l}\n")).collect();
            self.fail_showing(
                &format!("{name} differs from what was expected"),
                &transcript(&format!("expected {name}"), shown.as_bytes()),
            );
        }
    }

    #[track_caller]
    fn has_line(&self, name: &str, actual: Vec<String>, pattern: &str) {
        if !actual.iter().any(|line| line_matches(pattern, line)) {
            self.fail(&format!("no {name} line matches {pattern:?}"));
        }
    }

    #[track_caller]
    fn fail(&self, what: &str) -> ! {
        self.fail_showing(what, "")
    }

    /// Panics with `what`, the command line, the status, `extra`, then the output.
    #[track_caller]
    fn fail_showing(&self, what: &str, extra: &str) -> ! {
        let stdin = self
            .stdin
            .as_ref()
            .map_or_else(String::new, |s| format!("  stdin:   {s}\n"));
        panic!(
            "{what}\n  command: {}\n{stdin}  status:  {}\n{extra}{}{}",
            self.command_line,
            self.output.status,
            transcript("stdout", &self.output.stdout),
            transcript("stderr", &self.output.stderr),
        )
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if !self.code_checked && !std::thread::panicking() {
            panic!(
                "the exit code of `{}` (run at {}) was never checked: add .code(N)",
                self.command_line, self.made_at
            );
        }
    }
}

/// Whether `line` matches `pattern`: equal, except that each `[..]` in the pattern stands
/// for any text (possibly none).
fn line_matches(pattern: &str, line: &str) -> bool {
    let mut parts = pattern.split("[..]");
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    let middle: Vec<&str> = parts.collect();
    let Some((last, middle)) = middle.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[test]
fn patterns_match_whole_lines_with_wildcards() {
    assert!(line_matches("Sent: x", "Sent: x"));
    assert!(!line_matches("Sent: x", "Sent: xy"));
    assert!(!line_matches("Sent: x", "Sent: "));
    assert!(line_matches("ERROR: [..]", "ERROR: anything"));
    assert!(line_matches(
        "[..]refused[..]",
        "connection refused (os error 111)"
    ));
    assert!(line_matches("a[..]b[..]c", "a-b-c"));
    assert!(!line_matches("a[..]b[..]c", "a-c-b"));
    assert!(!line_matches("ab[..]ba", "aba"));
}
