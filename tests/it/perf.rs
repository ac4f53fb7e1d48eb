//! `amqpctl perf`: producers and consumers in one process on the test node.
//! A run's counts add up (sent = confirmed = received), its percentiles are
//! ordered, every queue type works, the queue of a run is gone afterwards
//! (a named one stays, emptied), bad input declares nothing, a signal stops
//! a run with its summary, and a loss is exit 11.

use std::time::Duration;

use serde_json::Value;

use crate::support::{
    amqpctl, broker, delete_queue, filled_queue, fresh_queue, messages, queue_exists,
    spawn_amqpctl, spawn_amqpctl_until, unique,
};

/// The start of the line a run prints after its first second: it is going.
const FIRST_SECOND: &str = "Perf: 1 s, sent";

/// The summary `--json` printed.
fn summary(stdout: &str) -> Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn count(s: &Value, key: &str) -> u64 {
    s[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no count {key} in {s}"))
}

/// The latency percentiles under `key`, checked to be ordered and to count
/// `n` samples.
#[track_caller]
fn ordered_percentiles(s: &Value, key: &str, n: u64) -> Vec<u64> {
    let p = &s[key];
    assert_eq!(p["count"].as_u64(), Some(n), "{key} in {s}");
    let values: Vec<u64> = ["min", "p50", "p75", "p95", "p99", "p99_9", "max"]
        .iter()
        .map(|k| {
            p[k].as_u64()
                .unwrap_or_else(|| panic!("no {key}.{k} in {s}"))
        })
        .collect();
    assert!(values.windows(2).all(|w| w[0] <= w[1]), "{key}: {values:?}");
    assert!(values[0] >= 1, "{key}: {values:?}");
    values
}

/// The queue a run made for itself, from its summary; checks it is gone.
#[track_caller]
fn run_queue_is_gone(s: &Value) {
    let queue = s["queue"].as_str().expect("queue in summary");
    assert!(queue.starts_with("amqpctl-perf-"), "{queue}");
    assert!(!queue_exists(broker(), queue), "{queue} is still there");
}

/// `perf --producers 2 --consumers 2 EXTRA`.
fn two_by_two<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    [&["perf", "--producers", "2", "--consumers", "2"][..], extra].concat()
}

