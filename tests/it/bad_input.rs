//! Bad input, case by case: each gives one line naming the problem, the
//! documented exit status, no panic or backtrace, and nothing half-done on
//! the broker. (More cases live in cli.rs, commands.rs and scripting.rs; the
//! README's Guarantees section counts them all.)

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::support::{
    Cmd, Run, amqpctl, amqpctl_stdin, amqpctl_tls, broker, delete_queue, fresh_queue, messages,
    queue_exists, spawn_amqpctl, unique,
};

const NOT_SECURED: &str = "WARNING: the connection is not secured.";

/// Checks that `run` failed with exit `code` and these stderr lines, without
/// a panic or a backtrace.
#[track_caller]
fn fails<const N: usize>(run: Run, code: i32, stderr: [&str; N]) -> Run {
    run.code(code).stderr(stderr).no_panic()
}

#[test]
fn a_wrong_password_is_exit_4_and_never_echoed() {
    fails(
        amqpctl(&["pub", "--userpass", "guest:Wr0ngSecret"]),
        4,
        [
            NOT_SECURED,
            "ERROR: login refused by 127.0.0.1:[..]: ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.",
        ],
    )
    .never_shows("Wr0ngSecret");
    let url = format!(
        "amqp://guest:Wr0ngSecret@127.0.0.1:{}/",
        broker().amqp_port()
    );
    fails(
        Cmd::amqpctl(&["--url", &url, "pub"]).run(),
        4,
        [
            NOT_SECURED,
            "ERROR: login refused by 127.0.0.1:[..]: ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.",
        ],
    )
    .never_shows("Wr0ngSecret");
}

#[test]
fn an_unknown_vhost_is_exit_4() {
    fails(
        amqpctl(&["pub", "--vhost", "no-such-vhost"]),
        4,
        ["ERROR: (530, \"NOT_ALLOWED - vhost no-such-vhost not found\")"],
    );
}

#[test]
fn a_password_file_that_is_missing_or_malformed_is_exit_2() {
    fails(
        amqpctl(&["pub", "--userpass-file", "/nonexistent/creds"]),
        2,
        ["ERROR: cannot read --userpass-file /nonexistent/creds[..]"],
    );
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("creds");
    std::fs::write(&creds, "guest:guest\n").unwrap();
    let q = unique("credfile");
    amqpctl(&[
        "pub",
        "--userpass-file",
        creds.to_str().unwrap(),
        "-q",
        &q,
        "-Q",
        "-k",
        &q,
    ])
    .code(0)
    .stdout(["Sent: Hello World!"]);
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_exit_2() {
    let b = broker();
    let (ca, cert, key) = (
        b.ca_pem().display().to_string(),
        b.client_cert().display().to_string(),
        b.untrusted_client_key().display().to_string(),
    );
    fails(
        amqpctl_tls(&[
            "--cafile",
            &ca,
            "--certfile",
            &cert,
            "--keyfile",
            &key,
            "pub",
        ]),
        2,
        ["ERROR: [..]--certfile/--keyfile[..]"],
    );
}

#[test]
fn an_expired_server_certificate_is_exit_3() {
    let certs = broker().certs();
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(&certs.expired_server_cert)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(&certs.expired_server_key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut tls = rustls::ServerConnection::new(Arc::new(config)).unwrap();
        while tls.is_handshaking() {
            if tls.complete_io(&mut sock).is_err() {
                break;
            }
        }
        let _ = sock.write_all(b"");
        let _ = sock.read(&mut [0u8; 1]);
    });
    fails(
        Cmd::amqpctl(&[
            "--server",
            "localhost",
            "--port-number",
            &port.to_string(),
            "--cafile",
            broker().ca_pem().to_str().unwrap(),
            "pub",
        ])
        .run(),
        3,
        ["ERROR: [..]the certificate has expired[..]"],
    );
    server.join().unwrap();
}

#[test]
fn a_body_over_the_brokers_maximum_is_a_406_and_exit_5() {
    let q = unique("too-big");
    declare_auto_delete(&q);
    // RabbitMQ's default max_message_size is 128 MiB on 3.x, 16 MiB on 4.x.
    let body = vec![b'x'; 128 * 1024 * 1024 + 1];
    let max = if crate::support::rabbitmq_version().0 >= 4 {
        16 << 20
    } else {
        128 << 20
    };
    // Nothing is reported sent.
    let error = format!(
        "ERROR: [..](406, \"PRECONDITION_FAILED - message size 134217729 is larger than configured max size {max}\")[..]"
    );
    fails(
        amqpctl_stdin(&["pub", "-k", &q, "-m", "-", "--confirm"], &body),
        5,
        [
            "WARNING: the message is 134217729 bytes, over RabbitMQ 4's default max_message_size of 16777216: the broker may refuse it",
            &error,
            "hint: the broker's max_message_size caps a message (16 MiB by default on RabbitMQ 4, 128 MiB on 3.x)",
        ],
    )
    .no_stdout();
}

