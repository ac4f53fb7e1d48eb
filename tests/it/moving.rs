//! `amqpctl move`: every message ends up in the source, the destination or
//! both, never neither, whatever stops the move; body, properties and
//! headers arrive intact and in order.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::{
    Run, amqpctl, amqpctl_tls, broker, delete_queue, drain, durable_queue, eventually_within, fill,
    fresh_stream, full_queue, messages, spawn_amqpctl, unique,
};

/// Deletes both queues of a test.
fn delete_both(from: &str, to: &str) {
    delete_queue(broker(), from);
    delete_queue(broker(), to);
}

/// Two durable queues on the shared node.
fn queues(name: &str) -> (String, String) {
    let (from, to) = (
        unique(&format!("{name}-from")),
        unique(&format!("{name}-to")),
    );
    durable_queue(broker(), &from);
    durable_queue(broker(), &to);
    (from, to)
}

/// [`queues`], the source holding `n` messages `m1`, `m2` …
fn filled(name: &str, n: usize) -> (String, String) {
    let (from, to) = queues(name);
    fill(broker(), &from, n, "m{seq}");
    (from, to)
}

/// `amqpctl move -q FROM --to-queue TO EXTRA`.
fn move_to(from: &str, to: &str, extra: &[&str]) -> Run {
    amqpctl(&[&["move", "-q", from, "--to-queue", to][..], extra].concat())
}

/// The line a move that took `n` of `of` messages ends with.
fn moved(n: usize, of: usize, from: &str, to: &str) -> String {
    format!("Moved {n} of {of} messages from queue {from} to queue {to}")
}

/// The messages left in the source and those in the destination.
fn counts(from: &str, to: &str) -> (u32, u32) {
    (messages(broker(), from), messages(broker(), to))
}

#[test]
fn move_keeps_bodies_properties_headers_and_order() {
    let (from, to) = queues("move-intact");
    let envelopes: Vec<String> = (1..=20)
        .map(|i| {
            format!(
                r#"{{"routing_key":"{from}","body":"m{i}","content_type":"text/plain","delivery_mode":2,"priority":3,"correlation_id":"c{i}","headers":{{"x-n":{i},"x-s":"v","x-u8":{{"type":"u8","value":7}}}}}}"#
            )
        })
        .collect();
    crate::support::amqpctl_stdin(
        &["pub", "--format", "json", "--confirm", "--quiet"],
        (envelopes.join("\n") + "\n").as_bytes(),
    )
    .code(0);
    let before = amqpctl(&[
        "get",
        "-q",
        &from,
        "--count",
        "20",
        "--requeue",
        "--format",
        "json",
    ])
    .code(0)
    .stdout_lines();
    move_to(&from, &to, &[])
        .code(0)
        .no_stdout()
        .stderr([moved(20, 20, &from, &to)]);
    assert_eq!(messages(broker(), &from), 0);
    let after = amqpctl(&["get", "-q", &to, "--count", "20", "--format", "json"])
        .code(0)
        .stdout_lines();
    // The same envelopes but for where they were read from.
    let strip = |line: &str| {
        let mut v: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(line).expect("an envelope");
        for key in ["delivery_tag", "redelivered", "routing_key"] {
            v.remove(key);
        }
        v
    };
    assert_eq!(
        before.iter().map(|l| strip(l)).collect::<Vec<_>>(),
        after.iter().map(|l| strip(l)).collect::<Vec<_>>()
    );
    assert_eq!(before.len(), 20);
    delete_both(&from, &to);
}

