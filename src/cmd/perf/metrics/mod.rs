//! `perf --metrics-listen ADDR`: the run's counters, rates and latency
//! quantiles as OpenMetrics text at `http://ADDR/metrics` while it goes
//! on, for Prometheus to scrape as omq's users do. The workers never see
//! it: the reporter copies its once-a-second figures onto a [`Board`]
//! (`board`), and a thread of its own (`http`) renders the board (`text`)
//! for each scrape. The endpoint ends with the run, or with
//! `--metrics-linger` once the final figures were scraped.

mod board;
mod http;
mod text;

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clap::Args;

use super::dist::DistSpec;
use crate::cmd::args::values::parse_seconds;
use crate::cmd::io::output::status;
use crate::cmd::io::signals;
use crate::error::Error;
pub use board::Board;

/// How often a lingering endpoint looks whether its last figures went out.
const LINGER_POLL: Duration = Duration::from_millis(20);

/// The flags of the metrics endpoint.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Serve OpenMetrics text (counters, rates, latency quantiles) at
    /// http://ADDR/metrics while the run goes on, for Prometheus to
    /// scrape; HOST:PORT, port 0 picks a free one (the address is printed
    /// on stderr). It stops with the run unless --metrics-linger.
    #[arg(long, value_name = "ADDR", value_parser = parse_listen)]
    metrics_listen: Option<SocketAddr>,

    /// With --metrics-listen, keep serving the final figures after the run
    /// until they were scraped once (or a signal came), SECS at most
    /// [default: the endpoint stops with the run].
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, requires = "metrics_listen")]
    metrics_linger: Option<Duration>,
}

/// `--metrics-listen`'s value: `HOST:PORT`, resolved to its first address.
fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let wrong = || {
        format!(
            "'{s}' is not an address to listen on: give HOST:PORT, e.g. 127.0.0.1:9464 (port 0 picks a free one)"
        )
    };
    s.to_socket_addrs()
        .map_err(|_| wrong())?
        .next()
        .ok_or_else(wrong)
}

/// The endpoint, bound and not yet serving: part of the [`super::PerfSpec`].
#[derive(Debug, Clone)]
pub struct Endpoint {
    listener: Arc<TcpListener>,
    /// The figures it serves, which the reporter keeps up to date.
    pub board: Board,
    linger: Option<Duration>,
}

impl MetricsArgs {
    /// Binds the endpoint (a usage error when it cannot: another ADDR
    /// fixes it), before anything reaches the broker; `dist` gives the
    /// labels of a `--run-id` instance.
    pub fn resolve(self, dist: Option<&DistSpec>) -> Result<Option<Endpoint>, Error> {
        let Some(addr) = self.metrics_listen else {
            return Ok(None);
        };
        let listener = TcpListener::bind(addr).map_err(|e| {
            Error::Usage(format!("--metrics-listen {addr}: cannot listen there: {e}"))
        })?;
        let labels = match dist {
            Some(d) => vec![
                ("run_id", d.run_id.clone()),
                ("run_instance", super::dist::instance_name()),
            ],
            None => Vec::new(),
        };
        Ok(Some(Endpoint {
            listener: Arc::new(listener),
            board: Board::new(labels),
            linger: self.metrics_linger,
        }))
    }
}

/// The serving endpoint: its thread, until [`Server::end`].
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
    board: Board,
    linger: Option<Duration>,
}

impl Server {
    /// Starts serving `endpoint`, if there is one, and says where.
    pub fn start(endpoint: Option<&Endpoint>) -> Result<Option<Server>, Error> {
        let Some(endpoint) = endpoint else {
            return Ok(None);
        };
        let listener = Arc::clone(&endpoint.listener);
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("the metrics endpoint", e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (stop, board) = (Arc::clone(&stop), endpoint.board.clone());
            std::thread::Builder::new()
                .name("perf-metrics".to_string())
                .spawn(move || http::serve(&listener, &board, &stop))
                .map_err(|e| Error::io("starting the metrics endpoint", e))?
        };
        status(format_args!("Metrics: http://{addr}/metrics"));
        Ok(Some(Server {
            addr,
            stop,
            thread,
            board: endpoint.board.clone(),
            linger: endpoint.linger,
        }))
    }

    /// Stops serving: at once, or with `--metrics-linger` once a run that
    /// ended had its final figures scraped (at most the linger, and not
    /// past a signal).
    pub fn end(self) {
        if let Some(linger) = self.linger.filter(|_| self.board.ended()) {
            let deadline = Instant::now() + linger;
            let interrupts = signals::installed();
            while !self.board.final_scraped() && Instant::now() < deadline {
                match &interrupts {
                    Some(rx) if rx.recv_timeout(LINGER_POLL).is_ok() => break,
                    Some(_) => {}
                    None => std::thread::sleep(LINGER_POLL),
                }
            }
        }
        self.stop.store(true, Ordering::Relaxed);
        if !http::wake(self.addr) {
            log::debug!(
                "the metrics endpoint at {} did not wake: left to the exit",
                self.addr
            );
        } else if self.thread.join().is_err() {
            log::warn!("the metrics endpoint's thread panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_host_and_port() {
        assert_eq!(
            parse_listen("127.0.0.1:0").ok(),
            Some(SocketAddr::from(([127, 0, 0, 1], 0)))
        );
        assert!(parse_listen("localhost:9464").is_ok());
        assert!(parse_listen("[::1]:9464").is_ok());
        let e = parse_listen("9464").unwrap_err();
        assert!(e.contains("give HOST:PORT"), "{e}");
        assert!(parse_listen("127.0.0.1:99999").is_err());
    }
}
