//! pub, con and declare beyond the walkthrough: declare with typed
//! arguments and --passive, message properties from flags, bodies from
//! stdin, binary-safe output, --count / --idle-timeout, signals, and a
//! closed stdout.

use std::io::Read;
use std::time::{Duration, Instant};

use amqpctl::amqp::Value;

use crate::support::{
    Cmd, amqpctl, amqpctl_stdin, broker, declare_exchange, declaring_pub, delete_exchange,
    delete_queue, delete_queues, drain, durable_queue, fill, filled_queue, fresh_queue, messages,
    open, plain, spawn_amqpctl, unique, wait_for_messages,
};

#[test]
fn declare_queue_with_typed_arguments_prints_counts() {
    let q = unique("declared");
    amqpctl(&[
        "declare",
        "queue",
        &q,
        "--durable",
        "--arg",
        "x-message-ttl=60000",
        "--arg",
        "x-max-length=10",
        "--arg",
        "x-overflow=reject-publish",
    ])
    .code(0)
    .stdout([format!("Created queue: {q} (messages: 0, consumers: 0)")]);
    let listed = broker().ctl_ok(&[
        "list_queues",
        "name",
        "durable",
        "arguments",
        "--no-table-headers",
        "--quiet",
    ]);
    let fields: Vec<&str> = listed
        .lines()
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|fields| fields[0] == q)
        .unwrap_or_else(|| panic!("{q} not in:\n{listed}"));
    let [_, durable, arguments] = fields[..] else {
        panic!("{fields:?}")
    };
    assert_eq!(durable, "true", "{fields:?}");
    assert!(
        arguments.contains("x-message-ttl") && arguments.contains("60000"),
        "{fields:?}"
    );
    amqpctl(&["declare", "queue", &q, "--passive"])
        .code(0)
        .stdout([format!("Queue exists: {q} (messages: 0, consumers: 0)")]);
    delete_queue(broker(), &q);
}

#[test]
fn declare_passive_of_a_missing_queue_exits_5_with_the_404() {
    let q = unique("absent");
    amqpctl(&["declare", "queue", &q, "--passive"])
        .code(5)
        .stderr([format!(
            "ERROR: (404, \"NOT_FOUND - no queue '{q}' in vhost '/'\")"
        )]);
}

#[test]
fn declare_exchange_and_bindings_route_messages() {
    let (x, y, q) = (unique("dx"), unique("dy"), unique("dq"));
    declare_exchange(&x, &["-t", "topic"]);
    declare_exchange(&y, &["-t", "fanout", "--auto-delete"]);
    durable_queue(broker(), &q);
    amqpctl(&[
        "declare",
        "binding",
        "-e",
        &x,
        "--to-exchange",
        &y,
        "-k",
        "a.*",
    ])
    .code(0)
    .stdout([format!("Bound Exchange [{y}] to Exchange [{x}] a.*")]);
    amqpctl(&["declare", "binding", "-e", &y, "-q", &q])
        .code(0)
        .stdout([format!("Bound Queue [{q}] to Exchange [{y}]")]);
    for key in ["a.b", "b.a"] {
        amqpctl(&["pub", "-e", &x, "-k", key, "--confirm"])
            .code(0)
            .stdout(["Sent: Hello World!"]);
    }
    assert_eq!(messages(broker(), &q), 1);
    amqpctl(&["declare", "exchange", &x, "--passive"])
        .code(0)
        .stdout([format!("Exchange exists: {x}")]);
    // Redeclared with another type.
    amqpctl(&["declare", "exchange", &x, "-t", "direct"])
        .code(5)
        .stderr(["ERROR: (406, \"PRECONDITION_FAILED - inequivalent arg 'type'[..]"]);
    delete_queue(broker(), &q);
    delete_exchange(&x);
}

