//! Go's duration syntax (`time.ParseDuration`), which kubectl's flags (`--timeout=30s`,
//! `--since=5m`) and a CronJob's `@every 1h30m` use: decimal numbers, each with a unit of `ns`,
//! `us` (`µs`), `ms`, `s`, `m` or `h`; `0` alone is zero.

use std::time::Duration;

/// Parses `30s`, `1m30s`, `500ms`, `1.5h`, `0`; the error says what a duration looks like.
pub fn parse_go(s: &str) -> Result<Duration, String> {
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let bad = || format!("invalid duration {s:?} (write e.g. 30s, 2m, 1h30m, 500ms)");
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let num: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += num * scale;
        rest = &rest[u..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_go("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_go("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_go("0"), Ok(Duration::ZERO));
        for bad in ["10", "", "5x", "1e400h"] {
            assert!(parse_go(bad).is_err(), "{bad}");
        }
    }
}
