//! The edges a new user hits first: signals delivered twice, a command that
//! keeps failing, a reader that goes away, a connect that hangs, defaults
//! that fit one mode but not another, checks before side effects, and the
//! spellings amqp-tools users bring. Each test failed on the code before it.

use std::io::{BufRead, BufReader, ErrorKind};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::eventually_within;
use crate::support::run::{AMQPCTL, connection_flags};
use crate::support::{
    Broker, Cmd, Run, amqpctl, amqpctl_stdin, broker, delete_queue, drain, durable_queue, fill,
    filled_queue, fresh_queue, messages, queue_exists, spawn_amqpctl, unique, wait_for_messages,
    wait_until,
};

const WAIT: Duration = Duration::from_secs(20);

/// Runs `amqpctl ARGS` under coreutils `timeout --preserve-status SECS`,
/// which signals the child and its process group: the child sees the
/// signal twice.
fn under_timeout(secs: &str, args: &[&str]) -> Run {
    let mut cmd = Command::new("timeout");
    cmd.args(["--preserve-status", secs, AMQPCTL])
        .args(connection_flags(broker()))
        .args(args);
    Cmd::from(cmd).run()
}

#[test]
fn a_signal_doubled_by_timeout_is_one_clean_stop_for_con_and_pub() {
    // Run side by side: each run is a one-second wait.
    let runs: Vec<_> = (0..12)
        .map(|_| {
            std::thread::spawn(move || {
                let q = unique("double-sigterm");
                under_timeout("1", &["con", "-q", &q, "-Q"]).code(0);
                // pub's signal stop is 128+15, and it reports how far it got; a
                // forced exit would say "exiting at once" instead.
                under_timeout("1", &["pub", "-k", &q, "--nb-messages", "10"])
                    .code(143)
                    .stderr_has("Stopped by signal 15: [..]")
                    .never_shows("exiting at once");
            })
        })
        .collect();
    for run in runs {
        run.join().expect("run thread");
    }
}

#[test]
fn a_signal_repeated_a_millisecond_later_is_still_one_clean_stop() {
    let runs: Vec<_> = (0..20)
        .map(|_| {
            std::thread::spawn(|| {
                let q = unique("repeat-sigterm");
                let mut con = spawn_amqpctl(&["con", "-q", &q, "-Q"]);
                con.await_stderr("Created queue", WAIT);
                con.signal(libc::SIGTERM);
                // The race under test: the second signal a millisecond after the first.
                std::thread::sleep(Duration::from_millis(1));
                // Not reaped yet, so this reaches it even if it is done.
                con.signal(libc::SIGTERM);
                con.exits_with(0, Duration::from_secs(10));
            })
        })
        .collect();
    for run in runs {
        run.join().expect("run thread");
    }
}

#[test]
fn a_signal_a_second_after_the_first_forces_the_exit_and_says_so() {
    let q = fresh_queue("forced");
    amqpctl(&["pub", "-k", &q, "-m", "job", "--confirm"])
        .code(0)
        .stdout(["Sent: job"]);
    // A command that ignores SIGTERM keeps the clean stop waiting.
    let mut con = spawn_amqpctl(&[
        "con",
        "-q",
        &q,
        "--exec",
        "trap '' TERM; echo started; exec sleep 8 >/dev/null 2>&1",
    ]);
    assert_eq!(con.next_stdout_line(WAIT), "started");
    con.signal(libc::SIGTERM);
    // What is under test: a second signal more than a second after the first.
    std::thread::sleep(Duration::from_millis(1500));
    con.signal(libc::SIGTERM);
    con.exits_with(143, Duration::from_secs(3));
    let err = con.stderr_lines_so_far();
    assert!(
        err.iter()
            .any(|l| l.starts_with("WARNING: signal 15 again: exiting at once")),
        "{err:?}"
    );
    // Never acked: the broker has it back once the connection is gone.
    wait_for_messages(broker(), &q, 1);
    delete_queue(broker(), &q);
}

