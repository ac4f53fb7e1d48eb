//! amqpctl in pipelines: bodies from lines, files and templates; JSON
//! envelopes both ways (a lossless queue-to-queue move); templates;
//! `--exec` per message; get / purge / delete; the publish outcome stream;
//! completions and the manual page; quorum queues and stream offsets.

use std::time::Duration;

use amqpctl::amqp::{Confirmation, Properties, Publish, Table, Value};

use crate::support::run::{AMQPCTL, connection_flags};
use crate::support::{
    Cmd, Run, amqpctl, amqpctl_stdin, broker, declare_exchange, declare_queue, delete_exchange,
    delete_queue, delete_queues, drain, durable_queue, fill, filled_queue, fresh_queue,
    fresh_stream, full_queue, messages, open, plain, unique,
};
use crate::support::{eventually_within, look_within};

/// `amqpctl pub -k Q --confirm -m BODY EXTRA`.
fn publish(q: &str, body: &str, extra: &[&str]) -> Run {
    amqpctl(&[&["pub", "-k", q, "--confirm", "-m", body][..], extra].concat())
}

/// `amqpctl pub --format json --confirm` with `input` on stdin.
fn publish_json(input: &str) -> Run {
    amqpctl_stdin(&["pub", "--format", "json", "--confirm"], input.as_bytes())
}

/// `amqpctl con -q Q --count 2 --format FORMAT EXTRA`.
fn two_formatted(q: &str, format: &str, extra: &[&str]) -> Run {
    amqpctl(
        &[
            &["con", "-q", q, "--count", "2", "--format", format][..],
            extra,
        ]
        .concat(),
    )
}

/// `amqpctl con -q Q --count 1 --exec COMMAND EXTRA`.
fn exec_once(q: &str, command: &str, extra: &[&str]) -> Run {
    amqpctl(
        &[
            &["con", "-q", q, "--count", "1", "--exec", command][..],
            extra,
        ]
        .concat(),
    )
}

#[test]
fn lines_from_stdin_become_messages_in_order() {
    let q = fresh_queue("lines");
    // --quiet prints nothing.
    amqpctl_stdin(
        &["pub", "-k", &q, "--lines", "--confirm", "--quiet"],
        b"first\nsecond\n\nlast",
    )
    .code(0)
    .no_stdout();
    assert_eq!(
        drain(broker(), &q),
        vec![
            b"first".to_vec(),
            b"second".to_vec(),
            b"".to_vec(),
            b"last".to_vec()
        ]
    );
    // A record with a newline in it is not short text: summarised.
    amqpctl_stdin(
        &[
            "pub",
            "-k",
            &q,
            "--lines",
            "--delimiter",
            "\\0",
            "--confirm",
        ],
        b"a\nb\0c\0",
    )
    .code(0)
    .stdout(["Sent: 1 (3 bytes)", "Sent: c"]);
    assert_eq!(drain(broker(), &q), vec![b"a\nb".to_vec(), b"c".to_vec()]);
    delete_queue(broker(), &q);
}

#[test]
fn file_and_templates_make_bodies() {
    let q = fresh_queue("file");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("body.bin");
    std::fs::write(&path, [1u8, 2, 0, 255]).unwrap();
    amqpctl(&[
        "pub",
        "-k",
        &q,
        "--file",
        path.to_str().unwrap(),
        "--confirm",
        "--quiet",
    ])
    .code(0)
    .no_stdout();
    publish(&q, "job-{seq}", &["--nb-messages", "3", "--interval", "0"])
        .code(0)
        .stdout(["Sent: job-1", "Sent: job-2", "Sent: job-3"]);
    assert_eq!(
        drain(broker(), &q),
        vec![
            vec![1, 2, 0, 255],
            b"job-1".to_vec(),
            b"job-2".to_vec(),
            b"job-3".to_vec()
        ]
    );
    amqpctl(&["pub", "-k", &q, "--file", "/nonexistent/body"])
        .code(2)
        .stderr([
            "ERROR: cannot read --file /nonexistent/body: No such file or directory (os error 2)",
        ]);
    delete_queue(broker(), &q);
}

