//! The edges a new user hits first: signals delivered twice, a command that
//! keeps failing, a reader that goes away, a connect that hangs, defaults
//! that fit one mode but not another, checks before side effects, and the
//! spellings amqp-tools users bring. Each test failed on the code before it.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::fixtures::{
    amqpctl, amqpctl_stdin, broker, delete_queue, drain, durable_queue, messages, port_args, strs,
    with_port,
};
use crate::support::process::{Spawned, output_with_timeout, spawn, stderr_lines, stdout_lines};
use crate::support::unique;

/// Whether `queue` exists on the shared node.
fn exists(queue: &str) -> bool {
    broker().queue_messages("/", queue).is_some()
}

/// Runs `amqpctl ARGS` under coreutils `timeout --preserve-status SECS`,
/// which signals the child and its process group: the child sees the
/// signal twice.
fn under_timeout(secs: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("timeout");
    cmd.args(["--preserve-status", secs, env!("CARGO_BIN_EXE_amqpctl")])
        .args(with_port(broker(), args));
    output_with_timeout(
        cmd,
        crate::support::process::Stdin::Null,
        Duration::from_secs(30),
    )
}

/// Waits until `p` prints a stderr line containing `needle`.
fn await_stderr(p: &Spawned, needle: &str) {
    assert!(
        p.wait_stderr_containing(needle, Duration::from_secs(20))
            .is_some(),
        "no stderr line with {needle:?}: {:?}",
        p.stderr_lines_so_far()
    );
}

#[test]
fn a_signal_doubled_by_timeout_is_one_clean_stop_for_con_and_pub() {
    // Run side by side: each run is a one-second wait.
    let runs: Vec<_> = (0..12)
        .map(|i| {
            std::thread::spawn(move || {
                let q = unique("double-sigterm");
                let con = under_timeout("1", &["con", "-q", &q, "-Q"]);
                let publisher = under_timeout("1", &["pub", "-k", &q, "--nb-messages", "10"]);
                (i, con, publisher)
            })
        })
        .collect();
    for run in runs {
        let (i, con, publisher) = run.join().expect("run thread");
        assert_eq!(con.status.code(), Some(0), "con run {i}: {con:?}");
        let err = stderr_lines(&publisher);
        // pub's signal stop is 128+15, and it reports how far it got; a
        // forced exit would say "exiting at once" instead.
        assert_eq!(publisher.status.code(), Some(143), "pub run {i}: {err:?}");
        assert!(
            err.iter().any(|l| l.starts_with("Stopped by signal 15: ")),
            "pub run {i}: {err:?}"
        );
        assert!(
            !err.iter().any(|l| l.contains("exiting at once")),
            "pub run {i}: {err:?}"
        );
    }
}

#[test]
fn a_signal_repeated_a_millisecond_later_is_still_one_clean_stop() {
    let runs: Vec<_> = (0..20)
        .map(|_| {
            std::thread::spawn(|| {
                let q = unique("repeat-sigterm");
                let mut con = spawn(&strs(&with_port(broker(), &["con", "-q", &q, "-Q"])));
                await_stderr(&con, "Created queue");
                con.signal(libc::SIGTERM);
                std::thread::sleep(Duration::from_millis(1));
                // Not reaped yet, so this reaches it even if it is done.
                con.signal(libc::SIGTERM);
                con.wait_exit(Duration::from_secs(10))
            })
        })
        .collect();
    for run in runs {
        let status = run.join().expect("run thread").expect("con exits");
        assert_eq!(status.code(), Some(0));
    }
}

