//! The reference's registry database, opened read-only: an SQLite file opened with
//! `SQLITE_OPEN_READ_ONLY`, or a PostgreSQL server in a `READ ONLY` transaction. Rows
//! stream from the cursor to a callback, so a table is never held whole.

use std::path::Path;

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::Type;
use uuid::Uuid;
use valet_registry::Value;

use crate::RepoError;

/// An open, read-only source registry.
pub(crate) enum Source {
    /// An SQLite file.
    Sqlite(rusqlite::Connection),
    /// A PostgreSQL database, with the schema the registry's tables are in.
    Postgres {
        /// The client, inside one read-only transaction for a consistent snapshot.
        client: Box<postgres::Client>,
        /// `namespace` from the reference's configuration, if set.
        schema: Option<String>,
    },
}

fn source_err(what: &str, e: impl std::fmt::Display) -> RepoError {
    RepoError::Invalid(format!("reading the Butler registry: {what}: {e}"))
}

impl Source {
    /// Open an SQLite registry file read-only, in one read transaction.
    pub fn sqlite(path: &Path) -> Result<Source, RepoError> {
        if !path.is_file() {
            return Err(RepoError::Invalid(format!(
                "the Butler registry database {} does not exist",
                path.display()
            )));
        }
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| source_err(&path.display().to_string(), e))?;
        // One read transaction: every table is read as of the same moment.
        conn.execute_batch("BEGIN DEFERRED")
            .map_err(|e| source_err(&path.display().to_string(), e))?;
        Ok(Source::Sqlite(conn))
    }

    /// Connect to a PostgreSQL registry and start a read-only, repeatable-read
    /// transaction: the server itself refuses any write.
    pub fn postgres(url: &str, schema: Option<String>) -> Result<Source, RepoError> {
        let mut client = postgres::Client::connect(url, postgres::NoTls)
            .map_err(|e| source_err(&redact(url), e))?;
        client
            .batch_execute("BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .map_err(|e| source_err(&redact(url), e))?;
        Ok(Source::Postgres {
            client: Box::new(client),
            schema,
        })
    }

    /// A table's name as SQL, qualified by the schema on PostgreSQL.
    pub fn table(&self, name: &str) -> String {
        match self {
            Source::Postgres {
                schema: Some(s), ..
            } => format!("{}.{}", quote(s), quote(name)),
            _ => quote(name),
        }
    }

    /// The SQL of the two bounds of a timespan column group named `name` (SQLite
    /// keeps `name_begin`/`name_end`, PostgreSQL one range column).
    pub fn timespan_bounds(&self, name: &str) -> [String; 2] {
        match self {
            Source::Sqlite(_) => [
                quote(&format!("{name}_begin")),
                quote(&format!("{name}_end")),
            ],
            Source::Postgres { .. } => [
                format!("lower({})", quote(name)),
                format!("upper({})", quote(name)),
            ],
        }
    }

    /// Whether a table exists in the source.
    pub fn has_table(&mut self, name: &str) -> Result<bool, RepoError> {
        let sql = match self {
            Source::Sqlite(_) => format!(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = {}",
                literal(name)
            ),
            Source::Postgres { schema, .. } => format!(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = {} AND table_schema = {}",
                literal(name),
                literal(schema.as_deref().unwrap_or("public"))
            ),
        };
        Ok(self.all(&sql)?.first().and_then(|r| r[0].as_i64()) == Some(1))
    }

    /// Every row of a (small) query.
    pub fn all(&mut self, sql: &str) -> Result<Vec<Vec<Value>>, RepoError> {
        let mut rows = Vec::new();
        self.each(sql, |r| {
            rows.push(r);
            Ok(())
        })?;
        Ok(rows)
    }

    /// Stream the rows of a query to `f`, one at a time.
    pub fn each(
        &mut self,
        sql: &str,
        mut f: impl FnMut(Vec<Value>) -> Result<(), RepoError>,
    ) -> Result<(), RepoError> {
        match self {
            Source::Sqlite(conn) => {
                let mut stmt = conn.prepare(sql).map_err(|e| source_err(sql, e))?;
                let n = stmt.column_count();
                let mut rows = stmt.query([]).map_err(|e| source_err(sql, e))?;
                while let Some(row) = rows.next().map_err(|e| source_err(sql, e))? {
                    let mut out = Vec::with_capacity(n);
                    for i in 0..n {
                        use rusqlite::types::ValueRef;
                        let v = row.get_ref(i).map_err(|e| source_err(sql, e))?;
                        out.push(match v {
                            ValueRef::Null => Value::Null,
                            ValueRef::Integer(i) => Value::Int(i),
                            ValueRef::Real(x) => Value::Float(x),
                            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into()),
                            ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
                        });
                    }
                    f(out)?;
                }
                Ok(())
            }
            Source::Postgres { client, .. } => {
                let params: [&(dyn postgres::types::ToSql + Sync); 0] = [];
                let mut rows = client
                    .query_raw(sql, params)
                    .map_err(|e| source_err(sql, e))?;
                while let Some(row) = rows.next().map_err(|e| source_err(sql, e))? {
                    let mut out = Vec::with_capacity(row.len());
                    for (i, col) in row.columns().iter().enumerate() {
                        out.push(pg_value(&row, i, col.type_()).map_err(|e| source_err(sql, e))?);
                    }
                    f(out)?;
                }
                Ok(())
            }
        }
    }
}

/// One PostgreSQL column as a registry value.
fn pg_value(row: &postgres::Row, i: usize, ty: &Type) -> Result<Value, String> {
    let err = |e: postgres::Error| e.to_string();
    let v = match *ty {
        Type::INT8 => row
            .try_get::<_, Option<i64>>(i)
            .map_err(err)?
            .map(Value::Int),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)
            .map_err(err)?
            .map(|x| Value::Int(x.into())),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(i)
            .map_err(err)?
            .map(|x| Value::Int(x.into())),
        Type::FLOAT8 => row
            .try_get::<_, Option<f64>>(i)
            .map_err(err)?
            .map(Value::Float),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(i)
            .map_err(err)?
            .map(|x| Value::Float(x.into())),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(i)
            .map_err(err)?
            .map(Value::Bool),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => row
            .try_get::<_, Option<String>>(i)
            .map_err(err)?
            .map(Value::Text),
        Type::BYTEA => row
            .try_get::<_, Option<Vec<u8>>>(i)
            .map_err(err)?
            .map(Value::Bytes),
        Type::UUID => row
            .try_get::<_, Option<Uuid>>(i)
            .map_err(err)?
            .map(Value::Uuid),
        _ => {
            return Err(format!(
                "column {i} has type {ty}, which valet does not read"
            ))
        }
    };
    Ok(v.unwrap_or(Value::Null))
}

/// A dataset id as either backend stores it: 32 hex digits in SQLite, `uuid` in
/// PostgreSQL (16 bytes, if an older layout kept them so).
pub(crate) fn dataset_id(v: &Value) -> Result<Uuid, RepoError> {
    let id = match v {
        Value::Uuid(u) => Some(*u),
        Value::Text(t) => Uuid::parse_str(t.trim()).ok(),
        Value::Bytes(b) => Uuid::from_slice(b).ok(),
        _ => None,
    };
    id.ok_or_else(|| {
        RepoError::Invalid(format!(
            "the Butler registry holds a dataset id {v} that is not a UUID"
        ))
    })
}

/// An SQL identifier.
pub(crate) fn quote(name: &str) -> String {
    valet_registry::db::quote_ident(name)
}

/// An SQL string literal.
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let cred = &url[s + 3..at];
            match cred.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
