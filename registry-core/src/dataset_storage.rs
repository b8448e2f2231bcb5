//! The one module that writes SQL against a dataset type's tables: its tags table
//! (every RUN and TAGGED membership, keyed `(dataset_type_id, dims…, collection_id)`)
//! and, for calibrations, its calibs table (validity ranges in CALIBRATION
//! collections). Everything else — inserts, associations, certification, the
//! find-first resolver, exports and the ObsCore observer — calls [`DatasetStorage`],
//! in the manner of the reference's `DatasetRecordStorage`.
//!
//! The storage knows tables and columns; it takes no decisions about access, events or
//! messages, which stay with its callers.

use std::collections::HashMap;

use uuid::Uuid;

use crate::dataset_types::DatasetType;
use crate::db::{quote_ident as q, Conn, DbError, Row, Value};
use crate::error::{RegistryError, Result};
use crate::timespan::Timespan;

/// SQL access to one dataset type's tags and calibs tables.
#[derive(Debug, Clone, Copy)]
pub struct DatasetStorage<'t> {
    t: &'t DatasetType,
}

/// A collection's hold on a dataset of one of the data IDs given to
/// [`DatasetStorage::holdings`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    /// Which of the data IDs.
    pub index: usize,
    /// The dataset.
    pub dataset_id: Uuid,
    /// The collection holding it (its RUN, or a TAGGED collection).
    pub collection_id: i64,
    /// The dataset's RUN.
    pub run_id: i64,
}

/// One stored validity range, as [`DatasetStorage::ranges_overlapping`] reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRange {
    /// The calibs row's own id.
    pub row_id: i64,
    /// The certified dataset.
    pub dataset_id: Uuid,
    /// The range.
    pub timespan: Timespan,
    /// Required dimension values, in the type's order.
    pub values: Vec<Value>,
}

impl StoredRange {
    /// Read `id, dataset_id, timespan_begin, timespan_end, dims…`.
    fn from_row(r: &[Value]) -> StoredRange {
        StoredRange {
            row_id: r[0].as_i64().unwrap_or_default(),
            dataset_id: r[1].as_uuid().unwrap_or_default(),
            timespan: Timespan::from_stored(
                r[2].as_i64().unwrap_or_default(),
                r[3].as_i64().unwrap_or_default(),
            ),
            values: r[4..].to_vec(),
        }
    }
}

/// Where a row found by [`DatasetStorage::lookup`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupSource {
    /// A RUN or TAGGED membership.
    Tags,
    /// A validity range overlapping the time asked for.
    Calibs,
}

/// A bulk scan of one of the type's tables, for the resolver.
#[derive(Debug, Clone, Default)]
pub struct Scan<'a> {
    /// Scan the calibs table (validity ranges) instead of the tags table.
    pub calibs: bool,
    /// Restrict to these collections (`None`: every collection; the caller drops rows
    /// of collections it does not search).
    pub collections: Option<&'a [i64]>,
    /// For calibs: only ranges overlapping this time.
    pub timespan: Option<Timespan>,
    /// Read each dataset's RUN id from `dataset` (otherwise the holder's id is given
    /// as the RUN, which is right when every collection searched is a RUN).
    pub with_run: bool,
    /// Extra `JOIN …` clauses over the table aliased `t` (a compiled `--where`).
    pub joins: &'a str,
    /// An extra condition over `t` and the joins, and its parameters.
    pub condition: &'a str,
    /// Parameters of `condition`.
    pub params: &'a [Value],
    /// Rows in data-ID order.
    pub ordered: bool,
    /// Each row once (the joins may repeat one).
    pub distinct: bool,
}

impl DatasetType {
    /// SQL access to this type's tables.
    pub fn storage(&self) -> DatasetStorage<'_> {
        DatasetStorage { t: self }
    }
}

/// `(dataset_type_id, dataset_id, collection_id, dims…)`: the leading columns of both
/// tables, in the order rows are built.
fn membership_columns(required: &[String]) -> Vec<String> {
    let mut cols = vec![
        "dataset_type_id".to_owned(),
        "dataset_id".into(),
        "collection_id".into(),
    ];
    cols.extend(required.iter().map(|d| q(d)));
    cols
}

/// `a = ? AND b = ? …` over the type's key columns, prefixed by `alias.` when given.
fn key_condition(alias: &str, required: &[String]) -> Vec<String> {
    let mut cond = vec![format!("{alias}dataset_type_id = ?")];
    cond.extend(required.iter().map(|d| format!("{alias}{} = ?", q(d))));
    cond
}

