//! The self-check at a run's end: was the client or the broker the
//! bottleneck? A load test that only saturates its own threads measures the
//! client, not the broker. It compares the client's CPU (per message, and
//! against the wall time and the cores) and each worker thread's CPU
//! against the wall time, with what waited: producers blocked on a full
//! confirm window wait for the broker, deliveries piling up in the client
//! wait for the consumers.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::PerfSpec;
use super::report::Reporter;

/// A thread busy this share of the wall time or more is saturated.
const SATURATED: f64 = 0.85;

/// Producers waiting on confirms this share of their time wait on the
/// broker.
const WAITING_ON_BROKER: f64 = 0.5;

/// Deliveries waiting in the client, on average, against the prefetch,
/// that say its consumers fall behind.
const BACKLOG: f64 = 0.5;

/// The CPU time this process has used, all threads.
pub fn process_cpu() -> Duration {
    // SAFETY: getrusage fills the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The CPU time the calling thread has used.
pub fn thread_cpu() -> Duration {
    // SAFETY: clock_gettime fills the timespec it is given.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// Every thread's CPU time, sampled from `/proc/self/task` while the run
/// goes on: amiquip's I/O thread of each connection counts as much as the
/// workers, and a thread is gone by the end.
#[derive(Default)]
pub struct Threads {
    /// Per thread id: its name, its CPU (clock ticks) when first and last
    /// seen, and when first seen.
    seen: std::collections::HashMap<u64, (String, u64, u64, Option<Instant>)>,
}

impl Threads {
    /// Reads every thread's CPU now.
    pub fn sample(&mut self) {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return;
        };
        for task in tasks.flatten() {
            let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
                continue;
            };
            // After the name's closing parenthesis: state, then fields 4…;
            // utime and stime are fields 14 and 15.
            let Some((head, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
            let (Some(user), Some(system)) = (ticks(11), ticks(12)) else {
                continue;
            };
            let name = head.split_once('(').map_or("?", |(_, n)| n).to_string();
            let entry = self
                .seen
                .entry(tid)
                .or_insert((name, user + system, 0, None));
            entry.2 = user + system;
            entry.3.get_or_insert_with(Instant::now);
        }
    }

    /// The busiest thread: its name and its CPU against the wall time it
    /// was seen running.
    pub fn busiest(&self) -> (String, f64) {
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        self.seen
            .values()
            .filter_map(|(name, first, last, since)| {
                let secs = since.as_ref()?.elapsed().as_secs_f64();
                (secs >= 1.0)
                    .then(|| (name.clone(), last.saturating_sub(*first) as f64 / hz / secs))
            })
            .fold((String::new(), 0.0), |a, b| if b.1 > a.1 { b } else { a })
    }
}

/// Where a run starts: the process's CPU and the wall clock.
pub struct Start {
    cpu: Duration,
    wall: Instant,
}

impl Start {
    /// Now.
    pub fn now() -> Start {
        Start {
            cpu: process_cpu(),
            wall: Instant::now(),
        }
    }
}

/// The self-check, as the summary and `--json` show it.
#[derive(Debug, Clone, Serialize)]
pub struct SelfCheck {
    /// The client's CPU over the run (every thread: workers, amiquip's I/O
    /// threads, the monitor), in seconds.
    pub cpu_secs: f64,
    /// That CPU per message sent or received, in µs.
    pub cpu_us_per_message: f64,
    /// That CPU against the wall time times the cores.
    pub cpu_share_of_cores: f64,
    /// The cores the client may use.
    pub cores: usize,
    /// The busiest thread's CPU against the wall time.
    pub busiest_thread: f64,
    /// Its name (`perf-producer`, `perf-consumer`, or amiquip's I/O
    /// thread).
    pub busiest_thread_name: String,
    /// The share of the producers' time spent waiting for confirms with a
    /// full window.
    pub confirm_wait: f64,
    /// Deliveries that had arrived and waited for a consumer, on average.
    pub deliveries_waiting: f64,
    /// `client`, `broker`, or `none` (a `--rate` run that kept its rate).
    pub bottleneck: &'static str,
    /// Why, in a few words.
    pub because: String,
}

impl SelfCheck {
    /// The check of a run as `spec` says that started at `start`, from its
    /// workers' tallies.
    pub fn of(start: &Start, reporter: &Reporter, spec: &PerfSpec) -> SelfCheck {
        let wall = start.wall.elapsed().as_secs_f64().max(1e-9);
        let cpu = process_cpu().saturating_sub(start.cpu).as_secs_f64();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let messages = reporter.sum(true, |t| t.count) + reporter.sum(false, |t| t.count);
        let workers = reporter.max(|t| t.cpu.as_secs_f64()) / wall;
        let (mut name, mut busiest) = reporter.threads.busiest();
        if workers > busiest {
            (name, busiest) = ("a worker".to_string(), workers);
        }
        let producers = reporter.count(true).max(1) as f64;
        let confirm_wait =
            reporter.sum_f(true, |t| t.confirm_wait.as_secs_f64()) / wall / producers;
        let samples = reporter.sum(false, |t| t.waiting_samples);
        let waiting = reporter.sum(false, |t| t.waiting_sum) as f64 / samples.max(1) as f64;
        let share = cpu / wall / cores as f64;
        let (bottleneck, because) = if busiest >= SATURATED {
            (
                "client",
                format!(
                    "thread {name} was busy {:.0} % of the time",
                    busiest * 100.0
                ),
            )
        } else if share >= SATURATED {
            (
                "client",
                format!("the client used {:.0} % of {cores} cores", share * 100.0),
            )
        } else if waiting
            >= BACKLOG
                * f64::from(if spec.prefetch == 0 {
                    1000
                } else {
                    spec.prefetch
                })
        {
            (
                "client",
                format!("{waiting:.0} deliveries waited for the consumers on average"),
            )
        } else if confirm_wait >= WAITING_ON_BROKER {
            (
                "broker",
                format!(
                    "producers waited for confirms {:.0} % of the time",
                    confirm_wait * 100.0
                ),
            )
        } else if spec.rate.is_some() {
            ("none", "the run kept to --rate".to_string())
        } else {
            (
                "broker",
                format!(
                    "no client thread was saturated, the busiest at {:.0} %",
                    busiest * 100.0
                ),
            )
        };
        SelfCheck {
            cpu_secs: cpu,
            cpu_us_per_message: if messages == 0 {
                0.0
            } else {
                cpu * 1e6 / messages as f64
            },
            cpu_share_of_cores: share,
            cores,
            busiest_thread: busiest,
            busiest_thread_name: name,
            confirm_wait,
            deliveries_waiting: waiting,
            bottleneck,
            because,
        }
    }

    /// The summary's lines.
    pub fn lines(&self) -> Vec<String> {
        vec![
            format!(
                "Self-check: client CPU {:.1} µs/message, {:.0} % of {} cores; busiest thread {} {:.0} % of wall time; confirm wait {:.0} %; deliveries waiting {:.1}",
                self.cpu_us_per_message,
                self.cpu_share_of_cores * 100.0,
                self.cores,
                self.busiest_thread_name,
                self.busiest_thread * 100.0,
                self.confirm_wait * 100.0,
                self.deliveries_waiting
            ),
            format!("Bottleneck: {} ({})", self.bottleneck, self.because),
        ]
    }
}
