//! Named profiles (`--profile`, `AMQPCTL_PROFILE`, `amqpctl profiles`): a
//! profile fills in what the flags leave unsaid, flags override it, it
//! overrides the defaults, and a file that others can read must not hold a
//! password.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::{Cmd, Run, broker, messages, queue_exists, unique};

/// A config file in a directory of its own, with `mode`.
struct Config {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn config(text: &str, mode: u32) -> Config {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.toml");
    write(&path, text, mode);
    Config { _dir: dir, path }
}

fn write(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).expect("write file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// `amqpctl ARGS` with `config` as its config file and no connection flags.
#[track_caller]
fn with_config(config: &Config, args: &[&str]) -> Run {
    Cmd::amqpctl(args)
        .env("AMQPCTL_CONFIG", &config.path)
        .env("AMQP_URL", "")
        .run()
}

/// The shared node's plain listener as a URL with guest's password.
fn node_url() -> String {
    format!("amqp://guest:guest@127.0.0.1:{}/%2f", broker().amqp_port())
}

/// A closed port: what a profile's port must beat the default 5672 with.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[test]
fn a_profile_names_the_broker_and_its_credentials() {
    let cfg = config(&format!("[profiles.t]\nurl = \"{}\"\n", node_url()), 0o600);
    let q = unique("profile-url");
    with_config(&cfg, &["--profile", "t", "declare", "queue", &q])
        .code(0)
        .stdout([format!("Created queue: {q} (messages: 0, consumers: 0)")])
        .stderr(["WARNING: the connection is not secured.".to_string()]);
    with_config(&cfg, &["--profile", "t", "pub", "-q", &q, "-m", "hi"])
        .code(0)
        .stdout(["Sent: hi"]);
    assert_eq!(messages(broker(), &q), 1);
    // The environment variable selects it as well as the flag.
    Cmd::amqpctl(&["get", "-q", &q])
        .env("AMQPCTL_CONFIG", &cfg.path)
        .env("AMQPCTL_PROFILE", "t")
        .env("AMQP_URL", "")
        .run()
        .code(0)
        .stdout(["Received: hi"]);
    with_config(&cfg, &["--profile", "t", "delete", "queue", &q]).code(0);
}

#[test]
fn flags_override_the_profile_and_the_profile_overrides_the_defaults() {
    let port = broker().amqp_port().to_string();
    let cfg = config(
        &format!(
            "[profiles.far]\nhost = \"127.0.0.1\"\nport = {}\nusername = \"guest\"\npassword = \"guest\"\n",
            closed_port()
        ),
        0o600,
    );
    let q = unique("profile-override");
    // The profile's port beats the default (5672, where another broker
    // listens on this machine): nothing there.
    with_config(&cfg, &["--profile", "far", "declare", "queue", &q])
        .code(3)
        .stderr_has("ERROR: could not connect to 127.0.0.1:[..]: Connection refused (os error 111)")
        .stderr_has("hint: no broker here? [..]");
    // A flag beats the profile's port; its host and credentials still apply.
    with_config(
        &cfg,
        &["--profile", "far", "--port", &port, "declare", "queue", &q],
    )
    .code(0)
    .stdout_has(format!("Created queue: {q} (messages: 0, consumers: 0)"));
    assert!(queue_exists(broker(), &q));
    with_config(
        &cfg,
        &["--profile", "far", "--port", &port, "delete", "queue", &q],
    )
    .code(0);
}

#[test]
fn a_password_file_supplies_the_password() {
    let dir = tempfile::tempdir().expect("temp dir");
    let password = dir.path().join("password");
    write(&password, "guest\n", 0o600);
    let cfg = config(
        &format!(
            "[profiles.pw]\nhost = \"127.0.0.1\"\nport = {}\nusername = \"guest\"\npassword_file = \"{}\"\n",
            broker().amqp_port(),
            password.display()
        ),
        0o644,
    );
    let q = unique("profile-pwfile");
    with_config(&cfg, &["--profile", "pw", "declare", "queue", &q]).code(0);
    assert!(queue_exists(broker(), &q));
    with_config(&cfg, &["--profile", "pw", "delete", "queue", &q]).code(0);
    // Readable by others, the password file is refused before anything is sent.
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    with_config(&cfg, &["--profile", "pw", "declare", "queue", &q])
        .code(2)
        .stderr([format!(
            "ERROR: {p} holds a password but is readable by others (mode 640): chmod 600 {p}",
            p = password.display()
        )]);
    assert!(!queue_exists(broker(), &q));
}

#[test]
fn a_config_file_others_can_read_must_not_hold_a_password() {
    let q = unique("profile-mode");
    for text in [
        format!("[profiles.t]\nurl = \"{}\"\n", node_url()),
        "[profiles.t]\nusername = \"guest\"\npassword = \"guest\"\n".to_string(),
    ] {
        let cfg = config(&text, 0o644);
        let p = cfg.path.display().to_string();
        with_config(&cfg, &["--profile", "t", "declare", "queue", &q])
            .code(2)
            .stderr([format!(
                "ERROR: {p} holds a password but is readable by others (mode 644): chmod 600 {p}"
            )]);
        // Listing it is refused as well: the file is the problem.
        with_config(&cfg, &["profiles"]).code(2).no_stdout();
    }
    assert!(!queue_exists(broker(), &q));
    // Without a password, others may read it.
    let open = config(
        &format!(
            "[profiles.t]\nhost = \"127.0.0.1\"\nport = {}\n",
            broker().amqp_port()
        ),
        0o644,
    );
    with_config(&open, &["--profile", "t", "declare", "queue", &q]).code(0);
    with_config(&open, &["--profile", "t", "delete", "queue", &q]).code(0);
}

#[test]
fn profiles_lists_every_profile_without_its_passwords() {
    let cfg = config(
        "[profiles.b]\nurl = \"amqps://app:s3cret-url@mq.example.com/prod\"\ncafile = \"/etc/ca.pem\"\n\n\
         [profiles.a]\nhost = \"h\"\nusername = \"u\"\npassword = \"s3cret-inline\"\n",
        0o600,
    );
    with_config(&cfg, &["profiles"])
        .code(0)
        .stdout([
            "[profiles.a]",
            "host = \"h\"",
            "username = \"u\"",
            "password = \"xxxxx\"",
            "",
            "[profiles.b]",
            "url = \"amqps://app:xxxxx@mq.example.com/prod\"",
            "cafile = \"/etc/ca.pem\"",
        ])
        .never_shows("s3cret")
        .no_stderr();
    let missing = Config {
        path: cfg.path.with_file_name("none.toml"),
        _dir: tempfile::tempdir().expect("temp dir"),
    };
    with_config(&missing, &["profiles"])
        .code(0)
        .no_stdout()
        .stderr([format!(
            "No profiles: {} does not exist",
            missing.path.display()
        )]);
}

#[test]
fn a_missing_or_broken_profile_is_one_usage_error() {
    let cfg = config(
        "[profiles.one]\nhost = \"h\"\n\n[profiles.two]\nport = 1\n",
        0o600,
    );
    let p = cfg.path.display().to_string();
    with_config(&cfg, &["--profile", "nope", "get", "-q", "x"])
        .code(2)
        .stderr([format!(
            "ERROR: no profile 'nope' in {p} (it has: one, two)"
        )]);
    let typo = config("[profiles.one]\nhost = \"h\"\npasword = \"x\"\n", 0o600);
    with_config(&typo, &["--profile", "one", "get", "-q", "x"])
        .code(2)
        .stderr_has(format!(
            "ERROR: {} (line 3): unknown field `pasword`, expected one of [..]",
            typo.path.display()
        ));
    let broken = config("[profiles.one\n", 0o600);
    with_config(&broken, &["--profile", "one", "get", "-q", "x"])
        .code(2)
        .stderr_has(format!("ERROR: {} (line 1): [..]", broken.path.display()));
    let none = Config {
        path: cfg.path.with_file_name("absent.toml"),
        _dir: tempfile::tempdir().expect("temp dir"),
    };
    with_config(&none, &["--profile", "one", "get", "-q", "x"])
        .code(2)
        .stderr([format!(
            "ERROR: --profile one: {} does not exist",
            none.path.display()
        )]);
}

#[test]
fn a_profile_names_the_connection_and_the_flag_overrides_it() {
    let name = unique("profile-connection-name");
    let cfg = config(
        &format!(
            "[profiles.t]\nhost = \"127.0.0.1\"\nport = {}\nconnection_name = \"{name}\"\n",
            broker().amqp_port()
        ),
        0o600,
    );
    let q = unique("profile-named");
    for (extra, expected) in [
        (vec![], name.clone()),
        (
            vec!["--connection-name", "from the flag"],
            "from the flag".to_string(),
        ),
    ] {
        let mut args = vec!["--profile", "t", "con", "-q", &q, "-Q", "--exclusive"];
        args.extend(extra);
        let mut con = Cmd::amqpctl(&args)
            .env("AMQPCTL_CONFIG", &cfg.path)
            .env("AMQP_URL", "")
            .env_remove("AMQPCTL_CONNECTION_NAME")
            .spawn();
        con.await_stderr("Created queue", std::time::Duration::from_secs(15));
        let names = broker().ctl_ok(&[
            "list_connections",
            "--quiet",
            "--no-table-headers",
            "name",
            "client_properties",
        ]);
        assert!(
            names.contains(&format!("\"{expected}\"")),
            "{expected} not among the connections: {names}"
        );
        con.signal(libc::SIGTERM);
        con.exits_with(0, std::time::Duration::from_secs(15));
    }
}

#[test]
fn a_chosen_profile_beats_amqp_url_from_the_environment_and_says_so() {
    let cfg = config(&format!("[profiles.t]\nurl = \"{}\"\n", node_url()), 0o600);
    let q = unique("profile-beats-env");
    let elsewhere = format!("amqp://guest:guest@127.0.0.1:{}/%2f", closed_port());
    Cmd::amqpctl(&["--profile", "t", "declare", "queue", &q])
        .env("AMQPCTL_CONFIG", &cfg.path)
        .env("AMQP_URL", &elsewhere)
        .run()
        .code(0)
        .stdout([format!("Created queue: {q} (messages: 0, consumers: 0)")])
        .stderr_has("WARNING: $AMQP_URL is ignored: the profile names the broker[..]");
    // An explicit --url still beats the profile.
    Cmd::amqpctl(&[
        "--profile",
        "t",
        "--url",
        &elsewhere,
        "declare",
        "queue",
        &q,
    ])
    .env("AMQPCTL_CONFIG", &cfg.path)
    .env_remove("AMQP_URL")
    .run()
    .code(3);
    crate::support::delete_queue(broker(), &q);
}
