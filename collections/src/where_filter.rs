//! `--where` over rows that carry data IDs (a dataset type's tags table, a query's
//! data IDs): each name in the expression becomes the SQL column holding it, joining
//! dimension tables as needed.
//!
//! A name may be one of the rows' dimensions, a dimension they imply (`band` through
//! `physical_filter`), a dimension related to theirs through a join table (`exposure`
//! for visit-based rows, through `visit_definition`), a record field qualified by its
//! element (`visit.exposure_time`), or a record field alone where exactly one of the
//! rows' elements has it (`exposure_time`), as the reference resolves identifiers.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use valet_config::{Element, Universe};
use valet_registry::db::{quote_ident as q, Value};
use valet_registry::dimensions::field_column;
use valet_registry::expr::{self, Column, Literal};
use valet_registry::schema::{
    column_is_numeric, dimension_is_numeric, dimension_reference, element_columns,
};
use valet_registry::{DatasetType, Result};

/// A compiled `--where` over a dataset table aliased `alias`: extra joins, the
/// condition and its parameters.
#[derive(Debug, Default)]
pub struct DatasetFilter {
    /// `JOIN …` clauses (with a leading space).
    pub joins: String,
    /// The condition (empty: no filter).
    pub condition: String,
    /// Its parameters.
    pub params: Vec<Value>,
    /// A join may match a row more than once (a visit of several exposures joined
    /// through `visit_definition`): the caller must keep each row once.
    pub repeats_rows: bool,
}

/// Rows a `--where` filters: their alias, whose columns named by dimensions hold the
/// required dimensions of `dimensions`, and whether they are datasets (which have an
/// id and an `ingest_date`).
#[derive(Debug, Clone, Copy)]
pub struct FilteredRows<'a> {
    /// The dimensions of the rows.
    pub dimensions: &'a valet_config::DimensionGroup,
    /// What they are, for messages (`dataset type calexp`).
    pub what: &'a str,
    /// The SQL alias of the rows.
    pub alias: &'a str,
    /// For rows of datasets (`dataset_id` column), their dataset type: `dataset_id`
    /// (or `TYPE.dataset_id`) and `ingest_date` can then be used.
    pub dataset_type: Option<&'a str>,
}

/// Compile `--where` for datasets of type `t` (see the module documentation).
pub fn dataset_filter(
    universe: &Universe,
    t: &DatasetType,
    alias: &str,
    text: &str,
    bind: &BTreeMap<String, Literal>,
    backend: valet_registry::Backend,
) -> Result<DatasetFilter> {
    let rows = FilteredRows {
        dimensions: &t.dimensions,
        what: &format!("dataset type {}", t.name),
        alias,
        dataset_type: Some(&t.name),
    };
    data_id_filter(universe, &rows, text, bind, backend)
}

/// Compile `--where` over `rows` (see the module documentation).
pub fn data_id_filter(
    universe: &Universe,
    rows: &FilteredRows<'_>,
    text: &str,
    bind: &BTreeMap<String, Literal>,
    backend: valet_registry::Backend,
) -> Result<DatasetFilter> {
    if text.trim().is_empty() {
        return Ok(DatasetFilter::default());
    }
    let parsed = expr::parse(text, bind)?;
    let joins = Joins {
        universe,
        rows,
        made: RefCell::default(),
        repeats_rows: Cell::new(false),
    };
    let resolve = |name: &str| joins.resolve(name);
    let mut params = Vec::new();
    let condition = expr::to_sql(&parsed, text, &resolve, &mut params, backend)?;
    let repeats_rows = joins.repeats_rows.get();
    let joins = joins
        .made
        .into_inner()
        .into_iter()
        .map(|(_, j)| j)
        .collect();
    Ok(DatasetFilter {
        joins,
        condition,
        params,
        repeats_rows,
    })
}

/// The joins a filter needs, each made once, and how names resolve through them.
struct Joins<'a> {
    universe: &'a Universe,
    rows: &'a FilteredRows<'a>,
    /// `(alias, JOIN clause)` in the order made: a join only refers to earlier ones.
    made: RefCell<Vec<(String, String)>>,
    repeats_rows: Cell<bool>,
}

/// A name's meaning, or why it has none (one line, for the parse error).
type Resolved<T> = std::result::Result<T, String>;

