//! Smoke tests of the test support itself.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::support::broker::Broker;

fn assert_accepts_tcp(port: u16) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    if let Err(e) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
        panic!("cannot connect to {addr}: {e}");
    }
}

#[test]
fn support_smoke() {
    let broker = Broker::shared();
    let vhosts = broker.ctl_ok(&["list_vhosts", "--quiet", "--no-table-headers"]);
    assert!(vhosts.lines().any(|v| v == "domain1"), "vhosts: {vhosts}");
    let users = broker.ctl_ok(&["list_users", "--quiet", "--no-table-headers"]);
    for user in ["guest", "alice", "bob", broker.client_cn()] {
        assert!(
            users
                .lines()
                .any(|line| line.starts_with(&format!("{user}\t"))),
            "{user} missing from:\n{users}"
        );
    }
    assert_accepts_tcp(broker.amqp_port());
    assert_accepts_tcp(broker.amqps_port());
}

#[test]
fn private_node_restarts() {
    let broker = Broker::start_private();
    assert_ne!(broker.node_name(), Broker::shared().node_name());
    broker.restart();
    broker.ctl_ok(&["ping"]);
    assert_accepts_tcp(broker.amqp_port());
    broker.freeze();
    broker.thaw();
    assert_eq!(broker.queue_messages("/", "no-such-queue"), None);
}
