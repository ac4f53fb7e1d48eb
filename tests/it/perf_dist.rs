//! `amqpctl perf --run-id ID --instances N`: several perf processes on the
//! test node form one run. They wait for each other (nothing is declared
//! before the last one comes), the report's totals are the sum of the
//! instances' own, its percentiles are those of every latency the
//! instances recorded (the test aid AMQPCTL_PERF_RAW_LATENCIES writes them
//! out), an instance killed mid-run fails the run by name unless
//! --allow-partial, a lonely instance gives up at the barrier, the
//! instances spread over the run's own --queues (which the report deletes),
//! and the merged HTML report renders in headless Chromium.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::perf::{headless, rgb_pixels};
use crate::support::{Cmd, Spawned, amqpctl, broker, queue_exists, unique};

/// The test aid: each instance writes its raw latencies into this directory.
const RAW_ENV: &str = "AMQPCTL_PERF_RAW_LATENCIES";

/// A small load: a few seconds at a low rate (the machine is shared).
const LOAD: [&str; 4] = ["--duration", "2", "--rate", "60"];

const WAIT: Duration = Duration::from_secs(60);

fn run_id(test: &str) -> String {
    unique(test).replace("amqpctl.it.", "it-")
}

/// One instance of run `id` of `n` instances, with `flags`.
fn member(id: &str, n: &str, flags: &[&str]) -> Cmd {
    let mut args = vec!["perf", "--run-id", id, "--instances", n];
    args.extend_from_slice(flags);
    Cmd::amqpctl_on(broker(), &args)
}

/// Starts one instance of run `id` of 3 with the small load and `extra`
/// flags.
fn instance(id: &str, raw: &Path, extra: &[&str]) -> Spawned {
    member(id, "3", &[&LOAD[..], extra].concat())
        .env(RAW_ENV, raw)
        .spawn()
}

fn json(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

fn n(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no {key} in {v}"))
}

/// The one JSON line an instance printed when it ended with `code`.
#[track_caller]
fn ended(p: &mut Spawned, code: i32) -> Value {
    p.exits_with(code, WAIT);
    let out = p.stdout_lines_so_far();
    assert_eq!(out.len(), 1, "{out:?}");
    json(&out[0])
}

/// Every raw latency of `kind` the instances wrote, sorted.
fn raw(dir: &Path, kind: &str) -> Vec<u64> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).expect("raw dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == kind) {
            let text = std::fs::read_to_string(&path).expect("raw file");
            all.extend(text.lines().map(|l| l.parse::<u64>().expect("µs")));
        }
    }
    all.sort_unstable();
    all
}

/// The p99 of `sorted` by nearest rank, and the merged histogram's p99 is
/// that value up to HdrHistogram's 3 significant digits (it reports the
/// highest value its bucket holds).
#[track_caller]
fn p99_matches(sorted: &[u64], merged: &Value) {
    let rank = (sorted.len() as f64 * 0.99).ceil() as usize;
    let exact = sorted[rank.max(1) - 1];
    let p99 = n(merged, "p99");
    assert_eq!(n(merged, "count"), sorted.len() as u64, "{merged}");
    assert!(
        exact <= p99 && p99 <= exact + exact / 500 + 1,
        "merged p99 {p99} µs, the raw latencies' p99 {exact} µs"
    );
}

