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
    mut look: impl FnMut() -> L,
) -> L::Found {
    let deadline = Instant::now() + within;
    loop {
        match look().found() {
            Ok(found) => return found,
            Err(seen) => assert!(
                Instant::now() < deadline,
                "{what}: not within {within:?}{}{seen}",
                if seen.is_empty() {
                    ""
                } else {
                    "; last seen:\n"
                }
            ),
        }
        thread::sleep(every);
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
fn a_later_look_that_finds_it_returns_its_value() {
    let mut looks = 0;
    let found = eventually("the third look", || {
        looks += 1;
        (looks == 3).then_some(looks)
    });
    assert_eq!(found, 3);
}
