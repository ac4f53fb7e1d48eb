//! The board as OpenMetrics text (the exposition format Prometheus scrapes,
//! <https://prometheus.io/docs/specs/om/open_metrics_spec/>): one family a
//! figure, base units (seconds, bytes), counters ending in `_total`,
//! latency as a summary of the run so far, and `# EOF` last.

use std::fmt::Write;

use hdrhistogram::Histogram;

use super::board::Figures;

/// The Content-Type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The quantiles each latency summary gives.
const QUANTILES: [f64; 6] = [0.5, 0.75, 0.9, 0.95, 0.99, 0.999];

/// The counters: family, help, and the figure.
const COUNTERS: [(&str, &str); 7] = [
    ("amqpctl_perf_sent_messages", "Messages published."),
    (
        "amqpctl_perf_confirmed_messages",
        "Publishes the broker acked.",
    ),
    (
        "amqpctl_perf_nacked_messages",
        "Publishes the broker nacked.",
    ),
    (
        "amqpctl_perf_received_messages",
        "Messages the consumers received, of any run.",
    ),
    (
        "amqpctl_perf_foreign_messages",
        "Of those received, the ones of another run (not timed).",
    ),
    ("amqpctl_perf_sent_bytes", "Message body bytes published."),
    (
        "amqpctl_perf_received_bytes",
        "Message body bytes received.",
    ),
];

/// The rate gauges: family and help.
const RATES: [(&str, &str); 3] = [
    (
        "amqpctl_perf_sent_messages_per_second",
        "Messages published a second over the last interval (about 1 s).",
    ),
    (
        "amqpctl_perf_confirmed_messages_per_second",
        "Publishes acked a second over the last interval.",
    ),
    (
        "amqpctl_perf_received_messages_per_second",
        "Messages received a second over the last interval.",
    ),
];

/// The latency summary's family.
const LATENCY: &str = "amqpctl_perf_latency_seconds";

/// The figures as one OpenMetrics exposition.
pub fn render(f: &Figures) -> String {
    let base = labels(&f.labels);
    let mut out = String::new();
    let values = f.counts.iter().chain(&f.bytes);
    for ((name, help), value) in COUNTERS.iter().zip(values) {
        family(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name}_total{} {value}", braces(&base));
    }
    for ((name, help), value) in RATES.iter().zip(f.rates) {
        family(&mut out, name, "gauge", help);
        let _ = writeln!(out, "{name}{} {value}", braces(&base));
    }
    family(
        &mut out,
        "amqpctl_perf_workers",
        "gauge",
        "Workers of the run.",
    );
    for (role, n) in ["producer", "consumer"].iter().zip(f.workers) {
        let l = with(&base, &format!("role=\"{role}\""));
        let _ = writeln!(out, "amqpctl_perf_workers{} {n}", braces(&l));
    }
    family(
        &mut out,
        "amqpctl_perf_ended",
        "gauge",
        "1 once the run ended: the figures are final.",
    );
    let _ = writeln!(
        out,
        "amqpctl_perf_ended{} {}",
        braces(&base),
        u8::from(f.ended)
    );
    family(
        &mut out,
        LATENCY,
        "summary",
        "Latency over the run so far: confirm (publish to the broker's ack) and end_to_end (publish to delivery).",
    );
    let _ = writeln!(out, "# UNIT {LATENCY} seconds");
    summary(&mut out, &with(&base, "kind=\"confirm\""), &f.confirm);
    summary(&mut out, &with(&base, "kind=\"end_to_end\""), &f.e2e);
    out.push_str("# EOF\n");
    out
}

/// A family's TYPE and HELP lines.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "# HELP {name} {help}");
}

/// One summary: its quantiles (none while it is empty), count and sum.
fn summary(out: &mut String, labels: &str, h: &Histogram<u64>) {
    if !h.is_empty() {
        for q in QUANTILES {
            let l = with(labels, &format!("quantile=\"{q}\""));
            let value = seconds(h.value_at_quantile(q) as f64);
            let _ = writeln!(out, "{LATENCY}{} {value}", braces(&l));
        }
    }
    let _ = writeln!(out, "{LATENCY}_count{} {}", braces(labels), h.len());
    // Whole µs, each latency as its bucket's highest value (as the
    // quantiles are): a float mean times the count would add noise.
    let us: u128 = h
        .iter_recorded()
        .map(|v| u128::from(v.value_iterated_to()) * u128::from(v.count_at_value()))
        .sum();
    let sum = seconds(us as f64);
    let _ = writeln!(out, "{LATENCY}_sum{} {sum}", braces(labels));
}

/// Microseconds as seconds.
fn seconds(us: f64) -> f64 {
    us / 1e6
}

/// `name="value",…`, the values escaped.
fn labels(pairs: &[(&'static str, String)]) -> String {
    let each: Vec<String> = pairs
        .iter()
        .map(|(name, value)| format!("{name}=\"{}\"", escape(value)))
        .collect();
    each.join(",")
}

/// `labels` and one more.
fn with(labels: &str, one: &str) -> String {
    if labels.is_empty() {
        one.to_string()
    } else {
        format!("{labels},{one}")
    }
}

/// `{labels}`, or nothing when there are none.
fn braces(labels: &str) -> String {
    if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    }
}

/// A label value as OpenMetrics quotes it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::super::board::Board;
    use super::*;

    #[test]
    fn an_empty_board_renders_every_family_and_ends_with_eof() {
        let board = Board::new(vec![("run_id", "a\"b".to_string())]);
        let text = render(&board.lock());
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(text.contains("amqpctl_perf_sent_messages_total{run_id=\"a\\\"b\"} 0\n"));
        assert!(text.contains(
            "amqpctl_perf_latency_seconds_count{run_id=\"a\\\"b\",kind=\"confirm\"} 0\n"
        ));
        assert!(!text.contains("quantile"), "{text}");
    }

    #[test]
    fn latencies_become_quantiles_in_seconds() {
        let board = Board::new(Vec::new());
        board.lock().e2e.saturating_record(2_000);
        let text = render(&board.lock());
        assert!(
            text.contains(
                "amqpctl_perf_latency_seconds{kind=\"end_to_end\",quantile=\"0.99\"} 0.002\n"
            ),
            "{text}"
        );
        assert!(text.contains("amqpctl_perf_latency_seconds_count{kind=\"end_to_end\"} 1\n"));
        assert!(text.contains("amqpctl_perf_latency_seconds_sum{kind=\"end_to_end\"} 0.002\n"));
    }
}
