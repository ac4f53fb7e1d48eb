//! Rows out: an aligned table with a header on a terminal, tab-separated
//! lines without one into a pipe (for `cut`, `while read`), or one JSON
//! object per line keyed by column name.

use clap::ValueEnum;
use serde_json::Value;

use super::columns::{cell, lookup};

/// `--format` of `list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Aligned columns under a header (the default on a terminal).
    Table,
    /// Tab-separated values, no header (the default into a pipe or file).
    Tsv,
    /// One JSON object per line, the columns as keys.
    Json,
}

/// The whole output for `items` in `columns`.
pub fn render(format: ListFormat, columns: &[String], items: &[&Value]) -> String {
    match format {
        ListFormat::Table => table(columns, items),
        ListFormat::Tsv => items
            .iter()
            .map(|item| {
                let cells: Vec<String> = columns
                    .iter()
                    .map(|c| escape(&cell(lookup(item, c))))
                    .collect();
                cells.join("\t") + "\n"
            })
            .collect(),
        ListFormat::Json => items
            .iter()
            .map(|item| {
                let fields: Vec<String> = columns
                    .iter()
                    .map(|c| {
                        let value = lookup(item, c).unwrap_or(&Value::Null);
                        format!("{}:{value}", Value::String(c.clone()))
                    })
                    .collect();
                format!("{{{}}}\n", fields.join(","))
            })
            .collect(),
    }
}

fn table(columns: &[String], items: &[&Value]) -> String {
    let rows: Vec<Vec<String>> = std::iter::once(columns.to_vec())
        .chain(items.iter().map(|item| {
            columns
                .iter()
                .map(|c| escape(&cell(lookup(item, c))))
                .collect()
        }))
        .collect();
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, text) in row.iter().enumerate() {
            line.push_str(text);
            if i + 1 < row.len() {
                let pad = widths[i] - text.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A cell on one line: tab, newline, carriage return and backslash escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cols(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_table_aligns_under_its_header_and_tsv_has_none() {
        let a = json!({"name": "orders", "messages": 12});
        let b = json!({"name": "q", "messages": 0});
        let items = [&a, &b];
        assert_eq!(
            render(ListFormat::Table, &cols(&["name", "messages"]), &items),
            "name    messages\norders  12\nq       0\n"
        );
        assert_eq!(
            render(ListFormat::Tsv, &cols(&["name", "messages"]), &items),
            "orders\t12\nq\t0\n"
        );
    }

    #[test]
    fn json_keeps_types_and_column_order_and_nulls_what_is_missing() {
        let a = json!({"name": "a\tb", "durable": true, "x": {"y": 2}});
        assert_eq!(
            render(
                ListFormat::Json,
                &cols(&["x.y", "name", "durable", "gone"]),
                &[&a]
            ),
            "{\"x.y\":2,\"name\":\"a\\tb\",\"durable\":true,\"gone\":null}\n"
        );
        assert_eq!(render(ListFormat::Tsv, &cols(&["name"]), &[&a]), "a\\tb\n");
    }
}