#[test]
fn count_dry_run_and_an_exchange_with_its_own_routing_key() {
    let (from, to) = filled("move-count", 30);
    for (extra, n) in [(&[][..], 30), (&["--count", "5"][..], 5)] {
        move_to(&from, &to, &[&["--dry-run"][..], extra].concat())
            .code(0)
            .no_stderr()
            .stdout([format!(
                "Would move {n} messages from queue {from} to queue {to}"
            )]);
    }
    assert_eq!(counts(&from, &to), (30, 0));
    move_to(&from, &to, &["--count", "10"])
        .code(0)
        .stderr([moved(10, 10, &from, &to)]);
    // Through the default exchange's named route, as -k gives it.
    amqpctl(&[
        "move",
        "-q",
        &from,
        "--to-exchange",
        "",
        "-k",
        &to,
        "--count",
        "1",
    ])
    .code(0);
    assert_eq!(messages(broker(), &from), 19);
    let bodies: Vec<String> = drain(broker(), &to)
        .into_iter()
        .map(|b| String::from_utf8(b).unwrap())
        .collect();
    let expected: Vec<String> = (1..=11).map(|i| format!("m{i}")).collect();
    assert_eq!(bodies, expected);
    // An empty source is nothing to do.
    let (empty, _) = queues("move-empty");
    move_to(&empty, &to, &[])
        .code(0)
        .stderr([moved(0, 0, &empty, &to)]);
    for q in [&from, &to, &empty] {
        delete_queue(broker(), q);
    }
}

#[test]
fn a_refused_destination_leaves_every_message_in_the_source() {
    let (from, to) = filled("move-refused", 25);
    let missing = unique("no-such-exchange");
    amqpctl(&["move", "-q", &from, "--to-exchange", &missing])
        .code(5)
        .stderr([
            format!("Moved 0 of 25 messages from queue {from} to exchange {missing}"),
            format!("ERROR: (404, \"NOT_FOUND - no exchange '{missing}' in vhost '/'\")"),
        ]);
    assert_eq!(messages(broker(), &from), 25);
    // Unroutable: returned (exit 6), and the message stays.
    amqpctl(&[
        "move",
        "-q",
        &from,
        "--to-exchange",
        "amq.direct",
        "-k",
        "nobody-binds-this",
    ])
    .code(6)
    .stderr_has("ERROR: message returned by the broker: (312, \"NO_ROUTE\")");
    assert_eq!(messages(broker(), &from), 25);
    // A missing source is the usual 404.
    let gone = unique("move-gone");
    move_to(&gone, &to, &[]).code(5).stderr_has(format!(
        "ERROR: (404, \"NOT_FOUND - no queue '{gone}' in vhost '/'\")[..]"
    ));
    delete_both(&from, &to);
}

#[test]
fn move_reaches_another_broker_named_by_to_url() {
    let (from, _) = queues("move-remote");
    let vhost = unique("move-vhost");
    broker().add_vhost_for_guest(&vhost);
    let url = format!(
        "amqp://guest:guest@127.0.0.1:{}/{}",
        broker().amqp_port(),
        vhost
    );
    let far = unique("move-far");
    amqpctl(&["--url", &url, "declare", "queue", &far]).code(0);
    fill(broker(), &from, 12, "m{seq}");
    move_to(&from, &far, &["--to-url", &url]).code(0).stderr([
        "WARNING: the connection is not secured.".to_string(),
        moved(12, 12, &from, &far),
    ]);
    assert_eq!(messages(broker(), &from), 0);
    amqpctl(&["--url", &url, "get", "-q", &far, "--all"])
        .code(0)
        .stdout((1..=12).map(|i| format!("Received: m{i}")));
    broker().ctl_ok(&["delete_vhost", &vhost]);
    delete_queue(broker(), &from);
}

