//! Connection settings and command lines aimed at the throwaway node, shared
//! by the layer tests and the command-line tests.

#![allow(dead_code)]

use std::time::Duration;

use std::process::Output;

use amqpctl::amqp::{Channel, Connection, ConnectionSettings, Credentials, Endpoint, QueueOptions};
use amqpctl::tls::{TlsSettings, Trust};

use crate::support::broker::Broker;
use crate::support::process::{run, run_with_stdin};

/// The shared node.
pub fn broker() -> &'static Broker {
    Broker::shared()
}

/// guest on `/` over plain AMQP.
pub fn plain(b: &Broker) -> ConnectionSettings {
    ConnectionSettings {
        endpoints: vec![Endpoint {
            host: "127.0.0.1".into(),
            port: b.amqp_port(),
        }],
        vhost: "/".into(),
        credentials: Credentials::Plain {
            username: "guest".into(),
            password: "guest".into(),
        },
        heartbeat: 60,
        connect_timeout: Duration::from_secs(10),
        tls: None,
        connection_name: None,
    }
}

/// guest on `/` over TLS to `localhost`, trusting `trust`.
pub fn tls(b: &Broker, trust: Trust) -> ConnectionSettings {
    ConnectionSettings {
        endpoints: vec![Endpoint {
            host: "localhost".into(),
            port: b.amqps_port(),
        }],
        tls: Some(TlsSettings {
            trust,
            server_name: None,
            identity: None,
        }),
        ..plain(b)
    }
}

/// Opens a connection and a channel with `settings`.
pub fn open(settings: &ConnectionSettings) -> (Connection, Channel) {
    let conn = Connection::open(settings).expect("connect");
    let ch = conn.channel().expect("channel");
    (conn, ch)
}

/// `amqpctl` connection flags for the shared node's plain listener.
pub fn port_args(b: &Broker) -> Vec<String> {
    vec![
        "--server".into(),
        "127.0.0.1".into(),
        "--port-number".into(),
        b.amqp_port().to_string(),
    ]
}

/// Builds an argument vector: the node's connection flags, then `args`.
pub fn with_port(b: &Broker, args: &[&str]) -> Vec<String> {
    let mut all = port_args(b);
    all.extend(args.iter().map(|s| s.to_string()));
    all
}

/// `&[String]` as `Vec<&str>` for the process helpers.
pub fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Runs amqpctl against `b`'s plain listener.
pub fn amqpctl_on(b: &Broker, args: &[&str]) -> Output {
    run(&strs(&with_port(b, args)))
}

/// Runs amqpctl against the shared node.
pub fn amqpctl(args: &[&str]) -> Output {
    amqpctl_on(broker(), args)
}

/// Runs amqpctl against the shared node with `stdin` as its input.
pub fn amqpctl_stdin(args: &[&str], stdin: &[u8]) -> Output {
    run_with_stdin(&strs(&with_port(broker(), args)), stdin)
}

/// Declares a durable queue on `b` with amqpctl itself.
pub fn durable_queue(b: &Broker, queue: &str) {
    let out = amqpctl_on(b, &["declare", "queue", queue, "--durable"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// Ready messages in `queue` on `b`, as a passive declare reports them.
pub fn messages(b: &Broker, queue: &str) -> u32 {
    let (conn, ch) = open(&plain(b));
    let passive = QueueOptions {
        passive: true,
        ..QueueOptions::default()
    };
    let n = ch
        .queue_declare(queue, &passive)
        .expect("queue exists")
        .messages;
    ch.close().unwrap();
    conn.close().unwrap();
    n
}

/// Takes every message out of `queue` on `b`; returns the bodies in order.
pub fn drain(b: &Broker, queue: &str) -> Vec<Vec<u8>> {
    let (conn, ch) = open(&plain(b));
    let mut bodies = Vec::new();
    while let Some((d, _)) = ch.basic_get(queue, true).unwrap() {
        bodies.push(d.body().to_vec());
    }
    ch.close().unwrap();
    conn.close().unwrap();
    bodies
}

/// Deletes `queue` on `b` if it exists.
pub fn delete_queue(b: &Broker, queue: &str) {
    let (conn, ch) = open(&plain(b));
    let _ = ch.queue_delete(queue, false, false);
    let _ = ch.close();
    conn.close().unwrap();
}
