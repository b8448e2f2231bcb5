//! The live table's spatial index: each footprint's box in right ascension and
//! declination, kept in four columns of its row and indexed so that a SIAv2 `POS`
//! reads only the footprints whose boxes meet the searched shape's box. SQLite keeps
//! the boxes in an R*Tree (built into SQLite) filled by triggers; PostgreSQL indexes
//! them with GiST on its built-in `box` type (no extension needed). The exact
//! footprint-against-shape test follows on the rows that come back.
//!
//! Boxes start in `[0, 360)` and may end past 360 (a footprint across 0h); one
//! that contains a pole or reaches it spans `[0, 360]`. Two boxes meet when one
//! meets the other shifted by -360, 0 or +360 degrees.

use valet_registry::db::{quote_ident as q, Backend, Value};

/// The row's box columns, after the configured ones: not ObsCore columns, so never
/// exported.
pub const BOX_COLUMNS: [&str; 4] = [
    "valet_ra_min",
    "valet_ra_max",
    "valet_dec_min",
    "valet_dec_max",
];

/// The attribute saying the live table has the box columns and their index (tables
/// made before it existed are searched without it).
pub const ATTRIBUTE: &str = "obscore_sky_index";

/// Whether the live table has the box columns and their index.
pub fn present(conn: &mut valet_registry::Conn) -> Result<bool, valet_registry::RegistryError> {
    Ok(valet_registry::schema::get_attribute(conn, ATTRIBUTE)?.is_some())
}

/// A box on the sky, in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkyBox {
    /// Right ascension from, in `[0, 360)`.
    pub ra_min: f64,
    /// Right ascension to, at most 360 past `ra_min`.
    pub ra_max: f64,
    /// Declination from.
    pub dec_min: f64,
    /// Declination to.
    pub dec_max: f64,
}

impl SkyBox {
    /// The box around a circle of `radius` degrees about `(ra, dec)`.
    pub fn around_circle(ra: f64, dec: f64, radius: f64) -> SkyBox {
        let dec_min = (dec - radius).max(-90.0);
        let dec_max = (dec + radius).min(90.0);
        if dec_min <= -90.0 || dec_max >= 90.0 || radius >= 90.0 {
            return SkyBox::full_ra(dec_min, dec_max);
        }
        // The widest right ascension reach of a circle is where it touches its
        // tangent meridians: asin(sin r / cos dec).
        let reach = (radius.to_radians().sin() / dec.to_radians().cos())
            .min(1.0)
            .asin()
            .to_degrees();
        SkyBox::from_ra(ra - reach, ra + reach, dec_min, dec_max)
    }

    /// The box of a right ascension interval (which may run past 0h either way)
    /// and a declination interval.
    pub fn from_ra(ra_from: f64, ra_to: f64, dec_min: f64, dec_max: f64) -> SkyBox {
        let width = ra_to - ra_from;
        if width >= 360.0 || width.is_nan() {
            return SkyBox::full_ra(dec_min, dec_max);
        }
        let ra_min = ra_from.rem_euclid(360.0);
        SkyBox {
            ra_min,
            ra_max: ra_min + width,
            dec_min,
            dec_max,
        }
    }

    fn full_ra(dec_min: f64, dec_max: f64) -> SkyBox {
        SkyBox {
            ra_min: 0.0,
            ra_max: 360.0,
            dec_min,
            dec_max,
        }
    }

    /// Whether two boxes meet (right ascension taken round the circle).
    pub fn meets(&self, other: &SkyBox) -> bool {
        self.dec_min <= other.dec_max
            && other.dec_min <= self.dec_max
            && [-360.0, 0.0, 360.0].iter().any(|shift| {
                self.ra_min <= other.ra_max + shift && other.ra_min + shift <= self.ra_max
            })
    }

    /// The four cells of a row.
    pub fn cells(self) -> [Value; 4] {
        [
            self.ra_min.into(),
            self.ra_max.into(),
            self.dec_min.into(),
            self.dec_max.into(),
        ]
    }
}

/// The box of a row's footprint, from its `s_ra`, `s_dec` and `s_fov` (the
/// diameter of a circle about the center that holds the footprint); NULLs when it
/// has none.
pub fn footprint_cells(s_ra: &Value, s_dec: &Value, s_fov: &Value) -> [Value; 4] {
    let number = |v: &Value| match v {
        Value::Float(x) => Some(*x),
        Value::Int(i) => Some(*i as f64),
        _ => None,
    };
    match (number(s_ra), number(s_dec), number(s_fov)) {
        (Some(ra), Some(dec), Some(fov)) => SkyBox::around_circle(ra, dec, fov / 2.0).cells(),
        _ => [Value::Null, Value::Null, Value::Null, Value::Null],
    }
}

fn index_name(table_name: &str) -> String {
    format!("{table_name}_sky")
}

