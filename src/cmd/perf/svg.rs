//! Charts as inline SVG text, drawn by our code so that the HTML report
//! needs no script and no network: a line chart (series over time) and a
//! bar chart (a histogram), each with axes, ticks and a legend.

use std::fmt::Write;

/// Chart size in SVG units (the page scales it to its width).
const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 320.0;
/// Margins around the plot: left (tick labels), right, top, bottom.
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 20.0;
const BOTTOM: f64 = 60.0;

/// Up to this many points a series, each is drawn as a dot too.
const MAX_DOTS: usize = 120;

/// Series colours, in order.
const COLOURS: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// One named line of points (x, y).
pub struct Series {
    /// Its legend.
    pub name: String,
    /// Its points, x ascending.
    pub points: Vec<(f64, f64)>,
}

/// A line chart of `series`, titled for screen readers, with its axes'
/// labels.
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    let points = series.iter().flat_map(|s| s.points.iter());
    let x_max = points.clone().map(|p| p.0).fold(0.0, f64::max);
    let y_max = points.map(|p| p.1).fold(0.0, f64::max);
    let (x_ticks, x_top) = ticks(x_max);
    let (y_ticks, y_top) = ticks(y_max);
    let extra = LEGEND_ROW * (legend_rows(series.iter().map(|s| s.name.as_str())) - 1.0);
    let mut svg = open(title, extra);
    axes(&mut svg, &x_ticks, x_top, &y_ticks, y_top, x_label, y_label);
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let path: Vec<String> = s
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x, x_top), py(y, y_top)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2.5" points="{}"/>"#,
            path.join(" ")
        );
        // Dots only while they stay apart (a long run is a line).
        let dots = if s.points.len() <= MAX_DOTS {
            &s.points[..]
        } else {
            &[]
        };
        for (x, y) in dots.iter().map(|&(x, y)| (px(x, x_top), py(y, y_top))) {
            let _ = write!(
                svg,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{colour}"/>"#
            );
        }
    }
    legend(&mut svg, series.iter().map(|s| s.name.as_str()));
    svg.push_str("</svg>");
    svg
}

/// A bar chart: one bar per (label, value), labels under the bars.
pub fn bar_chart(title: &str, x_label: &str, y_label: &str, bars: &[(String, f64)]) -> String {
    let y_max = bars.iter().map(|b| b.1).fold(0.0, f64::max);
    let (y_ticks, y_top) = ticks(y_max);
    let mut svg = open(title, 0.0);
    axes(&mut svg, &[], 1.0, &y_ticks, y_top, x_label, y_label);
    let plot = WIDTH - LEFT - RIGHT;
    let slot = plot / bars.len().max(1) as f64;
    let every = (bars.len() / 12).max(1);
    for (i, (label, value)) in bars.iter().enumerate() {
        let x = LEFT + slot * i as f64;
        let y = py(*value, y_top);
        let _ = write!(
            svg,
            r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"/>"#,
            x + slot * 0.1,
            slot * 0.8,
            (HEIGHT - BOTTOM - y).max(0.0),
            COLOURS[0]
        );
        if i % every == 0 {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"#,
                x + slot / 2.0,
                HEIGHT - BOTTOM + 16.0,
                escape(label)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// The SVG's start: `extra` units taller than a chart for more legend rows.
fn open(title: &str, extra: f64) -> String {
    let height = HEIGHT + extra;
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{0}"><title>{0}</title><rect width="{WIDTH}" height="{height}" fill="white"/>"#,
        escape(title)
    )
}

fn axes(
    svg: &mut String,
    x_ticks: &[f64],
    x_top: f64,
    y_ticks: &[f64],
    y_top: f64,
    x_label: &str,
    y_label: &str,
) {
    let (x0, y0, x1, y1) = (LEFT, HEIGHT - BOTTOM, WIDTH - RIGHT, TOP);
    for &t in y_ticks {
        let y = py(t, y_top);
        let _ = write!(
            svg,
            r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
            x0 - 6.0,
            y + 4.0,
            number(t)
        );
    }
    for &t in x_ticks {
        let x = px(t, x_top);
        let _ = write!(
            svg,
            r#"<text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"#,
            y0 + 16.0,
            number(t)
        );
    }
    let _ = write!(
        svg,
        r#"<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="black"/><line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="black"/><text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text><text x="14" y="{:.1}" font-size="12" text-anchor="middle" transform="rotate(-90 14 {:.1})">{}</text>"#,
        (x0 + x1) / 2.0,
        HEIGHT - 22.0,
        escape(x_label),
        (y0 + y1) / 2.0,
        (y0 + y1) / 2.0,
        escape(y_label)
    );
}

/// The series' names under the plot, in rows that fit the width.
fn legend<'a>(svg: &mut String, names: impl Iterator<Item = &'a str>) {
    let (mut x, mut row) = (LEFT, 0.0);
    for (i, name) in names.enumerate() {
        let width = 24.0 + 7.0 * name.chars().count() as f64;
        if x + width > WIDTH - RIGHT && x > LEFT {
            x = LEFT;
            row += 1.0;
        }
        let y = HEIGHT - 14.0 + LEGEND_ROW * row;
        let colour = COLOURS[i % COLOURS.len()];
        let _ = write!(
            svg,
            r#"<rect x="{x:.1}" y="{y:.1}" width="12" height="12" fill="{colour}"/><text x="{:.1}" y="{:.1}" font-size="12">{}</text>"#,
            x + 16.0,
            y + 10.0,
            escape(name)
        );
        x += width;
    }
}

/// The height of a legend row.
const LEGEND_ROW: f64 = 18.0;

/// How many legend rows `names` take (the chart grows to hold them).
fn legend_rows<'a>(names: impl Iterator<Item = &'a str>) -> f64 {
    let (mut x, mut rows) = (LEFT, 1.0);
    for name in names {
        let width = 24.0 + 7.0 * name.chars().count() as f64;
        if x + width > WIDTH - RIGHT && x > LEFT {
            x = LEFT;
            rows += 1.0;
        }
        x += width;
    }
    rows
}

