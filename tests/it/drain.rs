//! Drain and stop: `con --until-empty` and `get --all` end once the queue
//! is drained, exit 0 (a stream: at its end).

use crate::support::{amqpctl, broker, delete_queue, fill, filled_queue, fresh_stream, messages};

#[test]
fn con_until_empty_takes_everything_then_exits_0() {
    let q = filled_queue("until-empty", 25, "m{seq}");
    amqpctl(&["con", "-q", &q, "--until-empty", "--prefetch", "10"])
        .code(0)
        .stdout((1..=25).map(|i| format!("Received: m{i}")));
    assert_eq!(messages(broker(), &q), 0);
    // Nothing there: nothing printed, still a clean end.
    amqpctl(&["con", "-q", &q, "--until-empty"])
        .code(0)
        .no_stdout();
    // One message, with --exec: acked after its command.
    fill(broker(), &q, 1, "only");
    amqpctl(&["con", "-q", &q, "--until-empty", "--exec", "cat"])
        .code(0)
        .stdout(["only"]);
    assert_eq!(messages(broker(), &q), 0);
    delete_queue(broker(), &q);
}

#[test]
fn get_all_drains_the_queue_and_an_empty_one_is_no_error() {
    let q = filled_queue("get-all", 7, "m{seq}");
    amqpctl(&["get", "-q", &q, "--all"])
        .code(0)
        .stdout((1..=7).map(|i| format!("Received: m{i}")));
    amqpctl(&["get", "-q", &q, "--all"]).code(0).no_stdout();
    // Without --all, an empty queue is still exit 8.
    amqpctl(&["get", "-q", &q])
        .code(8)
        .stderr([format!("ERROR: queue '{q}' is empty")]);
    delete_queue(broker(), &q);
}

#[test]
fn a_stream_read_until_empty_ends_at_its_end() {
    let q = fresh_stream("until-empty-stream");
    fill(broker(), &q, 12, "s{seq}");
    for _ in 0..2 {
        // A stream keeps its messages: the same twelve, each time.
        amqpctl(&[
            "con",
            "-q",
            &q,
            "--offset",
            "first",
            "--until-empty",
            "--prefetch",
            "5",
        ])
        .code(0)
        .stdout((1..=12).map(|i| format!("Received: s{i}")));
    }
    amqpctl(&["con", "-q", &q, "--offset", "next", "--until-empty"])
        .code(0)
        .no_stdout();
    amqpctl(&["delete", "queue", &q]).code(0);
}
