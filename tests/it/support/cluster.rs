//! A private RabbitMQ cluster for the cluster fault tests: an `amqpctl::sandbox::Sandbox`
//! (the code `amqpctl sandbox up --nodes N` runs) in a directory under /tmp, watched like
//! the single nodes (see `support::broker`), so it goes when the test process goes.
//!
//! Nodes are numbered from 1, as `amqpctl sandbox kill N` numbers them. Its users and vhost
//! are the shared node's (guest on `/`); it has no TLS listener.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use amqpctl::amqp::{AmqpError, ConnectionSettings, Endpoint, QueueInfo};
use amqpctl::sandbox::{Node, Options, Sandbox};

use super::broker::spawn_watchdog;
use super::connect::{guest, open};
use super::eventually::eventually_within;
use super::queues::{QueueCounts, drain_through, passive_declare};

/// How long a cluster may take to count all its nodes running again.
const REJOIN: Duration = Duration::from_secs(90);

/// A cluster of our own; see the module docs.
pub struct Cluster {
    sandbox: Sandbox,
    /// The nodes (from 1) frozen by [`Cluster::freeze`] now: the helpers that talk to the
    /// cluster leave them out, since a frozen node answers nothing.
    frozen: Mutex<BTreeSet<usize>>,
}

impl Cluster {
    /// Boots `n` nodes in parallel and joins them; panics with what went wrong.
    pub fn start_private(n: usize) -> Cluster {
        let parent = tempfile::Builder::new()
            .prefix("amqpctl-it-cluster-")
            .tempdir_in("/tmp")
            .expect("a cluster directory in /tmp")
            .keep();
        spawn_watchdog(&parent);
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "it{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let started = Instant::now();
        let sandbox = Sandbox::create(
            &name,
            &parent.join("sandbox"),
            Options {
                nodes: n,
                tls: false,
                server: super::broker::server(),
            },
            &|line| eprintln!("amqpctl-it: {line}"),
        )
        .unwrap_or_else(|e| panic!("a private {n}-node cluster failed to start:\n{e}"));
        eprintln!(
            "amqpctl-it: cluster {name} of {n} nodes up in {:.1?}",
            started.elapsed()
        );
        Cluster {
            sandbox,
            frozen: Mutex::default(),
        }
    }

    /// Node `i` (from 1).
    pub fn node(&self, i: usize) -> &Node {
        &self.sandbox.nodes[i - 1]
    }

    /// How many nodes it has.
    pub fn len(&self) -> usize {
        self.sandbox.nodes.len()
    }

    /// `amqp://127.0.0.1:PORT` of node `i`.
    pub fn url(&self, i: usize) -> String {
        format!("amqp://127.0.0.1:{}", self.node(i).amqp_port)
    }

    /// `--url` flags for nodes `order`, in that order.
    pub fn url_flags(&self, order: &[usize]) -> Vec<String> {
        order
            .iter()
            .flat_map(|&i| ["--url".to_string(), self.url(i)])
            .collect()
    }

