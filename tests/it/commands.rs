//! pub, con and declare beyond the walkthrough: declare with typed
//! arguments and --passive, message properties from flags, bodies from
//! stdin, binary-safe output, --count / --idle-timeout, signals, and a
//! closed stdout.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use amqpctl::amqp::{Connection, Value};

use crate::fixtures::{
    amqpctl, broker, delete_queue, durable_queue, messages, open, plain, port_args, strs, with_port,
};
use crate::support::process::{run, run_with_stdin, spawn, stderr_lines, stdout_lines};
use crate::support::unique;

#[test]
fn declare_queue_with_typed_arguments_prints_counts() {
    let q = unique("declared");
    let out = amqpctl(&[
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
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        stderr_lines(&out),
        vec![format!("Created queue: {q} (messages: 0, consumers: 0)")]
    );
    let listed = broker().ctl_ok(&[
        "list_queues",
        "name",
        "durable",
        "arguments",
        "--no-table-headers",
        "--quiet",
    ]);
    let line = listed.lines().find(|l| l.starts_with(&q)).expect("listed");
    assert!(line.contains("true"), "{line}");
    assert!(
        line.contains("x-message-ttl") && line.contains("60000"),
        "{line}"
    );
    let out = amqpctl(&["declare", "queue", &q, "--passive"]);
    assert_eq!(
        stderr_lines(&out),
        vec![format!("Queue exists: {q} (messages: 0, consumers: 0)")]
    );
    delete_queue(broker(), &q);
}

#[test]
fn declare_passive_of_a_missing_queue_exits_5_with_the_404() {
    let q = unique("absent");
    let out = amqpctl(&["declare", "queue", &q, "--passive"]);
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    assert_eq!(
        stderr_lines(&out),
        vec![format!(
            "ERROR: (404, \"NOT_FOUND - no queue '{q}' in vhost '/'\")"
        )]
    );
}

#[test]
fn declare_exchange_and_bindings_route_messages() {
    let (x, y, q) = (unique("dx"), unique("dy"), unique("dq"));
    let out = amqpctl(&["declare", "exchange", &x, "-t", "topic"]);
    assert_eq!(stderr_lines(&out), vec![format!("Created exchange: {x}")]);
    let out = amqpctl(&["declare", "exchange", &y, "-t", "fanout", "--auto-delete"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    durable_queue(broker(), &q);
    let out = amqpctl(&[
        "declare",
        "binding",
        "-e",
        &x,
        "--to-exchange",
        &y,
        "-k",
        "a.*",
    ]);
    assert_eq!(
        stderr_lines(&out),
        vec![format!("Bound Exchange [{y}] to Exchange [{x}] a.*")]
    );
    let out = amqpctl(&["declare", "binding", "-e", &y, "-q", &q]);
    assert_eq!(
        stderr_lines(&out),
        vec![format!("Bound Queue [{q}] to Exchange [{y}]")]
    );
    for key in ["a.b", "b.a"] {
        let out = amqpctl(&["pub", "-e", &x, "-k", key, "--confirm"]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
    }
    assert_eq!(messages(broker(), &q), 1);
    let out = amqpctl(&["declare", "exchange", &x, "--passive"]);
    assert_eq!(stderr_lines(&out), vec![format!("Exchange exists: {x}")]);
    let out = amqpctl(&["declare", "exchange", &x, "-t", "direct"]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "redeclared with another type: {out:?}"
    );
    assert!(
        stderr_lines(&out)[0]
            .starts_with("ERROR: (406, \"PRECONDITION_FAILED - inequivalent arg 'type'"),
        "{out:?}"
    );
    delete_queue(broker(), &q);
    let (conn, ch) = open(&plain(broker()));
    ch.exchange_delete(&x, false).unwrap();
    ch.close().unwrap();
    conn.close().unwrap();
}

#[test]
fn pub_sets_every_property_flag_on_the_message() {
    let q = unique("props");
    durable_queue(broker(), &q);
    let out = amqpctl(&[
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
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
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
    let q = unique("binary");
    durable_queue(broker(), &q);
    let body: Vec<u8> = vec![0, 255, 10, 13, 0xc3, 0x28, b'x'];
    let out = run_with_stdin(
        &strs(&with_port(
            broker(),
            &["pub", "-k", &q, "-m", "-", "--confirm"],
        )),
        &body,
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // A body from stdin is summarised, not echoed.
    assert_eq!(stdout_lines(&out), vec!["Sent: (7 bytes)"]);
    let out = amqpctl(&["con", "-q", &q, "--count", "1"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let mut received = b"Received: ".to_vec();
    received.extend_from_slice(&body);
    received.push(b'\n');
    assert_eq!(out.stdout, received);
    delete_queue(broker(), &q);
}

#[test]
fn count_takes_exactly_n_and_leaves_the_rest_queued() {
    let q = unique("count");
    durable_queue(broker(), &q);
    let out = amqpctl(&[
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
    ]);
    assert_eq!(stdout_lines(&out).len(), 10, "{out:?}");
    let out = amqpctl(&["con", "-q", &q, "--count", "4"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        stdout_lines(&out),
        vec![
            "Received: 1:m",
            "Received: 2:m",
            "Received: 3:m",
            "Received: 4:m"
        ]
    );
    assert_eq!(messages(broker(), &q), 6);
    delete_queue(broker(), &q);
}

#[test]
fn idle_timeout_ends_a_consumer_that_has_drained_the_queue() {
    let q = unique("idle");
    durable_queue(broker(), &q);
    amqpctl(&[
        "pub",
        "-k",
        &q,
        "--nb-messages",
        "3",
        "--interval",
        "0",
        "--confirm",
    ]);
    let started = Instant::now();
    let out = amqpctl(&["con", "-q", &q, "--idle-timeout", "0.5"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout_lines(&out).len(), 3);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(messages(broker(), &q), 0);
    delete_queue(broker(), &q);
}

#[test]
fn sigterm_stops_a_consumer_cleanly() {
    let q = unique("sigterm");
    durable_queue(broker(), &q);
    let mut con = spawn(&strs(&with_port(broker(), &["con", "-q", &q])));
    amqpctl(&["pub", "-k", &q, "--confirm", "-m", "one"]);
    assert_eq!(
        con.wait_stdout_line(Duration::from_secs(15)).as_deref(),
        Some("Received: one")
    );
    con.signal(libc::SIGTERM);
    let status = con.wait_exit(Duration::from_secs(15)).expect("exits");
    assert_eq!(status.code(), Some(0), "{:?}", con.stderr_lines_so_far());
    assert_eq!(messages(broker(), &q), 0, "the printed message was acked");
    delete_queue(broker(), &q);
}

#[test]
fn a_closed_stdout_ends_con_quietly_without_acking_unwritten_messages() {
    let q = unique("pipe");
    durable_queue(broker(), &q);
    amqpctl(&[
        "pub",
        "-k",
        &q,
        "--nb-messages",
        "2000",
        "--interval",
        "0",
        "--confirm",
        "-m",
        "line",
    ]);
    // `amqpctl con | head -c 20`: head reads a little, then closes the pipe.
    let mut con = Command::new(env!("CARGO_BIN_EXE_amqpctl"))
        .args(port_args(broker()))
        .args(["con", "-q", &q, "--prefetch", "10"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = con.stdout.take().unwrap();
    let mut first = [0u8; 20];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = con.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "con kept running after its stdout closed"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    con.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(err, "", "a closed pipe is not an error");
    // Only what fit in the pipe before it closed can have been acked.
    let left = messages(broker(), &q);
    assert!(left > 0 && left < 2000, "{left} left");
    delete_queue(broker(), &q);
}

#[test]
fn amqp_url_from_the_environment_is_used() {
    let q = unique("url-env");
    let b = broker();
    let url = format!("amqp://guest:guest@127.0.0.1:{}/%2f", b.amqp_port());
    let mut cmd = crate::support::process::command(&["pub", "-q", &q, "-Q", "-k", &q]);
    cmd.env("AMQP_URL", &url);
    let out = crate::support::process::output_with_timeout(
        cmd,
        crate::support::process::Stdin::Null,
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        stderr_lines(&out),
        vec![
            "WARNING: the connection is not secured.".to_string(),
            format!("Created queue: {q}")
        ]
    );
}

#[test]
fn a_cluster_list_falls_through_to_the_live_node() {
    let b = broker();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = free.local_addr().unwrap().port();
    drop(free);
    let q = unique("cluster");
    let out = run(&[
        "--url",
        &format!("amqp://127.0.0.1:{dead}"),
        "--url",
        &format!("amqp://127.0.0.1:{}", b.amqp_port()),
        "pub",
        "-q",
        &q,
        "-Q",
        "-k",
        &q,
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout_lines(&out), vec!["Sent: Hello World!"]);
    let _ = Connection::open(&plain(b)).map(|c| c.close());
}
