//! The command line's fixed text and its behaviour without a broker: help
//! output (snapshots in tests/snapshots, regenerate with
//! `UPDATE_SNAPSHOTS=1 cargo test --test it cli::`), usage errors (exit 2),
//! and one-line errors for unreachable brokers (exit 3).

use std::path::PathBuf;

use crate::support::Cmd;

fn snapshot(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_SNAPSHOTS=1 to create it)",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{name} differs from its snapshot; if intended, run with UPDATE_SNAPSHOTS=1\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

fn help(args: &[&str]) -> String {
    let out = Cmd::amqpctl(args).run().code(0);
    String::from_utf8(out.stdout_raw().to_vec()).expect("help is UTF-8")
}

/// The subcommands a help page lists under "Commands:" (without `help`).
fn subcommands(page: &str) -> Vec<String> {
    page.lines()
        .skip_while(|line| *line != "Commands:")
        .skip(1)
        .take_while(|line| !line.is_empty())
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// Every help page, reached by walking the "Commands:" sections from the top,
/// matches its snapshot `help[-cmd[-sub]].txt`; a new subcommand needs one.
#[test]
fn every_help_page_matches_its_snapshot() {
    let mut pending = vec![Vec::<String>::new()];
    let mut pages = 0;
    while let Some(path) = pending.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let page = help(&args);
        let name = std::iter::once("help")
            .chain(path.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("-");
        snapshot(&format!("{name}.txt"), &page);
        pages += 1;
        for sub in subcommands(&page) {
            let mut next = path.clone();
            next.push(sub);
            pending.push(next);
        }
    }
    assert!(pages >= 16, "only {pages} help pages found");
}

/// Issue 20 item 19: the commands that never connect leave the connection
/// options off their help pages (the others keep them), and the --filter
/// pages carry the filter reference instead of pointing to a README the
/// bare binary does not have.
#[test]
fn help_pages_show_what_their_command_uses() {
    for offline in [
        &["profiles"][..],
        &["completions"],
        &["manpage"],
        &["sandbox"],
        &["sandbox", "up"],
    ] {
        let page = help(&[offline, &["--help"]].concat());
        assert!(!page.contains("--url"), "{offline:?}:\n{page}");
        assert!(!page.contains("Connection options"), "{offline:?}:\n{page}");
        assert!(page.contains("--verbose"), "{offline:?}:\n{page}");
    }
    assert!(help(&["purge", "--help"]).contains("--url <URL>"));
    for filtering in ["con", "get", "move", "redrive"] {
        let page = help(&[filtering, "--help"]);
        assert!(!page.contains("README"), "{filtering}:\n{page}");
        assert!(page.contains("\n  headers "), "{filtering}:\n{page}");
    }
}

#[test]
fn version_prints_the_package_version() {
    Cmd::amqpctl(&["--version"])
        .run()
        .code(0)
        .stdout([format!("amqpctl {}", env!("CARGO_PKG_VERSION"))]);
}

#[test]
fn help_never_shows_the_password_of_amqp_url() {
    Cmd::amqpctl(&["pub", "--help"])
        .env("AMQP_URL", "amqp://user:hunter2@somewhere/")
        .run()
        .code(0)
        .stdout_has("[..][env: AMQP_URL]")
        .never_shows("hunter2");
}

#[test]
fn usage_lines_leave_out_what_the_environment_set() {
    // clap counted $AMQP_URL as a given --url, so the usage line of every
    // usage error listed `--url <URL>` as if it were required.
    for (args, usage) in [
        (&["get"][..], "Usage: amqpctl get --queue <NAME>"),
        (
            &["declare", "queue"][..],
            "Usage: amqpctl declare queue <NAME>",
        ),
        (
            &["move", "-q", "a"][..],
            "Usage: amqpctl move --queue <NAME> <--to-queue <NAME>|--to-exchange <NAME>>",
        ),
    ] {
        Cmd::amqpctl(args)
            .env("AMQP_URL", "amqp://user:hunter2@somewhere/")
            .env("AMQPCTL_CONNECTION_NAME", "named")
            .env(
                "RABBITMQADMIN_BASE_URI",
                "http://user:hunter2@somewhere:15672/",
            )
            .run()
            .code(2)
            .no_stdout()
            .stderr_has(usage)
            .never_shows("--url")
            .never_shows("--connection-name")
            .never_shows("hunter2")
            .no_panic();
    }
}

/// Runs amqpctl and checks it fails with a usage error: exit 2, an error
/// line (clap's or ours) containing `needle`, nothing on stdout, no panic.
fn usage_error(args: &[&str], needle: &str) {
    Cmd::amqpctl(args)
        .run()
        .code(2)
        .no_stdout()
        .stderr_has(format!("[..]{needle}[..]"))
        .no_panic();
}

#[test]
fn bad_flags_are_usage_errors_with_exit_2() {
    usage_error(
        &["pub", "--no-such-flag"],
        "unexpected argument '--no-such-flag'",
    );
    usage_error(&["frobnicate"], "unrecognized subcommand 'frobnicate'");
    usage_error(&["pub", "--nb-messages", "0"], "--nb-messages <N>");
    usage_error(
        &["pub", "--interval=-1"],
        "'-1' is not a valid number of seconds (must be 0 or more)",
    );
    usage_error(
        &["pub", "--interval", "soon"],
        "'soon' is not a number of seconds",
    );
    usage_error(&["pub", "-t", "fan-out"], "unknown exchange type 'fan-out'");
    usage_error(&["con", "-q", "x", "--prefetch", "70000"], "--prefetch <N>");
    usage_error(&["con", "-q", "x", "--prefetch=-1"], "--prefetch <N>");
    usage_error(&["pub", "--port-number", "0"], "--port-number <N>");
    usage_error(&["pub", "--port-number", "70000"], "--port-number <N>");
    usage_error(
        &["pub", "--header", "novalue"],
        "'novalue' is not KEY=VALUE",
    );
    usage_error(
        &["declare", "queue", "q", "--arg", "=1"],
        "'=1' is not KEY=VALUE",
    );
    usage_error(&["pub", "--certfile", "c.pem"], "--keyfile <FILE>");
    usage_error(
        &["pub", "--insecure", "--cafile", "ca.pem"],
        "cannot be used with",
    );
    usage_error(
        &["con", "-q", "x", "--lazy", "1", "--count", "2"],
        "cannot be used with",
    );
    usage_error(&["declare", "binding", "-e", "x"], "--queue <QUEUE>");
}

#[test]
fn our_own_usage_errors_are_one_error_line_with_exit_2() {
    for (args, line) in [
        (
            &["con"][..],
            "ERROR: con needs a queue: -q NAME, or -Q for a broker-named one",
        ),
        (
            &["con", "-q", "x", "--bind-queue"],
            "ERROR: --bind-queue needs an exchange with -e",
        ),
        (&["pub", "-Q"], "ERROR: -Q needs a queue name with -q"),
        (
            &["pub", "--userpass", "alice"],
            "ERROR: --userpass must be USER:PASS with a non-empty user",
        ),
        (
            &["pub", "--url", "http://u:hunter2@h/"],
            "ERROR: invalid --url http://u:xxxxx@h/: unknown scheme 'http' (use amqp or amqps)",
        ),
        (
            &["pub", "--url", "amqp://h/a/b"],
            "ERROR: invalid --url amqp://h/a/b: the vhost must be one path segment (write '/' in a vhost as %2f)",
        ),
        (
            &["pub", "--url", "amqp://h/?x=1"],
            "ERROR: invalid --url amqp://h/?x=1: unsupported parameter 'x'",
        ),
    ] {
        Cmd::amqpctl(args).run().code(2).stderr([line]);
    }
}

#[test]
fn unreadable_tls_files_are_named_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let missing = dir.path().join("missing.pem");
    for (file, needle) in [
        (&missing, "cannot read --cafile"),
        (&empty, "holds no certificate in PEM format"),
        (&garbage, "holds no certificate in PEM format"),
    ] {
        Cmd::amqpctl(&[
            "pub",
            "--cafile",
            file.to_str().unwrap(),
            "--port-number",
            "1",
        ])
        .run()
        .code(2)
        .stderr([format!("ERROR: [..]{needle}[..]")]);
    }
}

