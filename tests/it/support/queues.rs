//! What is on the broker: a queue's counts as a passive declare reports them, waiting for
//! them to reach a value, and declaring, draining and deleting queues.

use amqpctl::amqp::{AmqpError, Channel, ConnectionSettings, QueueInfo, QueueOptions};

use super::broker::Broker;
use super::connect::{open, plain};
use super::eventually::eventually;
use super::run::amqpctl_on;

/// `queue`'s name and counts (ready messages, consumers) as a passive declare on `ch`
/// reports them. A missing queue is a 404 that closes `ch`.
pub fn passive_declare(ch: &Channel, queue: &str) -> Result<QueueInfo, AmqpError> {
    let passive = QueueOptions {
        passive: true,
        ..QueueOptions::default()
    };
    ch.queue_declare(queue, &passive)
}

/// `queue`'s counts on `b`, asked on a connection of its own; `None` if there is no such
/// queue.
#[track_caller]
pub fn queue_info(b: &Broker, queue: &str) -> Option<QueueInfo> {
    let (conn, ch) = open(&plain(b));
    let info = match passive_declare(&ch, queue) {
        Ok(info) => Some(info),
        Err(AmqpError::ChannelClosed { code: 404, .. }) => None,
        Err(e) => panic!("passive declare of {queue}: {e}"),
    };
    ch.close().expect("close the channel");
    conn.close().expect("close the connection");
    info
}

/// Whether `queue` exists on `b`.
#[track_caller]
pub fn queue_exists(b: &Broker, queue: &str) -> bool {
    queue_info(b, queue).is_some()
}

/// Ready messages in `queue` on `b`; panics if there is no such queue.
#[track_caller]
pub fn messages(b: &Broker, queue: &str) -> u32 {
    queue_info(b, queue)
        .unwrap_or_else(|| panic!("no queue {queue}"))
        .messages
}

/// Where the `wait_for_*` helpers look: a node (the shared one or a private one), or a
/// cluster (`support::cluster`), so that one copy of them serves every test.
pub trait QueueCounts {
    /// `queue`'s counts; `None` if there is no such queue.
    fn queue_info(&self, queue: &str) -> Option<QueueInfo>;
}

impl QueueCounts for Broker {
    fn queue_info(&self, queue: &str) -> Option<QueueInfo> {
        queue_info(self, queue)
    }
}

impl<T: QueueCounts> QueueCounts for &T {
    fn queue_info(&self, queue: &str) -> Option<QueueInfo> {
        (**self).queue_info(queue)
    }
}

/// Polls `queue` on `b` until it exists and `ok` holds for its counts; panics after
/// [`super::eventually::WAIT`], saying `what` was expected. Returns the counts that passed.
#[track_caller]
pub fn wait_until(
    b: &impl QueueCounts,
    queue: &str,
    what: &str,
    ok: impl Fn(&QueueInfo) -> bool,
) -> QueueInfo {
    eventually(&format!("{queue} to have {what}"), || {
        match b.queue_info(queue) {
            Some(info) if ok(&info) => Ok(info),
            Some(i) => Err(format!(
                "messages {}, consumers {}",
                i.messages, i.consumers
            )),
            None => Err("no such queue".to_string()),
        }
    })
}

/// Waits until `queue` on `b` holds `n` ready messages.
#[track_caller]
pub fn wait_for_messages(b: &impl QueueCounts, queue: &str, n: u32) {
    wait_until(b, queue, &format!("{n} messages"), |q| q.messages == n);
}

/// Waits until `queue` on `b` has `n` consumers.
#[track_caller]
pub fn wait_for_consumers(b: &impl QueueCounts, queue: &str, n: u32) {
    wait_until(b, queue, &format!("{n} consumers"), |q| q.consumers == n);
}

/// Declares a durable queue on `b` with amqpctl itself.
#[track_caller]
pub fn durable_queue(b: &Broker, queue: &str) {
    amqpctl_on(b, &["declare", "queue", queue, "--durable"])
        .code(0)
        .stdout([format!(
            "Created queue: {queue} (messages: 0, consumers: 0)"
        )]);
}

