//! A sandbox: one node or a cluster of N joined nodes, in one directory that
//! holds their shared Erlang cookie, the PKI for `--tls`, each node's own
//! directory, and a JSON state file so that later commands find it again.

use std::fs;
use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};
use std::thread;

use serde::{Deserialize, Serialize};

use super::certs::{self, CLIENT_CN, Pki};
use super::error::{Result, SandboxError, io_error};
use super::node::{Node, PLUGINS, write_cookie};
use super::server::Server;

/// The state file in a sandbox's directory.
const STATE_FILE: &str = "sandbox.json";

/// What `up` makes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// How many nodes (1 for a single node; more are joined into a cluster).
    pub nodes: usize,
    /// Whether each node gets a TLS listener (and the sandbox a PKI).
    pub tls: bool,
    /// Which RabbitMQ the nodes run.
    pub server: Server,
}

/// A sandbox: see the module docs. What its state file holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Sandbox {
    /// Its name (`default` unless told).
    pub name: String,
    /// Its directory.
    pub dir: PathBuf,
    /// Its nodes, node 1 first (the one the others joined).
    pub nodes: Vec<Node>,
    /// The certificates, with `--tls`.
    pub pki: Option<Pki>,
}

/// The directory of the sandbox called `name`:
/// `$XDG_RUNTIME_DIR/amqpctl-sandbox-NAME`, else under `$TMPDIR` (or /tmp).
pub fn dir_for(name: &str) -> PathBuf {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|d| !d.is_empty() && Path::new(d).is_dir())
        .map_or_else(std::env::temp_dir, PathBuf::from);
    base.join(format!("amqpctl-sandbox-{name}"))
}

/// Refuses names that cannot be part of a directory and an Erlang node name.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(SandboxError::Invalid(format!(
            "sandbox name '{name}': use 1 to 40 letters, digits, '-' or '_'"
        )))
    }
}

impl Sandbox {
    /// Boots a new sandbox called `name` in its usual directory
    /// ([`dir_for`]), saying what it does through `progress`. Fails if one
    /// of that name exists; on failure, leaves nothing running or on disk.
    pub fn up(name: &str, options: Options, progress: &dyn Fn(&str)) -> Result<Sandbox> {
        check_name(name)?;
        let dir = dir_for(name);
        if dir.exists() {
            return Err(SandboxError::Exists {
                name: name.to_string(),
                dir,
            });
        }
        Sandbox::create(name, &dir, options, progress)
    }

    /// Boots a new sandbox in `dir`, which must not exist yet (its parent
    /// must): nodes booted in parallel, joined to node 1, provisioned, and
    /// the state saved. On failure the nodes are killed and `dir` removed.
    pub fn create(
        name: &str,
        dir: &Path,
        options: Options,
        progress: &dyn Fn(&str),
    ) -> Result<Sandbox> {
        check_name(name)?;
        options.server.check_installed()?;
        if options.nodes == 0 {
            return Err(SandboxError::Invalid(
                "a sandbox needs at least 1 node".to_string(),
            ));
        }
        fs::create_dir(dir).map_err(io_error("create", dir))?;
        let mut sandbox = Sandbox {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            nodes: Vec::new(),
            pki: None,
        };
        match sandbox.build(&options, progress) {
            Ok(()) => Ok(sandbox),
            Err(e) => {
                sandbox.remove();
                Err(e)
            }
        }
    }

