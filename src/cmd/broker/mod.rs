//! The commands' side of a broker connection: connect (a signal ends the
//! attempt at once), run work on a channel and close in the order that lets
//! a late broker error surface, announce declarations, reconnect, and wait
//! out a broker that blocks publishing.

pub mod declare;
pub mod flow;
pub mod inflight;
pub mod management;
pub mod plain;
pub mod reconnect;
pub mod transient;

use std::time::Duration;

use amqpctl::amqp::{
    Channel, Closing, ConnectAbort, Connection, ConnectionSettings, Delivery, Opening,
};

use super::io::{output, signals};
use crate::error::Error;
use flow::FlowWait;

/// How long a consumer that reads a queue to its end waits without a
/// delivery before asking the broker whether the queue is drained (`con
/// --until-empty`, `move`, `redrive`).
pub const DRAIN_GRACE: Duration = Duration::from_millis(300);

/// Puts back, in their order, deliveries taken and not settled (skipped by
/// `--filter`, left by `redrive`): one multiple nack with requeue of the
/// last. Every unacked delivery with a lower tag goes back with it, so the
/// caller settles all the others first.
pub fn put_back(channel: &Channel, mut held: Vec<Delivery>) -> Result<(), Error> {
    if let Some(last) = held.pop() {
        channel.basic_nack(last, true, true)?;
    }
    Ok(())
}

/// Where and how to connect: the resolved connection flags, plus the
/// warnings (`--insecure`, …) the user sees before each connect.
pub struct ConnectSpec {
    /// What the AMQP layer opens.
    pub settings: ConnectionSettings,
    /// Printed on stderr before connecting.
    pub warnings: Vec<&'static str>,
}

/// How long a handshake may go unanswered before the next `--url` is tried
/// first: a frozen node (a stalled VM, a partition) accepts TCP but never
/// answers, and a node that answers at all completes a handshake in
/// milliseconds. The full `--connect-timeout` is still waited for every
/// node, in a second round, when no node answered this fast.
const QUICK_HANDSHAKE: Duration = Duration::from_secs(2);

/// Prints the connection warnings, then connects and opens a channel. When
/// the command listens for signals, a signal ends the connect at once (TCP,
/// TLS or AMQP handshake) with [`Error::Interrupted`]. The `--url`s are
/// tried in order, but the node whose connection `--reconnect` just lost
/// goes last ([`reconnect::order`]); with several, see [`QUICK_HANDSHAKE`].
pub fn connect(spec: &ConnectSpec) -> Result<(Connection, Channel), Error> {
    for w in &spec.warnings {
        warn_once(w);
    }
    let connection = open_in_order(&spec.settings)?;
    reconnect::reached(connection.endpoint());
    match connection.channel() {
        Ok(channel) => Ok((connection, channel)),
        Err(e) => {
            let _ = connection.close();
            Err(e.into())
        }
    }
}

/// Opens a connection to the first node in [`reconnect::order`] that
/// completes a handshake within [`QUICK_HANDSHAKE`]; failing that, to the
/// first that completes one within `--connect-timeout`.
fn open_in_order(settings: &ConnectionSettings) -> Result<Connection, Error> {
    let ordered = ConnectionSettings {
        endpoints: reconnect::order(&settings.endpoints),
        ..settings.clone()
    };
    if ordered.endpoints.len() < 2 || ordered.connect_timeout <= QUICK_HANDSHAKE {
        return open(&ordered);
    }
    let quick = ConnectionSettings {
        connect_timeout: QUICK_HANDSHAKE,
        ..ordered.clone()
    };
    match open(&quick) {
        // Some node may only have been slow: every node again, with the
        // whole timeout (a refused one is refused again at once).
        Err(e) if e.is_connection_lost() => open(&ordered),
        other => other,
    }
}

/// One connect over `settings`' endpoints in their order, on this thread: a
/// stop request aborts it ([`signals::on_stop`]).
fn open(settings: &ConnectionSettings) -> Result<Connection, Error> {
    let Some(stop) = signals::installed() else {
        return Ok(Connection::open(settings)?);
    };
    let abort = ConnectAbort::new();
    let aborter = abort.clone();
    let opened = signals::on_stop(
        move || aborter.abort(),
        || Connection::open_interruptible(settings, &stop, &abort),
    );
    match opened? {
        Opening::Open(c) => Ok(c),
        Opening::Interrupted(signal) => Err(Error::Interrupted(signal)),
    }
}

/// Prints a connection warning the first time this process meets it: a
/// command that connects twice (`move`'s source and destination) or again
/// (`--reconnect`) says it once.
fn warn_once(warning: &'static str) {
    static SAID: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let first = match SAID.lock() {
        Ok(mut said) if !said.contains(&warning) => {
            said.push(warning);
            true
        }
        Ok(_) => false,
        // A thread panicked while holding it: saying it again is harmless.
        Err(_) => true,
    };
    if first {
        output::status(warning);
    }
}

/// Runs `work` on a fresh channel, then closes channel and connection,
/// reporting the first error: a broker error raised after the last call
/// surfaces from the closes. A close the broker holds up because it blocks
/// publishing waits as long as it blocks.
pub fn with_channel(
    spec: &ConnectSpec,
    work: impl FnOnce(&mut Channel) -> Result<(), Error>,
) -> Result<(), Error> {
    with_connection(spec, FlowWait::new(None), |_, channel| work(channel))
}

/// Like [`with_channel`], for work that opens more channels on the same
/// connection (`rpc serve` replies on a channel of its own), with `flow`
/// deciding how long a blocked broker may hold up the close
/// (`--blocked-timeout`, signals).
pub fn with_connection(
    spec: &ConnectSpec,
    mut flow: FlowWait,
    work: impl FnOnce(&Connection, &mut Channel) -> Result<(), Error>,
) -> Result<(), Error> {
    let (connection, mut channel) = connect(spec)?;
    let worked = work(&connection, &mut channel);
    if worked.is_err() && channel.blocked_reason().is_some() {
        // A blocked connection is not read by the broker, so a close would
        // wait for as long as the block lasts: leave the socket to the OS.
        std::mem::forget(channel);
        std::mem::forget(connection);
        return worked;
    }
    let closed = channel.close_watching(|blocked| flow.keep_waiting(blocked));
    if matches!(closed, Ok(Closing::Abandoned)) {
        std::mem::forget(connection);
        worked?;
        return Err(flow.give_up_reason());
    }
    let disconnected = connection.close();
    worked?;
    closed?;
    disconnected?;
    Ok(())
}
