//! Test support: throwaway RabbitMQ nodes, a test PKI and helpers to run `amqpctl`.
// Not every test binary or test uses every helper.
#![allow(dead_code)]

pub mod broker;
pub mod certs;
pub mod process;

use std::sync::atomic::{AtomicUsize, Ordering};

/// A resource name (queue, exchange, ...) unique to this call in this process:
/// `amqpctl.it.<name>.<counter>.<pid>`.
pub fn unique(name: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("amqpctl.it.{name}.{n}.{}", std::process::id())
}
