//! The vendored amiquip's patches under load (vendor/amiquip/PATCHES.md):
//! bodies far over the socket's buffer, through short writes and a broker
//! that stalls mid-stream, arrive byte for byte. (The amq-protocol-types
//! patch has headers.rs; the client-properties patch, identity.rs.)

use std::time::Duration;

use crate::support::{
    Broker, amqpctl, broker, delete_queue, drain, durable_queue, fresh_queue, unique,
};

/// Bodies far over the socket's buffer go out through many short writes and
/// past the publisher's 16 MiB queue limit (vendor/amiquip/PATCHES.md,
/// changes 6 and 7): each must arrive byte for byte, in order, also when
/// the broker stalls mid-stream (frozen again and again, so that writes
/// stop half-way and resume).
#[test]
fn large_bodies_arrive_byte_for_byte_through_short_writes() {
    let b = Broker::start_private();
    let q = unique("large-bodies");
    durable_queue(&b, &q);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.bin");
    // 3 MiB of bytes that repeat only every 251: a byte written twice or
    // skipped shows.
    let body: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &body).unwrap();
    let file = file.to_str().unwrap();
    let n = 40;
    let mut publisher = crate::support::spawn_amqpctl_on(
        &b,
        &[
            "pub",
            "-k",
            &q,
            "--file",
            file,
            "--nb-messages",
            &n.to_string(),
            "--interval",
            "0",
            "--confirm",
            "--quiet",
        ],
    );
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(40));
        b.freeze();
        std::thread::sleep(Duration::from_millis(150));
        b.thaw();
    }
    publisher.exits_with(0, Duration::from_secs(120));
    let got = drain(&b, &q);
    assert_eq!(got.len(), n);
    for (i, got) in got.iter().enumerate() {
        let mut expected = format!("{}:", i + 1).into_bytes();
        expected.extend_from_slice(&body);
        assert!(
            got == &expected,
            "body {} differs ({} bytes)",
            i + 1,
            got.len()
        );
    }
}

/// RabbitMQ's frame-max (131,072 bytes) less a frame's 8 bytes of overhead:
/// the most body one frame holds.
const FRAME_PAYLOAD: usize = 131_072 - 8;

/// Bodies either side of each frame boundary, empty and one byte included:
/// `pub` hands a body that fits one frame to amiquip's I/O thread in one
/// piece with its method and header, and a larger one frame by frame
/// (PATCHES.md change 14); `con` and basic.get assemble them from frames
/// lent out of the read buffer, a partly read frame reserving only what it
/// lacks (changes 13 and 15). Each must arrive byte for byte, both ways.
#[test]
fn bodies_either_side_of_the_frame_boundaries_arrive_byte_for_byte() {
    let sizes = [
        0,
        1,
        FRAME_PAYLOAD - 1,
        FRAME_PAYLOAD,
        FRAME_PAYLOAD + 1,
        2 * FRAME_PAYLOAD,
        2 * FRAME_PAYLOAD + 1,
        3 * FRAME_PAYLOAD + 7,
    ];
    // Bytes that repeat only every 251, shifted per body, 0xCE (the
    // frame-end octet) and 0 among them.
    let bodies: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(k, &n)| (0..n).map(|i| ((i + 31 * k) % 251) as u8).collect())
        .collect();
    let q = fresh_queue("frame-edges");
    let dir = tempfile::tempdir().unwrap();
    let publish_all = || {
        for (k, body) in bodies.iter().enumerate() {
            let file = dir.path().join(format!("body-{k}.bin"));
            std::fs::write(&file, body).unwrap();
            amqpctl(&[
                "pub",
                "-k",
                &q,
                "--file",
                file.to_str().unwrap(),
                "--confirm",
            ])
            .code(0);
        }
    };
    publish_all();
    let mut expected = Vec::new();
    for body in &bodies {
        expected.extend_from_slice(body);
        expected.push(0);
    }
    let count = bodies.len().to_string();
    amqpctl(&[
        "con",
        "-q",
        &q,
        "--count",
        &count,
        "--format",
        "body",
        "--delimiter",
        "\\0",
    ])
    .code(0)
    .stdout_bytes(&expected);
    publish_all();
    let got = drain(broker(), &q);
    assert_eq!(got.len(), bodies.len());
    for (k, (got, body)) in got.iter().zip(&bodies).enumerate() {
        assert!(
            got == body,
            "body {k} of {} bytes came back as {} bytes",
            body.len(),
            got.len()
        );
    }
    delete_queue(broker(), &q);
}
