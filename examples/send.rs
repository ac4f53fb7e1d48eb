//! Tutorial 1, "Hello World!" (sending side): publishes one message to the
//! queue "hello" through the default exchange. Port of pika's `send.py`.
//!
//! Run `cargo run --example receive` in one terminal, then
//! `cargo run --example send` in another. Set `AMQP_PORT` for another port.

#[path = "common/mod.rs"]
mod common;

use amqpctl::amqp::{Properties, Publish, QueueOptions};

fn main() -> Result<(), common::Failure> {
    let (connection, channel) = common::connect()?;

    channel.queue_declare("hello", &QueueOptions::default())?;
    channel.basic_publish(&Publish {
        exchange: "",
        routing_key: "hello",
        body: b"Hello World!",
        properties: &Properties::default(),
        mandatory: false,
    })?;
    println!(" [x] Sent 'Hello World!'");

    channel.close()?;
    connection.close()?;
    Ok(())
}
