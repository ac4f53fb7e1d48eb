//! Save and replay: `con --save-dir DIR` keeps each message as `N.body`
//! plus an `N.json` envelope, and `pub --from-dir DIR` publishes them again
//! byte for byte, in order, optionally at their original spacing.

use std::time::{Duration, Instant};

use crate::support::{
    amqpctl, amqpctl_stdin, broker, delete_queue, fresh_queue, messages, spawn_amqpctl,
};

/// `con -q q --until-empty --save-dir dir --quiet`: saves (and acks) what
/// `q` holds.
fn save_all(q: &str, dir: &str) {
    amqpctl(&[
        "con",
        "-q",
        q,
        "--until-empty",
        "--save-dir",
        dir,
        "--quiet",
    ])
    .code(0)
    .no_stdout();
}

/// Envelopes of every message in `q`, put back afterwards, without what
/// names where they were read (tag, redelivered flag).
fn envelopes(q: &str) -> Vec<serde_json::Value> {
    let n = messages(broker(), q).to_string();
    amqpctl(&[
        "get",
        "-q",
        q,
        "--count",
        &n,
        "--requeue",
        "--format",
        "json",
    ])
    .code(0)
    .stdout_lines()
    .iter()
    .map(|l| {
        let mut v: serde_json::Value = serde_json::from_str(l).expect("an envelope");
        let m = v.as_object_mut().expect("an object");
        m.remove("delivery_tag");
        m.remove("redelivered");
        v
    })
    .collect()
}

#[test]
fn saved_messages_replay_byte_for_byte_in_order() {
    let (from, to) = (fresh_queue("save-from"), fresh_queue("save-to"));
    let lines = [
        format!(
            r#"{{"routing_key":"{from}","body":"AP8BAgM=","body_encoding":"base64","headers":{{"x-n":1,"x-u8":{{"type":"u8","value":7}}}},"delivery_mode":2}}"#
        ),
        format!(r#"{{"routing_key":"{from}","body":"","content_type":"text/plain","priority":4}}"#),
        format!(
            r#"{{"routing_key":"{from}","body":"third","correlation_id":"c","reply_to":"r","type":"t","app_id":"a"}}"#
        ),
    ];
    amqpctl_stdin(
        &["pub", "--format", "json", "--confirm", "--quiet"],
        (lines.join("\n") + "\n").as_bytes(),
    )
    .code(0);
    let before = envelopes(&from);
    let dir = tempfile::tempdir().expect("temp dir");
    let saved = dir.path().join("saved");
    let saved_s = saved.display().to_string();
    save_all(&from, &saved_s);
    assert_eq!(messages(broker(), &from), 0, "saved messages are acked");
    let mut names: Vec<String> = std::fs::read_dir(&saved)
        .expect("the save dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "000000000001.body",
            "000000000001.json",
            "000000000002.body",
            "000000000002.json",
            "000000000003.body",
            "000000000003.json",
        ]
    );
    assert_eq!(
        std::fs::read(saved.join("000000000001.body")).unwrap(),
        [0, 255, 1, 2, 3]
    );
    assert_eq!(std::fs::read(saved.join("000000000002.body")).unwrap(), b"");
    // Published again with their own routing (here to `from` again), and
    // the same three envelopes come out.
    amqpctl(&["pub", "--from-dir", &saved_s, "--confirm"])
        .code(0)
        .stdout(["Sent: (5 bytes)", "Sent: (0 bytes)", "Sent: (5 bytes)"]);
    assert_eq!(envelopes(&from), before);
    // -k reroutes them; a second save appends after the first.
    amqpctl(&[
        "pub",
        "--from-dir",
        &saved_s,
        "-k",
        &to,
        "--confirm",
        "--quiet",
    ])
    .code(0);
    assert_eq!(messages(broker(), &to), 3);
    save_all(&from, &saved_s);
    assert!(saved.join("000000000006.json").exists() && !saved.join("000000000007.json").exists());
    delete_queue(broker(), &from);
    delete_queue(broker(), &to);
}

#[test]
fn a_replay_keeps_the_original_spacing_scaled_by_speed() {
    let q = fresh_queue("save-speed");
    let dir = tempfile::tempdir().expect("temp dir");
    let saved = dir.path().display().to_string();
    // Consumed while they arrive, so the receive times keep the gaps.
    let mut con = spawn_amqpctl(&[
        "con",
        "-q",
        &q,
        "--count",
        "3",
        "--save-dir",
        &saved,
        "--quiet",
    ]);
    crate::support::wait_for_consumers(broker(), &q, 1);
    amqpctl(&[
        "pub",
        "-k",
        &q,
        "--nb-messages",
        "3",
        "--interval",
        "0.4",
        "--quiet",
        "-m",
        "x",
    ])
    .code(0);
    con.exits_with(0, Duration::from_secs(15));
    let replay = |speed: &str| {
        let started = Instant::now();
        amqpctl(&[
            "pub",
            "--from-dir",
            &saved,
            "-k",
            &q,
            "--speed",
            speed,
            "--quiet",
        ])
        .code(0);
        started.elapsed()
    };
    // Two gaps of about 0.4 s (a lower bound only: the machine may be slow).
    let took = replay("1");
    assert!(took >= Duration::from_millis(600), "{took:?}");
    // Ten times as fast: the same three, sooner.
    replay("10");
    assert_eq!(messages(broker(), &q), 6);
    delete_queue(broker(), &q);
}

#[test]
fn an_empty_directory_is_a_usage_error_before_anything_is_sent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().display().to_string();
    amqpctl(&["pub", "--from-dir", &path, "-k", "nowhere"])
        .code(2)
        .stderr([format!(
            "ERROR: --from-dir {path}: no saved messages (N.json with N.body) in it"
        )]);
    amqpctl(&["pub", "-m", "x", "--speed", "2"])
        .code(2)
        .no_stdout()
        .stderr(["ERROR: --speed replays saved messages: it goes with --from-dir DIR"]);
}

#[test]
fn a_corrupt_file_is_found_before_anything_is_published() {
    let (from, to) = (fresh_queue("save-corrupt"), fresh_queue("save-corrupt-to"));
    for m in ["a", "b", "c"] {
        amqpctl(&["pub", "-k", &from, "-m", m]).code(0);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().display().to_string();
    save_all(&from, &path);
    // The last of the three no longer reads as an envelope.
    let mut sidecars: Vec<_> = std::fs::read_dir(dir.path())
        .expect("the saved messages")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    sidecars.sort();
    assert_eq!(sidecars.len(), 3, "{sidecars:?}");
    let third = sidecars[2].clone();
    std::fs::write(&third, "{not json").expect("corrupt 3.json");
    let run = amqpctl(&["pub", "--from-dir", &path, "-k", &to])
        .code(2)
        .no_stdout();
    let err = run.stderr_lines();
    assert!(
        err.len() == 1 && err[0].starts_with(&format!("ERROR: {}: invalid JSON", third.display())),
        "{err:?}"
    );
    assert_eq!(
        messages(broker(), &to),
        0,
        "nothing published before the check"
    );
    delete_queue(broker(), &from);
    delete_queue(broker(), &to);
}
