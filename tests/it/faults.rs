//! Reliability under faults, on a private node of their own that they stop,
//! start and freeze (so they run one at a time): at-least-once across a
//! broker restart, --reconnect, heartbeats noticing a frozen broker, flow
//! control, failover to a second node, and consumers killed at random.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use amqpctl::amqp::{Connection, QueueOptions};

use crate::fixtures::{broker, drain, durable_queue, strs, with_port};
use crate::support::broker::Broker;
use crate::support::process::{Spawned, run, spawn, stderr_lines, stdout_lines};
use crate::support::unique;

/// The fault node, and the lock that keeps fault tests from overlapping.
/// The node is removed by the harness's watchdog when the tests end.
fn fault_node() -> MutexGuard<'static, Broker> {
    static NODE: OnceLock<Mutex<Broker>> = OnceLock::new();
    let guard = NODE
        .get_or_init(|| Mutex::new(Broker::start_private()))
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // A previous test may have failed with the node stopped or frozen.
    guard.thaw();
    if guard
        .ctl(&["await_startup", "--timeout", "1"])
        .status
        .success()
    {
        let _ = guard.ctl(&["set_vm_memory_high_watermark", "0.4"]);
    } else {
        guard.start_app();
    }
    guard
}

/// Bodies as text, as a set.
fn text(bodies: Vec<Vec<u8>>) -> BTreeSet<String> {
    bodies
        .into_iter()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect()
}

fn wait_lines(p: &Spawned, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            p.wait_stdout_line(Duration::from_secs(30))
                .unwrap_or_else(|| panic!("line {i} of {n} never came"))
        })
        .collect()
}

fn sent_bodies(lines: &[String]) -> BTreeSet<String> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("Sent: ").map(str::to_string))
        .collect()
}

#[test]
fn every_confirmed_message_survives_a_broker_restart_mid_stream() {
    let node = fault_node();
    let q = unique("restart");
    durable_queue(&node, &q);
    let mut publisher = spawn(&strs(&with_port(
        &node,
        &[
            "pub",
            "-k",
            &q,
            "--confirm",
            "--persistent",
            "--nb-messages",
            "1000000",
            "--interval",
            "0",
            "-m",
            "m{seq}",
        ],
    )));
    wait_lines(&publisher, 2000);
    node.stop_app();
    let status = publisher
        .wait_exit(Duration::from_secs(60))
        .expect("pub ends when the broker goes");
    assert_eq!(
        status.code(),
        Some(3),
        "{:?}",
        publisher.stderr_lines_so_far()
    );
    let err = publisher.stderr_lines_so_far();
    assert!(
        err.iter()
            .any(|l| l.starts_with("WARNING: ")
                && l.contains("published messages were not confirmed")),
        "{err:?}"
    );
    assert!(
        err.last().is_some_and(|l| l.starts_with("ERROR: ")),
        "{err:?}"
    );
    node.start_app();
    let sent = sent_bodies(&publisher.stdout_lines_so_far());
    let stored: BTreeSet<String> = text(drain(&node, &q));
    let lost: Vec<_> = sent.difference(&stored).take(5).collect();
    assert!(
        lost.is_empty(),
        "{} reported Sent but missing after the restart, e.g. {lost:?}",
        sent.difference(&stored).count()
    );
    assert!(sent.len() >= 2000);
}

#[test]
fn pub_reconnect_publishes_everything_across_a_restart() {
    let node = fault_node();
    let q = unique("pub-reconnect");
    durable_queue(&node, &q);
    let mut publisher = spawn(&strs(&with_port(
        &node,
        &[
            "pub",
            "-k",
            &q,
            "--confirm",
            "--persistent",
            "--reconnect",
            "--nb-messages",
            "3000",
            "--interval",
            "0.001",
            "-m",
            "r{seq}",
        ],
    )));
    wait_lines(&publisher, 300);
    node.stop_app();
    std::thread::sleep(Duration::from_secs(2));
    node.start_app();
    let status = publisher
        .wait_exit(Duration::from_secs(120))
        .expect("pub finishes");
    assert_eq!(
        status.code(),
        Some(0),
        "{:?}",
        publisher.stderr_lines_so_far()
    );
    let out = publisher.stdout_lines_so_far();
    assert_eq!(out.len(), 3000, "one Sent line per message, none twice");
    let expected: BTreeSet<String> = (1..=3000).map(|i| format!("r{i}")).collect();
    assert_eq!(sent_bodies(&out), expected);
    let stored: BTreeSet<String> = text(drain(&node, &q));
    assert_eq!(
        stored, expected,
        "at least once: every message is on the broker"
    );
    let err = publisher.stderr_lines_so_far();
    assert!(err.iter().any(|l| l.contains("reconnecting in")), "{err:?}");
}