#[test]
fn three_perf_processes_form_one_run_and_the_report_merges_them_exactly() {
    let id = run_id("perf_dist_merge");
    let queue = format!("amqpctl-perf-{id}");
    let raw_dir = tempfile::tempdir().expect("tempdir");
    let page = raw_dir.path().join("run.html");
    let mut first = instance(&id, raw_dir.path(), &["--json"]);
    let mut second = instance(&id, raw_dir.path(), &["--confirm", "--json"]);
    // The barrier: two of three wait, and declare nothing meanwhile.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !queue_exists(broker(), &queue),
        "started before the barrier"
    );
    let page_arg = page.to_str().expect("utf-8 path");
    let mut report = instance(
        &id,
        raw_dir.path(),
        &["--confirm", "--report", "--json", "--html", page_arg],
    );
    let names: Vec<String> = [&first, &second, &report]
        .iter()
        .map(|p| format!(":{}", p.id()))
        .collect();
    let mut parts = Vec::new();
    for p in [&mut first, &mut second] {
        parts.push(ended(p, 0));
    }
    let merged = ended(&mut report, 0);
    for p in [&first, &second, &report] {
        let met = p.stderr_lines_so_far();
        let line = met
            .iter()
            .find(|l| l.starts_with(&format!("Run {id}: 3 instances met: ")))
            .unwrap_or_else(|| panic!("no barrier line: {met:?}"));
        assert!(names.iter().all(|n| line.contains(n.as_str())), "{line}");
    }

    // The merged totals are the sum of the instances' own counts.
    let instances = merged["run"]["instances"].as_array().expect("instances");
    assert_eq!(instances.len(), 3, "{merged}");
    for key in ["sent", "received", "confirmed"] {
        let sum: u64 = instances.iter().map(|i| n(i, key)).sum();
        assert_eq!(n(&merged, key), sum, "{key}: {merged}");
    }
    for part in &parts {
        let me = part["run"]["instance"].as_str().expect("instance");
        let mine = instances.iter().find(|i| i["name"] == me).expect("listed");
        assert_eq!(
            (n(mine, "sent"), n(mine, "received")),
            (n(part, "sent"), n(part, "received"))
        );
    }
    assert_eq!(n(&merged, "sent"), n(&merged, "received"), "{merged}");
    assert!(n(&merged, "sent") >= 3 * 60, "{merged}");
    assert_eq!(merged["run"]["died"], Value::Array(Vec::new()));
    // Rates over time per instance and combined.
    let timeline = merged["run"]["timeline"].as_array().expect("timeline");
    assert!(timeline.len() >= 2, "{merged}");
    for second in timeline {
        let per = second["sent_per_sec"].as_array().expect("per instance");
        assert_eq!(per.len(), 3, "{second}");
        let sum: f64 = per.iter().filter_map(Value::as_f64).sum();
        let all = second["all_sent_per_sec"].as_f64().expect("combined");
        assert!((sum - all).abs() < 1e-6, "{second}");
    }
    let busy = timeline
        .iter()
        .filter_map(|s| s["all_sent_per_sec"].as_f64());
    assert!(
        busy.fold(0.0, f64::max) > 60.0,
        "three instances at 60/s: {merged}"
    );
    assert_eq!(merged["clocks"]["end_to_end"], "two", "{merged}");
    assert_eq!(merged["clocks"]["confirm"], "one", "{merged}");

    // Percentiles of every latency, not an average of the instances'.
    p99_matches(&raw(raw_dir.path(), "e2e"), &merged["e2e_latency_us"]);
    p99_matches(
        &raw(raw_dir.path(), "confirm"),
        &merged["confirm_latency_us"],
    );
    // Under --rate the corrected histograms merge too: never fewer than
    // the raw latencies, the same longest.
    for kind in ["confirm", "e2e"] {
        let raw = &merged[format!("{kind}_latency_us")];
        let corrected = &merged[format!("{kind}_corrected_latency_us")];
        assert!(
            corrected["count"].as_u64() >= raw["count"].as_u64() && raw["count"].as_u64() > Some(0),
            "{kind}: {merged}"
        );
        assert_eq!(corrected["max"], raw["max"], "{kind}: {merged}");
    }
    assert!(
        !queue_exists(broker(), &queue),
        "the report deletes the run's queue"
    );

    // Every field of both kinds of summary is in the README's schema
    // table, and every field there is in one of them.
    let mut seen = fields(&merged);
    for part in &parts {
        seen.extend(fields(part));
    }
    let documented = documented_fields();
    let undocumented: Vec<_> = seen.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "not in the README's table: {undocumented:?}"
    );
    let unseen: Vec<_> = documented.difference(&seen).collect();
    assert!(
        unseen.is_empty(),
        "in the README's table, not in --json: {unseen:?}"
    );
    for s in parts.iter().chain([&merged]) {
        assert_eq!(s["schema"], "amqpctl.perf.summary/1", "{s}");
    }

    merged_page_renders(&page, &merged, &id);
}

