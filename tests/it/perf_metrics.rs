//! `perf --metrics-listen`: a run serves OpenMetrics text while it goes on.
//! Each scrape is parsed by the Prometheus project's own parser (the
//! `prometheus_client` Python package's OpenMetrics parser, strict about
//! `# EOF`, `_total` and types), not by a pattern; the counters only grow
//! from scrape to scrape, and the last scrape (`--metrics-linger`) holds
//! the summary's totals and percentiles. A bad address is a usage error
//! before anything reaches the broker.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{amqpctl, broker, eventually_within, queue_exists, spawn_amqpctl, unique};

/// The parser: every sample of an exposition as one JSON object a line.
const PARSE: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        print(json.dumps({"family": family.name, "type": family.type,
                          "name": s.name, "labels": s.labels, "value": s.value}))
"#;

/// A Python with `prometheus_client`: Debian's (`python3-prometheus-client`,
/// which .ci/run installs), or the first on PATH.
fn python() -> &'static str {
    static PYTHON: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    PYTHON.get_or_init(|| {
        ["/usr/bin/python3", "python3"]
            .into_iter()
            .find(|p| {
                Command::new(p)
                    .args(["-c", "import prometheus_client.openmetrics.parser"])
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
            .expect("no python3 with prometheus_client: apt-get install python3-prometheus-client")
    })
}

/// One sample of a scrape.
#[derive(Debug)]
struct Sample {
    family: String,
    kind: String,
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed scrape.
struct Scrape(Vec<Sample>);

impl Scrape {
    /// The value of the sample `name` whose labels include `with`.
    #[track_caller]
    fn value(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        let found: Vec<&Sample> = self
            .0
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                with.iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(v))
            })
            .collect();
        assert_eq!(found.len(), 1, "{name} {with:?} in {:#?}", self.0);
        found[0].value
    }

    /// The type of family `family`.
    fn kind(&self, family: &str) -> &str {
        self.0
            .iter()
            .find(|s| s.family == family)
            .map_or("", |s| s.kind.as_str())
    }
}

/// The strict parser's reading of `body`; panics (with the body) if it refuses it.
fn parse(body: &str) -> Scrape {
    let mut child = Command::new(python())
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the parser");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("feed the parser");
    let out = child.wait_with_output().expect("the parser");
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused the text: {}\n{body}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("the parser's JSON");
            Sample {
                family: v["family"].as_str().unwrap_or("").to_string(),
                kind: v["type"].as_str().unwrap_or("").to_string(),
                name: v["name"].as_str().unwrap_or("").to_string(),
                labels: serde_json::from_value(v["labels"].clone()).expect("labels"),
                value: v["value"].as_f64().expect("a value"),
            }
        })
        .collect();
    Scrape(samples)
}

/// `GET path` on `addr`, one request on its own connection: the status
/// line, the Content-Type and the body.
fn get(addr: &str, path: &str) -> (String, String, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the metrics endpoint");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read the answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    let status = head.lines().next().unwrap_or("").to_string();
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type: "))
        .unwrap_or("")
        .to_string();
    (status, content_type, body.to_string())
}

/// The counters a scrape must never see go down.
const COUNTERS: [&str; 7] = [
    "amqpctl_perf_sent_messages_total",
    "amqpctl_perf_confirmed_messages_total",
    "amqpctl_perf_nacked_messages_total",
    "amqpctl_perf_received_messages_total",
    "amqpctl_perf_sent_bytes_total",
    "amqpctl_perf_received_bytes_total",
    "amqpctl_perf_latency_seconds_count",
];

