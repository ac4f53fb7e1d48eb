//! What the property tests of the command line's parsers share. The
//! properties live beside their parsers (`args/url/proptests.rs`,
//! `args/values/proptests.rs`, `args/rfc3339/proptests.rs`,
//! `io/format/proptests.rs`, `io/envelope/proptests.rs`).
//!
//! Every property runs `cases()` cases: `PROPTEST_CASES`, 256 by default so
//! that `cargo test` stays fast; `scripts/fuzz` runs them with many more.
//! Each property prints how many cases it really ran
//! (`proptest-cases TARGET PROPERTY ran=N skipped=M ok|FAILED`, seen with
//! `--nocapture`); once `FUZZ_DEADLINE` (seconds since the epoch) has passed,
//! it stops and counts the cases left as skipped, so that a fuzz run stays
//! within its time budget. Failures are saved by proptest under
//! `proptest-regressions/cmd/proptest_kit.txt` and replayed first on every
//! later run, by every property. The plain `#[test]`s named `regression_*`
//! pin the bugs the fuzzing found (all fixed since).

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestRunner};

// ---------------------------------------------------------------------------
// Configuration and case counting.

/// Cases per property: `PROPTEST_CASES`, or 256.
pub fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// `FUZZ_DEADLINE`, seconds since the epoch, if set.
static DEADLINE: LazyLock<Option<u64>> = LazyLock::new(|| {
    std::env::var("FUZZ_DEADLINE")
        .ok()
        .and_then(|v| v.parse().ok())
});

pub fn past_deadline() -> bool {
    DEADLINE.is_some_and(|deadline| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .is_ok_and(|now| now.as_secs() >= deadline)
    })
}

/// Cases per proptest run; the deadline is checked between runs.
const CHUNK: u32 = 1000;

/// Checks `test` on `cases()` values of `strategy` (what `proptest!` does),
/// in runs of at most `CHUNK` cases so that it can stop at the fuzz deadline,
/// and prints how many cases ran. Failures are saved under
/// `proptest-regressions/` and replayed first by every run.
///
/// Not the `proptest!` macro itself: it reads `PROPTEST_CASES` again on each
/// run, which would defeat the chunking.
pub fn check<S: Strategy>(
    target: &str,
    property: &str,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let planned = cases();
    let ran = AtomicU64::new(0);
    let mut done = 0;
    let mut failure = None;
    while done < planned && !past_deadline() {
        let n = (planned - done).min(CHUNK);
        let mut config = Config::with_cases(n);
        config.source_file = Some(file!());
        let mut runner = TestRunner::new(config);
        let outcome = runner.run(&strategy, |value| {
            ran.fetch_add(1, Ordering::Relaxed);
            test(value)
        });
        if let Err(e) = outcome {
            failure = Some(format!("{e}\n{runner}"));
            break;
        }
        done += n;
    }
    println!(
        "proptest-cases {target} {property} ran={} skipped={} {}",
        ran.load(Ordering::Relaxed),
        planned - done,
        if failure.is_some() { "FAILED" } else { "ok" }
    );
    if let Some(failure) = failure {
        panic!("{target} {property}: {failure}");
    }
}

// ---------------------------------------------------------------------------
// Shared generators.

/// Short strings, biased towards the characters parsers care about.
pub fn text() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        3 => any::<char>(),
        1 => select(vec![
            '%', ':', '@', '/', '?', '#', '[', ']', '=', '&', '+', '-', '.', ' ', '\\', '"',
            '{', '}', '\0', '\n', '\t', 'é', '€', '𝄞', 'Z', '0', 'x',
        ]),
    ];
    vec(c, 0..12).prop_map(|cs| cs.into_iter().collect())
}

/// Any string made of pieces from `pieces` and arbitrary text.
pub fn pieces(pieces: Vec<&'static str>) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => select(pieces).prop_map(String::from),
        1 => text(),
        1 => any::<char>().prop_map(String::from),
    ];
    prop_oneof![
        1 => any::<String>(),
        3 => vec(piece, 0..12).prop_map(|p| p.concat()),
    ]
}

/// Percent-encodes every byte but the RFC 3986 unreserved characters (and
/// those too when `all`: "%61" is as good as "a").
pub fn percent_encode(s: &str, upper: bool, all: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if !all && (b.is_ascii_alphanumeric() || b"-._~".contains(&b)) {
            out.push(b as char);
        } else if upper {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}