#[test]
fn an_unreachable_broker_is_one_line_and_exit_3() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port().to_string();
    drop(free);
    Cmd::amqpctl(&["--server", "127.0.0.1", "--port-number", &port, "pub"])
        .run()
        .code(3)
        .stderr([
            format!(
                "ERROR: could not connect to 127.0.0.1:{port}: Connection refused (os error 111)"
            ),
            "hint: no broker here? start a throwaway one: eval \"$(amqpctl sandbox up)\"".into(),
        ]);
    Cmd::amqpctl(&["--server", "no-such-host.invalid", "pub"])
        .run()
        .code(3)
        .stderr(["ERROR: could not connect to no-such-host.invalid:5672: cannot resolve host[..]"]);
}

#[test]
fn move_says_the_plain_connection_warning_once_for_its_two_connections() {
    use crate::support::{amqpctl, broker, delete_queue, durable_queue, fill, messages, unique};
    let (from, to) = (unique("warn-once-from"), unique("warn-once-to"));
    durable_queue(broker(), &from);
    durable_queue(broker(), &to);
    fill(broker(), &from, 2, "w{seq}");
    let out = amqpctl(&[
        "move",
        "-q",
        &from,
        "--to-queue",
        &to,
        "--userpass",
        "guest:guest",
    ])
    .code(0);
    let warnings = out
        .stderr_text()
        .lines()
        .filter(|l| *l == "WARNING: the connection is not secured.")
        .count();
    assert_eq!(warnings, 1, "stderr: {}", out.stderr_text());
    assert_eq!(messages(broker(), &to), 2);
    delete_queue(broker(), &from);
    delete_queue(broker(), &to);
}

