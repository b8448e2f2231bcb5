//! Queries in DESC's form: columns named `table.column` (or a bare column name that
//! only one table has), filters `(column, operator, value)` joined with AND, the
//! tables joined from `dataset` as DESC's registry joins them.

use valet_registry::named::has_tables;
use valet_registry::{Backend, Conn, RegistryError, Result, Value};

use crate::modify::parse_date;

/// What a column holds, for filters and output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Integer.
    Int,
    /// Float.
    Float,
    /// Text.
    Text,
    /// Boolean.
    Bool,
    /// A time (UTC nanoseconds stored; ISO text shown).
    Date,
}

/// One queryable column.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Its table, as DESC names it.
    pub table: &'static str,
    /// Its name, as DESC names it.
    pub name: &'static str,
    /// The stored column when it differs from `name` (`None`: the same).
    pub stored: Option<&'static str>,
    /// What it holds.
    pub kind: Kind,
}

const fn col(table: &'static str, name: &'static str, kind: Kind) -> Column {
    Column {
        table,
        name,
        stored: None,
        kind,
    }
}

const fn renamed(
    table: &'static str,
    name: &'static str,
    stored: &'static str,
    kind: Kind,
) -> Column {
    Column {
        table,
        name,
        stored: Some(stored),
        kind,
    }
}

use Kind::{Bool, Date, Float, Int, Text};

/// Every column a query may name, table by table.
pub const CATALOGUE: &[Column] = &[
    col("dataset", "dataset_id", Int),
    col("dataset", "name", Text),
    col("dataset", "relative_path", Text),
    col("dataset", "version_major", Int),
    col("dataset", "version_minor", Int),
    col("dataset", "version_patch", Int),
    col("dataset", "version_string", Text),
    col("dataset", "creation_date", Date),
    col("dataset", "register_date", Date),
    col("dataset", "creator_uid", Text),
    col("dataset", "access_api", Text),
    col("dataset", "access_api_configuration", Text),
    col("dataset", "owner", Text),
    col("dataset", "owner_type", Text),
    col("dataset", "data_org", Text),
    col("dataset", "nfiles", Int),
    renamed(
        "dataset",
        "total_disk_space",
        "CAST(dataset.total_size AS DOUBLE PRECISION) / 1048576",
        Float,
    ),
    col("dataset", "total_size", Int),
    col("dataset", "checksum", Text),
    col("dataset", "description", Text),
    col("dataset", "execution_id", Int),
    col("dataset", "is_overwritable", Bool),
    col("dataset", "status", Int),
    col("dataset", "delete_date", Date),
    col("dataset", "delete_uid", Text),
    col("dataset", "location_type", Text),
    col("dataset", "url", Text),
    col("dataset", "contact_email", Text),
    col("dataset", "replace_id", Int),
    col("dataset", "replace_iteration", Int),
    col("dataset", "register_root_dir", Text),
    col("dataset", "fetch_date", Date),
    col("dataset", "move_date", Date),
    col("dataset", "restore_date", Date),
    col("dataset", "archive_id", Int),
    col("execution", "execution_id", Int),
    col("execution", "name", Text),
    col("execution", "description", Text),
    renamed("execution", "register_date", "started_at", Date),
    renamed("execution", "execution_start", "started_at", Date),
    col("execution", "site", Text),
    col("execution", "configuration", Text),
    renamed("execution", "creator_uid", "registered_by", Text),
    renamed("dataset_alias", "dataset_alias_id", "alias_id", Int),
    col("dataset_alias", "alias", Text),
    col("dataset_alias", "dataset_id", Int),
    col("dataset_alias", "ref_alias_id", Int),
    col("dataset_alias", "supersede_date", Date),
    col("dataset_alias", "creator_uid", Text),
    col("dataset_alias", "register_date", Date),
    col("dataset_alias", "access_api", Text),
    col("dataset_alias", "access_api_configuration", Text),
    col("keyword", "keyword_id", Int),
    col("keyword", "keyword", Text),
    col("keyword", "system", Bool),
    col("keyword", "active", Bool),
    col("keyword", "creator_uid", Text),
    col("keyword", "creation_date", Date),
    col("dependency", "execution_id", Int),
    col("dependency", "input_id", Int),
    col("dependency", "register_date", Date),
];