/// Runs `perf ARGS --metrics-listen 127.0.0.1:0 --metrics-linger 60 --json`,
/// scraping it every 100 ms until the run ended; checks every scrape
/// and the counters' growth; returns the scrapes taken during the run, the
/// final one, and the summary.
fn scraped_run(args: &[&str]) -> (Vec<Scrape>, Scrape, Value) {
    let mut all = args.to_vec();
    all.extend([
        "--metrics-listen",
        "127.0.0.1:0",
        "--metrics-linger",
        "60",
        "--json",
    ]);
    let mut perf = spawn_amqpctl(&all);
    let line = perf.await_stderr("Metrics: http://", Duration::from_secs(30));
    let addr = line
        .trim()
        .strip_prefix("Metrics: http://")
        .and_then(|a| a.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    assert!(get(&addr, "/").0.starts_with("HTTP/1.1 404"));
    let mut during = Vec::new();
    let (within, every) = (Duration::from_secs(120), Duration::from_millis(100));
    let last = eventually_within(within, every, "the run to end", || {
        let (status, content_type, body) = get(&addr, "/metrics");
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(
            content_type,
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
        assert!(body.ends_with("# EOF\n"), "{body}");
        let scrape = parse(&body);
        if let Some(before) = during.last() {
            for name in COUNTERS {
                let kind = [("kind", "end_to_end")];
                let with: &[(&str, &str)] = if name.contains("latency") { &kind } else { &[] };
                let (then, now): (f64, f64) =
                    (Scrape::value(before, name, with), scrape.value(name, with));
                assert!(now >= then, "{name} went from {then} to {now}");
            }
        }
        if scrape.value("amqpctl_perf_ended", &[]) == 1.0 {
            return Some(scrape);
        }
        during.push(scrape);
        None
    });
    // The final figures were scraped: the linger is over, not 60 s later.
    perf.exits_with(0, Duration::from_secs(30));
    let stdout = perf.stdout_lines_so_far().join("\n");
    let summary: Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    (during, last, summary)
}

#[test]
fn perf_serves_openmetrics_while_it_runs_and_the_last_scrape_matches_the_summary() {
    let (during, last, s) = scraped_run(&[
        "perf",
        "--producers",
        "2",
        "--consumers",
        "2",
        "--rate",
        "500",
        // Long enough for scrapes to see it going: each is parsed by a
        // Python process, which takes up to a second on a loaded machine.
        "--duration",
        "10",
        "--confirm",
    ]);
    let sent = |scrape: &Scrape| scrape.value("amqpctl_perf_sent_messages_total", &[]);
    let running: Vec<&Scrape> = during.iter().filter(|d| sent(d) > 0.0).collect();
    assert!(
        running.len() >= 2,
        "{} scrapes saw the run going",
        running.len()
    );
    assert_eq!(last.kind("amqpctl_perf_sent_messages"), "counter");
    assert_eq!(last.kind("amqpctl_perf_sent_messages_per_second"), "gauge");
    assert_eq!(last.kind("amqpctl_perf_latency_seconds"), "summary");
    for (name, key) in [
        ("amqpctl_perf_sent_messages_total", "sent"),
        ("amqpctl_perf_confirmed_messages_total", "confirmed"),
        ("amqpctl_perf_nacked_messages_total", "nacked"),
        ("amqpctl_perf_received_messages_total", "received"),
    ] {
        assert_eq!(
            last.value(name, &[]),
            s[key].as_f64().unwrap(),
            "{name} vs {key}: {s}"
        );
    }
    let size = s["size"].as_f64().unwrap();
    assert_eq!(
        last.value("amqpctl_perf_sent_bytes_total", &[]),
        size * s["sent"].as_f64().unwrap()
    );
    for (kind, key) in [
        ("confirm", "confirm_latency_us"),
        ("end_to_end", "e2e_latency_us"),
    ] {
        let k = [("kind", kind)];
        let count = last.value("amqpctl_perf_latency_seconds_count", &k);
        assert_eq!(count, s[key]["count"].as_f64().unwrap(), "{kind}: {s}");
        for (q, p) in [("0.5", "p50"), ("0.99", "p99"), ("0.999", "p99_9")] {
            let seconds = last.value(
                "amqpctl_perf_latency_seconds",
                &[("kind", kind), ("quantile", q)],
            );
            let us = s[key][p].as_f64().unwrap();
            assert_eq!((seconds * 1e6).round(), us, "{kind} quantile {q} vs {p}");
        }
    }
    // During the run the rates were live; at the end they are 0.
    assert!(
        running
            .iter()
            .any(|d| d.value("amqpctl_perf_sent_messages_per_second", &[]) > 0.0)
    );
    assert_eq!(
        last.value("amqpctl_perf_sent_messages_per_second", &[]),
        0.0
    );
}

#[test]
fn a_run_id_instance_labels_its_metrics_with_the_run() {
    let id = format!("metrics-{}", std::process::id());
    let (_, last, s) = scraped_run(&[
        "perf",
        "--run-id",
        &id,
        "--instances",
        "1",
        "--report",
        "--count",
        "500",
        "--confirm",
    ]);
    let sample = last
        .0
        .iter()
        .find(|x| x.name == "amqpctl_perf_sent_messages_total")
        .expect("the sent counter");
    assert_eq!(sample.labels.get("run_id"), Some(&id), "{sample:?}");
    let instance = sample.labels.get("run_instance").expect("run_instance");
    assert_eq!(
        Some(instance.as_str()),
        s["run"]["instances"][0]["name"].as_str(),
        "{s}"
    );
    assert_eq!(sample.value, s["sent"].as_f64().unwrap());
    assert_eq!(sample.value, 500.0);
}

#[test]
fn a_bad_metrics_address_is_a_usage_error_before_the_broker_is_touched() {
    let q = unique("metrics-bad-addr");
    amqpctl(&["perf", "-q", &q, "--count", "10", "--metrics-listen", "9464"])
        .code(2)
        .stderr([
            "error: invalid value '9464' for '--metrics-listen <ADDR>': '9464' is not an address to listen on: give HOST:PORT, e.g. 127.0.0.1:9464 (port 0 picks a free one)",
            "",
            "For more information, try '--help'.",
        ]);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    amqpctl(&["perf", "-q", &q, "--count", "10", "--metrics-listen", &addr])
        .code(2)
        .stderr([format!(
            "ERROR: --metrics-listen {addr}: cannot listen there: Address already in use (os error 98)"
        )]);
    assert!(!queue_exists(broker(), &q), "{q} was declared");
}