#[test]
fn pub_sets_every_property_flag_on_the_message() {
    let q = fresh_queue("props");
    amqpctl(&[
        "pub",
        "-k",
        &q,
        "--confirm",
        "--persistent",
        "-m",
        "{}",
        "--content-type",
        "application/json",
        "--content-encoding",
        "identity",
        "--header",
        "n=42",
        "--header",
        "ok=true",
        "--header",
        "who=me",
        "--correlation-id",
        "c-1",
        "--reply-to",
        "answers",
        "--expiration",
        "60000",
        "--priority",
        "5",
        "--message-id",
        "m-1",
        "--type",
        "t",
        "--app-id",
        "amqpctl",
    ])
    .code(0)
    .stdout(["Sent: {}"]);
    let (conn, ch) = open(&plain(broker()));
    let (d, _) = ch.basic_get(&q, true).unwrap().expect("message");
    let p = d.properties();
    assert_eq!(d.body(), b"{}");
    assert_eq!(p.delivery_mode, Some(2));
    assert_eq!(p.content_type.as_deref(), Some("application/json"));
    assert_eq!(p.content_encoding.as_deref(), Some("identity"));
    let h = p.headers.expect("headers");
    assert_eq!(h.get("n"), Some(&Value::I64(42)));
    assert_eq!(h.get("ok"), Some(&Value::Bool(true)));
    assert_eq!(h.get("who"), Some(&Value::Str("me".into())));
    assert_eq!(p.correlation_id.as_deref(), Some("c-1"));
    assert_eq!(p.reply_to.as_deref(), Some("answers"));
    assert_eq!(p.expiration.as_deref(), Some("60000"));
    assert_eq!(p.priority, Some(5));
    assert_eq!(p.message_id.as_deref(), Some("m-1"));
    assert_eq!(p.kind.as_deref(), Some("t"));
    assert_eq!(p.app_id.as_deref(), Some("amqpctl"));
    ch.queue_delete(&q, false, false).unwrap();
    ch.close().unwrap();
    conn.close().unwrap();
}

#[test]
fn binary_bodies_go_from_stdin_to_stdout_byte_for_byte() {
    let q = fresh_queue("binary");
    let body: Vec<u8> = vec![0, 255, 10, 13, 0xc3, 0x28, b'x'];
    // A body from stdin is summarised, not echoed.
    amqpctl_stdin(&["pub", "-k", &q, "-m", "-", "--confirm"], &body)
        .code(0)
        .stdout(["Sent: (7 bytes)"]);
    let mut received = b"Received: ".to_vec();
    received.extend_from_slice(&body);
    received.push(b'\n');
    amqpctl(&["con", "-q", &q, "--count", "1"])
        .code(0)
        .stdout_bytes(&received);
    delete_queue(broker(), &q);
}

#[test]
fn count_takes_exactly_n_and_leaves_the_rest_queued() {
    let q = fresh_queue("count");
    amqpctl(&[
        "pub",
        "-k",
        &q,
        "--nb-messages",
        "10",
        "--interval",
        "0",
        "--confirm",
        "-m",
        "m",
    ])
    .code(0)
    .stdout((1..=10).map(|i| format!("Sent: {i}:m")));
    amqpctl(&["con", "-q", &q, "--count", "4"]).code(0).stdout([
        "Received: 1:m",
        "Received: 2:m",
        "Received: 3:m",
        "Received: 4:m",
    ]);
    assert_eq!(messages(broker(), &q), 6);
    delete_queue(broker(), &q);
}

#[test]
fn ack_auto_with_count_takes_exactly_n_even_with_prefetch_1() {
    // The broker ignores prefetch for a no-ack consumer and pushes all 50.
    let q = filled_queue("count-ack-auto", 50, "m");
    amqpctl(&["con", "-q", &q, "--ack-auto", "--count", "1"])
        .code(0)
        .stdout(["Received: 1:m"]);
    assert_eq!(messages(broker(), &q), 49);
    amqpctl(&[
        "con",
        "-q",
        &q,
        "--ack-auto",
        "--count",
        "3",
        "--prefetch",
        "1",
    ])
    .code(0)
    .stdout(["Received: 2:m", "Received: 3:m", "Received: 4:m"]);
    assert_eq!(messages(broker(), &q), 46);
    delete_queue(broker(), &q);
}

