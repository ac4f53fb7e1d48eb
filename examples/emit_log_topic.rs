//! Tutorial 5, "Topics" (publisher): publishes a log message on the topic
//! exchange "topic_logs" under a `<facility>.<severity>` routing key. Port
//! of pika's `emit_log_topic.py`.
//!
//! `cargo run --example emit_log_topic -- kern.critical "A critical kernel error"`;
//! the routing key defaults to "anonymous.info" and the message to
//! "Hello World!".

#[path = "common/mod.rs"]
mod common;

use amqpctl::amqp::{ExchangeOptions, Properties, Publish};

fn main() -> Result<(), common::Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let routing_key = args.first().map_or("anonymous.info", String::as_str);
    let message = if args.len() > 1 {
        args[1..].join(" ")
    } else {
        "Hello World!".to_string()
    };
    let (connection, channel) = common::connect()?;

    channel.exchange_declare("topic_logs", "topic", &ExchangeOptions::default())?;
    channel.basic_publish(&Publish {
        exchange: "topic_logs",
        routing_key,
        body: message.as_bytes(),
        properties: &Properties::default(),
        mandatory: false,
    })?;
    println!(" [x] Sent {routing_key}:{message}");

    channel.close()?;
    connection.close()?;
    Ok(())
}
