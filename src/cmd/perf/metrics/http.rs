//! The endpoint's HTTP/1.1, on `std::net` alone: a scrape is one GET a
//! connection, answered and closed, so a server of a few dozen lines in a
//! thread of its own does, with no HTTP crate. It blocks in `accept`, so a
//! scrape is answered at once; [`wake`] ends it. A client gets
//! [`IO_TIMEOUT`] to send its request and take the answer.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::board::Board;
use super::text::{CONTENT_TYPE, render};

/// How long a client may take to send its request or read the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`wake`] tries to reach the listener.
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

/// After an `accept` error (out of file descriptors), a pause before the next.
const PAUSE: Duration = Duration::from_millis(50);

/// The longest request head read.
const MAX_HEAD: usize = 8 * 1024;

/// Answers connections on `listener` until `stop` is set and a connection
/// (the one [`wake`] makes) comes.
pub fn serve(listener: &TcpListener, board: &Board, stop: &AtomicBool) {
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::Relaxed) {
            return;
        }
        match accepted {
            Ok((stream, peer)) => {
                if let Err(e) = answer(stream, board) {
                    log::debug!("metrics scrape from {peer}: {e}");
                }
            }
            Err(e) => {
                log::debug!("metrics endpoint: {e}");
                std::thread::sleep(PAUSE);
            }
        }
    }
}

/// Connects to the listener at `addr` so that its `accept` returns and
/// [`serve`] sees the stop flag; whether it could (if not, the thread is
/// left blocked, and ends with the process).
pub fn wake(addr: SocketAddr) -> bool {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    TcpStream::connect_timeout(&SocketAddr::new(ip, addr.port()), WAKE_TIMEOUT).is_ok()
}

/// Reads one request and answers it: the figures at `GET /metrics` (and
/// `HEAD`), 404 elsewhere, 405 for other methods, 400 for no HTTP.
fn answer(mut stream: TcpStream, board: &Board) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let head = read_head(&mut stream)?;
    let line = head.lines().next().unwrap_or("");
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    let path = target.map(|t| t.split('?').next().unwrap_or(t));
    let response = match (method, path, version) {
        (Some(m), Some(p), Some(v)) if v.starts_with("HTTP/1.") => match (m, p) {
            ("GET" | "HEAD", "/metrics") => {
                let text = {
                    let mut figures = board.lock();
                    if figures.ended && m == "GET" {
                        figures.final_scraped = true;
                    }
                    render(&figures)
                };
                Response::new("200 OK", CONTENT_TYPE, text).head_only(m == "HEAD")
            }
            (_, "/metrics") => Response::plain("405 Method Not Allowed", "use GET\n"),
            _ => Response::plain("404 Not Found", "the metrics are at /metrics\n"),
        },
        _ => Response::plain("400 Bad Request", "not an HTTP/1.x request\n"),
    };
    response.write_to(&mut stream)
}

/// The request line and headers, up to the blank line (or [`MAX_HEAD`]).
fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// An answer: its status line, type and body.
struct Response {
    status: &'static str,
    content_type: &'static str,
    body: String,
    head_only: bool,
}

impl Response {
    fn new(status: &'static str, content_type: &'static str, body: String) -> Response {
        Response {
            status,
            content_type,
            body,
            head_only: false,
        }
    }

    fn plain(status: &'static str, body: &str) -> Response {
        Response::new(status, "text/plain; charset=utf-8", body.to_string())
    }

    fn head_only(mut self, yes: bool) -> Response {
        self.head_only = yes;
        self
    }

    fn write_to(&self, stream: &mut TcpStream) -> std::io::Result<()> {
        let mut out = format!(
            "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.status,
            self.content_type,
            self.body.len()
        );
        if !self.head_only {
            out.push_str(&self.body);
        }
        stream.write_all(out.as_bytes())?;
        stream.flush()
    }
}