#[test]
fn idle_timeout_ends_a_consumer_that_has_drained_the_queue() {
    let q = filled_queue("idle", 3, "Hello World!");
    let started = Instant::now();
    amqpctl(&["con", "-q", &q, "--idle-timeout", "0.5"])
        .code(0)
        .stdout((1..=3).map(|i| format!("Received: {i}:Hello World!")));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(messages(broker(), &q), 0);
    delete_queue(broker(), &q);
}

#[test]
fn sigterm_stops_a_consumer_cleanly() {
    let q = fresh_queue("sigterm");
    let mut con = spawn_amqpctl(&["con", "-q", &q]);
    amqpctl(&["pub", "-k", &q, "--confirm", "-m", "one"])
        .code(0)
        .stdout(["Sent: one"]);
    assert_eq!(
        con.next_stdout_line(Duration::from_secs(15)),
        "Received: one"
    );
    con.signal(libc::SIGTERM);
    con.exits_with(0, Duration::from_secs(15));
    assert_eq!(messages(broker(), &q), 0, "the printed message was acked");
    delete_queue(broker(), &q);
}

#[test]
fn a_closed_stdout_ends_con_quietly_without_acking_unwritten_messages() {
    let q = filled_queue("pipe", 2000, "line");
    // `amqpctl con | head -c 20`: head reads a little, then closes the pipe.
    let mut con = Cmd::amqpctl_on(broker(), &["con", "-q", &q, "--prefetch", "10"]).spawn_piped();
    let mut stdout = con.take_stdout();
    let mut first = [0u8; 20];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    // A closed pipe is not an error.
    con.wait(Duration::from_secs(15)).code(0).no_stderr();
    // Only what fit in the pipe before it closed can have been acked.
    let left = messages(broker(), &q);
    assert!(left > 0 && left < 2000, "{left} left");
    delete_queue(broker(), &q);
}

#[test]
fn a_closed_stdout_does_not_stop_pub_half_way() {
    // `amqpctl pub … | head -1`: stdout is a report, the job is publishing.
    // More than a pipe holds, so that pub writes after the reader left.
    for (n, extra) in [("20000", None), ("20000", Some("--confirm"))] {
        let q = fresh_queue("pub-pipe");
        let mut args = vec!["pub", "-k", &q, "--nb-messages", n, "--interval", "0"];
        args.extend(extra);
        args.extend(["-m", "x"]);
        let mut publisher = Cmd::amqpctl_on(broker(), &args).spawn_piped();
        let mut stdout = publisher.take_stdout();
        let mut first = [0u8; 8];
        stdout.read_exact(&mut first).unwrap();
        drop(stdout);
        publisher
            .wait(Duration::from_secs(60))
            .code(0)
            .stderr(["WARNING: stdout was closed; the work goes on, its report lines are dropped"]);
        wait_for_messages(broker(), &q, n.parse().unwrap());
        delete_queue(broker(), &q);
    }
}

#[test]
fn amqp_url_from_the_environment_is_used() {
    let q = unique("url-env");
    let url = format!("amqp://guest:guest@127.0.0.1:{}/%2f", broker().amqp_port());
    Cmd::amqpctl(&["pub", "-q", &q, "-Q", "-k", &q])
        .env("AMQP_URL", &url)
        .run()
        .code(0)
        .stdout(["Sent: Hello World!"])
        .stderr([
            "WARNING: the connection is not secured.".to_string(),
            format!("Created queue: {q}"),
        ]);
}

#[test]
fn a_cluster_list_falls_through_to_the_live_node() {
    let b = broker();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = free.local_addr().unwrap().port();
    drop(free);
    let q = unique("cluster");
    let (down, up) = (
        format!("amqp://127.0.0.1:{dead}"),
        format!("amqp://127.0.0.1:{}", b.amqp_port()),
    );
    let urls = ["--url", &down, "--url", &up];
    Cmd::amqpctl(&[&urls[..], &declaring_pub(&q, &[])].concat())
        .run()
        .code(0)
        .stdout(["Sent: Hello World!"]);
    assert_eq!(drain(b, &q), vec![b"Hello World!".to_vec()]);
    delete_queue(b, &q);
}

