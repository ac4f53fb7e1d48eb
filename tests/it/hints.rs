//! The "Edges" issue: `get --count N --requeue` shows N distinct messages,
//! `delete` of something missing is an error unless `--if-exists`, a stream's
//! deletion reports its messages, errors carry hints in command-line words,
//! `rpc` reports a failed server command and lets abandoned requests expire,
//! and the manual page covers every subcommand and the exit codes.

use std::process::Output;
use std::time::{Duration, Instant};

use crate::fixtures::{amqpctl, broker, drain, messages, strs, with_port};
use crate::support::process::{run, spawn, stderr_lines, stdout_lines};
use crate::support::unique;

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

/// Publishes `n` messages (`template` with {seq}) to `queue`, confirmed.
fn publish(queue: &str, template: &str, n: usize) {
    let n = n.to_string();
    let out = amqpctl(&[
        "pub",
        "-k",
        queue,
        "--nb-messages",
        &n,
        "--interval",
        "0",
        "--confirm",
        "--quiet",
        "-m",
        template,
    ]);
    assert_eq!(code(&out), Some(0), "{out:?}");
}

fn declare_queue(queue: &str, extra: &[&str]) {
    let mut args = vec!["declare", "queue", queue];
    args.extend_from_slice(extra);
    let out = amqpctl(&args);
    assert_eq!(code(&out), Some(0), "{out:?}");
}

/// Whether `queue` exists, as a passive declare by amqpctl says.
fn queue_exists(queue: &str) -> bool {
    let out = amqpctl(&["declare", "queue", queue, "--passive"]);
    match code(&out) {
        Some(0) => true,
        Some(5) => false,
        _ => panic!("{out:?}"),
    }
}

fn not_found(kind: &str, name: &str) -> String {
    format!("ERROR: (404, \"NOT_FOUND - no {kind} '{name}' in vhost '/'\")")
}

#[test]
fn get_count_requeue_shows_distinct_messages_and_keeps_them_in_order() {
    let q = unique("get-requeue");
    declare_queue(&q, &[]);
    publish(&q, "g-{seq}", 3);
    let out = amqpctl(&["get", "-q", &q, "--count", "3", "--requeue"]);
    assert_eq!(code(&out), Some(0), "{out:?}");
    assert_eq!(
        stdout_lines(&out),
        vec!["Received: g-1", "Received: g-2", "Received: g-3"]
    );
    assert_eq!(messages(broker(), &q), 3);

    // Without --requeue the messages shown are taken, the rest stay.
    let out = amqpctl(&["get", "-q", &q, "--count", "2"]);
    assert_eq!(code(&out), Some(0), "{out:?}");
    assert_eq!(stdout_lines(&out), vec!["Received: g-1", "Received: g-2"]);
    assert_eq!(messages(broker(), &q), 1);
    assert_eq!(drain(broker(), &q), vec![b"g-3".to_vec()]);
    amqpctl(&["delete", "queue", &q]);
}

#[test]
fn deleting_a_missing_queue_or_exchange_is_exit_5_unless_if_exists() {
    let q = unique("nosuch-q");
    let out = amqpctl(&["delete", "queue", &q]);
    assert_eq!(code(&out), Some(5), "{out:?}");
    assert_eq!(stderr_lines(&out), vec![not_found("queue", &q)]);
    let out = amqpctl(&["delete", "queue", &q, "--if-exists"]);
    assert_eq!(code(&out), Some(0), "{out:?}");
    assert_eq!(
        stderr_lines(&out),
        vec![format!("Queue {q} did not exist: nothing deleted")]
    );
    assert!(!queue_exists(&q));

    let x = unique("nosuch-x");
    let out = amqpctl(&["delete", "exchange", &x]);
    assert_eq!(code(&out), Some(5), "{out:?}");
    assert_eq!(stderr_lines(&out), vec![not_found("exchange", &x)]);
    let out = amqpctl(&["delete", "exchange", &x, "--if-exists"]);
    assert_eq!(code(&out), Some(0), "{out:?}");
    assert_eq!(
        stderr_lines(&out),
        vec![format!("Exchange {x} did not exist: nothing deleted")]
    );

    // What exists is still deleted, with or without the flag.
    declare_queue(&q, &[]);
    publish(&q, "m{seq}", 2);
    let out = amqpctl(&["delete", "queue", &q, "--if-exists"]);
    assert_eq!(code(&out), Some(0), "{out:?}");
    assert_eq!(
        stderr_lines(&out),
        vec![format!("Deleted queue: {q} (2 messages)")]
    );
    assert!(!queue_exists(&q));
    let out = amqpctl(&["declare", "exchange", &x]);
    assert_eq!(code(&out), Some(0), "{out:?}");
    let out = amqpctl(&["delete", "exchange", &x]);
    assert_eq!(code(&out), Some(0), "{out:?}");
    assert_eq!(stderr_lines(&out), vec![format!("Deleted exchange: {x}")]);
    let out = amqpctl(&["declare", "exchange", &x, "--passive"]);
    assert_eq!(code(&out), Some(5), "{out:?}");
}

