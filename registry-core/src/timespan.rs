//! Timespans: half-open `[begin, end)` in TAI nanoseconds since 1970-01-01, `None` for
//! an unbounded end; and the reference's TAI ISO text form.

use chrono::{NaiveDate, NaiveDateTime, Timelike};

use crate::error::{RegistryError, Result};
use crate::schema::{TIMESPAN_MAX, TIMESPAN_MIN};

/// A half-open time interval in TAI nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
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

    /// As [`Self::new`], but refusing a begin after the end: the reference would take
    /// such a range as empty, which silently matches nothing.
    pub fn checked(begin: Option<i64>, end: Option<i64>) -> Result<Timespan> {
        if let (Some(b), Some(e)) = (begin, end) {
            if b > e {
                return Err(RegistryError::Invalid(format!(
                    "timespan begins at {} TAI, after it ends at {} TAI: give the begin first",
                    format_tai_iso(b),
                    format_tai_iso(e)
                )));
            }
        }
        Ok(Timespan::new(begin, end))
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
/// into TAI nanoseconds since 1970-01-01. TAI has no leap seconds, so a second `60`
/// is refused.
pub fn parse_tai_iso(text: &str) -> Result<i64> {
    parse_iso(text, "TAI", false)
}

/// Parse an ISO time in UTC (same forms as [`parse_tai_iso`]) into nanoseconds since
/// 1970-01-01 without leap seconds: a leap second `23:59:60` is read as the second
/// after it, as POSIX time does.
pub fn parse_utc_iso(text: &str) -> Result<i64> {
    parse_iso(text, "UTC", true)
}

fn parse_iso(text: &str, scale: &str, leap_seconds: bool) -> Result<i64> {
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
                "invalid time {text:?}: expected YYYY-MM-DD[ HH:MM:SS[.fffffffff]] ({scale})"
            ))
        })?;
    // The parser reads a second 60 as a leap second, at any minute.
    if parsed.nanosecond() >= 1_000_000_000
        && !(leap_seconds && parsed.hour() == 23 && parsed.minute() == 59)
    {
        return Err(RegistryError::Invalid(format!(
            "invalid time {text:?}: second 60 is a leap second, and {}",
            if leap_seconds {
                "UTC has them only at 23:59:60"
            } else {
                "TAI has none"
            }
        )));
    }
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

/// Format UTC nanoseconds as ISO 8601 (`2026-12-02T18:42:50.123456`, microseconds
/// as Python's `isoformat` gives them; none when whole seconds).
pub fn format_utc_iso(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let micros = ns.rem_euclid(1_000_000_000) / 1000;
    match chrono::DateTime::from_timestamp(secs, 0) {
        Some(dt) if micros == 0 => dt.format("%Y-%m-%dT%H:%M:%S").to_string(),
        Some(dt) => format!("{}.{micros:06}", dt.format("%Y-%m-%dT%H:%M:%S")),
        None => ns.to_string(),
    }
}

/// Nanoseconds in a second.
pub const NS: i64 = 1_000_000_000;
/// Nanoseconds in a day.
pub const DAY_NS: i64 = 86_400 * NS;

/// Days since 1970-01-01 of a civil (proleptic Gregorian) date.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// TAI − UTC from each date on which it changed (the leap seconds since 1972).
const LEAP_SECONDS: &[((i64, i64), i64)] = &[
    ((1972, 1), 10),
    ((1972, 7), 11),
    ((1973, 1), 12),
    ((1974, 1), 13),
    ((1975, 1), 14),
    ((1976, 1), 15),
    ((1977, 1), 16),
    ((1978, 1), 17),
    ((1979, 1), 18),
    ((1980, 1), 19),
    ((1981, 7), 20),
    ((1982, 7), 21),
    ((1983, 7), 22),
    ((1985, 7), 23),
    ((1988, 1), 24),
    ((1990, 1), 25),
    ((1991, 1), 26),
    ((1992, 7), 27),
    ((1993, 7), 28),
    ((1994, 7), 29),
    ((1996, 1), 30),
    ((1997, 7), 31),
    ((1999, 1), 32),
    ((2006, 1), 33),
    ((2009, 1), 34),
    ((2012, 7), 35),
    ((2015, 7), 36),
    ((2017, 1), 37),
];

/// TAI nanoseconds of a UTC instant given as POSIX nanoseconds (no leap seconds
/// counted). Times before 1972, when UTC had no whole-second offset, are refused.
pub fn utc_to_tai(utc_ns: i64) -> Result<i64, String> {
    let day = utc_ns.div_euclid(DAY_NS);
    let offset = LEAP_SECONDS
        .iter()
        .rev()
        .find(|((y, m), _)| days_from_civil(*y, *m, 1) <= day)
        .map(|(_, s)| *s)
        .ok_or_else(|| "UTC times before 1972 are not supported".to_owned())?;
    Ok(utc_ns + offset * NS)
}

/// TAI nanoseconds of a Modified Julian Date in TAI.
pub fn mjd_to_ns(mjd: f64) -> i64 {
    ((mjd - 40_587.0) * DAY_NS as f64).round() as i64
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
    fn tai_has_no_leap_seconds() {
        for t in [
            "2016-12-31 23:59:60",
            "2016-12-31T23:59:60.5",
            "2020-06-01 12:30:60.000000000",
        ] {
            let msg = parse_tai_iso(t).unwrap_err().to_string();
            assert!(msg.contains("TAI has none"), "{t}: {msg}");
        }
        assert!(parse_tai_iso("2016-12-31 23:59:59.999999999").is_ok());
        let leap = parse_utc_iso("2016-12-31 23:59:60").unwrap();
        assert_eq!(leap, parse_utc_iso("2017-01-01 00:00:00").unwrap());
        assert!(parse_utc_iso("2020-06-01 12:30:60").is_err());
    }

    #[test]
    fn reversed_timespans_are_refused() {
        let msg = Timespan::checked(Some(10), Some(5))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("after it ends"), "{msg}");
        assert_eq!(Timespan::checked(Some(5), Some(5)).unwrap().end, Some(6));
        assert!(Timespan::checked(None, Some(5)).is_ok());
        assert!(Timespan::checked(Some(5), None).is_ok());
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