#[test]
fn pub_stops_at_a_signal_while_its_stdin_is_idle() {
    // `tail -f log | amqpctl pub --lines`, and `pub -m -` waiting for its
    // body: a FIFO whose writer has gone quiet. The signal comes once, or
    // twice at once as `timeout` and process-group kills send it.
    let cases: [(&[&str], &str, &str, usize); 3] = [
        (
            &["--lines"],
            "one\n",
            "Stopped by signal 15: 1 messages sent",
            1,
        ),
        (
            &["--lines"],
            "one\n",
            "Stopped by signal 15: 1 messages sent",
            2,
        ),
        (
            &["-m", "-"],
            "part",
            "Stopped by signal 15: 0 messages sent",
            1,
        ),
    ];
    for (extra, written, report, signals) in cases {
        let q = fresh_queue("pub-idle-stdin");
        let dir = tempfile::tempdir().expect("temp dir");
        let fifo = dir.path().join("fifo");
        let made = Cmd::new("mkfifo", &[fifo.to_str().expect("a UTF-8 path")]).run();
        made.code(0);
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let writer_fifo = fifo.clone();
        let bytes = written.as_bytes().to_vec();
        let writer = std::thread::spawn(move || {
            let mut w = std::fs::OpenOptions::new()
                .write(true)
                .open(&writer_fifo)
                .expect("the FIFO's write end");
            std::io::Write::write_all(&mut w, &bytes).expect("written");
            // Held open, idle, until the test is done.
            let _ = done_rx.recv_timeout(Duration::from_secs(60));
        });
        let mut args = vec![
            "-c".to_string(),
            "exec \"$0\" \"$@\" < \"$FIFO\"".to_string(),
            crate::support::run::AMQPCTL.to_string(),
        ];
        args.extend(crate::support::run::connection_flags(broker()));
        args.extend(["pub", "-k", &q].map(str::to_string));
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut publisher = Cmd::new("/bin/sh", &args).env("FIFO", &fifo).spawn();
        if extra == ["--lines"] {
            wait_for_messages(broker(), &q, 1);
        } else {
            std::thread::sleep(Duration::from_millis(500));
        }
        let signalled = Instant::now();
        for _ in 0..signals {
            publisher.signal(libc::SIGTERM);
        }
        publisher.exits_with(143, Duration::from_secs(5));
        let took = signalled.elapsed();
        assert!(
            took < Duration::from_millis(900),
            "{extra:?}: took {took:?}"
        );
        let err = publisher.stderr_lines_so_far();
        assert!(err.iter().any(|l| l == report), "{extra:?}: {err:?}");
        let _ = done_tx.send(());
        writer.join().expect("the writer");
        delete_queue(broker(), &q);
    }
}

#[test]
fn declaring_what_exists_says_declared_and_results_go_to_stdout() {
    let (q, x) = (unique("declared-twice"), unique("declared-twice-x"));
    amqpctl(&["declare", "queue", &q])
        .code(0)
        .no_stderr()
        .stdout([format!("Created queue: {q} (messages: 0, consumers: 0)")]);
    fill(broker(), &q, 3, "m{seq}");
    amqpctl(&["declare", "queue", &q])
        .code(0)
        .no_stderr()
        .stdout([format!("Declared queue: {q} (messages: 3, consumers: 0)")]);
    declare_exchange(&x, &[]);
    amqpctl(&["declare", "exchange", &x])
        .code(0)
        .stdout([format!("Declared exchange: {x}")]);
    amqpctl(&["purge", &q])
        .code(0)
        .no_stderr()
        .stdout([format!("Purged queue: {q} (3 messages)")]);
    amqpctl(&["delete", "queue", &q])
        .code(0)
        .no_stderr()
        .stdout([format!("Deleted queue: {q} (0 messages)")]);
    delete_exchange(&x);
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
    delete_queues(broker(), &[&q, &to]);
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
