//! Tutorial 2, "Work Queues" (producer): sends a task to the durable queue
//! "task_queue" as a persistent message. Port of pika's `new_task.py`.
//!
//! `cargo run --example new_task -- First message...` (each '.' is a
//! second of work for `cargo run --example worker`); with no arguments
//! the task is "Hello World!".

#[path = "common/mod.rs"]
mod common;

use amqpctl::amqp::{Properties, Publish, QueueOptions};

fn main() -> Result<(), common::Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let message = if args.is_empty() {
        "Hello World!".to_string()
    } else {
        args.join(" ")
    };
    let (connection, channel) = common::connect()?;

    let durable = QueueOptions {
        durable: true,
        ..Default::default()
    };
    channel.queue_declare("task_queue", &durable)?;
    let persistent = Properties {
        delivery_mode: Some(2),
        ..Default::default()
    };
    channel.basic_publish(&Publish {
        exchange: "",
        routing_key: "task_queue",
        body: message.as_bytes(),
        properties: &persistent,
        mandatory: false,
    })?;
    println!(" [x] Sent {message}");

    channel.close()?;
    connection.close()?;
    Ok(())
}
