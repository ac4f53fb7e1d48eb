//! amqpctl in pipelines: bodies from lines, files and templates; JSON
//! envelopes both ways (a lossless queue-to-queue move); templates;
//! `--exec` per message; get / purge / delete; the publish outcome stream;
//! completions and the manual page; quorum queues and stream offsets.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use amqpctl::amqp::{Confirmation, Properties, Publish, Table, Value};

use crate::fixtures::{
    amqpctl, amqpctl_stdin, broker, delete_queue, drain, durable_queue, messages, open, plain,
    port_args, strs, with_port,
};
use crate::support::process::{command, output_with_timeout, run, stderr_lines, stdout_lines};
use crate::support::unique;

#[test]
fn lines_from_stdin_become_messages_in_order() {
    let q = unique("lines");
    durable_queue(broker(), &q);
    let out = amqpctl_stdin(
        &["pub", "-k", &q, "--lines", "--confirm", "--quiet"],
        b"first\nsecond\n\nlast",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stdout.is_empty(), "--quiet prints nothing");
    assert_eq!(
        drain(broker(), &q),
        vec![
            b"first".to_vec(),
            b"second".to_vec(),
            b"".to_vec(),
            b"last".to_vec()
        ]
    );
    let out = amqpctl_stdin(
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
    );
    // A record with a newline in it is not short text: summarised.
    assert_eq!(stdout_lines(&out), vec!["Sent: 1 (3 bytes)", "Sent: c"]);
    assert_eq!(drain(broker(), &q), vec![b"a\nb".to_vec(), b"c".to_vec()]);
    delete_queue(broker(), &q);
}

