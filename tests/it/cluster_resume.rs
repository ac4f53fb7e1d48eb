//! Work that goes on where it stopped after a node of a private three-node cluster is
//! SIGKILLed (`cluster.rs`'s, see `support::cluster`): a stream reader attaches again after the last
//! offset it wrote, and `move --reconnect` takes up a transfer again. One test at a time;
//! each prints its figures (`figures: …` on stderr, shown with `--nocapture`) and boots
//! the killed node again so the next test has three.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant};

// The cluster of `cluster.rs`'s tests, locked as for theirs: one cluster, one test at a
// time.
use crate::cluster::cluster as three_nodes;
use crate::support::{Cluster, Cmd, unique};

/// `amqpctl` with `--url`s for nodes `order` (in that order), then `args`.
fn through(c: &Cluster, order: &[usize], args: &[&str]) -> Cmd {
    let flags = c.url_flags(order);
    let argv: Vec<&str> = flags
        .iter()
        .map(String::as_str)
        .chain(args.iter().copied())
        .collect();
    Cmd::amqpctl(&argv)
}

/// Node `first`, then the others: a client connects to `first`.
fn starting_at(c: &Cluster, first: usize) -> Vec<usize> {
    std::iter::once(first)
        .chain((1..=c.len()).filter(|&i| i != first))
        .collect()
}

/// Padding after a body's number (200 bytes), so that a pipe holds a few hundred lines.
const PAD: &str = concat!(
    "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp",
    "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp",
);

