//! The little astronomy raw headers need: UTC to TAI (leap seconds), civil dates,
//! sexagesimal angles and the FK5 (J2000) to ICRS frame bias.

pub use valet_registry::timespan::{days_from_civil, utc_to_tai, DAY_NS, NS};

/// The civil date of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// An angle in degrees from a number or sexagesimal text (`18:02:42.9`, `-23 46 59.8`)
/// in `unit`: `deg`, `hourangle`, `arcsec` or `rad`.
pub fn angle_degrees(value: f64, unit: &str) -> Result<f64, String> {
    Ok(match unit {
        "deg" => value,
        "hourangle" => value * 15.0,
        "arcsec" => value / 3600.0,
        "rad" => value.to_degrees(),
        other => {
            return Err(format!(
                "unknown unit {other:?} (deg, hourangle, arcsec, rad)"
            ))
        }
    })
}

/// A sexagesimal number (`-23:46:59.8` → −23.7833) or a plain one.
pub fn sexagesimal(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let negative = t.starts_with('-');
    let parts: Vec<&str> = t
        .trim_start_matches(['-', '+'])
        .split([':', ' '])
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() || parts.len() > 3 {
        return Err(format!("{text:?} is not a number or a sexagesimal value"));
    }
    let mut total = 0.0;
    for (i, p) in parts.iter().enumerate() {
        let x: f64 = p
            .parse()
            .map_err(|_| format!("{text:?} is not a number or a sexagesimal value"))?;
        total += x / 60f64.powi(i as i32);
    }
    Ok(if negative { -total } else { total })
}

/// Rotate (ra, dec) in degrees from FK5 (equinox J2000) to ICRS with the frame-bias
/// matrix of USNO Circular 179, as astropy does.
pub fn fk5_j2000_to_icrs(ra: f64, dec: f64) -> (f64, f64) {
    let mas = std::f64::consts::PI / (180.0 * 3_600_000.0);
    let eta0 = -19.9 * mas;
    let xi0 = 9.1 * mas;
    let da0 = -22.9 * mas;
    // Matrices rotating a frame by an angle about an axis.
    let rx = |a: f64| {
        [
            [1.0, 0.0, 0.0],
            [0.0, a.cos(), a.sin()],
            [0.0, -a.sin(), a.cos()],
        ]
    };
    let ry = |a: f64| {
        [
            [a.cos(), 0.0, -a.sin()],
            [0.0, 1.0, 0.0],
            [a.sin(), 0.0, a.cos()],
        ]
    };
    let rz = |a: f64| {
        [
            [a.cos(), a.sin(), 0.0],
            [-a.sin(), a.cos(), 0.0],
            [0.0, 0.0, 1.0],
        ]
    };
    let mul = |a: [[f64; 3]; 3], b: [[f64; 3]; 3]| {
        let mut c = [[0.0; 3]; 3];
        for (i, row) in c.iter_mut().enumerate() {
            for (j, cell) in row.iter_mut().enumerate() {
                *cell = (0..3).map(|k| a[i][k] * b[k][j]).sum();
            }
        }
        c
    };
    // ICRS → FK5 J2000; its transpose takes FK5 back to ICRS.
    let m = mul(mul(rx(-eta0), ry(xi0)), rz(da0));
    let (ra_r, dec_r) = (ra.to_radians(), dec.to_radians());
    let v = [
        dec_r.cos() * ra_r.cos(),
        dec_r.cos() * ra_r.sin(),
        dec_r.sin(),
    ];
    let w: Vec<f64> = (0..3)
        .map(|i| (0..3).map(|k| m[k][i] * v[k]).sum())
        .collect();
    let ra_out = w[1].atan2(w[0]).to_degrees().rem_euclid(360.0);
    let dec_out = w[2].atan2(w[0].hypot(w[1])).to_degrees();
    (ra_out, dec_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2013, 2, 13), 15749);
        for d in [-1000, 0, 15749, 20000, 60000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }

    #[test]
    fn leap_seconds() {
        let t = days_from_civil(2013, 2, 13) * DAY_NS;
        assert_eq!(utc_to_tai(t).unwrap() - t, 35 * NS);
        let t = days_from_civil(2017, 1, 1) * DAY_NS;
        assert_eq!(utc_to_tai(t).unwrap() - t, 37 * NS);
        assert_eq!(utc_to_tai(t - 1).unwrap() - (t - 1), 36 * NS);
        assert!(utc_to_tai(0).is_err());
    }

    #[test]
    fn sexagesimal_angles() {
        assert!((sexagesimal("18:02:42.907").unwrap() - 18.045251944).abs() < 1e-8);
        assert!((sexagesimal("-23:46:59.898").unwrap() + 23.783305).abs() < 1e-6);
        assert_eq!(sexagesimal("+00:30:00").unwrap(), 0.5);
        assert_eq!(sexagesimal("12.5").unwrap(), 12.5);
        assert!(sexagesimal("north").is_err());
    }
}
