//! Reads through [`Repo`]: dataset searches and look-ups, the distinct data IDs of
//! datasets, dimension records, dataset types, lineage, and copying the files of the
//! datasets a search finds out of the repository.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use petgraph::graph::DiGraph;
use serde_json::Value as Json;
use uuid::Uuid;
use valet_collections::provenance::{lineage, LineageNode};
use valet_collections::{DatasetQuery, FindRequest};
use valet_registry::artifacts::get_artifact;
use valet_registry::collections::all_collections;
use valet_registry::dataset_types::{all_dataset_types, get_dataset_type};
use valet_registry::dimensions::{query_records, record_filter};
use valet_registry::expand::RecordCache;
use valet_registry::glob::{glob_to_regex, is_glob};
use valet_registry::{DataId, DatasetRef, DatasetType, Record, RegistryError, Timespan, Value};

use crate::dataset_rows::{Collector, TypeColumns};
pub use crate::dataset_rows::{DatasetRow, DatasetRows};

pub use valet_collections::{Found, FoundRow};
pub use valet_registry::expr::{parse_binds, Literal};

use crate::retrieve::RetrieveOptions;
use crate::{Repo, RepoError};

/// Values for the bind names of a `where` expression.
pub type Binds = BTreeMap<String, Literal>;

/// Which datasets a search selects: what `query-datasets`, `query-data-ids`,
/// `associate`, `prune-datasets` and `retrieve-artifacts` share.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct DatasetSearch {
    /// Dataset types, as names or globs; empty means every registered type.
    pub dataset_types: Vec<String>,
    /// Collections searched, in order (globs only without `find_first`).
    pub collections: Vec<String>,
    /// A `where` expression over the data IDs (empty: no filter).
    pub where_: String,
    /// Values for the bind names in `where_`.
    pub bind: Binds,
    /// One dataset per data ID, from the first collection that has one.
    pub find_first: bool,
    /// For calibrations in find-first searches: the time validity ranges must overlap.
    pub timespan: Option<Timespan>,
    /// Resolve chains as they were at this time (UTC nanoseconds).
    pub as_of: Option<i64>,
}

impl DatasetSearch {
    /// The search, over every collection when it names none and does not find first
    /// (what the reference's queries do; a find-first search needs an explicit order).
    pub(crate) fn in_all_collections_by_default(&self) -> DatasetSearch {
        let mut search = self.clone();
        if search.collections.is_empty() && !search.find_first {
            search.collections = vec!["*".into()];
        }
        search
    }
}

/// What [`Repo::query_datasets`] returns besides the search.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct QueryDatasetsOptions {
    /// The datasets to look for.
    pub search: DatasetSearch,
    /// Only datasets whose RUN has this owner type (user, group, project, production).
    pub owner_type: Option<String>,
    /// At most this many datasets in all, over every dataset type, taken after
    /// sorting (`None`: all of them).
    pub limit: Option<usize>,
    /// Sort by these columns (`type`, `run`, `id`, a dimension, or `uri` with
    /// `with_uris`); a leading `-` sorts descending.
    pub order_by: Vec<String>,
    /// Look up the URI of each dataset's file.
    pub with_uris: bool,
}

/// A single look-up by data ID (the reference's `find_dataset`).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct FindDatasetOptions {
    /// The dataset type.
    pub dataset_type: String,
    /// The data ID (required dimensions; implied ones are ignored).
    pub data_id: DataId,
    /// Collections searched, in order (chains expanded).
    pub collections: Vec<String>,
    /// For calibrations: the time range the validity range must overlap.
    pub timespan: Option<Timespan>,
    /// Resolve chains as they were at this time (UTC nanoseconds).
    pub as_of: Option<i64>,
    /// Without `timespan`, refuse a calibration look-up that passes over CALIBRATION
    /// collections instead of finding nothing there (the reference skips them).
    pub calibrations_need_time: bool,
}

/// A dataset found by a look-up.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FoundDataset {
    /// The dataset and the collection it was found in.
    pub found: Found,
    /// The dimensions of its data ID, in universe order.
    pub dimensions: Vec<String>,
}

/// The distinct data IDs of the datasets a search finds.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct QueryDataIdsOptions {
    /// The datasets whose data IDs are listed.
    pub search: DatasetSearch,
    /// Dimensions to list (empty: the required dimensions of the first dataset found).
    pub dimensions: Vec<String>,
    /// At most this many data IDs (after sorting and `offset`).
    pub limit: Option<usize>,
    /// Sort by these dimensions (a leading `-` sorts descending) instead of the
    /// reference's order.
    pub order_by: Vec<String>,
    /// Leave out this many data IDs first.
    pub offset: usize,
}

