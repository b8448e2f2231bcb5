//! A SIAv2 query answered from the live ObsCore table: the scalar constraints and a
//! declination band in SQL (the table is indexed on `(s_dec, s_ra)`), then `POS`
//! exactly, footprint against shape, on the rows that come back.

use arrow_schema::DataType;
use valet_registry::db::{quote_ident as q, DbError, DbErrorKind, Value};
use valet_registry::Registry;

use super::geometry::Polygon;
use super::params::{Interval, Pos, SiaQuery};
use crate::parquet_out::column_types;
use crate::{columns, ObsCoreError};

/// What stops a scan once `MAXREC` rows and one more have matched.
const STOP: &str = "SIAv2 scan stopped at MAXREC";

/// The rows a query found, with the table's columns.
#[derive(Debug, Clone, Default)]
pub struct SiaAnswer {
    /// Column names, in table order.
    pub columns: Vec<String>,
    /// Column types.
    pub types: Vec<DataType>,
    /// The rows, ordered by `obs_publisher_did`.
    pub rows: Vec<Vec<Value>>,
    /// More rows matched than `MAXREC` let through.
    pub overflow: bool,
}

/// SQL and its parameters, built up constraint by constraint.
#[derive(Default)]
struct Where {
    terms: Vec<String>,
    params: Vec<Value>,
}

impl Where {
    /// `column` equal to any of `values`.
    fn any_of<T: Clone + Into<Value>>(&mut self, column: &str, values: &[T]) {
        if values.is_empty() {
            return;
        }
        let marks = vec!["?"; values.len()].join(", ");
        self.terms.push(format!("{} IN ({marks})", q(column)));
        self.params.extend(values.iter().cloned().map(Into::into));
    }

    /// `column` inside any of `intervals`.
    fn within(&mut self, column: &str, intervals: &[Interval]) {
        self.overlapping(column, column, intervals);
    }

    /// `[low, high]` columns overlapping any of `intervals` (a NULL never matches).
    fn overlapping(&mut self, low: &str, high: &str, intervals: &[Interval]) {
        if intervals.is_empty() {
            return;
        }
        let mut any = Vec::new();
        for i in intervals {
            let mut all = vec![format!(
                "{} IS NOT NULL AND {} IS NOT NULL",
                q(low),
                q(high)
            )];
            if i.hi.is_finite() {
                all.push(format!("{} <= ?", q(low)));
                self.params.push(i.hi.into());
            }
            if i.lo.is_finite() {
                all.push(format!("{} >= ?", q(high)));
                self.params.push(i.lo.into());
            }
            any.push(format!("({})", all.join(" AND ")));
        }
        self.terms.push(format!("({})", any.join(" OR ")));
    }
}

/// The declination band (degrees) a footprint's center must fall in to overlap a
/// shape, given the largest footprint radius in the table.
fn dec_band(pos: &Pos, max_radius: f64) -> (f64, f64) {
    let (lo, hi) = match pos {
        Pos::Circle { dec, radius, .. } => (dec - radius, dec + radius),
        Pos::Range { dec, .. } => *dec,
        Pos::Polygon(p) => match crate::sky::bounding_circle(p.vertices()) {
            Some((c, opening)) => {
                let (_, dec) = valet_registry::region::lon_lat_degrees(c);
                let r = opening.to_degrees();
                (dec - r, dec + r)
            }
            None => (-90.0, 90.0),
        },
    };
    (lo - max_radius, hi + max_radius)
}

/// The right ascension window (degrees) a footprint's center must fall in to
/// overlap a shape, or `None` when any right ascension may (a shape near a pole, or
/// one whose window wraps all the way round). `band` is the shape's declination band
/// widened by the largest footprint radius.
fn ra_window(pos: &Pos, band: (f64, f64), max_radius: f64) -> Option<(f64, f64)> {
    let steepest = band.0.abs().max(band.1.abs());
    if steepest >= 89.0 {
        return None;
    }
    let stretch = 1.0 / steepest.to_radians().cos();
    let (lo, hi) = match pos {
        Pos::Circle { center, radius, .. } => {
            let ra = center[1].atan2(center[0]).to_degrees().rem_euclid(360.0);
            let reach = (radius + max_radius) * stretch;
            (ra - reach, ra + reach)
        }
        Pos::Range { ra, .. } => (ra.0 - max_radius * stretch, ra.1 + max_radius * stretch),
        Pos::Polygon(_) => return None,
    };
    (hi - lo < 360.0).then_some((lo, hi))
}

/// SQL keeping centers whose right ascension is in a window that may wrap at 0/360.
fn ra_terms(window: (f64, f64), w: &mut Where) -> String {
    let (lo, hi) = window;
    if lo < 0.0 {
        w.params
            .extend([(lo + 360.0).into(), 0.0.into(), hi.into()]);
        "(s_ra >= ? OR s_ra BETWEEN ? AND ?)".into()
    } else if hi > 360.0 {
        w.params
            .extend([lo.into(), 360.0.into(), 0.0.into(), (hi - 360.0).into()]);
        "(s_ra BETWEEN ? AND ? OR s_ra <= ?)".into()
    } else {
        w.params.extend([lo.into(), hi.into()]);
        "s_ra BETWEEN ? AND ?".into()
    }
}

