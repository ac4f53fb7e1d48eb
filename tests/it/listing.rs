//! `list`, `close-connection`: each listing checked against what the test
//! declared, bound, published and consumed on the shared node, read
//! through its management API (`RABBITMQADMIN_BASE_URI`, as `sandbox up`
//! exports it). Management stats lag the broker, so listings are polled
//! against a deadline.

use std::time::Duration;

use crate::support::eventually::{WAIT, eventually_within};
use crate::support::{Cmd, Run, Spawned, broker, unique};

/// `amqpctl ARGS` on the shared node's AMQP listener and management API.
pub(crate) fn mgmt(args: &[&str]) -> Cmd {
    Cmd::amqpctl_on(broker(), args).env("RABBITMQADMIN_BASE_URI", broker().mgmt_url())
}

/// Runs `args` until its stdout is `expected` (within 20 s), then returns that run.
#[track_caller]
pub(crate) fn until_listed(args: &[&str], expected: &[&str]) -> Run {
    let what = format!("{args:?} to list {expected:?}");
    eventually_within(WAIT, Duration::from_millis(250), &what, || {
        let run = mgmt(args).run().code(0);
        if run.stdout_lines() == expected {
            Ok(run)
        } else {
            Err(format!("{:?}", run.stdout_lines()))
        }
    })
}

/// A vhost of the test's own, so that listings hold only what it made.
pub(crate) fn own_vhost(test: &str) -> String {
    let vhost = unique(test);
    broker().add_vhost_for_guest(&vhost);
    vhost
}

#[test]
fn list_queues_counts_what_was_published_and_who_consumes() {
    let v = own_vhost("list-queues");
    for q in ["jobs", "idle", "other"] {
        mgmt(&["--vhost", &v, "declare", "queue", q]).run().code(0);
    }
    mgmt(&[
        "--vhost",
        &v,
        "pub",
        "-k",
        "jobs",
        "--nb-messages",
        "3",
        "--interval",
        "0",
        "--confirm",
        "--quiet",
    ])
    .run()
    .code(0);
    let mut consumer = mgmt(&["--vhost", &v, "con", "-q", "idle"]).spawn();
    until_listed(
        &[
            "--vhost",
            &v,
            "list",
            "queues",
            "--columns",
            "name,messages_ready,consumers",
        ],
        &["idle\t0\t1", "jobs\t3\t0", "other\t0\t0"],
    );
    // A pattern, and JSON with the API's types.
    until_listed(
        &[
            "--vhost",
            &v,
            "list",
            "queues",
            "j*",
            "--format",
            "json",
            "--columns",
            "name,messages,durable",
        ],
        &[r#"{"name":"jobs","messages":3,"durable":false}"#],
    );
    consumer.signal(libc::SIGTERM);
    consumer.exits_with(0, Duration::from_secs(20));
    until_listed(
        &[
            "--vhost",
            &v,
            "list",
            "vhosts",
            &v,
            "--columns",
            "name,messages",
        ],
        &[&format!("{v}\t3")],
    );
    broker().ctl_ok(&["delete_vhost", &v]);
}

#[test]
fn list_exchanges_and_bindings_show_what_was_declared_and_bound() {
    let v = own_vhost("list-bindings");
    mgmt(&["--vhost", &v, "declare", "exchange", "logs", "-t", "topic"])
        .run()
        .code(0);
    mgmt(&["--vhost", &v, "declare", "queue", "errors"])
        .run()
        .code(0);
    mgmt(&[
        "--vhost", &v, "declare", "binding", "-e", "logs", "-q", "errors", "-k", "*.error",
    ])
    .run()
    .code(0);
    mgmt(&["--vhost", &v, "list", "exchanges", "logs"])
        .run()
        .code(0)
        .stdout(["logs\ttopic\tfalse\tfalse\tfalse"]);
    mgmt(&["--vhost", &v, "list", "bindings", "logs"])
        .run()
        .code(0)
        .stdout(["logs\tqueue\terrors\t*.error\t{}"]);
    // The default exchange's binding of every queue is listed too.
    mgmt(&[
        "--vhost",
        &v,
        "list",
        "bindings",
        "errors",
        "--columns",
        "source,routing_key",
    ])
    .run()
    .code(0)
    .stdout(["\terrors", "logs\t*.error"]);
    mgmt(&["--vhost", "no-such-vhost", "list", "queues"])
        .run()
        .code(5)
        .stderr(["ERROR: vhost 'no-such-vhost' not found"]);
    broker().ctl_ok(&["delete_vhost", &v]);
}

/// A consumer under a name of the test's own, once the broker lists it.
pub(crate) fn named_consumer(v: &str, name: &str, queue: &str) -> Spawned {
    mgmt(&["--vhost", v, "declare", "queue", queue])
        .run()
        .code(0);
    let consumer = mgmt(&["--vhost", v, "--connection-name", name, "con", "-q", queue]).spawn();
    until_listed(
        &[
            "--vhost",
            v,
            "list",
            "connections",
            name,
            "--columns",
            "user_provided_name,user,channels",
        ],
        &[&format!("{name}\tguest\t1")],
    );
    consumer
}

#[test]
fn close_connection_ends_a_stuck_consumer_found_by_its_name() {
    let v = own_vhost("close-connection");
    let name = unique("stuck consumer");
    let mut consumer = named_consumer(&v, &name, "work");
    until_listed(
        &[
            "--vhost",
            &v,
            "list",
            "consumers",
            "--columns",
            "queue.name,ack_required,prefetch_count",
        ],
        // Prefetch 1 until a body is seen: --max-inflight-bytes (guarantee
        // 11) raises it to --prefetch once the bodies' size is known.
        &["work\ttrue\t1"],
    );
    let closed = mgmt(&["close-connection", &name]).run().code(0);
    let line = &closed.stderr_lines()[0];
    assert!(
        line.starts_with(&format!("Closed connection: {name} (127.0.0.1:")),
        "{line}"
    );
    // The consumer learns its connection is gone: exit 3, nothing lost.
    consumer.exits_with(3, Duration::from_secs(20));
    until_listed(&["--vhost", &v, "list", "connections"], &[]);
    mgmt(&["close-connection", &name])
        .run()
        .code(5)
        .stderr([format!("ERROR: connection '{name}' not found")]);
    broker().ctl_ok(&["delete_vhost", &v]);
}

#[test]
fn a_monitoring_user_lists_but_cannot_close_a_connection() {
    let v = own_vhost("monitoring");
    let user = unique("watcher");
    broker().ctl_ok(&["add_user", &user, "watcher-secret-42"]);
    broker().ctl_ok(&["set_user_tags", &user, "monitoring"]);
    broker().ctl_ok(&["set_permissions", "-p", &v, &user, "", "", ".*"]);
    let name = unique("watched");
    let mut consumer = named_consumer(&v, &name, "watched");
    let userpass = format!("{user}:watcher-secret-42");
    mgmt(&[
        "--vhost",
        &v,
        "--userpass",
        &userpass,
        "list",
        "connections",
        "--columns",
        "user_provided_name",
    ])
    .run()
    .code(0)
    .stdout([&name]);
    let refused = mgmt(&["--userpass", &userpass, "close-connection", &name])
        .run()
        .code(5);
    let lines = refused.stderr_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0], "WARNING: the connection is not secured.");
    assert!(lines[1].starts_with("ERROR: (HTTP 401) "), "{lines:?}");
    // Still open: the refusal changed nothing.
    until_listed(
        &[
            "--vhost",
            &v,
            "list",
            "connections",
            &name,
            "--columns",
            "user_provided_name",
        ],
        &[&name],
    );
    consumer.signal(libc::SIGTERM);
    consumer.exits_with(0, Duration::from_secs(20));
    broker().ctl_ok(&["delete_user", &user]);
    broker().ctl_ok(&["delete_vhost", &v]);
}

