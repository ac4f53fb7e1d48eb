//! What the broker sees of amqpctl and what it says back: the client
//! properties (product, version, capabilities, connection name) as
//! `rabbitmqctl list_connections` shows them, and refused logins in the
//! broker's own words (amqpctl announces `authentication_failure_close`).
//! Both rest on the vendored amiquip patch (vendor/amiquip/PATCHES.md).

use std::time::Duration;

use serde_json::{Map, Value as Json};

use crate::support::eventually;
use crate::support::process::Spawned;
use crate::support::unique;
use crate::support::{Cmd, amqpctl, broker};

const WAIT: Duration = Duration::from_secs(15);

/// Starts `amqpctl con` on a fresh queue of its own, with `env` set, and
/// waits until it is connected.
fn consumer(extra: &[&str], env: &[(&str, &str)]) -> Spawned {
    let queue = unique("identity");
    let mut args = vec!["con", "-q", &queue, "-Q", "--exclusive"];
    args.extend_from_slice(extra);
    let mut cmd = Cmd::amqpctl_on(broker(), &args).env_remove("AMQPCTL_CONNECTION_NAME");
    for (key, value) in env {
        cmd = cmd.env(key, value);
    }
    let con = cmd.spawn();
    con.await_stderr("Created queue", WAIT);
    con
}

/// A `client_properties` list as `rabbitmqctl --formatter json` prints it
/// (`[[key, type, value], …]`, tables nested the same way), as an object.
fn properties(list: &Json) -> Map<String, Json> {
    let mut out = Map::new();
    for entry in list.as_array().expect("client_properties is a list") {
        let [key, kind, value] = entry.as_array().expect("an entry").as_slice() else {
            panic!("not [key, type, value]: {entry}");
        };
        let value = match kind.as_str() {
            Some("table") => Json::Object(properties(value)),
            _ => value.clone(),
        };
        out.insert(key.as_str().expect("a key").to_string(), value);
    }
    out
}

/// The client properties of the connection named `name`, as the broker
/// lists them.
pub fn seen_by_the_broker(name: &str) -> Map<String, Json> {
    eventually(&format!("a connection named {name:?}"), || {
        let listed = broker().ctl_ok(&[
            "list_connections",
            "client_properties",
            "--formatter",
            "json",
        ]);
        let rows: Json = serde_json::from_str(&listed).expect("rabbitmqctl prints JSON");
        rows.as_array()
            .expect("a list of connections")
            .iter()
            .map(|row| properties(&row["client_properties"]))
            .find(|p| p.get("connection_name") == Some(&Json::from(name)))
            .ok_or(listed)
    })
}

fn stop(mut con: Spawned) {
    con.signal(libc::SIGTERM);
    assert!(con.wait_exit(WAIT).is_some_and(|s| s.success()));
}

#[test]
fn the_broker_sees_amqpctl_its_version_every_capability_and_the_name() {
    let name = unique("named connection");
    let con = consumer(&["--connection-name", &name], &[]);
    let seen = seen_by_the_broker(&name);
    stop(con);
    assert_eq!(seen["product"], "amqpctl");
    assert_eq!(seen["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        seen["platform"].as_str().is_some_and(|p| !p.is_empty()),
        "{seen:?}"
    );
    let capabilities: Vec<(&str, Option<bool>)> = seen["capabilities"]
        .as_object()
        .expect("a table of capabilities")
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_bool()))
        .collect();
    let every = [
        "authentication_failure_close",
        "basic.nack",
        "connection.blocked",
        "consumer_cancel_notify",
        "exchange_exchange_bindings",
        "per_consumer_qos",
        "publisher_confirms",
    ];
    assert_eq!(
        capabilities,
        every.map(|c| (c, Some(true))).to_vec(),
        "{seen:?}"
    );
}

#[test]
fn the_name_comes_from_the_environment_too() {
    let name = unique("name from env");
    let con = consumer(&[], &[("AMQPCTL_CONNECTION_NAME", name.as_str())]);
    assert_eq!(seen_by_the_broker(&name)["product"], "amqpctl");
    stop(con);
}

#[test]
fn without_a_name_the_connection_is_named_after_command_host_and_pid() {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("host name");
    let one = consumer(&[], &[]);
    let two = consumer(&[], &[]);
    for con in [&one, &two] {
        let name = format!("amqpctl con {}:{}", host.trim(), con.id());
        assert_eq!(seen_by_the_broker(&name)["product"], "amqpctl");
    }
    stop(one);
    stop(two);
}

/// Runs `amqpctl pub -m x` with `args` and checks that it exits 4 with
/// `error` as its one line on stderr (besides the plain-connection warning).
fn refused(args: &[&str], error: &str) {
    let mut all = vec!["pub", "-m", "x"];
    all.extend_from_slice(args);
    let out = amqpctl(&all).code(4);
    let errors: Vec<String> = out
        .stderr_lines()
        .into_iter()
        .filter(|l| l != "WARNING: the connection is not secured.")
        .collect();
    assert_eq!(errors, vec![error.to_string()]);
}

#[test]
fn a_connection_limit_of_0_prints_the_brokers_refusal_and_exits_4() {
    let b = broker();
    let vhost = unique("closed");
    b.add_vhost_with_connection_limit(&vhost, 0);
    refused(
        &["--vhost", &vhost],
        &format!(
            "ERROR: (530, \"NOT_ALLOWED - access to vhost '{vhost}' refused for user 'guest': connection limit (0) is reached\")"
        ),
    );
    b.ctl_ok(&["delete_vhost", &vhost]);
}
