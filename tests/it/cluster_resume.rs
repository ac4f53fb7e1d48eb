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
use crate::support::{Cluster, Cmd, eventually_within, unique};

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

/// A three-replica stream named after `name`, its leader's node, and 3,500 messages
/// `{seq} PAD` published through the other nodes.
fn filled_stream(c: &Cluster, name: &str) -> (String, usize) {
    let s = unique(name);
    through(
        c,
        &[1],
        &["declare", "queue", &s, "--durable", "--type", "stream"],
    )
    .run()
    .code(0);
    let leader = c.leader_of(&s);
    let others: Vec<usize> = starting_at(c, leader).split_off(1);
    let template = format!("{{seq}} {PAD}");
    let publish = ["pub", "-k", &s, "--confirm", "--quiet", "--interval", "0"];
    through(
        c,
        &others,
        &[&publish[..], &["--nb-messages", "3500", "-m", &template]].concat(),
    )
    .run()
    .code(0);
    (s, leader)
}

/// How many of `items` are there more than once.
fn more_than_once<'a>(items: impl IntoIterator<Item = &'a str>) -> (usize, usize) {
    let mut seen = BTreeMap::new();
    for item in items {
        *seen.entry(item).or_insert(0) += 1;
    }
    (seen.len(), seen.values().filter(|&&n| n > 1).count())
}

/// The reconnect attempts `err` reports.
fn attempts_in(err: &[String]) -> usize {
    err.iter().filter(|l| l.contains("reconnecting in")).count()
}

/// `{n} PAD` for n from 1 to `count`: the bodies of [`filled_stream`], in order.
fn bodies_up_to(count: usize) -> Vec<String> {
    (1..=count).map(|n| format!("{n} {PAD}")).collect()
}

#[test]
fn a_stream_reader_with_count_resumes_after_the_last_offset_it_wrote() {
    let c = three_nodes();
    let (s, leader) = filled_stream(&c, "stream-resume");
    let (count, kill_at) = (3000, 600);
    // Connected to the stream's leader, read through a pipe the test empties slowly, so
    // that the kill lands while the reader is blocked mid-read; each message is saved too.
    let saved = tempfile::tempdir().expect("temp dir");
    let dir = saved.path().display().to_string();
    let con = format!("con -q {s} --offset first --reconnect --prefetch 100 --count {count}");
    let con: Vec<&str> = con.split(' ').chain(["--save-dir", &dir]).collect();
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
    let attempts = attempts_in(&run.stderr_lines());
    let (distinct, twice) = more_than_once(read.iter().map(String::as_str));
    let files = saved_bodies(saved.path());
    let (_, saved_twice) = more_than_once(files.iter().map(String::as_str));
    eprintln!(
        "figures: stream resume, leader (node {leader}) SIGKILLed after {kill_at} lines read: \
         {} lines, {distinct} distinct, {twice} read twice, {} saved, {saved_twice} saved \
         twice, {attempts} reconnect attempts, longest pause between lines after the kill \
         {longest:.1?}, all read {:.1?} after the kill",
        read.len(),
        files.len(),
        killed.map_or(Duration::ZERO, |k| k.elapsed()),
    );
    let run = run.code(0);
    assert!(
        attempts > 0,
        "the kill landed after the reader was done: {:?}",
        run.stderr_lines()
    );
    assert_eq!(twice, 0, "lines read twice");
    let expected = bodies_up_to(count);
    let printed: Vec<String> = expected.iter().map(|b| format!("Received: {b}")).collect();
    assert!(
        read == printed,
        "not messages 1 to {count} once each, in order"
    );
    assert_eq!(saved_twice, 0, "messages saved twice");
    assert!(
        files == expected,
        "not 1 to {count} saved once each, in order"
    );
    c.boot_again(leader);
}

/// The bodies `con --save-dir` wrote into `dir`, in the order of their numbers.
fn saved_bodies(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .expect("the --save-dir")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "body"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| String::from_utf8_lossy(&std::fs::read(p).expect("a body")).into_owned())
        .collect()
}

