//! The broker's ceilings for one connection: a std-only AMQP 0-9-1 client that does the
//! handshake itself and then does one of three things as fast as the broker lets it:
//!
//! - `publish`: writes pre-encoded basic.publish + content header + body frames for N
//!   messages in large writes;
//! - `confirm`: the same after confirm.select, with no window (every frame is written
//!   at once), counting the broker's basic.ack frames (multiple or single) until all N
//!   are confirmed; a nack is an error;
//! - `consume`: basic.qos PREFETCH (1000), basic.consume, deliveries only counted
//!   (headers and bodies skipped unparsed), one multiple basic.ack per ACK_EVERY (500)
//!   deliveries and one for the last, until N are acked.
//!
//! Each then closes the connection cleanly (connection.close / close-ok), so every frame
//! has been read by the broker when it exits. After `publish`, whoever runs it waits
//! until the queue holds the messages.
//!
//! Built by scripts/bench with plain `rustc -O` (no crates).
//!
//! Usage: ceiling publish HOST PORT ROUTING_KEY N [BODY_SIZE=100] [WRITE_BUF=262144]
//!        ceiling confirm HOST PORT ROUTING_KEY N [BODY_SIZE=100] [WRITE_BUF=262144]
//!        ceiling consume HOST PORT QUEUE N [PREFETCH=1000] [ACK_EVERY=500]
//!
//! Publishes to the default exchange, so ROUTING_KEY is the queue name. Exits 1 with a
//! message on stderr if the broker closes the connection or the channel.

use std::env;
use std::io::{self, BufReader, Read, Write};
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

const USAGE: &str = "usage: ceiling publish|confirm HOST PORT ROUTING_KEY N [BODY_SIZE=100] [WRITE_BUF=262144]\n       ceiling consume HOST PORT QUEUE N [PREFETCH=1000] [ACK_EVERY=500]";

fn usage() -> ! {
    eprintln!("{USAGE}");
    process::exit(2)
}

fn opt_num<T: std::str::FromStr>(args: &[String], i: usize, default: T, what: &str) -> T {
    args.get(i).map_or(default, |s| s.parse().unwrap_or_else(|_| die(format!("bad {what}"))))
}

/// Reads frames into `buf` (reused), skipping heartbeats: (type, channel). The payload
/// is `buf[..]` afterwards.
fn read_frame_into(r: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<(u8, u16)> {
    let mut head = [0u8; 7];
    r.read_exact(&mut head)?;
    let size = u32::from_be_bytes([head[3], head[4], head[5], head[6]]) as usize;
    buf.resize(size + 1, 0);
    r.read_exact(buf)?;
    if buf[size] != FRAME_END {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "bad frame end"));
    }
    buf.truncate(size);
    Ok((head[0], u16::from_be_bytes([head[1], head[2]])))
}

/// Connection and channel 1 open: the handshake every mode starts with. Returns the
/// negotiated frame_max.
fn open(sock: &mut TcpStream) -> u32 {
    let mut out = Vec::new();
    sock.write_all(b"AMQP\x00\x00\x09\x01").unwrap_or_else(|e| die(e));
    expect(sock, (10, 10)); // connection.start
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

    let tune = expect(sock, (10, 30)); // connection.tune
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
    expect(sock, (10, 41)); // connection.open-ok

    let mut p = method(20, 10); // channel.open
    shortstr(&mut p, "");
    frame(&mut out, FRAME_METHOD, 1, &p);
    sock.write_all(&out).unwrap_or_else(|e| die(e));
    expect(sock, (20, 11)); // channel.open-ok
    frame_max
}

fn send_method(sock: &mut TcpStream, channel: u16, payload: &[u8]) {
    let mut out = Vec::new();
    frame(&mut out, FRAME_METHOD, channel, payload);
    sock.write_all(&out).unwrap_or_else(|e| die(format!("write: {e}")));
}

