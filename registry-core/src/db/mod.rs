//! A thin, backend-neutral layer over SQLite (rusqlite, bundled) and PostgreSQL
//! (the pure-Rust `postgres` client, so no libpq is needed).
//!
//! The registry's schema depends on the dimension universe and grows a table pair per
//! dimension group, so the SQL is written at run time; this layer gives both backends
//! one interface: `?` placeholders (rewritten to `$n` for PostgreSQL), one value type,
//! streaming row callbacks, bulk inserts, and transactions.

mod postgres_backend;
mod sqlite_backend;

use std::fmt;
use std::time::Duration;

use uuid::Uuid;

pub use postgres_backend::PgManager;
pub use sqlite_backend::SqliteManager;

/// A value going into or coming out of the database.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// Any integer column.
    Int(i64),
    /// Double-precision float.
    Float(f64),
    /// Text.
    Text(String),
    /// Boolean (an integer 0/1 in SQLite).
    Bool(bool),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A UUID (16 bytes in SQLite, native `uuid` in PostgreSQL).
    Uuid(Uuid),
}

impl Value {
    /// The integer inside, if any.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    /// The text inside, if any.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The UUID inside (SQLite returns the 16 raw bytes).
    pub fn as_uuid(&self) -> Option<Uuid> {
        match self {
            Value::Uuid(u) => Some(*u),
            Value::Bytes(b) => Uuid::from_slice(b).ok(),
            _ => None,
        }
    }

    /// True for NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(s) => f.write_str(s),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Bytes(b) => f.write_str(&hex::encode(b)),
            Value::Uuid(u) => write!(f, "{u}"),
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<Uuid> for Value {
    fn from(v: Uuid) -> Self {
        Value::Uuid(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(Value::Null)
    }
}

/// Which database engine a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// What kind of failure the database reported; constraint kinds are told apart so the
/// registry can turn them into messages that name the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbErrorKind {
    /// A unique or primary-key constraint.
    Unique,
    /// A foreign-key constraint.
    ForeignKey,
    /// A PostgreSQL exclusion constraint (overlapping ranges).
    Exclusion,
    /// Any other failure.
    Other,
}

/// A database error.
#[derive(Debug, Clone, thiserror::Error)]
#[error("database error: {message}")]
pub struct DbError {
    /// The kind of failure.
    pub kind: DbErrorKind,
    /// The backend's message.
    pub message: String,
}

impl DbError {
    /// An error of kind `Other`.
    pub fn other(message: impl Into<String>) -> DbError {
        DbError {
            kind: DbErrorKind::Other,
            message: message.into(),
        }
    }
}

/// One result row.
pub type Row = Vec<Value>;

/// A pool of connections to one registry database.
#[derive(Clone)]
pub struct Db {
    inner: DbPool,
}

#[derive(Clone)]
enum DbPool {
    Sqlite(r2d2::Pool<SqliteManager>),
    Postgres(r2d2::Pool<PgManager>),
}

/// A pooled connection.
pub enum Conn {
    /// SQLite.
    Sqlite(r2d2::PooledConnection<SqliteManager>),
    /// PostgreSQL (boxed: its statement cache makes it much larger than SQLite's).
    Postgres(Box<r2d2::PooledConnection<PgManager>>),
}

impl Db {
    /// Connect to `sqlite:<path>` or `postgresql://…` (also `postgres://…`).
    pub fn connect(url: &str) -> Result<Db, DbError> {
        if let Some(path) = url.strip_prefix("sqlite:") {
            let pool = r2d2::Pool::builder()
                .max_size(4)
                .connection_timeout(Duration::from_secs(30))
                .build(SqliteManager::new(path))
                .map_err(|e| DbError::other(format!("cannot open SQLite database {path}: {e}")))?;
            Ok(Db {
                inner: DbPool::Sqlite(pool),
            })
        } else if url.starts_with("postgresql://") || url.starts_with("postgres://") {
            let manager = PgManager::new(url)?;
            let pool = r2d2::Pool::builder()
                .max_size(8)
                .connection_timeout(Duration::from_secs(30))
                .build(manager)
                .map_err(|e| DbError::other(format!("cannot connect to PostgreSQL: {e}")))?;
            Ok(Db {
                inner: DbPool::Postgres(pool),
            })
        } else {
            Err(DbError::other(format!(
                "unsupported database URL {url:?}: use sqlite:PATH or postgresql://…"
            )))
        }
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        match self.inner {
            DbPool::Sqlite(_) => Backend::Sqlite,
            DbPool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Take a connection from the pool.
    pub fn conn(&self) -> Result<Conn, DbError> {
        match &self.inner {
            DbPool::Sqlite(p) => p
                .get()
                .map(Conn::Sqlite)
                .map_err(|e| DbError::other(e.to_string())),
            DbPool::Postgres(p) => p
                .get()
                .map(|c| Conn::Postgres(Box::new(c)))
                .map_err(|e| DbError::other(e.to_string())),
        }
    }

    /// Run `f` inside one transaction: committed if it returns `Ok`, rolled back
    /// otherwise, also when `f` panics or the commit fails, so the connection goes
    /// back to the pool with no transaction open.
    pub fn transaction<T, E>(&self, f: impl FnOnce(&mut Conn) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError>,
    {
        let mut tx = OpenTransaction {
            conn: self.conn()?,
            open: false,
        };
        tx.conn.begin()?;
        tx.open = true;
        let v = f(&mut tx.conn)?;
        tx.conn.commit()?;
        tx.open = false;
        Ok(v)
    }
}

/// A connection inside a transaction that is rolled back when this is dropped still
/// open: on an error, a failed commit, or a panic unwinding through it.
struct OpenTransaction {
    conn: Conn,
    open: bool,
}

impl Drop for OpenTransaction {
    fn drop(&mut self) {
        if self.open {
            // Nothing better to do with a failed rollback here; the original error
            // (or panic) is what the caller sees.
            let _ = self.conn.rollback();
        }
    }
}

impl Conn {
    /// The backend of this connection.
    pub fn backend(&self) -> Backend {
        match self {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Postgres(_) => Backend::Postgres,
        }
    }

    /// Start a transaction (SQLite takes the write lock at once, so two writers never
    /// deadlock upgrading a read lock).
    pub fn begin(&mut self) -> Result<(), DbError> {
        match self {
            Conn::Sqlite(c) => c.batch("BEGIN IMMEDIATE"),
            Conn::Postgres(c) => c.batch("BEGIN"),
        }
    }

    /// Commit the current transaction.
    pub fn commit(&mut self) -> Result<(), DbError> {
        self.batch("COMMIT")
    }

    /// Roll the current transaction back.
    pub fn rollback(&mut self) -> Result<(), DbError> {
        self.batch("ROLLBACK")
    }

    /// Run `f` inside a savepoint: on error the database is rolled back to the state
    /// before `f`, and the enclosing transaction stays usable (PostgreSQL aborts the
    /// whole transaction on an error otherwise).
    pub fn savepoint<T>(
        &mut self,
        f: impl FnOnce(&mut Conn) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        self.batch("SAVEPOINT valet_savepoint")?;
        match f(self) {
            Ok(v) => {
                self.batch("RELEASE SAVEPOINT valet_savepoint")?;
                Ok(v)
            }
            Err(e) => {
                self.batch("ROLLBACK TO SAVEPOINT valet_savepoint")?;
                self.batch("RELEASE SAVEPOINT valet_savepoint")?;
                Err(e)
            }
        }
    }

    /// Run one or more statements without parameters.
    pub fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        match self {
            Conn::Sqlite(c) => c.batch(sql),
            Conn::Postgres(c) => c.batch(sql),
        }
    }

    /// Run one statement; returns the number of rows changed.
    pub fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        match self {
            Conn::Sqlite(c) => c.execute(sql, params),
            Conn::Postgres(c) => c.execute(sql, params),
        }
    }

    /// Run a query and hand each row to `f` as it arrives (no buffering of the whole
    /// result).
    pub fn query_each(
        &mut self,
        sql: &str,
        params: &[Value],
        f: &mut dyn FnMut(&[Value]) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        match self {
            Conn::Sqlite(c) => c.query_each(sql, params, f),
            Conn::Postgres(c) => c.query_each(sql, params, f),
        }
    }

    /// Run a query and collect every row.
    pub fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        let mut rows = Vec::new();
        self.query_each(sql, params, &mut |r| {
            rows.push(r.to_vec());
            Ok(())
        })?;
        Ok(rows)
    }

