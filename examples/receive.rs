//! Tutorial 1, "Hello World!" (receiving side): consumes from the queue
//! "hello" with automatic acknowledgement and prints every message. Port of
//! pika's `receive.py`.
//!
//! `cargo run --example receive` runs until Ctrl-C;
//! `cargo run --example receive -- -n 3` stops after three messages.

#[path = "common/mod.rs"]
mod common;

use amqpctl::amqp::{ConsumerSettings, Next, QueueOptions};

fn main() -> Result<(), common::Failure> {
    let (count, _) = common::count_and_args()?;
    let interrupt = common::ctrl_c()?;
    let (connection, channel) = common::connect()?;

    channel.queue_declare("hello", &QueueOptions::default())?;
    let auto_ack = ConsumerSettings {
        no_ack: true,
        ..Default::default()
    };
    let consumer = channel.basic_consume("hello", &auto_ack)?;
    println!(" [*] Waiting for messages. To exit press CTRL+C");

    let mut received = 0;
    while count.is_none_or(|n| received < n) {
        match consumer.next(None, Some(&interrupt))? {
            Next::Delivery(message) => {
                println!(" [x] Received {}", String::from_utf8_lossy(message.body()));
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
