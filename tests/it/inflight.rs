//! `--max-inflight-bytes` (issue 22 item 3): a consumer of large bodies
//! lowers its prefetch so that prefetch x body size stays under the budget,
//! small bodies keep theirs, and through every change each message arrives
//! exactly once and in order (`con` on a queue and a stream, `move`).
//! What the prefetch is, the broker says (`rabbitmqctl list_consumers`) or
//! amqpctl's debug line for each consumer it starts (`-vv`).

use std::time::Duration;

use amqpctl::amqp::{Properties, Publish};

use crate::support::{
    amqpctl, broker, delete_queue, delete_queues, eventually, fresh_queue, fresh_stream, messages,
    open, plain, spawn_amqpctl, unique,
};

const WAIT: Duration = Duration::from_secs(30);

/// A large body: 256 KiB, so that a budget of 1 MiB lets 4 in flight.
const LARGE: usize = 256 * 1024;

/// Message `i`'s body: `iiiii:` then `size` bytes in all.
fn body(i: usize, size: usize) -> Vec<u8> {
    let mut b = format!("{i:05}:").into_bytes();
    b.resize(size.max(b.len()), b'x');
    b
}

/// Publishes the bodies to `queue` (default exchange) with confirms.
fn publish(queue: &str, bodies: impl IntoIterator<Item = Vec<u8>>) {
    let (conn, ch) = open(&plain(broker()));
    ch.confirm_delivery().expect("confirm mode");
    for b in bodies {
        ch.basic_publish(&Publish {
            exchange: "",
            routing_key: queue,
            body: &b,
            properties: &Properties::default(),
            mandatory: true,
        })
        .expect("publish");
    }
    ch.wait_confirms(0, |_, _| {}).expect("confirms");
    ch.close().expect("close the channel");
    conn.close().expect("close the connection");
}

/// Messages `from..to`: small ones, or of `size` bytes.
fn numbered(from: usize, to: usize, size: usize) -> impl Iterator<Item = Vec<u8>> {
    (from..to).map(move |i| body(i, size))
}

/// The numbers of the `Received: iiiii:…` lines, in order.
fn numbers(lines: &[String]) -> Vec<usize> {
    lines
        .iter()
        .map(|l| {
            let n = l.strip_prefix("Received: ").unwrap_or(l);
            n[..5]
                .parse()
                .unwrap_or_else(|_| panic!("not numbered: {n:.20}"))
        })
        .collect()
}

/// The prefetch of each consumer amqpctl started on `queue`, in order, from
/// its `-vv` debug lines.
fn prefetches(stderr: &[String], queue: &str) -> Vec<u16> {
    let needle = format!("consumer of '{queue}' with prefetch ");
    stderr
        .iter()
        .filter_map(|l| l.split_once(&needle))
        .map(|(_, rest)| {
            let n = rest.split(' ').next().unwrap_or_default();
            n.parse()
                .unwrap_or_else(|_| panic!("no prefetch in {rest}"))
        })
        .collect()
}

/// The prefetch of `queue`'s consumers, as the broker lists them.
fn broker_prefetch(queue: &str) -> Vec<String> {
    broker()
        .ctl_ok(&[
            "list_consumers",
            "-p",
            "/",
            "queue_name",
            "prefetch_count",
            "--no-table-headers",
            "--quiet",
        ])
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(q, _)| q.trim() == queue)
        .map(|(_, p)| p.trim().to_string())
        .collect()
}

/// Waits until the broker lists one consumer of `queue`, with `prefetch`.
#[track_caller]
fn wait_prefetch(queue: &str, prefetch: u16) {
    let want = vec![prefetch.to_string()];
    eventually(
        &format!("{queue}'s consumer with prefetch {prefetch}"),
        || {
            let seen = broker_prefetch(queue);
            if seen == want {
                Ok(())
            } else {
                Err(format!("{seen:?}"))
            }
        },
    );
}

