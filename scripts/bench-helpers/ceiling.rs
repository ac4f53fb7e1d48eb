//! The broker's publish ceiling for one connection: a std-only AMQP 0-9-1 client that
//! does the handshake itself, then writes pre-encoded basic.publish + content header +
//! body frames for N messages in large writes, and finally closes the connection
//! cleanly (connection.close / close-ok), so every frame has been read by the broker
//! when it exits. Whoever runs it then waits until the queue holds the messages.
//!
//! Built by scripts/bench with plain `rustc -O` (no crates).
//!
//! Usage: ceiling HOST PORT ROUTING_KEY N [BODY_SIZE=100] [WRITE_BUF=262144]
//!
//! Publishes to the default exchange, so ROUTING_KEY is the queue name. Exits 1 with a
//! message on stderr if the broker closes the connection or the channel.

use std::env;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::process;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

const FRAME_METHOD: u8 = 1;
const FRAME_HEADER: u8 = 2;
const FRAME_BODY: u8 = 3;
const FRAME_HEARTBEAT: u8 = 8;
const FRAME_END: u8 = 0xCE;

fn die(msg: impl std::fmt::Display) -> ! {
    eprintln!("ceiling: {msg}");
    process::exit(1)
}

fn frame(out: &mut Vec<u8>, kind: u8, channel: u16, payload: &[u8]) {
    out.push(kind);
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out.push(FRAME_END);
}

fn shortstr(out: &mut Vec<u8>, s: &str) {
    assert!(s.len() < 256, "short string too long");
    out.push(s.len() as u8);
    out.extend_from_slice(s.as_bytes());
}

fn method(class: u16, method: u16) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&class.to_be_bytes());
    p.extend_from_slice(&method.to_be_bytes());
    p
}

/// One frame read from the socket: (type, channel, payload).
fn read_frame(r: &mut impl Read) -> io::Result<(u8, u16, Vec<u8>)> {
    let mut head = [0u8; 7];
    r.read_exact(&mut head)?;
    let size = u32::from_be_bytes([head[3], head[4], head[5], head[6]]) as usize;
    let mut payload = vec![0u8; size + 1];
    r.read_exact(&mut payload)?;
    if payload[size] != FRAME_END {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "bad frame end"));
    }
    payload.truncate(size);
    Ok((head[0], u16::from_be_bytes([head[1], head[2]]), payload))
}

fn class_method(payload: &[u8]) -> (u16, u16) {
    if payload.len() < 4 {
        return (0, 0);
    }
    (
        u16::from_be_bytes([payload[0], payload[1]]),
        u16::from_be_bytes([payload[2], payload[3]]),
    )
}

/// The reply text of a connection.close or channel.close payload.
fn close_reason(payload: &[u8]) -> String {
    if payload.len() < 7 {
        return "?".into();
    }
    let code = u16::from_be_bytes([payload[4], payload[5]]);
    let len = payload[6] as usize;
    let text = payload.get(7..7 + len).unwrap_or(&[]);
    format!("{code} {}", String::from_utf8_lossy(text))
}

/// Reads method frames, skipping heartbeats, until one of class.method arrives.
fn expect(r: &mut impl Read, want: (u16, u16)) -> Vec<u8> {
    loop {
        let (kind, _, payload) = read_frame(r).unwrap_or_else(|e| die(format!("read: {e}")));
        if kind == FRAME_HEARTBEAT {
            continue;
        }
        let cm = class_method(&payload);
        if kind == FRAME_METHOD && cm == want {
            return payload;
        }
        if kind == FRAME_METHOD && (cm == (10, 50) || cm == (20, 40)) {
            die(format!("broker closed: {}", close_reason(&payload)));
        }
        die(format!("expected method {want:?}, got frame type {kind} method {cm:?}"));
    }
}

