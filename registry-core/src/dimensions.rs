//! Dimension records: insertion with foreign-key checks that name the record, and
//! listing.

use std::collections::{BTreeMap, HashMap, HashSet};

use valet_config::{ColumnType, Element, Universe};

use crate::db::{quote_ident as q, Conn, DbErrorKind, Value};
use crate::error::{RegistryError, Result};
use crate::expr::Column;
use crate::schema::{dimension_reference, element_columns, element_key_columns};
use crate::timespan::parse_tai_iso;

/// One dimension record: column name → value. Timespans are `timespan_begin` /
/// `timespan_end` in TAI nanoseconds (the export names `datetime_begin` /
/// `datetime_end` are accepted too), regions are the reference's encoded bytes.
pub type Record = BTreeMap<String, Value>;

/// Render the key of a record for messages: `{instrument: HSC, id: 903334}`.
pub fn describe(record: &Record, columns: &[String]) -> String {
    let parts: Vec<String> = columns
        .iter()
        .map(|c| format!("{c}: {}", record.get(c).unwrap_or(&Value::Null)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// The declared type of each column of an element's table.
fn column_types(universe: &Universe, e: &Element) -> Result<BTreeMap<String, ColumnType>> {
    let mut types = BTreeMap::new();
    for d in universe
        .required_of(&e.name)?
        .iter()
        .chain(e.implies.iter())
    {
        if d == &e.name {
            continue;
        }
        let de = universe.get(d)?;
        if let Some(pk) = de.primary_key() {
            types.insert(d.clone(), pk.ty.clone());
        }
    }
    for c in e.keys.iter().chain(e.metadata.iter()) {
        types.insert(c.name.clone(), c.ty.clone());
    }
    if e.temporal {
        types.insert("timespan_begin".into(), ColumnType::Int);
        types.insert("timespan_end".into(), ColumnType::Int);
    }
    if e.spatial {
        types.insert("region".into(), ColumnType::Hash(0));
    }
    Ok(types)
}

/// Coerce a value to a column's type, or explain why it cannot be.
pub fn coerce(value: &Value, ty: &ColumnType) -> std::result::Result<Value, String> {
    Ok(match (ty, value) {
        (_, Value::Null) => Value::Null,
        (ColumnType::Int, Value::Int(_)) => value.clone(),
        (ColumnType::Int, Value::Bool(b)) => Value::Int(*b as i64),
        (ColumnType::Int, Value::Text(s)) => Value::Int(
            s.trim()
                .parse()
                .map_err(|_| format!("{s:?} is not an integer"))?,
        ),
        (ColumnType::Int, Value::Float(f)) if f.fract() == 0.0 => Value::Int(*f as i64),
        (ColumnType::String(_), Value::Text(_)) => value.clone(),
        (ColumnType::String(_), Value::Int(i)) => Value::Text(i.to_string()),
        (ColumnType::String(_), Value::Float(f)) => Value::Text(f.to_string()),
        (ColumnType::String(_), Value::Bool(b)) => Value::Text(b.to_string()),
        (ColumnType::Float, Value::Float(_)) => value.clone(),
        (ColumnType::Float, Value::Int(i)) => Value::Float(*i as f64),
        (ColumnType::Float, Value::Text(s)) => Value::Float(
            s.trim()
                .parse()
                .map_err(|_| format!("{s:?} is not a number"))?,
        ),
        (ColumnType::Bool, Value::Bool(_)) => value.clone(),
        (ColumnType::Bool, Value::Int(i)) => Value::Bool(*i != 0),
        (ColumnType::Bool, Value::Text(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => return Err(format!("{s:?} is not a boolean")),
        },
        (ColumnType::Hash(_), Value::Bytes(_)) => value.clone(),
        (ColumnType::Hash(_), Value::Text(s)) => {
            Value::Bytes(hex::decode(s).map_err(|_| format!("{s:?} is not hex"))?)
        }
        (ty, v) => return Err(format!("{v} does not fit a {ty:?} column")),
    })
}

/// What standardizing records of one element needs, worked out once per batch.
struct Standardizer<'a> {
    e: &'a Element,
    types: BTreeMap<String, ColumnType>,
    /// Key columns every record must have: the element's key, then its alternate keys.
    required: Vec<String>,
    /// The element's key columns, to name a record in messages.
    keys: Vec<String>,
}

impl<'a> Standardizer<'a> {
    fn new(universe: &Universe, e: &'a Element) -> Result<Standardizer<'a>> {
        let keys = element_key_columns(universe, e)?;
        let required = keys
            .iter()
            .cloned()
            .chain(e.keys.iter().skip(1).map(|k| k.name.clone()))
            .collect();
        Ok(Standardizer {
            e,
            types: column_types(universe, e)?,
            required,
            keys,
        })
    }

    /// Standardize a record for insertion: accept export aliases, coerce types,
    /// refuse unknown fields and missing keys.
    fn standardize(&self, record: &Record) -> Result<Record> {
        let e = self.e;
        let mut out = Record::new();
        for (k, v) in record {
            let name = match k.as_str() {
                "datetime_begin" => "timespan_begin",
                "datetime_end" => "timespan_end",
                other => other,
            };
            let v = match v {
                Value::Text(s) if name.starts_with("timespan_") => Value::Int(parse_tai_iso(s)?),
                _ => v.clone(),
            };
            let ty = self.types.get(name).ok_or_else(|| {
                RegistryError::Invalid(format!(
                    "{} record has unknown field {k:?} (fields: {})",
                    e.name,
                    self.types.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
            })?;
            let v = coerce(&v, ty).map_err(|m| {
                RegistryError::Invalid(format!("{} record field {k:?}: {m}", e.name))
            })?;
            out.insert(name.to_owned(), v);
        }
        for key in &self.required {
            if out.get(key).is_none_or(Value::is_null) {
                return Err(RegistryError::Invalid(format!(
                    "{} record {} is missing key field {key:?}",
                    e.name,
                    describe(&out, &self.keys)
                )));
            }
        }
        Ok(out)
    }
}

/// How to look up the record a dependency column points at.
struct Lookup {
    /// Columns of the referring record, in key order.
    source: Vec<String>,
    /// Key columns of the referenced table.
    target: Vec<String>,
    sql: String,
}

/// Checks that referenced records exist, remembering what it has already seen.
#[derive(Default)]
struct ReferenceChecker {
    lookups: HashMap<String, Lookup>,
    seen: HashSet<(String, Vec<String>)>,
}

impl ReferenceChecker {
    fn check(
        &mut self,
        conn: &mut Conn,
        universe: &Universe,
        dep: &str,
        record: &Record,
    ) -> Result<Option<String>> {
        let de = universe.get(dep)?;
        if !de.has_table() || record.get(dep).is_none_or(Value::is_null) {
            return Ok(None);
        }
        let lookup = match self.lookups.entry(dep.to_owned()) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let (source, target) = dimension_reference(universe, dep)?;
                let cond: Vec<String> = target.iter().map(|c| format!("{} = ?", q(c))).collect();
                let sql = format!(
                    "SELECT 1 FROM {} WHERE {} LIMIT 1",
                    q(dep),
                    cond.join(" AND ")
                );
                v.insert(Lookup {
                    source,
                    target,
                    sql,
                })
            }
        };
        let values: Vec<Value> = lookup
            .source
            .iter()
            .map(|c| record.get(c).cloned().unwrap_or(Value::Null))
            .collect();
        let key = (
            dep.to_owned(),
            values.iter().map(|v| v.to_string()).collect::<Vec<_>>(),
        );
        if self.seen.contains(&key) {
            return Ok(None);
        }
        if conn.query_opt(&lookup.sql, &values)?.is_some() {
            self.seen.insert(key);
            return Ok(None);
        }
        let shown: Vec<String> = lookup
            .target
            .iter()
            .zip(values.iter())
            .map(|(c, v)| format!("{c}: {v}"))
            .collect();
        Ok(Some(format!(
            "{dep} {{{}}} does not exist",
            shown.join(", ")
        )))
    }
}

/// Insert records of one element. With `skip_existing`, records whose primary key is
/// already present are left alone (idempotent re-insert); otherwise they are an error.
/// Returns the number of rows inserted.
pub fn insert_records(
    conn: &mut Conn,
    universe: &Universe,
    element: &str,
    records: &[Record],
    skip_existing: bool,
) -> Result<u64> {
    let e = universe.get(element)?;
    if !e.has_table() {
        return Err(RegistryError::Invalid(format!(
            "{element} records cannot be inserted: {}",
            match &e.view_of {
                Some(v) => format!("they are derived from {v} records"),
                None => "skypix dimensions have no records".to_owned(),
            }
        )));
    }
    let columns = element_columns(universe, e)?;
    let keys = element_key_columns(universe, e)?;
    let mut checker = ReferenceChecker::default();
    let standardizer = Standardizer::new(universe, e)?;
    let mut rows = Vec::with_capacity(records.len());
    for record in records {
        let r = standardizer.standardize(record)?;
        for dep in e.requires.iter().chain(e.implies.iter()) {
            if let Some(problem) = checker.check(conn, universe, dep, &r)? {
                return Err(RegistryError::NotFound(format!(
                    "cannot insert {element} record {}: {problem}",
                    describe(&r, &keys)
                )));
            }
        }
        rows.push(
            columns
                .iter()
                .map(|c| r.get(c).cloned().unwrap_or(Value::Null))
                .collect::<Vec<_>>(),
        );
    }
    // Records are shared by everyone: only admins add them. Others may re-import
    // records that already exist (a personal export carries them), which changes nothing.
    let user = crate::identity::current_user()?;
    if !crate::access::is_admin(conn, &user)? {
        let cond: Vec<String> = keys.iter().map(|c| format!("{} = ?", q(c))).collect();
        let sql = format!("SELECT 1 FROM {} WHERE {}", q(element), cond.join(" AND "));
        for row in &rows {
            let key: Vec<Value> = keys
                .iter()
                .map(|k| row[columns.iter().position(|c| c == k).unwrap_or(0)].clone())
                .collect();
            if conn.query_opt(&sql, &key)?.is_none() {
                crate::access::check_admin(conn, &format!("add {element} records"))?;
            }
        }
    }
    let quoted: Vec<String> = columns.iter().map(|c| q(c)).collect();
    let quoted_refs: Vec<&str> = quoted.iter().map(String::as_str).collect();
    let conflict = skip_existing.then(|| {
        format!(
            "ON CONFLICT ({}) DO NOTHING",
            keys.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ")
        )
    });
    let table = q(element);
    let inserted =
        conn.savepoint(|c| c.insert_rows(&table, &quoted_refs, &rows, conflict.as_deref()));
    match inserted {
        Ok(n) => Ok(n),
        Err(err) if err.kind == DbErrorKind::Unique => Err(explain_duplicate(
            conn,
            universe,
            e,
            &columns,
            &rows,
            &err.message,
        )),
        Err(err) => Err(err.into()),
    }
}

/// Find which record collided, for a message that names it.
fn explain_duplicate(
    conn: &mut Conn,
    universe: &Universe,
    e: &Element,
    columns: &[String],
    rows: &[Vec<Value>],
    db_message: &str,
) -> RegistryError {
    let Ok(keys) = element_key_columns(universe, e) else {
        return RegistryError::Conflict(db_message.to_owned());
    };
    let cond: Vec<String> = keys.iter().map(|c| format!("{} = ?", q(c))).collect();
    let sql = format!("SELECT 1 FROM {} WHERE {}", q(&e.name), cond.join(" AND "));
    let mut batch_keys = HashSet::new();
    for row in rows {
        let record: Record = columns.iter().cloned().zip(row.iter().cloned()).collect();
        let key: Vec<Value> = keys.iter().map(|k| record[k].clone()).collect();
        let text: Vec<String> = key.iter().map(|v| v.to_string()).collect();
        if !batch_keys.insert(text) || matches!(conn.query_opt(&sql, &key), Ok(Some(_))) {
            return RegistryError::Conflict(format!(
                "{} record {} already exists",
                e.name,
                describe(&record, &keys)
            ));
        }
    }
    RegistryError::Conflict(format!(
        "{} records collide on a unique key ({db_message})",
        e.name
    ))
}

/// Convert stored values back to the column types (SQLite has no booleans).
fn restore_types(types: &BTreeMap<String, ColumnType>, record: &mut Record) {
    for (k, v) in record.iter_mut() {
        if let (Some(ColumnType::Bool), Value::Int(i)) = (types.get(k), &v) {
            *v = Value::Bool(*i != 0);
        }
    }
}

/// List the records of an element, ordered by key. `filter` is an SQL condition over
/// the element's columns with `?` parameters (built by the query layer).
pub fn query_records(
    conn: &mut Conn,
    universe: &Universe,
    element: &str,
    filter: Option<(&str, &[Value])>,
) -> Result<(Vec<String>, Vec<Record>)> {
    let e = universe.get(element)?;
    if e.skypix {
        return Err(RegistryError::Invalid(format!(
            "{element} is a skypix dimension and has no records"
        )));
    }
    let (from, columns, order) = match &e.view_of {
        Some(table) => {
            let col = q(element);
            (
                format!(
                    "(SELECT DISTINCT {col} AS name FROM {} WHERE {col} IS NOT NULL) AS v",
                    q(table)
                ),
                vec!["name".to_owned()],
                vec!["name".to_owned()],
            )
        }
        None => (
            q(element),
            element_columns(universe, e)?,
            element_key_columns(universe, e)?,
        ),
    };
    let (cond, params) = filter.unwrap_or(("", &[]));
    let sql = format!(
        "SELECT {} FROM {from}{}{} ORDER BY {}",
        columns.iter().map(|c| q(c)).collect::<Vec<_>>().join(", "),
        if cond.is_empty() { "" } else { " WHERE " },
        cond,
        order.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ")
    );
    let types = column_types(universe, e)?;
    let mut records = Vec::new();
    conn.query_each(&sql, params, &mut |row| {
        let mut r: Record = columns.iter().cloned().zip(row.iter().cloned()).collect();
        restore_types(&types, &mut r);
        records.push(r);
        Ok(())
    })?;
    Ok((columns, records))
}

/// The column holding `timespan.begin` or `timespan.end` of a record.
pub fn timespan_column(field: &str) -> Option<&'static str> {
    match field {
        "timespan.begin" => Some("timespan_begin"),
        "timespan.end" => Some("timespan_end"),
        _ => None,
    }
}

/// The column of element `e`'s table a field name names: the element's own name is
/// its primary key, `timespan.begin` and `timespan.end` the timespan columns.
pub fn field_column(e: &valet_config::Element, field: &str) -> String {
    if field == e.name {
        e.primary_key().map(|k| k.name.clone()).unwrap_or_default()
    } else {
        timespan_column(field).unwrap_or(field).to_owned()
    }
}

/// Compile a `--where` expression over one element's records into an SQL condition.
/// Identifiers may be the element's columns (`exposure_time`), qualified ones
/// (`visit.exposure_time`), its dimensions (`instrument`, `physical_filter`), or the
/// element's own name for its primary key (`visit = 5`).
pub fn record_filter(
    universe: &Universe,
    element: &str,
    text: &str,
    bind: &BTreeMap<String, crate::expr::Literal>,
    backend: crate::db::Backend,
) -> Result<(String, Vec<Value>)> {
    let e = universe.get(element)?;
    let columns: Vec<String> = match &e.view_of {
        Some(_) => vec!["name".to_owned()],
        None => element_columns(universe, e)?,
    };
    let expr = crate::expr::parse(text, bind)?;
    let resolve = |name: &str| -> std::result::Result<Column, String> {
        let bare = match name.split_once('.') {
            _ if timespan_column(name).is_some() => name,
            Some((el, field)) if el == element => field,
            Some(_) => {
                return Err(format!(
                    "'{name}' refers to another element; only {element} fields can be used here"
                ))
            }
            None => name,
        };
        let column = field_column(e, bare);
        if columns.contains(&column) {
            Ok(Column {
                sql: q(&column),
                numeric: crate::schema::column_is_numeric(universe, e, &column),
                uuid: false,
            })
        } else {
            Err(format!("unknown field '{name}' for {element} records"))
        }
    };
    let mut params = Vec::new();
    let sql = crate::expr::to_sql(&expr, text, &resolve, &mut params, backend)?;
    Ok((sql, params))
}

/// What [`sync_records`] did with one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncOutcome {
    /// It was new and is now inserted.
    Inserted,
    /// An identical record was already there.
    Unchanged,
    /// A record with its key was there with other values, and now has these.
    Updated,
}

/// Make records of one element present (the reference's `syncDimensionData`): a new
/// record is inserted, an identical one left alone, and one whose key exists with
/// other values is a conflict naming both — unless `update`, which replaces the
/// stored values. Foreign keys are checked as [`insert_records`] checks them; only
/// admins insert or update.
pub fn sync_records(
    conn: &mut Conn,
    universe: &Universe,
    element: &str,
    records: &[Record],
    update: bool,
) -> Result<Vec<SyncOutcome>> {
    let e = universe.get(element)?;
    if !e.has_table() {
        // Let insert_records explain why.
        insert_records(conn, universe, element, records, false)?;
        return Ok(Vec::new());
    }
    let columns = element_columns(universe, e)?;
    let keys = element_key_columns(universe, e)?;
    let types = column_types(universe, e)?;
    let standardizer = Standardizer::new(universe, e)?;
    let cond: Vec<String> = keys.iter().map(|c| format!("{} = ?", q(c))).collect();
    let select = format!(
        "SELECT {} FROM {} WHERE {}",
        columns.iter().map(|c| q(c)).collect::<Vec<_>>().join(", "),
        q(element),
        cond.join(" AND ")
    );
    let mut outcomes = Vec::with_capacity(records.len());
    let mut new = Vec::new();
    for record in records {
        let r = standardizer.standardize(record)?;
        let key: Vec<Value> = keys
            .iter()
            .map(|k| r.get(k).cloned().unwrap_or(Value::Null))
            .collect();
        let Some(row) = conn.query_opt(&select, &key)? else {
            new.push(r);
            outcomes.push(SyncOutcome::Inserted);
            continue;
        };
        let mut stored: Record = columns.iter().cloned().zip(row).collect();
        restore_types(&types, &mut stored);
        let differences: Vec<String> = columns
            .iter()
            .filter(|c| !keys.contains(c))
            .filter_map(|c| {
                let mine = r.get(c).unwrap_or(&Value::Null);
                let theirs = stored.get(c).unwrap_or(&Value::Null);
                (mine != theirs).then(|| format!("{c}: {theirs} stored, {mine} given"))
            })
            .collect();
        if differences.is_empty() {
            outcomes.push(SyncOutcome::Unchanged);
            continue;
        }
        if !update {
            return Err(RegistryError::Conflict(format!(
                "{element} record {} already exists with other values ({})",
                describe(&r, &keys),
                differences.join("; ")
            )));
        }
        crate::access::check_admin(conn, &format!("update {element} records"))?;
        let mut checker = ReferenceChecker::default();
        for dep in e.requires.iter().chain(e.implies.iter()) {
            if let Some(problem) = checker.check(conn, universe, dep, &r)? {
                return Err(RegistryError::NotFound(format!(
                    "cannot update {element} record {}: {problem}",
                    describe(&r, &keys)
                )));
            }
        }
        let set: Vec<&String> = columns.iter().filter(|c| !keys.contains(c)).collect();
        let sql = format!(
            "UPDATE {} SET {} WHERE {}",
            q(element),
            set.iter()
                .map(|c| format!("{} = ?", q(c)))
                .collect::<Vec<_>>()
                .join(", "),
            cond.join(" AND ")
        );
        let params: Vec<Value> = set
            .iter()
            .map(|c| r.get(*c).cloned().unwrap_or(Value::Null))
            .chain(key)
            .collect();
        conn.execute(&sql, &params)?;
        outcomes.push(SyncOutcome::Updated);
    }
    if !new.is_empty() {
        insert_records(conn, universe, element, &new, false)?;
    }
    Ok(outcomes)
}
