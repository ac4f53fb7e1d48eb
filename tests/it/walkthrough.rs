//! The seed walkthrough, step by step, with the built binary: separate
//! processes where the walkthrough has separate terminals, asserting the
//! lines each prints, their order and the exit codes.

use std::time::Duration;

use crate::support::eventually_within;
use crate::support::{
    Run, Spawned, amqpctl, amqpctl_tls, broker, declaring_pub, delete_queue, messages,
    spawn_amqpctl, transient_warning, unique, wait_for_consumers,
};

/// The stderr lines of a declaration of the transient shared queue `q`:
/// `lines`, after the WARNING of a broker that refuses such a queue.
fn declaring(q: &str, lines: impl IntoIterator<Item = String>) -> Vec<String> {
    transient_warning(q).into_iter().chain(lines).collect()
}

const WAIT: Duration = Duration::from_secs(15);

/// Waits until the exclusive (so not passively declarable from here) `queue`
/// has a consumer, asking rabbitmqctl.
fn wait_exclusive_consumer(queue: &str) {
    eventually_within(
        WAIT,
        Duration::from_millis(100),
        &format!("{queue}'s consumer"),
        || {
            let listed = broker().ctl_ok(&[
                "list_consumers",
                "-p",
                "/",
                "queue_name",
                "--no-table-headers",
                "--quiet",
            ]);
            if listed.lines().any(|l| l.trim() == queue) {
                Ok(())
            } else {
                Err(listed)
            }
        },
    );
}

/// Checks that consumer `con` prints the walkthrough's message, then stops it.
#[track_caller]
fn hello_received(con: Spawned) {
    assert_eq!(con.next_stdout_line(WAIT), "Received: Hello World!");
    con.interrupt(WAIT);
}

#[test]
fn step1_hello_world_both_sides_declare_the_queue() {
    let q = unique("hello");
    let con = spawn_amqpctl(&["con", "-q", &q, "-Q"]);
    assert_eq!(
        con.await_stderr("Created queue", WAIT),
        format!("Created queue: {q}")
    );
    wait_for_consumers(broker(), &q, 1);
    amqpctl(&declaring_pub(&q, &["-m", "Hello World!"]))
        .code(0)
        .stderr(declaring(&q, [format!("Created queue: {q}")]))
        .stdout(["Sent: Hello World!"]);
    hello_received(con);
}

#[test]
fn step1_publisher_without_declaration_with_mandatory_and_confirm() {
    let q = unique("hello");
    let con = spawn_amqpctl(&["con", "-q", &q, "-Q"]);
    wait_for_consumers(broker(), &q, 1);
    amqpctl(&[
        "pub",
        "-k",
        &q,
        "--mandatory",
        "--confirm",
        "-m",
        "Hello World!",
    ])
    .code(0)
    .no_stderr()
    .stdout(["Sent: Hello World!"]);
    hello_received(con);
}

#[test]
fn step2_alice_publishes_and_bob_reads_in_vhost_domain1() {
    let q = unique("hello");
    let alice = ["--userpass", "alice:alice123", "--vhost", "domain1"];
    let bob = ["--vhost", "domain1", "--userpass", "bob:bob123"];
    let args = declaring_pub(&q, &["-m", "Hello World!", "--nad-queue"]);
    amqpctl(&[&args[..], &alice].concat())
        .code(0)
        .stderr(declaring(
            &q,
            [
                "WARNING: the connection is not secured.".to_string(),
                format!("Created queue: {q}"),
            ],
        ))
        .stdout(["Sent: Hello World!"]);

    let mut args = vec!["con", "-q", &q, "--count", "1"];
    args.extend(bob);
    amqpctl(&args)
        .code(0)
        .stderr(["WARNING: the connection is not secured."])
        .stdout(["Received: Hello World!"]);

    // bob may read but not configure: -Q is refused.
    let mut args = vec!["con", "-q", &q, "-Q", "--nad-queue", "--count", "1"];
    args.extend(bob);
    amqpctl(&args).code(5).stderr([
        "WARNING: the connection is not secured.".to_string(),
        // 4.0 says "configure access to queue", 3.10 "access to queue".
        format!("ERROR: (403, \"ACCESS_REFUSED - [..]access to queue '{q}' in vhost 'domain1' refused for user 'bob'[..]"),
    ]);

    let mut args = vec!["declare", "queue", &q, "--passive"];
    args.extend(alice);
    amqpctl(&args)
        .code(0)
        .stdout([format!("Queue exists: {q} (messages: 0, consumers: 0)")])
        .stderr(["WARNING: the connection is not secured.".to_string()]);
}