/// Headers of every AMQP type, nested, for the lossless round trip.
fn rich_headers() -> Table {
    let mut nested = Table::new();
    nested.insert("depth".into(), Value::U16(2));
    nested.insert("type".into(), Value::Str("collides with the tag".into()));
    let mut h = Table::new();
    h.insert("i8".into(), Value::I8(-1));
    h.insert("u8".into(), Value::U8(200));
    h.insert("i16".into(), Value::I16(-300));
    h.insert("i32".into(), Value::I32(-70_000));
    h.insert("u32".into(), Value::U32(4_000_000_000));
    h.insert("i64".into(), Value::I64(-5_000_000_000));
    h.insert("f64".into(), Value::F64(0.125));
    h.insert("bool".into(), Value::Bool(false));
    h.insert("str".into(), Value::Str("héllo".into()));
    h.insert("bytes".into(), Value::Bytes(vec![0, 159, 255]));
    h.insert("ts".into(), Value::Timestamp(1_700_000_000));
    h.insert(
        "dec".into(),
        Value::Decimal {
            scale: 3,
            value: 1234,
        },
    );
    h.insert("void".into(), Value::Void);
    h.insert(
        "list".into(),
        Value::Array(vec![Value::I32(1), Value::Str("two".into())]),
    );
    h.insert("table".into(), Value::Table(nested));
    h
}

