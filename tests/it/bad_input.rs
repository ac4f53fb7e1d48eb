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

use amqpctl::amqp::{Connection, QueueOptions};

use crate::fixtures::{broker, plain, strs, with_port};
use crate::support::process::{run, run_with_stdin, stderr_lines, stdout_lines};
use crate::support::unique;

/// Runs amqpctl on the shared node; checks the exit status and that stderr
/// is exactly one `ERROR:` line (after any WARNING lines) containing `needle`.
fn fails(args: &[&str], code: i32, needle: &str) {
    let out = run(&strs(&with_port(broker(), args)));
    check(&out, code, needle, args);
}

fn check(out: &std::process::Output, code: i32, needle: &str, args: &[&str]) {
    assert_eq!(out.status.code(), Some(code), "{args:?}: {out:?}");
    let err: Vec<String> = stderr_lines(out)
        .into_iter()
        .filter(|l| !l.starts_with("WARNING: "))
        .collect();
    assert_eq!(err.len(), 1, "{args:?}: one error line, got {err:?}");
    assert!(
        err[0].starts_with("ERROR: ") && err[0].contains(needle),
        "{args:?}: {err:?}"
    );
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !text.contains("panicked") && !text.contains("backtrace"),
        "{text}"
    );
}

fn queue_exists(name: &str) -> bool {
    let conn = Connection::open(&plain(broker())).unwrap();
    let ch = conn.channel().unwrap();
    let exists = ch
        .queue_declare(
            name,
            &QueueOptions {
                passive: true,
                ..QueueOptions::default()
            },
        )
        .is_ok();
    let _ = ch.close();
    conn.close().unwrap();
    exists
}

#[test]
fn a_wrong_password_is_exit_4_and_never_echoed() {
    fails(
        &["pub", "--userpass", "guest:Wr0ngSecret"],
        4,
        "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN",
    );
    let out = run(&strs(&with_port(
        broker(),
        &["pub", "--userpass", "guest:Wr0ngSecret"],
    )));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("Wr0ngSecret"));
    let url = format!(
        "amqp://guest:Wr0ngSecret@127.0.0.1:{}/",
        broker().amqp_port()
    );
    let out = run(&["--url", &url, "pub"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("Wr0ngSecret"));
}

#[test]
fn an_unknown_vhost_is_exit_4() {
    fails(
        &["pub", "--vhost", "no-such-vhost"],
        4,
        "(530, \"NOT_ALLOWED - vhost no-such-vhost not found\")",
    );
}

#[test]
fn a_password_file_that_is_missing_or_malformed_is_exit_2() {
    fails(
        &["pub", "--userpass-file", "/nonexistent/creds"],
        2,
        "cannot read --userpass-file /nonexistent/creds",
    );
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("creds");
    std::fs::write(&creds, "guest:guest\n").unwrap();
    let q = unique("credfile");
    let out = run(&strs(&with_port(
        broker(),
        &[
            "pub",
            "--userpass-file",
            creds.to_str().unwrap(),
            "-q",
            &q,
            "-Q",
            "-k",
            &q,
        ],
    )));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout_lines(&out), vec!["Sent: Hello World!"]);
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_exit_2() {
    let b = broker();
    let args = [
        "--server".to_string(),
        "localhost".into(),
        "--port-number".into(),
        b.amqps_port().to_string(),
        "--cafile".into(),
        b.ca_pem().display().to_string(),
        "--certfile".into(),
        b.client_cert().display().to_string(),
        "--keyfile".into(),
        b.untrusted_client_key().display().to_string(),
        "pub".into(),
    ];
    let out = run(&strs(&args));
    check(&out, 2, "--certfile/--keyfile", &[]);
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
    let out = run(&[
        "--server",
        "localhost",
        "--port-number",
        &port.to_string(),
        "--cafile",
        broker().ca_pem().to_str().unwrap(),
        "pub",
    ]);
    check(&out, 3, "the certificate has expired", &[]);
    server.join().unwrap();
}

#[test]
fn a_body_over_the_brokers_maximum_is_a_406_and_exit_5() {
    let q = unique("too-big");
    let out = run(&strs(&with_port(
        broker(),
        &["declare", "queue", &q, "--auto-delete"],
    )));
    assert_eq!(out.status.code(), Some(0));
    // RabbitMQ's default max_message_size is 128 MiB.
    let body = vec![b'x'; 128 * 1024 * 1024 + 1];
    let out = run_with_stdin(
        &strs(&with_port(
            broker(),
            &["pub", "-k", &q, "-m", "-", "--confirm"],
        )),
        &body,
    );
    check(
        &out,
        5,
        "(406, \"PRECONDITION_FAILED - message size 134217729 is larger than configured max size 134217728\")",
        &[],
    );
    assert!(stdout_lines(&out).is_empty(), "nothing reported sent");
}

#[test]
fn a_name_longer_than_amqp_allows_is_exit_2_before_anything_is_sent() {
    let long = "q".repeat(256);
    fails(
        &["pub", "-k", &long],
        2,
        "the routing key (-k) is 256 bytes long; AMQP allows at most 255",
    );
    fails(
        &["declare", "queue", &long],
        2,
        "the queue name is 256 bytes long",
    );
}

#[test]
fn an_unknown_exchange_for_a_binding_is_a_404() {
    let q = unique("bind-missing");
    let out = run(&strs(&with_port(
        broker(),
        &["declare", "queue", &q, "--auto-delete"],
    )));
    assert_eq!(out.status.code(), Some(0));
    let x = unique("no-exchange");
    fails(
        &["declare", "binding", "-e", &x, "-q", &q],
        5,
        &format!("(404, \"NOT_FOUND - no exchange '{x}' in vhost '/'\")"),
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
        let out = run(&strs(&with_port(broker(), &args)));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    }
    assert!(!queue_exists(&q), "a refused command declared {q}");
}

#[test]
fn pub_stops_on_sigint_and_reports_what_was_sent() {
    let q = unique("sigint-pub");
    let out = run(&strs(&with_port(
        broker(),
        &["declare", "queue", &q, "--auto-delete"],
    )));
    assert_eq!(out.status.code(), Some(0));
    let mut p = crate::support::process::spawn(&strs(&with_port(
        broker(),
        &[
            "pub",
            "-k",
            &q,
            "--confirm",
            "--nb-messages",
            "100",
            "--interval",
            "0.2",
        ],
    )));
    assert!(p.wait_stdout_line(Duration::from_secs(15)).is_some());
    p.signal(libc::SIGINT);
    let status = p.wait_exit(Duration::from_secs(15)).expect("pub stops");
    assert_eq!(status.code(), Some(130));
    let sent = p.stdout_lines_so_far().len();
    assert_eq!(
        p.stderr_lines_so_far(),
        vec![
            format!("Stopped by signal 2: {sent} of {sent} messages published were confirmed"),
            "ERROR: interrupted by signal 2".to_string()
        ]
    );
    assert!(sent < 100, "{sent}");
    assert_eq!(broker().queue_messages("/", &q), Some(sent as u64));
}
