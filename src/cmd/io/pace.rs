//! `--rate N`: messages at N per second, evenly spaced rather than in
//! bursts; the schedule is kept from the start, so a slow moment is caught
//! up on and the average holds.

use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

/// When each next message may go.
pub struct Pacer {
    start: Option<Instant>,
    per_message: Duration,
    sent: u32,
}

impl Pacer {
    /// A pacer for `rate` messages per second (more than 0).
    pub fn new(rate: f64) -> Pacer {
        Pacer {
            start: None,
            per_message: Duration::from_secs_f64(1.0 / rate),
            sent: 0,
        }
    }

    /// When the next message is due (now, before the first): a caller can
    /// do other work until then (`perf` settles confirms) before
    /// [`Pacer::wait`].
    pub fn next_due(&self) -> Instant {
        match self.start {
            Some(start) => start + self.per_message * self.sent,
            None => Instant::now(),
        }
    }

    /// Waits until the next message is due; a signal ends the wait early
    /// and is returned.
    pub fn wait(&mut self, interrupts: &Receiver<i32>) -> Option<i32> {
        let start = *self.start.get_or_insert_with(Instant::now);
        let due = start + self.per_message * self.sent;
        self.sent = self.sent.saturating_add(1);
        let now = Instant::now();
        if due <= now {
            return interrupts.try_recv().ok();
        }
        interrupts.recv_timeout(due - now).ok()
    }
}

/// Parses `--rate`: a positive number of messages per second.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= 10_000_000.0 => Ok(r),
        _ => Err(format!(
            "'{s}' is not a rate (messages per second, more than 0)"
        )),
    }
}

/// Parses `--speed`: a factor over the recorded spacing, more than 0 (0
/// would never send the next message).
pub fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(f),
        _ => Err(format!(
            "'{s}' is not a speed: give a factor over the recorded spacing, more than 0 (2 is twice as fast, 0.5 half as fast)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_positive_numbers() {
        assert_eq!(parse_rate("2.5"), Ok(2.5));
        for bad in ["0", "-1", "NaN", "inf", "fast"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
            assert!(parse_speed(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_speed("0.5"), Ok(0.5));
    }

    #[test]
    fn a_pacer_spaces_messages_from_its_start() {
        let (_tx, rx) = crossbeam_channel::unbounded::<i32>();
        let mut pacer = Pacer::new(200.0);
        let started = Instant::now();
        for _ in 0..11 {
            assert_eq!(pacer.wait(&rx), None);
        }
        // Ten gaps of 5 ms: at least 50 ms (an upper bound would be a
        // timed test; the benchmark measures accuracy).
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn the_next_due_time_follows_the_schedule() {
        let (_tx, rx) = crossbeam_channel::unbounded::<i32>();
        let mut pacer = Pacer::new(10.0);
        let before = Instant::now();
        assert!(pacer.next_due() >= before, "before the first: now");
        assert_eq!(pacer.wait(&rx), None);
        let start = pacer.start.expect("started");
        assert_eq!(pacer.next_due(), start + Duration::from_millis(100));
    }

    #[test]
    fn a_signal_ends_the_wait() {
        let (tx, rx) = crossbeam_channel::unbounded::<i32>();
        let mut pacer = Pacer::new(0.001);
        assert_eq!(pacer.wait(&rx), None);
        tx.send(15).unwrap();
        assert_eq!(pacer.wait(&rx), Some(15));
    }
}
