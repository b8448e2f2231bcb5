//! TAI nanoseconds → MJD (UTC), with the leap-second table.

/// `(UTC seconds since 1970 at which the offset starts, TAI − UTC in seconds)`, from
/// 1972 on (before 1972 UTC used rubber seconds; valet treats it as 10 s).
const LEAP_SECONDS: &[(i64, i64)] = &[
    (63_072_000, 10),    // 1972-01-01
    (78_796_800, 11),    // 1972-07-01
    (94_694_400, 12),    // 1973-01-01
    (126_230_400, 13),   // 1974-01-01
    (157_766_400, 14),   // 1975-01-01
    (189_302_400, 15),   // 1976-01-01
    (220_924_800, 16),   // 1977-01-01
    (252_460_800, 17),   // 1978-01-01
    (283_996_800, 18),   // 1979-01-01
    (315_532_800, 19),   // 1980-01-01
    (362_793_600, 20),   // 1981-07-01
    (394_329_600, 21),   // 1982-07-01
    (425_865_600, 22),   // 1983-07-01
    (489_024_000, 23),   // 1985-07-01
    (567_993_600, 24),   // 1988-01-01
    (631_152_000, 25),   // 1990-01-01
    (662_688_000, 26),   // 1991-01-01
    (709_948_800, 27),   // 1992-07-01
    (741_484_800, 28),   // 1993-07-01
    (773_020_800, 29),   // 1994-07-01
    (820_454_400, 30),   // 1996-01-01
    (867_715_200, 31),   // 1997-07-01
    (915_148_800, 32),   // 1999-01-01
    (1_136_073_600, 33), // 2006-01-01
    (1_230_768_000, 34), // 2009-01-01
    (1_341_100_800, 35), // 2012-07-01
    (1_435_708_800, 36), // 2015-07-01
    (1_483_228_800, 37), // 2017-01-01
];

/// TAI − UTC at a TAI instant given in seconds since 1970-01-01 (TAI).
pub fn tai_minus_utc_seconds(tai_seconds: i64) -> i64 {
    let mut offset = 10;
    for &(utc_start, dt) in LEAP_SECONDS {
        // The offset applies from the TAI instant utc_start + dt on.
        if tai_seconds >= utc_start + dt {
            offset = dt;
        } else {
            break;
        }
    }
    offset
}

/// Convert TAI nanoseconds since 1970-01-01 to a Modified Julian Date in UTC.
pub fn tai_ns_to_mjd_utc(tai_ns: i64) -> f64 {
    let secs = tai_ns.div_euclid(1_000_000_000);
    let utc_ns = tai_ns as i128 - tai_minus_utc_seconds(secs) as i128 * 1_000_000_000;
    40_587.0 + (utc_ns as f64) / 86_400e9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        // 2022-01-01 00:00:00 TAI is 2021-12-31 23:59:23 UTC.
        let tai_2022 = 1_640_995_200i64;
        assert_eq!(tai_minus_utc_seconds(tai_2022), 37);
        assert_eq!(tai_minus_utc_seconds(1_400_000_000), 35);
        let mjd = tai_ns_to_mjd_utc(tai_2022 * 1_000_000_000);
        let expected = 59_580.0 - 37.0 / 86_400.0;
        assert!((mjd - expected).abs() < 1e-12, "{mjd} vs {expected}");
    }
}