/// Data IDs before sorting: their dimension group, columns and rows.
type DataIdTable = (valet_config::DimensionGroup, Vec<String>, Vec<Vec<Value>>);

/// Distinct data IDs, sorted.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DataIdRows {
    /// The dimensions listed.
    pub dimensions: Vec<String>,
    /// One value per dimension in each row.
    pub rows: Vec<Vec<Value>>,
    /// How many of the dimensions (the first ones) are required; the rest are implied.
    pub required: usize,
    /// The limit left data IDs out.
    pub limited: bool,
}

/// The records of one dimension element.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct DimensionRecordQuery {
    /// The element (instrument, detector, visit, …).
    pub element: String,
    /// A `where` expression over its fields (empty: every record).
    pub where_: String,
    /// Values for the bind names in `where_`.
    pub bind: Binds,
    /// At most this many records (after `offset`).
    pub limit: Option<usize>,
    /// Only records that datasets of these types (names or globs) point at in
    /// `collections` (none: no such constraint).
    pub datasets: Vec<String>,
    /// Where `datasets` are searched (none: every collection).
    pub collections: Vec<String>,
    /// Sort by these fields (a leading `-` sorts descending); none: by data ID.
    pub order_by: Vec<String>,
    /// Leave out this many records first.
    pub offset: usize,
}

/// Dimension records, ordered by key.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DimensionRecords {
    /// The element's columns.
    pub columns: Vec<String>,
    /// The records.
    pub records: Vec<Record>,
    /// The limit left records out.
    pub limited: bool,
}

/// Which way [`Repo::lineage`] walks.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct LineageOptions {
    /// Towards what produced the dataset (else towards what was built from it).
    pub up: bool,
    /// At most this many dataset-to-dataset steps.
    pub depth: usize,
}

impl Repo {
    /// The names of the dataset types that names or globs mean (every registered
    /// type if none); a name that is not a glob must be registered.
    pub fn matching_dataset_types(&self, patterns: &[String]) -> Result<Vec<String>, RepoError> {
        let mut conn = self.registry.db.conn()?;
        let all = all_dataset_types(&mut conn)?;
        if patterns.is_empty() {
            return Ok(all.into_iter().map(|t| t.name).collect());
        }
        let mut out = Vec::new();
        for p in patterns {
            if is_glob(p) {
                let re = glob_to_regex(p)?;
                out.extend(
                    all.iter()
                        .filter(|t| re.is_match(&t.name))
                        .map(|t| t.name.clone()),
                );
            } else {
                get_dataset_type(&mut conn, p)?;
                out.push(p.clone());
            }
        }
        out.dedup();
        Ok(out)
    }

    /// The registered dataset type of this name.
    pub fn dataset_type(&self, name: &str) -> Result<DatasetType, RepoError> {
        let mut conn = self.registry.db.conn()?;
        Ok(get_dataset_type(&mut conn, name)?)
    }

    /// The registered dataset types whose names match any of the globs (all of them
    /// if none), by name.
    pub fn query_dataset_types(&self, globs: &[String]) -> Result<Vec<DatasetType>, RepoError> {
        let mut conn = self.registry.db.conn()?;
        let all = all_dataset_types(&mut conn)?;
        let patterns = globs
            .iter()
            .map(|g| glob_to_regex(g))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(all
            .into_iter()
            .filter(|t| patterns.is_empty() || patterns.iter().any(|p| p.is_match(&t.name)))
            .collect())
    }

    /// Stream the datasets a search selects to `emit`, one dataset type after another;
    /// `emit` returns `false` to end the search of the current type.
    pub fn search_datasets(
        &self,
        search: &DatasetSearch,
        emit: &mut dyn FnMut(Found) -> Result<bool, RegistryError>,
    ) -> Result<(), RepoError> {
        let types = self.matching_dataset_types(&search.dataset_types)?;
        self.search_types(&types, search, emit)
    }

