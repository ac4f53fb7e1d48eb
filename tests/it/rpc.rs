//! `amqpctl rpc` against tutorial 6's pika client and server, and against
//! itself; a missing server times out (exit 9) or is reported unroutable.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::fixtures::{broker, strs, with_port};
use crate::support::process::{Spawned, run, spawn, stderr_lines, stdout_lines};
use crate::support::{pika_python, unique};

fn script(name: &str) -> String {
    format!("{}/tests/pika/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn rpc_call_gets_its_answer_from_the_pika_tutorial_server() {
    let q = unique("rpc_queue");
    let port = broker().amqp_port().to_string();
    let mut server = Spawned::start({
        let mut c = Command::new(pika_python());
        c.args([script("rpc_server.py"), port, q.clone(), "2".into()]);
        c
    });
    assert_eq!(
        server.wait_stdout_line(Duration::from_secs(30)).as_deref(),
        Some("ready")
    );
    for (n, fib) in [("30", "832040"), ("10", "55")] {
        let out = run(&strs(&with_port(
            broker(),
            &["rpc", "call", "-k", &q, "-m", n, "--timeout", "10"],
        )));
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(stdout_lines(&out), vec![fib]);
    }
    assert_eq!(
        server
            .wait_exit(Duration::from_secs(15))
            .and_then(|s| s.code()),
        Some(0)
    );
}

#[test]
fn rpc_serve_answers_the_pika_tutorial_client() {
    let q = unique("rpc_queue");
    let mut server = spawn(&strs(&with_port(
        broker(),
        &[
            "rpc",
            "serve",
            "-q",
            &q,
            "-Q",
            "--exec",
            "read n; echo $((n * n))",
            "--count",
            "1",
        ],
    )));
    assert!(
        server
            .wait_stderr_containing("Created queue", Duration::from_secs(15))
            .is_some()
    );
    let out = Command::new(pika_python())
        .args([
            script("rpc_client.py"),
            broker().amqp_port().to_string(),
            q.clone(),
            "12".into(),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "144");
    let status = server
        .wait_exit(Duration::from_secs(15))
        .expect("serve exits after --count");
    assert_eq!(status.code(), Some(0), "{:?}", server.stderr_lines_so_far());
}

#[test]
fn a_call_nobody_answers_times_out_and_an_unroutable_one_returns() {
    let q = unique("rpc_idle");
    let out = run(&strs(&with_port(
        broker(),
        &["declare", "queue", &q, "--auto-delete"],
    )));
    assert_eq!(out.status.code(), Some(0));
    let out = run(&strs(&with_port(
        broker(),
        &["rpc", "call", "-k", &q, "-m", "1", "--timeout", "0.5"],
    )));
    assert_eq!(out.status.code(), Some(9), "{out:?}");
    assert_eq!(stderr_lines(&out), vec!["ERROR: no reply within 0.5 s"]);
    let out = run(&strs(&with_port(
        broker(),
        &[
            "rpc",
            "call",
            "-k",
            &unique("nobody"),
            "-m",
            "1",
            "--timeout",
            "20",
        ],
    )));
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    assert_eq!(
        stderr_lines(&out),
        vec!["ERROR: message returned by the broker: (312, \"NO_ROUTE\")"]
    );
    run(&strs(&with_port(broker(), &["delete", "queue", &q])));
}