/// The tables a query may name.
pub const TABLES: [&str; 5] = [
    "dataset",
    "execution",
    "dataset_alias",
    "keyword",
    "dependency",
];

/// The columns `~=` may match with wildcards (DESC's `ILIKE_ALLOWED`, less the tables
/// valet does not have).
const PATTERN_COLUMNS: [&str; 8] = [
    "dataset.name",
    "dataset.owner",
    "dataset.relative_path",
    "dataset.access_api",
    "dataset.description",
    "keyword.keyword",
    "execution.name",
    "execution.description",
];

/// Columns valet keeps beyond DESC's, left out of "every dataset column".
const VALET_ONLY: [&str; 2] = ["total_size", "checksum"];

/// Column `name` of `table`.
pub fn column(table: &str, name: &str) -> Option<Column> {
    CATALOGUE
        .iter()
        .find(|c| c.table == table && c.name == name)
        .copied()
}

/// Resolve `table.column`, or a bare column name that only one table has.
pub fn resolve(spec: &str) -> Result<Column> {
    if let Some((t, c)) = spec.split_once('.') {
        if !TABLES.contains(&t) {
            return Err(RegistryError::Invalid(format!(
                "Column {spec:?} does not exist: table {t:?} is none of {}",
                TABLES.join(", ")
            )));
        }
        return column(t, c).ok_or_else(|| {
            RegistryError::Invalid(format!("Column {spec} does not exist in table {t}"))
        });
    }
    let found: Vec<&Column> = CATALOGUE.iter().filter(|c| c.name == spec).collect();
    match found.as_slice() {
        [] => Err(RegistryError::Invalid(format!("No such column as {spec}."))),
        [one] => Ok(**one),
        many => Err(RegistryError::Invalid(format!(
            "More than one table has column {spec}: include the table name ({})",
            many.iter()
                .map(|c| format!("{}.{}", c.table, c.name))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

impl Column {
    /// `table.column`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.table, self.name)
    }

    fn sql(&self) -> String {
        let stored = self.stored.unwrap_or(self.name);
        if stored.contains(' ') {
            // An expression, written with its table's name.
            format!("({stored})")
        } else {
            format!("{}.{stored}", self.table)
        }
    }
}

/// A filter value.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    /// Text (also dates in ISO form).
    Text(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// No value: `==` is `IS NULL`, `!=` is `IS NOT NULL`.
    Null,
}

/// One filter: `column op value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// `table.column` or a bare column name.
    pub column: String,
    /// `==`, `=`, `!=`, `<`, `<=`, `>`, `>=`, `~=` (wildcard `*`, any case) or `~==`
    /// (wildcard `*`, exact case).
    pub op: String,
    /// The value.
    pub value: FilterValue,
}

impl Filter {
    /// A filter from its three parts.
    pub fn new(column: &str, op: &str, value: FilterValue) -> Filter {
        Filter {
            column: column.into(),
            op: op.into(),
            value,
        }
    }
}

/// A query's answer: qualified column names, their kinds, and rows.
#[derive(Debug, Clone, Default)]
pub struct QueryResult {
    /// The columns, `table.column`.
    pub columns: Vec<String>,
    /// What each holds.
    pub kinds: Vec<Kind>,
    /// The rows.
    pub rows: Vec<Vec<Value>>,
}

fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '*' => out.push('%'),
            c => out.push(c),
        }
    }
    out
}

fn glob_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '?' => out.push_str("[?]"),
            '[' => out.push_str("[[]"),
            c => out.push(c),
        }
    }
    out
}

