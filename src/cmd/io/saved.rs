//! Messages saved as files (`con --save-dir`, `pub --from-dir`): each
//! message is `N.body` (the body, byte for byte) and `N.json` (its
//! envelope without the body, plus `received_at_ms`), `N` zero-padded so
//! that names sort in arrival order. The sidecar is written last, by a
//! rename, so a message counts as saved only once both files are whole.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value as Json, json};

use super::envelope::{self, Incoming};
use crate::error::Error;
use amqpctl::amqp::Delivery;

/// Digits of a saved message's number.
const WIDTH: usize = 12;

/// A directory `con` saves messages into.
pub struct SaveDir {
    dir: PathBuf,
    next: u64,
}

impl SaveDir {
    /// Opens (or creates) `dir`; new messages are numbered after the ones
    /// already there.
    pub fn open(dir: &Path) -> Result<SaveDir, Error> {
        std::fs::create_dir_all(dir).map_err(|e| cannot(dir, e))?;
        let last = numbered(dir)?.last().map_or(0, |(n, _)| *n);
        Ok(SaveDir {
            dir: dir.to_path_buf(),
            next: last + 1,
        })
    }

    /// Writes one message; when it returns, both files are in place.
    pub fn save(&mut self, d: &Delivery) -> Result<(), Error> {
        let stem = format!("{:0WIDTH$}", self.next);
        let body = self.dir.join(format!("{stem}.body"));
        std::fs::write(&body, d.body()).map_err(|e| Error::io("writing to --save-dir", e))?;
        let mut sidecar = envelope::routing_and_properties(d);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |t| t.as_millis() as u64);
        sidecar.insert("received_at_ms".into(), json!(now));
        let text = serde_json::to_vec(&Json::Object(sidecar)).unwrap_or_default();
        let partial = self.dir.join(format!("{stem}.json.partial"));
        let done = self.dir.join(format!("{stem}.json"));
        std::fs::write(&partial, text).map_err(|e| Error::io("writing to --save-dir", e))?;
        std::fs::rename(&partial, &done).map_err(|e| Error::io("writing to --save-dir", e))?;
        self.next += 1;
        Ok(())
    }
}

/// One saved message, read back for publishing.
pub struct Saved {
    /// Its routing, properties and body.
    pub message: Incoming,
    /// When `con` received it, in ms since the epoch.
    pub received_at_ms: Option<u64>,
}

/// The saved messages in `dir`, in arrival order (their sidecars).
pub fn list(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    Ok(numbered(dir)?.into_iter().map(|(_, p)| p).collect())
}

/// Reads the message whose sidecar is `sidecar`.
pub fn read(sidecar: &Path) -> Result<Saved, Error> {
    let text = std::fs::read(sidecar).map_err(|e| cannot(sidecar, e))?;
    let mut m: serde_json::Map<String, Json> = serde_json::from_slice(&text)
        .map_err(|e| Error::Usage(format!("{}: invalid JSON: {e}", sidecar.display())))?;
    let received_at_ms = m.remove("received_at_ms").and_then(|v| v.as_u64());
    let body_path = sidecar.with_extension("body");
    let body = std::fs::read(&body_path).map_err(|e| cannot(&body_path, e))?;
    m.insert("body".into(), json!(BASE64.encode(&body)));
    m.insert("body_encoding".into(), json!("base64"));
    let line = serde_json::to_vec(&Json::Object(m)).unwrap_or_default();
    let message =
        envelope::decode(&line).map_err(|e| Error::Usage(format!("{}: {e}", sidecar.display())))?;
    Ok(Saved {
        message,
        received_at_ms,
    })
}

/// The `N.json` sidecars in `dir` with their numbers, sorted.
fn numbered(dir: &Path) -> Result<Vec<(u64, PathBuf)>, Error> {
    let entries = std::fs::read_dir(dir).map_err(|e| cannot(dir, e))?;
    let mut found = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| cannot(dir, e))?.path();
        let number = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(n) = number {
            found.push((n, path));
        }
    }
    found.sort();
    Ok(found)
}

fn cannot(path: &Path, e: std::io::Error) -> Error {
    Error::Usage(format!("{}: {e}", path.display()))
}
