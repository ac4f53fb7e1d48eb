//! The instance's line to the others, on a connection and thread of its
//! own: it declares the run's control exchange (fanout, deleted with its
//! last queue) and a private queue bound to it, holds the start barrier,
//! then sends the engine's intervals and the instance's end, and hears what
//! every instance sends, its own included, until the run is settled.

use std::collections::HashMap;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender, TryRecvError};

use super::DistSpec;
use super::wire::{Wire, encode};
use crate::cmd::broker::ConnectSpec;
use crate::cmd::perf::engine::worker_connect;
use crate::cmd::perf::report::Interval;
use crate::error::Error;
use amqpctl::amqp::{
    Channel, Consumer, ConsumerSettings, ExchangeOptions, Next, Properties, Publish, QueueOptions,
    Table,
};

/// How often an instance says hello while it waits at the barrier.
const HELLO_EVERY: Duration = Duration::from_millis(250);

/// How long the courier waits for a message before it looks at its
/// outgoing channels again.
const POLL: Duration = Duration::from_millis(50);

/// An instance not heard from for this long, without having sent its end,
/// died (the living send an interval a second).
pub const DEAD_AFTER: Duration = Duration::from_secs(6);

/// The control exchange of run `id`.
pub fn exchange(id: &str) -> String {
    format!("amqpctl.perf.{id}")
}

/// What the courier heard.
#[derive(Default)]
pub struct Heard {
    /// Every instance met, in the order met.
    pub roster: Vec<String>,
    /// Those that run no workers.
    pub collectors: Vec<String>,
    /// When each was last heard from.
    pub last: HashMap<String, Instant>,
    /// Each one's intervals, in order.
    pub intervals: HashMap<String, Vec<Wire>>,
    /// Each one's end.
    pub finals: HashMap<String, Wire>,
}

impl Heard {
    fn take(&mut self, body: &[u8]) {
        let Ok(wire) = serde_json::from_slice::<Wire>(body) else {
            log::warn!("a control message that is not a perf instance's was ignored");
            return;
        };
        let who = wire.instance().to_string();
        if !self.roster.contains(&who) {
            self.roster.push(who.clone());
        }
        self.last.insert(who.clone(), Instant::now());
        match wire {
            Wire::Hello { collect: true, .. } if !self.collectors.contains(&who) => {
                self.collectors.push(who);
            }
            Wire::Hello { .. } => {}
            Wire::Interval { .. } => self.intervals.entry(who).or_default().push(wire),
            Wire::Final { .. } => {
                self.finals.insert(who, wire);
            }
        }
    }

    /// The workers' instances that stopped reporting before their end.
    pub fn dead(&self) -> Vec<String> {
        self.workers()
            .filter(|w| !self.finals.contains_key(*w))
            .filter(|w| self.last.get(*w).is_none_or(|t| t.elapsed() >= DEAD_AFTER))
            .cloned()
            .collect()
    }

    /// The instances that run workers.
    pub fn workers(&self) -> impl Iterator<Item = &String> {
        self.roster.iter().filter(|w| !self.collectors.contains(w))
    }

    /// Whether every worker instance has ended or died.
    fn settled(&self) -> bool {
        let dead = self.dead();
        self.workers()
            .all(|w| self.finals.contains_key(w) || dead.contains(w))
    }
}

/// The courier's thread and what the engine hands it.
pub struct Courier {
    /// The engine's intervals.
    pub taps: Sender<Interval>,
    /// The instance's end.
    pub done: Sender<Wire>,
    thread: JoinHandle<Result<Heard, Error>>,
}

impl Courier {
    /// Starts the courier and waits at the barrier: the roster once every
    /// instance met, or the barrier's error.
    pub fn start(
        connect: &ConnectSpec,
        spec: &DistSpec,
        me: &str,
    ) -> Result<(Courier, Vec<String>), Error> {
        let (taps, taps_rx) = crossbeam_channel::unbounded();
        let (done, done_rx) = crossbeam_channel::bounded(1);
        let (met_tx, met) = crossbeam_channel::bounded(1);
        let line = Line {
            spec: spec.clone(),
            me: me.to_string(),
            base: SystemTime::now(),
        };
        let connect = worker_connect(connect, "courier");
        let thread = std::thread::Builder::new()
            .name("perf-courier".to_string())
            .spawn(move || {
                let (connection, channel) = crate::cmd::broker::connect(&connect)?;
                let heard = line.run(&channel, &met_tx, &taps_rx, &done_rx);
                let closed = channel.close();
                let disconnected = connection.close();
                let heard = heard?;
                closed?;
                disconnected?;
                Ok(heard)
            })
            .map_err(|e| Error::io("starting the perf courier thread", e))?;
        let courier = Courier { taps, done, thread };
        match met.recv() {
            Ok(roster) => Ok((courier, roster)),
            // The thread ended before the barrier passed: its error.
            Err(_) => Err(courier.finish().err().unwrap_or_else(gone)),
        }
    }