/// Whether a footprint overlaps a shape.
fn overlaps(footprint: &Polygon, pos: &Pos) -> bool {
    match pos {
        Pos::Circle { center, radius, .. } => {
            footprint.overlaps_circle(*center, radius.to_radians())
        }
        Pos::Range { ra, dec } => footprint.overlaps_range(*ra, *dec),
        Pos::Polygon(p) => footprint.overlaps(p),
    }
}

/// Answer a SIAv2 query from the live ObsCore table.
pub fn query(registry: &Registry, sia: &SiaQuery) -> Result<SiaAnswer, ObsCoreError> {
    let (mut conn, config) = crate::table_export::open(registry)?;
    let columns = columns(&config);
    let types = column_types(&config);
    let table = crate::live::table_name(&config);
    let mut w = Where::default();
    w.overlapping("em_min", "em_max", &sia.band);
    w.overlapping("t_min", "t_max", &sia.time);
    w.within("s_fov", &sia.fov);
    w.within("s_resolution", &sia.spatres);
    w.within("t_exptime", &sia.exptime);
    w.any_of("obs_publisher_did", &sia.id);
    w.any_of("obs_collection", &sia.collection);
    w.any_of("facility_name", &sia.facility);
    w.any_of("instrument_name", &sia.instrument);
    w.any_of("dataproduct_type", &sia.dptype);
    w.any_of("dataproduct_subtype", &sia.dpsubtype);
    w.any_of("calib_level", &sia.calib);
    w.any_of("target_name", &sia.target);
    w.any_of("access_format", &sia.format);
    if !sia.pol.is_empty() {
        // The table has no polarization states, and NULL never matches.
        w.terms.push("1 = 0".into());
    }
    if !sia.pos.is_empty() {
        let max_fov = conn
            .query(&format!("SELECT MAX(s_fov) FROM {table}"), &[])?
            .first()
            .and_then(|r| match r[0] {
                Value::Float(x) => Some(x),
                Value::Int(i) => Some(i as f64),
                _ => None,
            })
            .unwrap_or(0.0);
        // Each shape: its declination band and, where it has one, its right
        // ascension window; a footprint's center must be in one of them.
        let mut any = Vec::new();
        for p in &sia.pos {
            let band = dec_band(p, max_fov / 2.0);
            let mut term = "s_dec BETWEEN ? AND ?".to_owned();
            w.params.push(band.0.into());
            w.params.push(band.1.into());
            if let Some(window) = ra_window(p, band, max_fov / 2.0) {
                term = format!("{term} AND {}", ra_terms(window, &mut w));
            }
            any.push(format!("({term})"));
        }
        w.terms.push(format!("({})", any.join(" OR ")));
    }
    let mut sql = format!(
        "SELECT {} FROM {table}",
        columns.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ")
    );
    if !w.terms.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&w.terms.join(" AND "));
    }
    sql.push_str(" ORDER BY obs_publisher_did, registry_dataset_id");
    let region_at = columns.iter().position(|c| c == "s_region");
    let limit = sia.maxrec.unwrap_or(usize::MAX);
    let mut answer = SiaAnswer {
        columns,
        types,
        ..Default::default()
    };
    let scanned = conn.query_each(&sql, &w.params, &mut |row| {
        if !sia.pos.is_empty() {
            let footprint = region_at
                .and_then(|i| row[i].as_str())
                .and_then(Polygon::from_s_region);
            let Some(footprint) = footprint else {
                return Ok(());
            };
            if !sia.pos.iter().any(|p| overlaps(&footprint, p)) {
                return Ok(());
            }
        }
        if answer.rows.len() < limit {
            answer.rows.push(row.to_vec());
            return Ok(());
        }
        // One match past the limit is enough to know there are more.
        answer.overflow = true;
        Err(DbError {
            kind: DbErrorKind::Other,
            message: STOP.into(),
        })
    });
    match scanned {
        Err(e) if answer.overflow && e.message == STOP => Ok(answer),
        Err(e) => Err(e.into()),
        Ok(()) => Ok(answer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sia::geometry::unit;

    fn circle(ra: f64, dec: f64, radius: f64) -> Pos {
        Pos::Circle {
            center: unit(ra, dec),
            dec,
            radius,
        }
    }

    #[test]
    fn right_ascension_windows_wrap_and_widen() {
        let p = circle(10.0, 0.0, 1.0);
        let (lo, hi) = ra_window(&p, dec_band(&p, 0.5), 0.5).unwrap();
        assert!(
            (lo - 8.5).abs() < 1e-3 && (hi - 11.5).abs() < 1e-3,
            "{lo} {hi}"
        );
        // Near 0h the window wraps: two ranges, ORed.
        let p = circle(0.2, 0.0, 1.0);
        let window = ra_window(&p, dec_band(&p, 0.0), 0.0).unwrap();
        let mut w = Where::default();
        assert_eq!(
            ra_terms(window, &mut w),
            "(s_ra >= ? OR s_ra BETWEEN ? AND ?)"
        );
        assert_eq!(w.params.len(), 3);
        // At high declination a degree of sky spans many degrees of right ascension.
        let p = circle(100.0, 80.0, 1.0);
        let (lo, hi) = ra_window(&p, dec_band(&p, 0.0), 0.0).unwrap();
        assert!(hi - lo > 10.0);
        // Near a pole, no window at all.
        let p = circle(100.0, 89.5, 1.0);
        assert_eq!(ra_window(&p, dec_band(&p, 0.0), 0.0), None);
    }
}
