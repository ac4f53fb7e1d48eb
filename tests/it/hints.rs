//! The "Edges" issue: `get --count N --requeue` shows N distinct messages,
//! `delete` of something missing is an error unless `--if-exists`, a stream's
//! deletion reports its messages, errors carry hints in command-line words,
//! and the manual page covers every subcommand and the exit codes. (Its
//! `rpc` edges, a failed server command and an abandoned request, are in
//! `rpc.rs`.)

use crate::support::{
    Cmd, amqpctl, amqpctl_tls, broker, declare_exchange, declare_queue, delete_exchange, drain,
    fill, fresh_stream, messages, queue_exists, unique, wait_for_messages,
};

fn not_found(kind: &str, name: &str) -> String {
    format!("ERROR: (404, \"NOT_FOUND - no {kind} '{name}' in vhost '/'\")")
}

#[test]
fn get_count_requeue_shows_distinct_messages_and_keeps_them_in_order() {
    let q = unique("get-requeue");
    declare_queue(&q, &[]);
    fill(broker(), &q, 3, "g-{seq}");
    amqpctl(&["get", "-q", &q, "--count", "3", "--requeue"])
        .code(0)
        .stdout(["Received: g-1", "Received: g-2", "Received: g-3"]);
    assert_eq!(messages(broker(), &q), 3);

    // Without --requeue the messages shown are taken, the rest stay.
    amqpctl(&["get", "-q", &q, "--count", "2"])
        .code(0)
        .stdout(["Received: g-1", "Received: g-2"]);
    assert_eq!(messages(broker(), &q), 1);
    assert_eq!(drain(broker(), &q), vec![b"g-3".to_vec()]);
    amqpctl(&["delete", "queue", &q])
        .code(0)
        .stdout([format!("Deleted queue: {q} (0 messages)")]);
}

#[test]
fn deleting_a_missing_queue_or_exchange_is_exit_5_unless_if_exists() {
    let (q, x) = (unique("nosuch-q"), unique("nosuch-x"));
    for (kind, name, what) in [("queue", &q, "Queue"), ("exchange", &x, "Exchange")] {
        amqpctl(&["delete", kind, name])
            .code(5)
            .stderr([not_found(kind, name)]);
        amqpctl(&["delete", kind, name, "--if-exists"])
            .code(0)
            .stdout([format!("{what} {name} did not exist: nothing deleted")]);
    }
    assert!(!queue_exists(broker(), &q));

    // What exists is still deleted, with or without the flag.
    declare_queue(&q, &[]);
    fill(broker(), &q, 2, "m{seq}");
    amqpctl(&["delete", "queue", &q, "--if-exists"])
        .code(0)
        .stdout([format!("Deleted queue: {q} (2 messages)")]);
    assert!(!queue_exists(broker(), &q));
    declare_exchange(&x, &[]);
    delete_exchange(&x);
    amqpctl(&["declare", "exchange", &x, "--passive"])
        .code(5)
        .stderr([not_found("exchange", &x)]);
}

#[test]
fn deleting_a_stream_reports_the_messages_it_held() {
    let s = fresh_stream("stream-delete");
    fill(broker(), &s, 5, "s{seq}");
    // A stream's length reaches the passive declare's count with the
    // broker's next statistics tick: wait for it as a user would see it.
    wait_for_messages(broker(), &s, 5);
    amqpctl(&["delete", "queue", &s])
        .code(0)
        .stdout([format!("Deleted queue: {s} (5 messages)")]);
    assert!(!queue_exists(broker(), &s));
}

#[test]
fn a_missing_queue_for_con_or_get_suggests_declaring_it() {
    let q = unique("nosuch-con");
    // The seed's line exactly, then the hint on a line of its own.
    amqpctl(&["con", "-q", &q, "--count", "1"])
        .code(5)
        .stderr([not_found("queue", &q), "hint: declare it with -Q".into()]);
    amqpctl(&["get", "-q", &q]).code(5).stderr([
        not_found("queue", &q),
        format!("hint: declare it first: amqpctl declare queue {q}"),
    ]);
    assert!(!queue_exists(broker(), &q));
}

#[test]
fn tls_against_the_plain_port_and_plain_against_the_tls_port_say_so() {
    let b = broker();
    let plain = b.amqp_port().to_string();
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
        Cmd::amqpctl(&args).run().code(3).stderr([
            "ERROR: [..]answered in plain AMQP[..]",
            "hint: the port speaks plain AMQP[..]TLS port[..]",
        ]);
    }
    amqpctl_tls(&target).code(3).stderr([
        "ERROR: could not connect to [..]",
        "hint: TLS port without --enable-tls? add --enable-tls (or --cafile FILE)",
    ]);
}

#[test]
fn get_on_a_stream_suggests_con_offset_first() {
    let s = fresh_stream("stream-get");
    fill(broker(), &s, 1, "s{seq}");
    amqpctl(&["get", "-q", &s]).code(5).stderr([
        "ERROR: (540, \"NOT_IMPLEMENTED - basic.get not supported by stream queues[..]".into(),
        format!("hint: a stream is read with: amqpctl con -q {s} --offset first"),
    ]);
    amqpctl(&["delete", "queue", &s]).code(0);
}

#[test]
fn the_manpage_covers_every_subcommand_and_the_exit_codes() {
    let out = Cmd::amqpctl(&["manpage"]).run().code(0);
    let page = String::from_utf8(out.stdout_raw().to_vec()).expect("UTF-8");
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
    let text = Cmd::new("man", &["-l", file.to_str().expect("UTF-8 path")])
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .run()
        .code(0)
        .stdout_text();
    for needle in ["AMQPCTL RPC SERVE", "AMQPCTL DELETE QUEUE", "EXIT STATUS"] {
        assert!(text.contains(needle), "man -l output lacks {needle}");
    }
}

#[test]
fn purging_a_stream_is_a_refusal_with_a_hint_not_a_lost_connection() {
    let s = fresh_stream("stream-purge");
    fill(broker(), &s, 2, "s{seq}");
    amqpctl(&["purge", &s]).code(5).no_stdout().stderr([
        "ERROR: (540, \"NOT_IMPLEMENTED - queue.purge not supported by stream queues[..]".into(),
        format!("hint: a stream keeps its messages: delete it (amqpctl delete queue {s})[..]"),
    ]);
    assert!(queue_exists(broker(), &s));
    amqpctl(&["delete", "queue", &s]).code(0);
}
