//! The blocking AMQP layer against the throwaway node: every channel
//! operation, confirms, returns, and the pika rule that a broker error raised
//! after a publish surfaces on the next call or at close.

use std::time::Duration;

use amqpctl::amqp::{
    AmqpError, Channel, Confirmation, Connection, ConsumerSettings, ExchangeOptions, Next,
    Properties, Publish, QueueOptions, Table, Value,
};

use crate::support::connect::exclusive_queue;
use crate::support::eventually;
use crate::support::queues::passive_declare;
use crate::support::{broker, open, plain, unique};

fn msg<'a>(exchange: &'a str, key: &'a str, body: &'a [u8], props: &'a Properties) -> Publish<'a> {
    Publish {
        exchange,
        routing_key: key,
        body,
        properties: props,
        mandatory: false,
    }
}

fn queue_opts() -> QueueOptions {
    QueueOptions {
        auto_delete: false,
        ..QueueOptions::default()
    }
}

/// A connection and channel on the shared node, and a fresh queue named after `name`
/// declared on the channel with [`queue_opts`].
fn with_queue(name: &str) -> (Connection, Channel, String) {
    let (conn, ch) = open(&plain(broker()));
    let q = unique(name);
    ch.queue_declare(&q, &queue_opts()).unwrap();
    (conn, ch, q)
}

/// Closes `ch`, then `conn`, both cleanly.
fn close(conn: Connection, ch: Channel) {
    ch.close().unwrap();
    conn.close().unwrap();
}

/// [`with_queue`], the channel in confirm mode.
fn confirmed_queue(name: &str) -> (Connection, Channel, String) {
    let (conn, ch, q) = with_queue(name);
    ch.confirm_delivery().unwrap();
    (conn, ch, q)
}

/// Declares `q` on `ch` to hold `max` messages and refuse more (`x-overflow=reject-publish`:
/// the broker nacks them).
fn declare_full(ch: &Channel, q: &str, max: usize) {
    let mut args = Table::new();
    args.insert("x-max-length".into(), Value::from_cli(&max.to_string()));
    args.insert("x-overflow".into(), Value::from_cli("reject-publish"));
    let full = QueueOptions {
        arguments: args,
        ..queue_opts()
    };
    ch.queue_declare(q, &full).unwrap();
}

/// Closes `conn` after a broker error closed `ch` (closing `ch` again may fail).
fn close_after_channel_error(conn: Connection, ch: Channel) {
    let _ = ch.close();
    conn.close().unwrap();
}

/// A local TCP port nothing listens on: bound, then let go.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}

/// Deletes queue `q` on `ch`, then closes `ch` and `conn`.
fn delete_and_close(conn: Connection, ch: Channel, q: &str) {
    ch.queue_delete(q, false, false).unwrap();
    close(conn, ch);
}

#[test]
fn server_named_exclusive_queue_gets_a_generated_name() {
    let (conn, ch) = open(&plain(broker()));
    let info = ch
        .queue_declare(
            "",
            &QueueOptions {
                exclusive: true,
                ..QueueOptions::default()
            },
        )
        .unwrap();
    assert!(info.name.starts_with("amq.gen-"), "{}", info.name);
    assert_eq!((info.messages, info.consumers), (0, 0));
    close(conn, ch);
}

#[test]
fn passive_declare_of_a_missing_queue_is_a_404_channel_error() {
    let (conn, ch) = open(&plain(broker()));
    let missing = unique("missing");
    let err = passive_declare(&ch, &missing).unwrap_err();
    match err {
        AmqpError::ChannelClosed { code, text } => {
            assert_eq!(code, 404);
            assert!(text.contains(&missing), "{text}");
        }
        other => panic!("expected a 404, got {other:?}"),
    }
    close_after_channel_error(conn, ch);
}

