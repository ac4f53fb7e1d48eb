//! Polling instead of sleeping: [`eventually`] looks again until what a test
//! waits for is there, and fails with what the last look saw.

use std::thread;
use std::time::{Duration, Instant};

/// How long [`eventually`] looks before it gives up.
pub const WAIT: Duration = Duration::from_secs(20);

/// How often [`eventually`] looks.
const EVERY: Duration = Duration::from_millis(100);

/// What one look of [`eventually`] found: there (with a value), or not yet
/// (with what it saw instead, for the failure message).
pub trait Look {
    /// What a successful look returns.
    type Found;
    /// The value, or what was seen instead ("" for nothing to say).
    fn found(self) -> Result<Self::Found, String>;
}

impl Look for bool {
    type Found = ();
    fn found(self) -> Result<(), String> {
        if self { Ok(()) } else { Err(String::new()) }
    }
}

impl<T> Look for Option<T> {
    type Found = T;
    fn found(self) -> Result<T, String> {
        self.ok_or_else(String::new)
    }
}

impl<T> Look for Result<T, String> {
    type Found = T;
    fn found(self) -> Result<T, String> {
        self
    }
}

/// Looks with `look` every 100 ms until it finds what the test waits for,
/// and returns that; panics after [`WAIT`], saying `what` never came and
/// what the last look saw.
#[track_caller]
pub fn eventually<L: Look>(what: &str, look: impl FnMut() -> L) -> L::Found {
    eventually_within(WAIT, EVERY, what, look)
}

/// [`eventually`] with its own deadline and pace.
#[track_caller]
pub fn eventually_within<L: Look>(
    within: Duration,
    every: Duration,
    what: &str,
    look: impl FnMut() -> L,
) -> L::Found {
    // A match, not a closure: the panic is then the caller's (#[track_caller]).
    match look_within(within, every, look) {
        Ok(found) => found,
        Err(seen) => panic!(
            "{what}: not within {within:?}{}{seen}",
            if seen.is_empty() {
                ""
            } else {
                "; last seen:\n"
            }
        ),
    }
}

/// Looks with `look` every `every` until it finds what the caller waits for, for at most
/// `within`; what the last look saw instead if it never came. For a caller that counts a
/// wait that timed out rather than failing at once.
pub fn look_within<L: Look>(
    within: Duration,
    every: Duration,
    mut look: impl FnMut() -> L,
) -> Result<L::Found, String> {
    let deadline = Instant::now() + within;
    loop {
        match look().found() {
            Ok(found) => return Ok(found),
            Err(seen) if Instant::now() >= deadline => return Err(seen),
            Err(_) => thread::sleep(every),
        }
    }
}

#[test]
#[should_panic(expected = "the queue to fill: not within 50ms; last seen:\nempty")]
fn what_never_came_is_said_with_the_last_look() {
    let every = Duration::from_millis(10);
    eventually_within(
        Duration::from_millis(50),
        every,
        "the queue to fill",
        || Err::<(), _>("empty".to_string()),
    );
}

#[test]
fn a_look_that_never_finds_it_says_what_it_saw_last() {
    let mut looks = 0;
    let every = Duration::from_millis(10);
    let seen = look_within(Duration::from_millis(50), every, || {
        looks += 1;
        Err::<(), _>(format!("look {looks}"))
    });
    assert_eq!(seen, Err(format!("look {looks}")));
    assert!(looks >= 2, "{looks} looks");
}

#[test]
fn a_later_look_that_finds_it_returns_its_value() {
    let mut looks = 0;
    let found = eventually("the third look", || {
        looks += 1;
        (looks == 3).then_some(looks)
    });
    assert_eq!(found, 3);
}