fn bind_value(c: &Column, v: &FilterValue) -> Result<Value> {
    let wrong = |what: &str| {
        RegistryError::Invalid(format!(
            "filter on {}: {what} does not fit a {:?} column",
            c.qualified(),
            c.kind
        ))
    };
    Ok(match (c.kind, v) {
        (Kind::Date, FilterValue::Text(t)) => parse_date(t)?.into(),
        (Kind::Date | Kind::Int, FilterValue::Int(i)) => (*i).into(),
        (Kind::Int, FilterValue::Text(t)) => t.trim().parse::<i64>().map_err(|_| wrong(t))?.into(),
        (Kind::Float, FilterValue::Int(i)) => (*i as f64).into(),
        (Kind::Float, FilterValue::Float(x)) => (*x).into(),
        (Kind::Float, FilterValue::Text(t)) => {
            t.trim().parse::<f64>().map_err(|_| wrong(t))?.into()
        }
        (Kind::Int, FilterValue::Float(x)) => (*x).into(),
        (Kind::Bool, FilterValue::Bool(b)) => Value::Bool(*b),
        (Kind::Bool, FilterValue::Int(i)) => Value::Bool(*i != 0),
        (Kind::Bool, FilterValue::Text(t)) => match t.to_lowercase().as_str() {
            "true" | "1" | "yes" => Value::Bool(true),
            "false" | "0" | "no" => Value::Bool(false),
            _ => return Err(wrong(t)),
        },
        (Kind::Text, FilterValue::Text(t)) => t.clone().into(),
        (Kind::Text, FilterValue::Int(i)) => i.to_string().into(),
        (Kind::Text, FilterValue::Float(x)) => x.to_string().into(),
        (_, other) => return Err(wrong(&format!("{other:?}"))),
    })
}

fn condition(backend: Backend, f: &Filter) -> Result<(String, Value)> {
    let c = resolve(&f.column)?;
    let lhs = c.sql();
    if f.value == FilterValue::Null {
        return match f.op.as_str() {
            "==" | "=" => Ok((format!("{lhs} IS NULL"), Value::Null)),
            "!=" => Ok((format!("{lhs} IS NOT NULL"), Value::Null)),
            op => Err(RegistryError::Invalid(format!(
                "check_filter: Cannot apply \"{op}\" to None ({}): only == and != compare with no value",
                c.qualified()
            ))),
        };
    }
    match f.op.as_str() {
        "==" | "=" => Ok((format!("{lhs} = ?"), bind_value(&c, &f.value)?)),
        "!=" => Ok((format!("{lhs} <> ?"), bind_value(&c, &f.value)?)),
        op @ ("<" | "<=" | ">" | ">=") => {
            if !matches!(c.kind, Kind::Int | Kind::Float | Kind::Date) {
                return Err(RegistryError::Invalid(format!(
                    "check_filter: Cannot apply \"{op}\" to \"{}\": ordering needs a column that must be numeric or a date",
                    c.qualified()
                )));
            }
            Ok((format!("{lhs} {op} ?"), bind_value(&c, &f.value)?))
        }
        op @ ("~=" | "~==") => {
            if !PATTERN_COLUMNS.contains(&c.qualified().as_str()) {
                return Err(RegistryError::Invalid(format!(
                    "Can only perform {op} search on {}, not {}",
                    PATTERN_COLUMNS.join(", "),
                    c.qualified()
                )));
            }
            let FilterValue::Text(t) = &f.value else {
                return Err(RegistryError::Invalid(format!(
                    "Operator {op} needs a text pattern"
                )));
            };
            match (op, backend) {
                ("~=", _) => Ok((
                    format!("LOWER({lhs}) LIKE LOWER(?) ESCAPE '\\'"),
                    like_pattern(t).into(),
                )),
                (_, Backend::Sqlite) => Ok((format!("{lhs} GLOB ?"), glob_pattern(t).into())),
                _ => Ok((format!("{lhs} LIKE ? ESCAPE '\\'"), like_pattern(t).into())),
            }
        }
        op => Err(RegistryError::Invalid(format!(
            "check_filter: \"{op}\" is not a supported operator: use ==, !=, <, <=, >, >=, ~= or ~=="
        ))),
    }
}