#[test]
fn step2_tls_enable_tls_refuses_the_test_ca_with_a_hint() {
    let q = unique("hello");
    amqpctl_tls(&declaring_pub(&q, &["--enable-tls"]))
        .code(3)
        .stderr([
            "ERROR: TLS handshake with localhost:[..] failed: certificate signed by an unknown authority",
            "hint: use --cafile FILE or --insecure",
        ])
        .no_stdout();
}

#[test]
fn step2_tls_with_cafile_and_subjectname_publishes_without_warning() {
    let q = unique("hello");
    let ca = broker().ca_pem().display().to_string();
    let verified = ["--cafile", &ca, "--subjectname", "localhost"];
    let alice = ["--userpass", "alice:alice123", "--vhost", "domain1"];
    let args = declaring_pub(&q, &["-m", "Hello World!"]);
    amqpctl_tls(&[&args[..], &verified, &alice].concat())
        .code(0)
        .stderr(declaring(&q, [format!("Created queue: {q}")]))
        .stdout(["Sent: Hello World!"]);
}

#[test]
fn step2_tls_with_a_wrong_subjectname_exits_3() {
    let ca = broker().ca_pem().display().to_string();
    amqpctl_tls(&["pub", "--cafile", &ca, "--subjectname", "broker.example"])
        .code(3)
        .stderr([
            "ERROR: [..]not valid for the name 'broker.example'",
            "hint: use --subjectname NAME",
        ]);
}

#[test]
fn step2_tls_insecure_warns_and_works() {
    let q = unique("hello");
    amqpctl_tls(&declaring_pub(&q, &["--insecure"]))
        .code(0)
        .stderr(declaring(
            &q,
            [
                "WARNING: TLS certificate verification is disabled[..]".to_string(),
                format!("Created queue: {q}"),
            ],
        ))
        .stdout(["Sent: Hello World!"]);
}

#[test]
fn step2_mutual_tls_publishes_as_the_certificate_user() {
    let b = broker();
    let q = unique("hello");
    let ca = b.ca_pem().display().to_string();
    let cert = b.client_cert().display().to_string();
    let key = b.client_key().display().to_string();
    let mutual = ["--cafile", &ca, "--certfile", &cert, "--keyfile", &key];
    amqpctl_tls(&declaring_pub(&q, &mutual))
        .code(0)
        .stdout(["Sent: Hello World!"]);
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
    spawn_amqpctl(&args)
}

fn publish_tasks(q: &str) {
    amqpctl(&[
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
    ])
    .code(0)
    .stdout([
        "Sent: 1:Hello!",
        "Sent: 2:Hello!",
        "Sent: 3:Hello!",
        "Sent: 4:Hello!",
    ]);
}

#[test]
fn step3_two_prefetch_1_workers_alternate() {
    let q = unique("task_queue");
    let a = worker(&q, &[]);
    wait_for_consumers(broker(), &q, 1);
    let b = worker(&q, &[]);
    wait_for_consumers(broker(), &q, 2);
    publish_tasks(&q);
    let mut got = [a.next_stdout_lines(2, WAIT), b.next_stdout_lines(2, WAIT)];
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
    a.interrupt(WAIT);
    b.interrupt(WAIT);
    delete_queue(broker(), &q);
}

