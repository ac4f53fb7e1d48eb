//! Throwaway RabbitMQ nodes: one shared by every test of the process, started on first use
//! and removed at exit, plus private nodes for tests that stop, restart or freeze a broker.
//!
//! The nodes are `amqpctl::sandbox` nodes, the code `amqpctl sandbox` runs: each lives in
//! its own directory under /tmp (its `HOME`, so also its Erlang cookie, config,
//! certificates, database and logs), listens on 127.0.0.1 on ports picked at start-up, and
//! is provisioned ([`amqpctl::sandbox::provision`]) with:
//!
//! - vhost `domain1`;
//! - `alice`/`alice123`: configure, write and read `.*` on `domain1`;
//! - `bob`/`bob123`: read `.*` only on `domain1`;
//! - [`CLIENT_CN`] without a password (SASL EXTERNAL only): everything on `/`;
//! - the default `guest`/`guest`: everything on `/`, nothing on `domain1`.
//!
//! A watchdog process kills the node and removes its directory if the test process dies
//! without cleaning up (e.g. SIGKILL).

use std::fs;
use std::hash::{BuildHasher, RandomState};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Instant;

use amqpctl::sandbox::{self, Node, Server, ServerTls};

use super::certs::{self, CLIENT_CN, CertFiles};

static SHARED: OnceLock<Result<Broker, String>> = OnceLock::new();

/// A RabbitMQ node of our own; see the module docs.
#[derive(Debug)]
pub struct Broker {
    dir: PathBuf,
    certs: CertFiles,
    node: Node,
}

