//! TLS against the node's TLS listener: trust by --cafile, refusal of an
//! unknown CA and of a wrong name, mutual TLS with SASL EXTERNAL, --insecure,
//! and the stream adapter under load (a 10 MB message and 10,000 small ones).

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use amqpctl::amqp::{
    AmqpError, Confirmation, Connection, ConnectionSettings, ConsumerSettings, Credentials, Next,
    Properties, Publish,
};
use amqpctl::tls::{ClientIdentity, TlsError, TlsSettings, Trust};

use crate::support::connect::exclusive_queue;
use crate::support::{broker, open, tls};

fn trusted() -> Trust {
    Trust::CaFile(broker().ca_pem().to_path_buf())
}

/// SASL EXTERNAL over TLS (trusting the test CA) with the client
/// certificate `cert` and its `key`.
fn external(cert: &Path, key: &Path) -> ConnectionSettings {
    ConnectionSettings {
        credentials: Credentials::External,
        tls: Some(TlsSettings {
            trust: trusted(),
            server_name: None,
            identity: Some(ClientIdentity {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            }),
        }),
        ..tls(broker(), trusted())
    }
}

#[test]
fn cafile_trusts_the_test_ca_and_messages_flow() {
    let (conn, ch) = open(&tls(broker(), trusted()));
    let q = exclusive_queue(&ch, "tls-hello");
    ch.confirm_delivery().unwrap();
    let props = Properties::default();
    let verdict = ch
        .publish_confirmed(&Publish {
            exchange: "",
            routing_key: &q,
            body: b"over TLS",
            properties: &props,
            mandatory: true,
        })
        .unwrap();
    assert_eq!(verdict, Confirmation::Ack);
    let (got, _) = ch.basic_get(&q, true).unwrap().expect("message");
    assert_eq!(got.body(), b"over TLS");
    ch.close().unwrap();
    conn.close().unwrap();
}

#[test]
fn an_untrusted_ca_is_refused_by_name_without_command_line_words() {
    let settings = tls(
        broker(),
        Trust::CaFile(broker().untrusted_ca_pem().to_path_buf()),
    );
    match Connection::open(&settings) {
        Err(e @ AmqpError::Tls(TlsError::UnknownAuthority { .. })) => {
            let text = e.to_string();
            assert!(
                text.contains("certificate signed by an unknown authority"),
                "{text}"
            );
            // The flags to change are the command line's to add
            // (walkthrough::step2_tls_enable_tls_refuses_the_test_ca_with_a_hint checks
            // the `use --cafile FILE or --insecure` it adds).
            assert!(!text.contains("--"), "{text}");
        }
        other => panic!("expected unknown authority, got {:?}", other.err()),
    }
}

#[test]
fn the_mozilla_roots_do_not_trust_the_test_ca() {
    match Connection::open(&tls(broker(), Trust::WebPki)) {
        Err(AmqpError::Tls(TlsError::UnknownAuthority { .. })) => {}
        other => panic!("expected unknown authority, got {:?}", other.err()),
    }
}

#[test]
fn a_wrong_subject_name_is_refused() {
    let mut settings = tls(broker(), trusted());
    if let Some(t) = settings.tls.as_mut() {
        t.server_name = Some("broker.example".into());
    }
    match Connection::open(&settings) {
        Err(AmqpError::Tls(TlsError::NameMismatch { name, .. })) => {
            assert_eq!(name, "broker.example")
        }
        other => panic!("expected a name mismatch, got {:?}", other.err()),
    }
}

#[test]
fn the_subject_name_can_differ_from_the_host() {
    // Connect by IP address, verify as localhost.
    let mut settings = tls(broker(), trusted());
    settings.endpoints[0].host = "127.0.0.1".into();
    if let Some(t) = settings.tls.as_mut() {
        t.server_name = Some("localhost".into());
    }
    let conn = Connection::open(&settings).expect("verified as localhost");
    conn.close().unwrap();
}