#[test]
fn deleting_a_stream_reports_the_messages_it_held() {
    let s = unique("stream-delete");
    declare_queue(&s, &["--type", "stream"]);
    publish(&s, "s{seq}", 5);
    // A stream's length reaches the passive declare's count with the
    // broker's next statistics tick: wait for it as a user would see it.
    let deadline = Instant::now() + Duration::from_secs(15);
    while messages(broker(), &s) < 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(messages(broker(), &s), 5);
    let out = amqpctl(&["delete", "queue", &s]);
    assert_eq!(code(&out), Some(0), "{out:?}");
    assert_eq!(
        stderr_lines(&out),
        vec![format!("Deleted queue: {s} (5 messages)")]
    );
    assert!(!queue_exists(&s));
}

#[test]
fn a_missing_queue_for_con_or_get_suggests_declaring_it() {
    let q = unique("nosuch-con");
    let out = amqpctl(&["con", "-q", &q, "--count", "1"]);
    assert_eq!(code(&out), Some(5), "{out:?}");
    assert_eq!(
        stderr_lines(&out),
        vec![format!("{} — declare it with -Q", not_found("queue", &q))]
    );
    let out = amqpctl(&["get", "-q", &q]);
    assert_eq!(code(&out), Some(5), "{out:?}");
    assert_eq!(
        stderr_lines(&out),
        vec![format!(
            "{} — declare it first: amqpctl declare queue {q}",
            not_found("queue", &q)
        )]
    );
    assert!(!queue_exists(&q));
}

#[test]
fn tls_against_the_plain_port_and_plain_against_the_tls_port_say_so() {
    let b = broker();
    let plain = b.amqp_port().to_string();
    let tls = b.amqps_port().to_string();
    let ca = b.ca_pem().to_string_lossy().into_owned();
    let target = ["declare", "exchange", "amq.direct", "--passive"];
    let cases: [Vec<&str>; 2] = [
        vec![
            "--server",
            "localhost",
            "--port-number",
            &plain,
            "--enable-tls",
        ],
        vec![
            "--server",
            "localhost",
            "--port-number",
            &plain,
            "--cafile",
            &ca,
        ],
    ];
    for flags in cases {
        let mut args = flags.clone();
        args.extend_from_slice(&target);
        let out = run(&args);
        assert_eq!(code(&out), Some(3), "{args:?}: {out:?}");
        let lines = stderr_lines(&out);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].starts_with("ERROR: "), "{lines:?}");
        assert!(
            lines[0].contains("speaks plain AMQP") && lines[0].contains("TLS port"),
            "{lines:?}"
        );
    }
    let mut args = vec!["--server", "localhost", "--port-number", &tls];
    args.extend_from_slice(&target);
    let out = run(&args);
    assert_eq!(code(&out), Some(3), "{out:?}");
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("ERROR: could not connect to ")
            && lines[0]
                .ends_with(" — TLS port without --enable-tls? add --enable-tls (or --cafile FILE)"),
        "{lines:?}"
    );
}