fn select_dims(required: &[String], alias: &str) -> String {
    required
        .iter()
        .map(|d| format!(", {alias}{}", q(d)))
        .collect()
}

impl<'t> DatasetStorage<'t> {
    fn required(&self) -> &'t [String] {
        &self.t.dimensions.required
    }

    fn tags(&self) -> &'t str {
        &self.t.tags_table
    }

    /// The calibs table, or an error saying the type is not a calibration.
    pub fn calibs(&self) -> Result<&'t str> {
        match (&self.t.calibs_table, self.t.is_calibration) {
            (Some(table), true) => Ok(table),
            _ => Err(RegistryError::Invalid(format!(
                "dataset type {:?} is not a calibration type; only calibrations can be certified",
                self.t.name
            ))),
        }
    }

    /// A row of the membership columns.
    fn membership_row(&self, dataset_id: Uuid, collection_id: i64, values: &[Value]) -> Row {
        let mut row = Vec::with_capacity(3 + values.len());
        row.push(self.t.id.into());
        row.push(Value::Uuid(dataset_id));
        row.push(collection_id.into());
        row.extend(values.iter().cloned());
        row
    }

    /// Insert new datasets into a RUN: their `dataset` rows and their RUN memberships.
    /// `datasets` pairs each id with its required dimension values, in order.
    pub fn insert_new(
        &self,
        conn: &mut Conn,
        run_id: i64,
        ingest_date: i64,
        datasets: &[(Uuid, Vec<Value>)],
    ) -> Result<(), DbError> {
        let dataset_rows: Vec<Row> = datasets
            .iter()
            .map(|(id, _)| {
                vec![
                    Value::Uuid(*id),
                    self.t.id.into(),
                    run_id.into(),
                    ingest_date.into(),
                ]
            })
            .collect();
        let tag_rows: Vec<Row> = datasets
            .iter()
            .map(|(id, v)| self.membership_row(*id, run_id, v))
            .collect();
        let cols = membership_columns(self.required());
        let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
        conn.insert_rows(
            "dataset",
            &["id", "dataset_type_id", "run_id", "ingest_date"],
            &dataset_rows,
            None,
        )?;
        conn.insert_rows(self.tags(), &cols, &tag_rows, None)?;
        Ok(())
    }

    /// Add memberships of a TAGGED collection; ones it already has are skipped.
    /// A different dataset with the same data ID there fails with a unique violation.
    pub fn tag(
        &self,
        conn: &mut Conn,
        collection_id: i64,
        datasets: &[(Uuid, Vec<Value>)],
    ) -> Result<u64, DbError> {
        let cols = membership_columns(self.required());
        let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
        let rows: Vec<Row> = datasets
            .iter()
            .map(|(id, v)| self.membership_row(*id, collection_id, v))
            .collect();
        conn.insert_rows(
            self.tags(),
            &cols,
            &rows,
            Some("ON CONFLICT (dataset_id, collection_id) DO NOTHING"),
        )
    }

    /// Remove memberships of a collection; returns how many there were.
    pub fn untag(&self, conn: &mut Conn, collection_id: i64, ids: &[Uuid]) -> Result<u64> {
        let sql = format!(
            "DELETE FROM {} WHERE dataset_id = ? AND collection_id = ?",
            self.tags()
        );
        let mut n = 0;
        for id in ids {
            n += conn.execute(&sql, &[Value::Uuid(*id), collection_id.into()])?;
        }
        Ok(n)
    }

    /// The dataset a collection (RUN or TAGGED) holds for these required dimension
    /// values: one index probe.
    pub fn holder(
        &self,
        conn: &mut Conn,
        collection_id: i64,
        values: &[Value],
    ) -> Result<Option<Uuid>> {
        let mut cond = key_condition("", self.required());
        cond.push("collection_id = ?".into());
        let sql = format!(
            "SELECT dataset_id FROM {} WHERE {}",
            self.tags(),
            cond.join(" AND ")
        );
        let mut params = Vec::with_capacity(values.len() + 2);
        params.push(Value::Int(self.t.id));
        params.extend(values.iter().cloned());
        params.push(collection_id.into());
        Ok(conn.query_opt(&sql, &params)?.and_then(|r| r[0].as_uuid()))
    }

    /// The required dimension values of a dataset, read from its RUN membership.
    pub fn values_of(
        &self,
        conn: &mut Conn,
        dataset_id: Uuid,
        run_id: i64,
    ) -> Result<Option<Vec<Value>>> {
        let sql = format!(
            "SELECT {} FROM {} WHERE dataset_id = ? AND collection_id = ?",
            if self.required().is_empty() {
                "1".to_owned()
            } else {
                self.required()
                    .iter()
                    .map(|d| q(d))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            self.tags()
        );
        let row = conn.query_opt(&sql, &[Value::Uuid(dataset_id), run_id.into()])?;
        Ok(row.map(|r| {
            if self.required().is_empty() {
                Vec::new()
            } else {
                r
            }
        }))
    }

    /// Whether any dataset of the type exists: every dataset has a RUN membership,
    /// keyed by type first, so this is one probe.
    pub fn any(&self, conn: &mut Conn) -> Result<bool> {
        let sql = format!(
            "SELECT 1 FROM {} WHERE dataset_type_id = ? LIMIT 1",
            self.tags()
        );
        Ok(conn.query_opt(&sql, &[self.t.id.into()])?.is_some())
    }

    /// Every membership of one collection: `(dataset_id, values)` in data-ID order,
    /// then by id.
    pub fn members(&self, conn: &mut Conn, collection_id: i64) -> Result<Vec<(Uuid, Vec<Value>)>> {
        let order: Vec<String> = self
            .required()
            .iter()
            .map(|d| q(d))
            .chain(std::iter::once("dataset_id".to_owned()))
            .collect();
        let sql = format!(
            "SELECT dataset_id{} FROM {} WHERE dataset_type_id = ? AND collection_id = ? ORDER BY {}",
            select_dims(self.required(), ""),
            self.tags(),
            order.join(", ")
        );
        let mut out = Vec::new();
        conn.query_each(&sql, &[self.t.id.into(), collection_id.into()], &mut |r| {
            if let Some(id) = r[0].as_uuid() {
                out.push((id, r[1..].to_vec()));
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Every RUN and TAGGED membership of datasets with one of `data_ids` (required
    /// dimension values, in order), a few hundred data IDs per query: what a
    /// find-first of many data IDs through any search path needs.
    pub fn holdings(&self, conn: &mut Conn, data_ids: &[Vec<Value>]) -> Result<Vec<Holding>> {
        const CHUNK: usize = 200;
        let key = |values: &mut dyn Iterator<Item = &Value>| -> String {
            values
                .map(|v| format!("{v:?}"))
                .collect::<Vec<_>>()
                .join("\u{1}")
        };
        let mut index: HashMap<String, usize> = HashMap::with_capacity(data_ids.len());
        for (i, d) in data_ids.iter().enumerate() {
            index.entry(key(&mut d.iter())).or_insert(i);
        }
        let mut out = Vec::new();
        // Each alternative names the whole index prefix (type, then dimensions), so
        // both backends probe the index once per data ID instead of scanning the type.
        let one = format!("({})", key_condition("t.", self.required()).join(" AND "));
        for chunk in data_ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT t.dataset_id, t.collection_id, d.run_id{} FROM {} t \
                 JOIN dataset d ON d.id = t.dataset_id WHERE {}",
                select_dims(self.required(), "t."),
                self.tags(),
                vec![one.as_str(); chunk.len()].join(" OR ")
            );
            let mut params = Vec::with_capacity(chunk.len() * (self.required().len() + 1));
            for d in chunk {
                params.push(Value::Int(self.t.id));
                params.extend(d.iter().cloned());
            }
            conn.query_each(&sql, &params, &mut |r| {
                let (Some(dataset_id), Some(collection_id), Some(run_id)) =
                    (r[0].as_uuid(), r[1].as_i64(), r[2].as_i64())
                else {
                    return Ok(());
                };
                if let Some(&index) = index.get(&key(&mut r[3..].iter())) {
                    out.push(Holding {
                        index,
                        dataset_id,
                        collection_id,
                        run_id,
                    });
                }
                Ok(())
            })?;
        }
        Ok(out)
    }

    /// One data ID's rows in one round trip: every RUN/TAGGED membership and, with a
    /// time, every validity range overlapping it. `each` gets the source, the holding
    /// collection, the dataset and, for validity ranges, the dataset's RUN id (a
    /// calibration found is never in its RUN, so its RUN is always needed).
    ///
    /// With `with_generation`, the same statement also reads the registry's structure
    /// counter (see [`crate::schema::read_generation`]) and returns it, so that a
    /// caller answering from caches keyed by it needs no second round trip.
    pub fn lookup(
        &self,
        conn: &mut Conn,
        values: &[Value],
        calibs_at: Option<Timespan>,
        with_generation: bool,
        each: &mut dyn FnMut(LookupSource, i64, Uuid, Option<i64>),
    ) -> Result<Option<i64>> {
        let cond = key_condition("", self.required()).join(" AND ");
        let mut key = Vec::with_capacity(values.len() + 1);
        key.push(Value::Int(self.t.id));
        key.extend(values.iter().cloned());
        let mut sql = format!(
            "SELECT 0, collection_id, dataset_id, NULL FROM {} WHERE {cond}",
            self.tags()
        );
        let mut params = key.clone();
        if let (Some(ts), Some(table)) = (calibs_at, &self.t.calibs_table) {
            let cond = key_condition("c.", self.required()).join(" AND ");
            sql.push_str(&format!(
                " UNION ALL SELECT 1, c.collection_id, c.dataset_id, d.run_id FROM {table} c \
                 JOIN dataset d ON d.id = c.dataset_id \
                 WHERE {cond} AND c.timespan_end > ? AND ? > c.timespan_begin"
            ));
            params.extend(key);
            params.push(ts.begin_or_min().into());
            params.push(ts.end_or_max().into());
        }
        if with_generation {
            sql.push_str(
                " UNION ALL SELECT 2, 0, NULL, value FROM cache_generation \
                 WHERE name = 'collections'",
            );
        }
        let mut generation = None;
        conn.query_each(&sql, &params, &mut |row| {
            if row[0].as_i64() == Some(2) {
                generation = row[3].as_i64();
                return Ok(());
            }
            let (Some(collection_id), Some(dataset_id)) = (row[1].as_i64(), row[2].as_uuid())
            else {
                return Err(DbError::other("unexpected row shape from a dataset table"));
            };
            let source = if row[0].as_i64() == Some(1) {
                LookupSource::Calibs
            } else {
                LookupSource::Tags
            };
            each(source, collection_id, dataset_id, row[3].as_i64());
            Ok(())
        })?;
        Ok(generation.or(with_generation.then_some(0)))
    }

    /// Stream a bulk scan. Each row is `dims…, collection_id, dataset_id, run_id`.
    pub fn scan(
        &self,
        conn: &mut Conn,
        scan: &Scan<'_>,
        each: &mut dyn FnMut(&[Value]) -> Result<(), DbError>,
    ) -> Result<()> {
        let table = if scan.calibs {
            self.calibs()?
        } else {
            self.tags()
        };
        let dim_cols: Vec<String> = self
            .required()
            .iter()
            .map(|d| format!("t.{}", q(d)))
            .collect();
        let (run_column, run_join) = if scan.with_run {
            ("d.run_id", " JOIN dataset d ON d.id = t.dataset_id")
        } else {
            ("t.collection_id", "")
        };
        let mut params: Vec<Value> = vec![Value::Int(self.t.id)];
        let mut sql = format!(
            "SELECT {}{}{}t.collection_id, t.dataset_id, {run_column} FROM {table} t{run_join}{} \
             WHERE t.dataset_type_id = ?",
            if scan.distinct { "DISTINCT " } else { "" },
            dim_cols.join(", "),
            if dim_cols.is_empty() { "" } else { ", " },
            scan.joins,
        );
        if let Some(ids) = scan.collections {
            let placeholders = vec!["?"; ids.len()].join(", ");
            sql.push_str(&format!(" AND t.collection_id IN ({placeholders})"));
            params.extend(ids.iter().map(|&i| Value::Int(i)));
        }
        if let Some(ts) = scan.timespan {
            sql.push_str(" AND t.timespan_end > ? AND ? > t.timespan_begin");
            params.push(ts.begin_or_min().into());
            params.push(ts.end_or_max().into());
        }
        if !scan.condition.is_empty() {
            sql.push_str(&format!(" AND ({})", scan.condition));
            params.extend(scan.params.iter().cloned());
        }
        if scan.ordered && !dim_cols.is_empty() {
            sql.push_str(&format!(" ORDER BY {}", dim_cols.join(", ")));
        }
        conn.query_each(&sql, &params, each)?;
        Ok(())
    }

    /// The first validity range in a collection overlapping `timespan` for these
    /// values, with its dataset.
    pub fn overlapping_range(
        &self,
        conn: &mut Conn,
        collection_id: i64,
        values: &[Value],
        timespan: Timespan,
    ) -> Result<Option<(Uuid, Timespan)>> {
        let mut cond = vec![
            "dataset_type_id = ?".to_owned(),
            "collection_id = ?".to_owned(),
        ];
        cond.extend(self.required().iter().map(|d| format!("{} = ?", q(d))));
        cond.push("timespan_end > ? AND ? > timespan_begin".into());
        let sql = format!(
            "SELECT dataset_id, timespan_begin, timespan_end FROM {} WHERE {} LIMIT 1",
            self.calibs()?,
            cond.join(" AND ")
        );
        let mut params: Vec<Value> = vec![self.t.id.into(), collection_id.into()];
        params.extend(values.iter().cloned());
        params.push(timespan.begin_or_min().into());
        params.push(timespan.end_or_max().into());
        Ok(conn.query_opt(&sql, &params)?.map(|row| {
            (
                row[0].as_uuid().unwrap_or_default(),
                Timespan::from_stored(
                    row[1].as_i64().unwrap_or_default(),
                    row[2].as_i64().unwrap_or_default(),
                ),
            )
        }))
    }

    /// Insert validity ranges: `(dataset, values, begin, end)` in stored form.
    /// Overlaps are the caller's to rule out first; PostgreSQL's exclusion constraint
    /// reports one that slipped through as an `Exclusion` error.
    pub fn insert_ranges(
        &self,
        conn: &mut Conn,
        collection_id: i64,
        ranges: &[(Uuid, Vec<Value>, i64, i64)],
    ) -> Result<(), DbError> {
        let Ok(table) = self.calibs() else {
            return Err(DbError::other(format!(
                "dataset type {:?} has no calibs table",
                self.t.name
            )));
        };
        let mut cols = membership_columns(self.required());
        cols.push("timespan_begin".into());
        cols.push("timespan_end".into());
        let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
        let rows: Vec<Row> = ranges
            .iter()
            .map(|(id, v, b, e)| {
                let mut row = self.membership_row(*id, collection_id, v);
                row.push((*b).into());
                row.push((*e).into());
                row
            })
            .collect();
        conn.insert_rows(table, &cols, &rows, None)?;
        Ok(())
    }

    /// The validity ranges in a collection overlapping `timespan`, for every data ID
    /// or only for `values`.
    pub fn ranges_overlapping(
        &self,
        conn: &mut Conn,
        collection_id: i64,
        timespan: Timespan,
        values: Option<&[Value]>,
    ) -> Result<Vec<StoredRange>> {
        let mut cond = vec![
            "dataset_type_id = ?".to_owned(),
            "collection_id = ?".to_owned(),
            "timespan_end > ? AND ? > timespan_begin".to_owned(),
        ];
        let mut params: Vec<Value> = vec![
            self.t.id.into(),
            collection_id.into(),
            timespan.begin_or_min().into(),
            timespan.end_or_max().into(),
        ];
        if let Some(v) = values {
            cond.extend(self.required().iter().map(|d| format!("{} = ?", q(d))));
            params.extend(v.iter().cloned());
        }
        let sql = format!(
            "SELECT id, dataset_id, timespan_begin, timespan_end{} FROM {} WHERE {}",
            select_dims(self.required(), ""),
            self.calibs()?,
            cond.join(" AND ")
        );
        let mut out = Vec::new();
        conn.query_each(&sql, &params, &mut |r| {
            out.push(StoredRange::from_row(r));
            Ok(())
        })?;
        Ok(out)
    }

    /// Delete validity ranges by their row ids.
    pub fn delete_ranges(&self, conn: &mut Conn, row_ids: &[i64]) -> Result<()> {
        let sql = format!("DELETE FROM {} WHERE id = ?", self.calibs()?);
        for id in row_ids {
            conn.execute(&sql, &[Value::Int(*id)])?;
        }
        Ok(())
    }

    /// Every validity range in a collection, ordered by data ID and start.
    pub fn ranges(&self, conn: &mut Conn, collection_id: i64) -> Result<Vec<StoredRange>> {
        let dims: Vec<String> = self.required().iter().map(|d| q(d)).collect();
        let order: String = dims.iter().map(|d| format!("{d}, ")).collect();
        let sql = format!(
            "SELECT id, dataset_id, timespan_begin, timespan_end{} FROM {} \
             WHERE dataset_type_id = ? AND collection_id = ? ORDER BY {order}timespan_begin",
            select_dims(self.required(), ""),
            self.calibs()?
        );
        let mut out = Vec::new();
        conn.query_each(&sql, &[self.t.id.into(), collection_id.into()], &mut |r| {
            out.push(StoredRange::from_row(r));
            Ok(())
        })?;
        Ok(out)
    }
}
