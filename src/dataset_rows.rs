//! The datasets a listing (`query-datasets`, `query-data-ids`) finds, held compactly.
//!
//! A listing of a survey's datasets runs to millions of rows, so a row keeps its id and
//! small numbers only: its dataset type, RUN and collection are names held once, and
//! each of its dimension values (required, then implied) the index of a distinct value
//! held once. Sorting compares ranks worked out once per distinct value, never the
//! values themselves.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use foldhash::HashMap;
use uuid::Uuid;
use valet_collections::{Found, FoundRow};
use valet_registry::expand::RecordCache;
use valet_registry::{DataId, DatasetRef, RegistryError, Value};

use crate::queries::compare_values;

/// The cell of a NULL value (a missing dimension record).
const NULL: u32 = u32::MAX;

/// One dataset, as the listing keeps it.
#[derive(Debug, Clone)]
struct Packed {
    id: Uuid,
    type_index: u32,
    run: u32,
    collection: u32,
    /// Where its cells start in [`DatasetRows::cells`]; its type's columns say how many.
    first_cell: usize,
    uri: Option<Box<str>>,
}

/// Distinct values, each held once and named by its position.
#[derive(Debug, Clone, Default)]
struct Values {
    values: Vec<Value>,
    ints: HashMap<i64, u32>,
    texts: HashMap<String, u32>,
    /// Other kinds (rare in data IDs), by their debug text.
    others: HashMap<String, u32>,
}

impl Values {
    /// The cell of a value: its index among the distinct values, added if new.
    fn cell(&mut self, v: &Value) -> u32 {
        let next = self.values.len() as u32;
        let index = match v {
            Value::Null => return NULL,
            Value::Int(i) => *self.ints.entry(*i).or_insert(next),
            Value::Text(t) => match self.texts.get(t.as_str()) {
                Some(&i) => i,
                None => *self.texts.entry(t.clone()).or_insert(next),
            },
            other => *self.others.entry(format!("{other:?}")).or_insert(next),
        };
        if index == next {
            self.values.push(v.clone());
        }
        index
    }

    fn get(&self, cell: u32) -> Option<&Value> {
        self.values.get(cell as usize)
    }

    /// Each distinct value's rank in the order the reference sorts values by.
    fn ranks(&self) -> Vec<u32> {
        ranks(self.values.len(), |a, b| {
            compare_values(&self.values[a], &self.values[b])
        })
    }
}

/// The rank of each of `n` items in the order `cmp` gives; equal items share a rank,
/// so that a later sort key decides between them.
fn ranks(n: usize, cmp: impl Fn(usize, usize) -> Ordering) -> Vec<u32> {
    let mut sorted: Vec<usize> = (0..n).collect();
    sorted.sort_by(|&a, &b| cmp(a, b));
    let mut ranks = vec![0; n];
    let mut rank = 0;
    for (k, &i) in sorted.iter().enumerate() {
        if k > 0 && cmp(sorted[k - 1], i) != Ordering::Equal {
            rank += 1;
        }
        ranks[i] = rank;
    }
    ranks
}

/// Names (dataset types, RUNs, collections), each held once.
#[derive(Debug, Clone, Default)]
struct Names {
    names: Vec<String>,
    index: HashMap<String, u32>,
    /// Indexes by where the name handed over lives: a search hands over the same
    /// few names again and again, and an address hashes faster than the text.
    /// Checked against the name, so a reused address is harmless.
    by_address: HashMap<usize, u32>,
    /// The last name's address and index: runs of rows repeat a name.
    last: Option<(usize, u32)>,
}

impl Names {
    fn index(&mut self, name: &str) -> u32 {
        let address = name.as_ptr() as usize;
        if let Some((a, i)) = self.last {
            if a == address && self.names[i as usize] == name {
                return i;
            }
        }
        let i = self.index_by_address(address, name);
        self.last = Some((address, i));
        i
    }