fn main() {
    let args: Vec<String> = env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: ceiling HOST PORT ROUTING_KEY N [BODY_SIZE=100] [WRITE_BUF=262144]");
        process::exit(2);
    }
    let host = &args[1];
    let port: u16 = args[2].parse().unwrap_or_else(|_| die("bad port"));
    let key = &args[3];
    let n: u64 = args[4].parse().unwrap_or_else(|_| die("bad N"));
    let body_size: usize = args.get(5).map_or(100, |s| s.parse().unwrap_or_else(|_| die("bad BODY_SIZE")));
    let buf_size: usize = args.get(6).map_or(262_144, |s| s.parse().unwrap_or_else(|_| die("bad WRITE_BUF")));

    let mut sock = TcpStream::connect((host.as_str(), port)).unwrap_or_else(|e| die(format!("connect: {e}")));
    sock.set_nodelay(true).ok();
    let mut out = Vec::new();

    // Handshake.
    sock.write_all(b"AMQP\x00\x00\x09\x01").unwrap_or_else(|e| die(e));
    expect(&mut sock, (10, 10)); // connection.start
    let mut p = method(10, 11); // connection.start-ok
    p.extend_from_slice(&0u32.to_be_bytes()); // client-properties: empty table
    shortstr(&mut p, "PLAIN");
    let response = b"\x00guest\x00guest";
    p.extend_from_slice(&(response.len() as u32).to_be_bytes());
    p.extend_from_slice(response);
    shortstr(&mut p, "en_US");
    frame(&mut out, FRAME_METHOD, 0, &p);
    sock.write_all(&out).unwrap_or_else(|e| die(e));
    out.clear();

    let tune = expect(&mut sock, (10, 30)); // connection.tune
    if tune.len() < 12 {
        die("short connection.tune");
    }
    let channel_max = u16::from_be_bytes([tune[4], tune[5]]);
    let mut frame_max = u32::from_be_bytes([tune[6], tune[7], tune[8], tune[9]]);
    if frame_max == 0 {
        frame_max = 131_072;
    }
    let mut p = method(10, 31); // connection.tune-ok
    p.extend_from_slice(&channel_max.to_be_bytes());
    p.extend_from_slice(&frame_max.to_be_bytes());
    p.extend_from_slice(&0u16.to_be_bytes()); // no heartbeats
    frame(&mut out, FRAME_METHOD, 0, &p);
    let mut p = method(10, 40); // connection.open
    shortstr(&mut p, "/");
    shortstr(&mut p, "");
    p.push(0);
    frame(&mut out, FRAME_METHOD, 0, &p);
    sock.write_all(&out).unwrap_or_else(|e| die(e));
    out.clear();
    expect(&mut sock, (10, 41)); // connection.open-ok

    let mut p = method(20, 10); // channel.open
    shortstr(&mut p, "");
    frame(&mut out, FRAME_METHOD, 1, &p);
    sock.write_all(&out).unwrap_or_else(|e| die(e));
    out.clear();
    expect(&mut sock, (20, 11)); // channel.open-ok

    // From here on, a thread drains everything the broker sends (connection.blocked,
    // heartbeats, ...) and reports close-ok or a close.
    let mut reader = sock.try_clone().unwrap_or_else(|e| die(e));
    let (done_tx, done_rx) = mpsc::channel::<Result<(), String>>();
    thread::spawn(move || {
        loop {
            match read_frame(&mut reader) {
                Ok((FRAME_METHOD, _, payload)) => match class_method(&payload) {
                    (10, 51) => {
                        let _ = done_tx.send(Ok(()));
                        return;
                    }
                    (10, 50) | (20, 40) => {
                        let _ = done_tx.send(Err(format!("broker closed: {}", close_reason(&payload))));
                        return;
                    }
                    _ => {} // connection.blocked / unblocked and the like
                },
                Ok(_) => {}
                Err(e) => {
                    let _ = done_tx.send(Err(format!("read: {e}")));
                    return;
                }
            }
        }
    });

    // One message, pre-encoded: basic.publish + content header + body frames.
    let mut msg = Vec::new();
    let mut p = method(60, 40); // basic.publish
    p.extend_from_slice(&0u16.to_be_bytes()); // reserved
    shortstr(&mut p, ""); // default exchange
    shortstr(&mut p, key);
    p.push(0); // mandatory = immediate = false
    frame(&mut msg, FRAME_METHOD, 1, &p);
    let mut h = Vec::new();
    h.extend_from_slice(&60u16.to_be_bytes()); // class
    h.extend_from_slice(&0u16.to_be_bytes()); // weight
    h.extend_from_slice(&(body_size as u64).to_be_bytes());
    h.extend_from_slice(&0u16.to_be_bytes()); // no properties
    frame(&mut msg, FRAME_HEADER, 1, &h);
    let body = vec![b'x'; body_size];
    let chunk_max = frame_max as usize - 8;
    for chunk in body.chunks(chunk_max.max(1)) {
        frame(&mut msg, FRAME_BODY, 1, chunk);
    }

    // As many whole messages as fit in the write buffer (at least one).
    let per_buf = (buf_size / msg.len()).max(1) as u64;
    let mut buf = Vec::with_capacity(msg.len() * per_buf as usize);
    for _ in 0..per_buf {
        buf.extend_from_slice(&msg);
    }
    let mut left = n;
    while left > 0 {
        let k = left.min(per_buf);
        let bytes = &buf[..msg.len() * k as usize];
        if let Err(e) = sock.write_all(bytes) {
            match done_rx.try_recv() {
                Ok(Err(reason)) => die(reason),
                _ => die(format!("write: {e}")),
            }
        }
        left -= k;
    }

    let mut p = method(10, 50); // connection.close
    p.extend_from_slice(&200u16.to_be_bytes());
    shortstr(&mut p, "");
    p.extend_from_slice(&0u16.to_be_bytes());
    p.extend_from_slice(&0u16.to_be_bytes());
    frame(&mut out, FRAME_METHOD, 0, &p);
    sock.write_all(&out).unwrap_or_else(|e| die(e));
    match done_rx.recv_timeout(Duration::from_secs(120)) {
        Ok(Ok(())) => {}
        Ok(Err(reason)) => die(reason),
        Err(_) => die("no connection.close-ok within 120 s"),
    }
}
