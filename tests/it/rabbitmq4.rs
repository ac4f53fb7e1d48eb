//! What differs between RabbitMQ 3.x, 4.0 and 4.0 with 4.3's defaults
//! (`AMQPCTL_TEST_RABBITMQ`, `AMQPCTL_TEST_RABBITMQ_43_DEFAULTS`): each test
//! runs on every broker and branches on the one it found, so that a change
//! of behaviour shows as a failure, not a skip.

use std::time::Duration;

use amqpctl::amqp::{AmqpError, Connection, QueueOptions};

use crate::support::eventually_within;
use crate::support::{
    amqpctl, broker, delete_queue, plain, refuses_transient_queues, spawn_amqpctl_until,
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
    amqpctl(&["declare", "queue", &q])
        .code(0)
        .stdout([format!("Created queue: {q} (messages: 0, consumers: 0)")])
        .stderr(transient_warning(&q));
    assert_eq!(is_durable(&q), refuses_transient_queues());
    delete_queue(broker(), &q);
}

/// The walkthrough's fan-out subscriber without `--exclusive`: a
/// broker-named transient queue bound to the exchange.
#[test]
fn a_bound_broker_named_queue_works_where_transient_queues_are_refused() {
    let x = unique("fanout");
    let subscriber = ["con", "-e", &x, "-E", "-t", "fanout", "-Q", "--bind-queue"];
    let for_one = [&subscriber[..], &["--count", "1"]].concat();
    let (mut con, created) = spawn_amqpctl_until(&for_one, "Created queue", WAIT);
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

/// `x-delivery-count` of a delivery, 0 when absent (a first delivery).
fn delivery_count(d: &amqpctl::amqp::Delivery) -> i64 {
    use amqpctl::amqp::Value;
    match d
        .properties()
        .headers
        .and_then(|h| h.get("x-delivery-count").cloned())
    {
        Some(Value::I64(n)) => n,
        Some(Value::I32(n)) => i64::from(n),
        Some(Value::I16(n)) => i64::from(n),
        Some(Value::I8(n)) => i64::from(n),
        Some(other) => panic!("x-delivery-count {other:?}"),
        None => 0,
    }
}

/// The next message of `queue`, waiting for a requeue to land (a quorum
/// queue takes a moment).
fn get_soon(ch: &amqpctl::amqp::Channel, queue: &str, no_ack: bool) -> amqpctl::amqp::Delivery {
    eventually_within(WAIT, Duration::from_millis(20), queue, || {
        ch.basic_get(queue, no_ack)
            .expect("basic.get")
            .map(|(d, _)| d)
    })
}

/// Item 3's finding, on each broker: which requeue of a basic.get counts
/// against a quorum queue's delivery limit.
#[test]
fn which_requeue_counts_a_delivery_of_a_quorum_queue() {
    use amqpctl::amqp::{Properties, Publish, Table, Value};
    let q = unique("qq-count");
    let (conn, ch) = crate::support::open(&plain(broker()));
    let mut args = Table::new();
    args.insert("x-queue-type".into(), Value::Str("quorum".into()));
    ch.queue_declare(
        &q,
        &QueueOptions {
            durable: true,
            arguments: args,
            ..QueueOptions::default()
        },
    )
    .expect("declare");
    let props = Properties::default();
    ch.publish_confirmed(&Publish {
        exchange: "",
        routing_key: &q,
        body: b"peekme",
        properties: &props,
        mandatory: false,
    })
    .expect("publish");
    let mut seen = Vec::new();
    for how in ["nack", "nack", "reject", "reject", "nack"] {
        let d = get_soon(&ch, &q, false);
        seen.push((how, delivery_count(&d)));
        if how == "nack" {
            ch.basic_nack(d, false, true).expect("nack");
        } else {
            ch.basic_reject(d, true).expect("reject");
        }
    }
    // Left unsettled, returned by the channel's close.
    let d = get_soon(&ch, &q, false);
    seen.push(("close", delivery_count(&d)));
    ch.close().expect("close");
    let ch = conn.channel().expect("channel");
    let d = get_soon(&ch, &q, true);
    seen.push(("end", delivery_count(&d)));
    eprintln!(
        "amqpctl-it: RabbitMQ {:?}: {seen:?}",
        crate::support::rabbitmq_version()
    );
    let _ = ch.queue_delete(&q, false, false);
    let _ = ch.close();
    let _ = conn.close();
}

/// Item 3: peeking a quorum queue's message (`get --requeue`) says when it
/// used one of the message's deliveries and refuses before the one that
/// would leave none to spare; the message is still there. Old amqpctl
/// peeked on until 4.0 dropped the message without a word.
#[test]
fn peeking_a_quorum_queue_warns_and_refuses_before_the_delivery_limit() {
    let q = unique("peek");
    amqpctl(&["declare", "queue", &q, "--type", "quorum"]).code(0);
    amqpctl(&["pub", "-k", &q, "-m", "peekme", "--confirm"]).code(0);
    let mut refused_at = None;
    for peek in 1..=25 {
        let run = amqpctl(&["get", "-q", &q, "--requeue"]);
        let stderr = run.stderr_text();
        if stderr.contains("insist with --peek-past-limit") {
            run.code(2).no_stdout();
            refused_at = Some(peek);
            break;
        }
        let run = run.code(0).stdout(["Received: peekme"]);
        if peek > 1 {
            run.stderr([format!(
                "WARNING: this peek used one of the message's deliveries (delivery count now {peek}; a quorum queue drops or dead-letters it past its delivery limit, 20 by default)"
            )]);
        }
    }
    assert_eq!(
        refused_at,
        Some(20),
        "the peek that would leave no delivery to spare"
    );
    crate::support::wait_for_messages(broker(), &q, 1);
    amqpctl(&["get", "-q", &q, "--requeue", "--peek-past-limit"])
        .code(0)
        .stdout(["Received: peekme"]);
    delete_queue(broker(), &q);
}

/// Item 4: a body over RabbitMQ 4's default 16 MiB is warned about before
/// anything is sent; 4.x refuses it on one ERROR line with a hint naming
/// `max_message_size`, 3.10 (128 MiB by default) takes it.
#[test]
fn a_body_over_16_mib_is_warned_about_and_the_refusal_is_hinted() {
    let q = unique("big");
    amqpctl(&["declare", "queue", &q, "--durable"]).code(0);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("big.bin");
    let size = (16 << 20) + 1;
    std::fs::write(&file, vec![b'x'; size]).expect("write the body");
    let path = file.display().to_string();
    let run = amqpctl(&["pub", "-k", &q, "--file", &path, "--confirm"]);
    let warning = format!(
        "WARNING: the message is {size} bytes, over RabbitMQ 4's default max_message_size of 16777216: the broker may refuse it"
    );
    if crate::support::rabbitmq_version().0 >= 4 {
        run.code(5).stderr([
            warning,
            "ERROR: (406, \"PRECONDITION_FAILED - message size 16777217 is larger than configured max size 16777216\")".to_string(),
            "hint: the broker's max_message_size caps a message (16 MiB by default on RabbitMQ 4, 128 MiB on 3.x)".to_string(),
        ]);
        assert_eq!(crate::support::messages(broker(), &q), 0);
    } else {
        run.code(0).stderr([warning]);
        crate::support::wait_for_messages(broker(), &q, 1);
    }
    delete_queue(broker(), &q);
}
