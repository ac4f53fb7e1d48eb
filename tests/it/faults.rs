//! Reliability under faults, on private nodes that they stop, start and
//! freeze (each test leases one of two, so at most two run at once): at-least-once across a
//! broker restart, --reconnect, heartbeats noticing a frozen broker, flow
//! control, failover to a second node, and consumers killed at random.

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use crate::support::eventually;
use crate::support::pool::{Lease, Pool};
use crate::support::{
    Broker, Cmd, Spawned, amqpctl, amqpctl_on, broker, declaring_pub, delete_queue, drain,
    durable_queue, fill, fresh_queue, full_queue, messages, spawn_amqpctl, spawn_amqpctl_on,
    unique, wait_for_consumers,
};

const WAIT: Duration = Duration::from_secs(30);

/// A fault node of this test's own: one of two, leased until dropped. The
/// nodes are removed by their watchdogs (see `support::broker`) when the
/// tests end.
fn fault_node() -> Lease<Broker> {
    static NODES: Pool<Broker, 2> = Pool::new();
    let guard = NODES.lease(Broker::start_private);
    // A previous test may have failed with the node crashed, stopped or frozen.
    if !guard.is_running() {
        guard.boot_again();
    }
    guard.thaw();
    if guard
        .ctl(&["await_startup", "--timeout", "1"])
        .status
        .success()
    {
        clear_memory_alarm(&guard);
    } else {
        guard.start_app();
    }
    guard
}

/// [`fault_node`] and a fresh durable queue on it, named after `name`.
fn fault_node_with_queue(name: &str) -> (Lease<Broker>, String) {
    let node = fault_node();
    let q = unique(name);
    durable_queue(&node, &q);
    (node, q)
}

/// Sets `node`'s memory watermark to 0: a memory alarm, so the broker blocks publishers.
fn raise_memory_alarm(node: &Broker) {
    node.ctl_ok(&["set_vm_memory_high_watermark", "0"]);
}

/// Sets `node`'s memory watermark back to RabbitMQ's default, 0.4: the alarm clears.
fn clear_memory_alarm(node: &Broker) {
    node.ctl_ok(&["set_vm_memory_high_watermark", "0.4"]);
}

/// Bodies as text, as a set.
fn text(bodies: Vec<Vec<u8>>) -> BTreeSet<String> {
    bodies
        .into_iter()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect()
}

/// Waits until a channel on `node` is in confirm mode: a publisher is at work.
fn wait_for_a_confirm_channel(node: &Broker) {
    eventually("a publisher", || {
        let listed = node.ctl_ok(&["list_channels", "confirm", "--no-table-headers", "--quiet"]);
        if listed.lines().any(|l| l.trim() == "true") {
            Ok(())
        } else {
            Err(listed)
        }
    });
}

/// Starts `amqpctl pub -k KEY --confirm --nb-messages N --interval SECS EXTRA..`
/// against `node`.
fn confirmed_pub(node: &Broker, key: &str, n: &str, interval: &str, extra: &[&str]) -> Spawned {
    let mut args = vec![
        "pub",
        "-k",
        key,
        "--confirm",
        "--nb-messages",
        n,
        "--interval",
        interval,
    ];
    args.extend_from_slice(extra);
    spawn_amqpctl_on(node, &args)
}

fn sent_bodies(lines: &[String]) -> BTreeSet<String> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("Sent: ").map(str::to_string))
        .collect()
}

