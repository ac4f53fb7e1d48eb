//! Property tests of RFC 3339 times (`con --offset`), and a regression
//! the fuzzing found.

use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;

use crate::cmd::args::rfc3339::parse_rfc3339;

use crate::cmd::proptest_kit::{check, pieces};

// ---------------------------------------------------------------------------
// 5. RFC 3339 times (`con --offset`).

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01, by counting whole years and months.
fn days_since_epoch(y: i64, m: i64, d: i64) -> i64 {
    let years: i64 = (1970..y).map(|y| if is_leap(y) { 366 } else { 365 }).sum();
    let months: i64 = (1..m).map(|m| days_in_month(y, m)).sum();
    years + months + d - 1
}

#[derive(Debug, Clone)]
struct TimeModel {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    frac: Option<String>,
    separator: char,
    /// None is `Z`; otherwise the offset in minutes (sign included).
    offset: Option<i64>,
    lower_z: bool,
}

impl TimeModel {
    fn text(&self) -> String {
        let mut s = format!(
            "{:04}-{:02}-{:02}{}{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.separator, self.hour, self.minute, self.second
        );
        if let Some(frac) = &self.frac {
            s.push('.');
            s.push_str(frac);
        }
        match self.offset {
            None if self.lower_z => s.push('z'),
            None => s.push('Z'),
            Some(minutes) => {
                let sign = if minutes < 0 { '-' } else { '+' };
                let minutes = minutes.abs();
                s.push_str(&format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60));
            }
        }
        s
    }

    fn expected(&self) -> Option<u64> {
        let secs = days_since_epoch(self.year, self.month, self.day) * 86_400
            + self.hour * 3600
            + self.minute * 60
            + self.second
            - self.offset.unwrap_or(0) * 60;
        u64::try_from(secs).ok()
    }
}

fn time_model() -> impl Strategy<Value = TimeModel> {
    (1970i64..=2100, 1i64..=12)
        .prop_flat_map(|(year, month)| {
            (
                Just(year),
                Just(month),
                1..=days_in_month(year, month),
                (0i64..24, 0i64..60, 0i64..60),
                option::of("[0-9]{1,9}"),
                select(vec!['T', 't', ' ']),
                option::of(-(23 * 60 + 59)..=(23 * 60 + 59i64)),
                any::<bool>(),
            )
        })
        .prop_map(
            |(year, month, day, (hour, minute, second), frac, separator, offset, lower_z)| {
                TimeModel {
                    year,
                    month,
                    day,
                    hour,
                    minute,
                    second,
                    frac,
                    separator,
                    offset,
                    lower_z,
                }
            },
        )
}

fn time_like() -> impl Strategy<Value = String> {
    let shaped = (
        "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,4})?([Zz]|[+-][0-9+-]{2}:[0-9+-]{2})?",
        any::<usize>(),
        any::<char>(),
        0..3usize,
    )
        .prop_map(|(s, at, c, how)| {
            // Replace, insert or keep a character somewhere.
            let mut chars: Vec<char> = s.chars().collect();
            let at = at % (chars.len() + 1);
            match how {
                0 if at < chars.len() => chars[at] = c,
                1 => chars.insert(at, c),
                _ => {}
            }
            chars.into_iter().collect::<String>()
        });
    prop_oneof![
        1 => any::<String>(),
        1 => pieces(vec!["2024-", "01-", "31T", "12:", "00:", "00", ".", "Z", "+01:00", "-", ":", "é"]),
        3 => shaped,
    ]
}

#[test]
fn rfc3339_never_panics() {
    check("time", "never_panics", time_like(), |s| {
        let _ = parse_rfc3339(&s);
        Ok(())
    });
}

#[test]
fn rfc3339_matches_a_day_count() {
    check("time", "matches_reference", time_model(), |t| {
        let text = t.text();
        prop_assert_eq!(parse_rfc3339(&text), t.expected(), "{}", text);
        Ok(())
    });
}

#[test]
fn regression_rfc3339_refuses_impossible_dates_and_offsets() {
    // Every month is taken to have 31 days, and the date rolls over.
    // actual: Some(1709251200), which is 2024-03-01T00:00:00Z.
    assert_eq!(parse_rfc3339("2024-02-30T00:00:00Z"), None);
    // actual: Some(1677628800), 2023-03-01 (2023 is not a leap year).
    assert_eq!(parse_rfc3339("2023-02-29T00:00:00Z"), None);
    // actual: Some(1714521600), 2024-05-01.
    assert_eq!(parse_rfc3339("2024-04-31T00:00:00Z"), None);
    // The offset's hours go through `i64::from_str`, which takes a sign:
    // "+-1:00" is read as -01:00. actual: Some(1704070800).
    assert_eq!(parse_rfc3339("2024-01-01T00:00:00+-1:00"), None);
    // Offsets are not range-checked. actual: Some(1703704860).
    assert_eq!(parse_rfc3339("2024-01-01T00:00:00+99:99"), None);
}
