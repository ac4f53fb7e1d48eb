//! How a run stops: a signal delivered twice (coreutils `timeout` signals
//! the group too), repeated a millisecond later, or repeated a second later
//! (which forces the exit); a signal during a connect that hangs; a quiet
//! run that still says what it sent; and a reader of stdout that goes away.

use std::io::{BufRead, BufReader, ErrorKind};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use crate::support::eventually::WAIT;
use crate::support::eventually_within;
use crate::support::run::{AMQPCTL, connection_flags};
use crate::support::{
    Cmd, Run, amqpctl, broker, delete_queue, durable_queue, fill, fresh_queue, messages,
    spawn_amqpctl, unique, wait_for_messages, wait_until,
};

/// Runs `amqpctl ARGS` under coreutils `timeout --preserve-status SECS`,
/// which signals the child and its process group: the child sees the
/// signal twice.
fn under_timeout(secs: &str, args: &[&str]) -> Run {
    let mut cmd = Command::new("timeout");
    cmd.args(["--preserve-status", secs, AMQPCTL])
        .args(connection_flags(broker()))
        .args(args);
    Cmd::from(cmd).run()
}

#[test]
fn a_signal_doubled_by_timeout_is_one_clean_stop_for_con_and_pub() {
    // Run side by side: each run is a one-second wait.
    let runs: Vec<_> = (0..12)
        .map(|_| {
            std::thread::spawn(move || {
                let q = unique("double-sigterm");
                under_timeout("1", &["con", "-q", &q, "-Q"]).code(0);
                // pub's signal stop is 128+15, and it reports how far it got; a
                // forced exit would say "exiting at once" instead.
                under_timeout("1", &["pub", "-k", &q, "--nb-messages", "10"])
                    .code(143)
                    .stderr_has("Stopped by signal 15: [..]")
                    .never_shows("exiting at once");
            })
        })
        .collect();
    for run in runs {
        run.join().expect("run thread");
    }
}

#[test]
fn a_signal_repeated_a_millisecond_later_is_still_one_clean_stop() {
    let runs: Vec<_> = (0..20)
        .map(|_| {
            std::thread::spawn(|| {
                let q = unique("repeat-sigterm");
                let mut con = spawn_amqpctl(&["con", "-q", &q, "-Q"]);
                con.await_stderr("Created queue", WAIT);
                con.signal(libc::SIGTERM);
                // The race under test: the second signal a millisecond after the first.
                std::thread::sleep(Duration::from_millis(1));
                // Not reaped yet, so this reaches it even if it is done.
                con.signal(libc::SIGTERM);
                con.exits_with(0, Duration::from_secs(10));
            })
        })
        .collect();
    for run in runs {
        run.join().expect("run thread");
    }
}

#[test]
fn a_signal_a_second_after_the_first_forces_the_exit_and_says_so() {
    let q = fresh_queue("forced");
    amqpctl(&["pub", "-k", &q, "-m", "job", "--confirm"])
        .code(0)
        .stdout(["Sent: job"]);
    // A command that ignores SIGTERM keeps the clean stop waiting.
    let mut con = spawn_amqpctl(&[
        "con",
        "-q",
        &q,
        "--exec",
        "trap '' TERM; echo started; exec sleep 8 >/dev/null 2>&1",
    ]);
    assert_eq!(con.next_stdout_line(WAIT), "started");
    con.signal(libc::SIGTERM);
    // What is under test: a second signal more than a second after the first.
    std::thread::sleep(Duration::from_millis(1500));
    con.signal(libc::SIGTERM);
    con.exits_with(143, Duration::from_secs(3));
    let err = con.stderr_lines_so_far();
    assert!(
        err.iter()
            .any(|l| l.starts_with("WARNING: signal 15 again: exiting at once")),
        "{err:?}"
    );
    // Never acked: the broker has it back once the connection is gone.
    wait_for_messages(broker(), &q, 1);
    delete_queue(broker(), &q);
}

#[test]
fn an_interrupted_quiet_pub_still_says_how_many_it_sent() {
    let q = fresh_queue("quiet-interrupted");
    let mut p = spawn_amqpctl(&[
        "pub",
        "-k",
        &q,
        "--quiet",
        "--nb-messages",
        "100",
        "--interval",
        "0.1",
    ]);
    wait_until(broker(), &q, "2 messages or more", |q| q.messages >= 2);
    p.signal(libc::SIGINT);
    p.exits_with(130, Duration::from_secs(10));
    assert!(p.stdout_lines_so_far().is_empty());
    let sent = messages(broker(), &q);
    assert_eq!(
        p.stderr_lines_so_far(),
        vec![
            format!("Stopped by signal 2: {sent} messages sent"),
            "ERROR: interrupted by signal 2".to_string(),
        ]
    );
    delete_queue(broker(), &q);
}

/// The connection `listener` accepts within [`WAIT`], held open by the caller.
fn accept_within(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).expect("non-blocking");
    let every = Duration::from_millis(10);
    eventually_within(WAIT, every, "a connection", || match listener.accept() {
        Ok((stream, _)) => Some(stream),
        Err(e) if e.kind() == ErrorKind::WouldBlock => None,
        Err(e) => panic!("accept: {e}"),
    })
}

#[test]
fn a_signal_ends_a_hanging_connect_at_once() {
    // Accepts TCP, never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port().to_string();
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port().to_string()
    };
    let cases: Vec<(Vec<&str>, i32, libc::c_int)> = vec![
        (
            vec!["pub", "-k", "x", "-m", "y", "--port-number", &port],
            130,
            libc::SIGINT,
        ),
        (
            vec!["con", "-q", "x", "--port-number", &port],
            0,
            libc::SIGINT,
        ),
        (
            vec!["pub", "-k", "x", "--port-number", &port],
            143,
            libc::SIGTERM,
        ),
        (
            vec![
                "con",
                "-q",
                "x",
                "--enable-tls",
                "--insecure",
                "--port-number",
                &port,
            ],
            0,
            libc::SIGTERM,
        ),
        (
            vec!["con", "-q", "x", "--reconnect", "--port-number", &closed],
            0,
            libc::SIGINT,
        ),
    ];
    for (args, code, signal) in cases {
        let mut all = vec!["-s", "127.0.0.1", "--connect-timeout", "30"];
        all.extend(&args);
        let mut p = Cmd::amqpctl(&all).spawn();
        // Signal it once it hangs: connected to the silent peer, or waiting
        // to try the closed port again.
        let held = if args.contains(&port.as_str()) {
            Some(accept_within(&silent))
        } else {
            p.await_stderr("reconnecting in", WAIT);
            None
        };
        p.signal(signal);
        p.exits_with(code, Duration::from_secs(3));
        drop(held);
    }
}

#[test]
fn con_notices_that_the_reader_of_its_stdout_went_away_while_idle() {
    let q = fresh_queue("head");
    for _ in 0..6 {
        fill(broker(), &q, 50, "Hello World!");
        let mut con = Cmd::amqpctl_on(broker(), &["con", "-q", &q]).spawn_piped();
        let mut reader = BufReader::new(con.take_stdout());
        let mut first = String::new();
        reader.read_line(&mut first).expect("first line");
        assert!(first.starts_with("Received: "), "{first:?}");
        drop(reader); // `head -1` exits
        con.wait(Duration::from_secs(10)).code(0).no_stderr();
        // What the kernel accepted was written, and so acked; the rest is
        // still queued. Either way nothing is left unacked.
        delete_queue(broker(), &q);
        durable_queue(broker(), &q);
    }
    delete_queue(broker(), &q);
}