/// Declares `queue` on the shared node with `amqpctl declare queue QUEUE EXTRA`, which must
/// say it created it.
#[track_caller]
pub fn declare_queue(queue: &str, extra: &[&str]) {
    amqpctl_on(
        super::broker(),
        &[&["declare", "queue", queue][..], extra].concat(),
    )
    .code(0)
    .stdout([format!(
        "Created queue: {queue} (messages: 0, consumers: 0)"
    )]);
}

/// Declares exchange `x` on the shared node with `amqpctl declare exchange X EXTRA`, which
/// must say it created it.
#[track_caller]
pub fn declare_exchange(x: &str, extra: &[&str]) {
    amqpctl_on(
        super::broker(),
        &[&["declare", "exchange", x][..], extra].concat(),
    )
    .code(0)
    .stdout([format!("Created exchange: {x}")]);
}

/// Deletes exchange `x` on the shared node with `amqpctl delete exchange X`, which must say
/// it deleted it.
#[track_caller]
pub fn delete_exchange(x: &str) {
    amqpctl_on(super::broker(), &["delete", "exchange", x])
        .code(0)
        .stdout([format!("Deleted exchange: {x}")]);
}

/// A fresh stream on the shared node, named after `name`, declared with amqpctl.
#[track_caller]
pub fn fresh_stream(name: &str) -> String {
    let s = super::unique(name);
    declare_queue(&s, &["--type", "stream"]);
    s
}

/// A fresh durable queue on the shared node, named after `name`, that holds `max` ready
/// messages and refuses more (`x-overflow=reject-publish`: the broker nacks them).
#[track_caller]
pub fn full_queue(name: &str, max: usize) -> String {
    let q = super::unique(name);
    let max = format!("x-max-length={max}");
    let overflow = ["--arg", "x-overflow=reject-publish"];
    declare_queue(&q, &[&["--durable", "--arg", &max][..], &overflow].concat());
    q
}

/// Publishes `n` copies of `body` to `queue` on `b` with `amqpctl pub --confirm --quiet`:
/// numbered `I:BODY` when more than one, unless `body` is a `{seq}` template.
#[track_caller]
pub fn fill(b: &Broker, queue: &str, n: usize, body: &str) {
    let n = n.to_string();
    amqpctl_on(
        b,
        &[
            "pub",
            "-k",
            queue,
            "--nb-messages",
            &n,
            "--interval",
            "0",
            "--confirm",
            "--quiet",
            "-m",
            body,
        ],
    )
    .code(0)
    .no_stdout();
}

/// A fresh durable queue on the shared node, named after `name`.
pub fn fresh_queue(name: &str) -> String {
    let q = super::unique(name);
    durable_queue(super::broker(), &q);
    q
}

/// A fresh durable queue on the shared node, named after `name`, holding
/// `n` messages of `body` (`{seq}` counts from 1).
pub fn filled_queue(name: &str, n: usize, body: &str) -> String {
    let q = fresh_queue(name);
    fill(super::broker(), &q, n, body);
    q
}

/// Takes every message out of `queue` on `b`; returns the bodies in order.
#[track_caller]
pub fn drain(b: &Broker, queue: &str) -> Vec<Vec<u8>> {
    drain_through(&plain(b), queue)
}

/// Takes every message out of `queue` on a connection of its own made with `settings`
/// (a node, or a cluster's endpoints); returns the bodies in order.
#[track_caller]
pub fn drain_through(settings: &ConnectionSettings, queue: &str) -> Vec<Vec<u8>> {
    let (conn, ch) = open(settings);
    let mut bodies = Vec::new();
    while let Some((d, _)) = ch.basic_get(queue, true).expect("basic.get") {
        bodies.push(d.body().to_vec());
    }
    ch.close().expect("close the channel");
    conn.close().expect("close the connection");
    bodies
}

/// Deletes each of `queues` on `b`, which must all exist.
#[track_caller]
pub fn delete_queues(b: &Broker, queues: &[&str]) {
    for queue in queues {
        delete_queue(b, queue);
    }
}

/// Deletes `queue` on `b`, which must exist.
#[track_caller]
pub fn delete_queue(b: &Broker, queue: &str) {
    let (conn, ch) = open(&plain(b));
    ch.queue_delete(queue, false, false)
        .unwrap_or_else(|e| panic!("delete {queue}: {e}"));
    ch.close().expect("close the channel");
    conn.close().expect("close the connection");
}