#[test]
fn perf_counts_add_up_and_percentiles_are_ordered() {
    let run = amqpctl(&two_by_two(&["--count", "2000", "--confirm", "--json"]))
        .code(0)
        .stderr_has("Created queue: amqpctl-perf-[..]");
    let s = summary(&run.stdout_text());
    assert_eq!(count(&s, "sent"), 2000, "{s}");
    assert_eq!(count(&s, "confirmed"), 2000, "{s}");
    assert_eq!(count(&s, "received"), 2000, "{s}");
    assert_eq!(count(&s, "nacked"), 0, "{s}");
    assert_eq!(count(&s, "foreign"), 0, "{s}");
    assert_eq!(
        (s["producers"].as_u64(), s["consumers"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(s["interrupted"], Value::Bool(false));
    ordered_percentiles(&s, "confirm_latency_us", 2000);
    ordered_percentiles(&s, "e2e_latency_us", 2000);
    for rate in ["sent_per_sec", "confirmed_per_sec", "received_per_sec"] {
        assert!(s[rate].as_f64().is_some_and(|r| r > 0.0), "{rate} in {s}");
    }
    run_queue_is_gone(&s);
}

#[test]
fn perf_prints_a_text_summary_by_default() {
    // Defaults: one producer, one consumer, 24-byte bodies, manual acks
    // every 100 (500 is not a multiple of 100: the tail is acked too).
    amqpctl(&["perf", "--count", "550"])
        .code(0)
        .stdout([
            "Perf: 1 producer, 1 consumer, classic queue amqpctl-perf-[..], 24-byte messages, [..] s",
            "Sent: 550 ([..]/s)",
            "Received: 550 ([..]/s)",
            "End-to-end latency: min [..] ms, p50 [..] ms, p75 [..] ms, p95 [..] ms, p99 [..] ms, p99.9 [..] ms, max [..] ms",
            "Self-check: client CPU [..] µs/message, [..] % of [..] cores; busiest thread [..] % of wall time; confirm wait [..] %; deliveries waiting [..]",
            "Bottleneck: [..] ([..])",
        ])
        .stderr(["Created queue: amqpctl-perf-[..]"]);
}

#[test]
fn perf_prints_a_line_a_second_while_it_runs() {
    let run = amqpctl(&[
        "perf", "--duration", "2.2", "--rate", "100", "--confirm", "--size", "1000", "--json",
    ])
    .code(0)
    .stderr_has("Perf: 1 s, sent [..]/s, confirmed [..]/s, received [..]/s, confirm p50 [..] ms p99 [..] ms, end-to-end p50 [..] ms p99 [..] ms")
    .stderr_has("Perf: 2 s, sent [..]/s, [..]");
    let s = summary(&run.stdout_text());
    let sent = count(&s, "sent");
    // --rate paces from the start: about 221 publishes by 2.2 s (the
    // monitor stops the producer a tick late on a busy machine; unpaced,
    // it would send thousands).
    assert!(sent > 0 && sent <= 400, "{s}");
    assert_eq!(count(&s, "confirmed"), sent, "{s}");
    assert_eq!(count(&s, "received"), sent, "{s}");
    assert_eq!(s["size"].as_u64(), Some(1000));
    run_queue_is_gone(&s);
}

#[test]
fn perf_with_automatic_acks() {
    let run = amqpctl(&["perf", "--count", "1000", "--ack-auto", "--json"]).code(0);
    let s = summary(&run.stdout_text());
    assert_eq!(count(&s, "received"), 1000, "{s}");
    ordered_percentiles(&s, "e2e_latency_us", 1000);
    assert!(s["confirm_latency_us"].is_null(), "{s}");
    run_queue_is_gone(&s);
}

#[test]
fn perf_acks_every_k_with_multiple_acks_and_leaves_a_named_queue_empty() {
    let queue = unique("perf-multi-ack");
    for (every, prefetch, n) in [("7", "20", "1001"), ("1", "1", "50"), ("20", "20", "20")] {
        let run = amqpctl(&[
            "perf",
            "-q",
            &queue,
            "--ack-every",
            every,
            "--prefetch",
            prefetch,
            "--count",
            n,
            "--json",
        ])
        .code(0)
        .stderr([format!("Created queue: {queue}")]);
        let s = summary(&run.stdout_text());
        assert_eq!(count(&s, "received").to_string(), n, "{s}");
        // Kept, and every message acked: none came back when the
        // consumers' connections closed.
        assert_eq!(messages(broker(), &queue), 0, "--ack-every {every}");
    }
    delete_queue(broker(), &queue);
}

#[test]
fn perf_on_a_quorum_queue_and_a_stream() {
    for kind in ["quorum", "stream"] {
        let run = amqpctl(&[
            "perf",
            "--queue-type",
            kind,
            "--producers",
            "2",
            "--consumers",
            "2",
            "--count",
            "600",
            "--confirm",
            "--persistent",
            "--json",
        ])
        .code(0);
        let s = summary(&run.stdout_text());
        assert_eq!(s["queue_type"].as_str(), Some(kind));
        assert_eq!(count(&s, "sent"), 600, "{s}");
        assert_eq!(count(&s, "confirmed"), 600, "{s}");
        // A stream delivers every message to every consumer.
        let expected = if kind == "stream" { 1200 } else { 600 };
        assert_eq!(count(&s, "received"), expected, "{s}");
        ordered_percentiles(&s, "e2e_latency_us", expected);
        run_queue_is_gone(&s);
    }
}

#[test]
fn perf_refuses_bad_input_and_declares_nothing() {
    let queue = unique("perf-bad-input");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--producers", "0", "--consumers", "0"],
            "ERROR: perf needs a producer or a consumer: --producers and --consumers are both 0",
        ),
        (
            &["--size", "23"],
            "ERROR: --size 23 is too small: every message carries a 24-byte stamp",
        ),
        (
            &["--size", "134217729"],
            "ERROR: --size 134217729 is too large: RabbitMQ takes at most 134217728 bytes by default",
        ),
        (
            &["--size", "100:1,10:1"],
            "ERROR: --size 10 is too small: every message carries a 24-byte stamp",
        ),
        (
            &["--size", "100:1,200Mi:1"],
            "ERROR: --size 209715200 is too large: RabbitMQ takes at most 134217728 bytes by default",
        ),
        (
            &["--ack-every", "200", "--prefetch", "100"],
            "ERROR: --ack-every 200 is more than --prefetch 100: the broker would stop delivering before the ack",
        ),
        (
            &["--queue-type", "stream", "--ack-auto"],
            "ERROR: a stream needs manual acks (RabbitMQ refuses no-ack consumers there): drop --ack-auto",
        ),
        (
            &["--queue-type", "stream", "--prefetch", "0"],
            "ERROR: a stream needs a prefetch: --prefetch 1 or more",
        ),
        (
            &["--duration", "0"],
            "ERROR: --duration must be more than 0",
        ),
        (
            &["--html", "/nonexistent-dir/report.html"],
            "ERROR: --html /nonexistent-dir/report.html: no such directory",
        ),
    ];
    for (flags, error) in cases {
        let mut args = vec!["perf", "-q", &queue];
        args.extend_from_slice(flags);
        amqpctl(&args).code(2).no_stdout().stderr([*error]);
        assert!(
            !queue_exists(broker(), &queue),
            "{flags:?} declared {queue}"
        );
    }
    // clap's own refusals: conflicting, dependent and out-of-range flags.
    for flags in [
        &["--duration", "1", "--count", "10"][..],
        &["--confirm-window", "0"],
        &["--ack-auto", "--ack-every", "5"],
        &["--queue-type", "lazy"],
        &["--count", "0"],
        &["--producers", "1001"],
        &["--rate", "0"],
        &["--size", "-1"],
    ] {
        let mut args = vec!["perf", "-q", &queue];
        args.extend_from_slice(flags);
        amqpctl(&args).code(2).no_stdout().stderr_has("error: [..]");
        assert!(
            !queue_exists(broker(), &queue),
            "{flags:?} declared {queue}"
        );
    }
}

#[test]
fn sigterm_stops_a_run_with_its_summary() {
    let perf = ["perf", "--rate", "200", "--confirm", "--json"];
    let (mut run, _) = spawn_amqpctl_until(&perf, FIRST_SECOND, Duration::from_secs(20));
    run.signal(libc::SIGTERM);
    run.exits_with(0, Duration::from_secs(20));
    let out = run.stdout_lines_so_far();
    assert_eq!(out.len(), 1, "{out:?}");
    let s = summary(&out[0]);
    assert_eq!(s["interrupted"], Value::Bool(true), "{s}");
    let sent = count(&s, "sent");
    assert!(sent >= 100, "{s}");
    // Stopped publishing, it still took the confirms of what it sent.
    assert_eq!(count(&s, "confirmed"), sent, "{s}");
    assert!(count(&s, "received") <= sent, "{s}");
    run_queue_is_gone(&s);
}

#[test]
fn sigint_stops_a_consumer_only_run_on_a_named_queue() {
    let queue = filled_queue("perf-consumers-only", 30, "not stamped");
    let mut run = spawn_amqpctl(&["perf", "-q", &queue, "--producers", "0", "--consumers", "3"]);
    crate::support::wait_until(broker(), &queue, "the messages taken", |q| {
        q.messages == 0 && q.consumers == 3
    });
    run.signal(libc::SIGINT);
    run.exits_with(0, Duration::from_secs(20));
    let out = run.stdout_lines_so_far();
    assert_eq!(out.len(), 7, "{out:?}");
    let head = format!("Perf: 0 producers, 3 consumers, classic queue {queue}, 24-byte messages, ");
    assert!(
        out[0].starts_with(&head) && out[0].ends_with(" s, interrupted"),
        "{out:?}"
    );
    assert_eq!(out[1], "Sent: 0 (0/s)", "{out:?}");
    assert!(out[2].starts_with("Received: 30 ("), "{out:?}");
    // pub's bodies carry no stamp: counted, not timed.
    assert_eq!(out[3], "Not from this run: 30 (not timed)", "{out:?}");
    assert_eq!(out[4], "End-to-end latency: none", "{out:?}");
    assert!(out[5].starts_with("Self-check: client CPU "), "{out:?}");
    assert!(out[6].starts_with("Bottleneck: "), "{out:?}");
    assert_eq!(messages(broker(), &queue), 0);
    delete_queue(broker(), &queue);
}

#[test]
fn a_run_that_loses_messages_exits_11() {
    // Another consumer on the queue takes a share of the messages: perf
    // receives fewer than it sent.
    let queue = fresh_queue("perf-loss");
    let mut thief = spawn_amqpctl(&["con", "-q", &queue, "--quiet", "--prefetch", "1"]);
    crate::support::wait_for_consumers(broker(), &queue, 1);
    let run = amqpctl(&["perf", "-q", &queue, "--count", "400", "--json"]).code(11);
    let s = summary(&run.stdout_text());
    let received = count(&s, "received");
    assert_eq!(count(&s, "sent"), 400, "{s}");
    assert!(received < 400, "{s}");
    run.stderr_has(format!(
        "ERROR: messages lost: 400 sent, {received} received, 400 expected"
    ))
    .stderr_has("WARNING: nothing received for 3 s: [..] of 400 messages missing");
    thief.signal(libc::SIGTERM);
    thief.exits_with(0, Duration::from_secs(20));
    delete_queue(broker(), &queue);
}

/// Chromium, if this machine has it (`.ci/run` installs Debian's package).
fn chromium() -> Option<&'static str> {
    let path = "/usr/bin/chromium";
    std::path::Path::new(path).exists().then_some(path)
}