#[test]
fn no_management_api_there_is_one_line_naming_the_plugin_and_exit_3() {
    // A port nothing listens on: what amqpctl sees of a broker without the
    // plugin (its 15672 is closed).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = closed.local_addr().expect("its address").port();
    drop(closed);
    let url = format!("http://127.0.0.1:{port}");
    let run = mgmt(&["list", "queues", "--management-url", &url])
        .run()
        .code(3)
        .no_stdout();
    assert_eq!(
        run.stderr_lines(),
        [format!(
            "ERROR: cannot reach the management API at {url} (io: Connection refused (os error 111)); enable it with: rabbitmq-plugins enable rabbitmq_management"
        )]
    );
    // Something that is not the API (the AMQP port) is told apart.
    let amqp = format!("http://127.0.0.1:{}", broker().amqp_port());
    mgmt(&["list", "queues", "--management-url", &amqp])
        .run()
        .code(3)
        .stderr([format!(
            "ERROR: cannot reach the management API at {amqp} ([..]); enable it with: rabbitmq-plugins enable rabbitmq_management"
        )]);
}

#[test]
fn no_password_in_any_output_even_at_trace_level() {
    let user = unique("tracer");
    let password = "tr4ce-secret-pw";
    broker().ctl_ok(&["add_user", &user, password]);
    broker().ctl_ok(&["set_user_tags", &user, "monitoring"]);
    let userpass = format!("{user}:{password}");
    let auth = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &userpass);
    let run = mgmt(&["-vvv", "--userpass", &userpass, "list", "vhosts"])
        .run()
        .code(0);
    run.never_shows(password).never_shows(&auth);
    // Nor in a URL given with credentials, nor in a refused login.
    let mut url = url::Url::parse(&broker().mgmt_url()).expect("url");
    url.set_username(&user).expect("user");
    url.set_password(Some("wr0ng-pw")).expect("password");
    mgmt(&["-vvv", "list", "vhosts", "--management-url", url.as_str()])
        .run()
        .code(4)
        .never_shows("wr0ng-pw");
    broker().ctl_ok(&["delete_user", &user]);
}
