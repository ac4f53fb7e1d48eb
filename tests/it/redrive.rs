//! `amqpctl redrive`: messages dead-lettered three ways (rejected, expired,
//! over max-length) go back to the queue they came from, counted, and a
//! message redriven too often stays.

use crate::support::{amqpctl, broker, delete_queue, drain, messages, unique, wait_for_messages};

/// A dead-letter exchange and queue, and three queues that dead-letter to
/// them: plain (for rejects), with a 1 ms TTL, with a max length of 1.
struct Setup {
    dlx: String,
    dlq: String,
    work: String,
    ttl: String,
    max: String,
}

fn setup() -> Setup {
    let s = Setup {
        dlx: unique("rd-dlx"),
        dlq: unique("rd-dlq"),
        work: unique("rd-work"),
        ttl: unique("rd-ttl"),
        max: unique("rd-max"),
    };
    let dlx_arg = format!("x-dead-letter-exchange={}", s.dlx);
    amqpctl(&["declare", "exchange", &s.dlx, "-t", "fanout"]).code(0);
    amqpctl(&["declare", "queue", &s.dlq]).code(0);
    amqpctl(&["declare", "binding", "-e", &s.dlx, "-q", &s.dlq]).code(0);
    amqpctl(&["declare", "queue", &s.work, "--arg", &dlx_arg]).code(0);
    amqpctl(&[
        "declare",
        "queue",
        &s.ttl,
        "--arg",
        &dlx_arg,
        "--arg",
        "x-message-ttl=1",
    ])
    .code(0);
    amqpctl(&[
        "declare",
        "queue",
        &s.max,
        "--arg",
        &dlx_arg,
        "--arg",
        "x-max-length=1",
    ])
    .code(0);
    s
}

impl Setup {
    /// `n` messages `w1`… into the work queue, rejected there by a consumer:
    /// dead-lettered with reason `rejected`.
    fn reject(&self, n: u32) {
        let n = n.to_string();
        let publish = [
            "pub",
            "-k",
            &self.work,
            "--nb-messages",
            &n,
            "--interval",
            "0",
        ];
        amqpctl(&[&publish[..], &["-m", "w{seq}", "--quiet"]].concat()).code(0);
        amqpctl(&[
            "con",
            "-q",
            &self.work,
            "--count",
            &n,
            "--exec",
            "exit 1",
            "--no-requeue",
        ])
        .code(0);
    }

    /// `m1`, `m2` into the max-length-1 queue: `m1` is dead-lettered with
    /// reason `maxlen`.
    fn overflow(&self) {
        let publish = [
            "pub",
            "-k",
            &self.max,
            "--nb-messages",
            "2",
            "--interval",
            "0",
        ];
        amqpctl(&[&publish[..], &["-m", "m{seq}", "--quiet", "--confirm"]].concat()).code(0);
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        for q in [&self.dlq, &self.work, &self.ttl, &self.max] {
            delete_queue(broker(), q);
        }
        amqpctl(&["delete", "exchange", &self.dlx]).code(0);
    }
}

fn bodies(q: &str) -> Vec<String> {
    drain(broker(), q)
        .into_iter()
        .map(|b| String::from_utf8(b).unwrap())
        .collect()
}

#[test]
fn messages_dead_lettered_three_ways_go_back_where_they_came_from() {
    let s = setup();
    s.reject(2);
    amqpctl(&["pub", "-k", &s.ttl, "-m", "expired", "--quiet"]).code(0);
    s.overflow();
    wait_for_messages(broker(), &s.dlq, 4);
    // The table goes to stdout, for scripts.
    amqpctl(&["redrive", "-q", &s.dlq, "--dry-run"])
        .code(0)
        .no_stderr()
        .stdout([
            "origin queue                     exchange                 reason       count"
                .to_string(),
            format!(
                "{:<32} {:<24} {:<10} {:>7}",
                s.max, "(default)", "maxlen", 1
            ),
            format!(
                "{:<32} {:<24} {:<10} {:>7}",
                s.ttl, "(default)", "expired", 1
            ),
            format!(
                "{:<32} {:<24} {:<10} {:>7}",
                s.work, "(default)", "rejected", 2
            ),
        ]);
    assert_eq!(messages(broker(), &s.dlq), 4, "a dry run moves nothing");
    // The TTL queue's message expires again at once: keep it out of the way.
    amqpctl(&["delete", "queue", &s.ttl]).code(0);
    amqpctl(&["redrive", "-q", &s.dlq])
        .code(6)
        .stderr_has("ERROR: message returned by the broker: (312, \"NO_ROUTE\")");
    // The return stopped it, leaving the unroutable message (and what
    // came after) in the DLQ; the rejected ones are home.
    assert_eq!(bodies(&s.work), ["w1", "w2"]);
    assert_eq!(
        messages(broker(), &s.dlq) as usize + messages(broker(), &s.max) as usize,
        3
    );
}

