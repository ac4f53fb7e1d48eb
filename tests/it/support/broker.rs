//! Throwaway RabbitMQ nodes: one shared by every test of the process, started on first use
//! and removed at exit, plus private nodes for tests that stop, restart or freeze a broker.
//!
//! Each node lives in its own directory under /tmp (its `HOME`, so also its Erlang cookie,
//! config, certificates, database and logs), listens on 127.0.0.1 on ports picked at
//! start-up, and is provisioned with:
//!
//! - vhost `domain1`;
//! - `alice`/`alice123`: configure, write and read `.*` on `domain1`;
//! - `bob`/`bob123`: read `.*` only on `domain1`;
//! - [`CLIENT_CN`] without a password (SASL EXTERNAL only): everything on `/`;
//! - the default `guest`/`guest`: everything on `/`, nothing on `domain1`.
//!
//! A watchdog process kills the node and removes its directory if the test process dies
//! without cleaning up (e.g. SIGKILL).

use std::fs::{self, OpenOptions};
use std::hash::{BuildHasher, RandomState};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::certs::{self, CLIENT_CN, CertFiles};
use super::process::{Stdin, output_with_timeout};

const RABBITMQ_BIN: &str = "/usr/lib/rabbitmq/bin";
/// How long a node may take to boot (per attempt).
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);
/// Boot attempts, each with fresh ports and node name, before giving up. Retries cover a
/// port grabbed by another process between picking and binding it.
const BOOT_ATTEMPTS: usize = 3;
const CTL_TIMEOUT: Duration = Duration::from_secs(90);

static SHARED: OnceLock<Result<Broker, String>> = OnceLock::new();