/// DDL adding the index over the box columns of `table_name` (unquoted).
pub fn create_ddl(backend: Backend, table_name: &str) -> String {
    let t = q(table_name);
    let sky = q(&index_name(table_name));
    let [ra_min, ra_max, dec_min, dec_max] = BOX_COLUMNS.map(q);
    match backend {
        Backend::Sqlite => {
            let on_insert = q(&format!("{table_name}_sky_insert"));
            let on_delete = q(&format!("{table_name}_sky_delete"));
            let on_update = q(&format!("{table_name}_sky_update"));
            format!(
                "CREATE VIRTUAL TABLE {sky} USING rtree(id, ra_min, ra_max, dec_min, dec_max);\n\
                 CREATE TRIGGER {on_insert} AFTER INSERT ON {t} WHEN new.{ra_min} IS NOT NULL BEGIN\n\
                 INSERT INTO {sky} VALUES (new.rowid, new.{ra_min}, new.{ra_max}, new.{dec_min}, new.{dec_max});\n\
                 END;\n\
                 CREATE TRIGGER {on_delete} AFTER DELETE ON {t} BEGIN\n\
                 DELETE FROM {sky} WHERE id = old.rowid;\n\
                 END;\n\
                 CREATE TRIGGER {on_update} AFTER UPDATE OF {ra_min}, {ra_max}, {dec_min}, {dec_max} ON {t} BEGIN\n\
                 DELETE FROM {sky} WHERE id = old.rowid;\n\
                 INSERT INTO {sky} SELECT new.rowid, new.{ra_min}, new.{ra_max}, new.{dec_min}, new.{dec_max} \
                 WHERE new.{ra_min} IS NOT NULL;\n\
                 END;\n"
            )
        }
        Backend::Postgres => format!(
            "CREATE INDEX {sky} ON {t} USING gist ({});\n",
            pg_box_expression()
        ),
    }
}

/// DDL dropping what [`create_ddl`] made that dropping the table does not.
pub fn drop_ddl(backend: Backend, table_name: &str) -> String {
    match backend {
        Backend::Sqlite => format!("DROP TABLE IF EXISTS {};", q(&index_name(table_name))),
        Backend::Postgres => String::new(),
    }
}

fn pg_box_expression() -> String {
    let [ra_min, ra_max, dec_min, dec_max] = BOX_COLUMNS.map(q);
    format!("box(point({ra_min}, {dec_min}), point({ra_max}, {dec_max}))")
}

/// SQL keeping the rows whose boxes meet `sky` (with its parameters appended to
/// `params`).
pub fn meets_sql(
    backend: Backend,
    table_name: &str,
    sky: &SkyBox,
    params: &mut Vec<Value>,
) -> String {
    let mut any = Vec::new();
    for shift in [-360.0, 0.0, 360.0] {
        let (ra_min, ra_max) = (sky.ra_min + shift, sky.ra_max + shift);
        // A shifted copy entirely outside [0, 720] meets nothing.
        if ra_max < 0.0 || ra_min > 720.0 {
            continue;
        }
        match backend {
            Backend::Sqlite => {
                any.push(
                    "(ra_max >= ? AND ra_min <= ? AND dec_max >= ? AND dec_min <= ?)".to_owned(),
                );
                params.extend([
                    ra_min.into(),
                    ra_max.into(),
                    sky.dec_min.into(),
                    sky.dec_max.into(),
                ]);
            }
            Backend::Postgres => {
                any.push(format!(
                    "{} && box(point(?, ?), point(?, ?))",
                    pg_box_expression()
                ));
                params.extend([
                    ra_min.into(),
                    sky.dec_min.into(),
                    ra_max.into(),
                    sky.dec_max.into(),
                ]);
            }
        }
    }
    match backend {
        Backend::Sqlite => format!(
            "rowid IN (SELECT id FROM {} WHERE {})",
            q(&index_name(table_name)),
            any.join(" OR ")
        ),
        Backend::Postgres => format!("({})", any.join(" OR ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_hold_their_circles_and_wrap_at_0h() {
        let b = SkyBox::around_circle(10.0, 0.0, 1.0);
        assert!((b.ra_min - 9.0).abs() < 1e-9 && (b.ra_max - 11.0).abs() < 1e-9);
        // At 60° a degree of sky spans two degrees of right ascension.
        let b = SkyBox::around_circle(100.0, 60.0, 1.0);
        assert!((b.ra_max - b.ra_min - 4.0).abs() < 0.01, "{b:?}");
        // Across 0h the box starts below 360 and ends past it.
        let b = SkyBox::around_circle(0.5, 0.0, 1.0);
        assert!((b.ra_min - 359.5).abs() < 1e-9 && (b.ra_max - 361.5).abs() < 1e-9);
        assert!(b.meets(&SkyBox::around_circle(1.0, 0.0, 0.1)));
        assert!(b.meets(&SkyBox::around_circle(359.0, 0.0, 0.6)));
        assert!(!b.meets(&SkyBox::around_circle(3.0, 0.0, 0.1)));
        assert!(!b.meets(&SkyBox::around_circle(1.0, 5.0, 0.1)));
        // A circle reaching a pole spans every right ascension.
        let b = SkyBox::around_circle(100.0, 89.5, 1.0);
        assert_eq!((b.ra_min, b.ra_max, b.dec_max), (0.0, 360.0, 90.0));
        assert!(b.meets(&SkyBox::around_circle(280.0, 89.0, 0.1)));
    }
}