/// Runs headless Chromium on `page` with `args`; `None` (and a printed
/// note) if it cannot run here.
pub(crate) fn headless(args: &[&str], page: &std::path::Path) -> Option<std::process::Output> {
    let Some(chromium) = chromium() else {
        eprintln!("skipped: no /usr/bin/chromium (Debian's chromium package) to render the report");
        return None;
    };
    let url = format!("file://{}", page.display());
    let output = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args(args)
        .arg(&url)
        .output();
    match output {
        Ok(o) if o.status.success() => Some(o),
        Ok(o) => {
            eprintln!(
                "skipped: chromium failed ({}): {}",
                o.status,
                String::from_utf8_lossy(&o.stderr)
            );
            None
        }
        Err(e) => {
            eprintln!("skipped: chromium cannot run: {e}");
            None
        }
    }
}

/// The pixels of a PNG as RGB triples.
pub(crate) fn rgb_pixels(png_file: &std::path::Path) -> Vec<[u8; 3]> {
    let file = std::fs::File::open(png_file).expect("screenshot");
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a frame size")];
    let frame = reader.next_frame(&mut buf).expect("a frame");
    let channels = frame.color_type.samples();
    buf[..frame.buffer_size()]
        .chunks(channels)
        .map(|px| match channels {
            1 | 2 => [px[0]; 3],
            _ => [px[0], px[1], px[2]],
        })
        .collect()
}