#[test]
fn con_of_large_bodies_lowers_its_prefetch_then_small_ones_raise_it_again() {
    let q = fresh_queue("inflight-con");
    publish(&q, numbered(0, 20, LARGE));
    let con = spawn_amqpctl(&["con", "-q", &q, "--max-inflight-bytes", "1MiB"]);
    // 1 MiB / 256 KiB: 4 in flight.
    wait_prefetch(&q, 4);
    eventually("the large ones taken", || messages(broker(), &q) == 0);
    // 200 small ones: once 64 to 128 came without a large one, --prefetch.
    publish(&q, numbered(20, 220, 0));
    wait_prefetch(&q, 1000);
    let lines = con.next_stdout_lines(220, WAIT);
    con.interrupt(WAIT);
    assert_eq!(numbers(&lines), (0..220).collect::<Vec<_>>());
    assert_eq!(messages(broker(), &q), 0);
    delete_queue(broker(), &q);
}

#[test]
fn con_of_small_bodies_keeps_its_prefetch_under_a_budget() {
    let q = fresh_queue("inflight-small");
    publish(&q, numbered(0, 300, 0));
    let con = spawn_amqpctl(&[
        "con",
        "-q",
        &q,
        "--prefetch",
        "500",
        "--max-inflight-bytes",
        "1MiB",
    ]);
    let lines = con.next_stdout_lines(300, WAIT);
    wait_prefetch(&q, 500);
    con.interrupt(WAIT);
    assert_eq!(numbers(&lines), (0..300).collect::<Vec<_>>());
    delete_queue(broker(), &q);
}

/// Publishes 300 messages to `queue`: 50 small, 30 large, 220 small.
fn publish_mixed(queue: &str) {
    publish(
        queue,
        numbered(0, 50, 0)
            .chain(numbered(50, 80, LARGE))
            .chain(numbered(80, 300, 0)),
    );
}

/// Takes the 300 of [`publish_mixed`] with `con --count 300` under a
/// budget of 1 MiB (and `extra` flags): each once, in order, the prefetch
/// starting at 1 until a body is known, then --count's 300, 4 for the large
/// ones and 300 again.
#[track_caller]
fn con_takes_the_mixed_ones(queue: &str, extra: &[&str]) {
    let mut args = vec!["con", "-q", queue, "--count", "300"];
    args.extend(["--max-inflight-bytes", "1MiB", "-vv"]);
    args.extend(extra);
    let run = amqpctl(&args).code(0);
    assert_eq!(numbers(&run.stdout_lines()), (0..300).collect::<Vec<_>>());
    assert_eq!(prefetches(&run.stderr_lines(), queue), [1, 300, 4, 300]);
}

#[test]
fn con_takes_mixed_bodies_exactly_once_in_order_through_each_change() {
    let q = fresh_queue("inflight-mixed");
    publish_mixed(&q);
    con_takes_the_mixed_ones(&q, &[]);
    assert_eq!(messages(broker(), &q), 0);
    delete_queue(broker(), &q);
}

#[test]
fn a_stream_reader_attaches_after_the_last_offset_at_each_change() {
    let q = fresh_stream("inflight-stream");
    publish_mixed(&q);
    con_takes_the_mixed_ones(&q, &["--offset", "first"]);
    delete_queue(broker(), &q);
}

#[test]
fn move_of_large_bodies_lowers_the_source_prefetch_and_keeps_every_message_in_order() {
    let (from, to) = (fresh_queue("inflight-from"), fresh_queue("inflight-to"));
    publish_mixed(&from);
    let run = amqpctl(&[
        "move",
        "-q",
        &from,
        "--to-queue",
        &to,
        "--max-inflight-bytes",
        "1MiB",
        "-vv",
    ])
    .code(0)
    .no_stdout();
    assert!(
        run.stderr_lines().contains(&format!(
            "Moved 300 of 300 messages from queue {from} to queue {to}"
        )),
        "{}",
        run.stderr_text()
    );
    // The first message's size (basic.get) sets it from the start: twice
    // the default window of 1,000, then 4 for the large ones, then 2,000
    // again.
    assert_eq!(prefetches(&run.stderr_lines(), &from), [2000, 4, 2000]);
    assert_eq!(messages(broker(), &from), 0);
    let got = amqpctl(&["con", "-q", &to, "--count", "300"]).code(0);
    assert_eq!(numbers(&got.stdout_lines()), (0..300).collect::<Vec<_>>());
    assert_eq!(messages(broker(), &to), 0);
    delete_queues(broker(), &[&from, &to]);
}

