//! Test support: throwaway RabbitMQ nodes with a test PKI, running `amqpctl` and checking
//! what it prints, and looking at the queues on the broker.
//!
//! - [`broker`]: the node (`broker()` is the one every test shares).
//! - [`cluster`]: a private cluster of several nodes, for the cluster fault tests.
//! - [`run`]: `amqpctl(&[..]).code(0).stdout([..])`, and children in the background.
//! - [`queues`]: queue counts from a passive declare, waiting for them, draining, deleting.
//! - [`pool`]: private nodes that tests lease one at a time, two side by side.
//! - [`connect`]: connection settings for the library's own tests.
//! - [`eventually`]: polling until what a test waits for is there.

pub mod broker;
pub mod certs;
pub mod cluster;
pub mod connect;
pub mod eventually;
pub mod pool;
pub mod process;
pub mod queues;
pub mod run;

use std::sync::atomic::{AtomicUsize, Ordering};

pub use broker::Broker;
pub use cluster::Cluster;
pub use connect::{open, plain, tls};
pub use eventually::{eventually, eventually_within, look_within};
pub use process::Spawned;
pub use queues::{
    declare_exchange, declare_queue, delete_exchange, delete_queue, delete_queues, drain,
    durable_queue, fill, filled_queue, fresh_queue, fresh_stream, full_queue, messages,
    queue_exists, wait_for_consumers, wait_for_messages, wait_until,
};
pub use run::{
    Cmd, Run, amqpctl, amqpctl_on, amqpctl_stdin, amqpctl_tls, declaring_pub, spawn_amqpctl,
    spawn_amqpctl_on, spawn_amqpctl_until,
};

/// The node shared by every test of this process.
pub fn broker() -> &'static Broker {
    Broker::shared()
}

/// The RabbitMQ version the shared node runs, e.g. `(3, 10)` or `(4, 0)`: for
/// the tests whose expectations differ by version, which branch on it.
pub fn rabbitmq_version() -> (u32, u32) {
    static VERSION: std::sync::OnceLock<(u32, u32)> = std::sync::OnceLock::new();
    *VERSION.get_or_init(|| broker().version())
}

pub use broker::defaults_4_3;

/// Whether the shared node refuses transient non-exclusive queues: a 4.x
/// node with 4.3's defaults (3.x never does).
pub fn refuses_transient_queues() -> bool {
    defaults_4_3() && rabbitmq_version().0 >= 4
}

/// The WARNING amqpctl prints before it declares `queue` durable, on a
/// broker that refuses transient non-exclusive queues; no line elsewhere.
/// For the tests that list every stderr line of such a declaration.
pub fn transient_warning(queue: &str) -> Vec<String> {
    if refuses_transient_queues() {
        vec![format!(
            "WARNING: the broker refuses transient non-exclusive queues (RabbitMQ 4.3's default): declaring queue '{queue}' durable"
        )]
    } else {
        Vec::new()
    }
}

/// A resource name (queue, exchange, ...) unique to this call in this process:
/// `amqpctl.it.<name>.<counter>.<pid>`.
pub fn unique(name: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("amqpctl.it.{name}.{n}.{}", std::process::id())
}

/// A Python interpreter with pika, for the tests that check amqpctl against
/// the tutorials' pika peers: `AMQPCTL_TEST_PYTHON` if set, else a venv in
/// `target/pika-venv`, created (with `pip install pika`) on first use.
pub fn pika_python() -> std::path::PathBuf {
    use std::path::PathBuf;
    use std::process::Command;
    use std::sync::OnceLock;
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("AMQPCTL_TEST_PYTHON") {
                return PathBuf::from(p);
            }
            let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/pika-venv");
            let python = venv.join("bin/python");
            let has_pika = |py: &PathBuf| {
                Command::new(py)
                    .args(["-c", "import pika"])
                    .status()
                    .is_ok_and(|s| s.success())
            };
            if !has_pika(&python) {
                let made = Command::new("python3")
                    .args(["-m", "venv"])
                    .arg(&venv)
                    .status()
                    .expect("python3 -m venv");
                assert!(made.success(), "cannot create {}", venv.display());
                let installed = Command::new(&python)
                    .args(["-m", "pip", "install", "--quiet", "pika"])
                    .status()
                    .expect("pip install pika");
                assert!(installed.success(), "pip install pika failed");
            }
            python
        })
        .clone()
}