/// A table a query starts from: its name as DESC says it, the stored table, and the
/// key its rows are ordered by.
struct Base {
    name: &'static str,
    stored: &'static str,
    order: &'static str,
}

const BASES: [Base; 5] = [
    Base {
        name: "dataset",
        stored: "dregs_dataset",
        order: "dataset.dataset_id",
    },
    Base {
        name: "execution",
        stored: "execution",
        order: "execution.execution_id",
    },
    Base {
        name: "dataset_alias",
        stored: "dregs_alias",
        order: "dataset_alias.alias_id",
    },
    Base {
        name: "keyword",
        stored: "dregs_keyword",
        order: "keyword.keyword_id",
    },
    Base {
        name: "dependency",
        stored: "dregs_dependency",
        order: "dependency.execution_id, dependency.input_id",
    },
];

/// The table a query over the tables `used` starts from: the one other table when
/// only it is used (DESC queries it alone), else `dataset`.
fn base(used: &[&str]) -> &'static Base {
    BASES
        .iter()
        .skip(1)
        .find(|b| !used.is_empty() && used.iter().all(|u| *u == b.name))
        .unwrap_or(&BASES[0])
}

/// The FROM clause joining the tables `used` names to `base`.
fn from_clause(base: &Base, used: &[&str]) -> String {
    if base.name != "dataset" {
        return format!("{} AS {}", base.stored, base.name);
    }
    let mut from = String::from("dregs_dataset AS dataset");
    if used.contains(&"execution") {
        from.push_str(
            " LEFT JOIN execution AS execution ON execution.execution_id = dataset.execution_id",
        );
    }
    if used.contains(&"dataset_alias") {
        from.push_str(
            " JOIN dregs_alias AS dataset_alias ON dataset_alias.dataset_id = dataset.dataset_id",
        );
    }
    if used.contains(&"keyword") {
        from.push_str(
            " JOIN dregs_dataset_keyword AS dataset_keyword ON dataset_keyword.dataset_id = dataset.dataset_id \
             JOIN dregs_keyword AS keyword ON keyword.keyword_id = dataset_keyword.keyword_id",
        );
    }
    if used.contains(&"dependency") {
        from.push_str(
            " JOIN dregs_dependency AS dependency ON dependency.input_id = dataset.dataset_id",
        );
    }
    from
}

/// The default columns: every `dataset` column DESC's registry has (valet's
/// `total_size` and `checksum` are there when named).
pub fn dataset_columns() -> Vec<String> {
    CATALOGUE
        .iter()
        .filter(|c| c.table == "dataset" && !VALET_ONLY.contains(&c.name))
        .map(Column::qualified)
        .collect()
}

/// Which datasets a query sees by their valid bit (DESC's `status` argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    /// Every row.
    #[default]
    All,
    /// Rows with the valid bit.
    Valid,
    /// Rows without it.
    Invalid,
}

/// Compile a `--where` expression (valet's query language) over these columns
/// (a bare name is a dataset column if the dataset has one): its SQL, parameters,
/// and the tables it names.
fn compile_where(text: &str, backend: Backend) -> Result<(String, Vec<Value>, Vec<&'static str>)> {
    use valet_registry::expr;
    let parsed = expr::parse(text, &Default::default())?;
    let tables = std::cell::RefCell::new(Vec::new());
    // Bare names are the dataset's columns first, as in `ls --return-cols`.
    let lookup = |name: &str| -> std::result::Result<expr::Column, String> {
        let c = match column("dataset", name) {
            Some(c) if !name.contains('.') => c,
            _ => resolve(name).map_err(|e| e.to_string())?,
        };
        tables.borrow_mut().push(c.table);
        Ok(expr::Column {
            sql: c.sql(),
            numeric: matches!(c.kind, Kind::Int | Kind::Float | Kind::Date),
            uuid: false,
        })
    };
    let mut params = Vec::new();
    let sql = expr::to_sql(&parsed, text, &lookup, &mut params, backend)?;
    Ok((sql, params, tables.into_inner()))
}