#[test]
fn con_reconnect_goes_on_consuming_after_a_restart() {
    let node = fault_node();
    let q = unique("con-reconnect");
    let mut consumer = spawn(&strs(&with_port(
        &node,
        &[
            "con",
            "-q",
            &q,
            "-Q",
            "--durable-queue",
            "--nad-queue",
            "--reconnect",
        ],
    )));
    assert!(
        consumer
            .wait_stderr_containing("Created queue", Duration::from_secs(15))
            .is_some()
    );
    run(&strs(&with_port(
        &node,
        &["pub", "-k", &q, "--confirm", "-m", "before"],
    )));
    assert_eq!(wait_lines(&consumer, 1), vec!["Received: before"]);
    node.stop_app();
    assert!(
        consumer
            .wait_stderr_containing("reconnecting in", Duration::from_secs(15))
            .is_some()
    );
    node.start_app();
    assert!(
        consumer
            .wait_stderr_containing("Created queue", Duration::from_secs(60))
            .is_some(),
        "re-declared after reconnecting: {:?}",
        consumer.stderr_lines_so_far()
    );
    run(&strs(&with_port(
        &node,
        &["pub", "-k", &q, "--confirm", "-m", "after"],
    )));
    assert_eq!(wait_lines(&consumer, 1), vec!["Received: after"]);
    consumer.signal(libc::SIGINT);
    assert_eq!(
        consumer
            .wait_exit(Duration::from_secs(15))
            .and_then(|s| s.code()),
        Some(0)
    );
    run(&strs(&with_port(&node, &["delete", "queue", &q])));
}

#[test]
fn without_reconnect_a_lost_connection_exits_3_with_one_line() {
    let node = fault_node();
    let q = unique("no-reconnect");
    let mut consumer = spawn(&strs(&with_port(&node, &["con", "-q", &q, "-Q"])));
    assert!(
        consumer
            .wait_stderr_containing("Created queue", Duration::from_secs(15))
            .is_some()
    );
    node.stop_app();
    let status = consumer
        .wait_exit(Duration::from_secs(30))
        .expect("con exits");
    assert_eq!(status.code(), Some(3));
    let err = consumer.stderr_lines_so_far();
    assert_eq!(err.len(), 2, "{err:?}");
    assert!(
        err[1].starts_with("ERROR: (320, \"CONNECTION_FORCED"),
        "{err:?}"
    );
}

#[test]
fn heartbeats_notice_a_frozen_broker_for_an_idle_consumer_and_a_busy_publisher() {
    let node = fault_node();
    let q = unique("frozen");
    durable_queue(&node, &q);
    let mut consumer = spawn(&strs(&with_port(
        &node,
        &["con", "-q", &q, "--heartbeat", "2"],
    )));
    std::thread::sleep(Duration::from_millis(500));
    let mut publisher = spawn(&strs(&with_port(
        &node,
        &[
            "pub",
            "-k",
            &unique("frozen-pub"),
            "--heartbeat",
            "2",
            "--confirm",
            "--nb-messages",
            "10000000",
            "--interval",
            "0",
            "--quiet",
        ],
    )));
    std::thread::sleep(Duration::from_secs(1));
    node.freeze();
    let frozen = Instant::now();
    for (who, p) in [("consumer", &mut consumer), ("publisher", &mut publisher)] {
        let status = p
            .wait_exit(Duration::from_secs(20))
            .unwrap_or_else(|| panic!("{who} never noticed"));
        assert_eq!(
            status.code(),
            Some(3),
            "{who}: {:?}",
            p.stderr_lines_so_far()
        );
        let err = p.stderr_lines_so_far();
        assert!(
            err.last()
                .is_some_and(|l| l.contains("missed heartbeats from the broker")),
            "{who}: {err:?}"
        );
    }
    let took = frozen.elapsed();
    node.thaw();
    // 2 × heartbeat, plus timer slack.
    assert!(took < Duration::from_secs(8), "noticed after {took:?}");
}