    fn build(&mut self, options: &Options, progress: &dyn Fn(&str)) -> Result<()> {
        let cookie = format!("{:016X}", RandomState::new().hash_one(&self.dir));
        write_cookie(&self.dir, &cookie)?;
        let plugins = self.dir.join("enabled_plugins");
        fs::write(&plugins, PLUGINS).map_err(io_error("write", &plugins))?;
        if options.tls {
            self.pki = Some(certs::generate(&self.dir)?);
        }
        let tls = self.pki.as_ref().map(Pki::server);
        self.nodes = (1..=options.nodes)
            .map(|i| {
                let dir = self.dir.join(format!("node{i}"));
                let name = format!("sbx-{}-{i}@localhost", self.name);
                Node::new(&name, &self.dir, &dir, &plugins, tls.clone())
                    .with_server(options.server.clone())
            })
            .collect();
        // Saved before booting, so that `down` finds the nodes of a half-made sandbox.
        self.save()?;
        progress(&format!(
            "Booting {} node{} in {}",
            options.nodes,
            if options.nodes == 1 { "" } else { "s" },
            self.dir.display()
        ));
        let booted: Vec<Result<()>> = thread::scope(|scope| {
            let handles: Vec<_> = self
                .nodes
                .iter_mut()
                .map(|node| scope.spawn(move || node.first_boot()))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(SandboxError::Invalid("a boot thread panicked".into()))
                    })
                })
                .collect()
        });
        self.save()?;
        booted.into_iter().collect::<Result<Vec<()>>>()?;
        let first = self.nodes[0].name.clone();
        for node in &self.nodes[1..] {
            progress(&format!("Joining {} to {first}", node.name));
            join(node, &first)?;
        }
        provision(&self.nodes[0])?;
        progress(&format!("Sandbox '{}' is up", self.name));
        Ok(())
    }

    /// The sandbox called `name`, from its state file.
    pub fn load(name: &str) -> Result<Sandbox> {
        check_name(name)?;
        let dir = dir_for(name);
        let path = dir.join(STATE_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SandboxError::NotFound {
                    name: name.to_string(),
                    dir,
                });
            }
            Err(e) => return Err(io_error("read", &path)(e)),
        };
        let sandbox: Sandbox = serde_json::from_str(&text).map_err(|e| SandboxError::BadState {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if sandbox.nodes.is_empty() {
            return Err(SandboxError::BadState {
                path,
                reason: "it lists no node".to_string(),
            });
        }
        Ok(sandbox)
    }

    /// Writes the state file (atomically, by rename).
    pub fn save(&self) -> Result<()> {
        let path = self.dir.join(STATE_FILE);
        let tmp = self.dir.join(format!("{STATE_FILE}.tmp"));
        let json = serde_json::to_string_pretty(self).map_err(|e| SandboxError::BadState {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        fs::write(&tmp, json + "\n").map_err(io_error("write", &tmp))?;
        fs::rename(&tmp, &path).map_err(io_error("write", &path))
    }

    /// The node `which` names: its number (from 1) or its full name.
    pub fn node(&self, which: &str) -> Result<&Node> {
        let by_number = which
            .parse::<usize>()
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| self.nodes.get(i));
        by_number
            .or_else(|| self.nodes.iter().find(|n| n.name == which))
            .ok_or_else(|| SandboxError::NoSuchNode {
                sandbox: self.name.clone(),
                node: which.to_string(),
                known: self
                    .nodes
                    .iter()
                    .enumerate()
                    .map(|(i, n)| format!("{} = {}", i + 1, n.name))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Kills every node and removes the directory: nothing left running or
    /// on disk.
    pub fn down(self) -> Result<()> {
        for node in &self.nodes {
            node.halt();
        }
        fs::remove_dir_all(&self.dir).map_err(io_error("remove", &self.dir))
    }

    /// Like [`Sandbox::down`], ignoring errors (clean-up paths).
    fn remove(&self) {
        for node in &self.nodes {
            node.halt();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }

    /// The names of the nodes the cluster counts as running, as node 1 (or,
    /// when it is down, the first node that answers) sees them.
    pub fn running_nodes(&self) -> Vec<String> {
        for node in self.nodes.iter().filter(|n| n.running_pid().is_some()) {
            let asked = node.ctl_ok(&["eval", "rabbit_nodes:all_running()."]);
            if let Ok(out) = asked {
                return parse_atoms(&out);
            }
        }
        Vec::new()
    }
}

/// Joins `node` (booted, alone) to the cluster of `first`.
pub fn join(node: &Node, first: &str) -> Result<()> {
    node.ctl_ok(&["stop_app"])?;
    node.ctl_ok(&["reset"])?;
    node.ctl_ok(&["join_cluster", first])?;
    node.ctl_ok(&["start_app"])?;
    node.ctl_ok(&["await_startup", "--timeout", "90"])?;
    Ok(())
}

/// Creates, through `node`, the walkthrough's vhost and users: vhost
/// `domain1`; `alice`/`alice123` with every permission on it; `bob`/`bob123`
/// reading only; [`CLIENT_CN`] without a password (SASL EXTERNAL) with every
/// permission on `/`; `guest` keeps `/`.
pub fn provision(node: &Node) -> Result<()> {
    let path = node.dir.join("definitions.json");
    fs::write(&path, definitions()).map_err(io_error("write", &path))?;
    node.ctl_ok(&["import_definitions", &path.to_string_lossy()])?;
    Ok(())
}

/// Users, vhost and permissions in `rabbitmqctl import_definitions` format.
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

/// The atoms of an Erlang list as `rabbitmqctl eval` prints it:
/// `['a@localhost','b@localhost']`.
fn parse_atoms(printed: &str) -> Vec<String> {
    printed
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|a| a.trim().trim_matches('\'').to_string())
        .filter(|a| !a.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("default").is_ok());
        assert!(check_name("a-b_3").is_ok());
        for bad in ["", "a b", "a/b", "a@b", &"x".repeat(41)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn running_nodes_are_read_from_an_erlang_list() {
        assert_eq!(
            parse_atoms("['sbx-a-1@localhost','sbx-a-2@localhost']\n"),
            vec!["sbx-a-1@localhost", "sbx-a-2@localhost"]
        );
        assert!(parse_atoms("[]\n").is_empty());
    }
}