/// The dotted names of a summary's fields (`run.instances[].name`); a
/// latency's percentiles are one field.
fn fields(v: &Value) -> std::collections::BTreeSet<String> {
    fn walk(prefix: &str, v: &Value, out: &mut std::collections::BTreeSet<String>) {
        for (k, value) in v.as_object().into_iter().flatten() {
            let name = format!("{prefix}{k}");
            match value {
                Value::Object(_) if !k.ends_with("_latency_us") => {
                    walk(&format!("{name}."), value, out)
                }
                Value::Array(items) if items.iter().any(Value::is_object) => {
                    for item in items {
                        walk(&format!("{name}[]."), item, out);
                    }
                }
                _ => {
                    out.insert(name);
                }
            }
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk("", v, &mut out);
    out
}

/// The fields the README's "perf --json" table names (its first column).
fn documented_fields() -> std::collections::BTreeSet<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let table = readme
        .split_once("**`perf --json`, schema ")
        .expect("the README documents perf --json")
        .1;
    table
        .lines()
        .skip_while(|l| !l.starts_with("| field |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .flat_map(|row| {
            let first = row.split('|').nth(1).unwrap_or_default();
            first
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The merged report's page in headless Chromium: the merged summary, the
/// per-instance and combined rates, the merged p99.
fn merged_page_renders(page: &Path, merged: &Value, id: &str) {
    let Some(dom) = headless(&["--dump-dom"], page) else {
        return;
    };
    let dom = String::from_utf8_lossy(&dom.stdout);
    let ms = |us: u64| format!("{:.3}", us as f64 / 1000.0);
    let mut texts = vec![
        format!("Run: {id}, 3 of 3 instances merged"),
        format!("Sent: {} (", n(merged, "sent")),
        "all instances sent".to_string(),
        "all instances received".to_string(),
        format!("<td>{}</td>", ms(n(&merged["e2e_latency_us"], "p99"))),
        "Clocks: confirm latency on one clock".to_string(),
    ];
    for i in merged["run"]["instances"].as_array().into_iter().flatten() {
        texts.push(format!("{} received", i["name"].as_str().unwrap_or("?")));
    }
    for text in texts {
        assert!(dom.contains(&text), "the rendered page lacks {text:?}");
    }
    let shot = page.with_extension("png");
    let shot_arg = format!("--screenshot={}", shot.display());
    if headless(&[&shot_arg, "--window-size=1000,2600"], page).is_none() {
        return;
    }
    let coloured = rgb_pixels(&shot)
        .iter()
        .filter(|p| p.iter().max().unwrap_or(&0) - p.iter().min().unwrap_or(&0) > 80)
        .count();
    assert!(
        coloured > 5_000,
        "{coloured} coloured pixels: no chart drawn?"
    );
}

/// Three instances, one SIGKILLed once it has run a second: the report's
/// JSON summary (if any), its stderr and stdout lines (`stdout: ` first),
/// and the dead one's `:pid`.
fn run_with_a_death(test: &str, report_flags: &[&str]) -> (Value, Vec<String>, String) {
    let id = run_id(test);
    let raw_dir = tempfile::tempdir().expect("tempdir");
    let mut a = instance(&id, raw_dir.path(), &[]);
    let victim = instance(&id, raw_dir.path(), &[]);
    let mut flags = vec!["--report"];
    flags.extend_from_slice(report_flags);
    let mut report = instance(&id, raw_dir.path(), &flags);
    victim.await_stderr("Perf: 1 s, sent", WAIT);
    let dead = format!(":{}", victim.id());
    victim.signal(libc::SIGKILL);
    a.exits_with(0, WAIT);
    let code = if report_flags.contains(&"--allow-partial") {
        0
    } else {
        11
    };
    report.exits_with(code, WAIT);
    let out = report.stdout_lines_so_far();
    let s = match out.last() {
        Some(line) if line.starts_with('{') => json(line),
        _ => Value::Null,
    };
    let mut lines = report.stderr_lines_so_far();
    lines.extend(out.iter().map(|l| format!("stdout: {l}")));
    (s, lines, dead)
}

#[test]
fn an_instance_killed_mid_run_fails_the_run_and_is_named() {
    let (s, lines, dead) = run_with_a_death("perf_dist_death", &["--json"]);
    let error = lines
        .iter()
        .find(|l| l.starts_with("ERROR: "))
        .unwrap_or_else(|| panic!("no error: {lines:?}"));
    assert!(error.contains(&format!("{dead} died mid-run")), "{error}");
    assert!(error.contains("--allow-partial"), "{error}");
    let died = s["run"]["died"].as_array().expect("died");
    assert_eq!(died.len(), 1, "{s}");
    assert!(died[0].as_str().is_some_and(|d| d.ends_with(&dead)), "{s}");
    // Only an end carries the corrected histograms: the dead one's are
    // missing from the corrected figures, and the summary says whose they
    // are.
    let from = s["run"]["corrected_from"]
        .as_array()
        .expect("corrected_from");
    assert_eq!(from.len(), 2, "{s}");
    assert!(from.iter().all(|i| i != &died[0]), "{s}");
}

#[test]
fn with_allow_partial_a_run_that_lost_an_instance_passes_and_names_it() {
    let (_, lines, dead) = run_with_a_death("perf_dist_partial", &["--allow-partial"]);
    assert!(!lines.iter().any(|l| l.starts_with("ERROR: ")), "{lines:?}");
    let has = |prefix: &str| {
        lines
            .iter()
            .any(|l| l.starts_with(prefix) && l.contains(&dead))
    };
    assert!(has("stdout: Died: "), "{lines:?}");
    assert!(has("stdout: Instance "), "{lines:?}");
    let note = "stdout: Corrected latencies: from 2 of 3 instances; none from ";
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(note) && l.ends_with(&format!("{dead} (died mid-run)"))),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with(
            "stdout: Clocks: confirm latency on one clock (the publisher's), end-to-end latency on two"
        )),
        "{lines:?}"
    );
}

#[test]
fn an_instance_alone_gives_up_at_the_barrier_with_one_line() {
    let id = run_id("perf_dist_alone");
    let alone = |flags: &[&str]| {
        let mut args = vec!["perf", "--run-id", id.as_str(), "--instances", "2"];
        args.extend_from_slice(&["--barrier-timeout", "1"]);
        args.extend_from_slice(flags);
        amqpctl(&args).code(1).no_stdout()
    };
    alone(&["--duration", "1"]).stderr([format!(
        "ERROR: perf run '{id}': 1 of 2 instances met within 1 s ([..]); start the others with the same --run-id and --instances, or raise --barrier-timeout"
    )]);
    assert!(!queue_exists(broker(), &format!("amqpctl-perf-{id}")));
    // A collector runs no workers: --queues asks none of it.
    alone(&["--collect", "--queues", "3"])
        .stderr_has(format!("ERROR: perf run '{id}': 1 of 2 instances met [..]"));
}

#[test]
fn a_collector_runs_no_workers_and_merges_the_two_that_do() {
    let id = run_id("perf_dist_collect");
    let raw_dir = tempfile::tempdir().expect("tempdir");
    let mut a = instance(&id, raw_dir.path(), &["--producers", "2"]);
    let mut b = instance(&id, raw_dir.path(), &["--consumers", "2"]);
    let mut collector = instance(&id, raw_dir.path(), &["--collect", "--json"]);
    a.exits_with(0, WAIT);
    b.exits_with(0, WAIT);
    let s = ended(&mut collector, 0);
    assert_eq!((n(&s, "producers"), n(&s, "consumers")), (3, 3), "{s}");
    assert_eq!(
        s["run"]["instances"].as_array().map(Vec::len),
        Some(2),
        "{s}"
    );
    assert_eq!(n(&s, "sent"), n(&s, "received"), "{s}");
    assert_eq!(n(&s["e2e_latency_us"], "count"), n(&s, "received"), "{s}");
    // The collector declared nothing, and nothing is left behind.
    assert!(!queue_exists(broker(), &format!("amqpctl-perf-{id}")));
}

/// The queues on the test node named after run `id`'s (`amqpctl-perf-ID`
/// and `amqpctl-perf-ID-N`), as rabbitmqctl lists them.
fn run_queues(id: &str) -> Vec<String> {
    let own = format!("amqpctl-perf-{id}");
    let listed = broker().ctl_ok(&["list_queues", "name", "--no-table-headers", "--quiet"]);
    listed
        .lines()
        .map(str::trim)
        .filter(|q| q.starts_with(&own))
        .map(str::to_string)
        .collect()
}

#[test]
fn instances_spread_over_the_runs_own_queues_and_the_report_deletes_them_all() {
    let id = run_id("perf_dist_queues");
    let load: Vec<&str> = "--queues 2 --producers 2 --consumers 2 --count 400 --json"
        .split(' ')
        .collect();
    let mut a = member(&id, "3", &load).spawn();
    let mut b = member(&id, "3", &[&load[..], &["--report"]].concat()).spawn();
    // A collector with no --queues of its own learns them from the others.
    let mut collector = member(&id, "3", &["--collect", "--json"]).spawn();
    let part = ended(&mut a, 0);
    let reports = [ended(&mut b, 0), ended(&mut collector, 0)];
    let names = [1, 2].map(|i| format!("amqpctl-perf-{id}-{i}"));
    for s in reports.iter().chain([&part]) {
        assert_eq!(s["queues"], serde_json::json!(names), "{s}");
        assert_eq!(s["queue"], format!("amqpctl-perf-{id}-%d"), "{s}");
    }
    for merged in &reports {
        // Each instance published its --count; the report adds them up,
        // and every message reached a consumer of one or the other.
        let instances = merged["run"]["instances"].as_array().expect("instances");
        assert_eq!(instances.len(), 2, "{merged}");
        assert!(instances.iter().all(|i| n(i, "sent") == 400), "{merged}");
        let received: u64 = instances.iter().map(|i| n(i, "received")).sum();
        assert_eq!(
            (n(merged, "sent"), n(merged, "received"), received),
            (800, 800, 800),
            "{merged}"
        );
        assert_eq!((n(merged, "producers"), n(merged, "consumers")), (4, 4));
        let me = part["run"]["instance"].as_str().expect("instance");
        let mine = instances.iter().find(|i| i["name"] == me).expect("listed");
        assert_eq!(
            (n(mine, "sent"), n(mine, "received")),
            (n(&part, "sent"), n(&part, "received"))
        );
    }
    let left = run_queues(&id);
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn latency_confirm_times_publish_to_confirm_on_the_publishers_clock() {
    let run = amqpctl(&["perf", "--latency", "confirm", "--count", "300", "--json"]).code(0);
    let s = json(run.stdout_text().trim());
    assert_eq!(s["latency"], "confirm", "{s}");
    assert_eq!(n(&s, "confirmed"), 300, "{s}");
    assert_eq!(n(&s["confirm_latency_us"], "count"), 300, "{s}");
    // End-to-end stays beside it; in one process both read one clock.
    assert_eq!(n(&s["e2e_latency_us"], "count"), 300, "{s}");
    assert_eq!(s["clocks"]["confirm"], "one", "{s}");
    assert_eq!(s["clocks"]["end_to_end"], "one", "{s}");
}

/// The self-check's JSON object of a run with `args`, its lines checked.
fn self_check(args: &[&str]) -> Value {
    let mut all = vec!["perf"];
    all.extend_from_slice(args);
    let run = amqpctl(&all).code(0);
    let text = amqpctl(&[all.as_slice(), &["--json"]].concat()).code(0);
    let lines = run.stdout_lines();
    let verdict = lines
        .iter()
        .find(|l| l.starts_with("Bottleneck: "))
        .unwrap_or_else(|| panic!("no verdict: {lines:?}"));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Self-check: client CPU ")),
        "{lines:?}"
    );
    let s = json(text.stdout_text().trim());
    let check = s["self_check"].clone();
    let word = check["bottleneck"].as_str().expect("bottleneck");
    assert!(["client", "broker", "none"].contains(&word), "{check}");
    let cpu = check["cpu_secs"].as_f64().expect("cpu");
    let per = check["cpu_us_per_message"].as_f64().expect("per message");
    let messages = (n(&s, "sent") + n(&s, "received")) as f64;
    assert!(
        (per * messages / 1e6 - cpu).abs() <= cpu * 0.01 + 1e-6,
        "{check}"
    );
    assert!(
        verdict.starts_with("Bottleneck: client (")
            || verdict.starts_with("Bottleneck: broker (")
            || verdict.starts_with("Bottleneck: none ("),
        "{verdict}"
    );
    check
}

#[test]
fn the_self_check_blames_the_broker_when_producers_wait_on_quorum_confirms() {
    // One message in flight, each confirmed after a quorum write: the
    // producer waits on the broker nearly all the time, using little CPU.
    let check = self_check(&[
        "--queue-type",
        "quorum",
        "--persistent",
        "--confirm",
        "--confirm-window",
        "1",
        "--count",
        "200",
    ]);
    assert_eq!(check["bottleneck"], "broker", "{check}");
    assert!(
        check["confirm_wait"].as_f64().is_some_and(|w| w >= 0.5),
        "{check}"
    );
}

#[test]
fn the_self_check_finds_no_bottleneck_in_a_run_that_kept_its_rate() {
    let check = self_check(&["--rate", "50", "--duration", "1.5"]);
    assert_eq!(check["bottleneck"], "none", "{check}");
    let busiest = check["busiest_thread"].as_f64().expect("busiest");
    assert!((0.0..0.85).contains(&busiest), "{check}");
}