fn close_connection(sock: &mut TcpStream) {
    let mut p = method(10, 50); // connection.close
    p.extend_from_slice(&200u16.to_be_bytes());
    shortstr(&mut p, "");
    p.extend_from_slice(&0u16.to_be_bytes());
    p.extend_from_slice(&0u16.to_be_bytes());
    send_method(sock, 0, &p);
}

/// Tags the broker has confirmed: all up to `below` inclusive, plus single acks above
/// it (rare: a classic queue acks in order, mostly with multiple = true).
struct Confirmed {
    below: u64,
    above: std::collections::BTreeSet<u64>,
}

impl Confirmed {
    fn ack(&mut self, tag: u64, multiple: bool) {
        if multiple {
            self.below = self.below.max(tag);
            self.above = self.above.split_off(&(self.below + 1));
        } else if tag == self.below + 1 {
            self.below = tag;
        } else if tag > self.below {
            self.above.insert(tag);
        }
        while self.above.remove(&(self.below + 1)) {
            self.below += 1;
        }
    }
}

/// The reader thread of the publish modes: drains everything the broker sends, counts
/// confirms when `confirm_n` is set, and reports close-ok (or, with confirms, all N
/// confirmed, after which it goes on to wait for close-ok) or a close.
fn spawn_reader(sock: &TcpStream, confirm_n: Option<u64>) -> mpsc::Receiver<Result<&'static str, String>> {
    let mut reader = BufReader::with_capacity(1 << 16, sock.try_clone().unwrap_or_else(|e| die(e)));
    let (tx, rx) = mpsc::channel::<Result<&'static str, String>>();
    thread::spawn(move || {
        let mut confirmed = Confirmed { below: 0, above: Default::default() };
        let mut buf = Vec::new();
        loop {
            match read_frame_into(&mut reader, &mut buf) {
                Ok((FRAME_METHOD, _)) => match class_method(&buf) {
                    (10, 51) => {
                        let _ = tx.send(Ok("close-ok"));
                        return;
                    }
                    (10, 50) | (20, 40) => {
                        let _ = tx.send(Err(format!("broker closed: {}", close_reason(&buf))));
                        return;
                    }
                    (60, 80) if buf.len() >= 13 => {
                        let tag = u64::from_be_bytes(buf[4..12].try_into().unwrap_or([0; 8]));
                        confirmed.ack(tag, buf[12] & 1 == 1);
                        if Some(confirmed.below) == confirm_n {
                            let _ = tx.send(Ok("confirmed"));
                        }
                    }
                    (60, 120) => {
                        let _ = tx.send(Err("the broker nacked a message".into()));
                        return;
                    }
                    _ => {} // connection.blocked / unblocked and the like
                },
                Ok(_) => {}
                Err(e) => {
                    let _ = tx.send(Err(format!("read: {e}")));
                    return;
                }
            }
        }
    });
    rx
}

fn publish(mut sock: TcpStream, key: &str, n: u64, body_size: usize, buf_size: usize, confirm: bool) {
    let frame_max = open(&mut sock);
    if confirm {
        let mut p = method(85, 10); // confirm.select
        p.push(0); // nowait = false
        send_method(&mut sock, 1, &p);
        expect(&mut sock, (85, 11)); // confirm.select-ok
    }
    let done = spawn_reader(&sock, if confirm && n > 0 { Some(n) } else { None });

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
            match done.try_recv() {
                Ok(Err(reason)) => die(reason),
                _ => die(format!("write: {e}")),
            }
        }
        left -= k;
    }
    if confirm && n > 0 {
        match done.recv_timeout(Duration::from_secs(120)) {
            Ok(Ok("confirmed")) => {}
            Ok(Ok(other)) => die(format!("unexpected {other} before every confirm")),
            Ok(Err(reason)) => die(reason),
            Err(_) => die("not every message confirmed within 120 s"),
        }
    }
    close_connection(&mut sock);
    match done.recv_timeout(Duration::from_secs(120)) {
        Ok(Ok(_)) => {}
        Ok(Err(reason)) => die(reason),
        Err(_) => die("no connection.close-ok within 120 s"),
    }
}

