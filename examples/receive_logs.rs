//! Tutorial 3, "Publish/Subscribe" (subscriber): binds an exclusive,
//! server-named queue to the fanout exchange "logs" and prints every log
//! message. Port of pika's `receive_logs.py`.
//!
//! `cargo run --example receive_logs` runs until Ctrl-C;
//! `cargo run --example receive_logs -- -n 3` stops after three messages.

#[path = "common/mod.rs"]
mod common;

use amqpctl::amqp::{ConsumerSettings, ExchangeOptions, Next, QueueOptions, Table};

fn main() -> Result<(), common::Failure> {
    let (count, _) = common::count_and_args()?;
    let interrupt = common::ctrl_c()?;
    let (connection, channel) = common::connect()?;

    channel.exchange_declare("logs", "fanout", &ExchangeOptions::default())?;
    let exclusive = QueueOptions {
        exclusive: true,
        ..Default::default()
    };
    let queue = channel.queue_declare("", &exclusive)?.name;
    channel.queue_bind(&queue, "logs", "", &Table::new())?;
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
                println!(" [x] {}", String::from_utf8_lossy(message.body()));
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