#[test]
fn a_signal_a_second_after_the_first_forces_the_exit_and_says_so() {
    let q = unique("forced");
    durable_queue(broker(), &q);
    let out = amqpctl(&["pub", "-k", &q, "-m", "job", "--confirm"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // A command that ignores SIGTERM keeps the clean stop waiting.
    let mut con = spawn(&strs(&with_port(
        broker(),
        &[
            "con",
            "-q",
            &q,
            "--exec",
            "trap '' TERM; echo started; exec sleep 8 >/dev/null 2>&1",
        ],
    )));
    assert_eq!(
        con.wait_stdout_line(Duration::from_secs(20)).as_deref(),
        Some("started")
    );
    con.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(1500));
    con.signal(libc::SIGTERM);
    let status = con.wait_exit(Duration::from_secs(3)).expect("forced exit");
    assert_eq!(status.code(), Some(143));
    let err = con.stderr_lines_so_far();
    assert!(
        err.iter()
            .any(|l| l.starts_with("WARNING: signal 15 again: exiting at once")),
        "{err:?}"
    );
    // Never acked: the broker has it back once the connection is gone.
    wait_for_messages(&q, 1);
    delete_queue(broker(), &q);
}

/// Polls the broker until `queue` holds `n` ready messages.
fn wait_for_messages(queue: &str, n: u32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = messages(broker(), queue);
        if now == n {
            return;
        }
        assert!(Instant::now() < deadline, "{queue} holds {now}, not {n}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn publish(queue: &str, n: &str) {
    let out = amqpctl(&[
        "pub",
        "-k",
        queue,
        "--nb-messages",
        n,
        "--interval",
        "0",
        "--confirm",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn con_exec_stops_at_sigterm_while_its_command_keeps_failing() {
    let q = unique("exec-failing");
    durable_queue(broker(), &q);
    publish(&q, "4");
    let mut con = spawn(&strs(&with_port(
        broker(),
        &["con", "-q", &q, "--exec", "exit 1"],
    )));
    await_stderr(&con, "requeued");
    await_stderr(&con, "requeued");
    con.signal(libc::SIGTERM);
    let status = con
        .wait_exit(Duration::from_secs(10))
        .expect("con stops within a few seconds");
    assert_eq!(status.code(), Some(0), "{:?}", con.stderr_lines_so_far());
    // The default back-off (1 s, doubling) keeps it from spinning: a
    // handful of attempts, not hundreds a second.
    let attempts = con
        .stderr_lines_so_far()
        .iter()
        .filter(|l| l.contains("requeued"))
        .count();
    assert!(attempts <= 6, "{attempts} attempts");
    wait_for_messages(&q, 4);
    delete_queue(broker(), &q);
}

/// A queue that dead-letters into a fresh queue, which is returned too.
fn queue_with_dead_letters(name: &str, kind: &str) -> (String, String) {
    let q = unique(name);
    let dlq = unique(&format!("{name}-dlq"));
    durable_queue(broker(), &dlq);
    let dlk = format!("x-dead-letter-routing-key={dlq}");
    let out = amqpctl(&[
        "declare",
        "queue",
        &q,
        "--durable",
        "--type",
        kind,
        "--arg",
        "x-dead-letter-exchange=",
        "--arg",
        &dlk,
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    (q, dlq)
}

#[test]
fn exec_max_attempts_dead_letters_a_poison_message_counted_by_amqpctl() {
    let (q, dlq) = queue_with_dead_letters("poison", "classic");
    publish(&q, "1");
    let out = amqpctl(&[
        "con",
        "-q",
        &q,
        "--exec",
        "exit 1",
        "--exec-backoff",
        "0",
        "--exec-max-attempts",
        "3",
        "--idle-timeout",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let err = stderr_lines(&out);
    let requeued = err.iter().filter(|l| l.ends_with(": requeued")).count();
    assert_eq!(requeued, 2, "{err:?}");
    assert!(
        err.iter()
            .any(|l| l.ends_with("rejected after 3 attempts (--exec-max-attempts)")),
        "{err:?}"
    );
    assert_eq!(messages(broker(), &q), 0);
    assert_eq!(drain(broker(), &dlq), vec![b"Hello World!".to_vec()]);
    delete_queue(broker(), &q);
    delete_queue(broker(), &dlq);
}

#[test]
fn exec_max_attempts_uses_the_brokers_delivery_count_on_a_quorum_queue() {
    let (q, dlq) = queue_with_dead_letters("poison-quorum", "quorum");
    publish(&q, "1");
    // Two earlier deliveries that amqpctl's con never saw: only the
    // broker's x-delivery-count remembers them.
    for _ in 0..2 {
        let out = amqpctl(&["get", "-q", &q, "--requeue"]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
    }
    let out = amqpctl(&[
        "con",
        "-q",
        &q,
        "--exec",
        "exit 1",
        "--exec-max-attempts",
        "3",
        "--count",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        stderr_lines(&out),
        vec![
            "WARNING: --exec command exited with 1 for delivery 1: rejected after 3 attempts (--exec-max-attempts)"
        ]
    );
    wait_for_messages(&dlq, 1);
    assert_eq!(messages(broker(), &q), 0);
    delete_queue(broker(), &q);
    delete_queue(broker(), &dlq);
}

#[test]
fn con_notices_that_the_reader_of_its_stdout_went_away_while_idle() {
    let q = unique("head");
    durable_queue(broker(), &q);
    for round in 0..6 {
        publish(&q, "50");
        let mut cmd =
            crate::support::process::command(&strs(&with_port(broker(), &["con", "-q", &q])));
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn con");
        let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        reader.read_line(&mut first).expect("first line");
        assert!(first.starts_with("Received: "), "{first:?}");
        drop(reader); // `head -1` exits
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let status = status.unwrap_or_else(|| panic!("round {round}: con never noticed"));
        assert_eq!(status.code(), Some(0), "round {round}");
        // What the kernel accepted was written, and so acked; the rest is
        // still queued. Either way nothing is left unacked.
        delete_queue(broker(), &q);
        durable_queue(broker(), &q);
    }
    delete_queue(broker(), &q);
}

#[test]
fn a_signal_ends_a_hanging_connect_at_once() {
    // Accepts TCP (the kernel's backlog does), never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port().to_string();
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port().to_string()
    };
    let cases: Vec<(Vec<&str>, i32, libc::c_int)> = vec![
        (
            vec!["pub", "-k", "x", "-m", "y", "--port-number", &port],
            130,
            libc::SIGINT,
        ),
        (
            vec!["con", "-q", "x", "--port-number", &port],
            0,
            libc::SIGINT,
        ),
        (
            vec!["pub", "-k", "x", "--port-number", &port],
            143,
            libc::SIGTERM,
        ),
        (
            vec![
                "con",
                "-q",
                "x",
                "--enable-tls",
                "--insecure",
                "--port-number",
                &port,
            ],
            0,
            libc::SIGTERM,
        ),
        (
            vec!["con", "-q", "x", "--reconnect", "--port-number", &closed],
            0,
            libc::SIGINT,
        ),
    ];
    for (args, code, signal) in cases {
        let mut all = vec!["-s", "127.0.0.1", "--connect-timeout", "30"];
        all.extend(&args);
        let mut p = spawn(&all);
        // Let it reach the hanging step; no broker event to wait for.
        std::thread::sleep(Duration::from_millis(400));
        p.signal(signal);
        let status = p
            .wait_exit(Duration::from_secs(3))
            .unwrap_or_else(|| panic!("{args:?} ignored signal {signal}"));
        assert_eq!(
            status.code(),
            Some(code),
            "{args:?}: {:?}",
            p.stderr_lines_so_far()
        );
    }
    drop(silent);
}

#[test]
fn streams_of_input_go_without_the_seeds_one_second_pause() {
    let q = unique("stream-input");
    durable_queue(broker(), &q);
    let lines: String = (1..=100).map(|i| format!("{i}\n")).collect();
    // At the old default of one second a message, this would take 100 s
    // and hit the run helper's 60 s limit.
    let out = amqpctl_stdin(&["pub", "-k", &q, "--lines", "--confirm"], lines.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout_lines(&out).len(), 100);
    // The README's move: con's envelopes into pub --format json.
    let to = unique("stream-input-to");
    durable_queue(broker(), &to);
    let envelopes = amqpctl(&["con", "-q", &q, "--format", "json", "--count", "100"]);
    assert_eq!(envelopes.status.code(), Some(0), "{envelopes:?}");
    let out = amqpctl_stdin(
        &["pub", "--format", "json", "-k", &to, "--confirm"],
        &envelopes.stdout,
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(messages(broker(), &to), 100);
    delete_queue(broker(), &q);
    delete_queue(broker(), &to);
}

#[test]
fn numbered_copies_keep_the_seeds_one_second_pause() {
    let q = unique("numbered-pause");
    durable_queue(broker(), &q);
    let started = Instant::now();
    let out = amqpctl(&["pub", "-k", &q, "--nb-messages", "3", "-m", "Hello!"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(
        stdout_lines(&out),
        vec!["Sent: 1:Hello!", "Sent: 2:Hello!", "Sent: 3:Hello!"]
    );
    delete_queue(broker(), &q);
}

#[test]
fn pub_with_a_queue_and_no_key_routes_to_that_queue() {
    let q = unique("route-to-q");
    durable_queue(broker(), &q);
    let out = amqpctl(&["pub", "-q", &q, "-m", "x", "--confirm", "--mandatory"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout_lines(&out), vec!["Sent: x"]);
    // An explicit empty key is kept: nothing takes it.
    let out = amqpctl(&["pub", "-q", &q, "-k", "", "-m", "y", "--mandatory"]);
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    // With an exchange, -q names no route.
    let out = amqpctl(&[
        "pub",
        "-q",
        &q,
        "-e",
        "amq.direct",
        "-m",
        "z",
        "--mandatory",
    ]);
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    assert_eq!(drain(broker(), &q), vec![b"x".to_vec()]);
    delete_queue(broker(), &q);
}

#[test]
fn bodies_from_files_and_stdin_are_summarised_not_echoed() {
    let q = unique("summary");
    durable_queue(broker(), &q);
    let tarball: Vec<u8> = (0..10_240u32).map(|i| (i % 256) as u8).collect();
    let out = amqpctl_stdin(&["pub", "-k", &q, "-m", "-", "--confirm"], &tarball);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout_lines(&out), vec!["Sent: (10240 bytes)"]);
    // An empty stdin is an empty message.
    let out = amqpctl_stdin(&["pub", "-k", &q, "-m", "-", "--confirm"], b"");
    assert_eq!(stdout_lines(&out), vec!["Sent: (0 bytes)"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("report.txt");
    std::fs::write(&file, "short text").expect("write");
    let path = file.to_str().expect("utf-8 path");
    let out = amqpctl(&[
        "pub",
        "-k",
        &q,
        "--file",
        path,
        "--nb-messages",
        "2",
        "--interval",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        stdout_lines(&out),
        vec!["Sent: 1 (12 bytes)", "Sent: 2 (12 bytes)"]
    );
    let out = amqpctl_stdin(
        &["pub", "-k", &q, "--lines", "--confirm"],
        b"plain line\n\xff\xfe\x00binary\n",
    );
    assert_eq!(
        stdout_lines(&out),
        vec!["Sent: plain line", "Sent: 2 (9 bytes)"]
    );
    let mut bodies = drain(broker(), &q).into_iter();
    assert_eq!(bodies.next(), Some(tarball));
    assert_eq!(bodies.next(), Some(Vec::new()));
    assert_eq!(bodies.next(), Some(b"1:short text".to_vec()));
    assert_eq!(bodies.next(), Some(b"2:short text".to_vec()));
    assert_eq!(bodies.next(), Some(b"plain line".to_vec()));
    assert_eq!(bodies.next(), Some(b"\xff\xfe\x00binary".to_vec()));
    delete_queue(broker(), &q);
}

/// Runs amqpctl; checks exit 2 and an error line (amqpctl's `ERROR:` or
/// clap's `error:`) containing `needle`.
fn usage_error(args: &[&str], needle: &str) {
    let out = amqpctl(args);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    let err = stderr_lines(&out);
    assert!(
        err.iter()
            .any(|l| (l.starts_with("ERROR: ") || l.starts_with("error: ")) && l.contains(needle)),
        "{args:?}: {err:?}"
    );
}

#[test]
fn usage_errors_are_found_before_anything_changes_on_the_broker() {
    let long = "k".repeat(300);
    let q = unique("checked-first");
    usage_error(
        &["pub", "-q", &q, "-Q", "-k", &long, "-m", "x"],
        "the routing key (-k) is 300 bytes long",
    );
    usage_error(
        &["pub", "-q", &q, "-Q", "--header", "a=1", "--header", "a=2"],
        "--header a is given twice",
    );
    usage_error(
        &["pub", "-q", &q, "-Q", "-E", "-e", "amq.topic"],
        "-E needs an exchange name of our own",
    );
    usage_error(
        &[
            "con",
            "-q",
            &q,
            "-Q",
            "-e",
            "amq.direct",
            "--bind-queue",
            "-k",
            &long,
        ],
        "the routing key (-k) is 300 bytes long",
    );
    usage_error(
        &[
            "declare",
            "queue",
            &q,
            "--arg",
            "x-max-length=1",
            "--arg",
            "x-max-length=2",
        ],
        "--arg x-max-length is given twice",
    );
    assert!(!exists(&q), "a usage error created {q}");
}

#[test]
fn flags_that_would_do_nothing_are_refused_or_warned_about() {
    let q = unique("no-effect");
    durable_queue(broker(), &q);
    usage_error(
        &["con", "-e", "amq.topic", "-k", "#", "-Q"],
        "-k has no effect without --bind-queue",
    );
    usage_error(
        &["con", "-q", &q, "--delimiter", "\\0"],
        "--delimiter only applies to --format body",
    );
    usage_error(
        &["get", "-q", &q, "--format", "jsonx"],
        "--format 'jsonx' is not received, body or json",
    );
    let out = amqpctl(&["pub", "-k", &q, "--durable-queue", "--confirm-window", "5"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        stderr_lines(&out),
        vec![
            "WARNING: --durable-queue has no effect without -Q (the queue is not declared)",
            "WARNING: --confirm-window has no effect without --confirm",
        ]
    );
    // With --format body the delimiter is what ends each body.
    let out = amqpctl(&[
        "con",
        "-q",
        &q,
        "--count",
        "1",
        "--format",
        "body",
        "--delimiter",
        "|",
    ]);
    assert_eq!(out.stdout, b"Hello World!|");
    delete_queue(broker(), &q);
}

#[test]
fn the_spellings_amqp_tools_users_bring_work() {
    let q = unique("spellings");
    durable_queue(broker(), &q);
    let port = broker().amqp_port().to_string();
    let host_port = format!("127.0.0.1:{port}");
    let out = crate::support::process::run(&["-s", &host_port, "pub", "-k", &q, "-m", "a"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = crate::support::process::run(&[
        "pub",
        "-s",
        "127.0.0.1",
        "--port",
        &port,
        "-k",
        &q,
        "-m",
        "b",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(drain(broker(), &q), vec![b"a".to_vec(), b"b".to_vec()]);
    usage_error(&["pub", "-k", &q, "--interval", "-1"], "must be 0 or more");
    usage_error(
        &["con", "-q", &q, "--idle-timeout", "-0.5"],
        "must be 0 or more",
    );
    delete_queue(broker(), &q);
}

#[test]
fn an_interrupted_quiet_pub_still_says_how_many_it_sent() {
    let q = unique("quiet-interrupted");
    durable_queue(broker(), &q);
    let mut args = port_args(broker());
    args.extend(
        [
            "pub",
            "-k",
            &q,
            "--quiet",
            "--nb-messages",
            "100",
            "--interval",
            "0.1",
        ]
        .map(String::from),
    );
    let mut p = spawn(&strs(&args));
    let deadline = Instant::now() + Duration::from_secs(20);
    while broker().queue_messages("/", &q).unwrap_or(0) < 2 {
        assert!(Instant::now() < deadline, "nothing published");
        std::thread::sleep(Duration::from_millis(50));
    }
    p.signal(libc::SIGINT);
    let status = p.wait_exit(Duration::from_secs(10)).expect("pub stops");
    assert_eq!(status.code(), Some(130));
    assert!(p.stdout_lines_so_far().is_empty());
    let sent = messages(broker(), &q);
    assert_eq!(
        p.stderr_lines_so_far(),
        vec![
            format!("Stopped by signal 2: {sent} messages sent"),
            "ERROR: interrupted by signal 2".to_string(),
        ]
    );
    delete_queue(broker(), &q);
}