#[test]
fn file_and_templates_make_bodies() {
    let q = unique("file");
    durable_queue(broker(), &q);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("body.bin");
    std::fs::write(&path, [1u8, 2, 0, 255]).unwrap();
    let out = amqpctl(&[
        "pub",
        "-k",
        &q,
        "--file",
        path.to_str().unwrap(),
        "--confirm",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = amqpctl(&[
        "pub",
        "-k",
        &q,
        "--nb-messages",
        "3",
        "--interval",
        "0",
        "-m",
        "job-{seq}",
        "--confirm",
    ]);
    assert_eq!(
        stdout_lines(&out),
        vec!["Sent: job-1", "Sent: job-2", "Sent: job-3"]
    );
    assert_eq!(
        drain(broker(), &q),
        vec![
            vec![1, 2, 0, 255],
            b"job-1".to_vec(),
            b"job-2".to_vec(),
            b"job-3".to_vec()
        ]
    );
    let out = amqpctl(&["pub", "-k", &q, "--file", "/nonexistent/body"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_lines(&out)[0].starts_with("ERROR: cannot read --file /nonexistent/body"),
        "{out:?}"
    );
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
    let (from, to) = (unique("json-from"), unique("json-to"));
    durable_queue(broker(), &from);
    durable_queue(broker(), &to);
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
    let mut con = Command::new(env!("CARGO_BIN_EXE_amqpctl"))
        .args(port_args(broker()))
        .args(["con", "-q", &from, "--format", "json", "--count", "20"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = command(&strs(&with_port(
        broker(),
        &["pub", "--format", "json", "-k", &to, "--confirm"],
    )))
    .stdin(con.stdout.take().unwrap())
    .output()
    .unwrap();
    assert_eq!(con.wait().unwrap().code(), Some(0));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let outcomes = stdout_lines(&out);
    assert_eq!(outcomes.len(), 20);
    assert_eq!(outcomes[0], r#"{"seq":1,"status":"acked"}"#);
    assert_eq!(messages(broker(), &from), 0);
    let mut moved = Vec::new();
    while let Some((d, _)) = ch.basic_get(&to, true).unwrap() {
        moved.push((d.body().to_vec(), d.properties()));
    }
    assert_eq!(moved, sent);
    ch.close().unwrap();
    conn.close().unwrap();
    delete_queue(broker(), &from);
    delete_queue(broker(), &to);
}

#[test]
fn malformed_json_input_names_the_line_and_exits_2() {
    let q = unique("badjson");
    durable_queue(broker(), &q);
    let input = format!("{{\"routing_key\":\"{q}\",\"body\":\"ok\"}}\n{{\"body\":\n");
    let out = amqpctl_stdin(&["pub", "--format", "json", "--confirm"], input.as_bytes());
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(stdout_lines(&out), vec![r#"{"seq":1,"status":"acked"}"#]);
    let err = stderr_lines(&out);
    assert!(
        err[0].starts_with("ERROR: stdin line 2: invalid JSON"),
        "{err:?}"
    );
    let out = amqpctl_stdin(&["pub", "--format", "json"], &[0xff, 0xfe, b'\n']);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(drain(broker(), &q), vec![b"ok".to_vec()]);
    delete_queue(broker(), &q);
}

#[test]
fn templates_and_raw_bodies_format_consumed_messages() {
    let q = unique("tmpl");
    durable_queue(broker(), &q);
    amqpctl(&[
        "pub",
        "-k",
        &q,
        "--confirm",
        "-m",
        "one",
        "--message-id",
        "id-1",
        "--header",
        "n=5",
        "--persistent",
    ]);
    amqpctl(&["pub", "-k", &q, "--confirm", "-m", "two"]);
    let out = amqpctl(&[
        "con",
        "-q",
        &q,
        "--count",
        "2",
        "--format",
        "%k|%e|%d|%r|%p{message_id}|%p{delivery_mode}|%h|%b\\n",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        stdout_lines(&out),
        vec![
            format!("{q}||1|false|id-1|2|{{\"n\":5}}|one"),
            format!("{q}||2|false|||{{}}|two")
        ]
    );
    amqpctl(&["pub", "-k", &q, "--confirm", "-m", "a"]);
    amqpctl(&["pub", "-k", &q, "--confirm", "-m", "b"]);
    let out = amqpctl(&[
        "con",
        "-q",
        &q,
        "--count",
        "2",
        "--format",
        "body",
        "--delimiter",
        "\\0",
    ]);
    assert_eq!(out.stdout, b"a\0b\0");
    let out = amqpctl(&["con", "-q", &q, "--format", "%x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_lines(&out)[0].contains("unknown token %x"),
        "{out:?}"
    );
    delete_queue(broker(), &q);
}

#[test]
fn exec_acks_on_success_requeues_or_dead_letters_on_failure() {
    let (q, dlx, dlq) = (unique("exec"), unique("exec-dlx"), unique("exec-dlq"));
    amqpctl(&["declare", "exchange", &dlx, "-t", "fanout"]);
    durable_queue(broker(), &dlq);
    amqpctl(&["declare", "binding", "-e", &dlx, "-q", &dlq]);
    let out = amqpctl(&[
        "declare",
        "queue",
        &q,
        "--durable",
        "--arg",
        &format!("x-dead-letter-exchange={dlx}"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    amqpctl(&[
        "pub",
        "-k",
        &q,
        "--confirm",
        "-m",
        "good",
        "--correlation-id",
        "c-9",
    ]);
    let script = format!(
        "echo \"$AMQP_ROUTING_KEY $AMQP_CORRELATION_ID $(cat)\" >> {}",
        log.display()
    );
    let out = amqpctl(&["con", "-q", &q, "--count", "1", "--exec", &script]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!("{q} c-9 good\n")
    );
    assert_eq!(messages(broker(), &q), 0, "acked");

    amqpctl(&["pub", "-k", &q, "--confirm", "-m", "retry"]);
    let out = amqpctl(&["con", "-q", &q, "--count", "1", "--exec", "exit 3"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        stderr_lines(&out)[0].contains("exited with 3")
            && stderr_lines(&out)[0].ends_with("requeued"),
        "{out:?}"
    );
    assert_eq!(messages(broker(), &q), 1, "requeued");

    let out = amqpctl(&[
        "con",
        "-q",
        &q,
        "--count",
        "1",
        "--exec",
        "sleep 5",
        "--exec-timeout",
        "0.3",
        "--no-requeue",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        stderr_lines(&out)[0].contains("timed out") && stderr_lines(&out)[0].ends_with("rejected"),
        "{out:?}"
    );
    assert_eq!(messages(broker(), &q), 0);
    assert_eq!(
        drain(broker(), &dlq),
        vec![b"retry".to_vec()],
        "dead-lettered"
    );
    delete_queue(broker(), &q);
    delete_queue(broker(), &dlq);
    amqpctl(&["delete", "exchange", &dlx]);
}

#[test]
fn get_purge_and_delete_report_what_they_did() {
    let q = unique("tidy");
    durable_queue(broker(), &q);
    amqpctl(&[
        "pub",
        "-k",
        &q,
        "--nb-messages",
        "3",
        "--interval",
        "0",
        "--confirm",
        "-m",
        "g",
    ]);
    let out = amqpctl(&["get", "-q", &q, "--requeue"]);
    assert_eq!(stdout_lines(&out), vec!["Received: 1:g"]);
    assert_eq!(messages(broker(), &q), 3, "--requeue puts it back");
    let out = amqpctl(&["get", "-q", &q, "--count", "2", "--format", "%b %r\\n"]);
    assert_eq!(stdout_lines(&out), vec!["1:g true", "2:g false"]);
    assert_eq!(messages(broker(), &q), 1);
    let out = amqpctl(&["purge", &q]);
    assert_eq!(
        stderr_lines(&out),
        vec![format!("Purged queue: {q} (1 messages)")]
    );
    let out = amqpctl(&["get", "-q", &q]);
    assert_eq!(out.status.code(), Some(8), "{out:?}");
    assert_eq!(
        stderr_lines(&out),
        vec![format!("ERROR: queue '{q}' is empty")]
    );
    amqpctl(&["pub", "-k", &q, "--confirm"]);
    let out = amqpctl(&["delete", "queue", &q, "--if-empty"]);
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let out = amqpctl(&["delete", "queue", &q]);
    assert_eq!(
        stderr_lines(&out),
        vec![format!("Deleted queue: {q} (1 messages)")]
    );
}

#[test]
fn the_publish_outcome_stream_reports_every_message() {
    let q = unique("outcomes");
    let out = amqpctl(&[
        "declare",
        "queue",
        &q,
        "--arg",
        "x-max-length=1",
        "--arg",
        "x-overflow=reject-publish",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let nowhere = unique("nowhere");
    let input = format!(
        "{{\"routing_key\":\"{q}\",\"body\":\"1\"}}\n{{\"routing_key\":\"{q}\",\"body\":\"2\"}}\n{{\"routing_key\":\"{nowhere}\",\"body\":\"3\"}}\n{{\"routing_key\":\"{q}\",\"body\":\"4\"}}\n"
    );
    let out = amqpctl_stdin(
        &["pub", "--format", "json", "--confirm", "--mandatory"],
        input.as_bytes(),
    );
    assert_eq!(
        stdout_lines(&out),
        vec![
            r#"{"seq":1,"status":"acked"}"#,
            r#"{"seq":2,"status":"nacked"}"#,
            r#"{"code":312,"seq":3,"status":"returned","text":"NO_ROUTE"}"#,
            r#"{"seq":4,"status":"nacked"}"#,
        ]
    );
    assert_eq!(
        out.status.code(),
        Some(7),
        "the first failure decides: {out:?}"
    );
    delete_queue(broker(), &q);
}

#[test]
fn completions_and_manpage_cover_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8(out.stdout).unwrap();
        for sub in ["pub", "con", "declare", "get", "purge", "delete"] {
            assert!(text.contains(sub), "{shell} completions lack {sub}");
        }
    }
    let out = run(&["manpage"]);
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(
        page.starts_with(".ie") && page.contains(".TH amqpctl 1"),
        "{}",
        &page[..200.min(page.len())]
    );
}

#[test]
fn quorum_queues_and_stream_offsets() {
    let q = unique("quorum");
    let out = amqpctl(&["declare", "queue", &q, "--type", "quorum"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let listed = broker().ctl_ok(&[
        "list_queues",
        "name",
        "type",
        "durable",
        "--no-table-headers",
        "--quiet",
    ]);
    let line = listed.lines().find(|l| l.starts_with(&q)).unwrap();
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>(),
        vec![q.as_str(), "quorum", "true"]
    );
    delete_queue(broker(), &q);
    let out = amqpctl(&["declare", "queue", &q, "--type", "quorum", "--exclusive"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");

    let s = unique("stream");
    let out = amqpctl(&["declare", "queue", &s, "--type", "stream"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = amqpctl(&[
        "pub",
        "-k",
        &s,
        "--nb-messages",
        "5",
        "--interval",
        "0",
        "--confirm",
        "-m",
        "s{seq}",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = amqpctl(&[
        "con",
        "-q",
        &s,
        "--offset",
        "first",
        "--count",
        "5",
        "--prefetch",
        "100",
    ]);
    assert_eq!(
        stdout_lines(&out),
        vec![
            "Received: s1",
            "Received: s2",
            "Received: s3",
            "Received: s4",
            "Received: s5"
        ]
    );
    let out = amqpctl(&[
        "con",
        "-q",
        &s,
        "--offset",
        "3",
        "--count",
        "2",
        "--prefetch",
        "100",
    ]);
    assert_eq!(stdout_lines(&out), vec!["Received: s4", "Received: s5"]);
    let out = amqpctl(&[
        "con",
        "-q",
        &s,
        "--offset",
        "2000-01-01T00:00:00Z",
        "--count",
        "1",
        "--prefetch",
        "100",
    ]);
    assert_eq!(stdout_lines(&out), vec!["Received: s1"]);
    let out = amqpctl(&["con", "-q", &s, "--offset", "yesterday"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    delete_queue(broker(), &s);
}

#[test]
fn verbose_logging_never_prints_the_password() {
    let mut cmd = command(&strs(&with_port(
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
    )));
    cmd.env("RUST_LOG", "trace");
    let out = output_with_timeout(
        cmd,
        crate::support::process::Stdin::Null,
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TRACE"), "trace logging is on");
    assert!(!err.contains("alice123"), "the password leaked:\n{err}");
    let _ = std::io::stderr().flush();
}

#[test]
fn long_runs_show_a_progress_line_only_on_a_terminal() {
    let q = unique("progress");
    durable_queue(broker(), &q);
    let mut args = crate::fixtures::port_args(broker());
    args.extend(
        [
            "pub",
            "-k",
            &q,
            "--nb-messages",
            "40",
            "--interval",
            "0.05",
            "--quiet",
        ]
        .map(String::from),
    );
    // script(1) gives amqpctl a terminal for stdout and stderr.
    let command = format!("{} {}", env!("CARGO_BIN_EXE_amqpctl"), args.join(" "));
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(
        screen.contains(" sent (") && screen.contains("msg/s)"),
        "{screen:?}"
    );
    // The line ends with the total instead of vanishing.
    assert!(screen.contains("40 sent in "), "{screen:?}");
    // Without a terminal: no progress line at all.
    let out = amqpctl(&args.iter().skip(4).map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    delete_queue(broker(), &q);
}