    /// Waits until the courier has sent the end and, for a report, heard
    /// every instance's (or their death).
    pub fn finish(self) -> Result<Heard, Error> {
        drop(self.taps);
        drop(self.done);
        self.thread.join().unwrap_or_else(|_| Err(gone()))
    }
}

fn gone() -> Error {
    Error::io(
        "the perf courier",
        std::io::Error::other("its thread ended early"),
    )
}

/// The courier's work, on its thread.
struct Line {
    spec: DistSpec,
    me: String,
    base: SystemTime,
}

impl Line {
    fn run(
        &self,
        channel: &Channel,
        met: &Sender<Vec<String>>,
        taps: &Receiver<Interval>,
        done: &Receiver<Wire>,
    ) -> Result<Heard, Error> {
        let exchange = exchange(&self.spec.run_id);
        let auto_delete = ExchangeOptions {
            auto_delete: true,
            ..ExchangeOptions::default()
        };
        channel.exchange_declare(&exchange, "fanout", &auto_delete)?;
        let private = QueueOptions {
            exclusive: true,
            auto_delete: true,
            ..QueueOptions::default()
        };
        let queue = channel.queue_declare("", &private)?.name;
        channel.queue_bind(&queue, &exchange, "", &Table::new())?;
        let no_ack = ConsumerSettings {
            no_ack: true,
            ..ConsumerSettings::default()
        };
        let consumer = channel.basic_consume(&queue, &no_ack)?;
        let mut heard = Heard::default();
        self.barrier(channel, &consumer, &mut heard)?;
        let _ = met.send(heard.roster.clone());
        self.relay(channel, &consumer, &mut heard, taps, done)?;
        consumer.cancel()?;
        Ok(heard)
    }

    fn send(&self, channel: &Channel, wire: &Wire) -> Result<(), Error> {
        let body = serde_json::to_vec(wire)
            .map_err(|e| Error::io("writing a control message", std::io::Error::other(e)))?;
        channel.basic_publish(&Publish {
            exchange: &exchange(&self.spec.run_id),
            routing_key: "",
            body: &body,
            properties: &Properties {
                content_type: Some("application/json".to_string()),
                ..Properties::default()
            },
            mandatory: false,
        })?;
        Ok(())
    }

    /// Says hello until every instance has, then once more: whoever
    /// passed has heard everyone, so everyone's queue is bound and hears
    /// that last hello.
    fn barrier(
        &self,
        channel: &Channel,
        consumer: &Consumer<'_>,
        heard: &mut Heard,
    ) -> Result<(), Error> {
        let hello = Wire::Hello {
            instance: self.me.clone(),
            collect: self.spec.collect,
        };
        let started = Instant::now();
        let mut next = started;
        while heard.roster.len() < self.spec.instances as usize {
            if started.elapsed() >= self.spec.barrier_timeout {
                return Err(Error::PerfBarrier {
                    run: self.spec.run_id.clone(),
                    met: heard.roster.len(),
                    expected: self.spec.instances,
                    secs: self.spec.barrier_timeout.as_secs_f64(),
                    names: heard.roster.join(", "),
                });
            }
            if Instant::now() >= next {
                self.send(channel, &hello)?;
                next += HELLO_EVERY;
            }
            if let Next::Delivery(d) = consumer.next(Some(POLL), None::<&Receiver<()>>)? {
                heard.take(d.body());
            }
        }
        self.send(channel, &hello)
    }

    /// Sends the intervals and the end; a report hears on until settled.
    fn relay(
        &self,
        channel: &Channel,
        consumer: &Consumer<'_>,
        heard: &mut Heard,
        taps: &Receiver<Interval>,
        done: &Receiver<Wire>,
    ) -> Result<(), Error> {
        let report = self.spec.report || self.spec.collect;
        let mut ended = self.spec.collect;
        loop {
            while let Ok(interval) = taps.try_recv() {
                self.send(channel, &self.interval(&interval))?;
            }
            match done.try_recv() {
                Ok(end) => {
                    self.send(channel, &end)?;
                    ended = true;
                }
                // The engine failed: nothing more will come.
                Err(TryRecvError::Disconnected) if !ended => return Ok(()),
                Err(_) => {}
            }
            if ended && (!report || heard.settled()) {
                return Ok(());
            }
            if let Next::Delivery(d) = consumer.next(Some(POLL), None::<&Receiver<()>>)? {
                heard.take(d.body());
            }
        }
    }

    fn interval(&self, i: &Interval) -> Wire {
        let sum = |v: &[f64]| v.iter().sum::<f64>();
        let s = &i.second;
        let length = s.length.max(0.0);
        Wire::Interval {
            instance: self.me.clone(),
            at: s.at,
            rates: [sum(&s.sent), sum(&s.confirmed), sum(&s.received)],
            counts: i.counts,
            log: encode(
                &i.confirm,
                &i.e2e,
                self.base,
                Duration::from_secs_f64((s.at - length).max(0.0)),
                Duration::from_secs_f64(length),
            ),
        }
    }
}