#[test]
fn step3_a_lazy_worker_dies_and_its_message_is_redelivered_to_the_sober_one() {
    let q = unique("task_queue");
    let mut lazy = worker(&q, &["--lazy", "3"]);
    wait_for_consumers(broker(), &q, 1);
    let sober = worker(&q, &[]);
    wait_for_consumers(broker(), &q, 2);
    publish_tasks(&q);
    assert_eq!(lazy.next_stdout_line(WAIT), "Received: 1:Hello!");
    // LAZY exits by itself.
    lazy.exits_with(0, WAIT);
    assert_eq!(lazy.stdout_lines_so_far(), vec!["Received: 1:Hello!"]);
    assert_eq!(
        sober.next_stdout_lines(4, WAIT),
        vec![
            "Received: 2:Hello!",
            "Received: 3:Hello!",
            "Received: 4:Hello!",
            "Received: 1:Hello!"
        ]
    );
    sober.interrupt(WAIT);
    delete_queue(broker(), &q);
}

#[test]
fn step3_a_lazy_worker_with_ack_auto_loses_its_messages() {
    let q = unique("task_queue");
    let mut lazy = worker(&q, &["--lazy", "3", "--ack-auto"]);
    wait_for_consumers(broker(), &q, 1);
    let sober = worker(&q, &[]);
    wait_for_consumers(broker(), &q, 2);
    publish_tasks(&q);
    // LAZY exits by itself.
    lazy.exits_with(0, WAIT);
    assert_eq!(lazy.stdout_lines_so_far(), vec!["Received: 1:Hello!"]);
    assert_eq!(
        sober.next_stdout_lines(2, WAIT),
        vec!["Received: 2:Hello!", "Received: 4:Hello!"]
    );
    // 1 and 3 are gone for good: nothing more comes.
    assert_eq!(sober.wait_stdout_line(Duration::from_secs(1)), None);
    sober.interrupt(WAIT);
    assert_eq!(messages(broker(), &q), 0);
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
    let c = spawn_amqpctl(&args);
    assert_eq!(
        c.await_stderr("Created exchange", WAIT),
        format!("Created exchange: {exchange}")
    );
    let created = c.await_stderr("Created queue", WAIT);
    let queue = created.trim_start_matches("Created queue: ").to_string();
    assert!(queue.starts_with("amq.gen-"), "{queue}");
    if keys.is_empty() {
        assert_eq!(
            c.await_stderr("Bound", WAIT),
            format!("Bound Queue [{queue}] to Exchange [{exchange}]")
        );
    }
    for k in keys {
        assert_eq!(
            c.await_stderr("Bound", WAIT),
            format!("Bound Queue [{queue}] to Exchange [{exchange}] {k}")
        );
    }
    wait_exclusive_consumer(&queue);
    (c, queue)
}

/// `pub -e LOGS -t fanout -m "Hello World!" EXTRA`: tutorial 3's emitter.
fn to_logs(logs: &str, extra: &[&str]) -> Run {
    amqpctl(
        &[
            &["pub", "-e", logs, "-t", "fanout", "-m", "Hello World!"][..],
            extra,
        ]
        .concat(),
    )
}

#[test]
fn step4_publish_subscribe_every_subscriber_gets_every_message() {
    let logs = unique("logs");
    let (a, _) = subscriber(&logs, "fanout", &[]);
    let (b, _) = subscriber(&logs, "fanout", &[]);
    to_logs(&logs, &["--nb-messages", "3", "--interval", "0.1"])
        .code(0)
        .stdout([
            "Sent: 1:Hello World!",
            "Sent: 2:Hello World!",
            "Sent: 3:Hello World!",
        ]);
    let expected = vec![
        "Received: 1:Hello World!",
        "Received: 2:Hello World!",
        "Received: 3:Hello World!",
    ];
    assert_eq!(a.next_stdout_lines(3, WAIT), expected);
    assert_eq!(b.next_stdout_lines(3, WAIT), expected);
    a.interrupt(WAIT);
    b.interrupt(WAIT);
}