#[test]
fn publish_get_purge_and_delete_report_counts() {
    let (conn, ch, q) = with_queue("counts");
    let props = Properties::default();
    for body in [b"a", b"b", b"c"] {
        ch.basic_publish(&msg("", &q, body, &props)).unwrap();
    }
    ch.confirm_delivery().unwrap(); // a round trip: the three are routed now
    let (first, remaining) = ch.basic_get(&q, true).unwrap().expect("a message");
    assert_eq!(first.body(), b"a");
    assert_eq!(remaining, 2);
    assert_eq!(ch.queue_purge(&q).unwrap(), 2);
    assert!(ch.basic_get(&q, true).unwrap().is_none());
    ch.basic_publish(&msg("", &q, b"d", &props)).unwrap();
    ch.wait_confirms(0, |_, c| assert_eq!(c, Confirmation::Ack))
        .unwrap();
    assert_eq!(ch.queue_delete(&q, false, false).unwrap(), 1);
    close(conn, ch);
}

#[test]
fn every_property_survives_the_trip_through_the_broker() {
    let (conn, ch, q) = with_queue("props");
    let mut nested = Table::new();
    nested.insert("depth".into(), Value::I32(2));
    let mut headers = Table::new();
    headers.insert("count".into(), Value::I64(7));
    headers.insert("flag".into(), Value::Bool(true));
    headers.insert("name".into(), Value::Str("x".into()));
    headers.insert("nested".into(), Value::Table(nested));
    let props = Properties {
        content_type: Some("application/json".into()),
        content_encoding: Some("identity".into()),
        headers: Some(headers),
        delivery_mode: Some(2),
        priority: Some(3),
        correlation_id: Some("corr".into()),
        reply_to: Some("replies".into()),
        expiration: Some("60000".into()),
        message_id: Some("m-1".into()),
        timestamp: Some(1_700_000_000),
        kind: Some("greeting".into()),
        user_id: Some("guest".into()),
        app_id: Some("amqpctl-tests".into()),
    };
    let body = [0u8, 159, 146, 150, 255];
    ch.confirm_delivery().unwrap();
    assert_eq!(
        ch.publish_confirmed(&msg("", &q, &body, &props)).unwrap(),
        Confirmation::Ack
    );
    let (got, _) = ch.basic_get(&q, false).unwrap().expect("the message");
    assert_eq!(got.body(), body);
    assert_eq!(got.routing_key(), q);
    assert_eq!(got.exchange(), "");
    assert!(!got.redelivered());
    assert_eq!(got.properties(), props);
    ch.basic_ack(got, false).unwrap();
    assert_eq!(ch.queue_delete(&q, false, false).unwrap(), 0);
    close(conn, ch);
}

#[test]
fn exchange_to_exchange_binding_routes_by_key() {
    let (conn, ch) = open(&plain(broker()));
    let (src, dst, q) = (unique("src"), unique("dst"), unique("e2e"));
    let auto = ExchangeOptions {
        auto_delete: false,
        ..ExchangeOptions::default()
    };
    ch.exchange_declare(&src, "topic", &auto).unwrap();
    ch.exchange_declare(&dst, "fanout", &auto).unwrap();
    ch.exchange_bind(&dst, &src, "jp.#", &Table::new()).unwrap();
    ch.queue_declare(&q, &queue_opts()).unwrap();
    ch.queue_bind(&q, &dst, "", &Table::new()).unwrap();
    ch.confirm_delivery().unwrap();
    let props = Properties::default();
    for key in ["jp.lg.tokyo", "us.ny"] {
        ch.basic_publish(&msg(&src, key, key.as_bytes(), &props))
            .unwrap();
    }
    ch.wait_confirms(0, |_, _| {}).unwrap();
    let (only, remaining) = ch.basic_get(&q, true).unwrap().expect("routed message");
    assert_eq!((only.body(), remaining), (&b"jp.lg.tokyo"[..], 0));
    ch.queue_delete(&q, false, false).unwrap();
    ch.exchange_delete(&src, false).unwrap();
    ch.exchange_delete(&dst, false).unwrap();
    close(conn, ch);
}

