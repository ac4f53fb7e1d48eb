//! `info`: the tree of a topology the test builds (an exchange-to-exchange
//! binding, two queues, a named consumer, messages), checked line by line,
//! and `info --format dot` rendered by graphviz's `dot`.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::listing::{mgmt, named_consumer, own_vhost};
use crate::support::eventually::{WAIT, eventually_within};
use crate::support::{Spawned, broker, unique};

/// Whether `line` matches `pattern`, where `*` stands for any run of text.
fn like(pattern: &str, line: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// Runs `info ARGS` until its lines match `expected` (within 20 s).
#[track_caller]
fn until_drawn(args: &[&str], expected: &[String]) {
    let what = format!("{args:?} to draw\n{}\n", expected.join("\n"));
    eventually_within(WAIT, Duration::from_millis(250), &what, || {
        let lines = mgmt(args).run().code(0).stdout_lines();
        let drawn =
            lines.len() == expected.len() && expected.iter().zip(&lines).all(|(p, l)| like(p, l));
        if drawn { Ok(()) } else { Err(lines.join("\n")) }
    });
}

/// orders (topic) → billing by `order.*`, orders → audit (fanout) by `#`,
/// audit → archive; two messages through orders; a named consumer on
/// archive.
fn topology(v: &str) -> (String, Spawned) {
    let ok = |args: &[&str]| {
        let mut all = vec!["--vhost", v];
        all.extend_from_slice(args);
        mgmt(&all).run().code(0);
    };
    ok(&["declare", "exchange", "orders", "-t", "topic"]);
    ok(&["declare", "exchange", "audit", "-t", "fanout"]);
    ok(&["declare", "queue", "billing"]);
    let name = unique("archivist");
    let consumer = named_consumer(v, &name, "archive");
    ok(&[
        "declare", "binding", "-e", "orders", "-q", "billing", "-k", "order.*",
    ]);
    ok(&[
        "declare",
        "binding",
        "-e",
        "orders",
        "--to-exchange",
        "audit",
        "-k",
        "#",
    ]);
    ok(&["declare", "binding", "-e", "audit", "-q", "archive"]);
    ok(&[
        "pub",
        "-e",
        "orders",
        "-k",
        "order.new",
        "--nb-messages",
        "2",
        "--interval",
        "0",
        "--confirm",
        "--quiet",
    ]);
    (name, consumer)
}

#[test]
fn info_draws_exchanges_bindings_queues_consumers_and_connections() {
    let v = own_vhost("info-tree");
    let (name, mut consumer) = topology(&v);
    // archive's consumer took (and acked) both copies; billing holds its two.
    let expected: Vec<String> = [
        format!("Vhost [{v}]"),
        "└── Exchange [orders] (topic)".to_string(),
        "    ├── Exchange [audit] (fanout) key '#'".to_string(),
        "    │   └── Queue [archive] key '': ready 0, unacked 0, consumers 1".to_string(),
        "    │       └── Consumer [amq.ctag-*] prefetch 1000, ack true".to_string(),
        format!("    │           └── Connection [{name}] (127.0.0.1:* -> 127.0.0.1:*)"),
        "    └── Queue [billing] key 'order.*': ready 2, unacked 0, consumers 0".to_string(),
    ]
    .into();
    until_drawn(&["--vhost", &v, "info", "orders"], &expected);
    // A queue's name picks the bindings that lead to it, from any exchange.
    let expected: Vec<String> = [
        format!("Vhost [{v}]"),
        "├── Exchange [(default)] (direct)".to_string(),
        "│   └── Queue [archive] key 'archive': ready 0, unacked 0, consumers 1".to_string(),
        "│       └── Consumer [amq.ctag-*] prefetch 1000, ack true".to_string(),
        format!("│           └── Connection [{name}] (127.0.0.1:* -> 127.0.0.1:*)"),
        "└── Exchange [audit] (fanout)".to_string(),
        "    └── Queue [archive] key '': ready 0, unacked 0, consumers 1".to_string(),
        "        └── Consumer [amq.ctag-*] prefetch 1000, ack true".to_string(),
        format!("            └── Connection [{name}] (127.0.0.1:* -> 127.0.0.1:*)"),
    ]
    .into();
    until_drawn(&["--vhost", &v, "info", "arch*"], &expected);
    consumer.kill();
    mgmt(&["--vhost", "no-such-vhost", "info"])
        .run()
        .code(5)
        .stderr(["ERROR: vhost 'no-such-vhost' not found"]);
    broker().ctl_ok(&["delete_vhost", &v]);
}

#[test]
fn info_format_dot_renders_with_graphviz() {
    let v = own_vhost("info-dot");
    let (name, mut consumer) = topology(&v);
    // Polled until the consumer's connection is drawn (stats lag).
    let digraph = eventually_within(WAIT, Duration::from_millis(250), &name, || {
        let text = mgmt(&["--vhost", &v, "info", "--format", "dot"])
            .run()
            .code(0)
            .stdout_text();
        if text.contains(&name) {
            Ok(text)
        } else {
            Err(text)
        }
    });
    consumer.kill();
    // Not skipped when graphviz is missing: .ci/run installs it.
    let mut dot = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("graphviz's dot must be installed (.ci/run installs it)");
    dot.stdin
        .take()
        .expect("dot's stdin")
        .write_all(digraph.as_bytes())
        .expect("digraph written to dot");
    let out = dot.wait_with_output().expect("dot ran");
    let svg = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "dot refused:\n{}\n{digraph}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{svg}");
    for node in ["x:orders", "x:audit", "q:billing", "q:archive"] {
        assert!(
            svg.contains(&format!("<title>{node}</title>")),
            "no {node} in\n{svg}"
        );
    }
    for edge in ["x:orders&#45;&gt;x:audit", "x:audit&#45;&gt;q:archive"] {
        assert!(svg.contains(edge), "no edge {edge} in\n{svg}");
    }
    assert!(
        svg.contains(&format!(">{name}</text>")),
        "no {name} in\n{svg}"
    );
    broker().ctl_ok(&["delete_vhost", &v]);
}
