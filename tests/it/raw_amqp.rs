//! A minimal AMQP 0-9-1 peer that writes and reads frames by hand, for the
//! header tests: it publishes a field table exactly as given (pika, amiquip
//! and amqpctl cannot write a long string that is not UTF-8) and reads a
//! message's headers back as the bytes the broker sent. Plain TCP, PLAIN as
//! guest, channel 1, no heartbeats, frames no larger than the broker's
//! frame_max; anything unexpected panics.

use crate::support::eventually_within;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const METHOD: u8 = 1;
const HEADER: u8 = 2;
const BODY: u8 = 3;
const HEARTBEAT: u8 = 8;
const FRAME_END: u8 = 0xce;

/// One field of a table: its name, its type tag and its value's bytes
/// (length prefix included, for the types that have one).
pub type Field = (String, char, Vec<u8>);

/// An open connection with channel 1 open.
pub struct Peer {
    socket: TcpStream,
}

impl Peer {
    /// Connects to 127.0.0.1:`port` and logs in to `/` as guest.
    pub fn connect(port: u16) -> Peer {
        let socket = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        let mut peer = Peer { socket };
        peer.socket
            .write_all(b"AMQP\x00\x00\x09\x01")
            .expect("write");
        peer.expect_method(0, (10, 10)); // connection.start
        let mut start_ok = table(&[]);
        start_ok.extend(short_str("PLAIN"));
        start_ok.extend(long_str(b"\0guest\0guest"));
        start_ok.extend(short_str("en_US"));
        peer.method(0, (10, 11), &start_ok);
        // connection.tune: take the broker's channel_max and frame_max.
        let tune = peer.expect_method(0, (10, 30));
        let mut tune_ok = tune[4..10].to_vec();
        tune_ok.extend(0u16.to_be_bytes()); // no heartbeats
        peer.method(0, (10, 31), &tune_ok);
        peer.method(0, (10, 40), b"\x01/\x00\x00"); // connection.open "/"
        peer.expect_method(0, (10, 41));
        peer.method(1, (20, 10), b"\x00"); // channel.open
        peer.expect_method(1, (20, 11));
        peer
    }

    /// Publishes `body` to `queue` through the default exchange, with only
    /// the `headers` property, whose table holds `fields` in their order.
    pub fn publish(&mut self, queue: &str, fields: &[Field], body: &[u8]) {
        let mut publish = vec![0, 0];
        publish.extend(short_str(""));
        publish.extend(short_str(queue));
        publish.push(0);
        self.method(1, (60, 40), &publish);
        let mut header = 60u16.to_be_bytes().to_vec();
        header.extend(0u16.to_be_bytes());
        header.extend((body.len() as u64).to_be_bytes());
        header.extend(0x2000u16.to_be_bytes()); // property flags: headers only
        header.extend(table(fields));
        self.frame(HEADER, 1, &header);
        self.frame(BODY, 1, body);
    }

    /// Takes the next message from `queue` (basic.get with no-ack), waiting
    /// up to 10 s for one: its header fields as the broker sent them, and
    /// its body.
    pub fn get(&mut self, queue: &str) -> (Vec<Field>, Vec<u8>) {
        let every = Duration::from_millis(50);
        eventually_within(Duration::from_secs(10), every, "a message", || {
            let mut get = vec![0, 0];
            get.extend(short_str(queue));
            get.push(1);
            self.method(1, (60, 70), &get);
            let (_, payload) = self.read_frame(METHOD);
            match class_method(&payload) {
                (60, 71) => Ok(()),
                (60, 72) => Err(format!("{queue} empty")),
                other => panic!("basic.get on {queue}: got method {other:?}"),
            }
        });
        let (_, header) = self.read_frame(HEADER);
        let size = u64::from_be_bytes(header[4..12].try_into().expect("body size"));
        let flags = u16::from_be_bytes([header[12], header[13]]);
        let mut rest = &header[14..];
        // content-type and content-encoding come before headers.
        for bit in [0x8000, 0x4000] {
            if flags & bit != 0 {
                rest = &rest[1 + usize::from(rest[0])..];
            }
        }
        assert!(flags & 0x2000 != 0, "no headers: flags {flags:#06x}");
        let fields = fields(&rest[4..4 + len(rest)]);
        let mut body = Vec::new();
        while (body.len() as u64) < size {
            body.extend(self.read_frame(BODY).1);
        }
        (fields, body)
    }

