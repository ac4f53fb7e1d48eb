//! The lapin side of scripts/bench: what amqpctl is compared with, on the same three
//! paths as the pika and amqplib peers, each the library's fastest idiomatic way.
//!
//!     lapin-peer publish PORT QUEUE N TEXT          basic_publish N times, no confirms,
//!                                                   1000 publishes in flight at a time
//!     lapin-peer confirm PORT QUEUE N TEXT WINDOW   confirm_select, WINDOW publishes in
//!                                                   flight, then wait_for_confirms
//!     lapin-peer consume PORT QUEUE N PREFETCH OUT  basic_qos(PREFETCH), basic_consume,
//!                                                   one multiple ack every PREFETCH/2,
//!                                                   stop after N
//!
//! Bodies are `I:TEXT` for I = 1..N, as `amqpctl pub --nb-messages N -m TEXT` sends
//! them. The consumer writes `Received: BODY` lines to OUT, as `amqpctl con` does.
//! Runs on tokio's current-thread runtime (one thread, like amqpctl's two-thread
//! blocking layer it is the cheapest on two shared cores; the multi-thread runtime
//! was not faster here).

use std::io::{BufWriter, Write};
use std::process;

use futures_lite::StreamExt;
use futures_util::future::join_all;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

/// Publishes in flight at once without confirms.
const PUBLISH_BATCH: u64 = 1000;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn usage() -> ! {
    eprintln!("usage: lapin-peer publish|confirm|consume PORT QUEUE N ...");
    process::exit(2)
}

fn arg<'a>(args: &'a [String], i: usize) -> &'a str {
    args.get(i).map(String::as_str).unwrap_or_else(|| usage())
}

fn num(args: &[String], i: usize) -> u64 {
    arg(args, i).parse().unwrap_or_else(|_| usage())
}

async fn connect(port: &str) -> Res<(Connection, Channel)> {
    let uri = format!("amqp://guest:guest@127.0.0.1:{port}/%2f");
    let conn = Connection::connect(&uri, ConnectionProperties::default()).await?;
    let ch = conn.create_channel().await?;
    Ok((conn, ch))
}

async fn publish(port: &str, queue: &str, n: u64, text: &str, window: Option<u64>) -> Res<()> {
    let (conn, ch) = connect(port).await?;
    if window.is_some() {
        ch.confirm_select(ConfirmSelectOptions::default()).await?;
    }
    // basic_publish resolves once lapin's I/O loop has written the frames: awaited one
    // at a time, every message costs a wake-up and a write. A batch of them in flight
    // at once (join_all) lets the loop write many per wake-up: lapin's fastest way.
    let batch = window.unwrap_or(PUBLISH_BATCH);
    let mut i = 1;
    while i <= n {
        let last = (i + batch - 1).min(n);
        let bodies: Vec<Vec<u8>> = (i..=last)
            .map(|k| format!("{k}:{text}").into_bytes())
            .collect();
        let sent = join_all(bodies.iter().map(|body| {
            ch.basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default(),
            )
        }))
        .await;
        for confirm in sent {
            // The PublisherConfirm is dropped: without confirms it resolves to
            // NotRequested; with them, wait_for_confirms settles the whole batch.
            confirm?;
        }
        if window.is_some() {
            let returned = ch.wait_for_confirms().await?;
            if !returned.is_empty() {
                return Err(format!("{} messages returned", returned.len()).into());
            }
        }
        i = last + 1;
    }
    conn.close(200, "OK".into()).await?;
    Ok(())
}

async fn consume(port: &str, queue: &str, n: u64, prefetch: u16, out_path: &str) -> Res<()> {
    let (conn, ch) = connect(port).await?;
    ch.basic_qos(prefetch, BasicQosOptions::default()).await?;
    let mut consumer = ch
        .basic_consume(
            queue.into(),
            "lapin-peer".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut out = BufWriter::with_capacity(1 << 16, std::fs::File::create(out_path)?);
    let every = u64::from((prefetch / 2).max(1));
    let mut got = 0u64;
    while let Some(delivery) = consumer.next().await {
        let delivery = delivery?;
        out.write_all(b"Received: ")?;
        out.write_all(&delivery.data)?;
        out.write_all(b"\n")?;
        got += 1;
        if got % every == 0 || got == n {
            out.flush()?;
            ch.basic_ack(delivery.delivery_tag, BasicAckOptions { multiple: true })
                .await?;
        }
        if got >= n {
            break;
        }
    }
    out.flush()?;
    conn.close(200, "OK".into()).await?;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port = arg(&args, 2).to_owned();
    let queue = arg(&args, 3).to_owned();
    let n = num(&args, 4);
    let res = match arg(&args, 1) {
        "publish" => publish(&port, &queue, n, arg(&args, 5), None).await,
        "confirm" => publish(&port, &queue, n, arg(&args, 5), Some(num(&args, 6).max(1))).await,
        "consume" => {
            let prefetch = u16::try_from(num(&args, 5)).unwrap_or_else(|_| usage());
            consume(&port, &queue, n, prefetch, arg(&args, 6)).await
        }
        _ => usage(),
    };
    if let Err(e) = res {
        eprintln!("lapin-peer: {e}");
        process::exit(1);
    }
}
