//! A channel with pika `BlockingChannel` semantics: every method waits for
//! the broker's answer, and an error the broker raises on the channel after a
//! publish surfaces on the next call, at the latest on [`Channel::close`].

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crossbeam_channel::Receiver;

use super::confirms::{ConfirmTracker, Confirmation};
use super::connection::{Core, Unblocked};
use super::consumer::{Consumer, ConsumerSettings, Delivery};
use super::error::{AmqpError, Result};
use super::properties::{Properties, to_amqp};
use super::value::to_amqp_table;

/// How often a watched close asks whether to go on waiting.
pub const CLOSE_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// How a watched close ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// The broker confirmed the close.
    Closed,
    /// The caller stopped waiting; the connection should be left to the OS.
    Abandoned,
}

mod topology;
pub use topology::{ExchangeOptions, QueueInfo, QueueOptions};

/// The longest name AMQP 0-9-1 can carry (a short string): queue, exchange
/// and routing key alike.
pub const MAX_SHORT_STRING: usize = 255;

/// One message to publish.
#[derive(Debug, Clone, Copy)]
pub struct Publish<'a> {
    /// Exchange name; `""` is the default exchange.
    pub exchange: &'a str,
    /// Routing key.
    pub routing_key: &'a str,
    /// Body bytes.
    pub body: &'a [u8],
    /// Properties (persistence, headers, …).
    pub properties: &'a Properties,
    /// Return the message if no queue takes it.
    pub mandatory: bool,
}

/// An open channel. Close it with [`Channel::close`] so that no error is lost.
pub struct Channel {
    inner: amiquip::Channel,
    core: Rc<Core>,
    /// Mandatory messages the broker returned. amiquip is asked for them at
    /// the first mandatory publish (only those come back), so that a channel
    /// that never publishes one spares the I/O thread a wake-up; until then
    /// this never receives.
    returns: RefCell<Receiver<amiquip::Return>>,
    listening_for_returns: Cell<bool>,
    confirms: RefCell<Option<ConfirmTracker>>,
    /// The broker's close, once seen: (reply code, reply text).
    closed_by_broker: RefCell<Option<(u16, String)>>,
}

impl Channel {
    pub(crate) fn new(inner: amiquip::Channel, core: Rc<Core>) -> Result<Channel> {
        Ok(Channel {
            inner,
            core,
            returns: RefCell::new(crossbeam_channel::never()),
            listening_for_returns: Cell::new(false),
            confirms: RefCell::new(None),
            closed_by_broker: RefCell::new(None),
        })
    }

    /// Maps an amiquip error raised on this channel. Once the broker has
    /// closed the channel, amiquip only says that its slot is gone; the
    /// broker's reason is then repeated instead.
    pub(crate) fn explain(&self, e: amiquip::Error) -> AmqpError {
        if let Some((code, text)) = self.closed_by_broker.borrow().clone() {
            return AmqpError::ChannelClosed { code, text };
        }
        let error = self.core.explain(e);
        self.note(&error);
        error
    }

    /// Remembers a channel close the broker sent, however it was learnt.
    pub(crate) fn note(&self, error: &AmqpError) {
        if let AmqpError::ChannelClosed { code, text } = error {
            *self.closed_by_broker.borrow_mut() = Some((*code, text.clone()));
        }
    }

    /// Limits unacknowledged deliveries per consumer (`0` for no limit).
    pub fn basic_qos(&self, prefetch_count: u16) -> Result<()> {
        self.inner
            .qos(0, prefetch_count, false)
            .map_err(|e| self.explain(e))
    }

    /// Puts the channel in confirm mode; from then on every publish gets a
    /// sequence number and [`Channel::wait_confirms`] reports its outcome.
    pub fn confirm_delivery(&self) -> Result<()> {
        let rx = self
            .inner
            .listen_for_publisher_confirms()
            .map_err(|e| self.explain(e))?;
        self.inner
            .enable_publisher_confirms()
            .map_err(|e| self.explain(e))?;
        *self.confirms.borrow_mut() = Some(ConfirmTracker::new(rx));
        Ok(())
    }

    /// Why the broker blocks publishing on this connection (connection.blocked,
    /// e.g. a memory or disk alarm), if it does now.
    pub fn blocked_reason(&self) -> Option<String> {
        self.core.blocked_reason()
    }

    /// Waits until the broker unblocks publishing, at most `timeout`,
    /// returning early when `interrupt` receives anything.
    pub fn wait_unblocked<T>(
        &self,
        timeout: Option<std::time::Duration>,
        interrupt: Option<&Receiver<T>>,
    ) -> Unblocked<T> {
        self.core.wait_unblocked(timeout, interrupt)
    }

