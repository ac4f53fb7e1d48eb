//! What the tutorial examples share: the connection to the local broker
//! (127.0.0.1, guest/guest, vhost "/", port from `AMQP_PORT` or 5672), the
//! receivers' optional `-n COUNT`, and Ctrl-C as an interrupt a consumer can
//! wait on. Each example includes this file with `#[path]`; having no
//! `main.rs`, the directory is not taken for an example of its own.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use amqpctl::amqp::{Channel, Connection, ConnectionSettings, Credentials, Endpoint};
use crossbeam_channel::Receiver;
use signal_hook::consts::SIGINT;
use signal_hook::iterator::Signals;

/// An example's error. `main` returning `Err` prints it with `Debug`, so
/// that is made to print the error's message: `(404, "NOT_FOUND - …")`
/// rather than a struct dump.
pub struct Failure(Box<dyn Error>);

impl Failure {
    /// A failure with just a message.
    pub fn msg(text: impl Into<String>) -> Failure {
        Failure(text.into().into())
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl<E: Error + 'static> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure(Box::new(e))
    }
}

/// Opens a connection to the local broker and one channel on it.
pub fn connect() -> Result<(Connection, Channel), Failure> {
    let port = match std::env::var("AMQP_PORT") {
        Ok(port) => port
            .parse()
            .map_err(|e| Failure::msg(format!("AMQP_PORT={port}: {e}")))?,
        Err(_) => 5672,
    };
    let settings = ConnectionSettings {
        endpoints: vec![Endpoint {
            host: "127.0.0.1".to_string(),
            port,
        }],
        vhost: "/".to_string(),
        credentials: Credentials::Plain {
            username: "guest".to_string(),
            password: "guest".to_string(),
        },
        heartbeat: 60,
        connect_timeout: Duration::from_secs(10),
        tls: None,
        connection_name: None,
    };
    let connection = Connection::open(&settings)?;
    let channel = connection.channel()?;
    Ok((connection, channel))
}

/// The command line of a receiving example: an optional leading `-n COUNT`
/// (stop after COUNT messages, so the example can be scripted) and the
/// remaining arguments.
#[allow(dead_code)] // the sending examples take no `-n`
pub fn count_and_args() -> Result<(Option<usize>, Vec<String>), Failure> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("-n") {
        return Ok((None, args));
    }
    let count = args
        .get(1)
        .ok_or_else(|| Failure::msg("-n needs a message count"))?
        .parse()?;
    args.drain(..2);
    Ok((Some(count), args))
}

/// Ctrl-C as a channel for `Consumer::next`, so that a consumer stops
/// cleanly and closes its channel and connection. A second Ctrl-C ends the
/// process at once.
#[allow(dead_code)] // the sending examples do not wait
pub fn ctrl_c() -> Result<Receiver<()>, Failure> {
    let mut signals = Signals::new([SIGINT])?;
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        for (seen, _) in signals.forever().enumerate() {
            if seen > 0 {
                std::process::exit(130);
            }
            let _ = tx.try_send(());
        }
    });
    Ok(rx)
}
