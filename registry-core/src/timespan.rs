//! Timespans: half-open `[begin, end)` in TAI nanoseconds since 1970-01-01, `None` for
//! an unbounded end; and the reference's TAI ISO text form.

use chrono::{NaiveDate, NaiveDateTime};

use crate::error::{RegistryError, Result};
use crate::schema::{TIMESPAN_MAX, TIMESPAN_MIN};

/// A half-open time interval in TAI nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timespan {
    /// Inclusive start; `None` is unbounded.
    pub begin: Option<i64>,
    /// Exclusive end; `None` is unbounded.
    pub end: Option<i64>,
}

impl Timespan {
    /// A timespan from optional bounds; an instant `t..t` is padded to `[t, t+1ns)` as
    /// the reference does.
    pub fn new(begin: Option<i64>, end: Option<i64>) -> Timespan {
        match (begin, end) {
            (Some(b), Some(e)) if b == e => Timespan {
                begin: Some(b),
                end: Some(b.saturating_add(1)),
            },
            _ => Timespan { begin, end },
        }
    }

    /// The begin bound as stored in NOT NULL columns.
    pub fn begin_or_min(&self) -> i64 {
        self.begin.unwrap_or(TIMESPAN_MIN)
    }

    /// The end bound as stored in NOT NULL columns.
    pub fn end_or_max(&self) -> i64 {
        self.end.unwrap_or(TIMESPAN_MAX)
    }

    /// Back from stored NOT NULL columns.
    pub fn from_stored(begin: i64, end: i64) -> Timespan {
        Timespan {
            begin: (begin != TIMESPAN_MIN).then_some(begin),
            end: (end != TIMESPAN_MAX).then_some(end),
        }
    }

    /// True if the two intervals share any instant.
    pub fn overlaps(&self, other: &Timespan) -> bool {
        self.end_or_max() > other.begin_or_min() && other.end_or_max() > self.begin_or_min()
    }
}

/// Parse the reference's TAI ISO form (`2020-01-01 00:00:00.000000000`, also with `T`)
/// into TAI nanoseconds since 1970-01-01. The scale is TAI throughout, so no leap
/// seconds are involved.
pub fn parse_tai_iso(text: &str) -> Result<i64> {
    let t = text.trim();
    let formats = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ];
    let parsed = formats
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .ok_or_else(|| {
            RegistryError::Invalid(format!(
                "invalid time {text:?}: expected YYYY-MM-DD[ HH:MM:SS[.fffffffff]] (TAI)"
            ))
        })?;
    parsed
        .and_utc()
        .timestamp_nanos_opt()
        .ok_or_else(|| RegistryError::Invalid(format!("time {text:?} is out of range")))
}

/// Format TAI nanoseconds as the reference's ISO text with nanoseconds.
pub fn format_tai_iso(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    match chrono::DateTime::from_timestamp(secs, 0) {
        Some(dt) => format!("{}.{frac:09}", dt.format("%Y-%m-%d %H:%M:%S")),
        None => ns.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_round_trip() {
        let ns = parse_tai_iso("2020-01-01 00:00:00.000000001").unwrap();
        assert_eq!(ns, 1_577_836_800_000_000_001);
        assert_eq!(format_tai_iso(ns), "2020-01-01 00:00:00.000000001");
        assert_eq!(
            parse_tai_iso("2020-01-01").unwrap(),
            1_577_836_800_000_000_000
        );
        assert!(parse_tai_iso("yesterday").is_err());
    }

    #[test]
    fn overlap_is_half_open() {
        let a = Timespan::new(Some(0), Some(10));
        assert!(!a.overlaps(&Timespan::new(Some(10), Some(20))));
        assert!(a.overlaps(&Timespan::new(Some(9), None)));
        assert!(a.overlaps(&Timespan::new(None, None)));
        assert_eq!(Timespan::new(Some(5), Some(5)).end, Some(6));
        assert_eq!(
            Timespan::from_stored(a.begin_or_min(), TIMESPAN_MAX).end,
            None
        );
    }
}
