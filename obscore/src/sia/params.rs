//! SIAv2 query parameters (IVOA SIA 2.0, section 2.2), parsed from the text a URL
//! or a command line gives them in. Values of one parameter are ORed; parameters
//! are ANDed; ranges may be open (`-Inf`, `+Inf`).

use super::geometry::{unit, Polygon, V3};
use crate::ObsCoreError;

/// A closed numeric interval; either end may be infinite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Lower end.
    pub lo: f64,
    /// Upper end.
    pub hi: f64,
}

/// A `POS` shape.
#[derive(Debug, Clone, PartialEq)]
pub enum Pos {
    /// `CIRCLE ra dec radius` (degrees).
    Circle {
        /// The center.
        center: V3,
        /// Its declination (degrees).
        dec: f64,
        /// The radius (degrees).
        radius: f64,
    },
    /// `RANGE ra_min ra_max dec_min dec_max` (degrees).
    Range {
        /// Right ascension interval.
        ra: (f64, f64),
        /// Declination interval.
        dec: (f64, f64),
    },
    /// `POLYGON ra1 dec1 ra2 dec2 ra3 dec3 …` (degrees), convex.
    Polygon(Polygon),
}

/// A SIAv2 query: every constraint given, and `MAXREC`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SiaQuery {
    /// `POS`: footprints that overlap any of the shapes.
    pub pos: Vec<Pos>,
    /// `BAND` (metres): spectral coverage overlapping any interval.
    pub band: Vec<Interval>,
    /// `TIME` (MJD): time coverage overlapping any interval.
    pub time: Vec<Interval>,
    /// `POL`: polarization states.
    pub pol: Vec<String>,
    /// `FOV` (degrees): `s_fov` within any interval.
    pub fov: Vec<Interval>,
    /// `SPATRES` (arcsec): `s_resolution` within any interval.
    pub spatres: Vec<Interval>,
    /// `EXPTIME` (seconds): `t_exptime` within any interval.
    pub exptime: Vec<Interval>,
    /// `ID`: `obs_publisher_did`.
    pub id: Vec<String>,
    /// `COLLECTION`: `obs_collection`.
    pub collection: Vec<String>,
    /// `FACILITY`: `facility_name`.
    pub facility: Vec<String>,
    /// `INSTRUMENT`: `instrument_name`.
    pub instrument: Vec<String>,
    /// `DPTYPE`: `dataproduct_type`.
    pub dptype: Vec<String>,
    /// `DPSUBTYPE`: `dataproduct_subtype`.
    pub dpsubtype: Vec<String>,
    /// `CALIB`: `calib_level`.
    pub calib: Vec<i64>,
    /// `TARGET`: `target_name`.
    pub target: Vec<String>,
    /// `FORMAT`: `access_format`.
    pub format: Vec<String>,
    /// `MAXREC`: at most this many rows (0: the columns only).
    pub maxrec: Option<usize>,
}

fn invalid(name: &str, value: &str, why: &str) -> ObsCoreError {
    ObsCoreError::Invalid(format!("{name}={value:?}: {why}"))
}

fn number(name: &str, value: &str, word: &str) -> Result<f64, ObsCoreError> {
    match word.to_ascii_lowercase().as_str() {
        "-inf" => Ok(f64::NEG_INFINITY),
        "+inf" | "inf" => Ok(f64::INFINITY),
        w => w
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| invalid(name, value, &format!("{word:?} is not a number"))),
    }
}

fn numbers(name: &str, value: &str) -> Result<Vec<f64>, ObsCoreError> {
    value
        .split_whitespace()
        .map(|w| number(name, value, w))
        .collect()
}

fn interval(name: &str, value: &str) -> Result<Interval, ObsCoreError> {
    let xs = numbers(name, value)?;
    let (lo, hi) = match xs[..] {
        [x] => (x, x),
        [lo, hi] => (lo, hi),
        _ => return Err(invalid(name, value, "give one value or two (low high)")),
    };
    if lo > hi {
        return Err(invalid(name, value, "the low end is above the high end"));
    }
    Ok(Interval { lo, hi })
}