/// SIGKILL at random moments: each time, every message is in the source or
/// the destination (or, confirmed but not yet acked, both), never lost.
#[test]
fn a_move_killed_at_random_moments_loses_nothing() {
    let (from, to) = queues("move-kill");
    // Enough for a pipelined move to last past the first kill.
    let total = 30000;
    fill(broker(), &from, total, "m{seq}");
    let mut kills = 0;
    for round in 0..40u64 {
        if messages(broker(), &from) == 0 {
            break;
        }
        let mut mover = spawn_amqpctl(&["move", "-q", &from, "--to-queue", &to, "--window", "50"]);
        // A pseudo-random moment, from the round and the clock.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u64)
            .unwrap_or(0);
        let delay = 20 + (nanos / 1000 + round * 37) % 250;
        std::thread::sleep(Duration::from_millis(delay)); // the kill's moment is the point
        mover.signal(libc::SIGKILL);
        let status = mover.wait_exit(Duration::from_secs(20)).expect("killed");
        if status.code().is_none() {
            kills += 1;
        }
    }
    // Whatever is left moves on a last, uninterrupted run.
    move_to(&from, &to, &[]).code(0);
    assert!(kills >= 3, "only {kills} moves were killed mid-way");
    assert_eq!(messages(broker(), &from), 0);
    let mut seen = BTreeMap::new();
    for body in drain(broker(), &to) {
        *seen.entry(String::from_utf8(body).unwrap()).or_insert(0) += 1;
    }
    let missing: Vec<String> = (1..=total)
        .map(|i| format!("m{i}"))
        .filter(|b| !seen.contains_key(b))
        .collect();
    assert!(
        missing.is_empty(),
        "lost {} messages, among them {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    assert_eq!(seen.len(), total, "unexpected bodies");
    println!("move killed {kills} times: {total} messages, {duplicates} duplicates");
    delete_both(&from, &to);
}

/// A signal is a clean stop: what is in flight is confirmed and acked
/// first, so no message is left in both queues.
#[test]
fn a_move_stopped_by_a_signal_leaves_no_duplicates() {
    let (from, to) = filled("move-stop", 100);
    let mut mover = spawn_amqpctl(&["move", "-q", &from, "--to-queue", &to, "--rate", "40"]);
    crate::support::wait_until(broker(), &to, "some messages moved", |info| {
        info.messages >= 5
    });
    mover.signal(libc::SIGTERM);
    mover.exits_with(128 + 15, Duration::from_secs(15));
    let err = mover.stderr_lines_so_far();
    assert_eq!(err.len(), 2, "{err:?}");
    assert_eq!(err[1], "ERROR: interrupted by signal 15");
    let summary = &err[0];
    assert!(
        summary.starts_with("Stopped by signal 15: Moved ")
            && summary.ends_with(&format!(" of 100 messages from queue {from} to queue {to}")),
        "{err:?}"
    );
    let (left, moved) = counts(&from, &to);
    assert_eq!(left + moved, 100, "{left} left, {moved} moved");
    assert!(moved < 100, "the rate should have kept it from finishing");
    assert!(
        summary.contains(&format!("Moved {moved} of")),
        "{summary}: {moved} on the broker"
    );
    delete_both(&from, &to);
}

/// A move into its own source would take the messages around forever: a
/// usage error (exit 2), and nothing changes on the broker.
#[test]
fn a_move_into_its_own_source_is_a_usage_error() {
    let (from, to) = filled("move-self", 5);
    move_to(&from, &from, &["--until-empty"])
        .code(2)
        .stderr_has("[..]--to-queue[..]");
    amqpctl(&["move", "-q", &from, "--to-exchange", "", "-k", &from])
        .code(2)
        .stderr_has("[..]routes back to the source queue[..]");
    assert_eq!(messages(broker(), &from), 5);
    delete_both(&from, &to);
}

/// A stream keeps its messages: move refuses it at once (exit 5) instead of
/// waiting forever, and the stream still holds them.
#[test]
fn a_move_out_of_a_stream_is_refused_at_once() {
    let (_, to) = queues("move-stream");
    let stream = fresh_stream("move-stream-src");
    for i in 0..5 {
        amqpctl(&[
            "pub",
            "-k",
            &stream,
            "-m",
            &format!("s{i}"),
            "--confirm",
            "--quiet",
        ])
        .code(0);
    }
    // A stream's count lags its publishes.
    crate::support::wait_for_messages(broker(), &stream, 5);
    let t0 = std::time::Instant::now();
    move_to(&stream, &to, &[])
        .code(5)
        .stderr_has("[..]a stream keeps its messages[..]");
    assert!(t0.elapsed() < Duration::from_secs(30));
    assert_eq!(messages(broker(), &to), 0);
    delete_queue(broker(), &stream);
    delete_queue(broker(), &to);
}

/// A missing destination queue is found before anything is taken, with a
/// hint (not a bare 312 NO_ROUTE), also by --dry-run.
#[test]
fn a_missing_destination_queue_is_named_with_a_hint() {
    let (from, to) = filled("move-nodst", 3);
    let missing = unique("move-missing-dst");
    for extra in [&["--dry-run"][..], &[]] {
        move_to(&from, &missing, extra).code(5).stderr_has(format!(
            "[..]declare it first: amqpctl declare queue {missing}[..]"
        ));
    }
    assert_eq!(messages(broker(), &from), 3);
    delete_both(&from, &to);
}

/// `--to-profile` errors name `--to-profile`, not `--profile`.
#[test]
fn a_missing_to_profile_is_named_as_such() {
    let (from, to) = queues("move-noprofile");
    move_to(&from, &to, &["--to-profile", "nosuch"])
        .code(2)
        .stderr_has("[..]--to-profile[..]");
    delete_both(&from, &to);
}

/// `amqpctl --insecure move -q FROM --to-queue TO EXTRA` to the source's TLS port.
fn move_over_tls(from: &str, to: &str, extra: &[&str]) -> Run {
    let over_tls = ["--insecure", "move", "-q", from, "--to-queue", to];
    amqpctl_tls(&[&over_tls[..], extra].concat())
}

/// `--to-insecure` without `--to-url` changes only how the destination is
/// reached: it is still the source broker, here over the source's TLS port,
/// not localhost or `$AMQP_URL`.
#[test]
fn to_insecure_without_to_url_reaches_the_source_broker() {
    let (from, to) = filled("move-to-insecure", 7);
    move_over_tls(&from, &to, &["--to-insecure"])
        .code(0)
        .stderr_has(moved(7, 7, &from, &to));
    assert_eq!(counts(&from, &to), (0, 7));
    delete_both(&from, &to);
}

/// A login the destination refuses says it was the destination's, and
/// leaves every message in the source.
#[test]
fn a_refused_destination_login_names_the_destination() {
    let (from, to) = filled("move-bad-login", 3);
    let url = format!("amqp://nobody:wrong@127.0.0.1:{}/", broker().amqp_port());
    move_to(&from, &to, &["--to-url", &url])
        .code_one_of(&[3, 4, 5])
        .stderr_has("[..]destination[..]")
        .never_shows("wrong@");
    assert_eq!(counts(&from, &to), (3, 0));
    delete_both(&from, &to);
}

/// The destination's connection carries the source's name with
/// ` (destination)`: two connections a broker admin can tell apart.
#[test]
fn the_destination_connection_is_named_after_the_source() {
    // 100 at 2 a second: the move outlasts two rabbitmqctl listings on a
    // loaded machine (at 40 and 10 a second it ended first, three times).
    let (from, to) = filled("move-named", 100);
    let name = unique("mover");
    let mut mover = crate::support::Cmd::amqpctl_on(
        broker(),
        &[
            "--connection-name",
            &name,
            "move",
            "-q",
            &from,
            "--to-queue",
            &to,
            "--rate",
            "2",
        ],
    )
    .spawn();
    let source = crate::identity::seen_by_the_broker(&name);
    let destination = crate::identity::seen_by_the_broker(&format!("{name} (destination)"));
    mover.signal(libc::SIGTERM);
    mover.exits_with(143, Duration::from_secs(15));
    assert_eq!(source["product"], "amqpctl");
    assert_eq!(destination["product"], "amqpctl");
    let (left, moved) = counts(&from, &to);
    assert_eq!(left + moved, 100, "{left} left, {moved} moved");
    delete_both(&from, &to);
}

/// `AMQPCTL_PROFILE` is the source's: with `--to-url` nothing of it reaches
/// the destination. The profile says TLS without verification; the source
/// takes it to the TLS port, and the destination's plain `amqp://` URL must
/// not inherit it (TLS to a plain port would fail).
#[test]
fn amqpctl_profile_does_not_leak_into_a_to_url_destination() {
    let (from, to) = filled("move-profile-leak", 5);
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[profiles.tls]\ninsecure = true\n").expect("the config file");
    let source = format!("amqps://guest:guest@localhost:{}/", broker().amqps_port());
    let destination = format!("amqp://guest:guest@127.0.0.1:{}/", broker().amqp_port());
    let args = [
        "--url",
        &source,
        "move",
        "-q",
        &from,
        "--to-queue",
        &to,
        "--to-url",
        &destination,
    ];
    crate::support::Cmd::amqpctl(&args)
        .env("AMQPCTL_CONFIG", config.to_str().expect("a UTF-8 path"))
        .env("AMQPCTL_PROFILE", "tls")
        .run()
        .code(0)
        .stderr_has(moved(5, 5, &from, &to));
    assert_eq!(messages(broker(), &to), 5);
    delete_both(&from, &to);
}

/// `--to-cafile` without `--to-url` verifies the source broker with that CA
/// (here the source itself went `--insecure`): a trusted CA moves, an
/// untrusted one is refused before anything is taken.
#[test]
fn to_cafile_without_to_url_verifies_the_source_broker() {
    let (from, to) = filled("move-to-cafile", 4);
    let untrusted = broker().untrusted_ca_pem().to_str().expect("a UTF-8 path");
    let move_with = |ca: &str| move_over_tls(&from, &to, &["--to-cafile", ca]);
    move_with(untrusted)
        .code(3)
        .stderr_has("[..]destination[..]");
    assert_eq!(
        messages(broker(), &from),
        4,
        "an untrusted destination takes nothing"
    );
    move_with(broker().ca_pem().to_str().expect("a UTF-8 path"))
        .code(0)
        .stderr_has(moved(4, 4, &from, &to));
    assert_eq!(messages(broker(), &to), 4);
    delete_both(&from, &to);
}

/// A destination that holds `max` messages and nacks more (`x-overflow=reject-publish`),
/// and a source of `total` messages `n1`, `n2` …
fn into_a_full_queue(name: &str, total: usize, max: usize) -> (String, String) {
    let from = unique(&format!("{name}-from"));
    let to = full_queue(&format!("{name}-to"), max);
    durable_queue(broker(), &from);
    fill(broker(), &from, total, "n{seq}");
    (from, to)
}

/// The stderr lines of a move --reconnect retrying after a nack of message `seq`.
fn nack_retries(err: &[String], seq: u64) -> usize {
    let retry = format!(
        "WARNING: the broker nacked message {seq} (not stored); publishing it again; reconnecting in"
    );
    err.iter().filter(|l| l.starts_with(&retry)).count()
}

#[test]
fn move_reconnect_after_a_nack_goes_on_once_the_destination_takes_messages_again() {
    let (from, to) = into_a_full_queue("move-nack-again", 300, 100);
    let mut mover = spawn_amqpctl(&["move", "-q", &from, "--to-queue", &to, "--reconnect"]);
    // Each time the destination is full, the move is nacked, waits, and takes the nacked
    // message again: emptied meanwhile, the destination takes the next hundred.
    let mut taken = Vec::new();
    let every = Duration::from_millis(200);
    eventually_within(Duration::from_secs(60), every, "the move's summary", || {
        let err = mover.stderr_lines_so_far();
        if err.iter().any(|l| l.contains("nacked")) {
            taken.extend(drain(broker(), &to));
        }
        err.iter().any(|l| l.starts_with("Moved "))
    });
    mover.exits_with(0, Duration::from_secs(30));
    taken.extend(drain(broker(), &to));
    let err = mover.stderr_lines_so_far();
    assert!(
        err.iter()
            .any(|l| l.contains("nacked message 101 (not stored); publishing it again")),
        "{err:?}"
    );
    assert!(err.contains(&moved(300, 300, &from, &to)), "{err:?}");
    let mut bodies: Vec<String> = taken
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    bodies.sort_by_key(|b| b[1..].parse::<u32>().unwrap_or(0));
    let all: Vec<String> = (1..=300).map(|n| format!("n{n}")).collect();
    assert!(bodies == all, "not n1 to n300 once each: {err:?}");
    assert_eq!(messages(broker(), &from), 0);
    delete_both(&from, &to);
}

#[test]
fn move_reconnect_stops_after_five_nacks_of_a_message_leaving_it_in_the_source() {
    let (from, to) = into_a_full_queue("move-nack-stop", 150, 100);
    let run = move_to(&from, &to, &["--reconnect"]).code(7);
    let err = run.stderr_lines();
    assert_eq!(nack_retries(&err, 101), 5, "{err:?}");
    assert!(err.contains(&moved(100, 150, &from, &to)), "{err:?}");
    assert_eq!(
        err.last().map(String::as_str),
        Some("ERROR: message 101 was nacked by the broker (not stored)"),
        "{err:?}"
    );
    // The nacked ones stay in the source.
    assert_eq!(counts(&from, &to), (50, 100));
    delete_both(&from, &to);
}