    /// Closes the connection cleanly.
    pub fn close(mut self) {
        self.method(0, (10, 50), b"\x00\xc8\x00\x00\x00\x00\x00"); // 200, ""
        self.expect_method(0, (10, 51));
    }

    fn method(&mut self, channel: u16, (class, method): (u16, u16), args: &[u8]) {
        let mut payload = class.to_be_bytes().to_vec();
        payload.extend(method.to_be_bytes());
        payload.extend(args);
        self.frame(METHOD, channel, &payload);
    }

    fn frame(&mut self, kind: u8, channel: u16, payload: &[u8]) {
        let mut frame = vec![kind];
        frame.extend(channel.to_be_bytes());
        frame.extend((payload.len() as u32).to_be_bytes());
        frame.extend(payload);
        frame.push(FRAME_END);
        self.socket.write_all(&frame).expect("write a frame");
    }

    /// Reads the next frame, a method that must be `expected` on `channel`;
    /// returns its payload.
    fn expect_method(&mut self, channel: u16, expected: (u16, u16)) -> Vec<u8> {
        let (on, payload) = self.read_frame(METHOD);
        assert_eq!(
            (on, class_method(&payload)),
            (channel, expected),
            "{payload:?}"
        );
        payload
    }

    /// The next frame of `kind` (heartbeats skipped): its channel and payload.
    fn read_frame(&mut self, kind: u8) -> (u16, Vec<u8>) {
        loop {
            let mut head = [0u8; 7];
            self.socket.read_exact(&mut head).expect("read a frame");
            let mut payload = vec![0u8; len(&head[3..]) + 1];
            self.socket.read_exact(&mut payload).expect("read a frame");
            assert_eq!(payload.pop(), Some(FRAME_END));
            if head[0] == HEARTBEAT {
                continue;
            }
            assert_eq!(head[0], kind, "frame type; payload {payload:?}");
            return (u16::from_be_bytes([head[1], head[2]]), payload);
        }
    }
}

fn class_method(payload: &[u8]) -> (u16, u16) {
    (
        u16::from_be_bytes([payload[0], payload[1]]),
        u16::from_be_bytes([payload[2], payload[3]]),
    )
}

/// The big-endian u32 at the start of `bytes`, as a length.
fn len(bytes: &[u8]) -> usize {
    u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes")) as usize
}

/// A short string: length byte and bytes.
pub fn short_str(s: &str) -> Vec<u8> {
    let mut out = vec![u8::try_from(s.len()).expect("a short string")];
    out.extend(s.as_bytes());
    out
}

/// A long string's (or byte array's) value: u32 length and bytes.
pub fn long_str(bytes: &[u8]) -> Vec<u8> {
    let mut out = (bytes.len() as u32).to_be_bytes().to_vec();
    out.extend(bytes);
    out
}

/// A field table: u32 length, then each field's name, type tag and value.
pub fn table(fields: &[Field]) -> Vec<u8> {
    let mut entries = Vec::new();
    for (name, kind, value) in fields {
        entries.extend(short_str(name));
        entries.push(u8::try_from(*kind).expect("an ASCII type tag"));
        entries.extend(value);
    }
    long_str(&entries)
}

/// Splits a table's entries (without its length prefix) into fields.
fn fields(mut entries: &[u8]) -> Vec<Field> {
    let mut out = Vec::new();
    while !entries.is_empty() {
        let name_len = usize::from(entries[0]);
        let name = String::from_utf8_lossy(&entries[1..1 + name_len]).into_owned();
        let kind = char::from(entries[1 + name_len]);
        let value = &entries[2 + name_len..];
        let size = match kind {
            't' | 'b' | 'B' => 1,
            's' | 'u' => 2,
            'I' | 'i' | 'f' => 4,
            'l' | 'd' | 'T' => 8,
            'D' => 5,
            'V' => 0,
            'S' | 'x' | 'A' | 'F' => 4 + len(value),
            other => panic!("unknown field type {other:?}"),
        };
        out.push((name, kind, value[..size].to_vec()));
        entries = &value[size..];
    }
    out
}
