//! `unbind`: a queue's and an exchange's binding removed (gone from the
//! API's listing, and a message published afterwards not routed), and a
//! binding that is not there refused with exit 5 rather than the silent
//! success AMQP's unbind gives.

use crate::listing::{mgmt, own_vhost};
use crate::support::broker;

/// `amqpctl --vhost V ARGS`.
fn on(v: &str, args: &[&str]) -> crate::support::Run {
    let mut all = vec!["--vhost", v];
    all.extend_from_slice(args);
    mgmt(&all).run()
}

/// Publishes one message to exchange `x` with key `k`, confirmed.
fn publish(v: &str, x: &str, k: &str) {
    on(
        v,
        &["pub", "-e", x, "-k", k, "--confirm", "--quiet", "-m", "m"],
    )
    .code(0);
}

/// What a passive declare says of queue `q`: its count, with no lag.
fn held(v: &str, q: &str, n: usize) {
    on(v, &["declare", "queue", q, "--passive"])
        .code(0)
        .stdout([format!("Queue exists: {q} (messages: {n}, consumers: 0)")]);
}

#[test]
fn unbind_removes_a_queue_binding_and_routing_stops() {
    let v = own_vhost("unbind-queue");
    on(&v, &["declare", "exchange", "jobs"]).code(0);
    on(&v, &["declare", "queue", "work"]).code(0);
    on(
        &v,
        &[
            "declare", "binding", "-e", "jobs", "-q", "work", "-k", "new",
        ],
    )
    .code(0);
    publish(&v, "jobs", "new");
    held(&v, "work", 1);
    on(&v, &["unbind", "-e", "jobs", "-q", "work", "-k", "new"])
        .code(0)
        .stdout(["Unbound Queue [work] from Exchange [jobs] new"]);
    on(&v, &["list", "bindings", "jobs"]).code(0).no_stdout();
    publish(&v, "jobs", "new");
    held(&v, "work", 1);
    // Not there (any more): said, exit 5.
    on(&v, &["unbind", "-e", "jobs", "-q", "work", "-k", "new"])
        .code(5)
        .stderr([
            "ERROR: binding of Queue [work] to Exchange [jobs] new not found",
            "hint: amqpctl list bindings shows what is bound",
        ]);
    // A missing exchange is the same: no such binding, not a vhost's 404.
    on(&v, &["unbind", "-e", "nowhere", "-q", "work"])
        .code(5)
        .stderr([
            "ERROR: binding of Queue [work] to Exchange [nowhere] not found",
            "hint: amqpctl list bindings shows what is bound",
        ]);
    broker().ctl_ok(&["delete_vhost", &v]);
}

#[test]
fn unbind_removes_an_exchange_binding_and_matches_arguments() {
    let v = own_vhost("unbind-exchange");
    on(&v, &["declare", "exchange", "jobs"]).code(0);
    on(&v, &["declare", "exchange", "copies", "-t", "fanout"]).code(0);
    on(&v, &["declare", "queue", "copied"]).code(0);
    on(&v, &["declare", "binding", "-e", "copies", "-q", "copied"]).code(0);
    // The binding under test: without its arguments it is another one.
    let binding = ["-e", "jobs", "--to-exchange", "copies", "-k", "new"];
    let with_level = [&binding[..], &["--arg", "level=2"][..]].concat();
    on(&v, &[&["declare", "binding"][..], &with_level].concat()).code(0);
    publish(&v, "jobs", "new");
    held(&v, "copied", 1);
    on(&v, &[&["unbind"][..], &binding].concat())
        .code(5)
        .stderr_has("ERROR: binding of Exchange [copies] to Exchange [jobs] new not found");
    on(
        &v,
        &[
            "list",
            "bindings",
            "jobs",
            "--columns",
            "source,destination,routing_key",
        ],
    )
    .code(0)
    .stdout(["jobs\tcopies\tnew"]);
    on(&v, &[&["unbind"][..], &with_level].concat())
        .code(0)
        .stdout(["Unbound Exchange [copies] from Exchange [jobs] new"]);
    on(&v, &["list", "bindings", "jobs"]).code(0).no_stdout();
    publish(&v, "jobs", "new");
    held(&v, "copied", 1);
    // Bad input: a usage error, nothing asked of the broker.
    on(&v, &["unbind", "-e", "", "-q", "copied"])
        .code(2)
        .stderr(["ERROR: the default exchange's bindings cannot be removed"]);
    broker().ctl_ok(&["delete_vhost", &v]);
}