    /// Whether the channel is in confirm mode.
    pub fn confirms_enabled(&self) -> bool {
        self.confirms.borrow().is_some()
    }

    /// Publishes a message and returns its sequence number (1, 2, …) in
    /// confirm mode, 0 otherwise.
    ///
    /// Outside confirm mode this reports, like pika, what the broker did to
    /// earlier publishes: a channel it closed, or a mandatory message it
    /// returned.
    pub fn basic_publish(&self, message: &Publish<'_>) -> Result<u64> {
        check_name("exchange", message.exchange)?;
        check_name("routing key", message.routing_key)?;
        if !self.confirms_enabled() {
            self.check_returned()?;
        }
        if message.mandatory && !self.listening_for_returns.get() {
            let returns = self
                .inner
                .listen_for_returns()
                .map_err(|e| self.explain(e))?;
            *self.returns.borrow_mut() = returns;
            self.listening_for_returns.set(true);
        }
        let publish = amiquip::Publish {
            body: message.body,
            routing_key: message.routing_key.to_string(),
            mandatory: message.mandatory,
            immediate: false,
            properties: to_amqp(message.properties),
        };
        self.inner
            .basic_publish(message.exchange, publish)
            .map_err(|e| self.explain(e))?;
        Ok(match self.confirms.borrow_mut().as_mut() {
            Some(tracker) => tracker.published(message),
            None => 0,
        })
    }

    /// Publishes and waits for the broker's verdict, like pika's
    /// `basic_publish` on a channel in confirm mode.
    pub fn publish_confirmed(&self, message: &Publish<'_>) -> Result<Confirmation> {
        let seq = self.basic_publish(message)?;
        let mut outcome = Confirmation::Ack;
        self.wait_confirms(0, |s, c| {
            if s == seq {
                outcome = c;
            }
        })?;
        Ok(outcome)
    }

    /// Number of published messages not yet confirmed.
    pub fn unconfirmed(&self) -> usize {
        self.confirms
            .borrow()
            .as_ref()
            .map_or(0, ConfirmTracker::outstanding)
    }

    /// Waits until at most `max_outstanding` publishes are unconfirmed, calling
    /// `on_confirm(seq, outcome)` for each settled one, in publish order.
    pub fn wait_confirms(
        &self,
        max_outstanding: usize,
        on_confirm: impl FnMut(u64, Confirmation),
    ) -> Result<()> {
        self.wait_confirms_until(max_outstanding, None, on_confirm)
            .map(drop)
    }

    /// Like [`Channel::wait_confirms`], but gives up at `deadline`: returns
    /// whether at most `max_outstanding` publishes are unconfirmed now.
    pub fn wait_confirms_until(
        &self,
        max_outstanding: usize,
        deadline: Option<std::time::Instant>,
        on_confirm: impl FnMut(u64, Confirmation),
    ) -> Result<bool> {
        let mut confirms = self.confirms.borrow_mut();
        let Some(tracker) = confirms.as_mut() else {
            return Ok(true);
        };
        let waited = tracker.wait(
            max_outstanding,
            deadline,
            &self.returns.borrow(),
            on_confirm,
        );
        drop(confirms);
        waited.map_err(|()| self.closed_reason())
    }

    /// Like [`Channel::wait_confirms`], but only settles what has already
    /// arrived; never blocks.
    pub fn poll_confirms(&self, on_confirm: impl FnMut(u64, Confirmation)) -> Result<()> {
        let mut confirms = self.confirms.borrow_mut();
        let Some(tracker) = confirms.as_mut() else {
            return Ok(());
        };
        let polled = tracker.poll(&self.returns.borrow(), on_confirm);
        drop(confirms);
        polled.map_err(|()| self.closed_reason())
    }

    /// Fetches one message, or `None` when the queue is empty; the second
    /// value is how many messages remain.
    pub fn basic_get(&self, queue: &str, no_ack: bool) -> Result<Option<(Delivery, u32)>> {
        Ok(self
            .inner
            .basic_get(queue, no_ack)
            .map_err(|e| self.explain(e))?
            .map(|get| (Delivery::new(get.delivery), get.message_count)))
    }

