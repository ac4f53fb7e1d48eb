//! `--filter EXPR` (CEL) on `con`, `get`, `move` and `redrive`: only
//! matching messages are acted on; the others stay in place (get, move,
//! redrive: each looked at once, their order kept), are dropped (con
//! with --ack-auto, or on a queue of its own) or requeued (con
//! --filter-requeue). Bad expressions change nothing on the broker.

use std::time::Duration;

use crate::support::{
    Cmd, Run, amqpctl, amqpctl_stdin, broker, delete_queue, delete_queues, drain, fresh_queue,
    fresh_stream, messages, queue_exists, unique, wait_until,
};

/// Six messages in `queue`: bodies `{"level": L, "n": i}` (error for odd
/// i), header `region` eu for even i, priority i, type "order" for i ≤ 3.
fn mixed(queue: &str) {
    let lines: Vec<String> = (1..=6)
        .map(|i| {
            let level = if i % 2 == 1 { "error" } else { "info" };
            let region = if i % 2 == 0 { "eu" } else { "us" };
            let kind = if i <= 3 { r#","type":"order""# } else { "" };
            format!(
                r#"{{"routing_key":"{queue}","body":"{{\"level\": \"{level}\", \"n\": {i}}}","priority":{i}{kind},"headers":{{"region":"{region}","attempt":{{"type":"i32","value":{i}}}}}}}"#
            )
        })
        .collect();
    amqpctl_stdin(
        &["pub", "--format", "json", "--confirm", "--quiet"],
        (lines.join("\n") + "\n").as_bytes(),
    )
    .code(0);
}

fn body(i: u32) -> String {
    let level = if i % 2 == 1 { "error" } else { "info" };
    format!(r#"{{"level": "{level}", "n": {i}}}"#)
}

fn received(ns: &[u32]) -> Vec<String> {
    ns.iter()
        .map(|&i| format!("Received: {}", body(i)))
        .collect()
}

fn bodies(queue: &str) -> Vec<String> {
    drain(broker(), queue)
        .into_iter()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect()
}

fn mixed_queue(name: &str) -> String {
    let q = fresh_queue(name);
    mixed(&q);
    q
}

/// `amqpctl COMMAND -q Q EXTRA --filter EXPR`.
fn filtered(command: &str, q: &str, extra: &[&str], expr: &str) -> Run {
    amqpctl(&[&[command, "-q", q][..], extra, &["--filter", expr]].concat())
}

#[test]
fn get_takes_what_matches_and_leaves_the_rest_in_order() {
    let q = mixed_queue("flt-get");
    filtered("get", &q, &["--all"], r#"json.level == "error""#)
        .code(0)
        .stdout(received(&[1, 3, 5]))
        .no_stderr();
    assert_eq!(bodies(&q), [2, 4, 6].map(body));
    delete_queue(broker(), &q);
}

#[test]
fn get_filters_on_headers_properties_and_routing() {
    let q = mixed_queue("flt-props");
    // Header of type i32, priority, type, routing key, redelivered.
    let cases: [(&str, &[u32]); 5] = [
        // Before the first --requeue, nothing is redelivered.
        (r#"type == "order" && !redelivered"#, &[1, 2, 3]),
        (r#"headers.region == "eu" && headers.attempt > 2"#, &[4, 6]),
        ("priority >= 5 && redelivered", &[5, 6]),
        (
            &format!(r#"routing_key == "{q}" && exchange == """#),
            &[1, 2, 3, 4, 5, 6],
        ),
        (r#"text.contains("\"n\": 2") || body.size() > 100"#, &[2]),
    ];
    for (expr, expected) in cases {
        filtered("get", &q, &["--all", "--requeue"], expr)
            .code(0)
            .stdout(received(expected));
    }
    assert_eq!(messages(broker(), &q), 6);
    delete_queue(broker(), &q);
}

#[test]
fn get_count_counts_matching_messages_and_no_match_is_exit_8() {
    let q = mixed_queue("flt-count");
    filtered("get", &q, &["--count", "2"], "json.n > 2")
        .code(0)
        .stdout(received(&[3, 4]));
    filtered("get", &q, &[], "json.n > 100")
        .code(8)
        .no_stdout()
        .stderr([format!(
            "ERROR: no message in queue '{q}' matched --filter (4 looked at, left in place)"
        )]);
    assert_eq!(bodies(&q), [1, 2, 5, 6].map(body));
    delete_queue(broker(), &q);
}

#[test]
fn an_expression_that_fails_on_a_message_does_not_match_and_is_counted() {
    let q = fresh_queue("flt-fails");
    for body in ["plain text", r#"{"n": 5}"#, "[1, 2]", r#"{"n": 1}"#] {
        amqpctl(&["pub", "-k", &q, "-m", body, "--quiet"]).code(0);
    }
    filtered("get", &q, &["--all"], "json.n > 2")
        .code(0)
        .stdout([r#"Received: {"n": 5}"#])
        .stderr([
            r#"WARNING: --filter "json.n > 2" failed on a message ([..]): taken as not matching"#,
            "WARNING: --filter failed on 2 messages, taken as not matching",
        ]);
    assert_eq!(messages(broker(), &q), 3);
    delete_queue(broker(), &q);
}

#[test]
fn bad_expressions_are_usage_errors_that_change_nothing() {
    let q = mixed_queue("flt-bad");
    let to = unique("flt-bad-to");
    for (expr, error) in [
        (
            "jsn.level == 1",
            r#"ERROR: --filter "jsn.level == 1": unknown name 'jsn'; a message has routing_key, exchange, redelivered, body, text, json, content_type, [..], app_id"#,
        ),
        (
            "priority >",
            r#"ERROR: --filter "priority >": at 1:[..]: Syntax error: mismatched input '<EOF>' expecting [..]"#,
        ),
    ] {
        for command in [
            vec!["get", "-q", &q],
            vec!["con", "-q", &q, "--ack-auto"],
            vec!["move", "-q", &q, "--to-queue", &to],
            vec!["redrive", "-q", &q],
        ] {
            let mut args = command.clone();
            args.extend(["--filter", expr]);
            amqpctl(&args).code(2).no_stdout().stderr([error]);
        }
    }
    assert_eq!(messages(broker(), &q), 6);
    assert!(!queue_exists(broker(), &to));
    delete_queue(broker(), &q);
}

#[test]
fn con_with_manual_acks_on_a_named_queue_needs_filter_requeue() {
    let q = mixed_queue("flt-manual");
    filtered("con", &q, &["--count", "1"], "json.n > 2")
        .code(2)
        .no_stdout()
        .stderr(["ERROR: --filter on a queue with manual acks: a message that does not match would be requeued and delivered again and again; add --filter-requeue to do that anyway, --ack-auto to drop them, or use move --filter or get --all --filter"]);
    filtered("con", &q, &["--filter-requeue", "--until-empty"], "true")
        .code(2)
        .stderr(["ERROR: --until-empty never ends while a message that does not match is requeued: use get --all --filter, which looks at each message once"]);
    amqpctl(&["con", "-q", &q, "--filter-requeue", "--count", "1"])
        .code(2)
        .stderr_has("error: the following required arguments were not provided:");
    assert_eq!(messages(broker(), &q), 6);
    delete_queue(broker(), &q);
}

#[test]
fn con_filter_requeue_prints_matches_and_puts_the_others_back() {
    let q = mixed_queue("flt-requeue");
    let requeue = ["--filter-requeue", "--count", "3"];
    filtered("con", &q, &requeue, r#"headers.region == "eu""#)
        .code(0)
        .stdout(received(&[2, 4, 6]))
        .no_stderr();
    let mut left = bodies(&q);
    left.sort();
    assert_eq!(left, [1, 3, 5].map(body));
    delete_queue(broker(), &q);
}

#[test]
fn con_ack_auto_drops_what_does_not_match() {
    let q = mixed_queue("flt-auto");
    filtered(
        "con",
        &q,
        &["--ack-auto", "--until-empty"],
        "priority % 3 == 0",
    )
    .code(0)
    .stdout(received(&[3, 6]));
    assert_eq!(messages(broker(), &q), 0);
    // One message, matching: printed; an idle filter ends at its timeout.
    mixed(&q);
    filtered(
        "con",
        &q,
        &["--ack-auto", "--idle-timeout", "1"],
        "json.n == 6",
    )
    .code(0)
    .stdout(received(&[6]));
    delete_queue(broker(), &q);
}

#[test]
fn con_on_a_queue_of_its_own_drops_what_does_not_match() {
    let exchange = unique("flt-tap");
    let mut con = Cmd::amqpctl_on(
        broker(),
        &[
            "con",
            "-E",
            "-e",
            &exchange,
            "-t",
            "fanout",
            "-Q",
            "--bind-queue",
            "--filter",
            r#"text.startsWith("keep")"#,
            "--count",
            "2",
        ],
    )
    .spawn();
    con.await_stderr("Bound Queue", Duration::from_secs(20));
    for body in ["drop 1", "keep 1", "drop 2", "keep 2", "drop 3"] {
        amqpctl(&["pub", "-e", &exchange, "-m", body, "--quiet"]).code(0);
    }
    assert_eq!(
        con.next_stdout_lines(2, Duration::from_secs(20)),
        ["Received: keep 1", "Received: keep 2"]
    );
    con.exits_with(0, Duration::from_secs(20));
    amqpctl(&["delete", "exchange", &exchange]).code(0);
}

#[test]
fn move_takes_what_matches_and_leaves_the_rest_in_order() {
    let from = mixed_queue("flt-move");
    let to = fresh_queue("flt-move-to");
    filtered(
        "move",
        &from,
        &["--to-queue", &to, "--dry-run"],
        "json.n % 2 == 0",
    )
    .code(0)
    .no_stderr()
    .stdout([format!(
        "Would move 3 of 6 messages from queue {from} to queue {to} (3 do not match --filter)"
    )]);
    assert_eq!((messages(broker(), &from), messages(broker(), &to)), (6, 0));
    filtered("move", &from, &["--to-queue", &to], "json.n % 2 == 0")
        .code(0)
        .stderr([format!(
            "Moved 3 of 6 messages from queue {from} to queue {to}; 3 did not match --filter (left in place)"
        )]);
    assert_eq!(bodies(&to), [2, 4, 6].map(body));
    assert_eq!(bodies(&from), [1, 3, 5].map(body));
    // --count counts moved messages; what it does not reach stays too.
    mixed(&from);
    filtered("move", &from, &["--to-queue", &to, "--count", "2"], "json.n > 1")
        .code(0)
        .stderr([format!(
            "Moved 2 of 3 messages from queue {from} to queue {to}; 1 did not match --filter (left in place)"
        )]);
    assert_eq!(bodies(&to), [2, 3].map(body));
    assert_eq!(bodies(&from), [1, 4, 5, 6].map(body));
    delete_queues(broker(), &[&from, &to]);
}

#[test]
fn move_until_empty_also_moves_what_arrives_during_the_move() {
    for until_empty in [false, true] {
        let (from, to) = (fresh_queue("flt-until"), fresh_queue("flt-until-to"));
        let publish = |first: u32| {
            for i in first..first + 5 {
                amqpctl(&["pub", "-k", &from, "-m", &format!("m{i}"), "--quiet"]).code(0);
            }
        };
        publish(1);
        let mut args = vec!["move", "-q", &from, "--to-queue", &to, "--rate", "4"];
        if until_empty {
            args.push("--until-empty");
        }
        let mut mover = Cmd::amqpctl_on(broker(), &args).spawn();
        wait_until(broker(), &to, "the first message moved", |q| {
            q.messages >= 1
        });
        publish(6);
        mover.exits_with(0, Duration::from_secs(30));
        let moved = bodies(&to);
        if until_empty {
            assert_eq!(moved.len(), 10, "{moved:?}");
            assert_eq!(messages(broker(), &from), 0);
        } else {
            assert_eq!(moved, ["m1", "m2", "m3", "m4", "m5"]);
            assert_eq!(messages(broker(), &from), 5);
        }
        delete_queues(broker(), &[&from, &to]);
    }
}

#[test]
fn con_on_a_stream_skips_what_does_not_match_and_the_stream_keeps_all() {
    let q = fresh_stream("flt-stream");
    mixed(&q);
    for _ in 0..2 {
        filtered(
            "con",
            &q,
            &["--offset", "first", "--until-empty"],
            "json.n >= 5",
        )
        .code(0)
        .stdout(received(&[5, 6]));
    }
    amqpctl(&["delete", "queue", &q]).code(0);
}

#[test]
fn con_exec_runs_only_for_matches_and_binary_bodies_are_bytes() {
    let q = fresh_queue("flt-exec");
    amqpctl_stdin(&["pub", "-k", &q, "-m", "-", "--quiet"], b"\x00\xff binary").code(0);
    mixed(&q);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let exec = format!("cat >> {}; echo >> {}", out.display(), out.display());
    let requeue = ["--filter-requeue", "--exec", &exec, "--count", "2"];
    filtered("con", &q, &requeue, r#"text == null || json.n == 4"#)
        .code(0)
        .no_stdout();
    let written = std::fs::read(&out).unwrap();
    assert_eq!(
        written,
        [&b"\x00\xff binary\n"[..], body(4).as_bytes(), b"\n"].concat()
    );
    filtered(
        "get",
        &q,
        &["--all"],
        r#"body.size() > 0 && body != b"\x00\xff binary""#,
    )
    .code(0)
    .stdout(received(&[1, 2, 3, 5, 6]));
    assert_eq!(messages(broker(), &q), 0);
    delete_queue(broker(), &q);
}
