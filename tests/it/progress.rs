//! Progress on a terminal: `move` and long `pub`/`con` runs draw a bar on
//! stderr when it is a terminal (run here under `script`, which gives them
//! a pseudo-terminal), end it with a total line, and draw nothing with
//! `--quiet` or into a pipe (the other tests check stderr line by line).

use crate::support::run::{AMQPCTL, connection_flags};
use crate::support::{
    Cmd, broker, delete_queue, delete_queues, filled_queue, fresh_queue, messages,
};

/// Runs `amqpctl ARGS` on a pseudo-terminal; returns what it drew, with
/// carriage returns as line ends.
fn on_a_terminal(args: &[&str]) -> String {
    let mut line = vec![AMQPCTL.to_string()];
    line.extend(connection_flags(broker()));
    line.extend(args.iter().map(|a| a.to_string()));
    let quoted: Vec<String> = line.iter().map(|a| format!("'{a}'")).collect();
    let transcript = Cmd::new("script", &["-qec", &quoted.join(" "), "/dev/null"])
        .run()
        .code(0);
    String::from_utf8_lossy(transcript.stdout_raw()).replace('\r', "\n")
}

#[test]
fn a_long_move_draws_a_bar_with_its_total_then_a_total_line() {
    let from = filled_queue("progress-from", 1500, "m{seq}");
    let to = fresh_queue("progress-to");
    let drawn = on_a_terminal(&["move", "-q", &from, "--to-queue", &to, "--rate", "1000"]);
    assert!(drawn.contains("/1500 moved ["), "no bar in: {drawn}");
    assert!(
        drawn
            .lines()
            .any(|l| l.contains("1500 moved in ") && l.contains(" msg/s)")),
        "no total line in: {drawn}"
    );
    assert!(drawn.contains(&format!(
        "Moved 1500 of 1500 messages from queue {from} to queue {to}"
    )));
    assert_eq!(messages(broker(), &to), 1500);
    delete_queues(broker(), &[&from, &to]);
}

#[test]
fn quiet_draws_no_bar_and_a_short_run_none_either() {
    let q = fresh_queue("progress-quiet");
    let drawn = on_a_terminal(&[
        "pub",
        "-k",
        &q,
        "--nb-messages",
        "1500",
        "--rate",
        "1000",
        "--quiet",
        "-m",
        "x",
    ]);
    assert!(!drawn.contains(" sent"), "a bar despite --quiet: {drawn}");
    // Under a second: no bar, only the lines.
    let drawn = on_a_terminal(&["pub", "-k", &q, "-m", "one"]);
    assert_eq!(drawn.trim(), "Sent: one", "{drawn}");
    assert_eq!(messages(broker(), &q), 1501);
    delete_queue(broker(), &q);
}