#[test]
fn every_confirmed_message_survives_a_broker_restart_mid_stream() {
    let (node, q) = fault_node_with_queue("restart");
    let mut publisher = confirmed_pub(&node, &q, "1000000", "0", &["--persistent", "-m", "m{seq}"]);
    publisher.next_stdout_lines(2000, WAIT);
    node.stop_app();
    // pub ends when the broker goes.
    publisher.exits_with(3, Duration::from_secs(60));
    let err = publisher.stderr_lines_so_far();
    // "N published messages were not confirmed", or "1 published message was".
    assert!(
        err.iter().any(|l| l.starts_with("WARNING: ")
            && l.ends_with(" not confirmed; they may or may not be on the broker")),
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
fn every_confirmed_message_survives_a_node_crash() {
    let (node, q) = fault_node_with_queue("crash");
    let mut publisher = confirmed_pub(&node, &q, "1000000", "0", &["--persistent", "-m", "c{seq}"]);
    publisher.next_stdout_lines(2000, WAIT);
    // SIGKILL, not a clean stop: nothing is flushed on the way down.
    node.crash();
    publisher.exits_with(3, Duration::from_secs(60));
    let crashed = Instant::now();
    node.boot_again();
    let back = crashed.elapsed();
    let sent = sent_bodies(&publisher.stdout_lines_so_far());
    let stored = drain(&node, &q);
    let found = stored.len();
    let stored = text(stored);
    let duplicates = found - stored.len();
    let lost: Vec<_> = sent.difference(&stored).take(5).collect();
    eprintln!(
        "figures: crash of a single node: {} confirmed (Sent:), {found} found after the reboot \
         ({} unconfirmed ones among them), {duplicates} duplicates, node back in {back:.1?}",
        sent.len(),
        stored.difference(&sent).count(),
    );
    assert!(
        lost.is_empty(),
        "{} reported Sent but missing after the crash, e.g. {lost:?}",
        sent.difference(&stored).count()
    );
    assert!(sent.len() >= 2000);
    let err = publisher.stderr_lines_so_far();
    assert!(
        err.last().is_some_and(|l| l.starts_with("ERROR: ")),
        "{err:?}"
    );
}

#[test]
fn pub_reconnect_publishes_everything_across_a_restart() {
    let (node, q) = fault_node_with_queue("pub-reconnect");
    let mut publisher = confirmed_pub(
        &node,
        &q,
        "3000",
        "0.001",
        &["--persistent", "--reconnect", "-m", "r{seq}"],
    );
    publisher.next_stdout_lines(300, WAIT);
    node.stop_app();
    publisher.await_stderr("reconnecting in", WAIT);
    node.start_app();
    // pub finishes.
    publisher.exits_with(0, Duration::from_secs(120));
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
    let mut consumer = spawn_amqpctl_on(
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
    );
    consumer.await_stderr("Created queue", WAIT);
    amqpctl_on(&node, &["pub", "-k", &q, "--confirm", "-m", "before"])
        .code(0)
        .stdout(["Sent: before"]);
    assert_eq!(consumer.next_stdout_line(WAIT), "Received: before");
    node.stop_app();
    consumer.await_stderr("reconnecting in", WAIT);
    node.start_app();
    // Re-declared after reconnecting.
    consumer.await_stderr("Created queue", Duration::from_secs(60));
    amqpctl_on(&node, &["pub", "-k", &q, "--confirm", "-m", "after"])
        .code(0)
        .stdout(["Sent: after"]);
    assert_eq!(consumer.next_stdout_line(WAIT), "Received: after");
    consumer.signal(libc::SIGINT);
    consumer.exits_with(0, Duration::from_secs(15));
    amqpctl_on(&node, &["delete", "queue", &q])
        .code(0)
        .stdout([format!("Deleted queue: {q} (0 messages)")]);
}

#[test]
fn without_reconnect_a_lost_connection_exits_3_with_one_line() {
    let node = fault_node();
    let q = unique("no-reconnect");
    let mut consumer = spawn_amqpctl_on(&node, &["con", "-q", &q, "-Q"]);
    consumer.await_stderr("Created queue", WAIT);
    node.stop_app();
    consumer.exits_with(3, Duration::from_secs(30));
    let err = consumer.stderr_lines_so_far();
    assert_eq!(err.len(), 2, "{err:?}");
    assert!(
        err[1].starts_with("ERROR: (320, \"CONNECTION_FORCED"),
        "{err:?}"
    );
}

#[test]
fn heartbeats_notice_a_frozen_broker_for_an_idle_consumer_and_a_busy_publisher() {
    let (node, q) = fault_node_with_queue("frozen");
    let mut consumer = spawn_amqpctl_on(&node, &["con", "-q", &q, "--heartbeat", "2"]);
    wait_for_consumers(&*node, &q, 1);
    let mut publisher = confirmed_pub(
        &node,
        &unique("frozen-pub"),
        "10000000",
        "0",
        &["--heartbeat", "2", "--quiet"],
    );
    wait_for_a_confirm_channel(&node);
    node.freeze();
    let frozen = Instant::now();
    for (who, p) in [("consumer", &mut consumer), ("publisher", &mut publisher)] {
        p.exits_with(3, Duration::from_secs(20));
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
    let (node, q) = fault_node_with_queue("blocked");
    // Long enough to be still publishing when the alarm, a rabbitmqctl call
    // away, is raised.
    let mut publisher = confirmed_pub(&node, &q, "20", "0.3", &["-m", "b{seq}"]);
    publisher.next_stdout_lines(1, WAIT);
    raise_memory_alarm(&node);
    publisher.await_stderr("blocks publishing", WAIT);
    // The alarm lasts a while: pub is to wait it out, not give up.
    std::thread::sleep(Duration::from_secs(1));
    clear_memory_alarm(&node);
    // pub finishes.
    publisher.exits_with(0, Duration::from_secs(30));
    assert_eq!(publisher.stdout_lines_so_far().len(), 20);
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
    assert_eq!(drain(&node, &q).len(), 20);
}

#[test]
fn blocked_timeout_turns_the_wait_into_exit_3() {
    let (node, q) = fault_node_with_queue("blocked-timeout");
    // Long enough to be still publishing when the alarm is raised.
    let mut publisher = confirmed_pub(&node, &q, "100", "0.3", &["--blocked-timeout", "1"]);
    publisher.next_stdout_lines(1, WAIT);
    raise_memory_alarm(&node);
    // pub gives up (a failure leaves the alarm for fault_node() to clear).
    publisher.exits_with(3, Duration::from_secs(30));
    clear_memory_alarm(&node);
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
    let (node, q) = fault_node_with_queue("blocked-one");
    raise_memory_alarm(&node);
    // Without --confirm the block arrives after the publish is written, and
    // the close then waits on a broker that reads nothing.
    let waiting = "WARNING: the broker blocks publishing (low on memory); waiting";
    let gave_up = "ERROR: the broker blocked publishing for more than 2 s: low on memory";
    let publish = ["pub", "-k", &q, "-m", "x", "--blocked-timeout", "2"];
    amqpctl_on(&node, &publish)
        .code(3)
        .stdout(["Sent: x"])
        .stderr([waiting, gave_up]);
    amqpctl_on(&node, &[&publish[..], &["--confirm"]].concat())
        .code(3)
        .no_stdout()
        .stderr([
            waiting,
            "WARNING: 1 published message was not confirmed; they may or may not be on the broker",
            gave_up,
        ]);
    clear_memory_alarm(&node);
}

#[test]
fn a_sigterm_while_the_broker_blocks_publishing_is_reported_as_signal_15() {
    let (node, q) = fault_node_with_queue("blocked-sigterm");
    raise_memory_alarm(&node);
    let mut publisher = spawn_amqpctl_on(&node, &["pub", "-k", &q, "-m", "x", "--confirm"]);
    publisher.await_stderr("blocks publishing (low on memory)", Duration::from_secs(10));
    publisher.signal(libc::SIGTERM);
    // The real signal, not SIGINT's 2 and 130.
    publisher.exits_with(143, Duration::from_secs(30));
    clear_memory_alarm(&node);
    let err = publisher.stderr_lines_so_far();
    assert!(
        err.iter()
            .any(|l| l == "Stopped by signal 15: 0 of 1 messages published were confirmed"),
        "{err:?}"
    );
}

#[test]
fn a_one_message_pub_under_an_alarm_completes_when_it_clears() {
    let (node, q) = fault_node_with_queue("blocked-one-clears");
    raise_memory_alarm(&node);
    let mut publisher = spawn_amqpctl_on(&node, &["pub", "-k", &q, "-m", "x"]);
    publisher.await_stderr("blocks publishing (low on memory)", Duration::from_secs(10));
    clear_memory_alarm(&node);
    // pub finishes once unblocked.
    publisher.exits_with(0, Duration::from_secs(30));
    assert_eq!(publisher.stdout_lines_so_far(), vec!["Sent: x"]);
    assert_eq!(drain(&node, &q), vec![b"x".to_vec()]);
}

#[test]
fn with_the_first_node_down_the_second_is_used() {
    let node = fault_node();
    node.stop_app();
    let q = unique("failover");
    let (down, up) = (
        format!("amqp://127.0.0.1:{}", node.amqp_port()),
        format!("amqp://127.0.0.1:{}", broker().amqp_port()),
    );
    let urls = ["--url", &down, "--url", &up];
    let out = Cmd::amqpctl(&[&urls[..], &declaring_pub(&q, &["--confirm"])].concat()).run();
    node.start_app();
    out.code(0)
        .stdout(["Sent: Hello World!"])
        .stderr_has(format!("Created queue: {q}"));
}

#[test]
fn consumers_killed_at_random_lose_nothing() {
    // On the shared node: nothing here stops the broker.
    let q = fresh_queue("sigkill");
    let total = 3000;
    fill(broker(), &q, total, "k{seq}");
    let mut printed = BTreeSet::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..40 {
        let mut c = spawn_amqpctl(&["con", "-q", &q, "--prefetch", "50", "--idle-timeout", "2"]);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // Random jitter: the kill lands anywhere in con's work.
        std::thread::sleep(Duration::from_millis(30 + seed % 300));
        c.signal(libc::SIGKILL);
        let status = c.wait_exit(Duration::from_secs(10)).expect("killed");
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{status}");
        printed.extend(c.stdout_lines_so_far());
        if printed.len() >= total && round > 3 {
            break;
        }
    }
    let rest = amqpctl(&["con", "-q", &q, "--idle-timeout", "2"]).code(0);
    printed.extend(rest.stdout_lines());
    let expected: BTreeSet<String> = (1..=total).map(|i| format!("Received: k{i}")).collect();
    let missing: Vec<_> = expected.difference(&printed).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} messages never printed, e.g. {missing:?}",
        expected.difference(&printed).count()
    );
    assert_eq!(messages(broker(), &q), 0);
    delete_queue(broker(), &q);
}

#[test]
fn with_reconnect_a_queue_that_keeps_nacking_still_ends_in_exit_7() {
    // On the shared node: a full queue that refuses more (reject-publish) nacks every
    // message for good, unlike a cluster electing a quorum queue's leader.
    let q = full_queue("nack-reconnect", 1);
    let started = Instant::now();
    let run = amqpctl(&[
        "pub",
        "-k",
        &q,
        "--confirm",
        "--reconnect",
        "--nb-messages",
        "2",
        "--interval",
        "0",
        "-m",
        "n{seq}",
    ])
    .code(7)
    .stdout(["Sent: n1"]);
    let err = run.stderr_lines();
    let retried = err
        .iter()
        .filter(|l| l.starts_with("WARNING: the broker nacked message 2 (not stored); publishing it again; reconnecting in"))
        .count();
    assert_eq!(retried, 5, "{err:?}");
    assert_eq!(
        err.last().map(String::as_str),
        Some("ERROR: message 2 was nacked by the broker (not stored)"),
        "{err:?}"
    );
    eprintln!(
        "figures: a queue nacking for good: 5 retries, exit 7 after {:.1?}",
        started.elapsed()
    );
    assert_eq!(messages(broker(), &q), 1);
    delete_queue(broker(), &q);
}
