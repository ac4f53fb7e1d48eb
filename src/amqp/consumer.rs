//! Consuming: a consumer that yields deliveries one at a time, with an
//! inactivity timeout and an interrupt channel (signals), and the delivery
//! type that remembers how to be acknowledged.

use std::cell::Cell;
use std::time::Duration;

use amiquip::ConsumerMessage;
use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError, never, select};

use super::channel::Channel;
use super::error::{AmqpError, Result};
use super::properties::{Properties, from_amqp};
use super::value::Table;

/// How to start a consumer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsumerSettings {
    /// Automatic acknowledgement: the broker forgets a message once sent.
    pub no_ack: bool,
    /// No other consumer may use the queue meanwhile.
    pub exclusive: bool,
    /// Consumer arguments (`x-stream-offset`, `x-priority`, …).
    pub arguments: Table,
}

/// A message the broker delivered, to be acknowledged through the channel or
/// consumer it came from. Boxed: a delivery moves through a few hands and
/// its properties are large.
#[derive(Debug)]
pub struct Delivery(Box<amiquip::Delivery>);

impl Delivery {
    pub(crate) fn new(inner: amiquip::Delivery) -> Delivery {
        Delivery(Box::new(inner))
    }

    pub(crate) fn into_inner(self) -> amiquip::Delivery {
        *self.0
    }

    /// The body, byte for byte.
    pub fn body(&self) -> &[u8] {
        &self.0.body
    }

    /// Exchange it was published to.
    pub fn exchange(&self) -> &str {
        &self.0.exchange
    }

    /// Routing key it was published with.
    pub fn routing_key(&self) -> &str {
        &self.0.routing_key
    }

    /// Whether the broker delivered it before (to a consumer that did not ack).
    pub fn redelivered(&self) -> bool {
        self.0.redelivered
    }

    /// The channel-scoped tag acknowledgements refer to.
    pub fn delivery_tag(&self) -> u64 {
        self.0.delivery_tag()
    }

    /// Its properties, converted on demand.
    pub fn properties(&self) -> Properties {
        from_amqp(&self.0.properties)
    }

    /// Frees the body of a delivery kept only to be settled later (a
    /// transfer's messages left in place): its tag is all an ack or a nack
    /// needs, and a body held for that would count against no budget.
    pub fn release_body(&mut self) {
        self.0.body = Vec::new();
    }
}

/// What waiting for the next delivery produced.
#[derive(Debug)]
pub enum Next {
    /// A message.
    Delivery(Delivery),
    /// Nothing came within the timeout.
    Idle,
    /// The interrupt channel fired (a signal).
    Interrupted,
}

/// A consumer on one queue; dropping it cancels it, [`Consumer::cancel`]
/// does so and reports errors.
pub struct Consumer<'a> {
    inner: amiquip::Consumer<'a>,
    channel: &'a Channel,
    queue: String,
    /// Whether amiquip has said its last word on the delivery receiver.
    finished: Cell<bool>,
}

/// How long to wait for amiquip's cancel notice after the broker's cancel-ok.
const CANCEL_NOTICE_WAIT: Duration = Duration::from_secs(5);

impl Drop for Consumer<'_> {
    fn drop(&mut self) {
        let _ = self.inner.cancel();
        self.await_cancel_notice();
    }
}

impl<'a> Consumer<'a> {
    pub(crate) fn new(inner: amiquip::Consumer<'a>, channel: &'a Channel, queue: &str) -> Self {
        Consumer {
            inner,
            channel,
            queue: queue.to_string(),
            finished: Cell::new(false),
        }
    }

    /// Waits for the next delivery, at most `timeout` (forever when `None`),
    /// and returns early when `interrupt` receives anything.
    pub fn next<T>(
        &self,
        timeout: Option<Duration>,
        interrupt: Option<&Receiver<T>>,
    ) -> Result<Next> {
        let rx = self.inner.receiver();
        let fallback = never();
        let interrupt = interrupt.unwrap_or(&fallback);
        // A backlog (or a poison message redelivered at once) must not hide
        // an interrupt: look at it first.
        if interrupt.try_recv().is_ok() {
            return Ok(Next::Interrupted);
        }
        // Fast path: a delivery already waiting needs no select.
        if let Ok(m) = rx.try_recv() {
            return self.delivery_or_error(m).map(Next::Delivery);
        }
        let message = match timeout {
            Some(t) => select! {
                recv(rx) -> m => m.map_err(|_| RecvTimeoutError::Disconnected),
                recv(interrupt) -> _ => return Ok(Next::Interrupted),
                default(t) => Err(RecvTimeoutError::Timeout),
            },
            None => select! {
                recv(rx) -> m => m.map_err(|_| RecvTimeoutError::Disconnected),
                recv(interrupt) -> _ => return Ok(Next::Interrupted),
            },
        };
        match message {
            Ok(m) => self.delivery_or_error(m).map(Next::Delivery),
            Err(RecvTimeoutError::Timeout) => Ok(Next::Idle),
            Err(RecvTimeoutError::Disconnected) => Err(self.gone()),
        }
    }