impl Joins<'_> {
    fn has(&self, alias: &str) -> bool {
        self.made.borrow().iter().any(|(a, _)| a == alias)
    }

    fn push(&self, alias: &str, clause: String) {
        self.made.borrow_mut().push((alias.to_owned(), clause));
    }

    fn is_required(&self, dim: &str) -> bool {
        self.rows.dimensions.required.iter().any(|d| d == dim)
    }

    /// The rows' dimension (required or implied) whose record names `dim` directly.
    fn implying(&self, dim: &str) -> Option<&str> {
        self.rows.dimensions.names().find(|d| {
            self.universe
                .element(d)
                .is_some_and(|e| e.implies.iter().any(|i| i == dim))
        })
    }

    /// A join table relating dimension `dim` to the rows' required dimensions: an
    /// element holding nothing but dimensions (no key of its own, no fields, no
    /// region or timespan) whose other required dimensions the rows all have
    /// (`visit_definition` for `exposure` on visit-based rows, and for `visit` on
    /// exposure-based ones).
    fn link_to(&self, dim: &str) -> Option<&Element> {
        self.universe.table_elements().find(|e| {
            !e.is_dimension()
                && e.metadata.is_empty()
                && !e.spatial
                && !e.temporal
                && self.universe.required_of(&e.name).is_ok_and(|req| {
                    req.iter().any(|d| d == dim)
                        && req.iter().all(|d| d == dim || self.is_required(d))
                })
        })
    }

    /// The SQL holding dimension `dim`'s value for a row.
    fn column_of(&self, dim: &str) -> Resolved<String> {
        let alias = self.rows.alias;
        if self.is_required(dim) {
            return Ok(format!("{alias}.{}", q(dim)));
        }
        if let Some(holder) = self.implying(dim) {
            let a = self.join_dimension(holder)?;
            return Ok(format!("{a}.{}", q(dim)));
        }
        if let Some(link) = self.link_to(dim) {
            let a = format!("j_{}", link.name);
            if !self.has(&a) {
                let req = self
                    .universe
                    .required_of(&link.name)
                    .map_err(|e| e.to_string())?;
                let on: Vec<String> = req
                    .iter()
                    .filter(|d| *d != dim)
                    .map(|d| format!("{a}.{} = {alias}.{}", q(d), q(d)))
                    .collect();
                self.push(
                    &a,
                    format!(" JOIN {} {a} ON {}", q(&link.name), on.join(" AND ")),
                );
                // One row of the rows may relate to several values (a visit of two
                // exposures).
                self.repeats_rows.set(true);
            }
            return Ok(format!("{a}.{}", q(dim)));
        }
        Err(format!(
            "unknown name '{dim}' for {} (dimensions: {})",
            self.rows.what,
            self.rows.dimensions.names().collect::<Vec<_>>().join(", ")
        ))
    }

    /// Join the table of dimension `dim` (one the rows have or reach), once,
    /// returning its alias.
    fn join_dimension(&self, dim: &str) -> Resolved<String> {
        let e = self.universe.get(dim).map_err(|e| e.to_string())?;
        if !e.has_table() {
            return Err(format!("{dim} has no records to filter on"));
        }
        let a = format!("j_{dim}");
        if self.has(&a) {
            return Ok(a);
        }
        let (source, target) =
            dimension_reference(self.universe, dim).map_err(|e| e.to_string())?;
        let mut on = Vec::new();
        for (s, t) in source.iter().zip(&target) {
            on.push(format!("{a}.{} = {}", q(t), self.column_of(s)?));
        }
        self.push(&a, format!(" JOIN {} {a} ON {}", q(dim), on.join(" AND ")));
        Ok(a)
    }

    /// The fields of an element's records a name may mean: its keys but the primary
    /// one, its metadata, `timespan` and `region`.
    fn fields(e: &Element) -> impl Iterator<Item = &str> {
        e.keys
            .iter()
            .skip(1)
            .chain(&e.metadata)
            .map(|c| c.name.as_str())
            .chain(e.temporal.then_some("timespan"))
            .chain(e.spatial.then_some("region"))
    }

    /// `name` qualified by its element when it is a record field alone
    /// (`exposure_time` → `visit.exposure_time`); unchanged otherwise.
    fn qualified(&self, name: &str) -> Resolved<String> {
        let head = name.split('.').next().unwrap_or(name);
        if self.universe.element(head).is_some() {
            return Ok(name.to_owned());
        }
        let owners: Vec<&str> = self
            .rows
            .dimensions
            .names()
            .filter(|d| {
                self.universe
                    .element(d)
                    .is_some_and(|e| e.has_table() && Self::fields(e).any(|f| f == head))
            })
            .collect();
        match &owners[..] {
            [] => Ok(name.to_owned()),
            [one] => Ok(format!("{one}.{name}")),
            many => Err(format!(
                "ambiguous identifier '{head}' matches several fields: {}",
                many.iter()
                    .map(|e| format!("'{e}.{head}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// The column a name in the expression means.
    fn resolve(&self, name: &str) -> Resolved<Column> {
        let (alias, universe) = (self.rows.alias, self.universe);
        // A dataset's id: `dataset_id`, or `calexp.dataset_id` for datasets of calexp.
        let own_id = |t: &str| {
            name == "dataset_id"
                || name
                    .split_once('.')
                    .is_some_and(|(prefix, f)| f == "dataset_id" && prefix == t)
        };
        if self.rows.dataset_type.is_some_and(own_id) {
            return Ok(Column {
                sql: format!("{alias}.dataset_id"),
                numeric: false,
                uuid: true,
            });
        }
        if name == "ingest_date" && self.rows.dataset_type.is_some() {
            let a = "j_dataset";
            if !self.has(a) {
                self.push(
                    a,
                    format!(" JOIN dataset {a} ON {a}.id = {alias}.dataset_id"),
                );
            }
            return Ok(Column {
                sql: format!("{a}.ingest_date"),
                numeric: true,
                uuid: false,
            });
        }
        let name = self.qualified(name)?;
        if let Some((element, field)) = name.split_once('.') {
            let e = universe.element(element).filter(|e| {
                self.rows.dimensions.names().any(|d| d == element)
                    || (e.is_dimension() && self.link_to(element).is_some())
            });
            let Some(e) = e else {
                return Err(format!(
                    "'{name}': {element} is not a dimension of {} or related to them",
                    self.rows.what
                ));
            };
            let cols = element_columns(universe, e).map_err(|e| e.to_string())?;
            let column = field_column(e, field);
            if !cols.contains(&column) {
                return Err(format!("unknown field '{name}'"));
            }
            let a = self.join_dimension(element)?;
            return Ok(Column {
                sql: format!("{a}.{}", q(&column)),
                numeric: column_is_numeric(universe, e, &column),
                uuid: false,
            });
        }
        Ok(Column {
            sql: self.column_of(&name)?,
            numeric: dimension_is_numeric(universe, &name),
            uuid: false,
        })
    }
}