    /// [`Repo::search_datasets`], each result handed over borrowed (no map or string
    /// made per row): the fast way to stream many.
    pub fn search_dataset_rows(
        &self,
        search: &DatasetSearch,
        emit: &mut dyn FnMut(FoundRow<'_>) -> Result<bool, RegistryError>,
    ) -> Result<(), RepoError> {
        let types = self.matching_dataset_types(&search.dataset_types)?;
        self.search_type_rows(&types, search, emit)
    }

    /// [`Repo::search_datasets`] over these dataset type names, taken as given.
    pub(crate) fn search_types(
        &self,
        types: &[String],
        search: &DatasetSearch,
        emit: &mut dyn FnMut(Found) -> Result<bool, RegistryError>,
    ) -> Result<(), RepoError> {
        self.search_type_rows(types, search, &mut |row| emit(row.to_found()))
    }

    fn search_type_rows(
        &self,
        types: &[String],
        search: &DatasetSearch,
        emit: &mut dyn FnMut(FoundRow<'_>) -> Result<bool, RegistryError>,
    ) -> Result<(), RepoError> {
        if search.collections.is_empty() {
            return Err(RepoError::Invalid(
                "no collections given to search (use --collections)".into(),
            ));
        }
        let mut conn = self.registry.db.conn()?;
        for t in types {
            self.resolver.query_dataset_rows(
                &mut conn,
                &self.registry.universe,
                &DatasetQuery {
                    dataset_type: t.clone(),
                    collections: search.collections.clone(),
                    find_first: search.find_first,
                    where_: search.where_.clone(),
                    bind: search.bind.clone(),
                    timespan: search.timespan,
                    as_of: search.as_of,
                },
                emit,
            )?;
        }
        Ok(())
    }

    /// Every dataset a search selects.
    pub fn find_datasets(&self, search: &DatasetSearch) -> Result<Vec<DatasetRef>, RepoError> {
        let mut found = Vec::new();
        self.search_datasets(search, &mut |f| {
            found.push(f.dataset);
            Ok(true)
        })?;
        Ok(found)
    }

    /// List datasets (the reference's `query-datasets`): the search, filtered by the
    /// owner type of their RUNs, with the implied dimensions of each data ID, grouped
    /// by dataset type (by name), each group sorted as the reference sorts it (by
    /// RUN, then its dimensions) or by `order_by`, and cut at the limit.
    pub fn query_datasets(&self, options: &QueryDatasetsOptions) -> Result<DatasetRows, RepoError> {
        // An unknown type is reported, not an error, as in the reference.
        let mut missing_types = Vec::new();
        let mut patterns = Vec::new();
        for p in &options.search.dataset_types {
            match self.matching_dataset_types(std::slice::from_ref(p)) {
                Err(e) if e.kind() == crate::ErrorKind::NotFound => missing_types.push(p.clone()),
                other => patterns.extend(other?),
            }
        }
        if patterns.is_empty() && !missing_types.is_empty() {
            let mut none = DatasetRows::default();
            none.missing_types = missing_types;
            return Ok(none);
        }
        let mut types = if options.search.dataset_types.is_empty() {
            self.matching_dataset_types(&[])?
        } else {
            patterns
        };
        types.sort();
        types.dedup();
        let owner_of_run: HashMap<String, String> = match &options.owner_type {
            Some(_) => {
                let mut conn = self.registry.db.conn()?;
                all_collections(&mut conn)?
                    .into_iter()
                    .map(|c| (c.name, c.owner_type))
                    .collect()
            }
            None => HashMap::new(),
        };
        let type_dimensions = self.type_dimensions(&types)?;
        // Sort keys are checked before the search, not after it.
        let mut all_columns = vec!["type".to_owned(), "run".into(), "id".into()];
        all_columns.extend(self.union_of_dimensions(type_dimensions.values()));
        if options.with_uris {
            all_columns.push("uri".into());
        }
        let keys: Vec<(String, bool)> = options
            .order_by
            .iter()
            .map(|o| {
                let (desc, name) = sort_spec(o);
                if all_columns.iter().any(|c| c == name) {
                    Ok((name.to_owned(), desc))
                } else {
                    Err(RepoError::Invalid(format!(
                        "--order-by {name:?}: no such column (columns: {})",
                        all_columns.join(", ")
                    )))
                }
            })
            .collect::<Result<_, _>>()?;
        let limit = options.limit.unwrap_or(usize::MAX);
        // Without sorting the search stops one past the limit (which tells whether
        // the limit cut anything); sorted, every match is needed first.
        let stop_after = if options.order_by.is_empty() {
            limit.saturating_add(1)
        } else {
            usize::MAX
        };
        let search = options.search.in_all_collections_by_default();
        let owned = |f: &FoundRow<'_>| match &options.owner_type {
            Some(want) => owner_of_run.get(f.run) == Some(want),
            None => true,
        };
        let mut rows = self.collect_rows(&search, &type_dimensions, &owned, stop_after)?;
        let default_order: BTreeMap<String, Vec<String>> = type_dimensions
            .iter()
            .map(|(name, group)| {
                let keys = std::iter::once("run".to_owned())
                    .chain(self.reference_sort_keys(group))
                    .collect();
                (name.clone(), keys)
            })
            .collect();
        rows.sort(&keys, &default_order);
        rows.limited = rows.truncate(limit);
        if options.with_uris {
            let uris = self.file_uris(rows.iter().map(|r| r.id()))?;
            rows.set_uris(uris);
        }
        let present: Vec<&valet_config::DimensionGroup> = rows
            .present_types()
            .into_iter()
            .filter_map(|t| type_dimensions.get(t))
            .collect();
        rows.dimensions = self.union_of_dimensions(present);
        rows.missing_types = missing_types;
        Ok(rows)
    }

    /// What a [`Collector`] needs of each of these dataset types, in order.
    fn columns_of_rows(
        &self,
        type_dimensions: &BTreeMap<String, valet_config::DimensionGroup>,
    ) -> Vec<TypeColumns> {
        let universe = &self.registry.universe;
        type_dimensions
            .iter()
            .map(|(name, g)| {
                // Implied values depend only on the dimensions that imply something
                // (a visit, not its detector), with what those require.
                let implying: BTreeSet<String> = g
                    .required
                    .iter()
                    .filter(|d| universe.element(d).is_some_and(|e| !e.implies.is_empty()))
                    .flat_map(|d| universe.required_of(d).unwrap_or_default())
                    .collect();
                TypeColumns {
                    name: name.clone(),
                    required: g.required.clone(),
                    implied: g.implied.clone(),
                    implying: implying
                        .iter()
                        .filter_map(|d| g.required.iter().position(|r| r == d))
                        .collect(),
                }
            })
            .collect()
    }

    /// The dimension records implied values of these types are read from (`None`
    /// when no type has implied dimensions).
    fn record_cache_for(
        &self,
        type_dimensions: &BTreeMap<String, valet_config::DimensionGroup>,
    ) -> Result<Option<RecordCache>, RepoError> {
        let needed: BTreeSet<String> = type_dimensions
            .values()
            .filter(|g| !g.implied.is_empty())
            .flat_map(|g| g.required.iter().chain(&g.implied).cloned())
            .collect();
        if needed.is_empty() {
            return Ok(None);
        }
        let mut cache = RecordCache::new(self.registry.universe.clone());
        cache.load_for(
            &mut *self.registry.db.conn()?,
            &needed.into_iter().collect::<Vec<_>>(),
        )?;
        Ok(Some(cache))
    }

    /// The dimensions the reference sorts a table of these data IDs by: the required
    /// dimensions of the temporal and spatial ones (`exposure`, `day_obs`, `visit`),
    /// then the others, each once.
    fn reference_sort_keys(&self, group: &valet_config::DimensionGroup) -> Vec<String> {
        let universe = &self.registry.universe;
        let mut early = Vec::new();
        let mut late = Vec::new();
        for d in group.required.iter().chain(&group.implied) {
            match universe.element(d) {
                Some(e) if e.spatial || e.temporal => {
                    early.extend(universe.required_of(d).unwrap_or_else(|_| vec![d.clone()]))
                }
                _ => late.push(d.clone()),
            }
        }
        let mut seen = HashSet::new();
        early
            .into_iter()
            .chain(late)
            .filter(|k| seen.insert(k.clone()))
            .collect()
    }

    /// The dimensions of each dataset type.
    fn type_dimensions(
        &self,
        types: &[String],
    ) -> Result<BTreeMap<String, valet_config::DimensionGroup>, RepoError> {
        let mut conn = self.registry.db.conn()?;
        types
            .iter()
            .map(|name| {
                let mut group = self.resolver.dataset_type(&mut conn, name)?.dimensions;
                // The reference lists implied dimensions by name.
                group.implied.sort();
                Ok((name.clone(), group))
            })
            .collect()
    }

    /// Every dimension of these groups: required ones in universe order, then the
    /// implied ones by name, as the reference lists a type's columns.
    fn union_of_dimensions<'g>(
        &self,
        groups: impl IntoIterator<Item = &'g valet_config::DimensionGroup>,
    ) -> Vec<String> {
        let groups: Vec<&valet_config::DimensionGroup> = groups.into_iter().collect();
        let required = self.dimension_order(
            groups
                .iter()
                .flat_map(|g| g.required.iter().cloned())
                .collect::<BTreeSet<_>>(),
        );
        let implied: BTreeSet<String> = groups
            .iter()
            .flat_map(|g| g.implied.iter().cloned())
            .filter(|d| !required.contains(d))
            .collect();
        required.into_iter().chain(implied).collect()
    }

