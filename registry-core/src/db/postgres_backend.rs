//! PostgreSQL through the pure-Rust `postgres` client.

use std::collections::HashMap;
use std::error::Error;

use bytes::BytesMut;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{Client, NoTls, Statement};

use super::{numbered_placeholders, DbError, DbErrorKind, Row, Value};

/// The most bind parameters PostgreSQL accepts in one statement is 65535; stay well
/// below it and below a row count that makes statements unwieldy.
const MAX_PARAMS: usize = 30_000;
const MAX_ROWS_PER_INSERT: usize = 1_000;
/// From this many rows (and no conflict clause), rows go in through `COPY … FROM
/// STDIN (FORMAT binary)`: one statement, no SQL text per row, binary values.
const COPY_FROM_ROWS: usize = 64;

/// Rows inserted into a table before its statistics are first refreshed.
const ANALYZE_AFTER_ROWS: u64 = 100;

/// Creates pooled PostgreSQL connections.
#[derive(Debug)]
pub struct PgManager {
    config: postgres::Config,
}

impl PgManager {
    /// A manager for the database named by a `postgresql://` URL.
    pub fn new(url: &str) -> Result<PgManager, DbError> {
        let config = url
            .parse::<postgres::Config>()
            .map_err(|e| DbError::other(format!("invalid PostgreSQL URL: {e}")))?;
        Ok(PgManager { config })
    }
}

/// One PostgreSQL connection with its prepared-statement cache.
pub struct PgConn {
    client: Client,
    statements: HashMap<String, Statement>,
    /// The column types of `table (columns)`, for binary COPY.
    copy_types: HashMap<String, Vec<Type>>,
    /// A statement of the current transaction lost a conflict with a concurrent one
    /// (see [`DbErrorKind::Transient`]).
    pub(super) lost_conflict: bool,
    /// For each table this connection inserted into: rows inserted since its
    /// statistics were refreshed, and its size then (see [`PgConn::note_inserted`]).
    grown: HashMap<String, (u64, f64)>,
}

impl r2d2::ManageConnection for PgManager {
    type Connection = PgConn;
    type Error = DbError;

