//! pub, con and declare beyond the walkthrough: declare with typed
//! arguments and --passive, message properties from flags, bodies from
//! stdin, binary-safe output, --count / --idle-timeout, signals, and a
//! closed stdout.

use std::io::Read;
use std::time::{Duration, Instant};

use amqpctl::amqp::Value;

use crate::support::{
    Cmd, amqpctl, amqpctl_stdin, broker, delete_queue, drain, durable_queue, fill, filled_queue,
    fresh_queue, messages, open, plain, spawn_amqpctl, unique,
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
    amqpctl(&["declare", "exchange", &x, "-t", "topic"])
        .code(0)
        .stdout([format!("Created exchange: {x}")]);
    amqpctl(&["declare", "exchange", &y, "-t", "fanout", "--auto-delete"])
        .code(0)
        .stdout([format!("Created exchange: {y}")]);
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
    amqpctl(&["delete", "exchange", &x])
        .code(0)
        .stdout([format!("Deleted exchange: {x}")]);
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
    Cmd::amqpctl(&[
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
    ])
    .run()
    .code(0)
    .stdout(["Sent: Hello World!"]);
    assert_eq!(drain(b, &q), vec![b"Hello World!".to_vec()]);
    delete_queue(b, &q);
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
    amqpctl(&["declare", "exchange", &x])
        .code(0)
        .stdout([format!("Created exchange: {x}")]);
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
    amqpctl(&["delete", "exchange", &x])
        .code(0)
        .stdout([format!("Deleted exchange: {x}")]);
}