/// A query in DESC's form.
#[derive(Debug, Clone, Default)]
pub struct Find {
    /// `table.column`s (`None`: every dataset column).
    pub columns: Option<Vec<String>>,
    /// Filters, AND-ed.
    pub filters: Vec<Filter>,
    /// A `--where` expression, AND-ed with them.
    pub where_expr: Option<String>,
    /// Which datasets by their valid bit.
    pub status: StatusFilter,
    /// At most this many rows.
    pub limit: Option<usize>,
}

/// Find rows: the columns of the datasets (or other rows) the query selects,
/// ordered by the first table's key.
pub fn find(conn: &mut Conn, query: &Find) -> Result<QueryResult> {
    let specs = match &query.columns {
        Some(c) if !c.is_empty() => c.clone(),
        _ => dataset_columns(),
    };
    let (filters, where_expr, status, limit) = (
        &query.filters,
        query.where_expr.as_deref(),
        query.status,
        query.limit,
    );
    let cols = specs
        .iter()
        .map(|s| resolve(s))
        .collect::<Result<Vec<_>>>()?;
    let backend = conn.backend();
    let mut conditions = Vec::new();
    let mut params = Vec::new();
    let mut used: Vec<&str> = cols.iter().map(|c| c.table).collect();
    for f in filters {
        let (sql, v) = condition(backend, f)?;
        used.push(resolve(&f.column)?.table);
        conditions.push(sql);
        if !v.is_null() {
            params.push(v);
        }
    }
    if let Some(text) = where_expr.filter(|w| !w.trim().is_empty()) {
        let (sql, values, tables) = compile_where(text, backend)?;
        conditions.push(format!("({sql})"));
        params.extend(values);
        used.extend(tables);
    }
    used.sort_unstable();
    used.dedup();
    let base = base(&used);
    if base.name == "dataset" {
        match status {
            StatusFilter::All => {}
            StatusFilter::Valid => conditions.push("dataset.status % 2 = 1".into()),
            StatusFilter::Invalid => conditions.push("dataset.status % 2 = 0".into()),
        }
    }
    let result = QueryResult {
        columns: cols.iter().map(Column::qualified).collect(),
        kinds: cols.iter().map(|c| c.kind).collect(),
        rows: Vec::new(),
    };
    if !has_tables(conn)? {
        return Ok(result);
    }
    let from = from_clause(base, &used);
    let order = base.order;
    let mut sql = format!(
        "SELECT {} FROM {from}",
        cols.iter().map(Column::sql).collect::<Vec<_>>().join(", ")
    );
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(&format!(" ORDER BY {order}"));
    if let Some(n) = limit {
        sql.push_str(&format!(" LIMIT {n}"));
    }
    let mut rows = conn.query(&sql, &params)?;
    // SQLite has no boolean type: give booleans back as booleans.
    for row in &mut rows {
        for (v, c) in row.iter_mut().zip(&cols) {
            if c.kind == Kind::Bool {
                if let Some(i) = v.as_i64() {
                    *v = Value::Bool(i != 0);
                }
            }
        }
    }
    Ok(QueryResult { rows, ..result })
}

/// What `ls` lists.
#[derive(Debug, Clone, Default)]
pub struct LsOptions {
    /// Only this owner (`None`: everyone).
    pub owner: Option<String>,
    /// Only this owner type.
    pub owner_type: Option<String>,
    /// Names matching this pattern (`*` wildcard, any case).
    pub name: Option<String>,
    /// Only datasets tagged with this keyword.
    pub keyword: Option<String>,
    /// `working`, `production` or `both` (default both).
    pub area: Option<String>,
    /// Extra filters.
    pub filters: Vec<Filter>,
    /// A `--where` expression.
    pub where_expr: Option<String>,
    /// Columns (`None`: the default listing).
    pub columns: Option<Vec<String>>,
    /// At most this many rows.
    pub limit: Option<usize>,
}