    /// Find one dataset by type and data ID; `None` when no collection has one.
    pub fn find_dataset(
        &self,
        options: &FindDatasetOptions,
    ) -> Result<Option<FoundDataset>, RepoError> {
        self.registry
            .db
            .read(|conn| self.find_dataset_in(conn, options))
    }

    fn find_dataset_in(
        &self,
        conn: &mut valet_registry::Conn,
        options: &FindDatasetOptions,
    ) -> Result<Option<FoundDataset>, RepoError> {
        self.check_implied_values(conn, &options.dataset_type, &options.data_id)?;
        let found = self.resolver.find_dataset(
            conn,
            &self.registry.universe,
            &FindRequest {
                dataset_type: &options.dataset_type,
                data_id: &options.data_id,
                collections: &options.collections,
                timespan: options.timespan,
                as_of: options.as_of,
            },
        )?;
        if found.is_none()
            && options.timespan.is_none()
            && options.calibrations_need_time
            && self.resolver.skips_calibrations(
                conn,
                &options.dataset_type,
                &options.collections,
                options.as_of,
            )?
        {
            return Err(RepoError::Invalid(format!(
                "a look-up of calibration type {:?} through CALIBRATION collections needs a time (--at or --timespan)",
                options.dataset_type
            )));
        }
        Ok(found.map(|found| FoundDataset {
            dimensions: self.dimension_order(found.dataset.data_id.keys().cloned()),
            found,
        }))
    }