#[test]
fn insecure_connects_without_any_ca() {
    let conn = Connection::open(&tls(broker(), Trust::Insecure)).expect("insecure connect");
    conn.close().unwrap();
}

#[test]
fn mutual_tls_logs_in_as_the_certificate_common_name() {
    let b = broker();
    let conn =
        Connection::open(&external(b.client_cert(), b.client_key())).expect("EXTERNAL login");
    let listed = b.ctl_ok(&[
        "list_connections",
        "user",
        "auth_mechanism",
        "--no-table-headers",
        "--quiet",
    ]);
    assert!(
        listed
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == [b.client_cn(), "EXTERNAL"]),
        "{listed}"
    );
    conn.close().unwrap();
}

#[test]
fn a_client_certificate_from_an_untrusted_ca_is_refused() {
    let b = broker();
    match Connection::open(&external(
        b.untrusted_client_cert(),
        b.untrusted_client_key(),
    )) {
        Err(AmqpError::Tls(_) | AmqpError::Connect { .. }) => {}
        other => panic!(
            "expected the broker to refuse the certificate, got {:?}",
            other.err()
        ),
    }
}

#[test]
fn a_certificate_and_key_that_do_not_match_are_refused_before_connecting() {
    let b = broker();
    let settings = TlsSettings {
        trust: trusted(),
        server_name: None,
        identity: Some(ClientIdentity {
            cert: b.client_cert().to_path_buf(),
            key: b.untrusted_client_key().to_path_buf(),
        }),
    };
    match amqpctl::tls::client_config(&settings) {
        Err(TlsError::BadClientIdentity { .. }) => {}
        other => panic!("expected a key mismatch, got {:?}", other.err()),
    }
}

#[test]
fn the_adapter_moves_a_10_mb_message_and_10000_small_ones_without_stalling() {
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (conn, mut ch) = open(&tls(broker(), trusted()));
        let q = exclusive_queue(&ch, "tls-bulk");
        ch.confirm_delivery().unwrap();
        let props = Properties::default();
        let big: Vec<u8> = (0..10 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
        let publish = |body: &[u8], ch: &mut amqpctl::amqp::Channel| {
            ch.basic_publish(&Publish {
                exchange: "",
                routing_key: &q,
                body,
                properties: &props,
                mandatory: false,
            })
            .unwrap();
        };
        publish(&big, &mut ch);
        for i in 0..10_000u32 {
            publish(&i.to_be_bytes(), &mut ch);
            ch.wait_confirms(2_000, |_, c| assert_eq!(c, Confirmation::Ack))
                .unwrap();
        }
        ch.wait_confirms(0, |_, c| assert_eq!(c, Confirmation::Ack))
            .unwrap();
        ch.basic_qos(500).unwrap();
        let consumer = ch.basic_consume(&q, &ConsumerSettings::default()).unwrap();
        let first = match consumer
            .next::<()>(Some(Duration::from_secs(30)), None)
            .unwrap()
        {
            Next::Delivery(d) => d,
            other => panic!("expected the big message, got {other:?}"),
        };
        assert!(
            first.body() == big.as_slice(),
            "the 10 MB body came back altered"
        );
        consumer.channel().basic_ack(first, false).unwrap();
        for i in 0..10_000u32 {
            match consumer
                .next::<()>(Some(Duration::from_secs(30)), None)
                .unwrap()
            {
                Next::Delivery(d) => {
                    assert_eq!(d.body(), i.to_be_bytes());
                    consumer.channel().basic_ack(d, false).unwrap();
                }
                other => panic!("message {i} missing: {other:?}"),
            }
        }
        consumer.cancel().unwrap();
        ch.close().unwrap();
        conn.close().unwrap();
        done_tx.send(()).unwrap();
    });
    done_rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the TLS transfer finished (no stall) within 120 s");
}