#[test]
fn a_stream_reader_with_count_resumes_after_the_last_offset_it_wrote() {
    let c = three_nodes();
    let s = unique("stream-resume");
    through(
        &c,
        &[1],
        &["declare", "queue", &s, "--durable", "--type", "stream"],
    )
    .run()
    .code(0);
    let leader = c.leader_of(&s);
    let others: Vec<usize> = starting_at(&c, leader).split_off(1);
    let (count, kill_at) = (3000, 600);
    let template = format!("{{seq}} {PAD}");
    let publish = ["pub", "-k", &s, "--confirm", "--quiet", "--interval", "0"];
    through(
        &c,
        &others,
        &[&publish[..], &["--nb-messages", "3500", "-m", &template]].concat(),
    )
    .run()
    .code(0);
    // Connected to the stream's leader, read through a pipe the test empties slowly, so
    // that the kill lands while the reader is blocked mid-read.
    let con = format!("con -q {s} --offset first --reconnect --prefetch 100 --count {count}");
    let con: Vec<&str> = con.split(' ').collect();
    let mut reader = through(&c, &starting_at(&c, leader), &con).spawn_piped();
    let lines = slow_lines(BufReader::new(reader.take_stdout()));
    let mut read = Vec::new();
    let mut killed = None;
    let mut longest = Duration::ZERO;
    let mut last = Instant::now();
    loop {
        match lines.recv_timeout(Duration::from_secs(90)) {
            Ok(line) => read.push(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("no line for 90 s after {}", read.len()),
        }
        if killed.is_some() {
            longest = longest.max(last.elapsed());
        }
        last = Instant::now();
        if read.len() == kill_at {
            c.kill(leader);
            killed = Some(Instant::now());
        }
    }
    let run = reader.wait(Duration::from_secs(60));
    let attempts = run
        .stderr_lines()
        .iter()
        .filter(|l| l.contains("reconnecting in"))
        .count();
    let mut seen = BTreeMap::new();
    for line in &read {
        *seen.entry(line.as_str()).or_insert(0) += 1;
    }
    let twice = seen.values().filter(|&&n| n > 1).count();
    eprintln!(
        "figures: stream resume, leader (node {leader}) SIGKILLed after {kill_at} lines read: \
         {} lines, {} distinct, {twice} read twice, {attempts} reconnect attempts, longest \
         pause between lines after the kill {longest:.1?}, all read {:.1?} after the kill",
        read.len(),
        seen.len(),
        killed.map_or(Duration::ZERO, |k| k.elapsed()),
    );
    let run = run.code(0);
    assert!(
        attempts > 0,
        "the kill landed after the reader was done: {:?}",
        run.stderr_lines()
    );
    assert_eq!(twice, 0, "lines read twice");
    let expected: Vec<String> = (1..=count)
        .map(|n| format!("Received: {n} {PAD}"))
        .collect();
    assert!(
        read == expected,
        "not messages 1 to {count} once each, in order"
    );
    c.boot_again(leader);
}

/// The lines of `pipe`, read one every 2 ms on a thread of their own; the channel closes at
/// the end of the pipe.
fn slow_lines(pipe: impl BufRead + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in pipe.lines() {
            let Ok(line) = line else { break };
            std::thread::sleep(Duration::from_millis(2));
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// How many messages `summary` (a `Moved …` line) says may be at the destination twice or
/// in both queues.
fn said_duplicates(summary: &str) -> u64 {
    summary
        .split("; ")
        .filter(|part| part.contains("twice") || part.contains("both queues"))
        .filter_map(|part| part.split(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn move_reconnect_loses_nothing_across_a_kill_of_the_source_queues_node() {
    let c = three_nodes();
    let (from, to) = (unique("move-from"), unique("move-to"));
    for (queue, via) in [(&from, 1), (&to, 2)] {
        let declare = ["declare", "queue", queue, "--durable", "--type", "quorum"];
        through(&c, &[via], &declare).run().code(0);
    }
    let leader = c.leader_of(&from);
    assert_ne!(
        c.leader_of(&to),
        leader,
        "the destination's leader is elsewhere"
    );
    let total = 20_000;
    let fill =
        format!("pub -k {from} --confirm --quiet --interval 0 --nb-messages {total} -m m{{seq}}");
    let fill: Vec<&str> = fill.split(' ').collect();
    through(&c, &starting_at(&c, leader)[1..], &fill)
        .timeout(Duration::from_secs(180))
        .run()
        .code(0);
    // Connected (source and destination alike) to the node of the source's leader.
    let mover = format!("move -q {from} --to-queue {to} --reconnect --rate 2500");
    let mover: Vec<&str> = mover.split(' ').collect();
    let mut mover = through(&c, &starting_at(&c, leader), &mover).spawn();
    let started = Instant::now();
    while c.queue_info(&to).is_none_or(|q| q.messages < 4000) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the move never got going"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    c.kill(leader);
    let killed = Instant::now();
    mover.exits_with(0, Duration::from_secs(240));
    let took = killed.elapsed();
    let err = mover.stderr_lines_so_far();
    let summary = err
        .iter()
        .find(|l| l.starts_with("Moved "))
        .unwrap_or_else(|| panic!("no summary line in {err:?}"));
    let attempts = err.iter().filter(|l| l.contains("reconnecting in")).count();
    let mut found = BTreeMap::new();
    let (at_destination, left) = (c.drain(&to), c.drain(&from));
    for body in at_destination.iter().chain(&left) {
        *found
            .entry(String::from_utf8_lossy(body).into_owned())
            .or_insert(0u64) += 1;
    }
    let twice: u64 = found.values().map(|n| n - 1).sum();
    let said = said_duplicates(summary);
    eprintln!(
        "figures: move --reconnect of {total}, the source's leader (node {leader}) SIGKILLed \
         after 4000 had arrived: {} at the destination, {} left in the source, {} distinct, \
         {twice} duplicates found, {said} said, {attempts} reconnect attempts, done {took:.1?} \
         after the kill; summary: {summary}",
        at_destination.len(),
        left.len(),
        found.len(),
    );
    assert!(attempts > 0, "the kill landed after the move: {err:?}");
    let missing: Vec<String> = (1..=total)
        .map(|n| format!("m{n}"))
        .filter(|b| !found.contains_key(b))
        .take(5)
        .collect();
    assert!(missing.is_empty(), "lost, e.g. {missing:?}");
    assert_eq!(found.len(), total, "only the bodies published");
    assert!(
        said >= twice,
        "{twice} duplicates, the summary says {said}: {summary}"
    );
    assert!(
        summary.contains(&format!(
            "of {total} messages from queue {from} to queue {to}"
        )),
        "{summary}"
    );
    c.boot_again(leader);
}