    /// Refuse a data ID whose implied values (`band`, `physical_filter`, …) contradict
    /// what its records say, as the reference does: `visit=2,band=u` when visit 2 is
    /// an r-band visit finds nothing there, and here is an error naming both.
    fn check_implied_values(
        &self,
        conn: &mut valet_registry::Conn,
        dataset_type: &str,
        data_id: &DataId,
    ) -> Result<(), RepoError> {
        // Most data IDs hold no dimension any element implies: nothing to check, and
        // no need to look the type up.
        let universe = &self.registry.universe;
        let impliable = |name: &String| {
            universe
                .table_elements()
                .any(|e| e.implies.iter().any(|i| i == name))
        };
        if !data_id.keys().any(impliable) {
            return Ok(());
        }
        let t = self.resolver.dataset_type(conn, dataset_type)?;
        let given: Vec<&String> = t
            .dimensions
            .implied
            .iter()
            .filter(|d| data_id.contains_key(*d))
            .collect();
        if given.is_empty() {
            return Ok(());
        }
        let group = &t.dimensions;
        let required: DataId = group
            .required
            .iter()
            .filter_map(|d| data_id.get(d).map(|v| (d.clone(), v.clone())))
            .collect();
        let expanded = self.expand_in_group(conn, group, &required)?;
        for d in given {
            let recorded = expanded
                .data_id
                .get(d)
                .or_else(|| expanded.records.values().find_map(|r| r.get(d)));
            let Some(recorded) = recorded else { continue };
            let asked = &data_id[d];
            if recorded.to_string() != asked.to_string() {
                return Err(RepoError::Invalid(format!(
                    "data ID {d}={asked} contradicts the dimension records, which give {d}={recorded} for {}",
                    valet_registry::datasets::describe_data_id(&required, &group.required)
                )));
            }
        }
        Ok(())
    }

    /// The distinct data IDs of the datasets a search finds (or, when it names no
    /// dataset type, of the dimension records of the dimensions asked for), sorted by
    /// value as the reference sorts them or by `order_by`, then cut by `offset` and
    /// `limit`.
    pub fn query_data_ids(&self, options: &QueryDataIdsOptions) -> Result<DataIdRows, RepoError> {
        let (group, dimensions, mut rows) = if options.search.dataset_types.is_empty() {
            if options.dimensions.is_empty() {
                return Ok(DataIdRows::default());
            }
            let group = self.sorted_group(&options.dimensions)?;
            let dimensions = group_columns(&group);
            let rows = self.data_ids_from_records(
                &group,
                &dimensions,
                &options.search.where_,
                &options.search.bind,
            )?;
            (group, dimensions, rows)
        } else {
            self.data_ids_of_datasets(options)?
        };
        let order: Vec<(usize, bool)> = if options.order_by.is_empty() {
            // Sorted as the reference sorts a table of data IDs.
            self.reference_sort_keys(&group)
                .iter()
                .filter_map(|k| dimensions.iter().position(|d| d == k))
                .map(|i| (i, false))
                .collect()
        } else {
            options
                .order_by
                .iter()
                .map(|spec| {
                    let (descending, name) = sort_spec(spec);
                    dimensions
                        .iter()
                        .position(|d| d == name)
                        .map(|i| (i, descending))
                        .ok_or_else(|| {
                            RepoError::Invalid(format!(
                                "--order-by {spec}: {name:?} is not one of the dimensions listed ({})",
                                dimensions.join(", ")
                            ))
                        })
                })
                .collect::<Result<_, _>>()?
        };
        let limited = sort_and_page(
            &mut rows,
            &order,
            |row, &i| row.get(i),
            options.offset,
            options.limit,
        );
        Ok(DataIdRows {
            dimensions,
            rows,
            required: group.required.len(),
            limited,
        })
    }