/// A heartbeat no other connection to the shared node asks for, so that
/// `rabbitmqctl list_connections` can tell a test's connection apart.
const MARKED_HEARTBEAT: u16 = 47;

/// Waits until the broker lists the connection asking for
/// [`MARKED_HEARTBEAT`] with `n` channels.
fn wait_for_marked_connection_channels(n: usize) {
    let what = format!("a connection with heartbeat {MARKED_HEARTBEAT} and {n} channels");
    eventually(&what, || {
        let listed = broker().ctl_ok(&[
            "list_connections",
            "timeout",
            "channels",
            "--no-table-headers",
            "--quiet",
        ]);
        let marked = format!("{MARKED_HEARTBEAT}\t{n}");
        if listed.lines().any(|l| l.trim() == marked) {
            Ok(())
        } else {
            Err(listed)
        }
    });
}

#[test]
fn publish_to_a_missing_exchange_fails_on_the_next_publish() {
    let mut settings = plain(broker());
    settings.heartbeat = MARKED_HEARTBEAT;
    let (conn, ch) = open(&settings);
    let missing = unique("no-exchange");
    let props = Properties::default();
    ch.basic_publish(&msg(&missing, "k", b"1", &props))
        .expect("the first publish is only sent");
    // The broker closes the channel; once our close-ok has reached it, it
    // lists the connection without a channel.
    wait_for_marked_connection_channels(0);
    match ch.basic_publish(&msg(&missing, "k", b"2", &props)) {
        Err(AmqpError::ChannelClosed { code: 404, text }) => {
            assert_eq!(
                text,
                format!("NOT_FOUND - no exchange '{missing}' in vhost '/'")
            );
        }
        other => panic!("expected 404 on the second publish, got {other:?}"),
    }
    drop(ch);
    conn.close().unwrap();
}

#[test]
fn publish_to_a_missing_exchange_as_the_last_call_fails_at_close() {
    let (conn, ch) = open(&plain(broker()));
    let missing = unique("no-exchange");
    ch.basic_publish(&msg(&missing, "k", b"only", &Properties::default()))
        .expect("the publish is only sent");
    match ch.close() {
        Err(AmqpError::ChannelClosed { code: 404, .. }) => {}
        other => panic!("expected the 404 from close, got {other:?}"),
    }
    conn.close().expect("the connection itself is fine");
}

#[test]
fn confirms_ack_every_routed_message_in_order() {
    let (conn, ch, q) = confirmed_queue("acks");
    let props = Properties::default();
    let mut seen = Vec::new();
    for i in 0..500u32 {
        let body = i.to_string();
        let seq = ch
            .basic_publish(&msg("", &q, body.as_bytes(), &props))
            .unwrap();
        assert_eq!(seq, u64::from(i) + 1);
        ch.wait_confirms(64, |s, c| seen.push((s, c))).unwrap();
    }
    ch.wait_confirms(0, |s, c| seen.push((s, c))).unwrap();
    assert_eq!(seen.len(), 500);
    assert!(
        seen.iter()
            .enumerate()
            .all(|(i, (s, c))| *s == i as u64 + 1 && *c == Confirmation::Ack)
    );
    assert_eq!(ch.unconfirmed(), 0);
    assert_eq!(passive_declare(&ch, &q).unwrap().messages, 500);
    delete_and_close(conn, ch, &q);
}

#[test]
fn a_full_reject_publish_queue_nacks() {
    let (conn, ch) = open(&plain(broker()));
    let q = unique("nack");
    declare_full(&ch, &q, 1);
    ch.confirm_delivery().unwrap();
    let props = Properties::default();
    assert_eq!(
        ch.publish_confirmed(&msg("", &q, b"1", &props)).unwrap(),
        Confirmation::Ack
    );
    assert_eq!(
        ch.publish_confirmed(&msg("", &q, b"2", &props)).unwrap(),
        Confirmation::Nack
    );
    assert_eq!(passive_declare(&ch, &q).unwrap().messages, 1);
    delete_and_close(conn, ch, &q);
}

