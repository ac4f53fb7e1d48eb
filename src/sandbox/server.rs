//! Which RabbitMQ a node runs: the machine's own, or the one installed in
//! another root file system (a debootstrapped Debian holding a newer
//! release), run under `chroot`. Also the settings a node takes from it,
//! such as RabbitMQ 4.3's defaults for deprecated features.
//!
//! A node from another root runs in a mount namespace of its own
//! (`unshare --mount`): `/proc`, `/dev` and the directories holding the
//! node's files are mounted into the root only there. The namespace, and so
//! every mount, is gone when the last process in it ends, however it ends
//! (SIGKILL included): nothing to unmount, nothing piles up on the machine.

use std::path::{Component, Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::error::{Result, SandboxError};

/// Where Debian's package puts the server scripts (the `/usr/sbin` wrappers
/// switch to the `rabbitmq` user, these do not), on the machine and in a root.
pub const DEFAULT_RABBITMQ_BIN: &str = "/usr/lib/rabbitmq/bin";

/// RabbitMQ 4.3's defaults, which 4.0 takes from its config file: a
/// transient non-exclusive queue and global QoS are refused.
pub const DEFAULTS_4_3: &str = "deprecated_features.permit.transient_nonexcl_queues = false
deprecated_features.permit.global_qos = false
";

/// A script inside the root mounts what the node needs, then chroots: `$1`
/// is the root, `$2` the working directory, `$3` how many directories to
/// bind at the same path, then those directories and the program's argv.
const ENTER_ROOT: &str = r#"set -e
root=$1 cwd=$2 n=$3; shift 3
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
while [ "$n" -gt 0 ]; do mount --rbind "$1" "$root$1"; shift; n=$((n - 1)); done
exec chroot "$root" env -C "$cwd" "$@"
"#;

/// Which RabbitMQ a node runs; see the module docs. Part of a node's saved
/// state, so a later `sandbox start` boots the same one.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Server {
    /// A root file system whose `/usr/lib/rabbitmq/bin` to run (chrooted);
    /// `None` for the machine's own (`$AMQPCTL_RABBITMQ_BIN` or
    /// [`DEFAULT_RABBITMQ_BIN`]).
    #[serde(default)]
    pub root: Option<PathBuf>,
    /// Whether the node's config refuses what RabbitMQ 4.3 refuses by
    /// default ([`DEFAULTS_4_3`]); only 4.x nodes know these settings.
    #[serde(default)]
    pub defaults_4_3: bool,
}

impl Server {
    /// The directory holding `rabbitmq-server` and `rabbitmqctl`, as the
    /// node sees it (inside the root for a root).
    pub fn bin(&self) -> PathBuf {
        match &self.root {
            Some(_) => PathBuf::from(DEFAULT_RABBITMQ_BIN),
            None => rabbitmq_bin(),
        }
    }

    /// Fails with [`SandboxError::NotInstalled`] unless the server scripts
    /// are there (on the machine, or in the root).
    pub fn check_installed(&self) -> Result<()> {
        let on_machine = match &self.root {
            Some(root) => root.join(DEFAULT_RABBITMQ_BIN.trim_start_matches('/')),
            None => rabbitmq_bin(),
        };
        for program in ["rabbitmq-server", "rabbitmqctl"] {
            let path = on_machine.join(program);
            if !path.is_file() {
                return Err(SandboxError::NotInstalled { path });
            }
        }
        Ok(())
    }

    /// A command running `program` (one of RabbitMQ's scripts) in `cwd`; for
    /// a root, inside it, with `binds` (the node's directories, wherever they
    /// are) visible at the same paths.
    pub fn command(&self, program: &str, cwd: &Path, binds: &[&Path]) -> Result<Command> {
        let script = self.bin().join(program);
        let Some(root) = &self.root else {
            let mut cmd = Command::new(script);
            cmd.current_dir(cwd);
            return Ok(cmd);
        };
        let tops = top_dirs(binds);
        for top in &tops {
            // A mount point inside the root: one empty directory per top
            // level directory (e.g. /tmp exists already), made once.
            let point = root.join(top.strip_prefix("/").unwrap_or(top));
            std::fs::create_dir_all(&point).map_err(super::error::io_error("create", &point))?;
        }
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(ENTER_ROOT)
            .arg("enter-root")
            .arg(root)
            .arg(cwd)
            .arg(tops.len().to_string())
            .args(&tops)
            .arg(script);
        Ok(cmd)
    }
}

/// The directory holding `rabbitmq-server` and `rabbitmqctl` on the machine:
/// `$AMQPCTL_RABBITMQ_BIN`, else [`DEFAULT_RABBITMQ_BIN`].
pub fn rabbitmq_bin() -> PathBuf {
    std::env::var_os("AMQPCTL_RABBITMQ_BIN")
        .map_or_else(|| PathBuf::from(DEFAULT_RABBITMQ_BIN), PathBuf::from)
}

/// The distinct top-level directories of `paths` (`/tmp` for
/// `/tmp/amqpctl-it-x/node1`): what gets bound into a root, so that the root
/// only ever gains a mount point per top-level directory, not one per node.
fn top_dirs(paths: &[&Path]) -> Vec<PathBuf> {
    let mut tops: Vec<PathBuf> = Vec::new();
    for path in paths {
        let mut parts = path.components();
        let (Some(Component::RootDir), Some(Component::Normal(first))) =
            (parts.next(), parts.next())
        else {
            continue;
        };
        let top = Path::new("/").join(first);
        if !tops.contains(&top) {
            tops.push(top);
        }
    }
    tops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_top_level_directories_are_bound() {
        let a = Path::new("/tmp/amqpctl-it-1/node1");
        let b = Path::new("/tmp/amqpctl-it-1");
        let c = Path::new("/run/user/0/amqpctl-sandbox-x");
        assert_eq!(
            top_dirs(&[a, b, c]),
            vec![PathBuf::from("/tmp"), PathBuf::from("/run")]
        );
        assert!(top_dirs(&[Path::new("relative/dir")]).is_empty());
    }
}