/// A RabbitMQ node of our own; see the module docs.
#[derive(Debug)]
pub struct Broker {
    dir: PathBuf,
    certs: CertFiles,
    node: String,
    amqp_port: u16,
    amqps_port: u16,
    dist_port: u16,
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
        self.amqp_port
    }

    pub fn amqps_port(&self) -> u16 {
        self.amqps_port
    }

    /// The Erlang node name, `amqpctl-it-<pid>-<n>@localhost`.
    pub fn node_name(&self) -> &str {
        &self.node
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
        let mut cmd = self.command("rabbitmqctl");
        cmd.arg("-n").arg(&self.node).args(args);
        output_with_timeout(cmd, Stdin::Null, CTL_TIMEOUT)
    }

    /// Adds `vhost` with every permission for guest.
    pub fn add_vhost_for_guest(&self, vhost: &str) {
        self.ctl_ok(&["add_vhost", vhost]);
        self.ctl_ok(&["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"]);
    }

    /// Like [`Broker::ctl`], but asserts success and returns stdout.
    pub fn ctl_ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert!(
            out.status.success(),
            "rabbitmqctl {args:?} on {} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            self.node,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
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
        if let Some(pid) = self.beam_pid().filter(|&pid| is_alive(pid)) {
            self.ctl_ok(&["stop"]);
            wait_for_death(pid, Duration::from_secs(30));
        }
        self.boot()
            .unwrap_or_else(|e| panic!("restarting {} failed:\n{e}", self.node));
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
        // From here on, dropping `broker` cleans up.
        let mut broker = Broker {
            certs: certs::generate(&dir),
            dir,
            node: String::new(),
            amqp_port: 0,
            amqps_port: 0,
            dist_port: 0,
        };
        broker.write_static_files()?;
        let mut failures = Vec::new();
        for _ in 0..BOOT_ATTEMPTS {
            static NEXT_NODE: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT_NODE.fetch_add(1, Ordering::Relaxed);
            broker.node = format!("amqpctl-it-{}-{n}@localhost", std::process::id());
            [broker.amqp_port, broker.amqps_port, broker.dist_port] = free_ports();
            let started = Instant::now();
            match broker.boot() {
                Ok(()) => {
                    broker.provision()?;
                    eprintln!(
                        "amqpctl-it: {} up and provisioned in {:.1?} (amqp {}, amqps {})",
                        broker.node,
                        started.elapsed(),
                        broker.amqp_port,
                        broker.amqps_port,
                    );
                    return Ok(broker);
                }
                Err(e) => {
                    failures.push(format!("attempt as {}: {e}", broker.node));
                    broker.halt();
                }
            }
        }
        Err(failures.join("\n\n"))
    }

    /// Writes the files that stay the same across boots: cookie, plugins, definitions.
    fn write_static_files(&self) -> Result<(), String> {
        let write = |name: &str, contents: &str| {
            let path = self.dir.join(name);
            fs::write(&path, contents).map_err(|e| format!("write {}: {e}", path.display()))
        };
        // Written by us rather than by whichever of node and rabbitmqctl starts first.
        let cookie = format!("{:016X}", RandomState::new().hash_one(&self.dir));
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o400)
            .open(self.dir.join(".erlang.cookie"))
            .and_then(|mut file| file.write_all(cookie.as_bytes()))
            .map_err(|e| format!("write the Erlang cookie: {e}"))?;
        write("enabled_plugins", "[rabbitmq_auth_mechanism_ssl].\n")?;
        write("definitions.json", &definitions())
    }

    /// Writes the config for the current ports, starts the node and waits until it has
    /// booted.
    fn boot(&self) -> Result<(), String> {
        fs::write(self.dir.join("rabbitmq.conf"), self.config())
            .map_err(|e| format!("write rabbitmq.conf: {e}"))?;
        // Leftovers of a node that crashed would make this one look dead.
        for path in [self.pid_file()].iter().chain(&self.crash_dumps()) {
            let _ = fs::remove_file(path);
        }
        let deadline = Instant::now() + BOOT_TIMEOUT;
        let mut server = self.command("rabbitmq-server");
        server.arg("-detached");
        let out = output_with_timeout(server, Stdin::Null, BOOT_TIMEOUT);
        if !out.status.success() {
            return Err(format!(
                "rabbitmq-server -detached failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            ));
        }
        while !self.ctl(&["ping"]).status.success() {
            let died = self.beam_pid().is_some_and(|pid| !is_alive(pid))
                || self.crash_dumps().iter().any(|path| path.exists());
            if died {
                // Let it finish writing its crash dump.
                thread::sleep(Duration::from_millis(500));
                return Err(format!("the node died while booting\n{}", self.log_tail()));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no answer to ping within {BOOT_TIMEOUT:?}\n{}",
                    self.log_tail()
                ));
            }
            thread::sleep(Duration::from_millis(250));
        }
        let out = self.ctl(&["await_startup", "--timeout", "60"]);
        if !out.status.success() {
            return Err(format!(
                "await_startup failed:\n{}{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.log_tail(),
            ));
        }
        Ok(())
    }

    /// Creates the vhost, users and permissions described in the module docs.
    fn provision(&self) -> Result<(), String> {
        let out = self.ctl(&[
            "import_definitions",
            &self.dir.join("definitions.json").to_string_lossy(),
        ]);
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "import_definitions failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            ))
        }
    }

    fn config(&self) -> String {
        let path = |p: &Path| p.display().to_string();
        format!(
            "listeners.tcp.default = 127.0.0.1:{amqp}
listeners.ssl.default = 127.0.0.1:{amqps}
ssl_options.cacertfile = {ca}
ssl_options.certfile = {cert}
ssl_options.keyfile = {key}
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
auth_mechanisms.1 = PLAIN
auth_mechanisms.2 = AMQPLAIN
auth_mechanisms.3 = EXTERNAL
ssl_cert_login_from = common_name
loopback_users = none
",
            amqp = self.amqp_port,
            amqps = self.amqps_port,
            ca = path(&self.certs.ca),
            cert = path(&self.certs.server_cert),
            key = path(&self.certs.server_key),
        )
    }

    /// A command for one of RabbitMQ's scripts with this node's environment. Inherited
    /// `RABBITMQ_*` variables are dropped, and the files the scripts would otherwise read
    /// from /etc/rabbitmq point into the node's directory (where most do not exist).
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(Path::new(RABBITMQ_BIN).join(program));
        // Also where an early crash dump lands.
        cmd.current_dir(&self.dir);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("RABBITMQ_") {
                cmd.env_remove(key);
            }
        }
        let file = |name: &str| self.dir.join(name);
        cmd.env("HOME", &self.dir)
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_CONFIG_FILE", file("rabbitmq.conf"))
            .env("RABBITMQ_CONFIG_FILES", file("conf.d"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", file("advanced.config"))
            .env("RABBITMQ_CONF_ENV_FILE", file("rabbitmq-env.conf"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", file("enabled_plugins"))
            .env("RABBITMQ_MNESIA_BASE", file("mnesia"))
            .env("RABBITMQ_LOG_BASE", file("log"))
            .env("RABBITMQ_PID_FILE", self.pid_file())
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1}",
            );
        cmd
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join("rabbitmq.pid")
    }

    /// The OS pid of the node's Erlang VM, from the pid file it writes while booting.
    fn beam_pid(&self) -> Option<libc::pid_t> {
        fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn signal_beam(&self, sig: i32) {
        let pid = self.beam_pid().expect("node pid file");
        // SAFETY: kill(2) has no memory-safety preconditions.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig}) failed");
    }

    /// Kills the node's VM, if running, and waits for it to go. Never panics (runs at exit).
    fn halt(&self) {
        if let Some(pid) = self.beam_pid() {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            wait_for_death(pid, Duration::from_secs(10));
        }
    }

    /// Where the VM writes its crash dump: its working directory before RabbitMQ has set
    /// up logging (e.g. on a config error, which leaves no log), the log directory after.
    fn crash_dumps(&self) -> [PathBuf; 2] {
        [
            self.dir.join("erl_crash.dump"),
            self.dir.join("log").join("erl_crash.dump"),
        ]
    }

    /// What went wrong, as far as the node tells: the slogan of its crash dump, the first
    /// error lines of its log and the log's last lines.
    fn log_tail(&self) -> String {
        let slogan = self.crash_dumps().iter().find_map(|path| {
            let dump = BufReader::new(fs::File::open(path).ok()?);
            let mut lines = dump.lines().take(5).map_while(Result::ok);
            lines.find(|line| line.starts_with("Slogan:"))
        });
        let slogan = slogan.map_or_else(String::new, |slogan| format!("crash dump {slogan}\n"));
        let path = self.dir.join("log").join(format!("{}.log", self.node));
        let Ok(log) = fs::read_to_string(&path) else {
            return format!("{slogan}(no log at {})", path.display());
        };
        let lines: Vec<&str> = log.lines().collect();
        let errors: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|line| line.contains("[error]"))
            .take(15)
            .collect();
        let tail = &lines[lines.len().saturating_sub(40)..];
        format!(
            "{slogan}first errors in {log}:\n{}\nlast lines of {log}:\n{}",
            errors.join("\n"),
            tail.join("\n"),
            log = path.display(),
        )
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.halt();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Registered with `atexit`: libtest leaves `main` through `std::process::exit`, so statics
/// are never dropped.
extern "C" fn stop_shared() {
    if let Some(Ok(broker)) = SHARED.get() {
        broker.halt();
        let _ = fs::remove_dir_all(&broker.dir);
    }
}

/// Users, vhost and permissions, in `rabbitmqctl import_definitions` format. `guest` and
/// `/` already exist.
fn definitions() -> String {
    format!(
        r#"{{
  "vhosts": [{{"name": "domain1"}}],
  "users": [
    {{"name": "alice", "password": "alice123", "tags": []}},
    {{"name": "bob", "password": "bob123", "tags": []}},
    {{"name": "{CLIENT_CN}", "password_hash": "", "tags": []}}
  ],
  "permissions": [
    {{"user": "alice", "vhost": "domain1", "configure": ".*", "write": ".*", "read": ".*"}},
    {{"user": "bob", "vhost": "domain1", "configure": "^$", "write": "^$", "read": ".*"}},
    {{"user": "{CLIENT_CN}", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}}
  ]
}}
"#
    )
}

/// Ports that were free on 127.0.0.1 a moment ago (all distinct).
fn free_ports<const N: usize>() -> [u16; N] {
    let listeners = [(); N].map(|()| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"));
    listeners.map(|l| l.local_addr().expect("local_addr").port())
}

/// Whether `pid` is a live process (not a zombie).
fn is_alive(pid: libc::pid_t) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

fn wait_for_death(pid: libc::pid_t, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while is_alive(pid) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
}

/// Starts a shell, in a session of its own so that Ctrl-C does not reach it, that waits
/// until this process is gone or `dir` has been removed. If `dir` is still there, it kills
/// the node whose pid file is in it and removes it.
fn spawn_watchdog(dir: &Path) {
    const SCRIPT: &str = r#"
while kill -0 "$1" 2>/dev/null && [ -d "$2" ]; do sleep 1; done
[ -d "$2" ] || exit 0
pid=$(cat "$2/rabbitmq.pid" 2>/dev/null) && kill -9 "$pid" 2>/dev/null
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