    /// Starts a consumer on `queue`.
    pub fn basic_consume(&self, queue: &str, settings: &ConsumerSettings) -> Result<Consumer<'_>> {
        let consumer = self
            .inner
            .basic_consume(
                queue,
                amiquip::ConsumerOptions {
                    no_local: false,
                    no_ack: settings.no_ack,
                    exclusive: settings.exclusive,
                    arguments: to_amqp_table(&settings.arguments),
                },
            )
            .map_err(|e| self.explain(e))?;
        Ok(Consumer::new(consumer, self, queue))
    }

    /// Acknowledges one delivery (with `multiple`, every earlier one too).
    pub fn basic_ack(&self, delivery: Delivery, multiple: bool) -> Result<()> {
        let inner = delivery.into_inner();
        if multiple {
            inner.ack_multiple(&self.inner)
        } else {
            inner.ack(&self.inner)
        }
        .map_err(|e| self.explain(e))
    }

    /// Negatively acknowledges one delivery (with `multiple`, every earlier
    /// one too), requeueing or dropping (dead-lettering) it.
    pub fn basic_nack(&self, delivery: Delivery, multiple: bool, requeue: bool) -> Result<()> {
        let inner = delivery.into_inner();
        if multiple {
            inner.nack_multiple(&self.inner, requeue)
        } else {
            inner.nack(&self.inner, requeue)
        }
        .map_err(|e| self.explain(e))
    }

    /// Rejects one delivery, requeueing or dropping (dead-lettering) it.
    pub fn basic_reject(&self, delivery: Delivery, requeue: bool) -> Result<()> {
        delivery
            .into_inner()
            .reject(&self.inner, requeue)
            .map_err(|e| self.explain(e))
    }

    /// Closes the channel, returning the broker's error if it had closed the
    /// channel first (and that was not reported yet), or the return of a
    /// mandatory message published outside confirm mode.
    pub fn close(self) -> Result<()> {
        if self.closed_by_broker.borrow().is_some() {
            return Ok(());
        }
        let Channel {
            inner,
            core,
            returns,
            confirms,
            ..
        } = self;
        inner.close().map_err(|e| core.explain(e))?;
        returned_after_close(&confirms, &returns.into_inner())
    }

    /// Like [`Channel::close`], but asks `keep_waiting` every
    /// [`CLOSE_POLL`] whether to go on waiting for the broker's close-ok,
    /// telling it why the broker blocks publishing if it does: a broker under
    /// a resource alarm reads nothing from a connection that published, so
    /// its close-ok only comes once the alarm clears.
    pub fn close_watching(
        self,
        mut keep_waiting: impl FnMut(Option<String>) -> bool,
    ) -> Result<Closing> {
        if self.closed_by_broker.borrow().is_some() {
            return Ok(Closing::Closed);
        }
        let Channel {
            mut inner,
            core,
            returns,
            confirms,
            ..
        } = self;
        // On this thread: amiquip asks after each CLOSE_POLL without a
        // close-ok (vendor/amiquip/PATCHES.md, change 10).
        let closed = inner.close_watching(CLOSE_POLL, || keep_waiting(core.blocked_reason()));
        match closed {
            Ok(true) => {}
            // Dropping it would end the I/O loop under a close still
            // pending: it is left to the OS with the connection.
            Ok(false) => {
                std::mem::forget(inner);
                return Ok(Closing::Abandoned);
            }
            Err(e) => return Err(core.explain(e)),
        }
        returned_after_close(&confirms, &returns.into_inner()).map(|()| Closing::Closed)
    }

    /// Outside confirm mode, reports a mandatory message the broker returned
    /// (the next publish and `close` check this too).
    pub fn check_returned(&self) -> Result<()> {
        match self.returns.borrow().try_recv() {
            Ok(r) => Err(returned(r)),
            Err(_) => Ok(()),
        }
    }

    /// Why the channel stopped answering: asks amiquip, which then reports
    /// the close the broker sent (or the connection's end).
    pub(crate) fn closed_reason(&self) -> AmqpError {
        match self.inner.listen_for_publisher_confirms() {
            Err(e) => self.explain(e),
            Ok(_) => AmqpError::Protocol("publisher confirms stopped arriving".to_string()),
        }
    }
}

/// Outside confirm mode, a mandatory message returned before the close is
/// the close's error (in confirm mode its publish already reported it).
fn returned_after_close(
    confirms: &RefCell<Option<ConfirmTracker>>,
    returns: &Receiver<amiquip::Return>,
) -> Result<()> {
    if confirms.borrow().is_none()
        && let Ok(r) = returns.try_recv()
    {
        return Err(returned(r));
    }
    Ok(())
}

pub(crate) fn returned(r: amiquip::Return) -> AmqpError {
    AmqpError::Returned {
        code: r.reply_code,
        text: r.reply_text,
    }
}

/// Refuses a name too long for an AMQP short string, before it is sent.
fn check_name(what: &str, name: &str) -> Result<()> {
    if name.len() > MAX_SHORT_STRING {
        return Err(AmqpError::Invalid(format!(
            "{what} is {} bytes long; AMQP allows at most {MAX_SHORT_STRING}",
            name.len()
        )));
    }
    Ok(())
}