    /// Whether node `i` is frozen by [`Cluster::freeze`] now.
    fn is_frozen(&self, i: usize) -> bool {
        self.frozen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&i)
    }

    /// guest on `/`, trying every node that is not frozen, in order.
    pub fn settings(&self) -> ConnectionSettings {
        guest(
            (1..=self.len())
                .filter(|&i| !self.is_frozen(i))
                .map(|i| Endpoint {
                    host: "127.0.0.1".into(),
                    port: self.node(i).amqp_port,
                })
                .collect(),
        )
    }

    /// The first node (from 1) that runs and is not frozen.
    #[track_caller]
    fn answering(&self) -> usize {
        (1..=self.len())
            .find(|&i| !self.is_frozen(i) && self.node(i).running_pid().is_some())
            .expect("a running node")
    }

    /// `rabbitmqctl ARGS` on node `i`; asserts success, returns stdout.
    #[track_caller]
    pub fn ctl_ok_on(&self, i: usize, args: &[&str]) -> String {
        self.node(i).ctl_ok(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Suspends node `i`'s VM (SIGSTOP): it still accepts TCP connections, but answers
    /// nothing, as a stalled VM or a partition looks to a client. Thawed (SIGCONT) when the
    /// guard is dropped, so a failing test does not leave it frozen.
    #[track_caller]
    pub fn freeze(&self, i: usize) -> Frozen<'_> {
        self.frozen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(i);
        self.node(i)
            .signal(libc::SIGSTOP)
            .unwrap_or_else(|e| panic!("freezing node {i}: {e}"));
        Frozen {
            cluster: self,
            node: i,
        }
    }

    /// SIGKILLs node `i`'s VM.
    #[track_caller]
    pub fn kill(&self, i: usize) {
        assert!(self.node(i).kill().is_some(), "node {i} was not running");
    }

    /// Boots node `i` again (same name, ports, data) and waits until the cluster counts
    /// every node running.
    #[track_caller]
    pub fn boot_again(&self, i: usize) {
        self.node(i)
            .boot()
            .unwrap_or_else(|e| panic!("booting node {i} again failed:\n{e}"));
        self.wait_all_running();
    }

    /// Boots whichever node is down (a test that failed half-way), then waits until the
    /// cluster counts every node running.
    pub fn heal(&self) {
        for (i, node) in self.sandbox.nodes.iter().enumerate() {
            if node.running_pid().is_none() {
                eprintln!("amqpctl-it: booting node {} of the cluster again", i + 1);
                node.boot()
                    .unwrap_or_else(|e| panic!("booting node {} again failed:\n{e}", i + 1));
            }
        }
        self.wait_all_running();
    }

    /// Waits until node 1's view (or any running node's) counts every node running.
    #[track_caller]
    pub fn wait_all_running(&self) {
        let every = Duration::from_millis(250);
        eventually_within(REJOIN, every, "every node of the cluster running", || {
            let running = self.sandbox.running_nodes();
            if running.len() == self.len() {
                Ok(())
            } else {
                Err(format!("the cluster counts {running:?} running"))
            }
        });
    }

    /// The node (from 1) that holds the leader of quorum queue or stream `queue`.
    #[track_caller]
    pub fn leader_of(&self, queue: &str) -> usize {
        self.leader_seen_by(self.answering(), queue)
    }

    /// The node (from 1) that node `via` says holds the leader of `queue`.
    #[track_caller]
    pub fn leader_seen_by(&self, via: usize, queue: &str) -> usize {
        let listed = self.ctl_ok_on(
            via,
            &[
                "list_queues",
                "name",
                "leader",
                "--no-table-headers",
                "--quiet",
            ],
        );
        let leader = listed
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .find(|(name, _)| *name == queue)
            .map(|(_, leader)| leader.trim().to_string())
            .unwrap_or_else(|| panic!("no leader for {queue} in:\n{listed}"));
        self.sandbox
            .nodes
            .iter()
            .position(|n| n.name == leader)
            .map(|i| i + 1)
            .unwrap_or_else(|| panic!("leader {leader} is none of the nodes"))
    }

    /// `queue`'s counts through the first node that answers; `None` if there is no such
    /// queue (or its node is down: 404 as well).
    pub fn queue_info(&self, queue: &str) -> Option<QueueInfo> {
        let (conn, ch) = open(&self.settings());
        let info = match passive_declare(&ch, queue) {
            Ok(info) => Some(info),
            Err(AmqpError::ChannelClosed { code: 404, .. }) => None,
            Err(e) => panic!("passive declare of {queue}: {e}"),
        };
        let _ = ch.close();
        let _ = conn.close();
        info
    }

    /// Takes every message out of `queue` (a classic or quorum queue), through the first
    /// node that answers; returns the bodies in order.
    #[track_caller]
    pub fn drain(&self, queue: &str) -> Vec<Vec<u8>> {
        drain_through(&self.settings(), queue)
    }
}

impl QueueCounts for Cluster {
    fn queue_info(&self, queue: &str) -> Option<QueueInfo> {
        Cluster::queue_info(self, queue)
    }
}

/// A node frozen by [`Cluster::freeze`]; thawed when dropped.
pub struct Frozen<'a> {
    cluster: &'a Cluster,
    node: usize,
}

impl Frozen<'_> {
    /// Thaws the node now (SIGCONT).
    pub fn thaw(self) {}
}

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        let thawed = self.cluster.node(self.node).signal(libc::SIGCONT);
        self.cluster
            .frozen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.node);
        if let Err(e) = thawed {
            eprintln!("amqpctl-it: thawing node {}: {e}", self.node);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.sandbox.clone().down();
    }
}
