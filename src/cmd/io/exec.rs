//! `--exec CMD`: run a shell command per message, the body on its stdin and
//! the message's routing and properties in `AMQP_*` environment variables;
//! its exit status decides the message's fate.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use amqpctl::amqp::Delivery;
use amqpctl::child::{self, joined, read_all};
use crossbeam_channel::Receiver;

use super::properties::PROPERTIES;
use crate::error::Error;

/// What the command's outcome means for the message.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Exit 0: acknowledge.
    Done,
    /// Anything else (a code, a signal, a timeout), described.
    Failed(String),
}

/// What a command printed, when captured.
#[derive(Debug, Default)]
pub struct Captured {
    /// Its standard output.
    pub stdout: Vec<u8>,
    /// Its standard error.
    pub stderr: Vec<u8>,
}

/// How long a command may take to exit after amqpctl passed it a stop
/// signal, before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How often the command is looked at while it runs.
const POLL: Duration = Duration::from_millis(2);

/// Runs `command` with `sh -c` for one delivery, killing it after `timeout`;
/// its stdout goes to ours. A stop request on `stop` (a signal) is passed on
/// to the command as SIGTERM, and it is killed if it has not exited
/// [`STOP_GRACE`] later. Returns the verdict and the stop request, if one
/// came meanwhile.
pub fn run_until(
    command: &str,
    d: &Delivery,
    timeout: Option<Duration>,
    stop: &Receiver<i32>,
) -> Result<(Verdict, Option<i32>), Error> {
    run_with(command, d, timeout, false, Some(stop)).map(|(verdict, _, stopped)| (verdict, stopped))
}

/// Runs `command` for one delivery like [`run_until`], without a stop
/// channel, and returns what the command printed on stdout and stderr
/// (what a command killed for its timeout printed is not kept).
pub fn run_capturing(
    command: &str,
    d: &Delivery,
    timeout: Option<Duration>,
) -> Result<(Verdict, Captured), Error> {
    run_with(command, d, timeout, true, None).map(|(verdict, out, _)| (verdict, out))
}

fn run_with(
    command: &str,
    d: &Delivery,
    timeout: Option<Duration>,
    capture: bool,
    stop: Option<&Receiver<i32>>,
) -> Result<(Verdict, Captured, Option<i32>), Error> {
    let p = d.properties();
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .env("AMQP_EXCHANGE", d.exchange())
        .env("AMQP_ROUTING_KEY", d.routing_key())
        .env("AMQP_REDELIVERED", d.redelivered().to_string())
        .env("AMQP_DELIVERY_TAG", d.delivery_tag().to_string());
    for property in &PROPERTIES {
        match property.text(&p) {
            Some(v) => cmd.env(property.variable(), v),
            None => cmd.env_remove(property.variable()),
        };
    }
    if capture {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    // A process group of its own, ended as a whole: what `sh` started
    // must not outlive a stop or a timeout (a requeued message would then
    // run twice at once).
    cmd.process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::io("starting the --exec command", e))?;
    let stdout = child.stdout.take().map(read_all);
    let stderr = child.stderr.take().map(read_all);
    if let Some(mut stdin) = child.stdin.take() {
        let body = d.body().to_vec();
        // A command that does not read its stdin must not block us.
        std::thread::spawn(move || drop(stdin.write_all(&body)));
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut stopped: Option<(i32, Instant)> = None;
    let status = child::wait_until(&mut child, deadline, POLL, |child| match stopped {
        None => {
            if let Some(signal) = stop.and_then(|s| s.try_recv().ok()) {
                // Asked to stop, as a supervisor would ask.
                signal_group(child, libc::SIGTERM);
                stopped = Some((signal, Instant::now()));
            }
        }
        Some((_, when)) if when.elapsed() >= STOP_GRACE => signal_group(child, libc::SIGKILL),
        Some(_) => {}
    })
    .map_err(|e| Error::io("waiting for the --exec command", e))?;
    let stopped = stopped.map(|(signal, _)| signal);
    let Some(status) = status else {
        signal_group(&child, libc::SIGKILL);
        let _ = child.wait();
        let verdict = Verdict::Failed("timed out (--exec-timeout)".to_string());
        return Ok((verdict, Captured::default(), stopped));
    };
    // Whatever the command left running in its group goes with it.
    signal_group(&child, libc::SIGKILL);
    let verdict = if status.success() {
        Verdict::Done
    } else {
        Verdict::Failed(match status.code() {
            Some(code) => format!("exited with {code}"),
            None => "was killed by a signal".to_string(),
        })
    };
    let output = Captured {
        stdout: joined(stdout),
        stderr: joined(stderr),
    };
    Ok((verdict, output, stopped))
}

/// Sends `signal` to the command's process group (its `sh` and all it
/// started), whose id is the `sh`'s pid.
fn signal_group(child: &std::process::Child, signal: i32) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) has no memory-safety preconditions. The group is
        // named by the child's pid, which stays reserved while the child is
        // unreaped or any process of its group lives.
        unsafe { libc::kill(-pid, signal) };
    }
}
