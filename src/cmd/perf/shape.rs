//! The load's shape: `--size` as a weighted list of body sizes
//! (`100:80,10k:15,1M:5`) and `--rate` as a schedule of rates
//! (`1000:30s,5000:30s`, as PerfTest's `--variable-rate`); a plain size or
//! rate is a list of one.

use std::time::Duration;

use serde::Serialize;

use crate::cmd::io::pace::{RateStep, parse_rate};

/// The most entries `--size` or `--rate` takes.
const MAX_ENTRIES: usize = 64;

/// One body size and its weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Weighted {
    /// Bytes.
    pub bytes: usize,
    /// Its share, against the sum of the weights.
    pub weight: u32,
}

/// `--size`: the body sizes and their weights, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sizes(pub Vec<Weighted>);

impl Sizes {
    /// The largest size (a producer's buffer).
    pub fn largest(&self) -> usize {
        self.0.iter().map(|w| w.bytes).max().unwrap_or(0)
    }

    /// The smallest size (checked against the stamp).
    pub fn smallest(&self) -> usize {
        self.0.iter().map(|w| w.bytes).min().unwrap_or(0)
    }

    /// The mean size by weight, rounded: the summary's `size`.
    pub fn mean(&self) -> usize {
        let total: u64 = self.0.iter().map(|w| u64::from(w.weight)).sum();
        let bytes: u128 = self
            .0
            .iter()
            .map(|w| w.bytes as u128 * u128::from(w.weight))
            .sum();
        (bytes + u128::from(total) / 2)
            .checked_div(u128::from(total))
            .map_or(0, |m| m as usize)
    }

    /// A fresh picker over these sizes.
    pub fn picker(&self) -> Picker {
        Picker {
            sizes: self.0.clone(),
            current: vec![0; self.0.len()],
            total: self.0.iter().map(|w| i64::from(w.weight)).sum(),
        }
    }
}

/// Picks each next size by smooth weighted round robin: in every run of
/// (sum of the weights) messages each size comes exactly its weight's
/// times, spread out rather than in blocks, with no randomness (a test can
/// count them).
pub struct Picker {
    sizes: Vec<Weighted>,
    current: Vec<i64>,
    total: i64,
}

impl Picker {
    /// The next message's size.
    pub fn next_size(&mut self) -> usize {
        let mut best = 0;
        for (i, w) in self.sizes.iter().enumerate() {
            self.current[i] += i64::from(w.weight);
            if self.current[i] > self.current[best] {
                best = i;
            }
        }
        self.current[best] -= self.total;
        self.sizes[best].bytes
    }
}

/// Parses a byte count: digits with an optional `k` (1,000), `M`
/// (1,000,000), `Ki` (1,024) or `Mi` (1,048,576).
fn parse_bytes(s: &str) -> Result<usize, String> {
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, ""),
    };
    let factor = match unit {
        "" => 1,
        "k" | "K" => 1_000,
        "M" => 1_000_000,
        "Ki" => 1_024,
        "Mi" => 1_048_576,
        _ => {
            return Err(format!(
                "'{s}': a size is bytes, or a number with k, M, Ki or Mi"
            ));
        }
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| format!("'{s}' is not a size in bytes"))
}

/// Parses `--size`: `BYTES` or `BYTES:WEIGHT,…` (the range against the
/// stamp and the broker's limit is checked in `resolve`).
pub fn parse_sizes(s: &str) -> Result<Sizes, String> {
    let mut sizes = Vec::new();
    for part in s.split(',') {
        let (bytes, weight) = match part.split_once(':') {
            Some((b, w)) => {
                let weight = w
                    .parse::<u32>()
                    .ok()
                    .filter(|&w| (1..=1_000_000).contains(&w));
                let weight = weight.ok_or_else(|| {
                    format!("'{part}': the weight after ':' is a whole number from 1 to 1000000")
                })?;
                (b, weight)
            }
            None if !s.contains(',') => (part, 1),
            None => {
                return Err(format!(
                    "'{part}': give each size of a list as BYTES:WEIGHT"
                ));
            }
        };
        sizes.push(Weighted {
            bytes: parse_bytes(bytes)?,
            weight,
        });
    }
    if sizes.len() > MAX_ENTRIES {
        return Err(format!("at most {MAX_ENTRIES} sizes"));
    }
    Ok(Sizes(sizes))
}

/// Parses `--consumer-latency`: a length (see [`parse_length`]).
pub fn parse_work(s: &str) -> Result<Duration, String> {
    parse_length(s)
}

/// Parses a length: a number with `us`, `ms`, `s`, `m` or `h` (`30s`,
/// `500ms`, `2m`), or a bare number of seconds; more than 0.
fn parse_length(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let factor = match unit {
        "us" => 0.000_001,
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "'{s}': a length is a number with us, ms, s, m or h"
            ));
        }
    };
    number
        .parse::<f64>()
        .ok()
        .and_then(|n| Duration::try_from_secs_f64(n * factor).ok())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("'{s}' is not a length above 0"))
}

/// `--rate`: its steps (one without a length for a plain rate); a type of
/// its own, as clap would take a `Vec` for a list of flags.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule(pub Vec<RateStep>);