    fn index_by_address(&mut self, address: usize, name: &str) -> u32 {
        if let Some(&i) = self.by_address.get(&address) {
            if self.names[i as usize] == name {
                return i;
            }
        }
        let i = match self.index.get(name) {
            Some(&i) => i,
            None => {
                let i = self.names.len() as u32;
                self.names.push(name.to_owned());
                self.index.insert(name.to_owned(), i);
                i
            }
        };
        self.by_address.insert(address, i);
        i
    }

    fn get(&self, i: u32) -> &str {
        self.names.get(i as usize).map_or("", String::as_str)
    }

    /// Each name's rank in sorted order.
    fn ranks(&self) -> Vec<u32> {
        ranks(self.names.len(), |a, b| self.names[a].cmp(&self.names[b]))
    }
}

/// The datasets a query found and the dimensions their data IDs use.
#[derive(Debug, Clone, Default)]
pub struct DatasetRows {
    /// Every dimension of the data IDs found, the columns of a table of them all:
    /// required ones in universe order, then implied ones by name.
    pub dimensions: Vec<String>,
    /// Each dataset type's own columns: its required, then its implied dimensions
    /// (by name, as the reference lists them).
    pub type_dimensions: BTreeMap<String, Vec<String>>,
    /// More datasets matched than the limit let through.
    pub limited: bool,
    /// Dataset types named that do not exist (reported, not an error, as in the
    /// reference).
    pub missing_types: Vec<String>,
    /// The dataset types searched, by index.
    types: Vec<TypeEntry>,
    runs: Names,
    collections: Names,
    values: Values,
    cells: Vec<u32>,
    rows: Vec<Packed>,
    /// The rows in order, by index: sorting and cutting change this, not the rows.
    order: Vec<u32>,
}

/// A dataset type of a listing: its name and columns, the required dimensions first.
#[derive(Debug, Clone)]
struct TypeEntry {
    name: String,
    columns: Vec<String>,
    required: usize,
}

/// One dataset a query found, borrowed from its [`DatasetRows`].
#[derive(Debug, Clone, Copy)]
pub struct DatasetRow<'a> {
    rows: &'a DatasetRows,
    row: &'a Packed,
}

impl<'a> DatasetRow<'a> {
    /// The dataset's id.
    pub fn id(&self) -> Uuid {
        self.row.id
    }

    /// Its dataset type's name.
    pub fn dataset_type(&self) -> &'a str {
        self.entry().map_or("", |t| &t.name)
    }

    fn entry(&self) -> Option<&'a TypeEntry> {
        self.rows.types.get(self.row.type_index as usize)
    }

    /// Its RUN.
    pub fn run(&self) -> &'a str {
        self.rows.runs.get(self.row.run)
    }

    /// The collection it was found through.
    pub fn collection(&self) -> &'a str {
        self.rows.collections.get(self.row.collection)
    }

    /// Its type's columns: the required, then the implied dimensions.
    pub fn columns(&self) -> &'a [String] {
        self.entry().map_or(&[], |t| &t.columns)
    }

    /// The value of its type's `i`th column; `None` where it is NULL (a missing
    /// record).
    pub fn value_at(&self, i: usize) -> Option<&'a Value> {
        self.rows.values.get(self.cell_at(i))
    }

    /// The cell of its type's `i`th column (NULL past its columns): equal values have
    /// equal cells.
    pub(crate) fn cell_at(&self, i: usize) -> u32 {
        if i >= self.columns().len() {
            return NULL;
        }
        self.rows
            .cells
            .get(self.row.first_cell + i)
            .copied()
            .unwrap_or(NULL)
    }

    /// The value of a dimension of its data ID, required or implied.
    pub fn value(&self, dimension: &str) -> Option<&'a Value> {
        let i = self.columns().iter().position(|c| c == dimension)?;
        self.value_at(i)
    }

    /// The `file://` URI of its file (when the query asked for URIs and it has one).
    pub fn uri(&self) -> Option<&'a str> {
        self.row.uri.as_deref()
    }

    /// Its data ID: the required dimensions' values.
    pub fn data_id(&self) -> DataId {
        let required = self.entry().map_or(0, |t| t.required);
        self.columns()[..required]
            .iter()
            .enumerate()
            .map(|(i, d)| (d.clone(), self.value_at(i).cloned().unwrap_or(Value::Null)))
            .collect()
    }

    /// The dataset as a reference.
    pub fn to_ref(&self) -> DatasetRef {
        DatasetRef {
            id: self.id(),
            dataset_type: self.dataset_type().to_owned(),
            run: self.run().to_owned(),
            data_id: self.data_id(),
        }
    }

    /// The dataset with the collection it was found through.
    pub fn to_found(&self) -> Found {
        Found {
            dataset: self.to_ref(),
            collection: self.collection().to_owned(),
        }
    }
}