#[test]
fn the_counter_header_marks_each_redrive_and_max_redrives_leaves_the_rest() {
    let s = setup();
    amqpctl(&[
        "pub",
        "-k",
        &s.ttl,
        "--nb-messages",
        "3",
        "--interval",
        "0",
        "-m",
        "t{seq}",
        "--quiet",
    ])
    .code(0);
    wait_for_messages(broker(), &s.dlq, 3);
    // Back to the TTL queue, where they expire again: once, twice.
    for round in 1..=2 {
        amqpctl(&["redrive", "-q", &s.dlq])
            .code(0)
            .stderr([format!("Redrove 3 of 3 messages from queue {}", s.dlq)]);
        crate::support::wait_until(broker(), &s.dlq, "the messages back", |i| i.messages == 3);
        let counts = amqpctl(&[
            "get",
            "-q",
            &s.dlq,
            "--count",
            "3",
            "--requeue",
            "--format",
            "%h\\n",
        ])
        .code(0)
        .stdout_lines();
        for h in counts {
            assert!(h.contains(&format!("\"amqpctl-redrives\":{round}")), "{h}");
        }
    }
    amqpctl(&["redrive", "-q", &s.dlq, "--max-redrives", "2"])
        .code(0)
        .stderr([
            format!("Redrove 0 of 3 messages from queue {}", s.dlq),
            "WARNING: 3 messages were redriven --max-redrives times already: left in place"
                .to_string(),
        ]);
    assert_eq!(messages(broker(), &s.dlq), 3);
    assert_eq!(bodies(&s.dlq), ["t1", "t2", "t3"], "in their order");
    // A message that was never dead-lettered stays too.
    amqpctl(&["pub", "-k", &s.dlq, "-m", "plain", "--quiet"]).code(0);
    amqpctl(&["redrive", "-q", &s.dlq]).code(0).stderr([
        format!("Redrove 0 of 1 messages from queue {}", s.dlq),
        "WARNING: 1 messages have no x-death header: left in place".to_string(),
    ]);
    assert_eq!(messages(broker(), &s.dlq), 1);
}

#[test]
fn filter_redrives_only_what_matches_and_leaves_the_rest_in_order() {
    let s = setup();
    s.reject(4);
    s.overflow();
    wait_for_messages(broker(), &s.dlq, 5);
    let rejected = r#"headers["x-first-death-reason"] == "rejected" && text != "w2""#;
    amqpctl(&["redrive", "-q", &s.dlq, "--filter", rejected, "--dry-run"])
        .code(0)
        .stdout([
            "origin queue                     exchange                 reason       count"
                .to_string(),
            format!(
                "{:<32} {:<24} {:<10} {:>7}",
                s.work, "(default)", "rejected", 3
            ),
        ])
        .stderr(["2 messages did not match --filter".to_string()]);
    amqpctl(&[
        "redrive", "-q", &s.dlq, "--filter", rejected, "--count", "2",
    ])
    .code(0)
    .stderr([format!(
        "Redrove 2 of 3 messages from queue {}; 1 did not match --filter (left in place)",
        s.dlq
    )]);
    assert_eq!(bodies(&s.work), ["w1", "w3"]);
    // Left in place, in their order: w2 (skipped), w4 (over --count), m1.
    assert_eq!(bodies(&s.dlq), ["w2", "w4", "m1"]);
}

/// A dead letter whose exchange was deleted: the broker closes the channel
/// on the publish (404), so no confirm ever comes back for it. With no
/// verdict, the DLQ copy must stay: acked only once confirmed home.
#[test]
fn a_dead_letter_that_got_no_confirm_stays_in_the_dlq() {
    let s = setup();
    let gone = unique("rd-gone");
    amqpctl(&["declare", "exchange", &gone, "-t", "fanout"]).code(0);
    amqpctl(&["declare", "binding", "-e", &gone, "-q", &s.work]).code(0);
    let publish = ["pub", "-e", &gone, "--nb-messages", "3", "--interval", "0"];
    amqpctl(&[&publish[..], &["-m", "g{seq}", "--quiet", "--confirm"]].concat()).code(0);
    amqpctl(&[
        "con",
        "-q",
        &s.work,
        "--count",
        "3",
        "--exec",
        "exit 1",
        "--no-requeue",
    ])
    .code(0);
    wait_for_messages(broker(), &s.dlq, 3);
    amqpctl(&["delete", "exchange", &gone]).code(0);
    amqpctl(&["redrive", "-q", &s.dlq]).code(5).stderr([
        format!("Redrove 0 of 3 messages from queue {}", s.dlq),
        format!("ERROR: (404, \"NOT_FOUND - no exchange '{gone}' in vhost '/'\")"),
    ]);
    assert_eq!(messages(broker(), &s.work), 0, "nothing reached home");
    assert_eq!(
        bodies(&s.dlq),
        ["g1", "g2", "g3"],
        "all three stay, in order"
    );
}