#[test]
fn get_on_a_stream_suggests_con_offset_first() {
    let s = unique("stream-get");
    declare_queue(&s, &["--type", "stream"]);
    publish(&s, "s{seq}", 1);
    let out = amqpctl(&["get", "-q", &s]);
    assert_eq!(code(&out), Some(5), "{out:?}");
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("ERROR: ("), "{lines:?}");
    assert!(
        lines[0].ends_with(&format!(
            " — a stream is read with: amqpctl con -q {s} --offset first"
        )),
        "{lines:?}"
    );
    amqpctl(&["delete", "queue", &s]);
}

#[test]
fn a_failing_serve_command_answers_the_caller_with_its_stderr() {
    let q = unique("rpc-fail");
    let mut server = spawn(&strs(&with_port(
        broker(),
        &[
            "rpc",
            "serve",
            "-q",
            &q,
            "-Q",
            "--exec",
            "echo boom >&2; exit 3",
            "--count",
            "1",
        ],
    )));
    assert!(
        server
            .wait_stderr_containing("Created queue", Duration::from_secs(15))
            .is_some()
    );
    let started = Instant::now();
    let out = amqpctl(&["rpc", "call", "-k", &q, "-m", "hi", "--timeout", "20"]);
    assert!(started.elapsed() < Duration::from_secs(15), "waited it out");
    assert_eq!(code(&out), Some(10), "{out:?}");
    assert!(stdout_lines(&out).is_empty(), "{out:?}");
    assert_eq!(
        stderr_lines(&out),
        vec!["ERROR: the server's --exec command exited with 3: boom"]
    );
    let status = server
        .wait_exit(Duration::from_secs(15))
        .expect("serve exits after --count");
    assert_eq!(status.code(), Some(0), "{:?}", server.stderr_lines_so_far());
    amqpctl(&["delete", "queue", &q]);
}

#[test]
fn an_abandoned_call_expires_from_the_queue() {
    let q = unique("rpc-abandoned");
    declare_queue(&q, &[]);
    let out = amqpctl(&["rpc", "call", "-k", &q, "-m", "1", "--timeout", "1"]);
    assert_eq!(code(&out), Some(9), "{out:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut left = messages(broker(), &q);
    while left != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        left = messages(broker(), &q);
    }
    assert_eq!(left, 0, "the request did not expire");
    amqpctl(&["delete", "queue", &q]);
}

#[test]
fn the_manpage_covers_every_subcommand_and_the_exit_codes() {
    let out = run(&["manpage"]);
    assert_eq!(code(&out), Some(0), "{out:?}");
    let page = String::from_utf8(out.stdout).expect("UTF-8");
    let lines: Vec<&str> = page.lines().collect();
    let name = lines
        .iter()
        .position(|l| *l == ".SH NAME")
        .and_then(|i| lines.get(i + 1))
        .expect("a NAME section");
    assert!(
        name.starts_with("amqpctl \\- publish, consume"),
        "NAME line: {name}"
    );
    assert!(!name.contains("amqpctl:"), "NAME line: {name}");
    for sub in [
        "pub",
        "con",
        "declare",
        "declare queue",
        "get",
        "purge",
        "delete",
        "delete queue",
        "rpc",
        "rpc call",
        "rpc serve",
        "completions",
    ] {
        let heading = format!(".SH \"AMQPCTL {}\"", sub.to_uppercase());
        assert!(lines.contains(&heading.as_str()), "no {heading}");
    }
    let exit = lines
        .iter()
        .position(|l| *l == ".SH \"EXIT STATUS\"")
        .expect("an EXIT STATUS section");
    let after = &lines[exit..];
    for code in 0..=10 {
        let code = code.to_string();
        assert!(
            after.windows(2).any(|w| w[0] == ".TP" && w[1] == code),
            "exit code {code} missing"
        );
    }
    // man(1) renders it, every subcommand included.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("amqpctl.1");
    std::fs::write(&file, &page).unwrap();
    let shown = std::process::Command::new("man")
        .arg("-l")
        .arg(&file)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .expect("man");
    assert_eq!(shown.status.code(), Some(0), "{shown:?}");
    let text = String::from_utf8_lossy(&shown.stdout);
    for needle in ["AMQPCTL RPC SERVE", "AMQPCTL DELETE QUEUE", "EXIT STATUS"] {
        assert!(text.contains(needle), "man -l output lacks {needle}");
    }
}
