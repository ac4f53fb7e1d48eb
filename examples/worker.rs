//! Tutorial 2, "Work Queues" (worker): takes one task at a time from the
//! durable queue "task_queue" (prefetch 1), "works" one second per '.' in
//! it, then acknowledges it. Port of pika's `worker.py`.
//!
//! Start one or more `cargo run --example worker` (Ctrl-C to stop, or
//! `-- -n COUNT` to stop after COUNT tasks), then send tasks with
//! `cargo run --example new_task -- Task...`.

#[path = "common/mod.rs"]
mod common;

use std::thread::sleep;
use std::time::Duration;

use amqpctl::amqp::{ConsumerSettings, Next, QueueOptions};

fn main() -> Result<(), common::Failure> {
    let (count, _) = common::count_and_args()?;
    let interrupt = common::ctrl_c()?;
    let (connection, channel) = common::connect()?;

    let durable = QueueOptions {
        durable: true,
        ..Default::default()
    };
    channel.queue_declare("task_queue", &durable)?;
    println!(" [*] Waiting for messages. To exit press CTRL+C");

    channel.basic_qos(1)?;
    let consumer = channel.basic_consume("task_queue", &ConsumerSettings::default())?;

    let mut done = 0;
    while count.is_none_or(|n| done < n) {
        match consumer.next(None, Some(&interrupt))? {
            Next::Delivery(task) => {
                println!(" [x] Received {}", String::from_utf8_lossy(task.body()));
                let dots = task.body().iter().filter(|&&b| b == b'.').count();
                sleep(Duration::from_secs(dots as u64));
                println!(" [x] Done");
                channel.basic_ack(task, false)?;
                done += 1;
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