#[test]
fn an_unroutable_mandatory_message_is_returned_and_matched_to_its_publish() {
    let (conn, ch, q) = confirmed_queue("routable");
    let props = Properties::default();
    let nowhere = unique("nowhere");
    let keys = [q.as_str(), nowhere.as_str(), q.as_str()];
    for key in keys {
        ch.basic_publish(&Publish {
            mandatory: true,
            ..msg("", key, b"m", &props)
        })
        .unwrap();
    }
    let mut verdicts = Vec::new();
    ch.wait_confirms(0, |s, c| verdicts.push((s, c))).unwrap();
    assert_eq!(
        verdicts,
        vec![
            (1, Confirmation::Ack),
            (
                2,
                Confirmation::Returned {
                    code: 312,
                    text: "NO_ROUTE".into()
                }
            ),
            (3, Confirmation::Ack),
        ]
    );
    delete_and_close(conn, ch, &q);
}

#[test]
fn an_unroutable_mandatory_message_without_confirms_surfaces_at_close() {
    let (conn, ch) = open(&plain(broker()));
    ch.basic_publish(&Publish {
        mandatory: true,
        ..msg("", &unique("nowhere"), b"m", &Properties::default())
    })
    .unwrap();
    match ch.close() {
        Err(AmqpError::Returned { code: 312, text }) => assert_eq!(text, "NO_ROUTE"),
        other => panic!("expected the return at close, got {other:?}"),
    }
    conn.close().unwrap();
}

#[test]
fn integer_arguments_are_sent_as_integers() {
    let (conn, ch) = open(&plain(broker()));
    let q = unique("ttl");
    let mut typed = Table::new();
    typed.insert("x-message-ttl".into(), Value::from_cli("60000"));
    ch.queue_declare(
        &q,
        &QueueOptions {
            arguments: typed,
            ..queue_opts()
        },
    )
    .expect("the broker accepts an integer TTL");
    let listed = broker().ctl_ok(&[
        "list_queues",
        "-p",
        "/",
        "name",
        "arguments",
        "--no-table-headers",
        "--quiet",
    ]);
    let line = listed
        .lines()
        .find(|l| l.starts_with(&q))
        .expect("queue listed");
    assert!(line.contains("60000"), "{line}");
    delete_and_close(conn, ch, &q);

    // The same TTL as a string is refused, so typing is what made it pass.
    let (conn, ch) = open(&plain(broker()));
    let mut untyped = Table::new();
    untyped.insert("x-message-ttl".into(), Value::Str("60000".into()));
    match ch.queue_declare(
        &unique("ttl-str"),
        &QueueOptions {
            arguments: untyped,
            ..queue_opts()
        },
    ) {
        Err(AmqpError::ChannelClosed { code: 406, .. }) => {}
        other => panic!("expected 406 for a string TTL, got {other:?}"),
    }
    close_after_channel_error(conn, ch);
}

#[test]
fn redeclaring_with_other_flags_is_a_406() {
    let (conn, ch, q) = with_queue("redeclare");
    match ch.queue_declare(
        &q,
        &QueueOptions {
            durable: true,
            ..queue_opts()
        },
    ) {
        Err(AmqpError::ChannelClosed { code: 406, text }) => {
            assert!(text.starts_with("PRECONDITION_FAILED"), "{text}")
        }
        other => panic!("expected 406, got {other:?}"),
    }
    let _ = ch.close();
    let ch = conn.channel().unwrap();
    delete_and_close(conn, ch, &q);
}

