//! Headers that other clients write survive amqpctl whole: a long string
//! (`S`) that is not UTF-8 (Java and C clients treat `S` as bytes) no longer
//! ends the field table (the vendored amq-protocol-types patch), and
//! `con --format json | pub --format json` sends it on as the same `S`, byte
//! for byte, with every header around it.

use serde_json::{Value as Json, json};

use crate::raw_amqp::{Field, Peer, long_str};
use crate::support::unique;
use crate::support::{amqpctl, amqpctl_stdin, broker};

/// What the issue reported: an int, a non-UTF-8 `S`, an empty array and a
/// nested array (with such a string in it too), in the order amqpctl
/// writes tables (by name).
fn other_clients_headers() -> Vec<Field> {
    let int = |n: i32| n.to_be_bytes().to_vec();
    let tagged = |kind: char, mut value: Vec<u8>| {
        value.insert(0, kind as u8);
        value
    };
    let nested = [
        tagged('I', int(7)),
        tagged('S', long_str(b"\xc3\x28")),
        tagged('V', Vec::new()),
    ]
    .concat();
    let outer = [tagged('A', long_str(&nested)), tagged('S', long_str(b"ok"))].concat();
    vec![
        ("x-a".into(), 'I', int(42)),
        ("x-b".into(), 'A', long_str(b"")),
        ("x-bin".into(), 'S', long_str(b"\xff\xfe\x00\x01\x80z")),
        ("x-c".into(), 'A', long_str(&outer)),
    ]
}

#[test]
fn a_string_that_is_not_utf8_survives_con_and_pub_byte_for_byte() {
    let b = broker();
    let (from, to) = (unique("headers.from"), unique("headers.to"));
    for q in [&from, &to] {
        amqpctl(&["declare", "queue", q]).code(0);
    }
    let sent = other_clients_headers();
    let mut peer = Peer::connect(b.amqp_port());
    peer.publish(&from, &sent, b"body \xff");

    let con = amqpctl(&["con", "-q", &from, "--format", "json", "--count", "1"]).code(0);
    let lines = con.stdout_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let envelope: Json = serde_json::from_str(&lines[0]).expect("a JSON line");
    let not_utf8 = |b64: &str| json!({"type": "string", "encoding": "base64", "value": b64});
    assert_eq!(
        envelope["headers"],
        json!({
            "x-a": {"type": "i32", "value": 42},
            "x-b": [],
            "x-bin": not_utf8("//4AAYB6"),
            "x-c": [[{"type": "i32", "value": 7}, not_utf8("wyg="), {"type": "void", "value": null}], "ok"],
        }),
        "{}",
        lines[0]
    );

    amqpctl_stdin(
        &["pub", "--format", "json", "-k", &to, "--confirm"],
        con.stdout_raw(),
    )
    .code(0)
    .stdout([r#"{"seq":1,"status":"acked"}"#]);

    let (received, body) = peer.get(&to);
    peer.close();
    assert_eq!(received, sent);
    assert_eq!(body, b"body \xff");
    for q in [&from, &to] {
        amqpctl(&["delete", "queue", q]).code(0);
    }
}

/// Issue 20 item 18: `KEY:TYPE=VALUE` forces the type a look would guess
/// wrong. `zip=01234` goes out as the integer 1234; `zip:string=01234`
/// must arrive as the long string `S` "01234", seen here on the wire.
#[test]
fn a_forced_type_reaches_the_broker_as_that_type() {
    let b = broker();
    let q = unique("headers.typed");
    amqpctl(&["declare", "queue", &q]).code(0);
    amqpctl(&[
        "pub",
        "-k",
        &q,
        "-m",
        "x",
        "--header",
        "zip:string=01234",
        "--header",
        "flag:string=true",
        "--header",
        "n:int=7",
        "--header",
        "guessed=01234",
    ])
    .code(0)
    .stdout(["Sent: x"]);
    let mut peer = Peer::connect(b.amqp_port());
    let (received, _) = peer.get(&q);
    peer.close();
    let long_long = |n: i64| n.to_be_bytes().to_vec();
    assert_eq!(
        received,
        vec![
            ("flag".into(), 'S', long_str(b"true")),
            ("guessed".into(), 'l', long_long(1234)),
            ("n".into(), 'l', long_long(7)),
            ("zip".into(), 'S', long_str(b"01234")),
        ]
    );
    amqpctl(&["delete", "queue", &q]).code(0);
}