fn pos(value: &str) -> Result<Pos, ObsCoreError> {
    let name = "POS";
    let mut words = value.split_whitespace();
    let shape = words.next().unwrap_or_default().to_ascii_uppercase();
    let rest: Vec<&str> = words.collect();
    let xs = rest
        .iter()
        .map(|w| number(name, value, w))
        .collect::<Result<Vec<f64>, _>>()?;
    let finite = |i: usize| xs[i].is_finite();
    match (shape.as_str(), xs.len()) {
        ("CIRCLE", 3) => {
            if !(finite(0) && finite(1) && finite(2)) || xs[2] < 0.0 || xs[1].abs() > 90.0 {
                return Err(invalid(name, value, "CIRCLE takes ra dec radius in degrees"));
            }
            Ok(Pos::Circle {
                center: unit(xs[0], xs[1]),
                dec: xs[1],
                radius: xs[2],
            })
        }
        ("RANGE", 4) => {
            let ra = (xs[0].max(0.0), xs[1].min(360.0));
            let dec = (xs[2].max(-90.0), xs[3].min(90.0));
            if ra.0 > ra.1 || dec.0 > dec.1 {
                return Err(invalid(name, value, "RANGE takes ra_min ra_max dec_min dec_max"));
            }
            Ok(Pos::Range { ra, dec })
        }
        ("POLYGON", n) if n >= 6 && n.is_multiple_of(2) && xs.iter().all(|x| x.is_finite()) => {
            let points: Vec<(f64, f64)> = xs.chunks(2).map(|p| (p[0], p[1])).collect();
            Polygon::from_degrees(&points)
                .map(Pos::Polygon)
                .ok_or_else(|| invalid(name, value, "the polygon must be convex, with three or more vertices"))
        }
        _ => Err(invalid(
            name,
            value,
            "use CIRCLE ra dec radius, RANGE ra1 ra2 dec1 dec2 or POLYGON ra1 dec1 ra2 dec2 ra3 dec3 …",
        )),
    }
}

impl SiaQuery {
    /// Add one `NAME=value` parameter (the name in any case); an unknown name is
    /// ignored, as the standard asks of services.
    pub fn add(&mut self, name: &str, value: &str) -> Result<(), ObsCoreError> {
        let upper = name.to_ascii_uppercase();
        let text = || value.trim().to_owned();
        match upper.as_str() {
            "POS" => self.pos.push(pos(value)?),
            "BAND" => self.band.push(interval(&upper, value)?),
            "TIME" => self.time.push(interval(&upper, value)?),
            "FOV" => self.fov.push(interval(&upper, value)?),
            "SPATRES" => self.spatres.push(interval(&upper, value)?),
            "EXPTIME" => self.exptime.push(interval(&upper, value)?),
            "POL" => self.pol.push(text()),
            "ID" => self.id.push(text()),
            "COLLECTION" => self.collection.push(text()),
            "FACILITY" => self.facility.push(text()),
            "INSTRUMENT" => self.instrument.push(text()),
            "DPTYPE" => self.dptype.push(text()),
            "DPSUBTYPE" => self.dpsubtype.push(text()),
            "TARGET" => self.target.push(text()),
            "FORMAT" => self.format.push(text()),
            "CALIB" => match value.trim().parse::<i64>() {
                Ok(level @ 0..=3) => self.calib.push(level),
                _ => {
                    return Err(invalid(
                        &upper,
                        value,
                        "calibration levels are 0, 1, 2 and 3",
                    ))
                }
            },
            "MAXREC" => {
                self.maxrec = Some(
                    value
                        .trim()
                        .parse()
                        .map_err(|_| invalid(&upper, value, "give a count, 0 or more"))?,
                )
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let mut q = SiaQuery::default();
        q.add("pos", "CIRCLE 10 -5 0.5").unwrap();
        q.add("POS", "RANGE 0 +Inf -Inf 10").unwrap();
        q.add("BAND", "5e-7 +Inf").unwrap();
        q.add("time", "60000").unwrap();
        q.add("CALIB", "2").unwrap();
        q.add("MAXREC", "0").unwrap();
        q.add("RESPONSEFORMAT", "votable").unwrap();
        assert_eq!(q.pos.len(), 2);
        assert_eq!(
            q.pos[1],
            Pos::Range {
                ra: (0.0, 360.0),
                dec: (-90.0, 10.0)
            }
        );
        assert_eq!(
            q.band[0],
            Interval {
                lo: 5e-7,
                hi: f64::INFINITY
            }
        );
        assert_eq!(
            q.time[0],
            Interval {
                lo: 60000.0,
                hi: 60000.0
            }
        );
        assert_eq!(q.maxrec, Some(0));
        for (name, value) in [
            ("POS", "CIRCLE 10 5"),
            ("POS", "BOX 1 2 3 4"),
            ("POS", "POLYGON 0 0 2 0 1 0.2 2 1 0 1"),
            ("BAND", "2 1"),
            ("BAND", "x"),
            ("CALIB", "4"),
            ("MAXREC", "-1"),
        ] {
            let e = SiaQuery::default()
                .add(name, value)
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!("{}=", name.to_ascii_uppercase())),
                "{e}"
            );
        }
    }
}