fn consume(mut sock: TcpStream, queue: &str, n: u64, prefetch: u16, ack_every: u64) {
    open(&mut sock);
    let mut p = method(60, 10); // basic.qos
    p.extend_from_slice(&0u32.to_be_bytes()); // prefetch-size
    p.extend_from_slice(&prefetch.to_be_bytes());
    p.push(0); // global = false
    send_method(&mut sock, 1, &p);
    expect(&mut sock, (60, 11)); // basic.qos-ok
    let mut p = method(60, 20); // basic.consume
    p.extend_from_slice(&0u16.to_be_bytes()); // reserved
    shortstr(&mut p, queue);
    shortstr(&mut p, ""); // consumer tag: the broker's
    p.push(0); // no-local, no-ack, exclusive, no-wait: all false
    p.extend_from_slice(&0u32.to_be_bytes()); // arguments: empty table
    send_method(&mut sock, 1, &p);
    expect(&mut sock, (60, 21)); // basic.consume-ok

    let mut writer = sock.try_clone().unwrap_or_else(|e| die(e));
    let mut reader = BufReader::with_capacity(1 << 18, sock);
    let mut buf = Vec::new();
    let mut got = 0u64;
    let ack_every = ack_every.max(1);
    let mut ack = |tag: u64| {
        let mut p = method(60, 80); // basic.ack
        p.extend_from_slice(&tag.to_be_bytes());
        p.push(1); // multiple
        send_method(&mut writer, 1, &p);
    };
    while got < n {
        let (kind, _) = read_frame_into(&mut reader, &mut buf).unwrap_or_else(|e| die(format!("read: {e}")));
        if kind != FRAME_METHOD {
            continue; // content headers, bodies, heartbeats
        }
        match class_method(&buf) {
            (60, 60) => {
                // basic.deliver: consumer-tag (shortstr), delivery-tag (u64), ...
                let tag_at = 5 + *buf.get(4).unwrap_or(&0) as usize;
                let tag = buf
                    .get(tag_at..tag_at + 8)
                    .map_or(0, |b| u64::from_be_bytes(b.try_into().unwrap_or([0; 8])));
                got += 1;
                if got % ack_every == 0 || got == n {
                    ack(tag);
                }
            }
            (10, 50) | (20, 40) => die(format!("broker closed: {}", close_reason(&buf))),
            _ => {}
        }
    }
    close_connection(&mut writer);
    loop {
        let (kind, _) = read_frame_into(&mut reader, &mut buf).unwrap_or_else(|e| die(format!("read: {e}")));
        if kind == FRAME_METHOD && class_method(&buf) == (10, 51) {
            return;
        }
        // Deliveries past N arrive until the broker has the close; unacked, they go
        // back to the queue.
    }
}

fn main() {
    let args: Vec<String> = env::args().collect();
    if args.len() < 6 {
        usage();
    }
    let host = &args[2];
    let port: u16 = args[3].parse().unwrap_or_else(|_| die("bad port"));
    let name = &args[4];
    let n: u64 = args[5].parse().unwrap_or_else(|_| die("bad N"));
    let sock = TcpStream::connect((host.as_str(), port)).unwrap_or_else(|e| die(format!("connect: {e}")));
    sock.set_nodelay(true).ok();
    match args[1].as_str() {
        mode @ ("publish" | "confirm") => {
            let body_size = opt_num(&args, 6, 100usize, "BODY_SIZE");
            let buf_size = opt_num(&args, 7, 262_144usize, "WRITE_BUF");
            publish(sock, name, n, body_size, buf_size, mode == "confirm");
        }
        "consume" => {
            let prefetch = opt_num(&args, 6, 1000u16, "PREFETCH");
            let ack_every = opt_num(&args, 7, 500u64, "ACK_EVERY");
            consume(sock, name, n, prefetch, ack_every);
        }
        _ => usage(),
    }
}