#[test]
fn perf_html_writes_a_page_chromium_renders_with_the_summary_in_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("report.html");
    let page_arg = page.to_str().expect("utf-8 path");
    let paced = ["--duration", "2.5", "--rate", "300", "--confirm", "--json"];
    let run = amqpctl(&two_by_two(&[&paced[..], &["--html", page_arg]].concat())).code(0);
    let s = summary(&run.stdout_text());
    let html = std::fs::read_to_string(&page).expect("the report");
    // Self-contained: nothing to fetch, no script.
    for banned in ["<script", "http://", "https://", "src=", "<link"] {
        let allowed = banned == "http://"
            && html.matches("http://").count()
                == html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count();
        assert!(allowed || !html.contains(banned), "the page holds {banned}");
    }
    assert!(
        html.matches("<svg").count() >= 5,
        "rates, 2 × percentiles, 2 histograms"
    );

    let Some(dom) = headless(&["--dump-dom"], &page) else {
        return;
    };
    let dom = String::from_utf8_lossy(&dom.stdout);
    let ms = |us: &Value| format!("{:.3}", us.as_f64().expect("µs") / 1000.0);
    let sent = count(&s, "sent");
    for text in [
        format!(
            "Sent: {sent} ({:.0}/s)",
            s["sent_per_sec"].as_f64().unwrap_or(0.0)
        ),
        format!(
            "Confirmed: {} ({:.0}/s), nacked: 0",
            count(&s, "confirmed"),
            s["confirmed_per_sec"].as_f64().unwrap_or(0.0)
        ),
        format!("Received: {} (", count(&s, "received")),
        format!("<td>{}</td>", ms(&s["e2e_latency_us"]["p99"])),
        format!("<td>{}</td>", ms(&s["confirm_latency_us"]["p99_9"])),
        format!("<td>{}</td>", ms(&s["e2e_latency_us"]["max"])),
        "producer 2 confirmed".to_string(),
        "consumer 2 received".to_string(),
    ] {
        assert!(dom.contains(&text), "the rendered page lacks {text:?}");
    }

    let shot = dir.path().join("report.png");
    let shot_arg = format!("--screenshot={}", shot.display());
    if headless(&[&shot_arg, "--window-size=1000,2600"], &page).is_none() {
        return;
    }
    let pixels = rgb_pixels(&shot);
    assert_eq!(pixels.len(), 1000 * 2600, "the window's size");
    let inked = pixels.iter().filter(|p| p.iter().any(|&c| c < 200)).count();
    // Coloured: the series, not the black and grey text and axes.
    let coloured = pixels
        .iter()
        .filter(|p| {
            let (lo, hi) = (*p.iter().min().unwrap_or(&0), *p.iter().max().unwrap_or(&0));
            hi - lo > 80
        })
        .count();
    assert!(
        inked > pixels.len() / 100,
        "{inked} inked pixels: a blank page?"
    );
    assert!(
        coloured > 5_000,
        "{coloured} coloured pixels: no chart drawn?"
    );
}