#[test]
fn consumer_acks_nacks_and_rejects_single_and_multiple() {
    let (conn, ch, q) = confirmed_queue("acks-consumer");
    let props = Properties::default();
    for i in 1..=6u8 {
        ch.basic_publish(&msg("", &q, &[b'0' + i], &props)).unwrap();
    }
    ch.wait_confirms(0, |_, _| {}).unwrap();
    ch.basic_qos(10).unwrap();
    let consumer = ch.basic_consume(&q, &ConsumerSettings::default()).unwrap();
    let mut got = Vec::new();
    for _ in 0..6 {
        match consumer
            .next::<()>(Some(Duration::from_secs(5)), None)
            .unwrap()
        {
            Next::Delivery(d) => got.push(d),
            other => panic!("expected a delivery, got {other:?}"),
        }
    }
    let bodies: Vec<u8> = got.iter().map(|d| d.body()[0]).collect();
    assert_eq!(bodies, b"123456");
    let mut got = got.into_iter();
    let (d1, d2, d3, d4, d5, d6) = (
        got.next().unwrap(),
        got.next().unwrap(),
        got.next().unwrap(),
        got.next().unwrap(),
        got.next().unwrap(),
        got.next().unwrap(),
    );
    drop(d1);
    consumer.channel().basic_ack(d2, true).unwrap(); // acks 1 and 2
    consumer.channel().basic_reject(d3, false).unwrap(); // dropped
    consumer.channel().basic_nack(d4, false, true).unwrap(); // requeued
    drop(d5);
    consumer.channel().basic_nack(d6, true, false).unwrap(); // 5 and 6 dropped
    // The requeued 4 comes back, redelivered.
    match consumer
        .next::<()>(Some(Duration::from_secs(5)), None)
        .unwrap()
    {
        Next::Delivery(d) => {
            assert_eq!(d.body(), b"4");
            assert!(d.redelivered());
            consumer.channel().basic_ack(d, false).unwrap();
        }
        other => panic!("expected the requeued message, got {other:?}"),
    }
    assert!(matches!(
        consumer
            .next::<()>(Some(Duration::from_millis(300)), None)
            .unwrap(),
        Next::Idle
    ));
    consumer.cancel().unwrap();
    assert_eq!(passive_declare(&ch, &q).unwrap().messages, 0);
    delete_and_close(conn, ch, &q);
}

#[test]
fn unacked_deliveries_are_requeued_when_the_channel_closes() {
    let (conn, ch, q) = confirmed_queue("requeue");
    ch.publish_confirmed(&msg("", &q, b"keep me", &Properties::default()))
        .unwrap();
    {
        let consumer = ch.basic_consume(&q, &ConsumerSettings::default()).unwrap();
        assert!(matches!(
            consumer
                .next::<()>(Some(Duration::from_secs(5)), None)
                .unwrap(),
            Next::Delivery(_)
        ));
        consumer.cancel().unwrap();
    }
    ch.close().unwrap();
    let ch = conn.channel().unwrap();
    assert_eq!(passive_declare(&ch, &q).unwrap().messages, 1);
    delete_and_close(conn, ch, &q);
}

#[test]
fn the_consumer_stops_waiting_when_interrupted() {
    let (conn, ch) = open(&plain(broker()));
    let q = exclusive_queue(&ch, "interrupt");
    let consumer = ch.basic_consume(&q, &ConsumerSettings::default()).unwrap();
    let (tx, rx) = crossbeam_channel::bounded(1);
    tx.send(15).unwrap();
    assert!(matches!(
        consumer.next(None, Some(&rx)).unwrap(),
        Next::Interrupted
    ));
    consumer.cancel().unwrap();
    close(conn, ch);
}

