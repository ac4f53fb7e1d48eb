//! `amqpctl perf`: a load test in one process, like PerfTest. Producers and
//! consumers each get a connection and a thread of their own; every message
//! carries a stamp (see `stamp`) so that consumers time it end to end on
//! the process's monotonic clock, and producers with `--confirm` time each
//! message's confirm. This file holds the flags and their resolution into a
//! [`PerfSpec`]; `engine` runs the workers, `report` prints a line a
//! second, `summary` the end, and `html` draws it all.

mod check;
mod consumer;
mod dist;
mod engine;
mod html;
mod metrics;
mod producer;
mod queues;
mod report;
mod shape;
mod stamp;
mod stats;
mod summary;
mod svg;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::args::values::{parse_offset, parse_seconds};
use super::broker::ConnectSpec;
use super::io::pace::RateStep;
use crate::error::Error;
use amqpctl::amqp::Value;
use stamp::STAMP_LEN;

/// The largest `--size`: RabbitMQ's default maximum message size (128 MiB).
const MAX_SIZE: usize = 128 * 1024 * 1024;

/// `--confirm-window` when only `--confirm` is given.
const DEFAULT_WINDOW: u32 = 1000;

/// The flags of `amqpctl perf`.
#[derive(Debug, Args)]
pub struct PerfArgs {
    /// Producers, each on a connection and thread of its own.
    #[arg(long, value_name = "P", default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=1000))]
    producers: u32,

    /// Consumers, each on a connection and thread of its own.
    #[arg(long, value_name = "C", default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=1000))]
    consumers: u32,

    /// Body size in bytes, its first 24 the stamp (publish time, sequence,
    /// producer, run); or a weighted list, BYTES:WEIGHT,… (100:80,10k:15,1M:5:
    /// of every 100 messages 80 of 100 bytes, 15 of 10,000, 5 of 1,000,000,
    /// spread out). k is 1,000, M 1,000,000, Ki 1,024, Mi 1,048,576.
    #[arg(long, value_name = "BYTES[:WEIGHT,…]", default_value = "24", value_parser = shape::parse_sizes)]
    size: shape::Sizes,

    /// Messages a second per producer, evenly spaced [default: as fast as
    /// possible]; or a schedule, RATE:LENGTH,… (1000:30s,5000:30s; lengths
    /// in ms, s, m or h; rate 0 pauses), started again after its last step.
    /// Under --rate latencies are also given corrected for coordinated
    /// omission.
    #[arg(long, value_name = "N|RATE:LENGTH,…", value_parser = shape::parse_rate_flag)]
    rate: Option<shape::Schedule>,

    /// Publisher confirms: time each message from its publish to the
    /// broker's ack.
    #[arg(long)]
    confirm: bool,

    /// Messages published and not yet confirmed at most, per producer;
    /// turns on --confirm (as PerfTest's --confirm W) [default: 1000].
    #[arg(long, value_name = "W", value_parser = clap::value_parser!(u32).range(1..))]
    confirm_window: Option<u32>,

    /// Delivery mode 2: persistent messages (the queue is durable either
    /// way).
    #[arg(long)]
    persistent: bool,

    /// basic.qos prefetch count per consumer; 0 asks for no limit.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    prefetch: u16,

    /// Automatic acknowledgement (no-ack consumers).
    #[arg(long)]
    ack_auto: bool,

    /// Manual acks: one multiple ack every K deliveries (1 acks each one;
    /// --multi-ack-every is PerfTest's name for it).
    #[arg(long, visible_alias = "multi-ack-every", value_name = "K", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..), conflicts_with = "ack_auto")]
    ack_every: u32,

    /// Simulated work: each consumer waits LENGTH after each delivery
    /// before it takes the next (us, ms, s, m or h; bare: seconds).
    #[arg(long, value_name = "LENGTH", value_parser = shape::parse_work)]
    consumer_latency: Option<Duration>,

    /// On a stream, where each consumer starts reading: first, last,
    /// next, an offset, or an RFC 3339 time [default: next, the consumers
    /// starting before the producers]. What another run published is
    /// counted, not timed.
    #[arg(long, value_name = "OFFSET", value_parser = parse_offset)]
    stream_offset: Option<Value>,

    /// Queue to use, declared (durable, of --queue-type) and kept [default:
    /// a queue of this run, deleted at the end].
    #[arg(short = 'q', long = "queue", value_name = "NAME")]
    queue: Option<String>,

    /// Spread the producers and consumers over N queues, worker i on
    /// queue i mod N; each queue needs a producer and a consumer when the
    /// run has them. Without --queue-pattern, the run's own queues
    /// (amqpctl-perf-PID-1 …; with --run-id amqpctl-perf-ID-1 …, which
    /// every instance shares), deleted at the end.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=i64::from(queues::MAX_QUEUES)), conflicts_with = "queue")]
    queues: u32,

    /// The --queues' names, %d their number from 1 (perf-%d: perf-1 …
    /// perf-N), declared and kept as -q's.
    #[arg(long, value_name = "PATTERN", conflicts_with = "queue")]
    queue_pattern: Option<String>,

