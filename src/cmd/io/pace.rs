//! `--rate N`: messages at N per second, evenly spaced rather than in
//! bursts; the schedule is kept from the start, so a slow moment is caught
//! up on and the average holds.

use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

/// One step of a rate schedule (`perf --rate 1000:30s,5000:30s`): so
/// many messages a second (0: a pause) for so long, or for ever.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateStep {
    /// Messages a second; 0 sends none for the step's length.
    pub per_sec: f64,
    /// How long the step lasts; `None`: until the end.
    pub length: Option<Duration>,
}

impl RateStep {
    /// The spacing of its messages; `None` for a pause.
    pub fn per_message(&self) -> Option<Duration> {
        (self.per_sec > 0.0).then(|| Duration::from_secs_f64(1.0 / self.per_sec))
    }
}

/// When each next message may go.
pub struct Pacer {
    start: Option<Instant>,
    /// The schedule: one endless step for a plain rate; else repeated
    /// from its first step after its last.
    steps: Vec<RateStep>,
    step: usize,
    /// Messages sent in the current step.
    sent: u32,
}

impl Pacer {
    /// A pacer for `rate` messages per second (more than 0).
    pub fn new(rate: f64) -> Pacer {
        Pacer::schedule(vec![RateStep {
            per_sec: rate,
            length: None,
        }])
    }

    /// A pacer that follows `steps` (not empty, one with a rate above 0,
    /// every step but an endless last one with a length above 0). Each
    /// step keeps its own schedule: a slow moment is caught up on within
    /// the step, what it could not send by its end is not sent later.
    pub fn schedule(steps: Vec<RateStep>) -> Pacer {
        Pacer {
            start: None,
            steps,
            step: 0,
            sent: 0,
        }
    }

    /// The spacing of the current step's messages (`None` in a pause): the
    /// interval coordinated-omission correction expects between them.
    pub fn interval(&self) -> Option<Duration> {
        self.steps.get(self.step).and_then(RateStep::per_message)
    }

    /// When the next message is due (now, before the first): a caller can
    /// do other work until then (`perf` settles confirms) before
    /// [`Pacer::wait`].
    pub fn next_due(&mut self) -> Instant {
        match self.start {
            Some(_) => self.due(),
            None => Instant::now(),
        }
    }

    /// The next message's time, moving on to the next step (as often as
    /// needed) once the current one is over.
    fn due(&mut self) -> Instant {
        let Some(mut start) = self.start else {
            return Instant::now();
        };
        // Bounded: the schedule has a step with a rate, which takes the
        // next message at its start.
        loop {
            let step = self.steps[self.step];
            let due = step.per_message().map(|p| start + p * self.sent);
            match (step.length, due) {
                (None, Some(due)) => return due,
                (Some(length), Some(due)) if due < start + length => return due,
                (Some(length), _) if self.steps.len() > 1 || !length.is_zero() => {
                    start += length;
                    self.start = Some(start);
                    self.step = (self.step + 1) % self.steps.len();
                    self.sent = 0;
                }
                // A schedule of pauses only: never due (refused by the
                // parser; here as a guard).
                _ => return start + Duration::from_secs(86_400 * 365),
            }
        }
    }

    /// Waits until the next message is due; a signal ends the wait early
    /// and is returned.
    pub fn wait(&mut self, interrupts: &Receiver<i32>) -> Option<i32> {
        self.start.get_or_insert_with(Instant::now);
        let due = self.due();
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
    fn a_schedule_moves_from_step_to_step_and_starts_again() {
        let (_tx, rx) = crossbeam_channel::unbounded::<i32>();
        let step = |per_sec, ms| RateStep {
            per_sec,
            length: Some(Duration::from_millis(ms)),
        };
        // 1 000/s for 3 ms (3 messages), a 2 ms pause, 500/s for 4 ms (2).
        let mut pacer = Pacer::schedule(vec![step(1000.0, 3), step(0.0, 2), step(500.0, 4)]);
        assert_eq!(pacer.wait(&rx), None);
        let start = pacer.start.expect("started");
        let mut dues = vec![Duration::ZERO];
        for _ in 0..7 {
            dues.push(pacer.next_due() - start);
            // Not waiting: the dues are the schedule's, not the clock's.
            pacer.sent += 1;
        }
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&m| Duration::from_millis(m))
                .collect::<Vec<_>>()
        };
        // 0 1 2 | pause 3-5 | 5 7 | again at 9: 9 10 11 | 14.
        assert_eq!(dues, ms(&[0, 1, 2, 5, 7, 9, 10, 11]));
        assert_eq!(pacer.interval(), Some(Duration::from_millis(1)));
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