/// Parses `--rate` into a [`Schedule`].
pub fn parse_rate_flag(s: &str) -> Result<Schedule, String> {
    parse_schedule(s).map(Schedule)
}

/// Parses `--rate`: `N` (messages a second for the whole run) or
/// `N:LENGTH,…`, a schedule that starts again after its last step; a step
/// of rate 0 is a pause, and one step needs a rate above 0.
pub fn parse_schedule(s: &str) -> Result<Vec<RateStep>, String> {
    if !s.contains(':') {
        return Ok(vec![RateStep {
            per_sec: parse_rate(s)?,
            length: None,
        }]);
    }
    let mut steps = Vec::new();
    for part in s.split(',') {
        let (rate, length) = part
            .split_once(':')
            .ok_or_else(|| format!("'{part}': give each step of a schedule as RATE:LENGTH"))?;
        let per_sec = match rate {
            "0" => 0.0,
            _ => parse_rate(rate)?,
        };
        steps.push(RateStep {
            per_sec,
            length: Some(parse_length(length)?),
        });
    }
    if steps.len() > MAX_ENTRIES {
        return Err(format!("at most {MAX_ENTRIES} steps"));
    }
    if steps.iter().all(|st| st.per_sec == 0.0) {
        return Err(format!("'{s}' never sends: give one step a rate above 0"));
    }
    Ok(steps)
}

/// The rate (messages a second) that `steps` ask for `elapsed` into the
/// run, the schedule repeating after its last step.
pub fn rate_at(steps: &[RateStep], elapsed: Duration) -> f64 {
    let cycle: Duration = steps.iter().filter_map(|st| st.length).sum();
    let mut at = if cycle.is_zero() || steps.iter().any(|st| st.length.is_none()) {
        elapsed
    } else {
        Duration::from_nanos((elapsed.as_nanos() % cycle.as_nanos()) as u64)
    };
    for st in steps {
        match st.length {
            Some(length) if at >= length => at -= length,
            _ => return st.per_sec,
        }
    }
    steps.last().map_or(0.0, |st| st.per_sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_plain_or_weighted_with_units() {
        assert_eq!(
            parse_sizes("1000"),
            Ok(Sizes(vec![Weighted {
                bytes: 1000,
                weight: 1
            }]))
        );
        let mix = parse_sizes("100:80,10k:15,1M:5,4Ki:1").expect("mix");
        let bytes: Vec<usize> = mix.0.iter().map(|w| w.bytes).collect();
        assert_eq!(bytes, vec![100, 10_000, 1_000_000, 4096]);
        assert_eq!((mix.smallest(), mix.largest()), (100, 1_000_000));
        for bad in [
            "",
            "1x",
            "100:0",
            "100:",
            "100,200",
            "1:2:3",
            "-5",
            "99999999999999999999",
        ] {
            assert!(parse_sizes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_picker_gives_each_size_its_weight_in_every_cycle() {
        let sizes = parse_sizes("100:80,10k:15,1M:5").expect("mix");
        assert_eq!(sizes.mean(), (100 * 80 + 10_000 * 15 + 1_000_000 * 5) / 100);
        let mut picker = sizes.picker();
        for _ in 0..3 {
            let cycle: Vec<usize> = (0..100).map(|_| picker.next_size()).collect();
            let n = |b| cycle.iter().filter(|&&s| s == b).count();
            assert_eq!((n(100), n(10_000), n(1_000_000)), (80, 15, 5));
        }
        // Spread out: the 1 MB bodies are not one block.
        let mut picker = sizes.picker();
        let at: Vec<usize> = (0..100)
            .filter(|_| picker.next_size() == 1_000_000)
            .collect();
        assert!(at.windows(2).all(|w| w[1] - w[0] >= 10), "{at:?}");
    }

    #[test]
    fn rates_parse_plain_or_as_a_schedule() {
        assert_eq!(parse_schedule("250").expect("plain")[0].length, None);
        let s = parse_schedule("1000:30s,0:500ms,5k:1m").err();
        assert!(s.is_some(), "5k is not a rate");
        let s = parse_schedule("1000:30s,0:500ms,5000:1m,2:3").expect("schedule");
        let lengths: Vec<Duration> = s.iter().filter_map(|st| st.length).collect();
        assert_eq!(
            lengths,
            [30_000, 500, 60_000, 3000]
                .map(Duration::from_millis)
                .to_vec()
        );
        assert_eq!(s[1].per_sec, 0.0);
        for bad in [
            "0:1s",
            "0",
            "100:0s",
            "100:1x",
            "100:",
            ":1s",
            "100:1s,200",
            "-1:1s",
        ] {
            assert!(parse_schedule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_rate_at_a_time_follows_the_schedule_round_and_round() {
        let s = parse_schedule("200:2s,600:1s").expect("schedule");
        let at = |ms| rate_at(&s, Duration::from_millis(ms));
        assert_eq!(
            [at(0), at(1999), at(2000), at(2999), at(3000), at(5500)],
            [200.0, 200.0, 600.0, 600.0, 200.0, 600.0]
        );
        assert_eq!(
            rate_at(
                &parse_schedule("7").expect("plain"),
                Duration::from_secs(99)
            ),
            7.0
        );
    }
}
