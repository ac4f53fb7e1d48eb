//! `--max-inflight-bytes` (`con`, `move`, `redrive`) and its size parser:
//! how many body bytes the broker may send ahead of what is written or
//! confirmed (the rule is `broker::inflight`'s).

use clap::Args;

/// `--max-inflight-bytes`, as `con`, `move` and `redrive` take it.
#[derive(Debug, Args)]
pub struct InflightArgs {
    /// Bytes of message bodies the broker may send ahead (0: no bound).
    /// The prefetch is BYTES / the largest body among the last 64 to 128
    /// received, at least 1, at most con's --prefetch (move and redrive:
    /// twice the window, which then is at most half of it); lowered at
    /// once, raised by a quarter or more. con starts at 1 until a body size
    /// is known, move and redrive at their first message's. Sizes take k,
    /// M, G (x1024): 64k, 32MiB.
    #[arg(long, value_name = "BYTES", default_value = "32MiB", value_parser = parse_bytes)]
    pub max_inflight_bytes: u64,
}

/// Parses a size in bytes: digits, then optionally k, M or G (binary
/// multiples, with or without `iB`/`B`): `65536`, `64k`, `64KiB`, `32M`.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(digits);
    let shift = match unit {
        "" | "B" => 0,
        "k" | "K" | "KB" | "kB" | "KiB" => 10,
        "M" | "MB" | "MiB" => 20,
        "G" | "GB" | "GiB" => 30,
        _ => {
            return Err(format!(
                "'{s}' is not a size: give bytes, or a number with k, M or G (e.g. 64k, 32MiB)"
            ));
        }
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a size: it starts with no number"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("'{s}' is too large a size"))
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes_take_binary_suffixes() {
        let sizes = [
            ("0", 0),
            ("65536", 65536),
            ("64k", 65536),
            ("64KiB", 65536),
            ("32MiB", 32 << 20),
            ("32M", 32 << 20),
            ("1G", 1 << 30),
        ];
        for (text, bytes) in sizes {
            assert_eq!(parse_bytes(text), Ok(bytes), "{text}");
        }
        for bad in [
            "",
            "k",
            "32 MiB",
            "-1",
            "1.5M",
            "32mib",
            "99999999999999999999G",
        ] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }
}
