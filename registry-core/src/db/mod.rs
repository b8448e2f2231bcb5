//! A thin, backend-neutral layer over SQLite (rusqlite, bundled) and PostgreSQL
//! (the pure-Rust `postgres` client, so no libpq is needed).
//!
//! The registry's schema depends on the dimension universe and grows a table pair per
//! dimension group, so the SQL is written at run time; this layer gives both backends
//! one interface: `?` placeholders (rewritten to `$n` for PostgreSQL), one value type,
//! streaming row callbacks, bulk inserts, and transactions.

mod pins;
mod postgres_backend;
mod sqlite_backend;

use std::fmt;
use std::time::Duration;

pub use crate::events::{Observer, Observers, TransactionState};

use uuid::Uuid;

pub use pins::{ConnHandle, Hook};
pub use postgres_backend::PgManager;
pub use sqlite_backend::SqliteManager;

/// A value going into or coming out of the database.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// Any integer column.
    Int(i64),
    /// Double-precision float (sent as text when not finite, which JSON cannot
    /// hold as a number).
    Float(#[serde(with = "finite_or_text")] f64),
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
    /// The transaction lost a conflict with a concurrent one: a serialization failure
    /// (SQLSTATE 40001) or a deadlock (40P01). The transaction is void, and running it
    /// again from the start may well succeed; [`Db::transaction`] does so.
    Transient,
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

    /// What a transaction reports when every attempt lost a conflict: the backend's
    /// own words (a deadlock report naming processes) mean nothing to the user.
    fn gave_up() -> DbError {
        DbError {
            kind: DbErrorKind::Transient,
            message: format!(
                "this change kept colliding with concurrent changes to the registry and was \
                 abandoned after {TRANSACTION_ATTEMPTS} attempts; nothing was changed, try again"
            ),
        }
    }
}

/// How many times [`Db::transaction`] runs a transaction that keeps losing conflicts
/// with concurrent ones (PostgreSQL serialization failures and deadlocks) before it
/// gives up.
pub const TRANSACTION_ATTEMPTS: u32 = 5;

/// Wait a little before attempt `attempt + 1`: exponentially longer each time and
/// randomized, so that the transactions that collided do not collide again in step.
fn backoff(attempt: u32) {
    use std::hash::{BuildHasher, RandomState};
    let span_ms = 10u64 << attempt.clamp(1, 6);
    // Each `RandomState` is seeded afresh, which is all the randomness needed here.
    let jitter = RandomState::new().hash_one(attempt) % span_ms;
    std::thread::sleep(Duration::from_millis(span_ms / 2 + jitter));
}

/// One result row.
pub type Row = Vec<Value>;

/// A pool of connections to one registry database, and the observers every write
/// through it reports to (see [`crate::events`]).
#[derive(Clone)]
pub struct Db {
    inner: DbPool,
    observers: Observers,
    pins: pins::Pins,
}

#[derive(Clone)]
enum DbPool {
    Sqlite(r2d2::Pool<SqliteManager>),
    Postgres(r2d2::Pool<PgManager>),
}

/// A pooled connection, with the observers of its pool and the state they keep for
/// the transaction under way.
pub struct Conn {
    link: Link,
    pub(crate) observers: Observers,
    pub(crate) state: TransactionState,
}

/// The backend connection itself.
enum Link {
    /// SQLite.
    Sqlite(r2d2::PooledConnection<SqliteManager>),
    /// PostgreSQL (boxed: its statement cache makes it much larger than SQLite's).
    Postgres(Box<r2d2::PooledConnection<PgManager>>),
}

impl Db {
    /// The most connections the pool opens: what a server lets work at once.
    pub fn max_connections(&self) -> usize {
        match &self.inner {
            DbPool::Sqlite(pool) => pool.max_size() as usize,
            DbPool::Postgres(pool) => pool.max_size() as usize,
        }
    }