#[test]
fn json_envelopes_move_messages_between_queues_byte_for_byte() {
    let (from, to) = (fresh_queue("json-from"), fresh_queue("json-to"));
    let (conn, ch) = open(&plain(broker()));
    ch.confirm_delivery().unwrap();
    let mut sent = Vec::new();
    for i in 0..20u8 {
        let props = Properties {
            headers: Some(rich_headers()),
            content_type: Some("application/octet-stream".into()),
            correlation_id: Some(format!("c{i}")),
            delivery_mode: Some(2),
            priority: Some(i % 10),
            timestamp: Some(1_700_000_000 + u64::from(i)),
            message_id: Some(format!("m{i}")),
            ..Properties::default()
        };
        let body: Vec<u8> = if i % 2 == 0 {
            vec![i, 0, 0xff, 0xfe, b'\n']
        } else {
            format!("text {i}\n").into_bytes()
        };
        let verdict = ch
            .publish_confirmed(&Publish {
                exchange: "",
                routing_key: &from,
                body: &body,
                properties: &props,
                mandatory: true,
            })
            .unwrap();
        assert_eq!(verdict, Confirmation::Ack);
        sent.push((body, props));
    }
    // amqpctl con --format json --count N | amqpctl pub --format json -k TO
    let mut con = Cmd::amqpctl_on(
        broker(),
        &["con", "-q", &from, "--format", "json", "--count", "20"],
    )
    .spawn_piped();
    let moving = Cmd::amqpctl_on(
        broker(),
        &["pub", "--format", "json", "-k", &to, "--confirm"],
    )
    .stdin_from(con.take_stdout())
    .run();
    con.wait(Duration::from_secs(15)).code(0).no_stderr();
    moving
        .code(0)
        .stdout((1..=20).map(|i| format!(r#"{{"seq":{i},"status":"acked"}}"#)));
    assert_eq!(messages(broker(), &from), 0);
    let mut moved = Vec::new();
    while let Some((d, _)) = ch.basic_get(&to, true).unwrap() {
        moved.push((d.body().to_vec(), d.properties()));
    }
    assert_eq!(moved, sent);
    ch.close().unwrap();
    conn.close().unwrap();
    delete_queues(broker(), &[&from, &to]);
}

#[test]
fn malformed_json_input_names_the_line_and_exits_2() {
    let q = fresh_queue("badjson");
    let input = format!("{{\"routing_key\":\"{q}\",\"body\":\"ok\"}}\n{{\"body\":\n");
    publish_json(&input)
        .code(2)
        .stdout([r#"{"seq":1,"status":"acked"}"#])
        .stderr(["ERROR: stdin line 2: invalid JSON[..]"]);
    amqpctl_stdin(&["pub", "--format", "json"], &[0xff, 0xfe, b'\n'])
        .code(2)
        .stderr(["ERROR: stdin line 1: invalid JSON[..]"]);
    assert_eq!(drain(broker(), &q), vec![b"ok".to_vec()]);
    delete_queue(broker(), &q);
}

#[test]
fn an_unknown_envelope_key_is_refused_not_ignored() {
    let q = fresh_queue("bogus-key");
    publish_json(&format!("{{\"routing_key\":\"{q}\",\"body\":\"x\",\"bogus\":1}}\n"))
        .code(2)
        .no_stdout()
        .stderr(["ERROR: stdin line 1: unknown key 'bogus' (an envelope has body, body_encoding, exchange, routing_key and the message properties)"]);
    assert_eq!(messages(broker(), &q), 0);
    delete_queue(broker(), &q);
}

#[test]
fn templates_and_raw_bodies_format_consumed_messages() {
    let q = fresh_queue("tmpl");
    let properties = ["--message-id", "id-1", "--header", "n=5", "--persistent"];
    publish(&q, "one", &properties)
        .code(0)
        .stdout(["Sent: one"]);
    publish(&q, "two", &[]).code(0).stdout(["Sent: two"]);
    let template = "%k|%e|%d|%r|%p{message_id}|%p{delivery_mode}|%h|%b\\n";
    two_formatted(&q, template, &[]).code(0).stdout([
        format!("{q}||1|false|id-1|2|{{\"n\":5}}|one"),
        format!("{q}||2|false|||{{}}|two"),
    ]);
    for body in ["a", "b"] {
        publish(&q, body, &[])
            .code(0)
            .stdout([format!("Sent: {body}")]);
    }
    two_formatted(&q, "body", &["--delimiter", "\\0"])
        .code(0)
        .stdout_bytes(b"a\0b\0");
    amqpctl(&["con", "-q", &q, "--format", "%x"])
        .code(2)
        .stderr(["ERROR: --format: unknown token %x (known: %b %e %k %h %p{name} %T %d %r %%)"]);
    delete_queue(broker(), &q);
}

#[test]
fn exec_acks_on_success_requeues_or_dead_letters_on_failure() {
    let (q, dlx, dlq) = (unique("exec"), unique("exec-dlx"), unique("exec-dlq"));
    declare_exchange(&dlx, &["-t", "fanout"]);
    durable_queue(broker(), &dlq);
    amqpctl(&["declare", "binding", "-e", &dlx, "-q", &dlq])
        .code(0)
        .stdout([format!("Bound Queue [{dlq}] to Exchange [{dlx}]")]);
    let dead_letters = format!("x-dead-letter-exchange={dlx}");
    declare_queue(&q, &["--durable", "--arg", &dead_letters]);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    publish(&q, "good", &["--correlation-id", "c-9"])
        .code(0)
        .stdout(["Sent: good"]);
    let script = format!(
        "echo \"$AMQP_ROUTING_KEY $AMQP_CORRELATION_ID $(cat)\" >> {}",
        log.display()
    );
    exec_once(&q, &script, &[]).code(0).no_stderr();
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!("{q} c-9 good\n")
    );
    assert_eq!(messages(broker(), &q), 0, "acked");

    publish(&q, "retry", &[]).code(0).stdout(["Sent: retry"]);
    exec_once(&q, "exit 3", &[])
        .code(0)
        .stderr(["WARNING: --exec command exited with 3 for delivery 1 (attempt 1): requeued"]);
    assert_eq!(messages(broker(), &q), 1, "requeued");

    // The command outlives --exec-timeout.
    exec_once(&q, "sleep 5", &["--exec-timeout", "0.3", "--no-requeue"])
        .code(0)
        .stderr(["WARNING: --exec command timed out (--exec-timeout) for delivery 1: rejected"]);
    assert_eq!(messages(broker(), &q), 0);
    assert_eq!(
        drain(broker(), &dlq),
        vec![b"retry".to_vec()],
        "dead-lettered"
    );
    delete_queues(broker(), &[&q, &dlq]);
    delete_exchange(&dlx);
}

#[test]
fn get_purge_and_delete_report_what_they_did() {
    let q = filled_queue("tidy", 3, "g");
    amqpctl(&["get", "-q", &q, "--requeue"])
        .code(0)
        .stdout(["Received: 1:g"]);
    assert_eq!(messages(broker(), &q), 3, "--requeue puts it back");
    amqpctl(&["get", "-q", &q, "--count", "2", "--format", "%b %r\\n"])
        .code(0)
        .stdout(["1:g true", "2:g false"]);
    assert_eq!(messages(broker(), &q), 1);
    amqpctl(&["purge", &q])
        .code(0)
        .stdout([format!("Purged queue: {q} (1 messages)")]);
    amqpctl(&["get", "-q", &q])
        .code(8)
        .stderr([format!("ERROR: queue '{q}' is empty")]);
    amqpctl(&["pub", "-k", &q, "--confirm"])
        .code(0)
        .stdout(["Sent: Hello World!"]);
    amqpctl(&["delete", "queue", &q, "--if-empty"])
        .code(5)
        .stderr([format!(
            "ERROR: (406, \"PRECONDITION_FAILED - queue '{q}' in vhost '/' not empty\")"
        )]);
    amqpctl(&["delete", "queue", &q])
        .code(0)
        .stdout([format!("Deleted queue: {q} (1 messages)")]);
}

#[test]
fn the_publish_outcome_stream_reports_every_message() {
    let q = full_queue("outcomes", 1);
    let nowhere = unique("nowhere");
    let input = format!(
        "{{\"routing_key\":\"{q}\",\"body\":\"1\"}}\n{{\"routing_key\":\"{q}\",\"body\":\"2\"}}\n{{\"routing_key\":\"{nowhere}\",\"body\":\"3\"}}\n{{\"routing_key\":\"{q}\",\"body\":\"4\"}}\n"
    );
    // The first failure decides the exit code.
    amqpctl_stdin(
        &["pub", "--format", "json", "--confirm", "--mandatory"],
        input.as_bytes(),
    )
    .code(7)
    .stdout([
        r#"{"seq":1,"status":"acked"}"#,
        r#"{"seq":2,"status":"nacked"}"#,
        r#"{"code":312,"seq":3,"status":"returned","text":"NO_ROUTE"}"#,
        r#"{"seq":4,"status":"nacked"}"#,
    ]);
    delete_queue(broker(), &q);
}

#[test]
fn json_outcomes_tell_a_returned_message_from_a_sent_one_without_confirm() {
    let q = fresh_queue("json-returned");
    let nowhere = unique("nowhere");
    let input = format!(
        "{{\"routing_key\":\"{q}\",\"body\":\"1\"}}\n{{\"routing_key\":\"{nowhere}\",\"body\":\"2\"}}\n"
    );
    // --mandatory without --confirm: the return is reported as such.
    amqpctl_stdin(
        &["pub", "--format", "json", "--mandatory"],
        input.as_bytes(),
    )
    .code(6)
    .stdout([
        r#"{"seq":1,"status":"acked"}"#,
        r#"{"code":312,"seq":2,"status":"returned","text":"NO_ROUTE"}"#,
    ]);
    assert_eq!(drain(broker(), &q), vec![b"1".to_vec()]);
    delete_queue(broker(), &q);
}

#[test]
fn json_outcomes_report_messages_refused_with_a_404() {
    let nowhere = unique("no-exchange");
    let input = "{\"body\":\"a\"}\n";
    let refused = format!(
        r#"{{"code":404,"seq":1,"status":"refused","text":"NOT_FOUND - no exchange '{nowhere}' in vhost '/'"}}"#
    );
    amqpctl_stdin(
        &["pub", "--format", "json", "--confirm", "-e", &nowhere],
        input.as_bytes(),
    )
    .code(5)
    .stdout([refused]);
}

/// How `shell`'s completion script names the top-level subcommand `sub`
/// (a bare `contains("con")` would also match "connection").
fn completion_entry(shell: &str, sub: &str) -> String {
    match shell {
        "bash" => format!("amqpctl,{sub})"),
        "zsh" => format!("'{sub}:"),
        "fish" => format!("-a \"{sub}\" -d"),
        _ => unreachable!("{shell}"),
    }
}

#[test]
fn completions_and_manpage_cover_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Cmd::amqpctl(&["completions", shell]).run().code(0);
        let text = String::from_utf8(out.stdout_raw().to_vec()).unwrap();
        for sub in ["pub", "con", "declare", "get", "purge", "delete"] {
            assert!(
                text.contains(&completion_entry(shell, sub)),
                "{shell} completions lack {sub}"
            );
        }
    }
    let out = Cmd::amqpctl(&["manpage"]).run().code(0);
    let page = String::from_utf8(out.stdout_raw().to_vec()).unwrap();
    assert!(
        page.starts_with(".ie") && page.contains(".TH amqpctl 1"),
        "{}",
        &page[..200.min(page.len())]
    );
}

#[test]
fn quorum_queues_and_stream_offsets() {
    let q = unique("quorum");
    amqpctl(&["declare", "queue", &q, "--type", "quorum"])
        .code(0)
        .stdout([format!("Created queue: {q} (messages: 0, consumers: 0)")]);
    let listed = broker().ctl_ok(&[
        "list_queues",
        "name",
        "type",
        "durable",
        "--no-table-headers",
        "--quiet",
    ]);
    assert!(
        listed
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == [q.as_str(), "quorum", "true"]),
        "{listed}"
    );
    delete_queue(broker(), &q);
    amqpctl(&["declare", "queue", &q, "--type", "quorum", "--exclusive"])
        .code(2)
        .stderr(["ERROR: quorum queues and streams cannot be exclusive or auto-delete"]);

    let s = fresh_stream("stream");
    fill(broker(), &s, 5, "s{seq}");
    amqpctl(&[
        "con",
        "-q",
        &s,
        "--offset",
        "first",
        "--count",
        "5",
        "--prefetch",
        "100",
    ])
    .code(0)
    .stdout([
        "Received: s1",
        "Received: s2",
        "Received: s3",
        "Received: s4",
        "Received: s5",
    ]);
    amqpctl(&[
        "con",
        "-q",
        &s,
        "--offset",
        "3",
        "--count",
        "2",
        "--prefetch",
        "100",
    ])
    .code(0)
    .stdout(["Received: s4", "Received: s5"]);
    amqpctl(&[
        "con",
        "-q",
        &s,
        "--offset",
        "2000-01-01T00:00:00Z",
        "--count",
        "1",
        "--prefetch",
        "100",
    ])
    .code(0)
    .stdout(["Received: s1"]);
    amqpctl(&["con", "-q", &s, "--offset", "yesterday"])
        .code(2)
        .stderr_has("error: invalid value 'yesterday' for '--offset <OFFSET>': 'yesterday' is not first, last, next, an offset or an RFC 3339 time");
    delete_queue(broker(), &s);
}

#[test]
fn verbose_logging_never_prints_the_password() {
    Cmd::amqpctl_on(
        broker(),
        &[
            "-vvv",
            "pub",
            "--userpass",
            "alice:alice123",
            "--vhost",
            "domain1",
            "-k",
            "nowhere",
        ],
    )
    .env("RUST_LOG", "trace")
    .run()
    .code(0)
    // Trace logging is on.
    .stderr_has("[..]TRACE[..]")
    .never_shows("alice123");
}

#[test]
fn long_runs_show_a_progress_line_only_on_a_terminal() {
    let q = fresh_queue("progress");
    let publish = ["pub", "-k", &q, "--nb-messages", "40", "--interval", "0.05"];
    // script(1) gives amqpctl a terminal for stdout and stderr.
    let command = std::iter::once(AMQPCTL.to_string())
        .chain(connection_flags(broker()))
        .chain(publish.iter().map(|a| a.to_string()))
        .collect::<Vec<_>>()
        .join(" ");
    let out = Cmd::new("script", &["-q", "-e", "-c", &command, "/dev/null"])
        .run()
        .code(0);
    let screen = out.stdout_text();
    assert!(
        screen.contains(" sent (") && screen.contains("msg/s)"),
        "{screen:?}"
    );
    // The bar ends with the total instead of vanishing, and every line
    // still came through.
    assert!(screen.contains("40 sent in "), "{screen:?}");
    assert!(screen.contains("Sent: 40:Hello World!"), "{screen:?}");
    // Without a terminal: the lines, and no progress at all.
    amqpctl(&publish)
        .code(0)
        .stdout((1..=40).map(|i| format!("Sent: {i}:Hello World!")))
        .no_stderr();
    // --quiet silences the bar too.
    let quiet = Cmd::new(
        "script",
        &["-q", "-e", "-c", &format!("{command} --quiet"), "/dev/null"],
    )
    .run()
    .code(0);
    assert!(
        !quiet.stdout_text().contains(" sent"),
        "{:?}",
        quiet.stdout_text()
    );
    delete_queue(broker(), &q);
}

/// Whether process `pid` is gone (or a zombie nobody reaps yet).
fn is_gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command's name in parentheses.
        Ok(stat) => stat.rsplit(") ").next().is_some_and(|s| s.starts_with('Z')),
        Err(_) => true,
    }
}

