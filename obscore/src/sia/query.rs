//! A SIAv2 query answered from the live ObsCore table: the scalar constraints and a
//! declination band in SQL (the table is indexed on `(s_dec, s_ra)`), then `POS`
//! exactly, footprint against shape, on the rows that come back.

use arrow_schema::DataType;
use valet_registry::db::{quote_ident as q, DbError, DbErrorKind, Value};
use valet_registry::Registry;

use super::geometry::Polygon;
use super::params::{Interval, Pos, SiaQuery};
use crate::parquet_out::column_types;
use crate::sky_index::SkyBox;
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

/// The box on the sky that holds a searched shape.
fn shape_box(pos: &Pos) -> SkyBox {
    match pos {
        Pos::Circle {
            center,
            dec,
            radius,
        } => {
            let ra = center[1].atan2(center[0]).to_degrees();
            SkyBox::around_circle(ra, *dec, *radius)
        }
        Pos::Range { ra, dec } => {
            let to = if ra.1 < ra.0 { ra.1 + 360.0 } else { ra.1 };
            SkyBox::from_ra(ra.0, to, dec.0, dec.1)
        }
        Pos::Polygon(p) => match crate::sky::bounding_circle(p.vertices()) {
            Some((c, opening)) => {
                let (ra, dec) = valet_registry::region::lon_lat_degrees(c);
                SkyBox::around_circle(ra, dec, opening.to_degrees())
            }
            None => SkyBox::from_ra(0.0, 360.0, -90.0, 90.0),
        },
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
    let mut columns = columns(&config);
    let mut types = column_types(&config);
    let selected: Vec<String> = columns.iter().map(|c| format!("o.{}", q(c))).collect();
    // ObsCore 1.1 asks for two more: the file's size (kB, from the datastore's
    // record, so always current) and the polarization states (none here).
    columns.extend(["access_estsize".to_owned(), "pol_states".to_owned()]);
    types.extend([DataType::Int64, DataType::Utf8]);
    let selected = format!(
        "{}, (SELECT (r.file_size + 1023) / 1024 FROM datastore_record r \
         WHERE r.dataset_id = o.registry_dataset_id AND r.file_size >= 0) AS access_estsize, \
         NULL AS pol_states",
        selected.join(", ")
    );
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
    // The spatial index narrows POS to the footprints whose boxes meet a shape's
    // box; a table made before the index existed is read whole. Either way each
    // footprint is then tested exactly.
    if !sia.pos.is_empty() && crate::sky_index::present(&mut conn)? {
        let backend = conn.backend();
        let any: Vec<String> = sia
            .pos
            .iter()
            .map(|p| {
                crate::sky_index::meets_sql(
                    backend,
                    &config.table_name,
                    &shape_box(p),
                    &mut w.params,
                )
            })
            .collect();
        w.terms.push(format!("({})", any.join(" OR ")));
    }
    let mut sql = format!("SELECT {selected} FROM {table} AS o");
    if !w.terms.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&w.terms.join(" AND "));
    }
    sql.push_str(" ORDER BY o.obs_publisher_did, o.registry_dataset_id");
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

    #[test]
    fn shape_boxes_hold_their_shapes() {
        let circle = Pos::Circle {
            center: unit(359.8, 0.0),
            dec: 0.0,
            radius: 1.0,
        };
        let b = shape_box(&circle);
        assert!(
            (b.ra_min - 358.8).abs() < 1e-6 && (b.ra_max - 360.8).abs() < 1e-6,
            "{b:?}"
        );
        // A range given across 0h (from 350 to 10) is 20 degrees wide.
        let b = shape_box(&Pos::Range {
            ra: (350.0, 10.0),
            dec: (-1.0, 1.0),
        });
        assert_eq!((b.ra_min, b.ra_max), (350.0, 370.0));
        assert!(b.meets(&SkyBox::around_circle(5.0, 0.0, 0.1)));
        assert!(!b.meets(&SkyBox::around_circle(20.0, 0.0, 0.1)));
    }
}