#[test]
fn perf_carries_large_bodies_and_the_smallest_one() {
    for (size, n) in [("1048576", 30u64), ("24", 300)] {
        let run = amqpctl(&[
            "perf",
            "--size",
            size,
            "--count",
            &n.to_string(),
            "--confirm",
            "--json",
        ])
        .code(0);
        let s = summary(&run.stdout_text());
        assert_eq!(
            s["size"].as_u64().map(|v| v.to_string()).as_deref(),
            Some(size)
        );
        assert_eq!(count(&s, "sent"), n, "{s}");
        assert_eq!(count(&s, "confirmed"), n, "{s}");
        assert_eq!(count(&s, "received"), n, "{s}");
        ordered_percentiles(&s, "e2e_latency_us", n);
        run_queue_is_gone(&s);
    }
}

#[test]
fn perf_connects_every_worker_with_the_connection_flags() {
    // TLS, verified against the test CA: every worker's connection.
    let ca = broker().ca_pem().to_str().expect("utf-8 path").to_string();
    let perf = two_by_two(&["--count", "400", "--confirm", "--json"]);
    let run = crate::support::amqpctl_tls(&[&["--cafile", &ca][..], &perf].concat()).code(0);
    let s = summary(&run.stdout_text());
    assert_eq!(
        (count(&s, "confirmed"), count(&s, "received")),
        (400, 400),
        "{s}"
    );
    run_queue_is_gone(&s);

    // A --url list whose first node is down.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let dead = free.local_addr().expect("its address").port();
    drop(free);
    let run = crate::support::Cmd::amqpctl(&[
        "--url",
        &format!("amqp://127.0.0.1:{dead}"),
        "--url",
        &format!("amqp://127.0.0.1:{}", broker().amqp_port()),
        "perf",
        "--count",
        "300",
        "--json",
    ])
    .run()
    .code(0);
    let s = summary(&run.stdout_text());
    assert_eq!(count(&s, "received"), 300, "{s}");
    run_queue_is_gone(&s);
}