#[test]
fn a_blocked_publisher_waits_says_why_and_resumes() {
    let node = fault_node();
    let q = unique("blocked");
    durable_queue(&node, &q);
    let mut publisher = spawn(&strs(&with_port(
        &node,
        &[
            "pub",
            "-k",
            &q,
            "--confirm",
            "--nb-messages",
            "6",
            "--interval",
            "0.3",
            "-m",
            "b{seq}",
        ],
    )));
    wait_lines(&publisher, 1);
    node.ctl_ok(&["set_vm_memory_high_watermark", "0"]);
    assert!(
        publisher
            .wait_stderr_containing("blocks publishing", Duration::from_secs(20))
            .is_some(),
        "{:?}",
        publisher.stderr_lines_so_far()
    );
    std::thread::sleep(Duration::from_secs(1));
    node.ctl_ok(&["set_vm_memory_high_watermark", "0.4"]);
    let status = publisher
        .wait_exit(Duration::from_secs(30))
        .expect("pub finishes");
    assert_eq!(
        status.code(),
        Some(0),
        "{:?}",
        publisher.stderr_lines_so_far()
    );
    assert_eq!(publisher.stdout_lines_so_far().len(), 6);
    let err = publisher.stderr_lines_so_far();
    assert!(
        err.iter()
            .any(|l| l.starts_with("WARNING: the broker blocks publishing (low on memory)")),
        "{err:?}"
    );
    assert!(
        err.iter().any(|l| l == "The broker unblocked publishing"),
        "{err:?}"
    );
    assert_eq!(drain(&node, &q).len(), 6);
}

#[test]
fn blocked_timeout_turns_the_wait_into_exit_3() {
    let node = fault_node();
    let q = unique("blocked-timeout");
    durable_queue(&node, &q);
    let mut publisher = spawn(&strs(&with_port(
        &node,
        &[
            "pub",
            "-k",
            &q,
            "--confirm",
            "--nb-messages",
            "5",
            "--interval",
            "0.3",
            "--blocked-timeout",
            "1",
        ],
    )));
    wait_lines(&publisher, 1);
    node.ctl_ok(&["set_vm_memory_high_watermark", "0"]);
    let status = publisher
        .wait_exit(Duration::from_secs(30))
        .expect("pub gives up");
    node.ctl_ok(&["set_vm_memory_high_watermark", "0.4"]);
    assert_eq!(
        status.code(),
        Some(3),
        "{:?}",
        publisher.stderr_lines_so_far()
    );
    let err = publisher.stderr_lines_so_far();
    assert!(
        err.last().is_some_and(
            |l| l.starts_with("ERROR: the broker blocked publishing for more than 1 s")
        ),
        "{err:?}"
    );
}

#[test]
fn a_one_message_pub_under_an_alarm_says_so_and_honours_blocked_timeout() {
    let node = fault_node();
    let q = unique("blocked-one");
    durable_queue(&node, &q);
    node.ctl_ok(&["set_vm_memory_high_watermark", "0"]);
    // Without --confirm the block arrives after the publish is written, and
    // the close then waits on a broker that reads nothing.
    for extra in [&[][..], &["--confirm"][..]] {
        let mut args = vec!["pub", "-k", &q, "-m", "x", "--blocked-timeout", "2"];
        args.extend_from_slice(extra);
        let out = run(&strs(&with_port(&node, &args)));
        let err = stderr_lines(&out);
        assert_eq!(out.status.code(), Some(3), "{extra:?}: {err:?}");
        assert!(
            err.iter()
                .any(|l| l == "WARNING: the broker blocks publishing (low on memory); waiting"),
            "{extra:?}: {err:?}"
        );
        assert!(
            err.last().is_some_and(
                |l| l.starts_with("ERROR: the broker blocked publishing for more than 2 s")
            ),
            "{extra:?}: {err:?}"
        );
    }
    node.ctl_ok(&["set_vm_memory_high_watermark", "0.4"]);
}