impl DatasetRows {
    /// How many datasets.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether none were found.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The datasets, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = DatasetRow<'_>> + '_ {
        self.order.iter().map(move |&i| DatasetRow {
            rows: self,
            row: &self.rows[i as usize],
        })
    }

    /// The `i`th dataset.
    pub fn row(&self, i: usize) -> Option<DatasetRow<'_>> {
        let row = self.rows.get(*self.order.get(i)? as usize)?;
        Some(DatasetRow { rows: self, row })
    }

    /// The datasets as references, in order.
    pub fn refs(&self) -> Vec<DatasetRef> {
        self.iter().map(|r| r.to_ref()).collect()
    }

    /// Sort by dataset type, then by `keys` (column names; `desc` reverses) or, for
    /// a type without `keys`, by its `default_keys`; NULLs last; found order breaks
    /// ties.
    pub(crate) fn sort(
        &mut self,
        keys: &[(String, bool)],
        default_keys: &BTreeMap<String, Vec<String>>,
    ) {
        let value_ranks = self.values.ranks();
        let run_ranks = self.runs.ranks();
        // Each type's sort columns, resolved to where its rows keep them.
        let specs: Vec<Vec<(SortColumn, bool)>> = self
            .types
            .iter()
            .map(|t| {
                let wanted: Vec<(String, bool)> = if keys.is_empty() {
                    default_keys
                        .get(&t.name)
                        .into_iter()
                        .flatten()
                        .map(|c| (c.clone(), false))
                        .collect()
                } else {
                    keys.to_vec()
                };
                wanted
                    .into_iter()
                    .map(|(c, desc)| (SortColumn::of(&c, &t.columns), desc))
                    .collect()
            })
            .collect();
        let uri_ranks = self.ranks_if(&specs, SortColumn::Uri, |a, b| {
            match (a.uri.as_ref(), b.uri.as_ref()) {
                // Rows without a URI sort last.
                (Some(x), Some(y)) => x.cmp(y),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            }
        });
        let id_ranks = self.ranks_if(&specs, SortColumn::Id, |a, b| a.id.cmp(&b.id));
        // Every row's keys (0: its type), ascending, NULL as u32::MAX, laid end to end.
        let width = specs.iter().map(Vec::len).max().unwrap_or(0) + 1;
        let mut flat: Vec<u32> = Vec::with_capacity(self.rows.len() * width);
        for (n, r) in self.rows.iter().enumerate() {
            let spec = &specs[r.type_index as usize];
            flat.push(r.type_index);
            flat.extend((0..width - 1).map(|p| match spec.get(p) {
                Some((SortColumn::Run, _)) => run_ranks[r.run as usize],
                Some((SortColumn::Uri, _)) => uri_ranks[n],
                Some((SortColumn::Id, _)) => id_ranks[n],
                Some((SortColumn::Cell(i), _)) => match self.cells[r.first_cell + i] {
                    NULL => u32::MAX,
                    cell => value_ranks[cell as usize],
                },
                _ => 0,
            }));
        }
        // Each position's largest key: NULL becomes one past it, and a descending key
        // counts down from there (NULLs first, as a reversed order puts them).
        let mut null = vec![1u32; width];
        for keys in flat.chunks_exact(width) {
            for (m, &k) in null.iter_mut().zip(keys) {
                if k != u32::MAX {
                    *m = (*m).max(k.saturating_add(1));
                }
            }
        }
        for (keys, r) in flat.chunks_exact_mut(width).zip(&self.rows) {
            let spec = &specs[r.type_index as usize];
            for (p, k) in keys.iter_mut().enumerate() {
                if *k == u32::MAX {
                    *k = null[p];
                }
                if p > 0 && spec.get(p - 1).is_some_and(|(_, desc)| *desc) {
                    *k = null[p] - *k;
                }
            }
        }
        let bits: Vec<u32> = null.iter().map(|m| 32 - m.leading_zeros()).collect();
        self.order = if bits.iter().sum::<u32>() <= 96 {
            // The keys and the row number fit one 128-bit number: sort those.
            let mut packed: Vec<u128> = flat
                .chunks_exact(width)
                .enumerate()
                .map(|(n, keys)| {
                    let keys = keys
                        .iter()
                        .zip(&bits)
                        .fold(0u128, |acc, (&k, &b)| (acc << b) | u128::from(k));
                    (keys << 32) | n as u128
                })
                .collect();
            packed.sort_unstable();
            packed.into_iter().map(|p| p as u32).collect()
        } else {
            let mut order: Vec<u32> = (0..self.rows.len() as u32).collect();
            order.sort_unstable_by(|&a, &b| {
                let (a, b) = (a as usize, b as usize);
                flat[a * width..(a + 1) * width]
                    .cmp(&flat[b * width..(b + 1) * width])
                    .then(a.cmp(&b))
            });
            order
        };
    }

    /// Each row's rank by `order`, when a sort uses `column` (empty otherwise).
    fn ranks_if(
        &self,
        specs: &[Vec<(SortColumn, bool)>],
        column: SortColumn,
        order: impl Fn(&Packed, &Packed) -> Ordering,
    ) -> Vec<u32> {
        let wanted = std::mem::discriminant(&column);
        if !specs
            .iter()
            .flatten()
            .any(|(c, _)| std::mem::discriminant(c) == wanted)
        {
            return Vec::new();
        }
        ranks(self.rows.len(), |a, b| order(&self.rows[a], &self.rows[b]))
    }

    /// Keep the first `limit` rows; true if that left any out.
    pub(crate) fn truncate(&mut self, limit: usize) -> bool {
        let cut = self.order.len() > limit;
        self.order.truncate(limit);
        cut
    }

    /// Attach each row's URI, in order.
    pub(crate) fn set_uris(&mut self, uris: Vec<Option<String>>) {
        for (&i, uri) in self.order.iter().zip(uris) {
            if let Some(row) = self.rows.get_mut(i as usize) {
                row.uri = uri.map(String::into_boxed_str);
            }
        }
    }

    /// The dataset types that have rows, by index.
    pub(crate) fn present_types(&self) -> Vec<&str> {
        let mut seen = vec![false; self.types.len()];
        for r in self.iter() {
            seen[r.row.type_index as usize] = true;
        }
        self.types
            .iter()
            .zip(seen)
            .filter(|(_, s)| *s)
            .map(|(t, _)| t.name.as_str())
            .collect()
    }
}

