//! Times and durations as operators write them on the command line and in admin API queries.

use time::{Duration, OffsetDateTime};

/// An instant given as RFC 3339 or as an age before now (`30s`, `90m`, `36h`, `7d`).
pub fn parse_instant(flag: &str, s: &str) -> Result<OffsetDateTime, String> {
    if let Ok(t) = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Ok(t);
    }
    let age = parse_duration(s).map_err(|_| {
        format!("{flag} '{s}' is neither an RFC 3339 time (2026-01-31T00:00:00Z) nor an age such as 90m, 36h or 7d")
    })?;
    Ok(OffsetDateTime::now_utc() - age)
}

/// A duration such as `45s`, `90m`, `36h` or `30d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let err = || format!("'{s}' is not a duration such as 45s, 90m, 36h or 30d");
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().map_err(|_| err())?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(err()),
    };
    n.checked_mul(secs)
        .filter(|v| *v <= 100 * 365 * 86_400)
        .map(Duration::seconds)
        .ok_or_else(err)
}
