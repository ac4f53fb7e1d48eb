//! `con --exec` when the command keeps failing: a stop request still ends
//! the run, the back-off keeps it from spinning, and `--exec-max-attempts`
//! dead-letters a poison message (counted by amqpctl on a classic queue, by
//! the broker's delivery count on a quorum queue).

use std::time::Duration;

use crate::support::eventually::WAIT;
use crate::support::{
    Run, amqpctl, broker, delete_queue, delete_queues, drain, durable_queue, fill, filled_queue,
    messages, spawn_amqpctl, unique, wait_for_messages,
};

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

/// A queue of `kind` holding one message, "Hello World!", that dead-letters
/// into a fresh queue, which is returned too.
fn poisoned(name: &str, kind: &str) -> (String, String) {
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
    fill(broker(), &q, 1, "Hello World!");
    (q, dlq)
}

/// `amqpctl con -q Q --exec "exit 1" --exec-max-attempts 3 EXTRA`: a command
/// that always fails, given three attempts at a message.
fn three_failed_attempts(q: &str, extra: &[&str]) -> Run {
    let con = [
        "con",
        "-q",
        q,
        "--exec",
        "exit 1",
        "--exec-max-attempts",
        "3",
    ];
    amqpctl(&[&con[..], extra].concat())
}

#[test]
fn exec_max_attempts_dead_letters_a_poison_message_counted_by_amqpctl() {
    let (q, dlq) = poisoned("poison", "classic");
    three_failed_attempts(&q, &["--exec-backoff", "0", "--idle-timeout", "2"])
        .code(0)
        .stderr([
        "WARNING: --exec command exited with 1 for delivery 1 (attempt 1): requeued",
        "WARNING: --exec command exited with 1 for delivery 2 (attempt 2): requeued",
        "WARNING: --exec command exited with 1 for delivery 3: rejected after 3 attempts (--exec-max-attempts)",
    ]);
    assert_eq!(messages(broker(), &q), 0);
    assert_eq!(drain(broker(), &dlq), vec![b"Hello World!".to_vec()]);
    delete_queues(broker(), &[&q, &dlq]);
}

#[test]
fn exec_max_attempts_uses_the_brokers_delivery_count_on_a_quorum_queue() {
    let (q, dlq) = poisoned("poison-quorum", "quorum");
    // Two earlier deliveries that amqpctl's con never saw: only the
    // broker's x-delivery-count remembers them.
    for _ in 0..2 {
        amqpctl(&["get", "-q", &q, "--requeue"])
            .code(0)
            .stdout(["Received: Hello World!"]);
    }
    three_failed_attempts(&q, &["--count", "1"])
        .code(0)
        .stderr([
        "WARNING: --exec command exited with 1 for delivery 1: rejected after 3 attempts (--exec-max-attempts)",
    ]);
    wait_for_messages(broker(), &dlq, 1);
    assert_eq!(messages(broker(), &q), 0);
    delete_queues(broker(), &[&q, &dlq]);
}