/// Where a row keeps a column it is sorted by.
#[derive(Debug, Clone, Copy)]
enum SortColumn {
    Type,
    Run,
    Id,
    Uri,
    Cell(usize),
    Missing,
}

impl SortColumn {
    /// The column `name` of rows whose type has these `columns`.
    fn of(name: &str, columns: &[String]) -> SortColumn {
        match name {
            "type" => SortColumn::Type,
            "run" => SortColumn::Run,
            "id" => SortColumn::Id,
            "uri" => SortColumn::Uri,
            dim => columns
                .iter()
                .position(|c| c == dim)
                .map_or(SortColumn::Missing, SortColumn::Cell),
        }
    }
}

/// A dataset type as the collector fills its rows.
struct TypePlan {
    /// How many required dimensions a found row carries.
    required: usize,
    /// Its implied dimensions, whose values the collector adds.
    implied: Vec<String>,
    /// The positions among the required dimensions of those that imply something
    /// (a visit, not its detector): implied values depend on these only.
    implying: Vec<usize>,
}

/// Builds [`DatasetRows`] from a search's rows as they stream.
pub(crate) struct Collector {
    rows: DatasetRows,
    plans: Vec<TypePlan>,
    records: Option<RecordCache>,
    /// Implied cells by (type, cells of the implying dimensions).
    implied: HashMap<Vec<u32>, Box<[u32]>>,
    key: Vec<u32>,
    /// The previous row's cell in each required column.
    last_cells: Vec<u32>,
}

