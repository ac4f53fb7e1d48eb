//! Tutorial 5, "Topics" (subscriber): binds an exclusive, server-named queue
//! to the topic exchange "topic_logs" once per binding key given (`*` is one
//! word, `#` zero or more) and prints the messages that arrive. Port of
//! pika's `receive_logs_topic.py`.
//!
//! `cargo run --example receive_logs_topic -- "kern.*" "*.critical"` runs
//! until Ctrl-C; a leading `-n COUNT` stops it after COUNT messages.

#[path = "common/mod.rs"]
mod common;

use amqpctl::amqp::{ConsumerSettings, ExchangeOptions, Next, QueueOptions, Table};

fn main() -> Result<(), common::Failure> {
    let (count, binding_keys) = common::count_and_args()?;
    if binding_keys.is_empty() {
        eprintln!("Usage: receive_logs_topic [-n COUNT] [binding_key]...");
        std::process::exit(1);
    }
    let interrupt = common::ctrl_c()?;
    let (connection, channel) = common::connect()?;

    channel.exchange_declare("topic_logs", "topic", &ExchangeOptions::default())?;
    let exclusive = QueueOptions {
        exclusive: true,
        ..Default::default()
    };
    let queue = channel.queue_declare("", &exclusive)?.name;
    for binding_key in &binding_keys {
        channel.queue_bind(&queue, "topic_logs", binding_key, &Table::new())?;
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
