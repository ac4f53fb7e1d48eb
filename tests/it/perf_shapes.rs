//! `amqpctl perf`'s load shapes, checked against what the broker received:
//! a weighted `--size` list (the bodies a consumer then reads, counted by
//! size), a `--rate` schedule (those bodies' publish stamps, counted per
//! second), and the latencies corrected for coordinated omission that a
//! paced run reports beside the raw ones.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::support::{amqpctl, broker, delete_queue, messages, unique};

fn summary(stdout: &str) -> Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Takes every message of `queue` with `con --save-dir` and returns their
/// bodies, in arrival order. (`--count`, not `--until-empty`: with
/// megabyte bodies in flight the queue shows none ready while they are
/// still on their way, and `--until-empty` stopped after two.)
fn bodies(queue: &str, dir: &Path) -> Vec<Vec<u8>> {
    let d = dir.to_str().expect("utf-8 path");
    let n = messages(broker(), queue).to_string();
    amqpctl(&[
        "con",
        "-q",
        queue,
        "--count",
        &n,
        "--save-dir",
        d,
        "--quiet",
    ])
    .code(0)
    .no_stdout();
    let mut files: Vec<(u64, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("saved")
        .filter_map(|e| {
            let path = e.expect("entry").path();
            let n = path
                .file_name()?
                .to_str()?
                .strip_suffix(".body")?
                .parse()
                .ok()?;
            Some((n, std::fs::read(&path).expect("body")))
        })
        .collect();
    files.sort();
    files.into_iter().map(|(_, body)| body).collect()
}

#[test]
fn a_weighted_size_list_reaches_the_broker_in_its_proportions() {
    let queue = unique("perf-sizes");
    let run = amqpctl(&[
        "perf",
        "-q",
        &queue,
        "--producers",
        "2",
        "--consumers",
        "0",
        "--count",
        "200",
        "--size",
        "100:6,10k:3,1Mi:1",
        "--confirm",
        "--json",
    ])
    .code(0);
    let s = summary(&run.stdout_text());
    assert_eq!(s["sent"].as_u64(), Some(200), "{s}");
    let sizes: Vec<(u64, u64)> = s["sizes"]
        .as_array()
        .expect("sizes")
        .iter()
        .map(|w| (w["bytes"].as_u64().unwrap(), w["weight"].as_u64().unwrap()))
        .collect();
    assert_eq!(sizes, [(100, 6), (10_000, 3), (1_048_576, 1)]);
    // The mean by weight: (600 + 30,000 + 1,048,576) / 10.
    assert_eq!(s["size"].as_u64(), Some(107_918), "{s}");
    assert_eq!(messages(broker(), &queue), 200);
    let dir = tempfile::tempdir().expect("tempdir");
    let got = bodies(&queue, dir.path());
    let mut by_size = BTreeMap::new();
    for body in &got {
        *by_size.entry(body.len()).or_insert(0u32) += 1;
    }
    // Each producer's 100 are exactly 6:3:1 (a smooth round robin, no
    // chance), so the broker holds exactly 120, 60 and 20.
    assert_eq!(
        by_size,
        BTreeMap::from([(100, 120), (10_000, 60), (1_048_576, 20)])
    );
    // Spread out, not in blocks: no run of more than 4 bodies of one size.
    let longest = got
        .chunk_by(|a, b| a.len() == b.len())
        .map(<[_]>::len)
        .max();
    assert!(longest <= Some(4), "a run of {longest:?}");
    delete_queue(broker(), &queue);
}

#[test]
fn a_plain_size_and_a_text_summary_name_the_sizes() {
    amqpctl(&["perf", "--count", "30", "--size", "100:2,1k:1"])
        .code(0)
        .stdout_has("Perf: 1 producer, 1 consumer, classic queue amqpctl-perf-[..], messages of 100:2,1000:1 bytes:weight (mean 400), [..] s");
    amqpctl(&["perf", "--count", "30", "--size", "2k"])
        .code(0)
        .stdout_has("Perf: 1 producer, 1 consumer, classic queue amqpctl-perf-[..], 2000-byte messages, [..] s");
}

/// A `--rate` schedule of 200/s for 2 s, then 600/s for 2 s, on one
/// producer: the publish stamps of what the broker received, counted per
/// second from the first. The machine is shared, so the tolerance is
/// generous: each second within 50 % of its step's rate, each step's total
/// within 25 % (the pacer catches up on a slow moment within the step), and
/// the second step at least twice as fast as the first.
#[test]
fn a_rate_schedule_reaches_the_broker_at_each_steps_rate() {
    let queue = unique("perf-schedule");
    let run = amqpctl(&[
        "perf",
        "-q",
        &queue,
        "--consumers",
        "0",
        "--rate",
        "200:2s,600:2s",
        "--duration",
        "4",
        "--json",
    ])
    .code(0);
    let s = summary(&run.stdout_text());
    assert_eq!(
        s["rate"],
        serde_json::json!([{"per_sec": 200.0, "secs": 2.0}, {"per_sec": 600.0, "secs": 2.0}])
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let stamps: Vec<u64> = bodies(&queue, dir.path())
        .iter()
        .map(|b| u64::from_be_bytes(b[..8].try_into().expect("a stamp")))
        .collect();
    assert_eq!(stamps.len() as u64, s["sent"].as_u64().expect("sent"));
    let first = *stamps.iter().min().expect("messages");
    let mut per_second = [0u32; 4];
    for t in &stamps {
        // After 4 s the schedule starts again, until the monitor's stop.
        if let Some(n) = per_second.get_mut(((t - first) / 1_000_000_000) as usize) {
            *n += 1;
        }
    }
    let within = |n: u32, of: f64, share: f64| (f64::from(n) - of).abs() <= of * share;
    for (second, &n) in per_second.iter().enumerate() {
        let rate = if second < 2 { 200.0 } else { 600.0 };
        assert!(within(n, rate, 0.5), "second {second}: {per_second:?}");
    }
    let (slow, fast) = (per_second[0] + per_second[1], per_second[2] + per_second[3]);
    assert!(within(slow, 400.0, 0.25), "{per_second:?}");
    assert!(within(fast, 1200.0, 0.25), "{per_second:?}");
    assert!(fast >= 2 * slow, "{per_second:?}");
    delete_queue(broker(), &queue);
}

/// A latency object's figures, checked ordered.
fn figures(s: &Value, key: &str) -> Vec<u64> {
    let values: Vec<u64> = ["count", "min", "p50", "p75", "p95", "p99", "p99_9", "max"]
        .iter()
        .map(|k| {
            s[key][k]
                .as_u64()
                .unwrap_or_else(|| panic!("no {key}.{k} in {s}"))
        })
        .collect();
    assert!(
        values[1..].windows(2).all(|w| w[0] <= w[1]),
        "{key}: {values:?}"
    );
    values
}

#[test]
fn a_paced_run_reports_latency_raw_and_corrected_for_coordinated_omission() {
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("report.html");
    let page_arg = page.to_str().expect("utf-8 path");
    let run = amqpctl(&[
        "perf",
        "--rate",
        "500",
        "--count",
        "600",
        "--confirm",
        "--confirm-window",
        "1",
        "--json",
        "--html",
        page_arg,
    ])
    .code(0);
    let s = summary(&run.stdout_text());
    for kind in ["confirm", "e2e"] {
        let raw = figures(&s, &format!("{kind}_latency_us"));
        let corrected = figures(&s, &format!("{kind}_corrected_latency_us"));
        assert_eq!(raw[0], 600, "{s}");
        // Each latency longer than the 2 ms between messages also stands
        // for those that should have been timed meanwhile: never fewer,
        // and the same longest.
        assert!(corrected[0] >= raw[0], "{kind}: {raw:?} {corrected:?}");
        assert_eq!(corrected[7], raw[7], "{kind}: {raw:?} {corrected:?}");
    }
    let html = std::fs::read_to_string(&page).expect("report");
    assert!(html.contains("<th>confirm, corrected</th>"), "{html}");
    assert!(html.contains("<th>end-to-end, corrected</th>"), "{html}");
    // Unpaced, there is no interval to expect: no corrected figures.
    let run = amqpctl(&["perf", "--count", "100", "--confirm", "--json"]).code(0);
    let s = summary(&run.stdout_text());
    assert!(s["confirm_corrected_latency_us"].is_null(), "{s}");
    assert!(s["e2e_corrected_latency_us"].is_null(), "{s}");
    assert!(s["rate"].is_null(), "{s}");
    amqpctl(&["perf", "--rate", "1000", "--count", "50", "--confirm"])
        .code(0)
        .stdout_has(
            "Confirm latency corrected for coordinated omission: min [..] ms, p50 [..] ms, [..]",
        )
        .stdout_has("End-to-end latency corrected for coordinated omission: min [..] ms, [..]");
}

#[test]
fn bad_size_lists_and_schedules_are_refused_before_anything_is_declared() {
    let queue = unique("perf-bad-shape");
    for (flags, says) in [
        (
            ["--size", "100:0"],
            "the weight after ':' is a whole number from 1 to 1000000",
        ),
        (
            ["--size", "100,200"],
            "give each size of a list as BYTES:WEIGHT",
        ),
        (
            ["--size", "1G"],
            "a size is bytes, or a number with k, M, Ki or Mi",
        ),
        (
            ["--rate", "0:1s,0:2s"],
            "never sends: give one step a rate above 0",
        ),
        (["--rate", "100:0s"], "is not a length above 0"),
        (
            ["--rate", "100:1s,200"],
            "give each step of a schedule as RATE:LENGTH",
        ),
        (
            ["--rate", "100:5y"],
            "a length is a number with us, ms, s, m or h",
        ),
    ] {
        let mut args = vec!["perf", "-q", &queue];
        args.extend_from_slice(&flags);
        amqpctl(&args).code(2).no_stdout().stderr_has(format!(
            "error: invalid value '{}' for '--[..]': [..]{says}[..]",
            flags[1]
        ));
    }
    assert!(
        !crate::support::queue_exists(broker(), &queue),
        "{queue} declared"
    );
}

#[test]
fn a_queue_pattern_spreads_producers_and_consumers_over_its_queues() {
    let base = unique("perf-pattern");
    let pattern = format!("{base}-%d");
    let names: Vec<String> = (1..=3).map(|i| format!("{base}-{i}")).collect();
    let spread = |workers: [&str; 2]| {
        let run = amqpctl(&[
            "perf",
            "--queue-pattern",
            &pattern,
            "--queues",
            "3",
            "--producers",
            workers[0],
            "--consumers",
            workers[1],
            "--count",
            "900",
            "--json",
        ])
        .code(0);
        summary(&run.stdout_text())
    };
    // Three producers, one a queue: each queue holds a third.
    let s = spread(["3", "0"]);
    assert_eq!(s["queues"], serde_json::json!(names), "{s}");
    assert_eq!(s["queue"].as_str(), Some(pattern.as_str()), "{s}");
    for q in &names {
        assert_eq!(messages(broker(), q), 300, "{q}");
    }
    // Three consumers, one a queue, take the 900: each queue is emptied.
    let s = spread(["0", "3"]);
    assert_eq!(s["received"].as_u64(), Some(900), "{s}");
    for q in &names {
        assert_eq!(messages(broker(), q), 0, "{q}");
        delete_queue(broker(), q);
    }
    // The run's own queues, deleted at the end; on streams each message
    // reaches the consumers of its queue (two here).
    for kind in ["classic", "stream"] {
        let run = amqpctl(&[
            "perf",
            "--queues",
            "2",
            "--producers",
            "2",
            "--consumers",
            "4",
            "--count",
            "400",
            "--queue-type",
            kind,
            "--confirm",
            "--json",
        ])
        .code(0);
        let s = summary(&run.stdout_text());
        let expected = if kind == "stream" { 800 } else { 400 };
        assert_eq!(s["received"].as_u64(), Some(expected), "{s}");
        let queues = s["queues"].as_array().expect("queues");
        assert_eq!(queues.len(), 2, "{s}");
        for q in queues {
            let q = q.as_str().expect("a name");
            assert!(
                q.starts_with("amqpctl-perf-") && q.ends_with(['1', '2']),
                "{q}"
            );
            assert!(
                !crate::support::queue_exists(broker(), q),
                "{q} is still there"
            );
        }
    }
    let two = ["--producers", "2", "--consumers", "2"];
    amqpctl(&[&["perf", "--queues", "2", "--count", "20"][..], &two].concat())
        .code(0)
        .stdout_has(
            "Perf: 2 producers, 2 consumers, classic queues amqpctl-perf-[..]-%d (2), [..]",
        );
}

#[test]
fn consumers_do_simulated_work_and_ack_with_perftests_flag_name() {
    let run = amqpctl(&[
        "perf",
        "--count",
        "50",
        "--consumer-latency",
        "20ms",
        "--multi-ack-every",
        "5",
        "--prefetch",
        "10",
        "--json",
    ])
    .code(0);
    let s = summary(&run.stdout_text());
    assert_eq!(s["received"].as_u64(), Some(50), "{s}");
    // 20 ms of work after each of 50 deliveries: the last comes 49 × 20 ms
    // after the first at the soonest, so at most 50 / 0.98 a second.
    let rate = s["received_per_sec"].as_f64().expect("rate");
    assert!(rate > 0.0 && rate <= 52.0, "{s}");
}

#[test]
fn a_confirm_window_alone_turns_confirms_on_as_perftests_confirm_does() {
    let run = amqpctl(&["perf", "--confirm-window", "10", "--count", "300", "--json"]).code(0);
    let s = summary(&run.stdout_text());
    assert_eq!(s["confirm"], Value::Bool(true), "{s}");
    assert_eq!(
        (
            s["sent"].as_u64(),
            s["confirmed"].as_u64(),
            s["nacked"].as_u64()
        ),
        (Some(300), Some(300), Some(0)),
        "{s}"
    );
    assert_eq!(s["confirm_latency_us"]["count"].as_u64(), Some(300), "{s}");
    amqpctl(&["perf", "--confirm-window", "10", "--count", "50"])
        .code(0)
        .stdout_has("Confirmed: 50 ([..]/s), nacked: 0");
}

#[test]
fn a_stream_offset_says_where_perfs_consumers_start() {
    let stream = unique("perf-offset");
    let base = ["perf", "-q", &stream, "--queue-type", "stream", "--json"];
    let with = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        summary(&amqpctl(&args).code(0).stdout_text())
    };
    // 100 from an earlier run, left in the stream.
    with(&["--consumers", "0", "--count", "100", "--confirm"]);
    // From the first: the earlier 100 (counted, not timed) and this run's 50.
    let s = with(&["--count", "50", "--stream-offset", "first"]);
    assert_eq!(
        (s["received"].as_u64(), s["foreign"].as_u64()),
        (Some(150), Some(100)),
        "{s}"
    );
    // By default from the next: this run's 50 only.
    let s = with(&["--count", "50"]);
    assert_eq!(
        (s["received"].as_u64(), s["foreign"].as_u64()),
        (Some(50), Some(0)),
        "{s}"
    );
    delete_queue(broker(), &stream);
}

#[test]
fn queue_flags_that_cannot_work_are_refused() {
    for (flags, error) in [
        (
            &["--queues", "3", "--producers", "2", "--consumers", "3"][..],
            "ERROR: --producers 2 is fewer than --queues 3: each queue needs one of each",
        ),
        (
            &[
                "--queues",
                "2",
                "--consumers",
                "3",
                "--producers",
                "2",
                "--queue-type",
                "stream",
            ],
            "ERROR: --consumers 3 is not a multiple of --queues 2: on streams each queue needs as many consumers",
        ),
        (
            &["--queue-pattern", "perf-x"],
            "ERROR: --queue-pattern \"perf-x\" needs one %d (the queue's number)",
        ),
        (
            &["--stream-offset", "first"],
            "ERROR: --stream-offset needs --queue-type stream",
        ),
    ] {
        let mut args = vec!["perf"];
        args.extend_from_slice(flags);
        amqpctl(&args).code(2).no_stdout().stderr([error]);
    }
    amqpctl(&["perf", "-q", "x", "--queues", "2"])
        .code(2)
        .stderr_has("error: the argument '--queue <NAME>' cannot be used with '--queues <N>'[..]");
}
