//! `amqpctl rpc` against tutorial 6's pika client and server, and against
//! itself; a missing server times out (exit 9) or is reported unroutable, a
//! failed server command is reported to the caller, and an abandoned request
//! expires from the queue.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{
    Cmd, Spawned, amqpctl, broker, declare_queue, pika_python, spawn_amqpctl_until, unique,
    wait_for_messages,
};

fn script(name: &str) -> String {
    format!("{}/tests/pika/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// `amqpctl rpc serve -q Q -Q --exec EXEC --count 1`, once it has declared
/// its queue: it answers one call, then exits 0.
fn serve_once(q: &str, exec: &str) -> Spawned {
    let serve = [
        "rpc", "serve", "-q", q, "-Q", "--exec", exec, "--count", "1",
    ];
    spawn_amqpctl_until(&serve, "Created queue", Duration::from_secs(15)).0
}

#[test]
fn rpc_call_gets_its_answer_from_the_pika_tutorial_server() {
    let q = unique("rpc_queue");
    let port = broker().amqp_port().to_string();
    let mut server = Spawned::start({
        let mut c = Command::new(pika_python());
        c.args([script("rpc_server.py"), port, q.clone(), "2".into()]);
        c
    });
    assert_eq!(server.next_stdout_line(Duration::from_secs(30)), "ready");
    for (n, fib) in [("30", "832040"), ("10", "55")] {
        amqpctl(&["rpc", "call", "-k", &q, "-m", n, "--timeout", "10"])
            .code(0)
            .stdout([fib]);
    }
    server.exits_with(0, Duration::from_secs(15));
}

#[test]
fn rpc_serve_answers_the_pika_tutorial_client() {
    let q = unique("rpc_queue");
    let mut server = serve_once(&q, "read n; echo $((n * n))");
    let port = broker().amqp_port().to_string();
    // The reply is echo's line, newline included; print() adds another.
    Cmd::new(pika_python(), &[&script("rpc_client.py"), &port, &q, "12"])
        .run()
        .code(0)
        .stdout(["144", ""]);
    // serve exits after --count.
    server.exits_with(0, Duration::from_secs(15));
}

#[test]
fn a_call_nobody_answers_times_out_and_an_unroutable_one_returns() {
    let q = unique("rpc_idle");
    amqpctl(&["declare", "queue", &q, "--auto-delete"])
        .code(0)
        .stdout([format!("Created queue: {q} (messages: 0, consumers: 0)")]);
    amqpctl(&["rpc", "call", "-k", &q, "-m", "1", "--timeout", "0.5"])
        .code(9)
        .stderr(["ERROR: no reply within 0.5 s"]);
    amqpctl(&[
        "rpc",
        "call",
        "-k",
        &unique("nobody"),
        "-m",
        "1",
        "--timeout",
        "20",
    ])
    .code(6)
    .stderr(["ERROR: message returned by the broker: (312, \"NO_ROUTE\")"]);
    amqpctl(&["delete", "queue", &q]).code(0);
}

#[test]
fn rpc_call_message_dash_reads_the_request_from_stdin() {
    let q = unique("rpc-stdin");
    let mut server = serve_once(&q, "tr a-z A-Z");
    crate::support::amqpctl_stdin(
        &["rpc", "call", "-k", &q, "-m", "-", "--timeout", "20"],
        b"from stdin",
    )
    .code(0)
    .stdout(["FROM STDIN"]);
    server.exits_with(0, Duration::from_secs(15));
    amqpctl(&["delete", "queue", &q]).code(0);
}

#[test]
fn timeouts_that_cannot_work_are_refused_before_connecting() {
    // A closed port: reaching it would be exit 3, not 2.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port().to_string();
    drop(free);
    let at = |args: &[&str]| {
        let mut all = vec!["--server", "127.0.0.1", "--port-number", &port];
        all.extend_from_slice(args);
        Cmd::amqpctl(&all).run()
    };
    for (args, message) in [
        (
            vec!["rpc", "call", "-k", "q", "--timeout", "0"],
            "'0' is not a wait: give more than 0 seconds",
        ),
        (
            vec!["rpc", "call", "-k", "q", "--timeout", "1e10"],
            "'1e10' is longer than the 4294967 s a message may wait on RabbitMQ",
        ),
        (
            vec!["rpc", "call", "-k", "q", "--timeout", "-1"],
            "'-1' is not a valid number of seconds (must be 0 or more)",
        ),
        (
            vec!["con", "-q", "q", "--idle-timeout", "0"],
            "'0' is not a wait: give more than 0 seconds",
        ),
    ] {
        at(&args)
            .code(2)
            .stderr_has(format!("error: invalid value [..]: {message}"));
    }
    // -m takes a leading dash as its value.
    at(&["rpc", "call", "-k", "q", "-m", "-5", "--timeout", "1"]).code(3);
}

#[test]
fn a_failing_serve_command_answers_the_caller_with_its_stderr() {
    let q = unique("rpc-fail");
    let mut server = serve_once(&q, "echo boom >&2; exit 3");
    let started = Instant::now();
    let call = amqpctl(&["rpc", "call", "-k", &q, "-m", "hi", "--timeout", "20"]);
    assert!(started.elapsed() < Duration::from_secs(15), "waited it out");
    call.code(10)
        .no_stdout()
        .stderr(["ERROR: the server's --exec command exited with 3: boom"]);
    // serve exits after --count.
    server.exits_with(0, Duration::from_secs(15));
    amqpctl(&["delete", "queue", &q]).code(0);
}

#[test]
fn an_abandoned_call_expires_from_the_queue() {
    let q = unique("rpc-abandoned");
    declare_queue(&q, &[]);
    amqpctl(&["rpc", "call", "-k", &q, "-m", "1", "--timeout", "1"])
        .code(9)
        .stderr(["ERROR: no reply within 1 s"]);
    let timed_out = Instant::now();
    wait_for_messages(broker(), &q, 0);
    assert!(
        timed_out.elapsed() < Duration::from_secs(5),
        "the request took {:?} to expire",
        timed_out.elapsed()
    );
    amqpctl(&["delete", "queue", &q])
        .code(0)
        .stdout([format!("Deleted queue: {q} (0 messages)")]);
}