    /// Connect to `sqlite:<path>` or `postgresql://…` (also `postgres://…`).
    pub fn connect(url: &str) -> Result<Db, DbError> {
        if let Some(path) = url.strip_prefix("sqlite:") {
            // One connection is opened up front, the others when first needed: a
            // command that uses one does not wait for four to open.
            let pool = r2d2::Pool::builder()
                .max_size(4)
                .min_idle(Some(1))
                .connection_timeout(Duration::from_secs(30))
                .build(SqliteManager::new(path))
                .map_err(|e| DbError::other(format!("cannot open SQLite database {path}: {e}")))?;
            Ok(Db {
                inner: DbPool::Sqlite(pool),
                observers: Observers::default(),
                pins: pins::Pins::default(),
            })
        } else if url.starts_with("postgresql://") || url.starts_with("postgres://") {
            let manager = PgManager::new(url)?;
            // One direct attempt first: a refused or unknown server is reported at
            // once, where the pool would retry until its timeout.
            r2d2::ManageConnection::connect(&manager)
                .map_err(|e| DbError::other(format!("cannot connect to PostgreSQL: {e}")))?;
            let pool = r2d2::Pool::builder()
                .max_size(8)
                .min_idle(Some(1))
                .connection_timeout(Duration::from_secs(30))
                .build(manager)
                .map_err(|e| DbError::other(format!("cannot connect to PostgreSQL: {e}")))?;
            Ok(Db {
                inner: DbPool::Postgres(pool),
                observers: Observers::default(),
                pins: pins::Pins::default(),
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

    /// Take a connection: this thread's pinned one inside an outer transaction (see
    /// [`Db::begin_outer`]), one from the pool otherwise.
    pub fn conn(&self) -> Result<ConnHandle, DbError> {
        match self.pins.take()? {
            Some(pinned) => Ok(pinned),
            None => self.pooled_conn().map(ConnHandle::pooled),
        }
    }

    /// Take a connection from the pool.
    fn pooled_conn(&self) -> Result<Conn, DbError> {
        let link = match &self.inner {
            DbPool::Sqlite(p) => p
                .get()
                .map(Link::Sqlite)
                .map_err(|e| DbError::other(e.to_string()))?,
            DbPool::Postgres(p) => p
                .get()
                .map(|c| Link::Postgres(Box::new(c)))
                .map_err(|e| DbError::other(e.to_string()))?,
        };
        Ok(Conn {
            link,
            observers: self.observers.clone(),
            state: TransactionState::default(),
        })
    }

    /// Report every write made through this pool (from now on) to `observer`, inside
    /// the write's transaction.
    pub fn add_observer(&self, observer: std::sync::Arc<dyn Observer>) {
        self.observers.add(observer);
    }

    /// Run `f` inside one transaction: committed if it returns `Ok`, rolled back
    /// otherwise, also when `f` panics or the commit fails, so the connection goes
    /// back to the pool with no transaction open.
    ///
    /// A transaction that loses a conflict with a concurrent one (see
    /// [`DbErrorKind::Transient`]) is rolled back and `f` runs again, up to
    /// [`TRANSACTION_ATTEMPTS`] times with a short randomized pause between attempts.
    /// `f` must therefore be safe to run again: everything it does in the database is
    /// rolled back between attempts, but effects outside it (files written, counters
    /// kept by the caller) are not, so a closure with such effects must undo or reset
    /// them when it starts. The retry happens however `f` reports the failure, even if
    /// it turned the database error into an error of its own.
    ///
    /// Inside an outer transaction (see [`Db::begin_outer`]) `f` runs once, in a
    /// savepoint of it: a conflict lost there voids the outer transaction, which only
    /// its owner can run again.
    pub fn transaction<T, E>(&self, mut f: impl FnMut(&mut Conn) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError>,
    {
        let conn = self.conn()?;
        if conn.is_pinned() {
            let mut conn = conn;
            conn.state = TransactionState::default();
            return conn.savepoint(|c| f(c));
        }
        let mut tx = OpenTransaction { conn, open: false };
        let mut attempt = 1;
        loop {
            tx.conn.begin()?;
            tx.open = true;
            match f(&mut tx.conn) {
                Ok(v) => match tx.conn.commit() {
                    Ok(()) => {
                        tx.open = false;
                        return Ok(v);
                    }
                    // A serializable transaction can lose its conflict at commit; the
                    // failed COMMIT has already ended it.
                    Err(e) if e.kind == DbErrorKind::Transient => tx.open = false,
                    // Any other failed commit is rolled back when `tx` is dropped.
                    Err(e) => return Err(e.into()),
                },
                Err(e) => {
                    let lost = tx.conn.take_lost_conflict();
                    // The original error matters more than a failed rollback.
                    let _ = tx.conn.rollback();
                    tx.open = false;
                    if !lost {
                        return Err(e);
                    }
                }
            }
            if attempt >= TRANSACTION_ATTEMPTS {
                return Err(DbError::gave_up().into());
            }
            backoff(attempt);
            attempt += 1;
        }
    }
}

impl Db {
    /// Run the reads of `f` as one snapshot. On SQLite that is one read transaction,
    /// so the statements take and release the database's file locks once rather than
    /// each (most of the cost of a single look-up); PostgreSQL statements run as they
    /// come. Inside an outer transaction `f` simply runs in it.
    pub fn read<T, E>(&self, f: impl FnOnce(&mut Conn) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError>,
    {
        let mut conn = self.conn()?;
        if conn.is_pinned() || conn.backend() == Backend::Postgres {
            return f(&mut conn);
        }
        // Prepared once per connection (a batch would parse them every time).
        conn.execute("BEGIN DEFERRED", &[])?;
        // Ended (rolled back) when dropped open, so a panic in `f` does not send the
        // connection back to the pool inside a transaction.
        let mut tx = OpenTransaction { conn, open: true };
        let result = f(&mut tx.conn);
        // A read transaction has nothing to keep: ending it is all that matters.
        let ended = tx
            .conn
            .execute(if result.is_ok() { "COMMIT" } else { "ROLLBACK" }, &[]);
        tx.open = ended.is_err();
        let value = result?;
        ended?;
        Ok(value)
    }
}

/// A connection inside a transaction that is rolled back when this is dropped still
/// open: on an error, a failed commit, or a panic unwinding through it.
struct OpenTransaction {
    conn: ConnHandle,
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
        match self.link {
            Link::Sqlite(_) => Backend::Sqlite,
            Link::Postgres(_) => Backend::Postgres,
        }
    }

    /// Start a transaction. SQLite takes the write lock at once, so two writers never
    /// deadlock upgrading a read lock, and a second writer waits (up to the busy
    /// timeout) instead of failing. PostgreSQL runs at READ COMMITTED whatever the
    /// server's default: the registry's locking relies on a statement that waited for
    /// a lock seeing what the lock's holder committed, which a REPEATABLE READ or
    /// SERIALIZABLE snapshot taken before the wait would not.
    pub fn begin(&mut self) -> Result<(), DbError> {
        // Observers' state belongs to one transaction (and one attempt of it).
        self.state = TransactionState::default();
        match &mut self.link {
            Link::Sqlite(c) => c.batch("BEGIN IMMEDIATE"),
            Link::Postgres(c) => {
                c.lost_conflict = false;
                c.batch("BEGIN ISOLATION LEVEL READ COMMITTED")
            }
        }
    }

    /// Remember that a statement lost a conflict with a concurrent transaction, so
    /// that [`Db::transaction`] retries even if the caller replaced the error.
    fn note<T>(&mut self, result: Result<T, DbError>) -> Result<T, DbError> {
        if let (Err(e), Link::Postgres(c)) = (&result, &mut self.link) {
            if e.kind == DbErrorKind::Transient {
                c.lost_conflict = true;
            }
        }
        result
    }

    /// Whether a statement lost a conflict since the transaction began (and forget it).
    fn take_lost_conflict(&mut self) -> bool {
        match &mut self.link {
            Link::Sqlite(_) => false,
            Link::Postgres(c) => std::mem::take(&mut c.lost_conflict),
        }
    }

    /// Commit the current transaction.
    pub fn commit(&mut self) -> Result<(), DbError> {
        self.state = TransactionState::default();
        self.batch("COMMIT")
    }

    /// Roll the current transaction back.
    pub fn rollback(&mut self) -> Result<(), DbError> {
        self.state = TransactionState::default();
        self.batch("ROLLBACK")
    }

    /// Run `f` inside a savepoint: on error the database is rolled back to the state
    /// before `f`, and the enclosing transaction stays usable (PostgreSQL aborts the
    /// whole transaction on an error otherwise).
    pub fn savepoint<T, E: From<DbError>>(
        &mut self,
        f: impl FnOnce(&mut Conn) -> Result<T, E>,
    ) -> Result<T, E> {
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
        let result = match &mut self.link {
            Link::Sqlite(c) => c.batch(sql),
            Link::Postgres(c) => c.batch(sql),
        };
        self.note(result)
    }

    /// Run one statement; returns the number of rows changed.
    pub fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let result = match &mut self.link {
            Link::Sqlite(c) => c.execute(sql, params),
            Link::Postgres(c) => c.execute(sql, params),
        };
        self.note(result)
    }

    /// Run a query and hand each row to `f` as it arrives (no buffering of the whole
    /// result).
    pub fn query_each(
        &mut self,
        sql: &str,
        params: &[Value],
        f: &mut dyn FnMut(&[Value]) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        let result = match &mut self.link {
            Link::Sqlite(c) => c.query_each(sql, params, f),
            Link::Postgres(c) => c.query_each(sql, params, f),
        };
        self.note(result)
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
        let result = match &mut self.link {
            Link::Sqlite(c) => c.insert_rows(table, columns, rows, conflict),
            Link::Postgres(c) => c.insert_rows(table, columns, rows, conflict),
        };
        self.note(result)
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

/// A float as a JSON number when finite, else as text (`NaN`, `inf`, `-inf`).
mod finite_or_text {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Wire {
        Number(f64),
        Text(String),
    }

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        if x.is_finite() {
            s.serialize_f64(*x)
        } else {
            s.serialize_str(&x.to_string())
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        match Wire::deserialize(d)? {
            Wire::Number(x) => Ok(x),
            Wire::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}
