//! The seed walkthrough, step by step, with the built binary: separate
//! processes where the walkthrough has separate terminals, asserting the
//! lines each prints, their order and the exit codes.

use std::process::Output;
use std::time::{Duration, Instant};

use amqpctl::amqp::{Connection, QueueOptions};

use crate::fixtures::{amqpctl, broker, delete_queue, plain, strs, with_port};
use crate::support::process::{Spawned, run, spawn, stderr_lines, stdout_lines};
use crate::support::unique;

const WAIT: Duration = Duration::from_secs(15);

/// Starts a long-running amqpctl against the shared node.
fn start(args: &[&str]) -> Spawned {
    spawn(&strs(&with_port(broker(), args)))
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

/// Waits until `queue` (in `/`) has `n` consumers, as the broker reports.
fn wait_consumers(queue: &str, n: u32) {
    let conn = Connection::open(&plain(broker())).expect("connect");
    let deadline = Instant::now() + WAIT;
    loop {
        let ch = conn.channel().expect("channel");
        let found = ch
            .queue_declare(
                queue,
                &QueueOptions {
                    passive: true,
                    ..QueueOptions::default()
                },
            )
            .map(|i| i.consumers)
            .unwrap_or(0);
        let _ = ch.close();
        if found == n {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{queue} has {found} consumers, not {n}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    conn.close().unwrap();
}

/// Waits until the exclusive (so not passively declarable from here) `queue`
/// has a consumer, asking rabbitmqctl.
fn wait_exclusive_consumer(queue: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let listed = broker().ctl_ok(&[
            "list_consumers",
            "-p",
            "/",
            "queue_name",
            "--no-table-headers",
            "--quiet",
        ]);
        if listed.lines().any(|l| l.trim() == queue) {
            return;
        }
        assert!(Instant::now() < deadline, "{queue} never got its consumer");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Collects `n` `Received:` lines from a consumer.
fn received(c: &Spawned, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            c.wait_stdout_line(WAIT)
                .unwrap_or_else(|| panic!("message {} of {n} never came", i + 1))
        })
        .collect()
}

/// Stops a consumer with SIGINT and checks it exits 0.
fn stop(mut c: Spawned) {
    c.signal(libc::SIGINT);
    let status = c.wait_exit(WAIT).expect("consumer exits after SIGINT");
    assert_eq!(
        status.code(),
        Some(0),
        "stderr: {:?}",
        c.stderr_lines_so_far()
    );
}

#[test]
fn step1_hello_world_both_sides_declare_the_queue() {
    let q = unique("hello");
    let con = start(&["con", "-q", &q, "-Q"]);
    assert_eq!(
        con.wait_stderr_containing("Created queue", WAIT),
        Some(format!("Created queue: {q}"))
    );
    wait_consumers(&q, 1);
    let out = amqpctl(&["pub", "-q", &q, "-Q", "-k", &q, "-m", "Hello World!"]);
    assert_eq!(code(&out), 0, "{out:?}");
    assert_eq!(stderr_lines(&out), vec![format!("Created queue: {q}")]);
    assert_eq!(stdout_lines(&out), vec!["Sent: Hello World!"]);
    assert_eq!(received(&con, 1), vec!["Received: Hello World!"]);
    stop(con);
}

#[test]
fn step1_publisher_without_declaration_with_mandatory_and_confirm() {
    let q = unique("hello");
    let con = start(&["con", "-q", &q, "-Q"]);
    wait_consumers(&q, 1);
    let out = amqpctl(&[
        "pub",
        "-k",
        &q,
        "--mandatory",
        "--confirm",
        "-m",
        "Hello World!",
    ]);
    assert_eq!(code(&out), 0, "{out:?}");
    assert!(stderr_lines(&out).is_empty(), "{out:?}");
    assert_eq!(stdout_lines(&out), vec!["Sent: Hello World!"]);
    assert_eq!(received(&con, 1), vec!["Received: Hello World!"]);
    stop(con);
}

#[test]
fn step2_alice_publishes_and_bob_reads_in_vhost_domain1() {
    let q = unique("hello");
    let alice = ["--userpass", "alice:alice123", "--vhost", "domain1"];
    let bob = ["--vhost", "domain1", "--userpass", "bob:bob123"];
    let mut args = vec![
        "pub",
        "-q",
        &q,
        "-Q",
        "-k",
        &q,
        "-m",
        "Hello World!",
        "--nad-queue",
    ];
    args.extend(alice);
    let out = amqpctl(&args);
    assert_eq!(code(&out), 0, "{out:?}");
    assert_eq!(
        stderr_lines(&out),
        vec![
            "WARNING: the connection is not secured.".to_string(),
            format!("Created queue: {q}")
        ]
    );
    assert_eq!(stdout_lines(&out), vec!["Sent: Hello World!"]);

    let mut args = vec!["con", "-q", &q, "--count", "1"];
    args.extend(bob);
    let out = amqpctl(&args);
    assert_eq!(code(&out), 0, "{out:?}");
    assert_eq!(
        stderr_lines(&out),
        vec!["WARNING: the connection is not secured."]
    );
    assert_eq!(stdout_lines(&out), vec!["Received: Hello World!"]);

    // bob may read but not configure: -Q is refused.
    let mut args = vec!["con", "-q", &q, "-Q", "--nad-queue", "--count", "1"];
    args.extend(bob);
    let out = amqpctl(&args);
    assert_eq!(code(&out), 5, "{out:?}");
    let err = stderr_lines(&out);
    assert_eq!(err.len(), 2, "{err:?}");
    assert!(
        err[1].starts_with(&format!("ERROR: (403, \"ACCESS_REFUSED - access to queue '{q}' in vhost 'domain1' refused for user 'bob'")),
        "{err:?}"
    );

    let mut args = vec!["declare", "queue", &q, "--passive"];
    args.extend(alice);
    let out = amqpctl(&args);
    assert_eq!(
        stderr_lines(&out).last().map(String::as_str),
        Some(format!("Queue exists: {q} (messages: 0, consumers: 0)").as_str())
    );
}

fn tls_args(extra: &[&str]) -> Vec<String> {
    let b = broker();
    let mut v = vec![
        "--server".to_string(),
        "localhost".to_string(),
        "--port-number".to_string(),
        b.amqps_port().to_string(),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

#[test]
fn step2_tls_enable_tls_refuses_the_test_ca_with_a_hint() {
    let q = unique("hello");
    let out = run(&strs(&tls_args(&[
        "pub",
        "-q",
        &q,
        "-Q",
        "-k",
        &q,
        "--enable-tls",
    ])));
    assert_eq!(code(&out), 3, "{out:?}");
    let err = stderr_lines(&out);
    assert_eq!(err.len(), 1, "{err:?}");
    assert!(
        err[0].starts_with("ERROR: TLS handshake with localhost:"),
        "{err:?}"
    );
    assert!(
        err[0].ends_with(
            "certificate signed by an unknown authority: use --cafile FILE or --insecure"
        ),
        "{err:?}"
    );
    assert!(stdout_lines(&out).is_empty());
}

#[test]
fn step2_tls_with_cafile_and_subjectname_publishes_without_warning() {
    let q = unique("hello");
    let ca = broker().ca_pem().display().to_string();
    let args = tls_args(&[
        "pub",
        "-q",
        &q,
        "-Q",
        "-k",
        &q,
        "-m",
        "Hello World!",
        "--cafile",
        &ca,
        "--subjectname",
        "localhost",
        "--userpass",
        "alice:alice123",
        "--vhost",
        "domain1",
    ]);
    let out = run(&strs(&args));
    assert_eq!(code(&out), 0, "{out:?}");
    assert_eq!(stderr_lines(&out), vec![format!("Created queue: {q}")]);
    assert_eq!(stdout_lines(&out), vec!["Sent: Hello World!"]);
}

#[test]
fn step2_tls_with_a_wrong_subjectname_exits_3() {
    let ca = broker().ca_pem().display().to_string();
    let out = run(&strs(&tls_args(&[
        "pub",
        "--cafile",
        &ca,
        "--subjectname",
        "broker.example",
    ])));
    assert_eq!(code(&out), 3, "{out:?}");
    let err = stderr_lines(&out);
    assert_eq!(err.len(), 1, "{err:?}");
    assert!(
        err[0].contains("not valid for the name 'broker.example'"),
        "{err:?}"
    );
}

#[test]
fn step2_tls_insecure_warns_and_works() {
    let q = unique("hello");
    let out = run(&strs(&tls_args(&[
        "pub",
        "-q",
        &q,
        "-Q",
        "-k",
        &q,
        "--insecure",
    ])));
    assert_eq!(code(&out), 0, "{out:?}");
    let err = stderr_lines(&out);
    assert!(
        err[0].starts_with("WARNING: TLS certificate verification is disabled"),
        "{err:?}"
    );
    assert_eq!(err[1], format!("Created queue: {q}"));
    assert_eq!(stdout_lines(&out), vec!["Sent: Hello World!"]);
}

#[test]
fn step2_mutual_tls_publishes_as_the_certificate_user() {
    let b = broker();
    let q = unique("hello");
    let ca = b.ca_pem().display().to_string();
    let cert = b.client_cert().display().to_string();
    let key = b.client_key().display().to_string();
    let out = run(&strs(&tls_args(&[
        "pub",
        "-q",
        &q,
        "-Q",
        "-k",
        &q,
        "--cafile",
        &ca,
        "--certfile",
        &cert,
        "--keyfile",
        &key,
    ])));
    assert_eq!(code(&out), 0, "{out:?}");
    assert_eq!(stdout_lines(&out), vec!["Sent: Hello World!"]);
}

fn worker(q: &str, extra: &[&str]) -> Spawned {
    let mut args = vec![
        "con",
        "-q",
        q,
        "-Q",
        "--durable-queue",
        "--nad-queue",
        "--prefetch",
        "1",
    ];
    args.extend_from_slice(extra);
    start(&args)
}

fn publish_tasks(q: &str) -> Output {
    let out = amqpctl(&[
        "pub",
        "-t",
        "direct",
        "-k",
        q,
        "--persistent",
        "--nb-messages",
        "4",
        "-m",
        "Hello!",
        "--interval",
        "0.5",
    ]);
    assert_eq!(code(&out), 0, "{out:?}");
    assert_eq!(
        stdout_lines(&out),
        vec![
            "Sent: 1:Hello!",
            "Sent: 2:Hello!",
            "Sent: 3:Hello!",
            "Sent: 4:Hello!"
        ]
    );
    out
}

#[test]
fn step3_two_prefetch_1_workers_alternate() {
    let q = unique("task_queue");
    let a = worker(&q, &[]);
    wait_consumers(&q, 1);
    let b = worker(&q, &[]);
    wait_consumers(&q, 2);
    publish_tasks(&q);
    let mut got = [received(&a, 2), received(&b, 2)];
    got.sort();
    assert_eq!(
        got,
        [
            vec![
                "Received: 1:Hello!".to_string(),
                "Received: 3:Hello!".to_string()
            ],
            vec![
                "Received: 2:Hello!".to_string(),
                "Received: 4:Hello!".to_string()
            ],
        ]
    );
    assert_eq!(a.stderr_lines_so_far(), vec![format!("Created queue: {q}")]);
    stop(a);
    stop(b);
    delete_queue(broker(), &q);
}

#[test]
fn step3_a_lazy_worker_dies_and_its_message_is_redelivered_to_the_sober_one() {
    let q = unique("task_queue");
    let mut lazy = worker(&q, &["--lazy", "3"]);
    wait_consumers(&q, 1);
    let sober = worker(&q, &[]);
    wait_consumers(&q, 2);
    publish_tasks(&q);
    assert_eq!(received(&lazy, 1), vec!["Received: 1:Hello!"]);
    let status = lazy.wait_exit(WAIT).expect("LAZY exits by itself");
    assert_eq!(status.code(), Some(0));
    assert_eq!(lazy.stdout_lines_so_far(), vec!["Received: 1:Hello!"]);
    assert_eq!(
        received(&sober, 4),
        vec![
            "Received: 2:Hello!",
            "Received: 3:Hello!",
            "Received: 4:Hello!",
            "Received: 1:Hello!"
        ]
    );
    stop(sober);
    delete_queue(broker(), &q);
}

#[test]
fn step3_a_lazy_worker_with_ack_auto_loses_its_messages() {
    let q = unique("task_queue");
    let mut lazy = worker(&q, &["--lazy", "3", "--ack-auto"]);
    wait_consumers(&q, 1);
    let sober = worker(&q, &[]);
    wait_consumers(&q, 2);
    publish_tasks(&q);
    let status = lazy.wait_exit(WAIT).expect("LAZY exits by itself");
    assert_eq!(status.code(), Some(0));
    assert_eq!(lazy.stdout_lines_so_far(), vec!["Received: 1:Hello!"]);
    assert_eq!(
        received(&sober, 2),
        vec!["Received: 2:Hello!", "Received: 4:Hello!"]
    );
    // 1 and 3 are gone for good: nothing more comes.
    assert_eq!(sober.wait_stdout_line(Duration::from_secs(1)), None);
    stop(sober);
    assert_eq!(broker().queue_messages("/", &q), Some(0));
    delete_queue(broker(), &q);
}

/// A `-Q --exclusive --bind-queue --ack-auto` subscriber; returns it and its queue name.
fn subscriber(exchange: &str, kind: &str, keys: &[&str]) -> (Spawned, String) {
    let mut args = vec![
        "con",
        "-e",
        exchange,
        "-E",
        "-t",
        kind,
        "-Q",
        "--exclusive",
        "--bind-queue",
        "--ack-auto",
    ];
    for k in keys {
        args.extend(["-k", k]);
    }
    let c = start(&args);
    assert_eq!(
        c.wait_stderr_containing("Created exchange", WAIT),
        Some(format!("Created exchange: {exchange}"))
    );
    let created = c
        .wait_stderr_containing("Created queue", WAIT)
        .expect("queue line");
    let queue = created.trim_start_matches("Created queue: ").to_string();
    assert!(queue.starts_with("amq.gen-"), "{queue}");
    if keys.is_empty() {
        assert_eq!(
            c.wait_stderr_containing("Bound", WAIT),
            Some(format!("Bound Queue [{queue}] to Exchange [{exchange}]"))
        );
    }
    for k in keys {
        assert_eq!(
            c.wait_stderr_containing("Bound", WAIT),
            Some(format!(
                "Bound Queue [{queue}] to Exchange [{exchange}] {k}"
            ))
        );
    }
    wait_exclusive_consumer(&queue);
    (c, queue)
}

#[test]
fn step4_publish_subscribe_every_subscriber_gets_every_message() {
    let logs = unique("logs");
    let (a, _) = subscriber(&logs, "fanout", &[]);
    let (b, _) = subscriber(&logs, "fanout", &[]);
    let out = amqpctl(&[
        "pub",
        "-e",
        &logs,
        "-t",
        "fanout",
        "--nb-messages",
        "3",
        "-m",
        "Hello World!",
        "--interval",
        "0.1",
    ]);
    assert_eq!(code(&out), 0, "{out:?}");
    let expected = vec![
        "Received: 1:Hello World!",
        "Received: 2:Hello World!",
        "Received: 3:Hello World!",
    ];
    assert_eq!(received(&a, 3), expected);
    assert_eq!(received(&b, 3), expected);
    stop(a);
    stop(b);
}

#[test]
fn step4_missing_exchange_with_mandatory_and_confirm_fails_at_once() {
    let logs = unique("logs");
    let out = amqpctl(&[
        "pub",
        "-e",
        &logs,
        "-t",
        "fanout",
        "-m",
        "Hello World!",
        "--mandatory",
        "--confirm",
    ]);
    assert_eq!(code(&out), 5, "{out:?}");
    assert!(stdout_lines(&out).is_empty());
    assert_eq!(
        stderr_lines(&out),
        vec![format!(
            "ERROR: (404, \"NOT_FOUND - no exchange '{logs}' in vhost '/'\")"
        )]
    );
}

#[test]
fn step4_missing_exchange_without_confirm_fails_on_the_next_publish() {
    let logs = unique("logs");
    let out = amqpctl(&[
        "pub",
        "-e",
        &logs,
        "-t",
        "fanout",
        "-m",
        "Hello World!",
        "--nb-messages",
        "2",
        "--interval",
        "0.3",
    ]);
    assert_eq!(code(&out), 5, "{out:?}");
    assert_eq!(stdout_lines(&out), vec!["Sent: 1:Hello World!"]);
    assert_eq!(
        stderr_lines(&out),
        vec![format!(
            "ERROR: (404, \"NOT_FOUND - no exchange '{logs}' in vhost '/'\")"
        )]
    );
}

#[test]
fn step5_routing_delivers_by_binding_key() {
    let direct = unique("direct_logs");
    let (errors, _) = subscriber(&direct, "direct", &["error"]);
    let (infos, _) = subscriber(&direct, "direct", &["info"]);
    for key in ["error", "info"] {
        let out = amqpctl(&[
            "pub",
            "-e",
            &direct,
            "-t",
            "direct",
            "-m",
            &format!("Hello {key}!"),
            "-k",
            key,
        ]);
        assert_eq!(code(&out), 0, "{out:?}");
    }
    assert_eq!(received(&errors, 1), vec!["Received: Hello error!"]);
    assert_eq!(received(&infos, 1), vec!["Received: Hello info!"]);
    assert_eq!(errors.wait_stdout_line(Duration::from_millis(500)), None);
    assert_eq!(infos.wait_stdout_line(Duration::from_millis(500)), None);
    stop(errors);
    stop(infos);
}

#[test]
fn step6_topics_match_words_and_hashes() {
    let topic = unique("topic_logs");
    let (tokyo, _) = subscriber(&topic, "topic", &["jp.lg.tokyo"]);
    let (chiba, _) = subscriber(&topic, "topic", &["jp.lg.chiba"]);
    let (all, _) = subscriber(&topic, "topic", &["jp.lg.#"]);
    for key in ["jp.lg.chiba", "jp.lg.tokyo"] {
        let out = amqpctl(&["pub", "-e", &topic, "-t", "topic", "-k", key, "-m", key]);
        assert_eq!(code(&out), 0, "{out:?}");
    }
    assert_eq!(received(&chiba, 1), vec!["Received: jp.lg.chiba"]);
    assert_eq!(received(&tokyo, 1), vec!["Received: jp.lg.tokyo"]);
    assert_eq!(
        received(&all, 2),
        vec!["Received: jp.lg.chiba", "Received: jp.lg.tokyo"]
    );
    assert_eq!(tokyo.wait_stdout_line(Duration::from_millis(500)), None);
    assert_eq!(chiba.wait_stdout_line(Duration::from_millis(500)), None);
    stop(tokyo);
    stop(chiba);
    stop(all);
}

#[test]
fn a_vhost_connection_limit_is_refused_with_530_and_exit_4() {
    let b = broker();
    let vhost = unique("limited");
    b.ctl_ok(&["add_vhost", &vhost]);
    b.ctl_ok(&["set_permissions", "-p", &vhost, "guest", ".*", ".*", ".*"]);
    b.ctl_ok(&["set_vhost_limits", "-p", &vhost, "{\"max-connections\":1}"]);
    let q = unique("limit");
    let holder = start(&["con", "-q", &q, "-Q", "--exclusive", "--vhost", &vhost]);
    assert!(
        holder
            .wait_stderr_containing("Created queue", WAIT)
            .is_some()
    );
    let out = amqpctl(&["pub", "--vhost", &vhost]);
    assert_eq!(code(&out), 4, "{out:?}");
    assert_eq!(
        stderr_lines(&out),
        vec![format!(
            "ERROR: (530, \"NOT_ALLOWED - access to vhost '{vhost}' refused for user 'guest': connection limit (1) is reached\")"
        )]
    );
    stop(holder);
    b.ctl_ok(&["delete_vhost", &vhost]);
}
