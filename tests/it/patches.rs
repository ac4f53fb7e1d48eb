//! The vendored amiquip's patches under load (vendor/amiquip/PATCHES.md):
//! bodies far over the socket's buffer, through short writes and a broker
//! that stalls mid-stream, arrive byte for byte. (The amq-protocol-types
//! patch has headers.rs; the client-properties patch, identity.rs.)

use std::time::Duration;

use crate::support::{Broker, drain, durable_queue, unique};

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
