//! One RabbitMQ node of our own: its directory, name and ports, and booting,
//! stopping, killing and asking it things with `rabbitmqctl`. It runs the
//! machine's `rabbitmq-server` scripts with every file they read pointed into
//! the node's directory, so it never touches the machine's own broker.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::error::{Result, SandboxError, io_error};
use super::process::{self, free_ports, is_alive, output_within, wait_for_death};
use super::server::{DEFAULTS_4_3, Server};

/// How long a node may take to boot (per attempt).
const BOOT_TIMEOUT: Duration = Duration::from_secs(90);
/// The enabled-plugins file every node is given: SASL EXTERNAL for client
/// certificates, and the management API that `list` and `info` read.
pub const PLUGINS: &str = "[rabbitmq_auth_mechanism_ssl,rabbitmq_management].\n";

/// First-boot attempts, each on fresh ports: a port picked free may be taken
/// by someone else before the node binds it.
const BOOT_ATTEMPTS: usize = 3;
/// How long one `rabbitmqctl` call may take.
const CTL_TIMEOUT: Duration = Duration::from_secs(90);

/// The files of a TLS listener: the CA it trusts for client certificates,
/// and its own certificate and key (PEM).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServerTls {
    /// The CA bundle.
    pub ca: PathBuf,
    /// The server certificate.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// A RabbitMQ node of our own: see the module docs. Plain data (it is what a
/// sandbox's state file lists), so a later process can manage it again.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Node {
    /// The Erlang node name, `NAME@localhost`.
    pub name: String,
    /// Its `HOME`: where the Erlang cookie is (shared by a cluster's nodes).
    pub home: PathBuf,
    /// Its config, pid file, database and logs.
    pub dir: PathBuf,
    /// The plain AMQP listener on 127.0.0.1.
    pub amqp_port: u16,
    /// The TLS listener on 127.0.0.1, when it has one.
    pub amqps_port: Option<u16>,
    /// The Erlang distribution port (clustering, `rabbitmqctl`).
    pub dist_port: u16,
    /// The management plugin's HTTP listener on 127.0.0.1 (`list`, `info`,
    /// `close-connection`); none in a state file written before it existed.
    #[serde(default)]
    pub mgmt_port: Option<u16>,
    /// The TLS listener's files.
    pub tls: Option<ServerTls>,
    /// The enabled-plugins file.
    pub plugins: PathBuf,
    /// Which RabbitMQ it runs (state files from before this field: the
    /// machine's).
    #[serde(default)]
    pub server: Server,
}

impl Node {
    /// A node not booted yet, ports unpicked. `home` must hold the Erlang
    /// cookie ([`write_cookie`]) and `plugins` the enabled-plugins file
    /// before it boots.
    pub fn new(
        name: &str,
        home: &Path,
        dir: &Path,
        plugins: &Path,
        tls: Option<ServerTls>,
    ) -> Node {
        Node {
            name: name.to_string(),
            home: home.to_path_buf(),
            dir: dir.to_path_buf(),
            amqp_port: 0,
            amqps_port: None,
            dist_port: 0,
            mgmt_port: None,
            tls,
            plugins: plugins.to_path_buf(),
            server: Server::default(),
        }
    }

    /// The same node, running `server`'s RabbitMQ.
    pub fn with_server(mut self, server: Server) -> Node {
        self.server = server;
        self
    }

    /// Picks fresh ports for its listeners and distribution.
    pub fn pick_ports(&mut self) -> Result<()> {
        let ports = free_ports(4)?;
        self.amqp_port = ports[0];
        self.dist_port = ports[1];
        self.amqps_port = self.tls.as_ref().map(|_| ports[2]);
        self.mgmt_port = Some(ports[3]);
        Ok(())
    }

