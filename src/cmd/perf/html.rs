//! `perf --html FILE`: one self-contained page (inline CSS and SVG, no
//! script, nothing fetched) with the summary, the rates over time per
//! producer and consumer, the latency percentiles over time, and the
//! latency histograms, like PerfTest's HTML report.

use std::fmt::Write;

use hdrhistogram::Histogram;

use super::report::{Reporter, Second, ms};
use super::stats::Percentiles;
use super::summary::Summary;
use super::svg::{Series, bar_chart, escape, line_chart};

/// Writes the page to `file` (`--html`).
pub fn write(
    file: &std::path::Path,
    summary: &Summary,
    reporter: &Reporter,
) -> Result<(), crate::error::Error> {
    std::fs::write(file, page(summary, reporter))
        .map_err(|e| crate::error::Error::io("writing the --html report", e))
}

/// The whole page.
pub fn page(summary: &Summary, reporter: &Reporter) -> String {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>amqpctl perf</title><style>\
         body{font-family:sans-serif;margin:2em;max-width:960px;color:#222}\
         svg{width:100%;height:auto;border:1px solid #ccc;margin-bottom:1em}\
         table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}\
         pre{background:#f4f4f4;padding:1em;white-space:pre-wrap}</style></head><body>\n<h1>amqpctl perf</h1>\n",
    );
    let _ = writeln!(
        html,
        "<pre id=\"summary\">{}</pre>",
        escape(&summary.lines().join("\n"))
    );
    html.push_str(&latency_table(summary));
    let seconds = &reporter.seconds;
    html.push_str("<h2>Rates over time</h2>\n");
    html.push_str(&line_chart(
        "messages a second, per producer and consumer",
        "seconds",
        "messages/s",
        &rate_series(seconds, summary.confirm, &reporter.instances),
    ));
    if summary.consumers > 0 {
        html.push_str("<h2>End-to-end latency over time</h2>\n");
        html.push_str(&percentile_chart("end-to-end latency", seconds, |s| s.e2e));
    }
    if summary.confirm {
        html.push_str("<h2>Confirm latency over time</h2>\n");
        html.push_str(&percentile_chart("confirm latency", seconds, |s| s.confirm));
    }
    if summary.consumers > 0 {
        html.push_str("<h2>End-to-end latency histogram</h2>\n");
        html.push_str(&histogram_chart(
            "end-to-end latency",
            &reporter.e2e_histogram(),
        ));
    }
    if summary.confirm {
        html.push_str("<h2>Confirm latency histogram</h2>\n");
        html.push_str(&histogram_chart(
            "confirm latency",
            &reporter.confirm_histogram(),
        ));
    }
    html.push_str("\n</body></html>\n");
    html
}

/// The percentiles of both latencies (and under `--rate` of both
/// corrected for coordinated omission), in ms, as a table.
fn latency_table(summary: &Summary) -> String {
    let mut t = String::from(
        "<table id=\"latency\"><tr><th>latency (ms)</th><th>min</th><th>p50</th><th>p75</th>\
         <th>p95</th><th>p99</th><th>p99.9</th><th>max</th></tr>\n",
    );
    for (name, p) in [
        ("confirm", summary.confirm_latency_us),
        ("end-to-end", summary.e2e_latency_us),
        ("confirm, corrected", summary.confirm_corrected_latency_us),
        ("end-to-end, corrected", summary.e2e_corrected_latency_us),
    ] {
        if let Some(p) = p {
            let _ = write!(t, "<tr><th>{name}</th>");
            for v in [p.min, p.p50, p.p75, p.p95, p.p99, p.p99_9, p.max] {
                let _ = write!(t, "<td>{}</td>", ms(v));
            }
            t.push_str("</tr>\n");
        }
    }
    t.push_str("</table>\n");
    t
}

/// A series per producer and consumer; in a merged report, per instance
/// and all of them combined.
fn rate_series(seconds: &[Second], confirm: bool, instances: &[String]) -> Vec<Series> {
    let per = |name: String, pick: &dyn Fn(&Second) -> Option<f64>| Series {
        name,
        points: seconds
            .iter()
            .filter_map(|s| Some((s.at, pick(s)?)))
            .collect(),
    };
    let mut series = Vec::new();
    if !instances.is_empty() {
        let sum = |v: &[f64]| v.iter().sum::<f64>();
        series.push(per("all instances sent".to_string(), &|s| {
            Some(sum(&s.sent))
        }));
        series.push(per("all instances received".to_string(), &|s| {
            Some(sum(&s.received))
        }));
        for (i, name) in instances.iter().enumerate() {
            series.push(per(format!("{name} sent"), &|s| s.sent.get(i).copied()));
            if confirm {
                series.push(per(format!("{name} confirmed"), &|s| {
                    s.confirmed.get(i).copied()
                }));
            }
            series.push(per(format!("{name} received"), &|s| {
                s.received.get(i).copied()
            }));
        }
        return series;
    }
    let producers = seconds.first().map_or(0, |s| s.sent.len());
    let consumers = seconds.first().map_or(0, |s| s.received.len());
    for i in 0..producers {
        series.push(per(format!("producer {} sent", i + 1), &|s| {
            s.sent.get(i).copied()
        }));
        if confirm {
            series.push(per(format!("producer {} confirmed", i + 1), &|s| {
                s.confirmed.get(i).copied()
            }));
        }
    }
    for i in 0..consumers {
        series.push(per(format!("consumer {} received", i + 1), &|s| {
            s.received.get(i).copied()
        }));
    }
    series
}

fn percentile_chart(
    what: &str,
    seconds: &[Second],
    pick: impl Fn(&Second) -> Option<Percentiles>,
) -> String {
    let line = |name: &str, value: &dyn Fn(&Percentiles) -> u64| Series {
        name: name.to_string(),
        points: seconds
            .iter()
            .filter_map(|s| pick(s).map(|p| (s.at, value(&p) as f64 / 1000.0)))
            .collect(),
    };
    let series = [
        line("p50", &|p| p.p50),
        line("p95", &|p| p.p95),
        line("p99", &|p| p.p99),
        line("max", &|p| p.max),
    ];
    if series.iter().all(|s| s.points.is_empty()) {
        return "<p>no samples</p>\n".to_string();
    }
    line_chart(
        &format!("{what} percentiles over time"),
        "seconds",
        "ms",
        &series,
    )
}

/// A histogram in doubling buckets of µs.
fn histogram_chart(what: &str, h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return "<p>no samples</p>\n".to_string();
    }
    let bars: Vec<(String, f64)> = h
        .iter_log(1, 2.0)
        .map(|v| {
            (
                format!("≤{}", duration(v.value_iterated_to())),
                v.count_since_last_iteration() as f64,
            )
        })
        .skip_while(|(_, n)| *n == 0.0)
        .collect();
    bar_chart(
        &format!("{what} histogram"),
        "latency (upper bound of each bucket)",
        "messages",
        &bars,
    )
}

/// A bucket's bound: µs below a millisecond, ms below a second, else s.
fn duration(us: u64) -> String {
    match us {
        0..1_000 => format!("{us} µs"),
        1_000..1_000_000 => format!("{} ms", trimmed(us as f64 / 1e3)),
        _ => format!("{} s", trimmed(us as f64 / 1e6)),
    }
}

fn trimmed(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_bounds_read_in_their_unit() {
        assert_eq!(duration(511), "511 µs");
        assert_eq!(duration(1_023), "1 ms");
        assert_eq!(duration(16_383), "16.4 ms");
        assert_eq!(duration(2_097_151), "2.1 s");
    }
}
