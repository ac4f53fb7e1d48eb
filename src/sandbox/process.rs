//! The few process and port chores node management needs: a program run to
//! completion under a deadline (by [`crate::child`]), free ports, and
//! whether a pid still lives.

use std::net::TcpListener;
use std::process::{Command, Output};
use std::thread;
use std::time::{Duration, Instant};

use super::error::{Result, SandboxError, io_error};
use crate::child::{self, Input};

/// Runs `cmd` with stdin from /dev/null, capturing its output; kills it once
/// `timeout` has passed (its status is then reported as `None`). Also
/// returns what it printed, stdout then stderr, as text.
pub(crate) fn output_within(cmd: Command, timeout: Duration) -> Result<(Option<Output>, String)> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let finished = child::output_within(cmd, Input::Null, timeout)
        .map_err(|source| SandboxError::Spawn { program, source })?;
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&finished.stdout),
        String::from_utf8_lossy(&finished.stderr)
    );
    let output = finished.status.map(|status| Output {
        status,
        stdout: finished.stdout,
        stderr: finished.stderr,
    });
    Ok((output, printed))
}

/// `n` distinct ports that were free on 127.0.0.1 a moment ago.
pub(crate) fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(io_error("bind a free port on", "127.0.0.1:0"))?;
    listeners
        .iter()
        .map(|l| {
            l.local_addr()
                .map(|a| a.port())
                .map_err(io_error("bind a free port on", "127.0.0.1:0"))
        })
        .collect()
}

/// Whether `pid` is a live process (not a zombie).
pub(crate) fn is_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

/// Waits until `pid` is gone, at most `timeout`; whether it is gone.
pub(crate) fn wait_for_death(pid: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while is_alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Sends `signal` to `pid`; whether it was delivered.
pub(crate) fn signal(pid: i32, signal: i32) -> bool {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid, signal) == 0 }
}