#[test]
fn redrive_of_large_bodies_makes_room_for_those_it_leaves_and_loses_none() {
    let (work, dlq) = (unique("inflight-work"), fresh_queue("inflight-dlq"));
    let dead_letters = [
        "--arg",
        "x-dead-letter-exchange=",
        "--arg",
        &format!("x-dead-letter-routing-key={dlq}"),
    ];
    amqpctl(&[&["declare", "queue", &work][..], &dead_letters].concat()).code(0);
    // 20 rejected in the work queue (dead letters with an origin), then 20
    // published into the DLQ directly (no x-death: left in place).
    publish(&work, numbered(0, 20, LARGE));
    amqpctl(&[
        "con",
        "-q",
        &work,
        "--count",
        "20",
        "--exec",
        "exit 1",
        "--no-requeue",
    ])
    .code(0);
    eventually("the rejected ones dead-lettered", || {
        messages(broker(), &dlq) == 20
    });
    publish(&dlq, numbered(20, 40, LARGE));
    let run = amqpctl(&["redrive", "-q", &dlq, "--max-inflight-bytes", "1MiB", "-vv"]).code(0);
    let stderr = run.stderr_lines();
    assert!(
        stderr.contains(&format!("Redrove 20 of 40 messages from queue {dlq}")),
        "{}",
        run.stderr_text()
    );
    // 4 for the budget, then more as each left one is held (bodies freed).
    let seen = prefetches(&stderr, &dlq);
    assert_eq!(seen.first(), Some(&4), "{seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]) && seen.len() > 1,
        "{seen:?}"
    );
    let in_order = |q: &str| {
        let bodies = crate::support::drain(broker(), q);
        let lines: Vec<String> = bodies
            .iter()
            .map(|b| String::from_utf8_lossy(b).into())
            .collect();
        numbers(&lines)
    };
    assert_eq!(in_order(&work), (0..20).collect::<Vec<_>>());
    assert_eq!(in_order(&dlq), (20..40).collect::<Vec<_>>());
    delete_queues(broker(), &[&work, &dlq]);
}

/// A large body goes to stdout from the delivery, not through the batch's
/// buffer: between small ones, in `received` and `body` formats, every byte
/// comes out once, in order, with its prefix and delimiter.
#[test]
fn large_bodies_between_small_ones_are_written_byte_exact() {
    let q = fresh_queue("inflight-exact");
    let large: Vec<u8> = (0..LARGE).map(|i| (i % 251) as u8).collect();
    let bodies = || [b"a".to_vec(), large.clone(), b"b".to_vec()];
    publish(&q, bodies());
    let mut received = b"Received: a\nReceived: ".to_vec();
    received.extend_from_slice(&large);
    received.extend_from_slice(b"\nReceived: b\n");
    amqpctl(&["con", "-q", &q, "--count", "3"])
        .code(0)
        .stdout_bytes(&received);
    publish(&q, bodies());
    let mut raw = b"a\0".to_vec();
    raw.extend_from_slice(&large);
    raw.extend_from_slice(b"\0b\0");
    amqpctl(&[
        "con",
        "-q",
        &q,
        "--count",
        "3",
        "--format",
        "body",
        "--delimiter",
        "\\0",
    ])
    .code(0)
    .stdout_bytes(&raw);
    assert_eq!(messages(broker(), &q), 0);
    delete_queue(broker(), &q);
}
