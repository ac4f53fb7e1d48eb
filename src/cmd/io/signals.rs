//! SIGINT and SIGTERM as a channel, so that waiting loops can select on them
//! and stop cleanly.
//!
//! `timeout`, process-group kills and a terminal's Ctrl-C often deliver the
//! same request twice within microseconds (to the child and to its group),
//! so a repeat within [`REPEAT_WINDOW`] of the first signal is the same
//! request. Only a signal after that forces an exit: it says so on stderr,
//! flushes what was written to stdout, and exits 128+N.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::output;
use crate::error::Error;

/// Signals this soon after the first one repeat it instead of forcing.
const REPEAT_WINDOW: Duration = Duration::from_secs(1);

/// The signals thread's stack. It only decides, sends on a channel, shuts a
/// socket down or writes one line, so the default 2 MiB is far more than
/// it needs; and with the default, a one-shot `pub` took 0.3 ms longer
/// (interleaved runs on one node: median 4.80 against 4.46 ms, 430 against
/// 401 page faults), though amiquip's I/O thread with a smaller stack gained
/// nothing.
const SIGNALS_STACK: usize = 256 * 1024;

/// Sent on the interrupt channel, instead of a signal number, when the
/// reader of stdout went away (signal 0 is never delivered).
pub const STDOUT_CLOSED: i32 = 0;

/// The one interrupt channel of the process.
struct Interrupts {
    tx: Sender<i32>,
    rx: Receiver<i32>,
}

static INTERRUPTS: OnceLock<Result<Interrupts, String>> = OnceLock::new();

/// Starts listening (once per process) and returns the interrupt channel:
/// each stop request (a signal, or [`STDOUT_CLOSED`]) arrives on it once.
pub fn interrupts() -> Result<Receiver<i32>, Error> {
    let installed = INTERRUPTS.get_or_init(|| install().map_err(|e| e.to_string()));
    match installed {
        Ok(i) => Ok(i.rx.clone()),
        Err(e) => Err(Error::io(
            "installing signal handlers",
            std::io::Error::other(e.clone()),
        )),
    }
}

/// The interrupt channel, if a command asked for it: connecting and other
/// long waits then end at a signal.
pub fn installed() -> Option<Receiver<i32>> {
    match INTERRUPTS.get() {
        Some(Ok(i)) => Some(i.rx.clone()),
        _ => None,
    }
}

/// Asks the waiting loops to stop, as a signal would.
pub fn request_stop(why: i32) {
    if let Some(Ok(i)) = INTERRUPTS.get() {
        let _ = i.tx.try_send(why);
        run_stop_hooks();
    }
}

/// What a stop request must also wake, besides the interrupt channel: a
/// connect in progress, which waits on its socket, not on the channel.
type StopHook = Box<dyn Fn() + Send>;

static STOP_HOOKS: Mutex<Vec<(u64, StopHook)>> = Mutex::new(Vec::new());

/// Runs `work` with `hook` called on every stop request that comes while it
/// runs, right after the request is on the interrupt channel. So `work` can
/// wait on something other than the channel (a connect's socket, which
/// `hook` shuts down) and still end at once, without a thread to watch the
/// channel for it.
pub fn on_stop<R>(hook: impl Fn() + Send + 'static, work: impl FnOnce() -> R) -> R {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    hooks().push((id, Box::new(hook)));
    // Removed on the way out, even by a panic.
    struct Remove(u64);
    impl Drop for Remove {
        fn drop(&mut self) {
            hooks().retain(|(id, _)| *id != self.0);
        }
    }
    let _remove = Remove(id);
    work()
}

fn hooks() -> std::sync::MutexGuard<'static, Vec<(u64, StopHook)>> {
    STOP_HOOKS.lock().unwrap_or_else(PoisonError::into_inner)
}

fn run_stop_hooks() {
    for (_, hook) in hooks().iter() {
        hook();
    }
}

fn install() -> std::io::Result<Interrupts> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    let (tx, rx) = crossbeam_channel::bounded(4);
    let sender = tx.clone();
    std::thread::Builder::new()
        .name("signals".to_string())
        .stack_size(SIGNALS_STACK)
        .spawn(move || {
            let mut first: Option<Instant> = None;
            for signal in signals.forever() {
                match Decision::of(first, Instant::now()) {
                    Decision::Stop => {
                        first = Some(Instant::now());
                        let _ = sender.try_send(signal);
                        run_stop_hooks();
                    }
                    Decision::Repeat => {}
                    Decision::Force => force_exit(signal),
                }
            }
        })?;
    Ok(Interrupts { tx, rx })
}

/// What a signal means, given when the first one came.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    /// The first: stop cleanly.
    Stop,
    /// The same request again (within [`REPEAT_WINDOW`]): nothing to do.
    Repeat,
    /// A later one: the user insists.
    Force,
}

impl Decision {
    fn of(first: Option<Instant>, now: Instant) -> Decision {
        match first {
            None => Decision::Stop,
            Some(t) if now.duration_since(t) < REPEAT_WINDOW => Decision::Repeat,
            Some(_) => Decision::Force,
        }
    }
}

fn force_exit(signal: i32) -> ! {
    eprintln!("WARNING: signal {signal} again: exiting at once (unacked messages are redelivered)");
    output::flush_for_exit();
    crate::error::Exit::Signal(signal).now();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_within_a_second_is_the_same_request_and_a_later_one_forces() {
        let t0 = Instant::now();
        assert_eq!(Decision::of(None, t0), Decision::Stop);
        assert_eq!(
            Decision::of(Some(t0), t0 + Duration::from_micros(5)),
            Decision::Repeat
        );
        assert_eq!(
            Decision::of(Some(t0), t0 + Duration::from_millis(999)),
            Decision::Repeat
        );
        assert_eq!(
            Decision::of(Some(t0), t0 + Duration::from_secs(2)),
            Decision::Force
        );
    }
}