/// What the collector needs of each dataset type: its name, required and implied
/// dimensions, and which required ones imply something.
pub(crate) struct TypeColumns {
    /// The dataset type.
    pub name: String,
    /// Its required dimensions, in the order found rows carry them.
    pub required: Vec<String>,
    /// Its implied dimensions, by name.
    pub implied: Vec<String>,
    /// Positions in `required` of the dimensions the implied ones follow from.
    pub implying: Vec<usize>,
}

impl Collector {
    /// A collector for these types (by index, in the order given); `records` holds
    /// the dimension records implied values are read from (needed when any type has
    /// implied dimensions).
    pub(crate) fn new(types: Vec<TypeColumns>, records: Option<RecordCache>) -> Collector {
        let mut rows = DatasetRows::default();
        let mut plans = Vec::new();
        for t in types {
            let columns: Vec<String> = t.required.iter().chain(&t.implied).cloned().collect();
            rows.type_dimensions.insert(t.name.clone(), columns.clone());
            rows.types.push(TypeEntry {
                name: t.name,
                columns,
                required: t.required.len(),
            });
            plans.push(TypePlan {
                required: t.required.len(),
                implied: t.implied,
                implying: t.implying,
            });
        }
        Collector {
            rows,
            plans,
            records,
            implied: HashMap::default(),
            key: Vec::new(),
            last_cells: Vec::new(),
        }
    }

    /// How many rows so far.
    pub(crate) fn len(&self) -> usize {
        self.rows.rows.len()
    }

    /// Add a found dataset of the type at `type_index`.
    pub(crate) fn push(
        &mut self,
        type_index: usize,
        f: &FoundRow<'_>,
    ) -> Result<(), RegistryError> {
        let plan = self.plans.get(type_index).ok_or_else(|| {
            RegistryError::Invalid(format!("dataset type {} was not searched", f.dataset_type))
        })?;
        let first_cell = self.rows.cells.len();
        self.last_cells.resize(plan.required, NULL);
        for i in 0..plan.required {
            // Consecutive rows often repeat a column's value (the instrument, the
            // detector of a scan in data-ID order): compared before any hashing.
            let cell = match f.values.get(i) {
                None => NULL,
                Some(v) => match self.last_cells[i] {
                    last if last != NULL && self.rows.values.get(last) == Some(v) => last,
                    _ => self.rows.values.cell(v),
                },
            };
            self.last_cells[i] = cell;
            self.rows.cells.push(cell);
        }
        if !plan.implied.is_empty() {
            self.key.clear();
            self.key.push(type_index as u32);
            self.key.extend(
                plan.implying
                    .iter()
                    .map(|&i| self.rows.cells[first_cell + i]),
            );
            let implied = match self.implied.get(self.key.as_slice()) {
                Some(known) => known,
                None => {
                    let cells = self.implied_cells(type_index, f)?;
                    self.implied.entry(self.key.clone()).or_insert(cells)
                }
            };
            self.rows.cells.extend_from_slice(implied);
        }
        let run = self.rows.runs.index(f.run);
        let collection = self.rows.collections.index(f.collection);
        self.rows.rows.push(Packed {
            id: f.id,
            type_index: type_index as u32,
            run,
            collection,
            first_cell,
            uri: None,
        });
        Ok(())
    }

