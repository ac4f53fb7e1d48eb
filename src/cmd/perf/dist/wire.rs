//! What the instances of a `--run-id` run say to each other on the control
//! exchange: one JSON object a message, whose latency histograms travel in
//! the HdrHistogram interval-log format (the text `HistogramLogReader` and
//! `HistogramLogProcessor` read: a `Tag=…,start,length,max,base64` line
//! each, V2 compressed), so they merge exactly.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use crate::cmd::perf::stats::{histogram, merge};

/// One message on the control exchange.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Wire {
    /// "I am here" (sent until the barrier passes, and once after).
    Hello {
        /// The sender.
        instance: String,
        /// Whether it runs no workers (`--collect`).
        collect: bool,
    },
    /// An interval's rates, the totals so far and its histograms.
    Interval {
        /// The sender.
        instance: String,
        /// Seconds since its start, at the interval's end.
        at: f64,
        /// Messages a second sent, confirmed, received over the interval.
        rates: [f64; 3],
        /// Sent, confirmed, received, foreign so far.
        counts: [u64; 4],
        /// Its `confirm` and `e2e` histograms, as an interval log.
        log: String,
    },
    /// The sender's end: its counts and its whole run's histograms.
    Final {
        /// The sender.
        instance: String,
        /// What it counted.
        counts: Counts,
        /// Its `confirm` and `e2e` histograms, as an interval log.
        log: String,
        /// Under `--rate`, the same corrected for coordinated omission
        /// (an interval log with the same tags); absent from an instance
        /// of an older amqpctl.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        corrected: Option<String>,
    },
}

impl Wire {
    /// The instance that sent it.
    pub fn instance(&self) -> &str {
        match self {
            Wire::Hello { instance, .. }
            | Wire::Interval { instance, .. }
            | Wire::Final { instance, .. } => instance,
        }
    }
}

/// One instance's counts at its end.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counts {
    /// Its producers and consumers.
    pub workers: [u32; 2],
    /// Messages published.
    pub sent: u64,
    /// Publishes acked.
    pub confirmed: u64,
    /// Publishes nacked.
    pub nacked: u64,
    /// Deliveries received, of any run.
    pub received: u64,
    /// Of those, another run's.
    pub foreign: u64,
    /// Sent, confirmed, received a second, over its own time.
    pub rates: [f64; 3],
    /// Seconds from its start to its end.
    pub elapsed_secs: f64,
    /// Whether a signal stopped it.
    pub interrupted: bool,
    /// Its `--size`.
    pub size: usize,
    /// Its queue's type.
    pub queue_type: String,
    /// Its queue, or `--queue-pattern` (absent from an older amqpctl's).
    #[serde(default)]
    pub queue: String,
    /// Every queue it used.
    #[serde(default)]
    pub queues: Vec<String>,
    /// Whether those are the run's own (no `-q` nor `--queue-pattern`),
    /// for the report to delete.
    #[serde(default)]
    pub own_queues: bool,
}

/// `confirm` and `e2e` as an interval log: one line each for the interval
/// from `start` for `length` (seconds since `base`), max in ms.
pub fn encode(
    confirm: &Histogram<u64>,
    e2e: &Histogram<u64>,
    base: SystemTime,
    start: Duration,
    length: Duration,
) -> String {
    let mut buf = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let written = IntervalLogWriterBuilder::new()
        .with_base_time(base)
        .with_max_value_divisor(1000.0)
        .begin_log_with(&mut buf, &mut serializer)
        .map_err(|e| e.to_string())
        .and_then(|mut log| {
            for (tag, h) in [("confirm", confirm), ("e2e", e2e)] {
                log.write_histogram(h, start, length, Tag::new(tag))
                    .map_err(|e| format!("{e:?}"))?;
            }
            Ok(())
        });
    if let Err(e) = written {
        log::warn!("a latency histogram could not be serialised: {e}");
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// The `confirm` and `e2e` histograms of an interval log (every interval of
/// each tag added up); an error names what could not be read.
pub fn decode(log: &str) -> Result<(Histogram<u64>, Histogram<u64>), String> {
    let (mut confirm, mut e2e) = (histogram(), histogram());
    for entry in IntervalLogIterator::new(log.as_bytes()) {
        let LogEntry::Interval(interval) = entry.map_err(|e| format!("{e:?}"))? else {
            continue;
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(interval.encoded_histogram())
            .map_err(|e| e.to_string())?;
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| format!("{e:?}"))?;
        match interval.tag().map(|t| t.as_str()) {
            Some("confirm") => merge(&mut confirm, &h),
            Some("e2e") => merge(&mut e2e, &h),
            _ => {}
        }
    }
    Ok((confirm, e2e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_survive_the_interval_log_exactly() {
        let (mut confirm, mut e2e) = (histogram(), histogram());
        for v in [1, 17, 250, 1_000, 999_999] {
            confirm.record(v).expect("in range");
            e2e.record(v * 3).expect("in range");
        }
        let log = encode(
            &confirm,
            &e2e,
            SystemTime::UNIX_EPOCH,
            Duration::from_secs(2),
            Duration::from_secs(1),
        );
        assert!(log.contains("Tag=confirm,2.000,1.000,"), "{log}");
        assert!(log.contains("#[BaseTime: 0.000"), "{log}");
        let (c, e) = decode(&log).expect("a log");
        assert_eq!(c, confirm);
        assert_eq!(e, e2e);
        assert!(decode("Tag=e2e,1.0,1.0,1.0,notbase64!\n").is_err());
    }
}
