//! The test support's own checks: the shared node is provisioned as
//! `support::broker` says, and a private node survives a restart and a
//! freeze.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::support::{Broker, broker, defaults_4_3, queue_exists, rabbitmq_version};

fn assert_accepts_tcp(port: u16) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    if let Err(e) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
        panic!("cannot connect to {addr}: {e}");
    }
}

#[test]
fn the_shared_node_is_provisioned_and_listening() {
    let shared = broker();
    let vhosts = shared.ctl_ok(&["list_vhosts", "--quiet", "--no-table-headers"]);
    assert!(vhosts.lines().any(|v| v == "domain1"), "vhosts: {vhosts}");
    let users = shared.ctl_ok(&["list_users", "--quiet", "--no-table-headers"]);
    for user in ["guest", "alice", "bob", shared.client_cn()] {
        assert!(
            users
                .lines()
                .any(|line| line.starts_with(&format!("{user}\t"))),
            "{user} missing from:\n{users}"
        );
    }
    assert_accepts_tcp(shared.amqp_port());
    assert_accepts_tcp(shared.amqps_port());
}

/// The suite runs on the RabbitMQ it was pointed at: the machine's 3.x, or
/// with `AMQPCTL_TEST_RABBITMQ=ROOT` the 4.x in that root, with 4.3's
/// defaults in its config when asked. Without this, a mistyped variable
/// would quietly test the wrong broker.
#[test]
fn the_shared_node_runs_the_rabbitmq_asked_for() {
    let version = rabbitmq_version();
    eprintln!("amqpctl-it: RabbitMQ {}.{}", version.0, version.1);
    let from_root = std::env::var_os("AMQPCTL_TEST_RABBITMQ").is_some_and(|d| !d.is_empty());
    if from_root {
        assert!(
            version.0 >= 4,
            "a root's RabbitMQ is 4.x here, got {version:?}"
        );
    } else {
        assert_eq!(version.0, 3, "the machine's RabbitMQ is 3.x");
    }
    if version.0 >= 4 {
        let deprecated = broker().ctl_ok(&[
            "eval",
            "rabbit_deprecated_features:is_permitted(transient_nonexcl_queues).",
        ]);
        // It logs why before it answers: the answer is the last line.
        let answer = deprecated.trim().lines().last().unwrap_or_default();
        assert_eq!(answer, if defaults_4_3() { "false" } else { "true" });
    }
}

#[test]
fn a_private_node_restarts_freezes_and_thaws() {
    let node = Broker::start_private();
    assert_ne!(node.node_name(), broker().node_name());
    node.restart();
    node.ctl_ok(&["ping"]);
    assert_accepts_tcp(node.amqp_port());
    node.freeze();
    node.thaw();
    node.ctl_ok(&["ping"]);
    assert!(!queue_exists(&node, "no-such-queue"));
}