#[test]
fn con_exec_stops_at_sigterm_while_its_command_keeps_failing() {
    let q = filled_queue("exec-failing", 4, "Hello World!");
    let mut con = spawn_amqpctl(&["con", "-q", &q, "--exec", "exit 1"]);
    con.await_stderr("requeued", WAIT);
    con.await_stderr("requeued", WAIT);
    con.signal(libc::SIGTERM);
    // It stops within a few seconds.
    con.exits_with(0, Duration::from_secs(10));
    // The default back-off (1 s, doubling) keeps it from spinning: a
    // handful of attempts, not hundreds a second.
    let attempts = con
        .stderr_lines_so_far()
        .iter()
        .filter(|l| l.contains("requeued"))
        .count();
    assert!(attempts <= 6, "{attempts} attempts");
    wait_for_messages(broker(), &q, 4);
    delete_queue(broker(), &q);
}

/// A queue that dead-letters into a fresh queue, which is returned too.
fn queue_with_dead_letters(name: &str, kind: &str) -> (String, String) {
    let q = unique(name);
    let dlq = unique(&format!("{name}-dlq"));
    durable_queue(broker(), &dlq);
    let dlk = format!("x-dead-letter-routing-key={dlq}");
    amqpctl(&[
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
    ])
    .code(0)
    .stdout([format!("Created queue: {q} (messages: 0, consumers: 0)")]);
    (q, dlq)
}

#[test]
fn exec_max_attempts_dead_letters_a_poison_message_counted_by_amqpctl() {
    let (q, dlq) = queue_with_dead_letters("poison", "classic");
    fill(broker(), &q, 1, "Hello World!");
    amqpctl(&[
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
    ])
    .code(0)
    .stderr([
        "WARNING: --exec command exited with 1 for delivery 1 (attempt 1): requeued",
        "WARNING: --exec command exited with 1 for delivery 2 (attempt 2): requeued",
        "WARNING: --exec command exited with 1 for delivery 3: rejected after 3 attempts (--exec-max-attempts)",
    ]);
    assert_eq!(messages(broker(), &q), 0);
    assert_eq!(drain(broker(), &dlq), vec![b"Hello World!".to_vec()]);
    delete_queue(broker(), &q);
    delete_queue(broker(), &dlq);
}

#[test]
fn exec_max_attempts_uses_the_brokers_delivery_count_on_a_quorum_queue() {
    let (q, dlq) = queue_with_dead_letters("poison-quorum", "quorum");
    fill(broker(), &q, 1, "Hello World!");
    // Two earlier deliveries that amqpctl's con never saw: only the
    // broker's x-delivery-count remembers them.
    for _ in 0..2 {
        amqpctl(&["get", "-q", &q, "--requeue"])
            .code(0)
            .stdout(["Received: Hello World!"]);
    }
    amqpctl(&[
        "con",
        "-q",
        &q,
        "--exec",
        "exit 1",
        "--exec-max-attempts",
        "3",
        "--count",
        "1",
    ])
    .code(0)
    .stderr([
        "WARNING: --exec command exited with 1 for delivery 1: rejected after 3 attempts (--exec-max-attempts)",
    ]);
    wait_for_messages(broker(), &dlq, 1);
    assert_eq!(messages(broker(), &q), 0);
    delete_queue(broker(), &q);
    delete_queue(broker(), &dlq);
}

#[test]
fn con_notices_that_the_reader_of_its_stdout_went_away_while_idle() {
    let q = fresh_queue("head");
    for _ in 0..6 {
        fill(broker(), &q, 50, "Hello World!");
        let mut con = Cmd::amqpctl_on(broker(), &["con", "-q", &q]).spawn_piped();
        let mut reader = BufReader::new(con.take_stdout());
        let mut first = String::new();
        reader.read_line(&mut first).expect("first line");
        assert!(first.starts_with("Received: "), "{first:?}");
        drop(reader); // `head -1` exits
        con.wait(Duration::from_secs(10)).code(0).no_stderr();
        // What the kernel accepted was written, and so acked; the rest is
        // still queued. Either way nothing is left unacked.
        delete_queue(broker(), &q);
        durable_queue(broker(), &q);
    }
    delete_queue(broker(), &q);
}