    /// The first boot: picks ports and boots, again on other ports if that
    /// fails, up to three times.
    pub fn first_boot(&mut self) -> Result<()> {
        let mut last = None;
        for _ in 0..BOOT_ATTEMPTS {
            self.pick_ports()?;
            match self.boot() {
                Ok(()) => return Ok(()),
                Err(e) => {
                    self.halt();
                    // A half-made database would make the next attempt fail too.
                    let _ = fs::remove_dir_all(self.dir.join("mnesia"));
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| SandboxError::Invalid("no boot attempted".to_string())))
    }

    /// Writes the config for its ports, starts the node and returns once it
    /// has fully booted (ping answers, then `await_startup`). Data from an
    /// earlier run (durable queues, persistent messages) is kept.
    pub fn boot(&self) -> Result<()> {
        self.server.check_installed()?;
        fs::create_dir_all(&self.dir).map_err(io_error("create", &self.dir))?;
        let conf = self.dir.join("rabbitmq.conf");
        fs::write(&conf, self.config()).map_err(io_error("write", &conf))?;
        // Leftovers of a node that crashed would make this one look dead.
        for path in [self.pid_file()].iter().chain(&self.crash_dumps()) {
            let _ = fs::remove_file(path);
        }
        let deadline = Instant::now() + BOOT_TIMEOUT;
        let mut server = self.command("rabbitmq-server")?;
        server.arg("-detached");
        match output_within(server, BOOT_TIMEOUT)? {
            (Some(out), _) if out.status.success() => {}
            (status, printed) => {
                return Err(self.boot_error(format!(
                    "rabbitmq-server -detached failed ({}): {}",
                    status.map_or_else(|| "timed out".to_string(), |o| o.status.to_string()),
                    printed.trim()
                )));
            }
        }
        while !self.ctl(&["ping"]).is_ok_and(|o| o.status.success()) {
            let died = self.beam_pid().is_some_and(|pid| !is_alive(pid))
                || self.crash_dumps().iter().any(|path| path.exists());
            if died {
                // Let it finish writing its crash dump.
                thread::sleep(Duration::from_millis(500));
                return Err(self.boot_error("the node died while booting".to_string()));
            }
            if Instant::now() > deadline {
                return Err(self.boot_error(format!("no answer to ping within {BOOT_TIMEOUT:?}")));
            }
            thread::sleep(Duration::from_millis(250));
        }
        self.ctl_ok(&["await_startup", "--timeout", "90"])
            .map_err(|e| self.boot_error(e.to_string()))?;
        Ok(())
    }

    /// Stops the node cleanly (`rabbitmqctl stop`) and waits until its VM is
    /// gone; nothing to do when it is not running.
    pub fn stop(&self) -> Result<()> {
        let Some(pid) = self.running_pid() else {
            return Ok(());
        };
        self.ctl_ok(&["stop"])?;
        if wait_for_death(pid, Duration::from_secs(60)) {
            Ok(())
        } else {
            Err(SandboxError::Ctl {
                node: self.name.clone(),
                command: "rabbitmqctl stop".to_string(),
                status: "timed out".to_string(),
                output: format!("pid {pid} still running after 60 s"),
            })
        }
    }

    /// SIGKILLs the node's VM, as a crash would, and waits until it is gone.
    /// Returns the pid killed, `None` when it was not running.
    pub fn kill(&self) -> Option<i32> {
        let pid = self.running_pid()?;
        process::signal(pid, libc::SIGKILL);
        wait_for_death(pid, Duration::from_secs(10));
        Some(pid)
    }

    /// Sends `signal` to the node's VM (SIGSTOP freezes it, SIGCONT thaws it).
    pub fn signal(&self, signal: i32) -> Result<()> {
        match self.running_pid() {
            Some(pid) if process::signal(pid, signal) => Ok(()),
            _ => Err(SandboxError::Invalid(format!(
                "node {} is not running",
                self.name
            ))),
        }
    }

    /// Kills the VM if it runs; never fails (for clean-up paths).
    pub fn halt(&self) {
        let _ = self.kill();
    }

    /// The OS pid of the node's Erlang VM when it is running.
    pub fn running_pid(&self) -> Option<i32> {
        self.beam_pid().filter(|&pid| is_alive(pid))
    }

    /// The pid the VM wrote while booting (it may have died since).
    fn beam_pid(&self) -> Option<i32> {
        fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The pid file the VM writes while booting.
    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("rabbitmq.pid")
    }

    /// Its main log file.
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("log").join(format!("{}.log", self.name))
    }

    /// Runs `rabbitmqctl -n NODE ARGS` (at most 90 s).
    pub fn ctl(&self, args: &[&str]) -> Result<Output> {
        self.script("rabbitmqctl", args)
    }

    /// Runs one of RabbitMQ's scripts (`rabbitmq-queues`, …) with `-n NODE
    /// ARGS`, at most 90 s.
    pub fn script(&self, program: &str, args: &[&str]) -> Result<Output> {
        let mut cmd = self.command(program)?;
        cmd.arg("-n").arg(&self.name).args(args);
        match output_within(cmd, CTL_TIMEOUT)? {
            (Some(out), _) => Ok(out),
            (None, printed) => Err(SandboxError::Ctl {
                node: self.name.clone(),
                command: format!("{program} {}", args.join(" ")),
                status: format!("timed out after {CTL_TIMEOUT:?}"),
                output: printed,
            }),
        }
    }