    /// The queue's type.
    #[arg(long, value_name = "TYPE", value_enum, default_value_t = QueueType::Classic)]
    queue_type: QueueType,

    /// Stop publishing after SECS, then wait for the consumers to receive
    /// what was sent [default: run until SIGINT/SIGTERM].
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, allow_hyphen_values = true, conflicts_with = "count")]
    duration: Option<Duration>,

    /// Publish N messages in all, split evenly between the producers (with
    /// no producer: receive N, leaving the rest in the queue).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,

    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,

    /// Also write a self-contained HTML report (rates, latency percentiles
    /// over time, latency histograms) to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,

    /// The latency the run is about: end-to-end (publish to delivery, on
    /// two clocks when instances run on several hosts) or confirm (publish
    /// to the broker's ack, on the publisher's clock alone; turns on
    /// --confirm).
    #[arg(long, value_name = "KIND", value_enum, default_value_t = Latency::EndToEnd)]
    latency: Latency,

    #[command(flatten)]
    dist: dist::DistArgs,

    #[command(flatten)]
    metrics: metrics::MetricsArgs,
}

/// `--latency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Latency {
    /// Publish to delivery: the publisher's clock against the consumer's.
    EndToEnd,
    /// Publish to confirm: the publisher's clock alone.
    Confirm,
}

/// `--queue-type`: the one list of queue types.
pub use crate::cmd::args::queue::QueueType;

/// What `perf` does, resolved from its flags and checked: the engine's
/// input.
#[derive(Debug, Clone)]
pub struct PerfSpec {
    /// `--producers`.
    pub producers: u32,
    /// `--consumers`.
    pub consumers: u32,
    /// `--size`.
    pub size: shape::Sizes,
    /// `--rate`: one endless step, or a schedule.
    pub rate: Option<Vec<RateStep>>,
    /// `--confirm`: the window (`--confirm-window`).
    pub confirm: Option<usize>,
    /// `--persistent`.
    pub persistent: bool,
    /// `--prefetch`.
    pub prefetch: u16,
    /// `--ack-auto`.
    pub ack_auto: bool,
    /// `--ack-every`.
    pub ack_every: u32,
    /// `--consumer-latency`.
    pub consumer_latency: Option<Duration>,
    /// `--stream-offset` (`next` by default).
    pub stream_offset: Value,
    /// The queue's name, or the --queue-pattern.
    pub queue: String,
    /// Every queue (one, or the --queues).
    pub queues: queues::Queues,
    /// Whether the user named it (then it is kept).
    pub keep_queue: bool,
    /// `--queue-type`.
    pub queue_type: QueueType,
    /// `--duration`.
    pub duration: Option<Duration>,
    /// `--count`.
    pub count: Option<u64>,
    /// `--json`.
    pub json: bool,
    /// `--html`.
    pub html: Option<PathBuf>,
    /// `--latency`.
    pub latency: Latency,
    /// `--run-id` and the flags of a run of several instances.
    pub dist: Option<dist::DistSpec>,
    /// `--metrics-listen`: the endpoint, bound.
    pub metrics: Option<metrics::Endpoint>,
}

impl PerfSpec {
    /// How many deliveries each message makes: one per consumer on a
    /// stream (each reads it all), else one.
    pub fn deliveries_per_message(&self) -> u64 {
        let queues = self.queues.names.len() as u32;
        match self.queue_type {
            QueueType::Stream => u64::from((self.consumers / queues).max(1)),
            QueueType::Classic | QueueType::Quorum => 1,
        }
    }
}

impl PerfArgs {
    /// What a stream needs of the consumers, and what only a stream takes.
    fn check_stream(&self) -> Result<(), Error> {
        let usage = |text: &str| Err(Error::Usage(text.to_string()));
        if self.queue_type != QueueType::Stream {
            if self.stream_offset.is_some() {
                return usage("--stream-offset needs --queue-type stream");
            }
            return Ok(());
        }
        if self.ack_auto {
            return usage(
                "a stream needs manual acks (RabbitMQ refuses no-ack consumers there): drop --ack-auto",
            );
        }
        if self.prefetch == 0 {
            return usage("a stream needs a prefetch: --prefetch 1 or more");
        }
        Ok(())
    }

    /// The confirm window, if confirms are on: with `--confirm`,
    /// `--confirm-window` or `--latency confirm`.
    fn confirm_window(&self) -> Option<usize> {
        let on = self.confirm || self.confirm_window.is_some() || self.latency == Latency::Confirm;
        on.then_some(self.confirm_window.unwrap_or(DEFAULT_WINDOW) as usize)
    }