/// Issue 20 item 15: the plain-connection warning stays on loopback (the
/// seed shows it there), but `--quiet` (pub, con) or
/// AMQPCTL_NO_PLAIN_WARNING=1 (any command) silences it; "0" does not.
#[test]
fn the_plain_connection_warning_can_be_silenced() {
    use crate::support::{broker, delete_queue, durable_queue, messages, unique};
    const NOT_SECURED: &str = "WARNING: the connection is not secured.";
    let q = unique("quiet-plain");
    durable_queue(broker(), &q);
    let creds = ["--userpass", "guest:guest"];
    let pub_q = |extra: &[&'static str]| -> Vec<String> {
        let base = ["pub", "-k", q.as_str(), "-m", "x"];
        base.iter()
            .chain(&creds)
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    fn refs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    Cmd::amqpctl_on(broker(), &refs(&pub_q(&[])))
        .run()
        .code(0)
        .stderr([NOT_SECURED]);
    Cmd::amqpctl_on(broker(), &refs(&pub_q(&["--quiet"])))
        .run()
        .code(0)
        .stderr(Vec::<String>::new());
    let con = [&["con", "-q", &q, "--count", "1", "--quiet"][..], &creds].concat();
    Cmd::amqpctl_on(broker(), &con)
        .run()
        .code(0)
        .stderr(Vec::<String>::new());
    let purge = [&["purge", &q][..], &creds].concat();
    Cmd::amqpctl_on(broker(), &purge)
        .env("AMQPCTL_NO_PLAIN_WARNING", "1")
        .run()
        .code(0)
        .stderr(Vec::<String>::new());
    Cmd::amqpctl_on(broker(), &refs(&pub_q(&[])))
        .env("AMQPCTL_NO_PLAIN_WARNING", "0")
        .run()
        .code(0)
        .stderr([NOT_SECURED]);
    assert_eq!(messages(broker(), &q), 1);
    delete_queue(broker(), &q);
}
