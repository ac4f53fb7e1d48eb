//! `amqpctl sandbox`: a node and a three-node cluster booted, used, crashed and removed
//! through the command line, as a newcomer would; and its refusals, which leave nothing
//! behind. Every sandbox here lives under an `XDG_RUNTIME_DIR` of the test's own, watched
//! like the suite's nodes, so a failed test leaves nothing running.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::broker::spawn_watchdog;
use crate::support::run::AMQPCTL;
use crate::support::{Cmd, Run};

/// Boots of three nodes take about 40 s on two shared cores.
const BOOT: Duration = Duration::from_secs(240);

/// An `XDG_RUNTIME_DIR` of this test's own, and a sandbox name unique to it.
struct Place {
    runtime: PathBuf,
    name: String,
}

impl Place {
    fn new(name: &str) -> Place {
        let runtime = tempfile::Builder::new()
            .prefix("amqpctl-it-sandbox-")
            .tempdir_in("/tmp")
            .expect("a runtime directory")
            .keep();
        spawn_watchdog(&runtime);
        Place {
            runtime,
            name: format!("{name}-{}", std::process::id()),
        }
    }

    /// The sandbox's directory, as `sandbox up` makes it.
    fn dir(&self) -> PathBuf {
        self.runtime.join(format!("amqpctl-sandbox-{}", self.name))
    }

    /// `amqpctl sandbox ARGS --name NAME` here.
    fn sandbox(&self, args: &[&str]) -> Cmd {
        let mut all = vec!["sandbox"];
        all.extend_from_slice(args);
        all.extend(["--name", &self.name]);
        Cmd::amqpctl(&all)
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .env_remove("AMQP_URL")
            .env_remove("AMQPCTL_SANDBOX")
            .timeout(BOOT)
    }

    /// `bash -c SCRIPT` with amqpctl on the PATH, after `eval`ing `exports`.
    fn shell(&self, exports: &str, script: &str) -> Run {
        let bin = Path::new(AMQPCTL).parent().expect("the binary's directory");
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(format!("set -e\neval \"$1\"\n{script}"))
            .arg("bash")
            .arg(exports)
            .env("PATH", path)
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .env_remove("AMQP_URL");
        Cmd::from(cmd).timeout(BOOT).run()
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        // Only reached with the sandbox still there when the test failed.
        if self.dir().exists() {
            let _ = self.sandbox(&["down"]).run().code_one_of(&[0, 1, 2]);
        }
        let _ = std::fs::remove_dir_all(&self.runtime);
    }
}

/// The pids `sandbox status` shows for running nodes.
fn pids(status: &Run) -> Vec<i32> {
    status
        .stdout_lines()
        .iter()
        .filter_map(|l| l.split_once("(pid ")?.1.split_once(')')?.0.parse().ok())
        .collect()
}

/// Whether `pid` runs (a zombie waiting for its parent to reap it does not).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

