//! The test support's own checks: the shared node is provisioned as
//! `support::broker` says, and a private node survives a restart and a
//! freeze.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::support::{Broker, broker, queue_exists};

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