    /// Like [`Node::ctl`], failing unless it succeeds; returns its stdout.
    pub fn ctl_ok(&self, args: &[&str]) -> Result<String> {
        let out = self.ctl(args)?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(SandboxError::Ctl {
                node: self.name.clone(),
                command: format!("rabbitmqctl {}", args.join(" ")),
                status: out.status.to_string(),
                output: format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                )
                .trim()
                .to_string(),
            })
        }
    }

    /// The node's `rabbitmq.conf`: listeners on 127.0.0.1, TLS with client
    /// certificates optional (SASL EXTERNAL for those who present one), and
    /// no loopback-only users (guest may log in, from 127.0.0.1 anyway).
    fn config(&self) -> String {
        let mut conf = format!("listeners.tcp.default = 127.0.0.1:{}\n", self.amqp_port);
        match (&self.tls, self.amqps_port) {
            (Some(tls), Some(port)) => conf.push_str(&format!(
                "listeners.ssl.default = 127.0.0.1:{port}
ssl_options.cacertfile = {ca}
ssl_options.certfile = {cert}
ssl_options.keyfile = {key}
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
auth_mechanisms.1 = PLAIN
auth_mechanisms.2 = AMQPLAIN
auth_mechanisms.3 = EXTERNAL
ssl_cert_login_from = common_name
",
                ca = tls.ca.display(),
                cert = tls.cert.display(),
                key = tls.key.display(),
            )),
            _ => conf.push_str("listeners.ssl = none\n"),
        }
        conf.push_str("loopback_users = none\n");
        // The plugin is in every node's enabled-plugins file ([`PLUGINS`]);
        // stats collected every 500 ms rather than 5 s, so listings catch up fast.
        if let Some(port) = self.mgmt_port {
            conf.push_str(&format!(
                "management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {port}\ncollect_statistics_interval = 500\n"
            ));
        }
        if self.server.defaults_4_3 {
            conf.push_str(DEFAULTS_4_3);
        }
        conf
    }

    /// A command for one of RabbitMQ's scripts with this node's environment.
    /// Inherited `RABBITMQ_*` variables are dropped, and the files the scripts
    /// would otherwise read from /etc/rabbitmq point into the node's
    /// directory (where most do not exist).
    pub fn command(&self, program: &str) -> Result<Command> {
        // The working directory is also where an early crash dump lands.
        let mut binds = vec![
            self.home.as_path(),
            self.dir.as_path(),
            self.plugins.as_path(),
        ];
        if let Some(tls) = &self.tls {
            binds.extend([tls.ca.as_path(), tls.cert.as_path(), tls.key.as_path()]);
        }
        let mut cmd = self.server.command(program, &self.dir, &binds)?;
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("RABBITMQ_") {
                cmd.env_remove(key);
            }
        }
        let file = |name: &str| self.dir.join(name);
        cmd.env("HOME", &self.home)
            .env("RABBITMQ_NODENAME", &self.name)
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_CONFIG_FILE", file("rabbitmq.conf"))
            .env("RABBITMQ_CONFIG_FILES", file("conf.d"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", file("advanced.config"))
            .env("RABBITMQ_CONF_ENV_FILE", file("rabbitmq-env.conf"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", &self.plugins)
            .env("RABBITMQ_MNESIA_BASE", file("mnesia"))
            .env("RABBITMQ_LOG_BASE", file("log"))
            .env("RABBITMQ_PID_FILE", self.pid_file())
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1}",
            );
        Ok(cmd)
    }

    /// Where the VM writes its crash dump: its working directory before
    /// RabbitMQ has set up logging (e.g. on a config error), the log
    /// directory after.
    fn crash_dumps(&self) -> [PathBuf; 2] {
        [
            self.dir.join("erl_crash.dump"),
            self.dir.join("log").join("erl_crash.dump"),
        ]
    }

    fn boot_error(&self, reason: String) -> SandboxError {
        SandboxError::Boot {
            node: self.name.clone(),
            reason,
            detail: self.log_tail(),
        }
    }

    /// What went wrong, as far as the node tells: the slogan of its crash
    /// dump, the first error lines of its log and the log's last lines.
    pub fn log_tail(&self) -> String {
        let slogan = self.crash_dumps().iter().find_map(|path| {
            let dump = BufReader::new(fs::File::open(path).ok()?);
            let mut lines = dump.lines().take(5).map_while(std::result::Result::ok);
            lines.find(|line| line.starts_with("Slogan:"))
        });
        let slogan = slogan.map_or_else(String::new, |slogan| format!("crash dump {slogan}\n"));
        let path = self.log_file();
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

/// Writes `cookie` as `home`'s Erlang cookie (mode 400) unless one is there:
/// every node of a cluster, and `rabbitmqctl`, must share it.
pub fn write_cookie(home: &Path, cookie: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = home.join(".erlang.cookie");
    if path.exists() {
        return Ok(());
    }
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o400)
        .open(&path)
        .and_then(|mut file| file.write_all(cookie.as_bytes()))
        .map_err(io_error("write", &path))
}