    /// Run a query expected to return at most one row.
    pub fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>, DbError> {
        let mut found = None;
        self.query_each(sql, params, &mut |r| {
            if found.is_none() {
                found = Some(r.to_vec());
            }
            Ok(())
        })?;
        Ok(found)
    }

    /// Insert many rows into `table`. `conflict` is an optional `ON CONFLICT …` clause.
    /// SQLite reuses one prepared single-row statement; PostgreSQL sends multi-row
    /// `VALUES` lists, which cuts round trips by orders of magnitude.
    pub fn insert_rows(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: &[Row],
        conflict: Option<&str>,
    ) -> Result<u64, DbError> {
        if rows.is_empty() {
            return Ok(0);
        }
        match self {
            Conn::Sqlite(c) => c.insert_rows(table, columns, rows, conflict),
            Conn::Postgres(c) => c.insert_rows(table, columns, rows, conflict),
        }
    }
}

/// Quote an identifier for SQL (both backends accept double quotes).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Rewrite `?` placeholders to PostgreSQL's `$1, $2, …`, leaving quoted text alone.
pub(crate) fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    let mut in_single = false;
    let mut in_double = false;
    for ch in sql.chars() {
        match ch {
            '\'' if !in_double => {
                in_single = !in_single;
                out.push(ch);
            }
            '"' if !in_single => {
                in_double = !in_double;
                out.push(ch);
            }
            '?' if !in_single && !in_double => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(
            numbered_placeholders("SELECT '?', \"a?\" FROM t WHERE a = ? AND b IN (?, ?)"),
            "SELECT '?', \"a?\" FROM t WHERE a = $1 AND b IN ($2, $3)"
        );
    }
}
