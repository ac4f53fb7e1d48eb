//! Which queues a run uses: one (`-q NAME`, or the run's own), or N named
//! by a pattern (`--queue-pattern 'perf-%d' --queues N`, as PerfTest's
//! `--queue-pattern`), producers and consumers spread over them in turn.
//! The instances of a `--run-id` run resolve the same names (the run ID's
//! own queues, or the pattern's) and spread their workers the same way.

use super::QueueType;
use crate::cmd::args::values::check_name;
use crate::error::Error;

/// The most queues a run spreads over.
pub const MAX_QUEUES: u32 = 1000;

/// The queues of a run, resolved.
#[derive(Debug, Clone)]
pub struct Queues {
    /// How the summary names them: the queue, or the pattern.
    pub label: String,
    /// Every queue, in order (`%d` from 1).
    pub names: Vec<String>,
    /// Whether the user named them (then they are kept).
    pub keep: bool,
}

impl Queues {
    /// Worker `i`'s queue (from 0): the queues in turn.
    pub fn of_worker(&self, i: u32) -> &str {
        &self.names[i as usize % self.names.len()]
    }
}

/// What [`resolve`] needs of the flags.
pub struct QueueFlags {
    /// `-q`.
    pub queue: Option<String>,
    /// `--queue-pattern`.
    pub pattern: Option<String>,
    /// `--queues`.
    pub count: u32,
    /// The queue of a run without `-q` (the process's, or the run ID's).
    pub default: String,
    /// `--producers`, `--consumers` (both 0 for a `--collect` instance,
    /// which runs no workers).
    pub workers: [u32; 2],
    /// `--queue-type`.
    pub queue_type: QueueType,
}

/// Checks the queue flags: names AMQP can carry, and with several queues
/// a producer and a consumer on each (else a queue's messages would never
/// be taken, and the run would count them lost).
pub fn resolve(f: QueueFlags) -> Result<Queues, Error> {
    let usage = |text: String| Err(Error::Usage(text));
    if let Some(name) = &f.queue {
        check_name("queue name", name)?;
        if name.is_empty() {
            return usage("--queue needs a name".to_string());
        }
    }
    let n = f.count;
    let [producers, consumers] = f.workers;
    for (count, what) in [(producers, "--producers"), (consumers, "--consumers")] {
        if n > 1 && count > 0 && count < n {
            return usage(format!(
                "{what} {count} is fewer than --queues {n}: each queue needs one of each"
            ));
        }
    }
    if n > 1 && f.queue_type == QueueType::Stream && consumers % n != 0 {
        return usage(format!(
            "--consumers {consumers} is not a multiple of --queues {n}: on streams each queue needs as many consumers"
        ));
    }
    let keep = f.queue.is_some() || f.pattern.is_some();
    let (label, names) = match (f.queue, f.pattern) {
        (Some(q), _) => (q.clone(), vec![q]),
        (None, Some(p)) => {
            if p.matches("%d").count() != 1 {
                return usage(format!(
                    "--queue-pattern {p:?} needs one %d (the queue's number)"
                ));
            }
            (p.clone(), numbered(&p, n))
        }
        (None, None) if n > 1 => {
            let p = format!("{}-%d", f.default);
            (p.clone(), numbered(&p, n))
        }
        (None, None) => (f.default.clone(), vec![f.default]),
    };
    for name in &names {
        check_name("queue name", name)?;
    }
    Ok(Queues { label, names, keep })
}

/// The queue of a run without `-q`: the process's, or that of the
/// `--run-id` its instances share.
pub fn run_queue(run_id: Option<&str>) -> String {
    match run_id {
        Some(id) => format!("amqpctl-perf-{id}"),
        None => format!("amqpctl-perf-{}", std::process::id()),
    }
}

/// Whether `name` is one of run `id`'s own queues (`amqpctl-perf-ID`, or
/// `amqpctl-perf-ID-N` of `--queues`): what a report may delete.
pub fn is_run_queue(id: &str, name: &str) -> bool {
    let own = run_queue(Some(id));
    match name.strip_prefix(own.as_str()) {
        Some("") => true,
        Some(rest) => rest
            .strip_prefix('-')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
        None => false,
    }
}

/// `pattern` with `%d` from 1 to `n`.
fn numbered(pattern: &str, n: u32) -> Vec<String> {
    (1..=n)
        .map(|i| pattern.replace("%d", &i.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(pattern: Option<&str>, count: u32, workers: [u32; 2]) -> QueueFlags {
        QueueFlags {
            queue: None,
            pattern: pattern.map(str::to_string),
            count,
            default: "amqpctl-perf-7".to_string(),
            workers,
            queue_type: QueueType::Classic,
        }
    }

    #[test]
    fn a_pattern_names_n_queues_that_workers_take_in_turn() {
        let q = resolve(flags(Some("perf-%d"), 3, [3, 4])).expect("queues");
        assert_eq!(q.names, ["perf-1", "perf-2", "perf-3"]);
        assert!(q.keep);
        let of: Vec<&str> = (0..4).map(|i| q.of_worker(i)).collect();
        assert_eq!(of, ["perf-1", "perf-2", "perf-3", "perf-1"]);
        let own = resolve(flags(None, 2, [2, 2])).expect("queues");
        assert_eq!(own.names, ["amqpctl-perf-7-1", "amqpctl-perf-7-2"]);
        assert!(!own.keep);
        let one = resolve(flags(None, 1, [1, 1])).expect("queue");
        assert_eq!((one.label.as_str(), one.keep), ("amqpctl-perf-7", false));
    }

    #[test]
    fn each_queue_needs_a_producer_and_a_consumer() {
        assert!(resolve(flags(Some("p-%d"), 3, [2, 3])).is_err());
        assert!(resolve(flags(Some("p-%d"), 3, [3, 2])).is_err());
        assert!(resolve(flags(Some("p-%d"), 3, [0, 3])).is_ok());
        assert!(resolve(flags(Some("p"), 3, [3, 3])).is_err());
        assert!(resolve(flags(Some("p-%d-%d"), 3, [3, 3])).is_err());
    }

    #[test]
    fn a_collector_with_no_workers_names_the_runs_queues() {
        let mut f = flags(None, 3, [0, 0]);
        f.default = "amqpctl-perf-nightly".to_string();
        f.queue_type = QueueType::Stream;
        let q = resolve(f).expect("queues");
        assert_eq!(
            q.names,
            [
                "amqpctl-perf-nightly-1",
                "amqpctl-perf-nightly-2",
                "amqpctl-perf-nightly-3"
            ]
        );
        assert_eq!(
            (q.label.as_str(), q.keep),
            ("amqpctl-perf-nightly-%d", false)
        );
        assert!(q.names.iter().all(|n| is_run_queue("nightly", n)));
        assert!(is_run_queue("nightly", "amqpctl-perf-nightly"));
        for other in [
            "amqpctl-perf-nightly-",
            "amqpctl-perf-nightly-x",
            "orders",
            "amqpctl-perf-night",
        ] {
            assert!(!is_run_queue("nightly", other), "{other}");
        }
    }
}
