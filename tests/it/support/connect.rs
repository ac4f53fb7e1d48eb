//! Connection settings for the library's own tests (and the support code that looks at
//! the broker through it): guest on `/`, over plain AMQP or TLS.

use std::time::Duration;

use amqpctl::amqp::{Channel, Connection, ConnectionSettings, Credentials, Endpoint, QueueOptions};
use amqpctl::tls::{TlsSettings, Trust};

use super::broker::Broker;

/// guest on `/` over plain AMQP.
pub fn plain(b: &Broker) -> ConnectionSettings {
    guest(vec![Endpoint {
        host: "127.0.0.1".into(),
        port: b.amqp_port(),
    }])
}

/// guest on `/` over plain AMQP to `endpoints`, tried in order.
pub fn guest(endpoints: Vec<Endpoint>) -> ConnectionSettings {
    ConnectionSettings {
        endpoints,
        vhost: "/".into(),
        credentials: Credentials::Plain {
            username: "guest".into(),
            password: "guest".into(),
        },
        heartbeat: 60,
        connect_timeout: Duration::from_secs(10),
        connection_name: None,
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
#[track_caller]
pub fn open(settings: &ConnectionSettings) -> (Connection, Channel) {
    let conn = Connection::open(settings).expect("connect");
    let ch = conn.channel().expect("channel");
    (conn, ch)
}

/// Declares an exclusive queue named `unique(name)` on `ch`; returns its name.
#[track_caller]
pub fn exclusive_queue(ch: &Channel, name: &str) -> String {
    let q = super::unique(name);
    let exclusive = QueueOptions {
        exclusive: true,
        ..QueueOptions::default()
    };
    ch.queue_declare(&q, &exclusive)
        .expect("declare an exclusive queue");
    q
}