#[test]
fn a_one_message_pub_under_an_alarm_completes_when_it_clears() {
    let node = fault_node();
    let q = unique("blocked-one-clears");
    durable_queue(&node, &q);
    node.ctl_ok(&["set_vm_memory_high_watermark", "0"]);
    let mut publisher = spawn(&strs(&with_port(&node, &["pub", "-k", &q, "-m", "x"])));
    assert!(
        publisher
            .wait_stderr_containing("blocks publishing (low on memory)", Duration::from_secs(10))
            .is_some(),
        "{:?}",
        publisher.stderr_lines_so_far()
    );
    node.ctl_ok(&["set_vm_memory_high_watermark", "0.4"]);
    let status = publisher
        .wait_exit(Duration::from_secs(30))
        .expect("pub finishes once unblocked");
    assert_eq!(
        status.code(),
        Some(0),
        "{:?}",
        publisher.stderr_lines_so_far()
    );
    assert_eq!(publisher.stdout_lines_so_far(), vec!["Sent: x"]);
    assert_eq!(drain(&node, &q), vec![b"x".to_vec()]);
}

#[test]
fn with_the_first_node_down_the_second_is_used() {
    let node = fault_node();
    node.stop_app();
    let q = unique("failover");
    let out = run(&[
        "--url",
        &format!("amqp://127.0.0.1:{}", node.amqp_port()),
        "--url",
        &format!("amqp://127.0.0.1:{}", broker().amqp_port()),
        "pub",
        "-q",
        &q,
        "-Q",
        "-k",
        &q,
        "--confirm",
    ]);
    node.start_app();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout_lines(&out), vec!["Sent: Hello World!"]);
    assert!(stderr_lines(&out).contains(&format!("Created queue: {q}")));
}

#[test]
fn consumers_killed_at_random_lose_nothing() {
    // On the shared node: nothing here stops the broker.
    let q = unique("sigkill");
    let out = run(&strs(&with_port(
        broker(),
        &["declare", "queue", &q, "--durable"],
    )));
    assert_eq!(out.status.code(), Some(0));
    let total = 3000;
    let out = run(&strs(&with_port(
        broker(),
        &[
            "pub",
            "-k",
            &q,
            "--confirm",
            "--nb-messages",
            &total.to_string(),
            "--interval",
            "0",
            "-m",
            "k{seq}",
            "--quiet",
        ],
    )));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let mut printed = BTreeSet::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..40 {
        let mut c = spawn(&strs(&with_port(
            broker(),
            &["con", "-q", &q, "--prefetch", "50", "--idle-timeout", "2"],
        )));
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(30 + seed % 300));
        c.signal(libc::SIGKILL);
        c.wait_exit(Duration::from_secs(10));
        printed.extend(c.stdout_lines_so_far());
        if printed.len() >= total && round > 3 {
            break;
        }
    }
    let out = run(&strs(&with_port(
        broker(),
        &["con", "-q", &q, "--idle-timeout", "2"],
    )));
    printed.extend(stdout_lines(&out));
    let expected: BTreeSet<String> = (1..=total).map(|i| format!("Received: k{i}")).collect();
    let missing: Vec<_> = expected.difference(&printed).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} messages never printed, e.g. {missing:?}",
        expected.difference(&printed).count()
    );
    let conn = Connection::open(&crate::fixtures::plain(broker())).unwrap();
    let ch = conn.channel().unwrap();
    assert_eq!(
        ch.queue_declare(
            &q,
            &QueueOptions {
                passive: true,
                ..QueueOptions::default()
            }
        )
        .unwrap()
        .messages,
        0
    );
    ch.queue_delete(&q, false, false).unwrap();
    ch.close().unwrap();
    conn.close().unwrap();
}
