//! Tutorial 4, "Routing" (publisher): publishes a log message on the direct
//! exchange "direct_logs" with its severity as routing key. Port of pika's
//! `emit_log_direct.py`.
//!
//! `cargo run --example emit_log_direct -- error "Run. Run. Or it will explode."`;
//! the severity defaults to "info" and the message to "Hello World!".

#[path = "common/mod.rs"]
mod common;

use amqpctl::amqp::{ExchangeOptions, Properties, Publish};

fn main() -> Result<(), common::Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let severity = args.first().map_or("info", String::as_str);
    let message = if args.len() > 1 {
        args[1..].join(" ")
    } else {
        "Hello World!".to_string()
    };
    let (connection, channel) = common::connect()?;

    channel.exchange_declare("direct_logs", "direct", &ExchangeOptions::default())?;
    channel.basic_publish(&Publish {
        exchange: "direct_logs",
        routing_key: severity,
        body: message.as_bytes(),
        properties: &Properties::default(),
        mandatory: false,
    })?;
    println!(" [x] Sent {severity}:{message}");

    channel.close()?;
    connection.close()?;
    Ok(())
}
