//! What differs between RabbitMQ 3.x, 4.0 and 4.0 with 4.3's defaults
//! (`AMQPCTL_TEST_RABBITMQ`, `AMQPCTL_TEST_RABBITMQ_43_DEFAULTS`): each test
//! runs on every broker and branches on the one it found, so that a change
//! of behaviour shows as a failure, not a skip.

use std::time::Duration;

use amqpctl::amqp::{AmqpError, Connection, QueueOptions};

use crate::support::{
    amqpctl, broker, delete_queue, plain, refuses_transient_queues, spawn_amqpctl,
    transient_warning, unique, wait_for_consumers,
};

const WAIT: Duration = Duration::from_secs(15);

/// `durable` of `queue` as rabbitmqctl lists it on `/`.
fn is_durable(queue: &str) -> bool {
    let listed = broker().ctl_ok(&[
        "list_queues",
        "name",
        "durable",
        "--no-table-headers",
        "--quiet",
    ]);
    listed
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .find(|(name, _)| *name == queue)
        .map(|(_, durable)| durable.trim() == "true")
        .unwrap_or_else(|| panic!("no {queue} in:\n{listed}"))
}

/// Item 1 of issue 19: `declare queue NAME` declares a transient shared
/// queue; a broker that refuses those gets a durable one and the user one
/// WARNING line, where the old code exited 3 with the broker's 541.
#[test]
fn declare_queue_works_where_transient_queues_are_refused() {
    let q = unique("transient");
    let mut lines = transient_warning(&q);
    lines.push(format!("Created queue: {q} (messages: 0, consumers: 0)"));
    amqpctl(&["declare", "queue", &q]).code(0).stderr(lines);
    assert_eq!(is_durable(&q), refuses_transient_queues());
    delete_queue(broker(), &q);
}

/// The walkthrough's fan-out subscriber without `--exclusive`: a
/// broker-named transient queue bound to the exchange.
#[test]
fn a_bound_broker_named_queue_works_where_transient_queues_are_refused() {
    let x = unique("fanout");
    let mut con = spawn_amqpctl(&[
        "con",
        "-e",
        &x,
        "-E",
        "-t",
        "fanout",
        "-Q",
        "--bind-queue",
        "--count",
        "1",
    ]);
    let created = con.await_stderr("Created queue", WAIT);
    let queue = created.trim_start_matches("Created queue: ").to_string();
    wait_for_consumers(broker(), &queue, 1);
    amqpctl(&["pub", "-e", &x, "-m", "to all"]).code(0);
    assert_eq!(con.next_stdout_line(WAIT), "Received: to all");
    con.exits_with(0, WAIT);
    let stderr = con.stderr_lines_so_far();
    let warned = stderr.iter().any(|l| {
        l.starts_with("WARNING: the broker refuses transient non-exclusive queues")
            && l.ends_with("declaring queue (broker-named) durable")
    });
    assert_eq!(warned, refuses_transient_queues(), "stderr: {stderr:?}");
    amqpctl(&["delete", "exchange", &x]).code(0);
}

/// Item 2: a broker close whose text has newlines (4.x's deprecated
/// feature 541) reaches the user as one line, and is told apart from a lost
/// connection. Where the broker takes the queue, it is simply declared.
#[test]
fn a_refused_transient_queue_is_one_line_and_not_a_lost_connection() {
    let q = unique("refused");
    let conn = Connection::open(&plain(broker())).expect("connect");
    let ch = conn.channel().expect("channel");
    let declared = ch.queue_declare(&q, &QueueOptions::default());
    if refuses_transient_queues() {
        let e = declared.expect_err("4.3's defaults refuse a transient shared queue");
        let text = e.to_string();
        assert!(
            matches!(e, AmqpError::ConnectionClosed { code: 541, .. }),
            "{text}"
        );
        assert!(e.is_deprecated_feature(), "{text}");
        assert!(!text.contains('\n'), "{text:?}");
        assert!(text.contains("transient_nonexcl_queues"), "{text}");
    } else {
        declared.expect("3.x and 4.0 take a transient shared queue");
        let _ = ch.queue_delete(&q, false, false);
        let _ = ch.close();
        let _ = conn.close();
    }
}