fn px(x: f64, top: f64) -> f64 {
    LEFT + (WIDTH - LEFT - RIGHT) * (x / top)
}

fn py(y: f64, top: f64) -> f64 {
    HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * (y / top)
}

/// Round tick values from 0 to at least `max`, and the top of the axis.
fn ticks(max: f64) -> (Vec<f64>, f64) {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let n = (max / step).ceil() as usize;
    let ticks = (0..=n).map(|i| step * i as f64).collect();
    (ticks, step * n as f64)
}

/// A tick label: whole numbers as such, others with up to 3 decimals.
fn number(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').to_string()
    }
}

/// Text for SVG or HTML: `&`, `<`, `>` and `"` escaped.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_maximum() {
        assert_eq!(ticks(9.0), (vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0], 10.0));
        let (t, top) = ticks(12_345.0);
        assert!(top >= 12_345.0 && t.len() <= 7, "{t:?}");
        assert_eq!(ticks(0.0).1, 1.0);
        assert_eq!(ticks(f64::NAN).1, 1.0);
    }

    #[test]
    fn charts_escape_their_text() {
        let s = line_chart(
            "a<b",
            "x",
            "y",
            &[Series {
                name: "q&r".into(),
                points: vec![(0.0, 1.0), (1.0, 2.0)],
            }],
        );
        assert!(s.contains("a&lt;b") && s.contains("q&amp;r") && !s.contains("a<b"));
        let b = bar_chart("h", "x", "y", &[("<1".into(), 3.0)]);
        assert!(b.contains("&lt;1") && b.ends_with("</svg>"));
    }

    #[test]
    fn a_long_series_is_a_line_without_dots() {
        let series = |n: usize| Series {
            name: "s".into(),
            points: (0..n).map(|i| (i as f64, 1.0)).collect(),
        };
        let short = line_chart("t", "x", "y", &[series(MAX_DOTS)]);
        assert_eq!(short.matches("<circle").count(), MAX_DOTS);
        let long = line_chart("t", "x", "y", &[series(MAX_DOTS + 1)]);
        assert_eq!(long.matches("<circle").count(), 0);
        assert_eq!(long.matches("<polyline").count(), 1);
    }

    #[test]
    fn a_long_legend_wraps_and_the_chart_grows_to_hold_it() {
        let series: Vec<Series> = (0..12)
            .map(|i| Series {
                name: format!("consumer {i} received"),
                points: vec![(1.0, 1.0)],
            })
            .collect();
        assert!(legend_rows(series.iter().map(|s| s.name.as_str())) > 1.0);
        let svg = line_chart("t", "x", "y", &series);
        assert!(!svg.contains(&format!("viewBox=\"0 0 {WIDTH} {HEIGHT}\"")));
    }
}
