//! Tutorial 3, "Publish/Subscribe" (publisher): broadcasts a log message on
//! the fanout exchange "logs". Port of pika's `emit_log.py`.
//!
//! Start `cargo run --example receive_logs` (as many as you like), then
//! `cargo run --example emit_log -- some message`; with no arguments the
//! message is "info: Hello World!".

#[path = "common/mod.rs"]
mod common;

use amqpctl::amqp::{ExchangeOptions, Properties, Publish};

fn main() -> Result<(), common::Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let message = if args.is_empty() {
        "info: Hello World!".to_string()
    } else {
        args.join(" ")
    };
    let (connection, channel) = common::connect()?;

    channel.exchange_declare("logs", "fanout", &ExchangeOptions::default())?;
    channel.basic_publish(&Publish {
        exchange: "logs",
        routing_key: "",
        body: message.as_bytes(),
        properties: &Properties::default(),
        mandatory: false,
    })?;
    println!(" [x] Sent {message}");

    channel.close()?;
    connection.close()?;
    Ok(())
}