    /// Returns a delivery that has already arrived, without waiting.
    pub fn try_next(&self) -> Result<Option<Delivery>> {
        match self.inner.receiver().try_recv() {
            Ok(m) => self.delivery_or_error(m).map(Some),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(self.gone()),
        }
    }

    /// A delivery, or the error a cancel or close notice stands for (which
    /// the channel keeps, so that its next call reports it too).
    fn delivery_or_error(&self, message: ConsumerMessage) -> Result<Delivery> {
        let delivery = classify(message, &self.queue);
        if let Err(e) = &delivery {
            self.channel.note(e);
        }
        delivery
    }

    fn gone(&self) -> AmqpError {
        self.channel.closed_reason()
    }

    /// How many deliveries have arrived and wait to be taken: a consumer
    /// that falls behind the broker lets them pile up.
    pub fn waiting(&self) -> usize {
        self.inner.receiver().len()
    }

    /// The channel this consumer delivers on, for acknowledgements.
    pub fn channel(&self) -> &Channel {
        self.channel
    }

    /// Cancels the consumer; deliveries already received but not acked are
    /// requeued when the channel closes.
    pub fn cancel(self) -> Result<()> {
        self.inner.cancel().map_err(|e| self.channel.explain(e))?;
        self.await_cancel_notice();
        Ok(())
    }

    /// Cancels the consumer and returns, in their order, the deliveries
    /// that arrived before the broker's cancel-ok and were not taken: they
    /// stay unacked on the channel, to be settled like any other (where
    /// [`Consumer::cancel`] leaves them for the channel's close to requeue).
    /// A consumer started again on the same channel, for instance with a
    /// new prefetch, goes on after them.
    pub fn cancel_keeping(self) -> Result<Vec<Delivery>> {
        self.inner.cancel().map_err(|e| self.channel.explain(e))?;
        self.finished.set(true);
        let mut kept = Vec::new();
        loop {
            match self.inner.receiver().recv_timeout(CANCEL_NOTICE_WAIT) {
                Ok(ConsumerMessage::Delivery(d)) => kept.push(Delivery::new(d)),
                Ok(ConsumerMessage::ClientCancelled) | Err(_) => return Ok(kept),
                Ok(other) => return self.delivery_or_error(other).map(|_| kept),
            }
        }
    }

    /// amiquip's I/O thread answers the broker's cancel-ok first to the
    /// waiting `cancel` call, then with a notice on the delivery receiver; if
    /// the receiver is gone by then, the I/O thread dies ("channel client
    /// dropped without being disconnected") and takes the connection with
    /// it. So the receiver lives until that notice (or its disconnection).
    fn await_cancel_notice(&self) {
        if self.finished.replace(true) {
            return;
        }
        loop {
            match self.inner.receiver().recv_timeout(CANCEL_NOTICE_WAIT) {
                Ok(ConsumerMessage::Delivery(_)) => continue,
                _ => return,
            }
        }
    }
}

/// Sorts what amiquip's consumer channel yields: a delivery, or the error a
/// cancel or close of `queue`'s consumer stands for.
fn classify(message: ConsumerMessage, queue: &str) -> Result<Delivery> {
    match message {
        ConsumerMessage::Delivery(d) => Ok(Delivery::new(d)),
        ConsumerMessage::ServerCancelled => Err(AmqpError::ConsumerCancelled {
            queue: queue.to_string(),
        }),
        ConsumerMessage::ServerClosedChannel(e) | ConsumerMessage::ServerClosedConnection(e) => {
            Err(super::error::from_amiquip(e))
        }
        ConsumerMessage::ClientCancelled
        | ConsumerMessage::ClientClosedChannel
        | ConsumerMessage::ClientClosedConnection => Err(AmqpError::Protocol(
            "the consumer was closed by this client".to_string(),
        )),
    }
}