    fn connect(&self) -> Result<PgConn, DbError> {
        let mut client = self.config.connect(NoTls).map_err(map_err)?;
        client
            .batch_execute("SET client_min_messages = WARNING")
            .map_err(map_err)?;
        Ok(PgConn {
            client,
            statements: HashMap::new(),
            copy_types: HashMap::new(),
            lost_conflict: false,
            grown: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), DbError> {
        conn.client.simple_query("").map(|_| ()).map_err(map_err)
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.client.is_closed()
    }
}

fn type_error(value: &Value, ty: &Type) -> Box<dyn Error + Sync + Send> {
    format!("cannot store {value:?} in a column of type {ty}").into()
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                _ => Err(type_error(self, ty)),
            },
            Value::Float(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                _ => Err(type_error(self, ty)),
            },
            Value::Text(s) if <String as ToSql>::accepts(ty) => s.to_sql(ty, out),
            Value::Bool(b) if *ty == Type::BOOL => b.to_sql(ty, out),
            Value::Bool(b) if *ty == Type::INT8 => (*b as i64).to_sql(ty, out),
            Value::Bytes(b) if *ty == Type::BYTEA => b.to_sql(ty, out),
            Value::Bytes(b) if *ty == Type::UUID => uuid::Uuid::from_slice(b)?.to_sql(ty, out),
            Value::Uuid(u) if *ty == Type::UUID => u.to_sql(ty, out),
            Value::Uuid(u) if *ty == Type::BYTEA => u.as_bytes().as_slice().to_sql(ty, out),
            _ => Err(type_error(self, ty)),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn decode(row: &postgres::Row, i: usize) -> Result<Value, DbError> {
    let ty = row.columns()[i].type_().clone();
    let v = match ty {
        Type::INT8 => row.try_get::<_, Option<i64>>(i).map(|v| v.map(Value::Int)),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)
            .map(|v| v.map(|x| Value::Int(x.into()))),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(i)
            .map(|v| v.map(|x| Value::Int(x.into()))),
        Type::FLOAT8 => row
            .try_get::<_, Option<f64>>(i)
            .map(|v| v.map(Value::Float)),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(i)
            .map(|v| v.map(|x| Value::Float(x.into()))),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(i)
            .map(|v| v.map(Value::Bool)),
        Type::BYTEA => row
            .try_get::<_, Option<Vec<u8>>>(i)
            .map(|v| v.map(Value::Bytes)),
        Type::UUID => row
            .try_get::<_, Option<uuid::Uuid>>(i)
            .map(|v| v.map(Value::Uuid)),
        _ if <String as postgres::types::FromSql>::accepts(&ty) => row
            .try_get::<_, Option<String>>(i)
            .map(|v| v.map(Value::Text)),
        other => {
            return Err(DbError::other(format!(
                "column {} has unsupported type {other}",
                row.columns()[i].name()
            )))
        }
    };
    Ok(v.map_err(map_err)?.unwrap_or(Value::Null))
}

pub(super) fn map_err(e: postgres::Error) -> DbError {
    use postgres::error::SqlState;
    let kind = match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => DbErrorKind::Unique,
        Some(c) if *c == SqlState::FOREIGN_KEY_VIOLATION => DbErrorKind::ForeignKey,
        Some(c) if *c == SqlState::EXCLUSION_VIOLATION => DbErrorKind::Exclusion,
        Some(c)
            if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            DbErrorKind::Transient
        }
        _ => DbErrorKind::Other,
    };
    let message = match e.as_db_error() {
        // The same words as SQLite's (see `sqlite_backend::unique_message`), with the
        // key's values, which PostgreSQL reports and SQLite does not.
        Some(db) if kind == DbErrorKind::Unique => {
            let key = db
                .detail()
                .and_then(|d| d.strip_prefix("Key "))
                .and_then(|d| d.strip_suffix(" already exists."))
                .unwrap_or(db.constraint().unwrap_or("key"));
            format!("{} {key} already exists", db.table().unwrap_or("row"))
        }
        Some(db) => match db.detail() {
            Some(d) => format!("{} ({d})", db.message()),
            None => db.message().to_owned(),
        },
        None => e.to_string(),
    };
    DbError { kind, message }
}