#[test]
fn exec_commands_end_with_their_whole_process_group() {
    const WAIT: Duration = Duration::from_secs(30);
    // Its output elsewhere: a sleep left holding con's stdout would keep
    // the test waiting for its end, and hide that it outlived con.
    const SLEEP: &str = "sleep 31 >/dev/null 2>&1 & echo $! > \"$PIDS\"; wait";
    // A SIGTERM to con, an --exec-timeout, and the SIGKILL that follows a
    // command that ignores SIGTERM: its `sleep` must not outlive it.
    let cases: [(&str, &[&str], bool); 3] = [
        (SLEEP, &[], true),
        (SLEEP, &["--exec-timeout", "0.5"], false),
        (&format!("trap '' TERM; {SLEEP}"), &[], true),
    ];
    let mut outlived = Vec::new();
    for (command, extra, signal) in cases {
        let q = filled_queue("exec-group", 1, "job");
        let dir = tempfile::tempdir().expect("temp dir");
        let pids = dir.path().join("pid");
        let mut args = vec!["con", "-q", &q, "--exec", command, "--exec-backoff", "60"];
        args.extend_from_slice(extra);
        let mut con = Cmd::amqpctl_on(broker(), &args)
            .env("PIDS", pids.to_str().expect("a UTF-8 path"))
            .spawn();
        let pid = eventually_within(WAIT, Duration::from_millis(20), command, || {
            let read = std::fs::read_to_string(&pids).unwrap_or_default();
            read.ends_with('\n').then(|| read.trim().to_string())
        });
        if signal {
            con.signal(libc::SIGTERM);
            con.exits_with(0, Duration::from_secs(15));
        } else {
            con.await_stderr("timed out (--exec-timeout)", WAIT);
        }
        let every = Duration::from_millis(20);
        if look_within(Duration::from_secs(3), every, || is_gone(&pid)).is_err() {
            outlived.push(format!("{command} {extra:?}: its sleep {pid} still runs"));
        }
        drop(con);
        delete_queue(broker(), &q);
    }
    assert!(outlived.is_empty(), "{outlived:#?}");
}
