//! Tutorial 4, "Routing" (subscriber): binds an exclusive, server-named queue
//! to the direct exchange "direct_logs" once per severity given and prints
//! the messages that arrive. Port of pika's `receive_logs_direct.py`.
//!
//! `cargo run --example receive_logs_direct -- warning error` runs until
//! Ctrl-C; a leading `-n COUNT` stops it after COUNT messages.

#[path = "common/mod.rs"]
mod common;

use amqpctl::amqp::{ConsumerSettings, ExchangeOptions, Next, QueueOptions, Table};

fn main() -> Result<(), common::Failure> {
    let (count, severities) = common::count_and_args()?;
    if severities.is_empty() {
        eprintln!("Usage: receive_logs_direct [-n COUNT] [info] [warning] [error]");
        std::process::exit(1);
    }
    let interrupt = common::ctrl_c()?;
    let (connection, channel) = common::connect()?;

    channel.exchange_declare("direct_logs", "direct", &ExchangeOptions::default())?;
    let exclusive = QueueOptions {
        exclusive: true,
        ..Default::default()
    };
    let queue = channel.queue_declare("", &exclusive)?.name;
    for severity in &severities {
        channel.queue_bind(&queue, "direct_logs", severity, &Table::new())?;
    }
    println!(" [*] Waiting for logs. To exit press CTRL+C");

    let auto_ack = ConsumerSettings {
        no_ack: true,
        ..Default::default()
    };
    let consumer = channel.basic_consume(&queue, &auto_ack)?;
    let mut received = 0;
    while count.is_none_or(|n| received < n) {
        match consumer.next(None, Some(&interrupt))? {
            Next::Delivery(message) => {
                let body = String::from_utf8_lossy(message.body());
                println!(" [x] {}:{body}", message.routing_key());
                received += 1;
            }
            Next::Interrupted => {
                println!("Interrupted");
                break;
            }
            Next::Idle => {}
        }
    }

    consumer.cancel()?;
    channel.close()?;
    connection.close()?;
    Ok(())
}