    /// The datasets a search finds of the types of `type_dimensions` (one type after
    /// another, by name), each with its required and implied dimension values, in the
    /// order found: those `keep` accepts, stopping once `stop_after` are kept.
    fn collect_rows(
        &self,
        search: &DatasetSearch,
        type_dimensions: &BTreeMap<String, valet_config::DimensionGroup>,
        keep: &dyn Fn(&FoundRow<'_>) -> bool,
        stop_after: usize,
    ) -> Result<DatasetRows, RepoError> {
        let columns = self.columns_of_rows(type_dimensions);
        let mut collector = Collector::new(columns, self.record_cache_for(type_dimensions)?);
        for (i, t) in type_dimensions.keys().enumerate() {
            if collector.len() >= stop_after {
                break;
            }
            self.search_type_rows(std::slice::from_ref(t), search, &mut |f| {
                if keep(&f) {
                    collector.push(i, &f)?;
                }
                Ok(collector.len() < stop_after)
            })?;
        }
        Ok(collector.finish())
    }

    /// The group of `names`, implied dimensions sorted by name as the reference lists
    /// them.
    fn sorted_group(&self, names: &[String]) -> Result<valet_config::DimensionGroup, RepoError> {
        let mut g = self
            .registry
            .universe
            .group(names)
            .map_err(RegistryError::from)?;
        g.implied.sort();
        Ok(g)
    }

    /// The distinct data IDs of the datasets a search finds, unsorted: their group,
    /// columns and rows.
    fn data_ids_of_datasets(
        &self,
        options: &QueryDataIdsOptions,
    ) -> Result<DataIdTable, RepoError> {
        let search = options.search.in_all_collections_by_default();
        let mut types = self.matching_dataset_types(&search.dataset_types)?;
        types.sort();
        types.dedup();
        let type_dimensions = self.type_dimensions(&types)?;
        // The columns, as the reference gives them: the dimensions asked for (with
        // those they require and imply), or every dimension of the first dataset type.
        let group = if options.dimensions.is_empty() {
            types
                .first()
                .and_then(|t| type_dimensions.get(t))
                .cloned()
                .unwrap_or_default()
        } else {
            self.sorted_group(&options.dimensions)?
        };
        let dimensions = group_columns(&group);
        let found = self.collect_rows(&search, &type_dimensions, &|_| true, usize::MAX)?;
        // Where each type's values hold each column, worked out once per type.
        let positions: HashMap<&str, Vec<Option<usize>>> = type_dimensions
            .iter()
            .map(|(t, g)| {
                let own: Vec<&String> = g.required.iter().chain(&g.implied).collect();
                let at = dimensions
                    .iter()
                    .map(|d| own.iter().position(|c| *c == d))
                    .collect();
                (t.as_str(), at)
            })
            .collect();
        // Equal values share a cell: data IDs are told apart by their cells.
        let mut seen: HashSet<Vec<u32>> = HashSet::new();
        let mut rows: Vec<Vec<Value>> = Vec::new();
        for f in found.iter() {
            let at = positions
                .get(f.dataset_type())
                .map_or(&[][..], Vec::as_slice);
            let mut key = Vec::with_capacity(dimensions.len());
            for (i, d) in dimensions.iter().enumerate() {
                let p = at.get(i).copied().flatten().ok_or_else(|| {
                    RegistryError::Invalid(format!(
                        "{d:?} is not a dimension of {}",
                        f.dataset_type()
                    ))
                })?;
                key.push(f.cell_at(p));
            }
            if !seen.contains(&key) {
                let at = at.iter().flatten();
                rows.push(
                    at.map(|&p| f.value_at(p).cloned().unwrap_or(Value::Null))
                        .collect(),
                );
                seen.insert(key);
            }
        }
        Ok((group, dimensions, rows))
    }

    /// The records of a dimension element, ordered by key.
    pub fn query_dimension_records(
        &self,
        query: &DimensionRecordQuery,
    ) -> Result<DimensionRecords, RepoError> {
        let universe = &self.registry.universe;
        let filter = if query.where_.trim().is_empty() {
            None
        } else {
            Some(record_filter(
                universe,
                &query.element,
                &query.where_,
                &query.bind,
                self.backend(),
            )?)
        };
        let mut conn = self.registry.db.conn()?;
        let (columns, mut records) = query_records(
            &mut conn,
            universe,
            &query.element,
            filter
                .as_ref()
                .map(|(sql, params)| (sql.as_str(), params.as_slice())),
        )?;
        let e = universe.get(&query.element)?;
        let key = valet_registry::schema::element_key_columns(universe, e)?;
        if !query.datasets.is_empty() {
            let wanted = self.record_keys_of_datasets(query, &key)?;
            records.retain(|r| wanted.contains(&record_key(r, &key)));
        }
        // By data ID (the element's dependencies, then its primary key), as the
        // reference lists records, unless sorted by fields asked for.
        let order = record_order(&query.element, e, &columns, &key, &query.order_by)?;
        let limited = sort_and_page(
            &mut records,
            &order,
            |record, k| record.get(k),
            query.offset,
            query.limit,
        );
        Ok(DimensionRecords {
            columns,
            records,
            limited,
        })
    }

    /// The keys (the element's key columns' values) of the records that the datasets
    /// a record query names point at.
    fn record_keys_of_datasets(
        &self,
        query: &DimensionRecordQuery,
        key: &[String],
    ) -> Result<HashSet<String>, RepoError> {
        let universe = &self.registry.universe;
        let search = DatasetSearch {
            dataset_types: query.datasets.clone(),
            collections: query.collections.clone(),
            ..Default::default()
        }
        .in_all_collections_by_default();
        let types = self.matching_dataset_types(&search.dataset_types)?;
        let type_dimensions = self.type_dimensions(&types)?;
        // The data ID names of the key columns: the element's own key is its name.
        let e = universe.get(&query.element)?;
        let pk = e.primary_key().map(|k| k.name.clone());
        let names: Vec<&str> = key
            .iter()
            .map(|k| {
                if Some(k) == pk.as_ref() {
                    query.element.as_str()
                } else {
                    k.as_str()
                }
            })
            .collect();
        let mut positions: HashMap<&str, Vec<usize>> = HashMap::new();
        for (t, g) in &type_dimensions {
            let own: Vec<&String> = g.required.iter().chain(&g.implied).collect();
            let at: Option<Vec<usize>> = names
                .iter()
                .map(|n| own.iter().position(|d| d == n))
                .collect();
            let at = at.ok_or_else(|| {
                RepoError::Invalid(format!(
                    "{} records are not reached by the data IDs of {t} (dimensions: {})",
                    query.element,
                    g.names().collect::<Vec<_>>().join(", ")
                ))
            })?;
            positions.insert(t.as_str(), at);
        }
        let found = self.collect_rows(&search, &type_dimensions, &|_| true, usize::MAX)?;
        Ok(found
            .iter()
            .map(|f| {
                let at = positions
                    .get(f.dataset_type())
                    .map_or(&[][..], Vec::as_slice);
                let row: Vec<Json> = at
                    .iter()
                    .map(|&i| f.value_at(i).map_or(Json::Null, value_json))
                    .collect();
                serde_json::to_string(&row).unwrap_or_default()
            })
            .collect())
    }

    /// What produced a dataset, or what was built from it: a graph whose edges point
    /// the way data flowed (input → execution → output).
    pub fn lineage(
        &self,
        dataset: impl Into<crate::provenance::DatasetKey>,
        options: LineageOptions,
    ) -> Result<DiGraph<LineageNode, ()>, RepoError> {
        let mut conn = self.registry.db.conn()?;
        Ok(lineage(&mut conn, dataset, options.up, options.depth)?)
    }

    /// Copy the files of the datasets a query finds (its search, sorted and cut as
    /// `query-datasets` sorts and cuts them) out of the repository (see
    /// [`Repo::retrieve_artifacts`]) and return where they went, with whether the
    /// limit cut the datasets.
    pub fn retrieve_matching(
        &self,
        query: &QueryDatasetsOptions,
        destination: &Path,
        options: RetrieveOptions,
    ) -> Result<(Vec<PathBuf>, bool), RepoError> {
        let found = self.query_datasets(query)?;
        Ok((
            self.retrieve_artifacts(&found.refs(), destination, options)?,
            found.limited,
        ))
    }

    /// Dimension names in universe order (instrument before detector before visit).
    pub(crate) fn dimension_order(&self, names: impl IntoIterator<Item = String>) -> Vec<String> {
        let u = &self.registry.universe;
        let mut v: Vec<String> = names.into_iter().collect();
        v.sort_by_key(|n| u.element(n).map(|e| e.index).unwrap_or(usize::MAX));
        v
    }

    /// The `file://` URI of each dataset's file, `None` for one without a file.
    fn file_uris(&self, ids: impl Iterator<Item = Uuid>) -> Result<Vec<Option<String>>, RepoError> {
        let store = self.datastore()?;
        let mut conn = self.registry.db.conn()?;
        ids.map(|id| {
            Ok(get_artifact(&mut conn, id)?
                .map(|a| format!("file://{}", store.location(&a.path).display())))
        })
        .collect()
    }
}

/// A scalar JSON value as a registry value, the inverse of [`value_json`] for
/// numbers, text, booleans and null (`None` for arrays and objects).
pub fn json_value(v: &Json) -> Option<Value> {
    Some(match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64()?),
        },
        Json::String(s) => Value::Text(s.clone()),
        Json::Array(_) | Json::Object(_) => return None,
    })
}