#[test]
fn step4_missing_exchange_with_mandatory_and_confirm_fails_at_once() {
    let logs = unique("logs");
    to_logs(&logs, &["--mandatory", "--confirm"])
        .code(5)
        .no_stdout()
        .stderr([format!(
            "ERROR: (404, \"NOT_FOUND - no exchange '{logs}' in vhost '/'\")"
        )]);
}

#[test]
fn step4_missing_exchange_without_confirm_fails_on_the_next_publish() {
    let logs = unique("logs");
    to_logs(&logs, &["--nb-messages", "2", "--interval", "0.3"])
        .code(5)
        .stdout(["Sent: 1:Hello World!"])
        .stderr([format!(
            "ERROR: (404, \"NOT_FOUND - no exchange '{logs}' in vhost '/'\")"
        )]);
}

#[test]
fn step5_routing_delivers_by_binding_key() {
    let direct = unique("direct_logs");
    let (errors, _) = subscriber(&direct, "direct", &["error"]);
    let (infos, _) = subscriber(&direct, "direct", &["info"]);
    for key in ["error", "info"] {
        amqpctl(&[
            "pub",
            "-e",
            &direct,
            "-t",
            "direct",
            "-m",
            &format!("Hello {key}!"),
            "-k",
            key,
        ])
        .code(0)
        .stdout([format!("Sent: Hello {key}!")]);
    }
    assert_eq!(errors.next_stdout_line(WAIT), "Received: Hello error!");
    assert_eq!(infos.next_stdout_line(WAIT), "Received: Hello info!");
    assert_eq!(errors.wait_stdout_line(Duration::from_millis(500)), None);
    assert_eq!(infos.wait_stdout_line(Duration::from_millis(500)), None);
    errors.interrupt(WAIT);
    infos.interrupt(WAIT);
}

#[test]
fn step6_topics_match_words_and_hashes() {
    let topic = unique("topic_logs");
    let (tokyo, _) = subscriber(&topic, "topic", &["jp.lg.tokyo"]);
    let (chiba, _) = subscriber(&topic, "topic", &["jp.lg.chiba"]);
    let (all, _) = subscriber(&topic, "topic", &["jp.lg.#"]);
    for key in ["jp.lg.chiba", "jp.lg.tokyo"] {
        amqpctl(&["pub", "-e", &topic, "-t", "topic", "-k", key, "-m", key])
            .code(0)
            .stdout([format!("Sent: {key}")]);
    }
    assert_eq!(chiba.next_stdout_line(WAIT), "Received: jp.lg.chiba");
    assert_eq!(tokyo.next_stdout_line(WAIT), "Received: jp.lg.tokyo");
    assert_eq!(
        all.next_stdout_lines(2, WAIT),
        vec!["Received: jp.lg.chiba", "Received: jp.lg.tokyo"]
    );
    assert_eq!(tokyo.wait_stdout_line(Duration::from_millis(500)), None);
    assert_eq!(chiba.wait_stdout_line(Duration::from_millis(500)), None);
    tokyo.interrupt(WAIT);
    chiba.interrupt(WAIT);
    all.interrupt(WAIT);
}

#[test]
fn a_vhost_connection_limit_is_refused_with_530_and_exit_4() {
    let b = broker();
    let vhost = unique("limited");
    b.add_vhost_with_connection_limit(&vhost, 1);
    let q = unique("limit");
    let holder = spawn_amqpctl(&["con", "-q", &q, "-Q", "--exclusive", "--vhost", &vhost]);
    holder.await_stderr("Created queue", WAIT);
    amqpctl(&["pub", "--vhost", &vhost]).code(4).stderr([format!(
        "ERROR: (530, \"NOT_ALLOWED - access to vhost '{vhost}' refused for user 'guest': connection limit (1) is reached\")"
    )]);
    holder.interrupt(WAIT);
    b.ctl_ok(&["delete_vhost", &vhost]);
}