#[test]
fn a_stream_reader_with_exec_hands_no_message_twice_to_its_command_across_a_kill() {
    let c = three_nodes();
    let (s, leader) = filled_stream(&c, "stream-exec");
    let (count, kill_at) = (1500, 300);
    let out = tempfile::tempdir().expect("temp dir");
    let file = out.path().join("handed");
    // One command per message, each appending the body it was handed as a line.
    let exec = format!("{{ cat; echo; }} >> {}", file.display());
    let con = format!("con -q {s} --offset first --reconnect --prefetch 100 --count {count}");
    let con: Vec<&str> = con.split(' ').chain(["--exec", &exec]).collect();
    let mut reader = through(&c, &starting_at(&c, leader), &con).spawn();
    let handed = || {
        std::fs::read_to_string(&file)
            .map(|t| t.lines().map(str::to_string).collect::<Vec<String>>())
            .unwrap_or_default()
    };
    let (within, every) = (Duration::from_secs(90), Duration::from_millis(10));
    eventually_within(
        within,
        every,
        &format!("{kill_at} handed to --exec"),
        || {
            let n = handed().len();
            if n >= kill_at {
                Ok(())
            } else {
                Err(format!("{n} handed"))
            }
        },
    );
    c.kill(leader);
    let killed = Instant::now();
    reader.exits_with(0, Duration::from_secs(120));
    let took = killed.elapsed();
    let attempts = attempts_in(&reader.stderr_lines_so_far());
    let lines = handed();
    let (distinct, twice) = more_than_once(lines.iter().map(String::as_str));
    eprintln!(
        "figures: stream --exec resume, leader (node {leader}) SIGKILLed after {kill_at} \
         handed to --exec: {} handed, {distinct} distinct, {twice} twice, {attempts} \
         reconnect attempts, done {took:.1?} after the kill",
        lines.len(),
    );
    assert!(attempts > 0, "the kill landed after the reader was done");
    assert_eq!(twice, 0, "messages handed to --exec twice");
    assert!(
        lines == bodies_up_to(count),
        "not 1 to {count} handed once each, in order"
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

/// How many messages stderr lines `err` say may be at the destination twice or in both
/// queues (`move`'s summary, `redrive`'s warnings).
fn said_duplicates(err: &[String]) -> u64 {
    err.iter()
        .flat_map(|line| line.split("; "))
        .filter(|part| part.contains("twice") || part.contains("both"))
        .filter_map(|part| part.split(' ').find_map(|word| word.parse::<u64>().ok()))
        .sum()
}

/// How many times each body is in `queues`, which it drains, and how many each held.
fn bodies_in(c: &Cluster, queues: &[&str]) -> (BTreeMap<String, u64>, Vec<usize>) {
    let mut found = BTreeMap::new();
    let mut held = Vec::new();
    for queue in queues {
        let bodies = c.drain(queue);
        held.push(bodies.len());
        for body in bodies {
            *found
                .entry(String::from_utf8_lossy(&body).into_owned())
                .or_insert(0) += 1;
        }
    }
    (found, held)
}

/// Asserts that `found` holds `prefix1` to `prefix{total}` and nothing else, and that
/// `said` is at least the duplicates in it.
#[track_caller]
fn all_there_and_duplicates_said(
    found: &BTreeMap<String, u64>,
    prefix: &str,
    total: usize,
    said: u64,
) {
    let missing: Vec<String> = (1..=total)
        .map(|n| format!("{prefix}{n}"))
        .filter(|b| !found.contains_key(b))
        .take(5)
        .collect();
    assert!(missing.is_empty(), "lost, e.g. {missing:?}");
    assert_eq!(found.len(), total, "only the bodies published");
    let twice: u64 = found.values().map(|n| n - 1).sum();
    assert!(said >= twice, "{twice} duplicates, the summary says {said}");
}

/// Waits until `queue` holds `n` messages or more.
#[track_caller]
fn wait_for_at_least(c: &Cluster, queue: &str, n: u32) {
    let (within, every) = (Duration::from_secs(90), Duration::from_millis(100));
    eventually_within(within, every, &format!("{queue} to hold {n}"), || {
        c.queue_info(queue).is_some_and(|q| q.messages >= n)
    });
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
    wait_for_at_least(&c, &to, 4000);
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
    let (found, held) = bodies_in(&c, &[&to, &from]);
    let twice: u64 = found.values().map(|n| n - 1).sum();
    let said = summary_figures(summary);
    eprintln!(
        "figures: move --reconnect of {total}, the source's leader (node {leader}) SIGKILLed \
         after 4000 had arrived: {held:?} at the destination and left in the source, {} \
         distinct, {twice} duplicates found, {attempts} reconnect attempts, done {took:.1?} \
         after the kill; summary: {summary}",
        found.len(),
    );
    assert!(attempts > 0, "the kill landed after the move: {err:?}");
    assert!(
        summary.contains(&format!(
            "of {total} messages from queue {from} to queue {to}"
        )),
        "{summary}"
    );
    all_there_and_duplicates_said(&found, "m", total, said.twice + said.maybe_twice);
    // The summary's figures are what the broker holds: all moved, the source empty, and
    // the destination holding the moved ones, those said to be there twice, and at most
    // those said to be perhaps.
    assert_eq!(held[1], 0, "left in the source");
    assert_eq!(said.moved, total as u64, "{summary}");
    assert_eq!(said.both, 0, "{summary}");
    let at_destination = held[0] as u64;
    assert!(
        at_destination >= said.moved + said.twice
            && at_destination <= said.moved + said.twice + said.maybe_twice,
        "{at_destination} at the destination, the summary says {summary}"
    );
    c.boot_again(leader);
}

/// The figures of `move`'s summary line.
#[derive(Debug, Default)]
struct Summary {
    moved: u64,
    twice: u64,
    maybe_twice: u64,
    both: u64,
}

/// Reads `Moved N of …; K at the destination twice (…); M more may be at the destination
/// twice (…); B may be in both queues`.
fn summary_figures(line: &str) -> Summary {
    let number = |part: &str, nth: usize| {
        part.split(' ')
            .filter_map(|w| w.parse::<u64>().ok())
            .nth(nth)
            .unwrap_or_else(|| panic!("no number in {part:?}"))
    };
    let mut said = Summary::default();
    for part in line.split("; ") {
        if part.starts_with("Moved ") {
            said.moved = number(part, 0);
        } else if part.contains("more may be at the destination twice") {
            said.maybe_twice = number(part, 0);
        } else if part.contains("at the destination twice") {
            said.twice = number(part, 0);
        } else if part.contains("in both queues") {
            said.both = number(part, 0);
        }
    }
    said
}

#[test]
fn redrive_reconnect_loses_nothing_across_a_kill_of_the_dead_letter_queues_node() {
    let c = three_nodes();
    let (dlx, dlq, home) = (unique("rd-dlx"), unique("rd-dlq"), unique("rd-home"));
    let steps = |via: usize, steps: &[String]| {
        for step in steps {
            let argv: Vec<&str> = step.split(' ').collect();
            through(&c, &[via], &argv).run().code(0);
        }
    };
    steps(
        1,
        &[
            format!("declare exchange {dlx} -t fanout --durable"),
            format!("declare queue {dlq} --durable --type quorum"),
            format!("declare binding -e {dlx} -q {dlq}"),
        ],
    );
    // Expired at once in `home` (on node 2), into the DLQ (its leader on node 1).
    let total = 20_000;
    steps(
        2,
        &[
            format!(
                "declare queue {home} --arg x-dead-letter-exchange={dlx} --arg x-message-ttl=0"
            ),
            format!(
                "pub -k {home} --confirm --quiet --interval 0 --nb-messages {total} -m d{{seq}}"
            ),
        ],
    );
    wait_for_at_least(&c, &dlq, total as u32);
    // Home again without the TTL, so that what goes back stays there.
    steps(
        2,
        &[
            format!("delete queue {home}"),
            format!("declare queue {home} --durable --type quorum"),
        ],
    );
    let leader = c.leader_of(&dlq);
    let redrive = format!("redrive -q {dlq} --reconnect");
    let redrive: Vec<&str> = redrive.split(' ').collect();
    let mut redrive = through(&c, &starting_at(&c, leader), &redrive).spawn();
    wait_for_at_least(&c, &home, 2000);
    c.kill(leader);
    let killed = Instant::now();
    redrive.exits_with(0, Duration::from_secs(240));
    let took = killed.elapsed();
    let err = redrive.stderr_lines_so_far();
    let attempts = err.iter().filter(|l| l.contains("reconnecting in")).count();
    let (found, held) = bodies_in(&c, &[&home, &dlq]);
    let said = said_duplicates(&err);
    eprintln!(
        "figures: redrive --reconnect of {total}, the DLQ's leader (node {leader}) SIGKILLed \
         after 2000 were home: {held:?} home and left in the DLQ, {} distinct, {} duplicates \
         found, {said} said, {attempts} reconnect attempts, done {took:.1?} after the kill; \
         stderr: {err:?}",
        found.len(),
        found.values().map(|n| n - 1).sum::<u64>(),
    );
    assert!(attempts > 0, "the kill landed after the redrive: {err:?}");
    let summary = format!(" of {total} messages from queue {dlq}");
    let summarised = |l: &&String| l.starts_with("Redrove ") && l.contains(&summary);
    assert!(err.iter().any(|l| summarised(&l)), "{err:?}");
    all_there_and_duplicates_said(&found, "d", total, said);
    c.boot_again(leader);
}
