//! Named connection profiles (`--profile NAME`, `AMQPCTL_PROFILE`): a TOML
//! file (`$AMQPCTL_CONFIG`, else `amqpctl/config.toml` in the XDG config
//! directory) with `[profiles.NAME]` tables. A profile fills in what the
//! command line leaves unsaid: explicit flags (and their environment
//! variables) override it, it overrides the defaults. Like ssh, a file that
//! holds a password must be readable by its owner only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::url::redact;
use crate::error::Error;

/// What a password is replaced with wherever a profile is shown.
const REDACTED: &str = "xxxxx";

/// The config file: profiles by name.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// One `[profiles.NAME]` table. Every key is optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// `amqp[s]://user:pass@host:port/vhost`, as `--url` takes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The broker's host (`--server`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The broker's port (`--port`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The virtual host (`--vhost`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vhost: Option<String>,
    /// The user for PLAIN login.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The password, inline: the file must then be mode 600 or stricter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// A file whose first line is the password (mode 600 or stricter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Use TLS (`--enable-tls`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<bool>,
    /// `--cafile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cafile: Option<PathBuf>,
    /// `--certfile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certfile: Option<PathBuf>,
    /// `--keyfile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyfile: Option<PathBuf>,
    /// `--subjectname`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subjectname: Option<String>,
    /// `--insecure`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
    /// `--heartbeat`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<u16>,
    /// `--connection-name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_name: Option<String>,
    /// `--management-url`: the management API (`list`, `info`, `unbind`,
    /// `close-connection`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub management_url: Option<String>,
}

impl Profile {
    /// The password, from `password` or the first line of `password_file`
    /// (refused when others can read that file).
    pub fn password(&self, name: &str) -> Result<Option<String>, Error> {
        match (&self.password, &self.password_file) {
            (Some(_), Some(_)) => Err(Error::Usage(format!(
                "profile '{name}' gives both password and password_file: keep one"
            ))),
            (Some(p), None) => Ok(Some(p.clone())),
            (None, Some(path)) => {
                check_private(path, "holds a password")?;
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Error::Usage(format!(
                        "profile '{name}': cannot read password_file {}: {e}",
                        path.display()
                    ))
                })?;
                Ok(Some(text.lines().next().unwrap_or("").to_string()))
            }
            (None, None) => Ok(None),
        }
    }

    /// `USER:PASS` for PLAIN login, when the profile gives a password: the
    /// user is `username`, else the URL's.
    pub fn userpass(&self, name: &str) -> Result<Option<String>, Error> {
        let url_user = self
            .url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .map(|u| u.username().to_string())
            .filter(|u| !u.is_empty());
        match (self.username.clone(), url_user, self.password(name)?) {
            (Some(user), _, Some(password)) | (None, Some(user), Some(password)) => {
                Ok(Some(format!("{user}:{password}")))
            }
            (Some(user), _, None) => Err(Error::Usage(format!(
                "profile '{name}' gives username '{user}' but no password or password_file"
            ))),
            (None, None, Some(_)) => Err(Error::Usage(format!(
                "profile '{name}' gives a password but no username"
            ))),
            // A URL's own credentials, or none.
            (None, _, None) => Ok(None),
        }
    }

    /// Whether the profile itself holds a password (inline, or in its URL).
    fn holds_a_password(&self) -> bool {
        let in_url = self
            .url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .is_some_and(|u| u.password().is_some());
        self.password.is_some() || in_url
    }

    /// The profile as it may be shown: passwords replaced, the URL redacted.
    fn redacted(&self) -> Profile {
        Profile {
            url: self.url.as_deref().map(redact),
            password: self.password.as_ref().map(|_| REDACTED.to_string()),
            ..self.clone()
        }
    }
}

/// Where the config file is: `$AMQPCTL_CONFIG`, else
/// `$XDG_CONFIG_HOME/amqpctl/config.toml` (`~/.config/…`).
pub fn config_path() -> Result<PathBuf, Error> {
    if let Some(path) = std::env::var_os("AMQPCTL_CONFIG") {
        return Ok(PathBuf::from(path));
    }
    dirs::config_dir()
        .map(|dir| dir.join("amqpctl").join("config.toml"))
        .ok_or_else(|| {
            Error::Usage(
                "no config directory (set HOME or XDG_CONFIG_HOME, or AMQPCTL_CONFIG)".to_string(),
            )
        })
}

/// Reads and checks the config file; `None` when it does not exist.
fn read_config(path: &Path) -> Result<Option<ConfigFile>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::Usage(format!("cannot read {}: {e}", path.display())));
        }
    };
    let config: ConfigFile = toml::from_str(&text).map_err(|e| {
        let what = e.message();
        let at = e
            .span()
            .map(|span| {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                format!(" (line {line})")
            })
            .unwrap_or_default();
        Error::Usage(format!("{}{at}: {what}", path.display()))
    })?;
    if config.profiles.values().any(Profile::holds_a_password) {
        check_private(path, "holds a password")?;
    }
    Ok(Some(config))
}

/// Refuses a file that its group or others can read, as ssh does.
fn check_private(path: &Path, why: &str) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| Error::Usage(format!("cannot read {}: {e}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(Error::Usage(format!(
            "{} {why} but is readable by others (mode {:o}): chmod 600 {}",
            path.display(),
            mode & 0o777,
            path.display()
        )));
    }
    Ok(())
}

/// The profile called `name`.
pub fn load(name: &str) -> Result<Profile, Error> {
    let path = config_path()?;
    let config = read_config(&path)?.ok_or_else(|| {
        Error::Usage(format!(
            "--profile {name}: {} does not exist",
            path.display()
        ))
    })?;
    config.profiles.get(name).cloned().ok_or_else(|| {
        let known: Vec<&str> = config.profiles.keys().map(String::as_str).collect();
        Error::Usage(format!(
            "no profile '{name}' in {} (it has: {})",
            path.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ))
    })
}

/// Every profile, redacted, as TOML, for `amqpctl profiles`; `None` when
/// there is no config file.
pub fn listing() -> Result<(PathBuf, Option<String>), Error> {
    let path = config_path()?;
    let Some(config) = read_config(&path)? else {
        return Ok((path, None));
    };
    let mut out = String::new();
    for (name, profile) in &config.profiles {
        let mut table = BTreeMap::new();
        table.insert(name.clone(), profile.redacted());
        let mut wrapper = BTreeMap::new();
        wrapper.insert("profiles", table);
        let text = toml::to_string(&wrapper)
            .map_err(|e| Error::Usage(format!("cannot show profile '{name}': {e}")))?;
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&text);
    }
    Ok((path, Some(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shown_profile_keeps_no_password() {
        let p = Profile {
            url: Some("amqp://u:secret1@h/v".into()),
            password: Some("secret2".into()),
            ..Profile::default()
        };
        let shown = toml::to_string(&p.redacted()).unwrap();
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("xxxxx"), "{shown}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = toml::from_str::<ConfigFile>("[profiles.a]\npasword = \"x\"\n").unwrap_err();
        assert!(e.message().contains("pasword"), "{}", e.message());
    }
}