impl Broker {
    /// The node shared by all tests of this process, started on first call. It is stopped
    /// and its directory removed when the process exits. Panics with the node's log if it
    /// cannot start.
    pub fn shared() -> &'static Broker {
        let shared = SHARED.get_or_init(|| {
            let broker = Broker::start()?;
            // SAFETY: registers a plain `extern "C" fn` that never unwinds.
            unsafe { libc::atexit(stop_shared) };
            Ok(broker)
        });
        match shared {
            Ok(broker) => broker,
            Err(e) => panic!("the shared RabbitMQ node failed to start:\n{e}"),
        }
    }

    /// A node of its own (directory, ports, name), stopped and removed on drop. For tests
    /// that stop, restart or freeze it; do not do that to [`Broker::shared`].
    pub fn start_private() -> Broker {
        Broker::start().unwrap_or_else(|e| panic!("a private RabbitMQ node failed to start:\n{e}"))
    }

    pub fn amqp_port(&self) -> u16 {
        self.node.amqp_port
    }

    /// The management API's base URL, `http://127.0.0.1:PORT`.
    pub fn mgmt_url(&self) -> String {
        let port = self
            .node
            .mgmt_port
            .expect("the test nodes run the management plugin");
        format!("http://127.0.0.1:{port}")
    }

    pub fn amqps_port(&self) -> u16 {
        self.node
            .amqps_port
            .expect("the test nodes have a TLS listener")
    }

    /// The Erlang node name, `amqpctl-it-<pid>-<n>@localhost`.
    pub fn node_name(&self) -> &str {
        &self.node.name
    }

    /// All certificate and key files, including the server's and the expired ones.
    pub fn certs(&self) -> &CertFiles {
        &self.certs
    }

    /// The CA that signed the server and client certificates.
    pub fn ca_pem(&self) -> &Path {
        &self.certs.ca
    }

    /// A CA that signed nothing the broker presents or trusts.
    pub fn untrusted_ca_pem(&self) -> &Path {
        &self.certs.untrusted_ca
    }

    /// Client certificate with CN [`Broker::client_cn`], signed by [`Broker::ca_pem`].
    pub fn client_cert(&self) -> &Path {
        &self.certs.client_cert
    }

    pub fn client_key(&self) -> &Path {
        &self.certs.client_key
    }

    /// Certificate with CN [`Broker::client_cn`] signed by [`Broker::untrusted_ca_pem`].
    pub fn untrusted_client_cert(&self) -> &Path {
        &self.certs.untrusted_client_cert
    }

    pub fn untrusted_client_key(&self) -> &Path {
        &self.certs.untrusted_client_key
    }

    /// The client certificates' CN, also the broker user SASL EXTERNAL logs in as.
    pub fn client_cn(&self) -> &'static str {
        CLIENT_CN
    }

    /// Runs `rabbitmqctl -n NODE args`; panics if it takes longer than 90 s (e.g. while
    /// the node is frozen).
    pub fn ctl(&self, args: &[&str]) -> Output {
        self.node
            .ctl(args)
            .unwrap_or_else(|e| panic!("rabbitmqctl {args:?}: {e}"))
    }

    /// Adds `vhost` with every permission for guest.
    pub fn add_vhost_for_guest(&self, vhost: &str) {
        self.ctl_ok(&["add_vhost", vhost]);
        self.ctl_ok(&["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"]);
    }

    /// Creates `vhost` as [`Broker::add_vhost_for_guest`] does, limited to `max` connections.
    pub fn add_vhost_with_connection_limit(&self, vhost: &str, max: u32) {
        self.add_vhost_for_guest(vhost);
        let limit = format!("{{\"max-connections\": {max}}}");
        self.ctl_ok(&["set_vhost_limits", "-p", vhost, &limit]);
    }

    /// Like [`Broker::ctl`], but asserts success and returns stdout.
    pub fn ctl_ok(&self, args: &[&str]) -> String {
        self.node.ctl_ok(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Stops the RabbitMQ application (listeners close, the Erlang node stays up).
    pub fn stop_app(&self) {
        self.ctl_ok(&["stop_app"]);
    }

    /// Starts the RabbitMQ application again and waits until it is fully up.
    pub fn start_app(&self) {
        self.ctl_ok(&["start_app"]);
        self.ctl_ok(&["await_startup"]);
    }

    /// Stops the whole node (if running) and boots it again with the same name, ports and
    /// data (durable queues and persistent messages survive). For private nodes.
    pub fn restart(&self) {
        self.node
            .stop()
            .and_then(|()| self.node.boot())
            .unwrap_or_else(|e| panic!("restarting {} failed:\n{e}", self.node.name));
    }

    /// Kills the node's VM with SIGKILL, as a crash would. For private nodes; boot it
    /// again with [`Broker::boot_again`].
    pub fn crash(&self) {
        assert!(
            self.node.kill().is_some(),
            "{} was not running",
            self.node.name
        );
    }

    /// Whether the node's VM is running (it may be frozen, or its application stopped).
    pub fn is_running(&self) -> bool {
        self.node.running_pid().is_some()
    }

    /// Boots the node again after a crash (same name, ports and data).
    pub fn boot_again(&self) {
        self.node
            .boot()
            .unwrap_or_else(|e| panic!("booting {} again failed:\n{e}", self.node.name));
    }

    /// Suspends the node's Erlang VM (SIGSTOP): connections stay open but nothing answers,
    /// not even `rabbitmqctl`. For private nodes; undo with [`Broker::thaw`].
    pub fn freeze(&self) {
        self.signal_beam(libc::SIGSTOP);
    }

    /// Resumes a node suspended by [`Broker::freeze`] (SIGCONT).
    pub fn thaw(&self) {
        self.signal_beam(libc::SIGCONT);
    }

    /// Creates the directory, certificates and watchdog, boots the node and provisions it.
    fn start() -> Result<Broker, String> {
        let dir = tempfile::Builder::new()
            .prefix("amqpctl-it-")
            .tempdir_in("/tmp")
            .map_err(|e| format!("cannot create a node directory in /tmp: {e}"))?
            .keep();
        spawn_watchdog(&dir);
        let certs = certs::generate(&dir);
        static NEXT_NODE: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT_NODE.fetch_add(1, Ordering::Relaxed);
        let name = format!("amqpctl-it-{}-{n}@localhost", std::process::id());
        let plugins = dir.join("enabled_plugins");
        let tls = ServerTls {
            ca: certs.ca.clone(),
            cert: certs.server_cert.clone(),
            key: certs.server_key.clone(),
        };
        // From here on, dropping `broker` cleans up.
        let mut broker = Broker {
            node: Node::new(&name, &dir, &dir, &plugins, Some(tls)).with_server(server()),
            certs,
            dir,
        };
        // Written by us rather than by whichever of node and rabbitmqctl starts first.
        let cookie = format!("{:016X}", RandomState::new().hash_one(&broker.dir));
        sandbox::write_cookie(&broker.dir, &cookie).map_err(|e| e.to_string())?;
        fs::write(&plugins, sandbox::PLUGINS)
            .map_err(|e| format!("write {}: {e}", plugins.display()))?;
        let started = Instant::now();
        broker.node.first_boot().map_err(|e| e.to_string())?;
        sandbox::provision(&broker.node).map_err(|e| e.to_string())?;
        eprintln!(
            "amqpctl-it: {} up and provisioned in {:.1?} (amqp {}, amqps {}, {})",
            broker.node.name,
            started.elapsed(),
            broker.amqp_port(),
            broker.amqps_port(),
            broker.mgmt_url(),
        );
        Ok(broker)
    }

    /// The RabbitMQ version the node runs (`rabbitmqctl version`), e.g. `(4, 0)`.
    pub fn version(&self) -> (u32, u32) {
        let printed = self.ctl_ok(&["version"]);
        parse_version(&printed).unwrap_or_else(|| panic!("rabbitmqctl version said {printed:?}"))
    }

    fn signal_beam(&self, sig: i32) {
        self.node
            .signal(sig)
            .unwrap_or_else(|e| panic!("signal {sig}: {e}"));
    }

    /// Kills the node's VM, if running, and waits for it to go. Never panics (runs at exit).
    fn halt(&self) {
        self.node.halt();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.halt();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Which RabbitMQ the test nodes run: the machine's, or with
/// `AMQPCTL_TEST_RABBITMQ=DIR` the one in root file system `DIR` (e.g. the
/// debootstrapped trixie holding 4.0 that `.ci/run` caches), and with
/// `AMQPCTL_TEST_RABBITMQ_43_DEFAULTS=1` configured with RabbitMQ 4.3's
/// defaults for deprecated features.
pub fn server() -> Server {
    Server {
        root: std::env::var_os("AMQPCTL_TEST_RABBITMQ")
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from),
        defaults_4_3: defaults_4_3(),
    }
}

/// Whether the test nodes run with RabbitMQ 4.3's defaults
/// (`AMQPCTL_TEST_RABBITMQ_43_DEFAULTS=1`).
pub fn defaults_4_3() -> bool {
    std::env::var("AMQPCTL_TEST_RABBITMQ_43_DEFAULTS").is_ok_and(|v| v == "1")
}

/// `(major, minor)` from what `rabbitmqctl version` prints (`4.0.5`).
fn parse_version(printed: &str) -> Option<(u32, u32)> {
    let mut parts = printed.trim().split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Registered with `atexit`: libtest leaves `main` through `std::process::exit`, so statics
/// are never dropped.
extern "C" fn stop_shared() {
    if let Some(Ok(broker)) = SHARED.get() {
        broker.halt();
        let _ = fs::remove_dir_all(&broker.dir);
    }
}

/// Starts a shell, in a session of its own so that Ctrl-C does not reach it, that waits
/// until this process is gone or `dir` has been removed. If `dir` is still there, it kills
/// every node whose pid file is in it (at any depth: a cluster's nodes have a directory
/// each) and removes it.
pub fn spawn_watchdog(dir: &Path) {
    const SCRIPT: &str = r#"
while kill -0 "$1" 2>/dev/null && [ -d "$2" ]; do sleep 1; done
[ -d "$2" ] || exit 0
for f in $(find "$2" -name rabbitmq.pid 2>/dev/null); do
  pid=$(cat "$f" 2>/dev/null) && kill -9 "$pid" 2>/dev/null
done
sleep 1
rm -rf "$2"
"#;
    let mut child = Command::new("sh")
        .args(["-c", SCRIPT, "amqpctl-it-watchdog"])
        .arg(std::process::id().to_string())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawn the node watchdog");
    // Reap it when it exits (after a private node is dropped).
    thread::spawn(move || child.wait());
}