impl PgConn {
    fn statement(&mut self, sql: &str) -> Result<Statement, DbError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let stmt = self
            .client
            .prepare(&numbered_placeholders(sql))
            .map_err(map_err)?;
        // Statements built for one-off bulk shapes should not grow the cache for ever.
        if self.statements.len() > 512 {
            self.statements.clear();
        }
        self.statements.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }

    pub(super) fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        self.client.batch_execute(sql).map_err(map_err)
    }

    pub(super) fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let stmt = self.statement(sql)?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v as _).collect();
        self.client.execute(&stmt, &refs).map_err(map_err)
    }

    pub(super) fn query_each(
        &mut self,
        sql: &str,
        params: &[Value],
        f: &mut dyn FnMut(&[Value]) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        let stmt = self.statement(sql)?;
        let mut rows = self
            .client
            .query_raw(&stmt, params.iter())
            .map_err(map_err)?;
        let mut buf: Row = Vec::new();
        while let Some(row) = rows.next().map_err(map_err)? {
            buf.clear();
            for i in 0..row.len() {
                buf.push(decode(&row, i)?);
            }
            f(&buf)?;
        }
        Ok(())
    }

    /// Insert rows through binary COPY (see [`COPY_FROM_ROWS`]).
    fn copy_rows(&mut self, table: &str, columns: &[&str], rows: &[Row]) -> Result<u64, DbError> {
        let target = format!("{table} ({})", columns.join(", "));
        let types = match self.copy_types.get(&target) {
            Some(t) => t.clone(),
            None => {
                let probe = self
                    .client
                    .prepare(&format!(
                        "SELECT {} FROM {table} LIMIT 0",
                        columns.join(", ")
                    ))
                    .map_err(map_err)?;
                let t: Vec<Type> = probe.columns().iter().map(|c| c.type_().clone()).collect();
                self.copy_types.insert(target.clone(), t.clone());
                t
            }
        };
        let sink = self
            .client
            .copy_in(&format!("COPY {target} FROM STDIN (FORMAT binary)"))
            .map_err(map_err)?;
        let mut writer = postgres::binary_copy::BinaryCopyInWriter::new(sink, &types);
        let mut refs: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(columns.len());
        for row in rows {
            refs.clear();
            refs.extend(row.iter().map(|v| v as &(dyn ToSql + Sync)));
            writer.write(&refs).map_err(map_err)?;
        }
        writer.finish().map_err(map_err)
    }

    pub(super) fn insert_rows(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: &[Row],
        conflict: Option<&str>,
    ) -> Result<u64, DbError> {
        let n = self.insert_rows_unnoted(table, columns, rows, conflict)?;
        self.note_inserted(table, n)?;
        Ok(n)
    }

    /// After inserting `n` rows into `table`, refresh its planner statistics once
    /// it has grown by a fifth (at least [`ANALYZE_AFTER_ROWS`] rows) since they
    /// were last taken. Without them a table filled in bulk keeps the planner's
    /// guess for an empty one: a find-first scan of 104k calexps right after an
    /// import sorted on disk (155 ms) instead of reading the primary key in order
    /// (68 ms), and the foreign keys of datasets to a new dimension table were
    /// checked by sequential scans (the import of the DP0.2-shaped sample took 25 s
    /// instead of 16 s). `ANALYZE` runs in the transaction and counts its own
    /// inserts; growth by a fraction keeps the refreshes few however the rows come,
    /// and concurrent writers never wait on each other's refresh.
    fn note_inserted(&mut self, table: &str, n: u64) -> Result<(), DbError> {
        if n == 0 {
            return Ok(());
        }
        let (inserted, size) = match self.grown.get(table) {
            Some(&known) => known,
            None => {
                let row = self
                    .client
                    .query_opt(
                        "SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)",
                        &[&table],
                    )
                    .map_err(map_err)?;
                let size = row.map_or(0.0, |r| f64::from(r.get::<_, f32>(0)).max(0.0));
                (0, size)
            }
        };
        let inserted = inserted + n;
        if inserted as f64 >= (size * 0.2).max(ANALYZE_AFTER_ROWS as f64) {
            // SKIP_LOCKED: a concurrent transaction refreshing the same table (its
            // lock is held to commit) is left to it, never waited for.
            self.client
                .batch_execute(&format!("ANALYZE (SKIP_LOCKED) {table}"))
                .map_err(map_err)?;
            self.grown
                .insert(table.to_owned(), (0, size + inserted as f64));
        } else {
            self.grown.insert(table.to_owned(), (inserted, size));
        }
        Ok(())
    }

    fn insert_rows_unnoted(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: &[Row],
        conflict: Option<&str>,
    ) -> Result<u64, DbError> {
        if conflict.is_none() && rows.len() >= COPY_FROM_ROWS {
            return self.copy_rows(table, columns, rows);
        }
        let ncol = columns.len().max(1);
        let per_chunk = (MAX_PARAMS / ncol).clamp(1, MAX_ROWS_PER_INSERT);
        let mut n = 0;
        for chunk in rows.chunks(per_chunk) {
            let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
            let mut p = 0;
            for (r, _) in chunk.iter().enumerate() {
                if r > 0 {
                    sql.push_str(", ");
                }
                sql.push('(');
                for c in 0..ncol {
                    if c > 0 {
                        sql.push_str(", ");
                    }
                    p += 1;
                    sql.push('$');
                    sql.push_str(&p.to_string());
                }
                sql.push(')');
            }
            if let Some(c) = conflict {
                sql.push(' ');
                sql.push_str(c);
            }
            let stmt = match self.statements.get(&sql) {
                Some(s) => s.clone(),
                None => {
                    let s = self.client.prepare(&sql).map_err(map_err)?;
                    if chunk.len() == per_chunk {
                        self.statements.insert(sql, s.clone());
                    }
                    s
                }
            };
            let refs: Vec<&(dyn ToSql + Sync)> = chunk
                .iter()
                .flat_map(|r| r.iter())
                .map(|v| v as _)
                .collect();
            n += self.client.execute(&stmt, &refs).map_err(map_err)?;
        }
        Ok(n)
    }
}
