//! Connection settings and command lines aimed at the throwaway node, shared
//! by the layer tests and the command-line tests.

#![allow(dead_code)]

use std::time::Duration;

use amqpctl::amqp::{Channel, Connection, ConnectionSettings, Credentials, Endpoint};
use amqpctl::tls::{TlsSettings, Trust};

use crate::support::broker::Broker;

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
