//! The stamp every `perf` message carries in its body's first
//! [`STAMP_LEN`] bytes, so that a consumer of the same process measures the
//! message's end-to-end latency on the same monotonic clock:
//!
//! | bytes  | what (big-endian)                                              |
//! |--------|----------------------------------------------------------------|
//! | 0..8   | publish time: ns since the Unix epoch on the publisher's clock (see [`wall`]) |
//! | 8..16  | the producer's sequence number, from 1                         |
//! | 16..20 | the producer's id, from 1                                      |
//! | 20..24 | the run's id (the process id, or `--run-id`'s hash): another run's messages are not timed |
//!
//! The rest of the body is zeros.

use std::sync::OnceLock;
use std::time::Instant;

/// How many bytes the stamp takes; `--size` is at least this.
pub const STAMP_LEN: usize = 24;

/// What a stamp says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// When it was published: nanoseconds since [`epoch`].
    pub nanos: u64,
    /// The producer's sequence number, from 1.
    pub seq: u64,
    /// The producer, from 1.
    pub producer: u32,
    /// The run (process) that published it.
    pub run: u32,
}

/// The process-wide start every stamp counts from: one monotonic clock for
/// producers and consumers alike.
pub fn epoch() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// Nanoseconds since [`epoch`], now.
pub fn now_nanos() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// The run's id when instances share it (`--run-id`): set once, before the
/// workers start.
static SHARED_RUN: OnceLock<u32> = OnceLock::new();

/// This run's id: the process id, or the one [`share_run`] set.
pub fn run_id() -> u32 {
    SHARED_RUN.get().copied().unwrap_or_else(std::process::id)
}

/// Makes the messages of every instance of `--run-id ID` one run's: the
/// stamp's id becomes ID's FNV-1a hash.
pub fn share_run(id: &str) {
    let hash = id.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let _ = SHARED_RUN.set(hash);
}

/// A time on the stamp clock (`now_nanos`) as ns since the Unix epoch:
/// the wall clock read once at [`epoch`], plus the monotonic time since.
/// Within a process the offset cancels out; across hosts, latency compares
/// two clocks.
pub fn wall(nanos: u64) -> u64 {
    static AT_EPOCH: OnceLock<u64> = OnceLock::new();
    let base = *AT_EPOCH.get_or_init(|| {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_sub(epoch().elapsed());
        u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
    });
    base.saturating_add(nanos)
}

impl Stamp {
    /// Writes the stamp into the first [`STAMP_LEN`] bytes of `body` (which
    /// is at least that long: `resolve` checks `--size`).
    pub fn write(&self, body: &mut [u8]) {
        body[0..8].copy_from_slice(&self.nanos.to_be_bytes());
        body[8..16].copy_from_slice(&self.seq.to_be_bytes());
        body[16..20].copy_from_slice(&self.producer.to_be_bytes());
        body[20..24].copy_from_slice(&self.run.to_be_bytes());
    }

    /// Reads the stamp of a body; `None` when it is too short to hold one.
    pub fn read(body: &[u8]) -> Option<Stamp> {
        let field = |range: std::ops::Range<usize>| body.get(range);
        let u64_at = |start: usize| -> Option<u64> {
            Some(u64::from_be_bytes(
                field(start..start + 8)?.try_into().ok()?,
            ))
        };
        let u32_at = |start: usize| -> Option<u32> {
            Some(u32::from_be_bytes(
                field(start..start + 4)?.try_into().ok()?,
            ))
        };
        Some(Stamp {
            nanos: u64_at(0)?,
            seq: u64_at(8)?,
            producer: u32_at(16)?,
            run: u32_at(20)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_reads_back_as_written_and_leaves_the_rest_alone() {
        let stamp = Stamp {
            nanos: 0x0102_0304_0506_0708,
            seq: 42,
            producer: 3,
            run: 0xdead_beef,
        };
        let mut body = vec![0xaa; STAMP_LEN + 4];
        stamp.write(&mut body);
        assert_eq!(Stamp::read(&body), Some(stamp));
        assert_eq!(&body[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&body[STAMP_LEN..], &[0xaa; 4]);
    }

    #[test]
    fn a_body_too_short_has_no_stamp() {
        assert_eq!(Stamp::read(&[0; STAMP_LEN - 1]), None);
        assert_eq!(Stamp::read(b""), None);
        assert!(Stamp::read(&[0; STAMP_LEN]).is_some());
    }

    #[test]
    fn the_clock_is_monotonic_from_one_epoch() {
        let a = now_nanos();
        let b = now_nanos();
        assert!(b >= a);
        assert_eq!(epoch(), epoch());
        assert_eq!(wall(b) - wall(a), b - a);
    }
}