/// The connection `listener` accepts within [`WAIT`], held open by the caller.
fn accept_within(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).expect("non-blocking");
    let every = Duration::from_millis(10);
    eventually_within(WAIT, every, "a connection", || match listener.accept() {
        Ok((stream, _)) => Some(stream),
        Err(e) if e.kind() == ErrorKind::WouldBlock => None,
        Err(e) => panic!("accept: {e}"),
    })
}

#[test]
fn a_signal_ends_a_hanging_connect_at_once() {
    // Accepts TCP, never says a word.
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
        let mut p = Cmd::amqpctl(&all).spawn();
        // Signal it once it hangs: connected to the silent peer, or waiting
        // to try the closed port again.
        let held = if args.contains(&port.as_str()) {
            Some(accept_within(&silent))
        } else {
            p.await_stderr("reconnecting in", WAIT);
            None
        };
        p.signal(signal);
        p.exits_with(code, Duration::from_secs(3));
        drop(held);
    }
}

#[test]
fn streams_of_input_go_without_the_seeds_one_second_pause() {
    let q = fresh_queue("stream-input");
    let lines: String = (1..=100).map(|i| format!("{i}\n")).collect();
    // At the old default of one second a message, this would take 100 s
    // and hit the run helper's 60 s limit.
    amqpctl_stdin(&["pub", "-k", &q, "--lines", "--confirm"], lines.as_bytes())
        .code(0)
        .stdout((1..=100).map(|i| format!("Sent: {i}")));
    // The README's move: con's envelopes into pub --format json.
    let to = unique("stream-input-to");
    durable_queue(broker(), &to);
    let envelopes = amqpctl(&["con", "-q", &q, "--format", "json", "--count", "100"]).code(0);
    amqpctl_stdin(
        &["pub", "--format", "json", "-k", &to, "--confirm"],
        envelopes.stdout_raw(),
    )
    .code(0)
    .stdout((1..=100).map(|i| format!(r#"{{"seq":{i},"status":"acked"}}"#)));
    assert_eq!(messages(broker(), &to), 100);
    delete_queue(broker(), &q);
    delete_queue(broker(), &to);
}

#[test]
fn numbered_copies_keep_the_seeds_one_second_pause() {
    let q = fresh_queue("numbered-pause");
    let started = Instant::now();
    amqpctl(&["pub", "-k", &q, "--nb-messages", "3", "-m", "Hello!"])
        .code(0)
        .stdout(["Sent: 1:Hello!", "Sent: 2:Hello!", "Sent: 3:Hello!"]);
    assert!(started.elapsed() >= Duration::from_secs(2));
    delete_queue(broker(), &q);
}

#[test]
fn pub_with_a_queue_and_no_key_routes_to_that_queue() {
    let q = fresh_queue("route-to-q");
    amqpctl(&["pub", "-q", &q, "-m", "x", "--confirm", "--mandatory"])
        .code(0)
        .stdout(["Sent: x"]);
    // An explicit empty key is kept: nothing takes it.
    amqpctl(&["pub", "-q", &q, "-k", "", "-m", "y", "--mandatory"])
        .code(6)
        .stderr([
            format!("WARNING: -q {q} is unused: -k '' routes the message (-q gives the default routing key, or names the queue -Q declares)"),
            "ERROR: message returned by the broker: (312, \"NO_ROUTE\")".to_string(),
        ]);
    // With an exchange, -q names no route.
    amqpctl(&[
        "pub",
        "-q",
        &q,
        "-e",
        "amq.direct",
        "-m",
        "z",
        "--mandatory",
    ])
    .code(6)
    .stderr(["ERROR: message returned by the broker: (312, \"NO_ROUTE\")"]);
    assert_eq!(drain(broker(), &q), vec![b"x".to_vec()]);
    delete_queue(broker(), &q);
}

#[test]
fn bodies_from_files_and_stdin_are_summarised_not_echoed() {
    let q = fresh_queue("summary");
    let tarball: Vec<u8> = (0..10_240u32).map(|i| (i % 256) as u8).collect();
    amqpctl_stdin(&["pub", "-k", &q, "-m", "-", "--confirm"], &tarball)
        .code(0)
        .stdout(["Sent: (10240 bytes)"]);
    // An empty stdin is an empty message.
    amqpctl_stdin(&["pub", "-k", &q, "-m", "-", "--confirm"], b"")
        .code(0)
        .stdout(["Sent: (0 bytes)"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("report.txt");
    std::fs::write(&file, "short text").expect("write");
    let path = file.to_str().expect("utf-8 path");
    amqpctl(&[
        "pub",
        "-k",
        &q,
        "--file",
        path,
        "--nb-messages",
        "2",
        "--interval",
        "0",
    ])
    .code(0)
    .stdout(["Sent: 1 (12 bytes)", "Sent: 2 (12 bytes)"]);
    amqpctl_stdin(
        &["pub", "-k", &q, "--lines", "--confirm"],
        b"plain line\n\xff\xfe\x00binary\n",
    )
    .code(0)
    .stdout(["Sent: plain line", "Sent: 2 (9 bytes)"]);
    let mut bodies = drain(broker(), &q).into_iter();
    assert_eq!(bodies.next(), Some(tarball));
    assert_eq!(bodies.next(), Some(Vec::new()));
    assert_eq!(bodies.next(), Some(b"1:short text".to_vec()));
    assert_eq!(bodies.next(), Some(b"2:short text".to_vec()));
    assert_eq!(bodies.next(), Some(b"plain line".to_vec()));
    assert_eq!(bodies.next(), Some(b"\xff\xfe\x00binary".to_vec()));
    delete_queue(broker(), &q);
}

/// Runs amqpctl; checks exit 2 and that stderr is the one line `line`.
fn usage_error(args: &[&str], line: &str) {
    amqpctl(args).code(2).stderr([line]);
}

#[test]
fn usage_errors_are_found_before_anything_changes_on_the_broker() {
    let long = "k".repeat(300);
    let q = unique("checked-first");
    usage_error(
        &["pub", "-q", &q, "-Q", "-k", &long, "-m", "x"],
        "ERROR: the routing key (-k) is 300 bytes long; AMQP allows at most 255",
    );
    usage_error(
        &["pub", "-q", &q, "-Q", "--header", "a=1", "--header", "a=2"],
        "ERROR: --header a is given twice; give each key once",
    );
    usage_error(
        &["pub", "-q", &q, "-Q", "-E", "-e", "amq.topic"],
        "ERROR: -E needs an exchange name of our own with -e (got 'amq.topic')",
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
        "ERROR: the routing key (-k) is 300 bytes long; AMQP allows at most 255",
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
        "ERROR: --arg x-max-length is given twice; give each key once",
    );
    assert!(!queue_exists(broker(), &q), "a usage error created {q}");
}

#[test]
fn flags_that_would_do_nothing_are_refused_or_warned_about() {
    let q = fresh_queue("no-effect");
    usage_error(
        &["con", "-e", "amq.topic", "-k", "#", "-Q"],
        "ERROR: -k has no effect without --bind-queue: con binds the queue with -k only when asked (add --bind-queue)",
    );
    usage_error(
        &["con", "-q", &q, "--delimiter", "\\0"],
        "ERROR: --delimiter only applies to --format body (not --format received)",
    );
    usage_error(
        &["get", "-q", &q, "--format", "jsonx"],
        "ERROR: --format 'jsonx' is not received, body or json, and as a template it has no %-token (see --help)",
    );
    amqpctl(&["pub", "-k", &q, "--durable-queue", "--confirm-window", "5"])
        .code(0)
        .stdout(["Sent: Hello World!"])
        .stderr([
            "WARNING: --durable-queue has no effect without -Q (the queue is not declared)",
            "WARNING: --confirm-window has no effect without --confirm",
        ]);
    // With --format body the delimiter is what ends each body.
    amqpctl(&[
        "con",
        "-q",
        &q,
        "--count",
        "1",
        "--format",
        "body",
        "--delimiter",
        "|",
    ])
    .code(0)
    .stdout_bytes(b"Hello World!|");
    delete_queue(broker(), &q);
}

#[test]
fn the_spellings_amqp_tools_users_bring_work() {
    let q = fresh_queue("spellings");
    let port = broker().amqp_port().to_string();
    let host_port = format!("127.0.0.1:{port}");
    Cmd::amqpctl(&["-s", &host_port, "pub", "-k", &q, "-m", "a"])
        .run()
        .code(0)
        .stdout(["Sent: a"]);
    Cmd::amqpctl(&[
        "pub",
        "-s",
        "127.0.0.1",
        "--port",
        &port,
        "-k",
        &q,
        "-m",
        "b",
    ])
    .run()
    .code(0)
    .stdout(["Sent: b"]);
    assert_eq!(drain(broker(), &q), vec![b"a".to_vec(), b"b".to_vec()]);
    amqpctl(&["pub", "-k", &q, "--interval", "-1"])
        .code(2)
        .stderr_has("error: invalid value '-1' for '--interval <SECS>': '-1' is not a valid number of seconds (must be 0 or more)");
    amqpctl(&["con", "-q", &q, "--idle-timeout", "-0.5"])
        .code(2)
        .stderr_has("error: invalid value '-0.5' for '--idle-timeout <SECS>': '-0.5' is not a valid number of seconds (must be 0 or more)");
    delete_queue(broker(), &q);
}

#[test]
fn an_interrupted_quiet_pub_still_says_how_many_it_sent() {
    let q = fresh_queue("quiet-interrupted");
    let mut p = spawn_amqpctl(&[
        "pub",
        "-k",
        &q,
        "--quiet",
        "--nb-messages",
        "100",
        "--interval",
        "0.1",
    ]);
    wait_until(broker(), &q, "2 messages or more", |q| q.messages >= 2);
    p.signal(libc::SIGINT);
    p.exits_with(130, Duration::from_secs(10));
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

/// Bodies far over the socket's buffer go out through many short writes and
/// past the publisher's 16 MiB queue limit (vendor/amiquip/PATCHES.md,
/// changes 6 and 7): each must arrive byte for byte, in order, also when
/// the broker stalls mid-stream (frozen again and again, so that writes
/// stop half-way and resume).
#[test]
fn large_bodies_arrive_byte_for_byte_through_short_writes() {
    let b = Broker::start_private();
    let q = unique("large-bodies");
    durable_queue(&b, &q);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.bin");
    // 3 MiB of bytes that repeat only every 251: a byte written twice or
    // skipped shows.
    let body: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &body).unwrap();
    let file = file.to_str().unwrap();
    let n = 40;
    let mut publisher = crate::support::spawn_amqpctl_on(
        &b,
        &[
            "pub",
            "-k",
            &q,
            "--file",
            file,
            "--nb-messages",
            &n.to_string(),
            "--interval",
            "0",
            "--confirm",
            "--quiet",
        ],
    );
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(40));
        b.freeze();
        std::thread::sleep(Duration::from_millis(150));
        b.thaw();
    }
    publisher.exits_with(0, Duration::from_secs(120));
    let got = drain(&b, &q);
    assert_eq!(got.len(), n);
    for (i, got) in got.iter().enumerate() {
        let mut expected = format!("{}:", i + 1).into_bytes();
        expected.extend_from_slice(&body);
        assert!(
            got == &expected,
            "body {} differs ({} bytes)",
            i + 1,
            got.len()
        );
    }
}