#[test]
fn a_name_longer_than_amqp_allows_is_exit_2_before_anything_is_sent() {
    let long = "q".repeat(256);
    fails(
        amqpctl(&["pub", "-k", &long]),
        2,
        ["ERROR: [..]the routing key (-k) is 256 bytes long; AMQP allows at most 255[..]"],
    );
    fails(
        amqpctl(&["declare", "queue", &long]),
        2,
        ["ERROR: [..]the queue name is 256 bytes long[..]"],
    );
}

#[test]
fn an_unknown_exchange_for_a_binding_is_a_404() {
    let q = unique("bind-missing");
    declare_auto_delete(&q);
    let x = unique("no-exchange");
    fails(
        amqpctl(&["declare", "binding", "-e", &x, "-q", &q]),
        5,
        [&format!(
            "ERROR: [..](404, \"NOT_FOUND - no exchange '{x}' in vhost '/'\")[..]"
        )],
    );
}

#[test]
fn bad_flags_leave_nothing_half_done_on_the_broker() {
    let q = unique("half-done");
    for args in [
        vec!["pub", "-q", &q, "-Q", "--interval=-1"],
        vec!["pub", "-q", &q, "-Q", "--header", "broken"],
        vec!["con", "-q", &q, "-Q", "--format", "%z"],
        vec!["con", "-q", &q, "-Q", "--offset", "someday"],
        vec!["declare", "queue", &q, "--type", "quorum", "--auto-delete"],
    ] {
        amqpctl(&args).code(2);
    }
    assert!(
        !queue_exists(broker(), &q),
        "a refused command declared {q}"
    );
}

#[test]
fn pub_stops_on_sigint_and_reports_what_was_sent() {
    let q = unique("sigint-pub");
    declare_auto_delete(&q);
    let mut p = spawn_amqpctl(&[
        "pub",
        "-k",
        &q,
        "--confirm",
        "--nb-messages",
        "100",
        "--interval",
        "0.2",
    ]);
    p.next_stdout_line(Duration::from_secs(15));
    p.signal(libc::SIGINT);
    p.exits_with(130, Duration::from_secs(15));
    let sent = p.stdout_lines_so_far().len();
    assert_eq!(
        p.stderr_lines_so_far(),
        vec![
            format!("Stopped by signal 2: {sent} of {sent} messages published were confirmed"),
            "ERROR: interrupted by signal 2".to_string()
        ]
    );
    assert!(sent < 100, "{sent}");
    assert_eq!(messages(broker(), &q), u32::try_from(sent).unwrap());
}

fn declare_auto_delete(queue: &str) {
    amqpctl(&["declare", "queue", queue, "--auto-delete"])
        .code(0)
        .stdout([format!(
            "Created queue: {queue} (messages: 0, consumers: 0)"
        )])
        .stderr(crate::support::transient_warning(queue));
}

#[test]
fn a_queue_type_given_twice_is_a_usage_error_and_declares_nothing() {
    let q = unique("type-twice");
    fails(
        amqpctl(&[
            "declare",
            "queue",
            &q,
            "--type",
            "quorum",
            "--arg",
            "x-queue-type=classic",
        ]),
        2,
        ["ERROR: --type quorum and --arg x-queue-type say the queue type twice: keep one"],
    );
    assert!(!queue_exists(broker(), &q));
}

#[test]
fn a_body_may_start_with_a_dash_and_speed_0_says_what_speed_is() {
    let q = unique("dash-body");
    amqpctl(&["pub", "-q", &q, "-Q", "--nad-queue", "-k", &q, "-m", "-5"])
        .code(0)
        .stdout(["Sent: -5"]);
    assert_eq!(messages(broker(), &q), 1);
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().to_str().unwrap();
    fails(
        amqpctl(&["pub", "--from-dir", dir, "--speed", "0"]),
        2,
        [
            "error: invalid value '0' for '--speed <F>': '0' is not a speed: give a factor over the recorded spacing, more than 0 (2 is twice as fast, 0.5 half as fast)",
            "",
            "For more information, try '--help'.",
        ],
    );
    amqpctl(&["delete", "queue", &q]).code(0);
}

#[test]
fn pub_names_a_queue_flag_that_a_routing_key_makes_unused() {
    let (q, other) = (unique("unused-q"), unique("unused-k"));
    crate::support::durable_queue(broker(), &other);
    amqpctl(&["pub", "-q", &q, "-k", &other, "-m", "x"])
        .code(0)
        .stdout(["Sent: x"])
        .stderr([format!(
            "WARNING: -q {q} is unused: -k {other} routes the message (-q gives the default routing key, or names the queue -Q declares)"
        )]);
    assert_eq!(messages(broker(), &other), 1);
    assert!(!queue_exists(broker(), &q));
    crate::support::delete_queue(broker(), &other);
}