    /// Checks everything that can be checked before connecting: a usage
    /// error must change nothing on the broker.
    pub fn resolve(self) -> Result<PerfSpec, Error> {
        let usage = |text: String| Err(Error::Usage(text));
        let dist = self.dist.resolve()?;
        let collect = dist.as_ref().is_some_and(|d| d.collect);
        if self.producers == 0 && self.consumers == 0 && !collect {
            return usage(
                "perf needs a producer or a consumer: --producers and --consumers are both 0"
                    .to_string(),
            );
        }
        if self.size.smallest() < STAMP_LEN {
            return usage(format!(
                "--size {} is too small: every message carries a {STAMP_LEN}-byte stamp",
                self.size.smallest()
            ));
        }
        if self.size.largest() > MAX_SIZE {
            return usage(format!(
                "--size {} is too large: RabbitMQ takes at most {MAX_SIZE} bytes by default",
                self.size.largest()
            ));
        }
        if self.duration == Some(Duration::ZERO) {
            return usage("--duration must be more than 0".to_string());
        }
        let manual = !self.ack_auto && self.consumers > 0;
        if manual && self.prefetch != 0 && self.ack_every > u32::from(self.prefetch) {
            return usage(format!(
                "--ack-every {} is more than --prefetch {}: the broker would stop delivering before the ack",
                self.ack_every, self.prefetch
            ));
        }
        self.check_stream()?;
        let confirm = self.confirm_window();
        let workers = [self.producers, self.consumers].map(|n| if collect { 0 } else { n });
        let queues = queues::resolve(queues::QueueFlags {
            queue: self.queue,
            pattern: self.queue_pattern,
            count: self.queues,
            default: queues::run_queue(dist.as_ref().map(|d| d.run_id.as_str())),
            workers,
            queue_type: self.queue_type,
        })?;
        if let Some(file) = &self.html {
            let dir = file.parent().filter(|d| !d.as_os_str().is_empty());
            if dir.is_some_and(|d| !d.is_dir()) {
                return usage(format!("--html {}: no such directory", file.display()));
            }
        }
        // Last: it binds the address, once everything else is right.
        let metrics = self.metrics.resolve(dist.as_ref())?;
        Ok(PerfSpec {
            producers: workers[0],
            consumers: workers[1],
            size: self.size,
            rate: self.rate.map(|r| r.0),
            confirm,
            persistent: self.persistent,
            prefetch: self.prefetch,
            ack_auto: self.ack_auto,
            ack_every: self.ack_every,
            consumer_latency: self.consumer_latency,
            stream_offset: self
                .stream_offset
                .unwrap_or_else(|| Value::Str("next".to_string())),
            // A run's instances share its queues: the report deletes them.
            keep_queue: queues.keep || dist.is_some(),
            queue: queues.label.clone(),
            queues,
            queue_type: self.queue_type,
            duration: self.duration,
            count: self.count,
            json: self.json,
            html: self.html,
            latency: self.latency,
            dist,
            metrics,
        })
    }
}

/// The run's stop flags, set by the engine's monitor and read by every
/// worker between messages.
pub struct Control {
    stop_producers: AtomicBool,
    stop_consumers: AtomicBool,
    /// Deliveries the consumers may still take, in a run without
    /// producers that `--count` limits.
    budget: Option<AtomicU64>,
    /// Whether a worker failed: the run then stops.
    failed: AtomicBool,
    /// When the producers started (ns on the stamp clock; 0 before): where
    /// a consumer places a message in the `--rate` schedule.
    started: AtomicU64,
}

impl Control {
    /// The flags of a run as `spec` says.
    pub fn new(spec: &PerfSpec) -> Control {
        Control {
            stop_producers: AtomicBool::new(false),
            stop_consumers: AtomicBool::new(false),
            budget: spec
                .count
                .filter(|_| spec.producers == 0)
                .map(AtomicU64::new),
            failed: AtomicBool::new(false),
            started: AtomicU64::new(0),
        }
    }

    /// Notes that a worker failed (its error is reported at the join).
    pub fn fail(&self) {
        self.failed.store(true, Ordering::Relaxed);
    }

    /// Notes when the producers start (ns on the stamp clock).
    pub fn start_at(&self, nanos: u64) {
        self.started.store(nanos, Ordering::Relaxed);
    }

    /// When the producers started (ns on the stamp clock), once they have.
    pub fn started(&self) -> Option<u64> {
        Some(self.started.load(Ordering::Relaxed)).filter(|&n| n > 0)
    }

    /// Whether a worker failed.
    pub fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Whether a consumer may take one more delivery (counting it).
    pub fn take_delivery(&self) -> bool {
        match &self.budget {
            None => true,
            Some(left) => left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
        }
    }

    /// Whether producers should stop publishing.
    pub fn producers_stopped(&self) -> bool {
        self.stop_producers.load(Ordering::Relaxed)
    }

    /// Whether consumers should stop (acking what they hold).
    pub fn consumers_stopped(&self) -> bool {
        self.stop_consumers.load(Ordering::Relaxed)
    }

    fn stop_producers(&self) {
        self.stop_producers.store(true, Ordering::Relaxed);
    }

    fn stop_consumers(&self) {
        self.stop_consumers.store(true, Ordering::Relaxed);
    }
}

/// Runs `amqpctl perf`.
pub fn run(connect: &ConnectSpec, args: PerfArgs) -> Result<(), Error> {
    let spec = args.resolve()?;
    let server = metrics::Server::start(spec.metrics.as_ref())?;
    let ran = match &spec.dist {
        Some(d) => dist::run(connect, &spec, d),
        None => engine::run(connect, &spec),
    };
    if let Some(server) = server {
        server.end();
    }
    ran
}