/// The README's "A broker in one command" block, its lines that run amqpctl.
fn readme_sandbox_lines() -> Vec<String> {
    let readme = include_str!("../../README.md");
    let section = readme
        .split_once("### A broker in one command")
        .expect("the README's sandbox section")
        .1;
    let block = section.split_once("```\n").expect("its code block").1;
    let block = block.split_once("```").expect("its end").0;
    block
        .lines()
        .map(|l| l.split_once("  #").map_or(l, |(code, _)| code).trim_end())
        .filter(|l| l.starts_with("eval ") || l.starts_with("amqpctl "))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_readme_sandbox_runs_the_walkthrough_and_down_leaves_nothing() {
    let place = Place::new("readme");
    let lines = readme_sandbox_lines();
    assert!(lines.len() >= 4, "{lines:?}");
    let script = lines.join("\n");
    let run = place
        .shell(&format!("export AMQPCTL_SANDBOX={}", place.name), &script)
        .code(0);
    let out = run.stdout_lines();
    assert!(out.iter().any(|l| l == "Sent: Hello World!"), "{out:?}");
    assert!(out.iter().any(|l| l == "Received: Hello World!"), "{out:?}");
    assert!(
        out.iter()
            .any(|l| l.starts_with("1 sbx-") && l.contains(" running (pid ")),
        "{out:?}"
    );
    let pids = pids(&run);
    assert_eq!(pids.len(), 1, "{out:?}");
    assert!(
        !place.dir().exists(),
        "sandbox down left {}",
        place.dir().display()
    );
    assert!(!alive(pids[0]), "node pid {} still running", pids[0]);
}

#[test]
fn a_three_node_tls_sandbox_clusters_survives_a_kill_and_goes_away_whole() {
    let place = Place::new("three");
    let up = place
        .sandbox(&["up", "--nodes", "3", "--tls"])
        .run()
        .code(0);
    let name = &place.name;
    let dir = place.dir();
    let d = dir.display();
    let up = up.stderr([
        format!("Booting 3 nodes in {d}"),
        format!("Joining sbx-{name}-2@localhost to sbx-{name}-1@localhost"),
        format!("Joining sbx-{name}-3@localhost to sbx-{name}-1@localhost"),
        format!("Sandbox '{name}' is up"),
    ])
    .stdout([
        format!("export AMQPCTL_SANDBOX={name}"),
        "export AMQP_URL=amqp://127.0.0.1:[..]".to_string(),
        "export RABBITMQADMIN_BASE_URI=http://127.0.0.1:[..]".to_string(),
        "export AMQPCTL_SANDBOX_URLS='--url amqp://127.0.0.1:[..] --url amqp://127.0.0.1:[..] --url amqp://127.0.0.1:[..]'".to_string(),
        "export AMQPCTL_SANDBOX_TLS_URL=amqps://127.0.0.1:[..]".to_string(),
        "export AMQPCTL_SANDBOX_TLS_URLS='--url amqps://127.0.0.1:[..] --url amqps://127.0.0.1:[..] --url amqps://127.0.0.1:[..]'".to_string(),
        format!("export AMQPCTL_SANDBOX_CAFILE={d}/ca.pem"),
        format!("export AMQPCTL_SANDBOX_CERTFILE={d}/client.pem"),
        format!("export AMQPCTL_SANDBOX_KEYFILE={d}/client.key"),
    ]);
    let exports = up.stdout_text();
    // env says the same again.
    place
        .sandbox(&["env"])
        .run()
        .code(0)
        .stdout_bytes(exports.as_bytes());
    // rabbitmqctl, as status tells how, counts three running nodes.
    let status = place.sandbox(&["status"]).run().code(0);
    let ctl = status
        .stdout_lines()
        .iter()
        .find_map(|l| l.strip_prefix("rabbitmqctl: ").map(str::to_string))
        .expect("status says how to run rabbitmqctl");
    place
        .shell(
            &exports,
            &format!("{ctl} | grep -c '^sbx-{name}-[123]@localhost$'"),
        )
        .code(0)
        // Listed under Disk Nodes and under Running Nodes.
        .stdout(["6"]);
    let pids = pids(&status);
    assert_eq!(pids.len(), 3, "{:?}", status.stdout_lines());
    // TLS with the generated CA and SASL EXTERNAL with the client certificate, then the
    // walkthrough's alice over plain AMQP on every node's URL.
    let tls = "amqpctl --url $AMQPCTL_SANDBOX_TLS_URL --cafile $AMQPCTL_SANDBOX_CAFILE \
               --certfile $AMQPCTL_SANDBOX_CERTFILE --keyfile $AMQPCTL_SANDBOX_KEYFILE";
    place
        .shell(
            &exports,
            &format!(
                "{tls} pub -q hello -Q --nad-queue -k hello --confirm -m 'over TLS'\n\
                 amqpctl $AMQPCTL_SANDBOX_URLS con -q hello --count 1 \n\
                 amqpctl pub -q q1 -Q --durable-queue --nad-queue -k q1 --confirm -m x \
                 --userpass alice:alice123 --vhost domain1"
            ),
        )
        .code(0)
        .stdout(["Sent: over TLS", "Received: over TLS", "Sent: x"]);
    // A crash drill: node 2 killed, then started again.
    place.sandbox(&["kill", "2"]).run().code(0).stderr([format!(
        "Killed node sbx-{name}-2@localhost (pid {})",
        pids[1]
    )]);
    assert!(!alive(pids[1]));
    place
        .sandbox(&["status"])
        .run()
        .code(0)
        .stdout_has(format!(
            "2 sbx-{name}-2@localhost stopped amqp://127.0.0.1:[..]"
        ))
        .stdout_has(format!("Sandbox {name}: 3 nodes, 2 running, TLS, {d}"));
    place
        .sandbox(&["start", "2"])
        .run()
        .code(0)
        .stderr([format!("Started node sbx-{name}-2@localhost")]);
    place
        .sandbox(&["status"])
        .run()
        .code(0)
        .stdout_has(format!("Sandbox {name}: 3 nodes, 3 running, TLS, {d}"));
    place
        .sandbox(&["stop", &format!("sbx-{name}-3@localhost")])
        .run()
        .code(0)
        .stderr([format!("Stopped node sbx-{name}-3@localhost")]);
    // Refusals name the problem and change nothing.
    place
        .sandbox(&["kill", "4"])
        .run()
        .code(2)
        .stderr([format!(
            "ERROR: sandbox '{name}' has no node '4' (its nodes: 1 = sbx-{name}-1@localhost, 2 = sbx-{name}-2@localhost, 3 = sbx-{name}-3@localhost)"
        )]);
    place
        .sandbox(&["up"])
        .run()
        .code(2)
        .stderr([
            format!("ERROR: a sandbox named '{name}' already exists in {d}"),
            "hint: print its settings with amqpctl sandbox env, remove it with amqpctl sandbox down, or choose another --name".into(),
        ]);
    let running = pids_now(&place);
    assert_eq!(running.len(), 2);
    place
        .sandbox(&["down"])
        .run()
        .code(0)
        .stderr([format!("Removed sandbox {name} (3 nodes, {d})")]);
    assert!(!dir.exists(), "{d} is still there");
    for pid in running {
        assert!(!alive(pid), "node pid {pid} still running");
    }
    place.sandbox(&["status"]).run().code(2).stderr([
        format!("ERROR: no sandbox named '{name}' (no {d})"),
        "hint: start one with amqpctl sandbox up".into(),
    ]);
}

fn pids_now(place: &Place) -> Vec<i32> {
    pids(&place.sandbox(&["status"]).run().code(0))
}

#[test]
fn sandbox_refusals_leave_nothing_on_disk() {
    let place = Place::new("refused");
    place.sandbox(&["status"]).run().code(2).stderr([
        format!(
            "ERROR: no sandbox named '{}' (no {})",
            place.name,
            place.dir().display()
        ),
        "hint: start one with amqpctl sandbox up".into(),
    ]);
    place
        .sandbox(&["up"])
        .env("AMQPCTL_RABBITMQ_BIN", "/nonexistent")
        .run()
        .code(1)
        .stderr([
            "ERROR: the RabbitMQ server is not installed: no /nonexistent/rabbitmq-server found",
            "hint: install it (Debian, Ubuntu: apt-get install rabbitmq-server), or set AMQPCTL_RABBITMQ_BIN to the directory holding rabbitmq-server and rabbitmqctl",
        ]);
    place
        .sandbox(&["up", "--nodes", "0"])
        .run()
        .code(2)
        .stderr_has("error: invalid value '0' for '--nodes <N>': 0 is not in 1..=9");
    Cmd::amqpctl(&["sandbox", "up", "--name", "a b"])
        .env("XDG_RUNTIME_DIR", &place.runtime)
        .run()
        .code(2)
        .stderr(["ERROR: sandbox name 'a b': use 1 to 40 letters, digits, '-' or '_'"]);
    // A state file that is not what up wrote.
    std::fs::create_dir(place.dir()).expect("a sandbox directory");
    let state = place.dir().join("sandbox.json");
    std::fs::write(
        &state,
        r#"{"name": "x", "dir": "/tmp", "nodes": [], "pki": null}"#,
    )
    .expect("a state file");
    place.sandbox(&["status"]).run().code(1).stderr([format!(
        "ERROR: unreadable sandbox state {}: it lists no node",
        state.display()
    )]);
    std::fs::write(&state, "not json").expect("a state file");
    place
        .sandbox(&["env"])
        .run()
        .code(1)
        .stderr([format!(
            "ERROR: unreadable sandbox state {}: expected ident at line 1 column 2",
            state.display()
        )])
        .no_stdout();
    std::fs::remove_dir_all(place.dir()).expect("remove it");
    let left: Vec<_> = std::fs::read_dir(&place.runtime)
        .expect("the runtime directory")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// `sandbox up --rabbitmq-root DIR` boots that root's RabbitMQ beside the
/// machine's: with `AMQPCTL_TEST_RABBITMQ` set (the root `.ci/run` caches),
/// a node with 4.3's defaults that refuses transient shared queues, so `pub
/// -Q` warns and declares durable; without it, a root with no RabbitMQ is
/// refused, naming the script it looked for. Either way nothing is left.
#[test]
fn sandbox_up_runs_another_roots_rabbitmq() {
    let place = Place::new("root");
    let Some(root) = std::env::var_os("AMQPCTL_TEST_RABBITMQ").filter(|d| !d.is_empty()) else {
        place
            .sandbox(&["up", "--rabbitmq-root", "/nonexistent"])
            .run()
            .code(1)
            .stderr([
                "ERROR: the RabbitMQ server is not installed: no /nonexistent/usr/lib/rabbitmq/bin/rabbitmq-server found",
                "hint: a root needs RabbitMQ inside it, e.g. debootstrap --variant=minbase --include=rabbitmq-server trixie DIR",
            ]);
        assert!(!place.dir().exists());
        return;
    };
    let root = root.to_string_lossy().into_owned();
    let up = place
        .sandbox(&["up", "--rabbitmq-root", &root, "--rabbitmq-43-defaults"])
        .run()
        .code(0);
    let exports = up.stdout_text();
    place
        .shell(&exports, "amqpctl pub -q hello -Q -k hello -m hi --userpass alice:alice123 --vhost domain1")
        .code(0)
        .stdout(["Sent: hi"])
        .stderr([
            "WARNING: the broker refuses transient non-exclusive queues (RabbitMQ 4.3's default): declaring queue 'hello' durable",
            "WARNING: the connection is not secured.",
            "Created queue: hello",
        ]);
    place.sandbox(&["down"]).run().code(0);
    assert!(!place.dir().exists());
    let mounts = std::fs::read_to_string("/proc/mounts").expect("/proc/mounts");
    assert!(
        !mounts.contains(&root),
        "mounts left on the machine:\n{mounts}"
    );
}