/// A registry value as JSON: numbers, text and booleans as they are, UUIDs as text,
/// bytes as hex, non-finite floats as null.
pub fn value_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Json::Number)
            .unwrap_or(Json::Null),
        Value::Text(s) => Json::String(s.clone()),
        Value::Bool(b) => Json::Bool(*b),
        Value::Bytes(b) => Json::String(hex::encode(b)),
        Value::Uuid(u) => Json::String(u.to_string()),
    }
}

/// An `--order-by` entry: whether it sorts descending (a leading `-`), and its name.
fn sort_spec(spec: &str) -> (bool, &str) {
    match spec.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, spec),
    }
}

/// Sort `rows` by `order` (keys `cell` reads, each ascending or descending), then
/// leave out the first `offset` and keep at most `limit`; true if the limit cut.
fn sort_and_page<R, K>(
    rows: &mut Vec<R>,
    order: &[(K, bool)],
    cell: impl for<'r> Fn(&'r R, &K) -> Option<&'r Value>,
    offset: usize,
    limit: Option<usize>,
) -> bool {
    rows.sort_by(|a, b| {
        order
            .iter()
            .map(|(k, descending)| {
                let o = compare_values(
                    cell(a, k).unwrap_or(&Value::Null),
                    cell(b, k).unwrap_or(&Value::Null),
                );
                if *descending {
                    o.reverse()
                } else {
                    o
                }
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    });
    rows.drain(..offset.min(rows.len()));
    let limit = limit.unwrap_or(usize::MAX);
    let limited = rows.len() > limit;
    rows.truncate(limit);
    limited
}

/// The columns of a table of data IDs of `group`: required, then implied dimensions.
fn group_columns(group: &valet_config::DimensionGroup) -> Vec<String> {
    group
        .required
        .iter()
        .chain(&group.implied)
        .cloned()
        .collect()
}

/// A record's key values as one comparable text.
pub(crate) fn record_key(record: &Record, key: &[String]) -> String {
    let row: Vec<Json> = key
        .iter()
        .map(|k| value_json(record.get(k).unwrap_or(&Value::Null)))
        .collect();
    serde_json::to_string(&row).unwrap_or_default()
}

/// The columns records are sorted by, each with whether it is descending: the fields
/// `order_by` names (`exposure_time`, `-visit.id`, `timespan.begin`, the element's
/// name for its primary key), else the key columns.
fn record_order(
    element: &str,
    e: &valet_config::Element,
    columns: &[String],
    key: &[String],
    order_by: &[String],
) -> Result<Vec<(String, bool)>, RepoError> {
    if order_by.is_empty() {
        return Ok(key.iter().map(|k| (k.clone(), false)).collect());
    }
    order_by
        .iter()
        .map(|spec| {
            let (descending, name) = sort_spec(spec);
            let field = name
                .strip_prefix(element)
                .and_then(|r| r.strip_prefix('.'))
                .unwrap_or(name);
            let column = valet_registry::dimensions::field_column(e, field);
            if columns.contains(&column) {
                Ok((column, descending))
            } else {
                Err(RepoError::Invalid(format!(
                    "--order-by {spec}: {element} records have no field {name:?}"
                )))
            }
        })
        .collect()
}

/// Compare values: numbers by value, everything else by its JSON text (so text sorts
/// before numbers, and missing values last).
pub(crate) fn compare_values(a: &Value, b: &Value) -> Ordering {
    // The common kinds directly; the rest through their JSON text.
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => return x.cmp(y),
        (Value::Text(x), Value::Text(y)) => return x.cmp(y),
        _ => {}
    }
    match (value_json(a), value_json(b)) {
        (Json::Number(x), Json::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (x, y) => x.to_string().cmp(&y.to_string()),
    }
}