    /// The implied values of a found dataset, read from the dimension records (a
    /// value implied at one remove, `band` through `physical_filter`, is in the
    /// record that implies it).
    fn implied_cells(
        &mut self,
        type_index: usize,
        f: &FoundRow<'_>,
    ) -> Result<Box<[u32]>, RegistryError> {
        let plan = &self.plans[type_index];
        let Some(records) = &self.records else {
            return Ok(vec![NULL; plan.implied.len()].into());
        };
        let expanded = records.expand(f.dimensions, &f.data_id())?;
        let values = &mut self.rows.values;
        Ok(plan
            .implied
            .iter()
            .map(|d| {
                expanded
                    .data_id
                    .get(d)
                    .or_else(|| expanded.records.values().find_map(|r| r.get(d)))
                    .map_or(NULL, |v| values.cell(v))
            })
            .collect())
    }

    /// The rows collected, in the order found.
    pub(crate) fn finish(mut self) -> DatasetRows {
        self.rows.order = (0..self.rows.rows.len() as u32).collect();
        self.rows
    }
}

/// A listing as it travels from a server to its client (`valet --server`): what
/// [`DatasetRows`] answers, its rows in order with their values in full.
#[derive(serde::Serialize, serde::Deserialize)]
struct WireRows {
    dimensions: Vec<String>,
    type_dimensions: BTreeMap<String, Vec<String>>,
    limited: bool,
    missing_types: Vec<String>,
    /// Each type searched: name, columns, how many of them are required.
    types: Vec<(String, Vec<String>, usize)>,
    rows: Vec<WireRow>,
}

/// One dataset of a [`WireRows`]: its type's index, id, RUN, collection, the
/// values of its type's columns, and its URI.
#[derive(serde::Serialize, serde::Deserialize)]
struct WireRow(u32, Uuid, String, String, Vec<Value>, Option<String>);

impl serde::Serialize for DatasetRows {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let rows = self
            .iter()
            .map(|r| {
                let values = (0..r.columns().len())
                    .map(|i| r.value_at(i).cloned().unwrap_or(Value::Null))
                    .collect();
                WireRow(
                    r.row.type_index,
                    r.id(),
                    r.run().to_owned(),
                    r.collection().to_owned(),
                    values,
                    r.uri().map(str::to_owned),
                )
            })
            .collect();
        WireRows {
            dimensions: self.dimensions.clone(),
            type_dimensions: self.type_dimensions.clone(),
            limited: self.limited,
            missing_types: self.missing_types.clone(),
            types: self
                .types
                .iter()
                .map(|t| (t.name.clone(), t.columns.clone(), t.required))
                .collect(),
            rows,
        }
        .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for DatasetRows {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<DatasetRows, D::Error> {
        let wire = WireRows::deserialize(d)?;
        let mut out = DatasetRows {
            dimensions: wire.dimensions,
            type_dimensions: wire.type_dimensions,
            limited: wire.limited,
            missing_types: wire.missing_types,
            types: wire
                .types
                .into_iter()
                .map(|(name, columns, required)| TypeEntry {
                    name,
                    columns,
                    required,
                })
                .collect(),
            ..Default::default()
        };
        for WireRow(type_index, id, run, collection, values, uri) in wire.rows {
            let width = out
                .types
                .get(type_index as usize)
                .map_or(0, |t| t.columns.len());
            if values.len() != width {
                return Err(serde::de::Error::custom(format!(
                    "dataset {id}: {} values for {width} columns",
                    values.len()
                )));
            }
            let first_cell = out.cells.len();
            for v in &values {
                let cell = out.values.cell(v);
                out.cells.push(cell);
            }
            let run = out.runs.index(&run);
            let collection = out.collections.index(&collection);
            out.rows.push(Packed {
                id,
                type_index,
                run,
                collection,
                first_cell,
                uri: uri.map(String::into_boxed_str),
            });
        }
        out.order = (0..out.rows.len() as u32).collect();
        Ok(out)
    }
}
