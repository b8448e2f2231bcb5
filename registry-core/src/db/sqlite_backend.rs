//! SQLite through rusqlite (bundled SQLite, so nothing needs installing).

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{ffi, ToSql};

use super::{DbError, DbErrorKind, Row, Value};

/// How long a writer waits for another writer's transaction to end before failing.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Creates pooled SQLite connections with the pragmas valet relies on.
#[derive(Debug)]
pub struct SqliteManager {
    path: String,
}

impl SqliteManager {
    /// A manager for the database file at `path`.
    pub fn new(path: &str) -> SqliteManager {
        SqliteManager {
            path: path.to_owned(),
        }
    }
}

/// One SQLite connection.
pub struct SqliteConn {
    conn: rusqlite::Connection,
}

impl r2d2::ManageConnection for SqliteManager {
    type Connection = SqliteConn;
    type Error = DbError;

    fn connect(&self) -> Result<SqliteConn, DbError> {
        let conn = rusqlite::Connection::open(&self.path).map_err(map_err)?;
        // WAL lets readers run beside one writer; foreign keys are off by default in
        // SQLite and must be switched on per connection; the busy timeout makes a second
        // writer wait instead of failing at once.
        conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA foreign_keys = ON;
             PRAGMA synchronous = NORMAL;
             PRAGMA temp_store = MEMORY;
             PRAGMA cache_size = -65536;",
        )
        .map_err(map_err)?;
        conn.set_prepared_statement_cache_capacity(256);
        Ok(SqliteConn { conn })
    }

    fn is_valid(&self, conn: &mut SqliteConn) -> Result<(), DbError> {
        conn.conn.execute_batch("").map_err(map_err)
    }

    fn has_broken(&self, _conn: &mut SqliteConn) -> bool {
        false
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Float(f) => ToSqlOutput::Borrowed(ValueRef::Real(*f)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Bool(b) => ToSqlOutput::Borrowed(ValueRef::Integer(*b as i64)),
            Value::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Value::Uuid(u) => ToSqlOutput::Borrowed(ValueRef::Blob(u.as_bytes())),
        })
    }
}

fn from_ref(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Float(f),
        ValueRef::Text(t) => Value::Text(match std::str::from_utf8(t) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(t).into_owned(),
        }),
        // valet stores UUIDs as 16-byte blobs; no other column it writes has that
        // size (regions are 1 + 24n bytes, hashes are their declared size and the
        // shipped universe declares none of 16), so they come back as UUIDs without
        // an allocation per row.
        ValueRef::Blob(b) if b.len() == 16 => match uuid::Uuid::from_slice(b) {
            Ok(u) => Value::Uuid(u),
            Err(_) => Value::Bytes(b.to_vec()),
        },
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
    }
}

pub(super) fn map_err(e: rusqlite::Error) -> DbError {
    let (kind, code) = match &e {
        rusqlite::Error::SqliteFailure(f, _) => (
            match f.extended_code {
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    DbErrorKind::Unique
                }
                ffi::SQLITE_CONSTRAINT_FOREIGNKEY => DbErrorKind::ForeignKey,
                _ => DbErrorKind::Other,
            },
            Some(f.code),
        ),
        _ => (DbErrorKind::Other, None),
    };
    let message = match (kind, code) {
        (DbErrorKind::Unique, _) => unique_message(&e.to_string()),
        // Writers queue for SQLite's one write lock; only a writer that waited out the
        // whole busy timeout gets here.
        (_, Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)) => {
            format!(
                "the registry stayed busy with another writer for more than {} s; try again",
                BUSY_TIMEOUT.as_secs()
            )
        }
        _ => e.to_string(),
    };
    DbError { kind, message }
}

/// "UNIQUE constraint failed: t.a, t.b" as "t (a, b) already exists", the words the
/// PostgreSQL backend uses too.
fn unique_message(text: &str) -> String {
    let Some(columns) = text.strip_prefix("UNIQUE constraint failed: ") else {
        return text.to_owned();
    };
    let mut table = "row";
    let names: Vec<&str> = columns
        .split(", ")
        .map(|c| match c.split_once('.') {
            Some((t, c)) => {
                table = t;
                c
            }
            None => c,
        })
        .collect();
    format!("{table} ({}) already exists", names.join(", "))
}

impl SqliteConn {
    pub(super) fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        self.conn.execute_batch(sql).map_err(map_err)
    }

    pub(super) fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(map_err)?;
        stmt.execute(rusqlite::params_from_iter(params.iter()))
            .map(|n| n as u64)
            .map_err(map_err)
    }

    pub(super) fn query_each(
        &mut self,
        sql: &str,
        params: &[Value],
        f: &mut dyn FnMut(&[Value]) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(map_err)?;
        let ncol = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(map_err)?;
        let mut buf: Row = vec![Value::Null; ncol];
        while let Some(row) = rows.next().map_err(map_err)? {
            for (i, slot) in buf.iter_mut().enumerate() {
                let v = row.get_ref(i).map_err(map_err)?;
                // Text columns reuse the previous row's string buffer: most rows of a
                // scan repeat short values (instrument names), and this saves an
                // allocation per text cell (and the copy, when the value repeats).
                match (slot, v) {
                    (Value::Text(s), ValueRef::Text(t)) if s.as_bytes() == t => {}
                    (Value::Text(s), ValueRef::Text(t)) => match std::str::from_utf8(t) {
                        Ok(t) => {
                            s.clear();
                            s.push_str(t);
                        }
                        Err(_) => *s = String::from_utf8_lossy(t).into_owned(),
                    },
                    (slot, v) => *slot = from_ref(v),
                }
            }
            f(&buf)?;
        }
        Ok(())
    }

    pub(super) fn insert_rows(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: &[Row],
        conflict: Option<&str>,
    ) -> Result<u64, DbError> {
        let placeholders = vec!["?"; columns.len()].join(", ");
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES ({placeholders}) {}",
            columns.join(", "),
            conflict.unwrap_or("")
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(map_err)?;
        let mut n = 0;
        for row in rows {
            n += stmt
                .execute(rusqlite::params_from_iter(row.iter()))
                .map_err(map_err)? as u64;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_violations_name_table_and_columns() {
        assert_eq!(
            unique_message("UNIQUE constraint failed: collection.name"),
            "collection (name) already exists"
        );
        assert_eq!(
            unique_message(
                "UNIQUE constraint failed: collection_chain.parent, collection_chain.position"
            ),
            "collection_chain (parent, position) already exists"
        );
        assert_eq!(unique_message("something else"), "something else");
    }
}
