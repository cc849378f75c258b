//! `expires` timestamps: Go's `time.Time` JSON form (RFC 3339 with an optional fraction).
//!
//! The original string is kept for verification (signatures cover the exact value); Go's
//! re-formatting is reproduced only where a Go producer would re-emit the value.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// An `expires` value: the string as received and the instant it denotes.
#[derive(Clone, PartialEq, Eq)]
pub struct GoTime {
    original: String,
    instant: OffsetDateTime,
}

impl GoTime {
    pub fn parse(s: &str) -> Result<GoTime, time::error::Parse> {
        let instant = OffsetDateTime::parse(s, &Rfc3339)?;
        Ok(GoTime {
            original: s.to_string(),
            instant,
        })
    }

    /// A value we produce: written in Go's layout for UTC.
    pub fn from_instant(t: OffsetDateTime) -> GoTime {
        let t = t.to_offset(UtcOffset::UTC);
        GoTime {
            original: format_go(t),
            instant: t,
        }
    }

    pub fn instant(&self) -> OffsetDateTime {
        self.instant
    }

    pub fn as_str(&self) -> &str {
        &self.original
    }

    /// How Go's `time.Time.MarshalJSON` writes this instant (RFC3339Nano).
    pub fn go_format(&self) -> String {
        format_go(self.instant)
    }
}

/// RFC 3339 with the fraction trimmed of trailing zeros and `Z` for a zero offset.
pub fn format_go(t: OffsetDateTime) -> String {
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    let off = t.offset();
    if off.is_utc() {
        s.push('Z');
    } else {
        let (h, m, _) = off.as_hms();
        let sign = if off.is_negative() { '-' } else { '+' };
        s.push_str(&format!(
            "{sign}{:02}:{:02}",
            h.unsigned_abs(),
            m.unsigned_abs()
        ));
    }
    s
}

impl fmt::Debug for GoTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl fmt::Display for GoTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

/// Serialises the way a Go producer would re-emit the value.
impl Serialize for GoTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.go_format())
    }
}

impl<'de> Deserialize<'de> for GoTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        GoTime::parse(&s).map_err(|e| serde::de::Error::custom(format!("expires {s:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_layout() {
        assert_eq!(
            GoTime::parse("2030-01-02T03:04:05.600+01:00")
                .unwrap()
                .go_format(),
            "2030-01-02T03:04:05.6+01:00"
        );
        assert_eq!(
            GoTime::parse("2027-11-22T13:52:29.195885185Z")
                .unwrap()
                .go_format(),
            "2027-11-22T13:52:29.195885185Z"
        );
        assert_eq!(
            GoTime::parse("2027-11-22T13:52:29+00:00")
                .unwrap()
                .go_format(),
            "2027-11-22T13:52:29Z"
        );
        assert_eq!(
            GoTime::parse("2027-11-22T13:52:29.000-05:30")
                .unwrap()
                .go_format(),
            "2027-11-22T13:52:29-05:30"
        );
        assert_eq!(
            GoTime::parse("2027-11-22T13:52:29.1Z").unwrap().as_str(),
            "2027-11-22T13:52:29.1Z"
        );
    }
}