#[test]
fn pub_says_a_declared_queue_is_not_bound_to_its_exchange() {
    // -Q declared the queue but never bound it to -e, so the message came
    // back unroutable without a word.
    let q = unique("unbound-q");
    amqpctl(&["pub", "-e", "amq.direct", "-q", &q, "-Q", "-m", "x"])
        .code(0)
        .stdout(["Sent: x"])
        .stderr([
            format!("WARNING: -Q declares {q} but pub does not bind it to -e amq.direct: bind it first (amqpctl declare binding -e amq.direct -q {q} -k KEY), or the message may be unroutable"),
            format!("Created queue: {q}"),
        ]);
    assert_eq!(messages(broker(), &q), 0);
    amqpctl(&["delete", "queue", &q]).code(0);
}

#[test]
fn a_value_that_is_not_its_forced_type_is_exit_2_and_nothing_is_sent() {
    let q = unique("forced-type");
    fails(
        amqpctl(&["pub", "-q", &q, "-Q", "-m", "x", "--header", "n:int=abc"]),
        2,
        [
            "error: invalid value 'n:int=abc' for '--header <KEY[:TYPE]=VALUE>': 'n:int=abc': 'abc' is not an int (a whole number in 64 bits)",
            "",
            "For more information, try '--help'.",
        ],
    );
    assert!(!queue_exists(broker(), &q));
    fails(
        amqpctl(&["declare", "queue", &q, "--arg", "x-max-length:int=ten"]),
        2,
        [
            "error: invalid value 'x-max-length:int=ten' for '--arg <KEY[:TYPE]=VALUE>': 'x-max-length:int=ten': 'ten' is not an int (a whole number in 64 bits)",
            "",
            "For more information, try '--help'.",
        ],
    );
    assert!(!queue_exists(broker(), &q));
}

#[test]
fn a_delimiter_without_lines_is_exit_2_and_nothing_is_sent() {
    let q = unique("delimiter-alone");
    fails(
        amqpctl(&["pub", "-q", &q, "-Q", "--delimiter", "x", "-m", "y"]),
        2,
        ["ERROR: --delimiter separates the messages of --lines: give --lines, or drop --delimiter"],
    );
    assert!(!queue_exists(broker(), &q));
}

/// Runs amqpctl; checks exit 2 and that stderr is the one line `line`.
fn usage_error(args: &[&str], line: &str) {
    amqpctl(args).code(2).stderr([line]);
}

#[test]
fn usage_errors_are_found_before_anything_changes_on_the_broker() {
    let long = "k".repeat(300);
    let q = unique("checked-first");
    usage_error(
        &["pub", "-q", &q, "-Q", "-k", &long, "-m", "x"],
        "ERROR: the routing key (-k) is 300 bytes long; AMQP allows at most 255",
    );
    usage_error(
        &["pub", "-q", &q, "-Q", "--header", "a=1", "--header", "a=2"],
        "ERROR: --header a is given twice; give each key once",
    );
    usage_error(
        &["pub", "-q", &q, "-Q", "-E", "-e", "amq.topic"],
        "ERROR: -E needs an exchange name of our own with -e (got 'amq.topic')",
    );
    usage_error(
        &[
            "con",
            "-q",
            &q,
            "-Q",
            "-e",
            "amq.direct",
            "--bind-queue",
            "-k",
            &long,
        ],
        "ERROR: the routing key (-k) is 300 bytes long; AMQP allows at most 255",
    );
    usage_error(
        &[
            "declare",
            "queue",
            &q,
            "--arg",
            "x-max-length=1",
            "--arg",
            "x-max-length=2",
        ],
        "ERROR: --arg x-max-length is given twice; give each key once",
    );
    assert!(!queue_exists(broker(), &q), "a usage error created {q}");
}

#[test]
fn flags_that_would_do_nothing_are_refused_or_warned_about() {
    let q = fresh_queue("no-effect");
    usage_error(
        &["con", "-e", "amq.topic", "-k", "#", "-Q"],
        "ERROR: -k has no effect without --bind-queue: con binds the queue with -k only when asked (add --bind-queue)",
    );
    usage_error(
        &["con", "-q", &q, "--delimiter", "\\0"],
        "ERROR: --delimiter only applies to --format body (not --format received)",
    );
    usage_error(
        &["get", "-q", &q, "--format", "jsonx"],
        "ERROR: --format 'jsonx' is not received, body or json, and as a template it has no %-token (see --help)",
    );
    amqpctl(&["pub", "-k", &q, "--durable-queue", "--confirm-window", "5"])
        .code(0)
        .stdout(["Sent: Hello World!"])
        .stderr([
            "WARNING: --durable-queue has no effect without -Q (the queue is not declared)",
            "WARNING: --confirm-window has no effect without --confirm",
        ]);
    // With --format body the delimiter is what ends each body.
    amqpctl(&[
        "con",
        "-q",
        &q,
        "--count",
        "1",
        "--format",
        "body",
        "--delimiter",
        "|",
    ])
    .code(0)
    .stdout_bytes(b"Hello World!|");
    delete_queue(broker(), &q);
}