impl QueryResult {
    /// Row `i` as JSON values: dates as ISO 8601 UTC text, booleans as booleans.
    pub fn json_row(&self, i: usize) -> Vec<serde_json::Value> {
        self.rows[i]
            .iter()
            .zip(&self.kinds)
            .map(|(v, k)| json_value(*k, v))
            .collect()
    }
}

/// A stored value as JSON, as the column's kind shows it.
pub fn json_value(kind: Kind, v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match (kind, v) {
        (_, Value::Null) => J::Null,
        (Kind::Date, Value::Int(ns)) => J::String(valet_registry::timespan::format_utc_iso(*ns)),
        (Kind::Bool, v) => J::Bool(v.as_i64().is_some_and(|i| i != 0)),
        (_, Value::Int(i)) => J::from(*i),
        (_, Value::Float(x)) => J::from(*x),
        (_, Value::Text(t)) => J::String(t.clone()),
        (_, other) => J::String(other.to_string()),
    }
}

/// The columns `ls` shows by default.
pub const LS_COLUMNS: [&str; 9] = [
    "dataset.dataset_id",
    "dataset.name",
    "dataset.version_string",
    "dataset.owner",
    "dataset.owner_type",
    "dataset.relative_path",
    "dataset.status",
    "dataset.nfiles",
    "dataset.description",
];

/// List datasets of the working area and the production area together (as DESC's
/// `dregs ls`), narrowed by owner, owner type, name pattern and keyword.
pub fn ls(conn: &mut Conn, options: &LsOptions) -> Result<QueryResult> {
    let mut filters = options.filters.clone();
    let text = |s: &String| FilterValue::Text(s.clone());
    if let Some(o) = &options.owner {
        filters.push(Filter::new("dataset.owner", "==", text(o)));
    }
    if let Some(t) = &options.owner_type {
        crate::model::check_owner_type(t)?;
        filters.push(Filter::new("dataset.owner_type", "==", text(t)));
    }
    if let Some(n) = &options.name {
        filters.push(Filter::new("dataset.name", "~=", text(n)));
    }
    if let Some(k) = &options.keyword {
        filters.push(Filter::new(
            "keyword.keyword",
            "==",
            FilterValue::Text(k.to_lowercase()),
        ));
    }
    match options.area.as_deref() {
        None | Some("both") => {}
        Some("working") => filters.push(Filter::new(
            "dataset.owner_type",
            "!=",
            FilterValue::Text("production".into()),
        )),
        Some("production") => filters.push(Filter::new(
            "dataset.owner_type",
            "==",
            FilterValue::Text("production".into()),
        )),
        Some(other) => {
            return Err(RegistryError::Invalid(format!(
                "unknown area {other:?}: use working, production or both"
            )))
        }
    }
    let mut columns: Vec<String> = match &options.columns {
        Some(c) if !c.is_empty() => c
            .iter()
            .map(|c| {
                if c.contains('.') {
                    c.clone()
                } else {
                    format!("dataset.{c}")
                }
            })
            .collect(),
        _ => LS_COLUMNS.iter().map(|s| (*s).to_owned()).collect(),
    };
    if options.keyword.is_some() && !columns.iter().any(|c| c == "keyword.keyword") {
        columns.push("keyword.keyword".into());
    }
    find(
        conn,
        &Find {
            columns: Some(columns),
            filters,
            where_expr: options.where_expr.clone(),
            status: StatusFilter::All,
            limit: options.limit,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_resolve() {
        assert_eq!(resolve("owner").unwrap().qualified(), "dataset.owner");
        assert!(resolve("name").is_err(), "name is in dataset and execution");
        assert!(resolve("dataset.nope").is_err());
        assert_eq!(like_pattern("a_b*%"), "a\\_b%\\%");
        assert_eq!(
            from_clause(base(&["execution"]), &["execution"]),
            "execution AS execution",
            "a single other table is queried alone"
        );
    }
}