#[test]
fn the_broker_shows_each_worker_by_name() {
    let name = unique("perf-names");
    let workers = ["--producers", "2", "--consumers", "1", "--rate", "50"];
    let named = [&["--connection-name", &name, "perf"][..], &workers].concat();
    let (mut run, _) = spawn_amqpctl_until(&named, FIRST_SECOND, Duration::from_secs(20));
    let listed = broker().ctl_ok(&["list_connections", "client_properties"]);
    for worker in ["producer 1", "producer 2", "consumer 1"] {
        assert!(
            listed.contains(&format!("{name} {worker}")),
            "no {worker}:\n{listed}"
        );
    }
    assert!(!listed.contains(&format!("{name} consumer 2")), "{listed}");
    run.signal(libc::SIGINT);
    run.exits_with(0, Duration::from_secs(20));
}

#[test]
fn a_consumer_only_run_takes_count_messages_and_leaves_the_rest() {
    let queue = filled_queue("perf-consumer-count", 30, "not stamped");
    let run = amqpctl(&[
        "perf",
        "-q",
        &queue,
        "--producers",
        "0",
        "--consumers",
        "2",
        "--count",
        "10",
        "--ack-every",
        "3",
        "--json",
    ])
    .code(0);
    let s = summary(&run.stdout_text());
    assert_eq!(count(&s, "received"), 10, "{s}");
    assert_eq!(count(&s, "foreign"), 10, "{s}");
    assert_eq!(messages(broker(), &queue), 20);
    delete_queue(broker(), &queue);
}

#[test]
fn a_worker_that_fails_stops_the_run_with_its_error() {
    // The queue deleted under the run: the broker cancels its consumer
    // (consumer_cancel_notify), and the run, which has no end of its own (no
    // --count, no --duration), stops with that error. (A connection limit
    // would refuse a worker too, but RabbitMQ counts connections
    // asynchronously: workers connecting at once can all get in.)
    let queue = fresh_queue("perf-worker-fails");
    let workers = ["--producers", "1", "--consumers", "1", "--rate", "20"];
    let perf = [&["perf", "-q", &queue][..], &workers].concat();
    let (mut run, _) = spawn_amqpctl_until(&perf, FIRST_SECOND, Duration::from_secs(20));
    amqpctl(&["delete", "queue", &queue]).code(0);
    run.exits_with(5, Duration::from_secs(20));
    let stderr = run.stderr_lines_so_far();
    assert!(
        stderr
            .iter()
            .any(|l| l == &format!("ERROR: the broker cancelled the consumer on queue '{queue}'")),
        "{stderr:?}"
    );
    assert!(!stderr.iter().any(|l| l.contains("panicked")), "{stderr:?}");
}

#[test]
fn a_queue_of_another_type_is_refused_by_the_broker() {
    let queue = fresh_queue("perf-other-type");
    amqpctl(&[
        "perf",
        "-q",
        &queue,
        "--queue-type",
        "quorum",
        "--count",
        "10",
    ])
    .code(5)
    .no_stdout()
    .stderr_has("ERROR: (406, \"PRECONDITION_FAILED - [..]\")");
    assert_eq!(messages(broker(), &queue), 0);
    delete_queue(broker(), &queue);
}