#[test]
fn the_broker_cancelling_a_consumer_is_reported() {
    let (conn, ch, q) = with_queue("cancelled");
    let consumer = ch.basic_consume(&q, &ConsumerSettings::default()).unwrap();
    let (c2, ch2) = open(&plain(broker()));
    ch2.queue_delete(&q, false, false).unwrap();
    match consumer.next::<()>(Some(Duration::from_secs(5)), None) {
        Err(AmqpError::ConsumerCancelled { queue }) => assert_eq!(queue, q),
        other => panic!("expected a broker cancel, got {other:?}"),
    }
    drop(consumer);
    close(conn, ch);
    ch2.close().unwrap();
    c2.close().unwrap();
}

#[test]
fn wrong_password_is_a_login_error() {
    let mut settings = plain(broker());
    settings.credentials = amqpctl::amqp::Credentials::Plain {
        username: "guest".into(),
        password: "not-the-password".into(),
    };
    match Connection::open(&settings) {
        Err(AmqpError::Login { reason, .. }) => {
            assert!(reason.contains("ACCESS_REFUSED"), "{reason}");
            assert!(!reason.contains("not-the-password"), "{reason}");
        }
        other => panic!("expected a login error, got {:?}", other.err()),
    }
}

#[test]
fn unknown_vhost_is_refused_with_530() {
    let mut settings = plain(broker());
    settings.vhost = unique("no-such-vhost");
    match Connection::open(&settings) {
        Err(AmqpError::Refused { code: 530, text }) => {
            assert!(text.contains("NOT_ALLOWED"), "{text}")
        }
        other => panic!("expected 530, got {:?}", other.err()),
    }
}

#[test]
fn a_user_without_configure_permission_gets_403_on_declare() {
    let mut settings = plain(broker());
    settings.vhost = "domain1".into();
    settings.credentials = amqpctl::amqp::Credentials::Plain {
        username: "bob".into(),
        password: "bob123".into(),
    };
    let (conn, ch) = open(&settings);
    match ch.queue_declare(&unique("bobs"), &queue_opts()) {
        Err(AmqpError::ChannelClosed { code: 403, text }) => {
            assert!(text.starts_with("ACCESS_REFUSED"), "{text}")
        }
        other => panic!("expected 403, got {other:?}"),
    }
    close_after_channel_error(conn, ch);
}

#[test]
fn a_closed_port_is_a_connect_error_at_once() {
    let port = closed_port();
    let mut settings = plain(broker());
    settings.endpoints[0].port = port;
    let started = std::time::Instant::now();
    match Connection::open(&settings) {
        Err(AmqpError::Connect { addr, reason }) => {
            assert_eq!(addr, format!("127.0.0.1:{port}"));
            assert!(reason.contains("refused"), "{reason}");
        }
        other => panic!("expected a connect error, got {:?}", other.err()),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_silent_peer_is_a_connect_error_within_the_deadline() {
    // Accepts TCP connections but never says a word of AMQP.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _holder = std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().take(1).collect();
        // Holds the connection open well past the client's deadline.
        std::thread::sleep(Duration::from_secs(10));
        drop(held);
    });
    let mut settings = plain(broker());
    settings.endpoints[0].port = port;
    settings.connect_timeout = Duration::from_secs(1);
    let started = std::time::Instant::now();
    match Connection::open(&settings) {
        Err(e @ AmqpError::TimedOut { .. }) => assert_eq!(
            e.to_string(),
            format!("could not connect to 127.0.0.1:{port}: timed out during the AMQP handshake")
        ),
        other => panic!("expected a timeout, got {:?}", other.err()),
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
}

#[test]
fn the_next_endpoint_is_tried_when_the_first_is_down() {
    let dead = closed_port();
    let mut settings = plain(broker());
    let live = settings.endpoints[0].clone();
    settings.endpoints.insert(
        0,
        amqpctl::amqp::Endpoint {
            host: "127.0.0.1".into(),
            port: dead,
        },
    );
    let conn = Connection::open(&settings).expect("second endpoint");
    assert_eq!(conn.endpoint(), &live);
    conn.close().unwrap();
}
