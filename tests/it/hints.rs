//! The "Edges" issue: `get --count N --requeue` shows N distinct messages,
//! `delete` of something missing is an error unless `--if-exists`, a stream's
//! deletion reports its messages, errors carry hints in command-line words,
//! `rpc` reports a failed server command and lets abandoned requests expire,
//! and the manual page covers every subcommand and the exit codes.

use std::process::Output;

use crate::fixtures::{amqpctl, broker, drain, messages};
use crate::support::process::stdout_lines;
use crate::support::unique;

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

/// Publishes `n` messages (`template` with {seq}) to `queue`, confirmed.
fn publish(queue: &str, template: &str, n: usize) {
    let n = n.to_string();
    let out = amqpctl(&[
        "pub",
        "-k",
        queue,
        "--nb-messages",
        &n,
        "--interval",
        "0",
        "--confirm",
        "--quiet",
        "-m",
        template,
    ]);
    assert_eq!(code(&out), Some(0), "{out:?}");
}

fn declare_queue(queue: &str, extra: &[&str]) {
    let mut args = vec!["declare", "queue", queue];
    args.extend_from_slice(extra);
    let out = amqpctl(&args);
    assert_eq!(code(&out), Some(0), "{out:?}");
}

#[test]
fn get_count_requeue_shows_distinct_messages_and_keeps_them_in_order() {
    let q = unique("get-requeue");
    declare_queue(&q, &[]);
    publish(&q, "g-{seq}", 3);
    let out = amqpctl(&["get", "-q", &q, "--count", "3", "--requeue"]);
    assert_eq!(code(&out), Some(0), "{out:?}");
    assert_eq!(
        stdout_lines(&out),
        vec!["Received: g-1", "Received: g-2", "Received: g-3"]
    );
    assert_eq!(messages(broker(), &q), 3);

    // Without --requeue the messages shown are taken, the rest stay.
    let out = amqpctl(&["get", "-q", &q, "--count", "2"]);
    assert_eq!(code(&out), Some(0), "{out:?}");
    assert_eq!(stdout_lines(&out), vec!["Received: g-1", "Received: g-2"]);
    assert_eq!(messages(broker(), &q), 1);
    assert_eq!(drain(broker(), &q), vec![b"g-3".to_vec()]);
    amqpctl(&["delete", "queue", &q]);
}
