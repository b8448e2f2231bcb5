//! `transfer-datasets`: copying datasets, with their files, RUNs and dimension records,
//! from one repository into another, as the reference's `Butler.transfer_from` does.
//!
//! The selection is turned into an export model in memory and imported into the
//! destination in one transaction, so a transfer is as atomic as an import: on failure
//! neither the destination's registry nor its datastore keeps anything.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::expand::RecordCache;
use uuid::Uuid;
use valet_datastore::TransferMode;
use valet_registry::artifacts::{get_artifact, ArtifactRecord};
use valet_registry::collections::get_collection;
use valet_registry::datasets::existing_datasets;
use valet_registry::dimensions::query_records;
use valet_registry::{DataId, DatasetRef, DatasetType, Record, Value};

use super::export::dataset_files;
use super::import::ProgressFn;
use super::import::{import_export, ImportOptions};
use super::model::{CollectionEntry, Entry, ExportFile};
use crate::queries::{record_key, DatasetSearch};
use crate::{Repo, RepoError};

/// What [`Repo::transfer_from`] copies and how.
#[derive(Clone)]
pub struct TransferOptions {
    /// The datasets to copy, as `query-datasets` selects them (every collection when
    /// none is named).
    pub search: DatasetSearch,
    /// Exactly these datasets instead of the search's (the reference's
    /// `transfer_from` with refs); an unknown id is an error.
    pub ids: Option<Vec<Uuid>>,
    /// How files come into the destination's datastore (see
    /// [`TransferMode::leaving_repository`]: `auto` copies; `move` and `direct` are
    /// refused, the files staying the source's).
    pub transfer: TransferMode,
    /// Register dataset types the destination lacks (else they are an error).
    pub register_dataset_types: bool,
    /// Copy the dimension records the datasets' data IDs need (else they must exist).
    pub transfer_dimensions: bool,
    /// Progress reports, for a progress bar.
    pub progress: Option<ProgressFn>,
}

impl Repo {
    /// Copy the datasets `options.search` finds in `source` into this repository, ids
    /// kept, files at the same paths below the datastore root: their RUNs are
    /// registered, their dataset types checked (or registered), their dimension
    /// records copied, all in one transaction. Datasets without a file are left out,
    /// as the reference leaves them; ones already here (same id, type, RUN and data
    /// ID) are counted but not copied again. Returns the number of datasets
    /// transferred, the reference's figure, as their ids.
    pub fn transfer_from(
        &self,
        source: &Repo,
        options: &TransferOptions,
    ) -> Result<Vec<Uuid>, RepoError> {
        // Moving would take the files from under the source's registry.
        let mode = options
            .transfer
            .leaving_repository("a transfer between repositories", false)
            .map_err(RepoError::Invalid)?;
        // Each selected dataset's file record, read once: datasets without one are
        // left out, and the rest are listed with it.
        let mut selected: Vec<DatasetRef> = Vec::new();
        let mut artifacts: HashMap<Uuid, ArtifactRecord> = HashMap::new();
        let mut src = source.registry.db.conn()?;
        let mut keep = |d: DatasetRef| -> Result<(), valet_registry::RegistryError> {
            if let std::collections::hash_map::Entry::Vacant(slot) = artifacts.entry(d.id) {
                if let Some(a) = get_artifact(&mut src, d.id)? {
                    slot.insert(a);
                    selected.push(d);
                }
            }
            Ok(())
        };
        match &options.ids {
            Some(ids) => {
                for (_, d) in source.get_datasets(ids)? {
                    keep(d)?;
                }
            }
            None => {
                let search = options.search.in_all_collections_by_default();
                source.search_datasets(&search, &mut |f| {
                    keep(f.dataset)?;
                    Ok(true)
                })?;
            }
        }
        let ids: Vec<Uuid> = selected.iter().map(|d| d.id).collect();
        let present = already_here(self, &selected)?;
        let new: Vec<&DatasetRef> = selected
            .iter()
            .filter(|d| !present.contains(&d.id))
            .collect();
        if new.is_empty() {
            return Ok(ids);
        }
        let types = self.checked_types(source, &new, options.register_dataset_types)?;
        let mut entries = Vec::new();
        if options.transfer_dimensions {
            entries.extend(needed_records(source, &types, &new)?);
        }
        // Grouped by (RUN, type), as an export lists them.
        let mut groups: BTreeMap<(&str, &str), Vec<(Uuid, DataId)>> = BTreeMap::new();
        for d in &new {
            groups
                .entry((d.run.as_str(), d.dataset_type.as_str()))
                .or_default()
                .push((d.id, d.data_id.clone()));
        }
        let runs: BTreeSet<&str> = groups.keys().map(|(run, _)| *run).collect();
        for run in runs {
            entries.push(Entry::Collection(CollectionEntry {
                name: run.to_owned(),
                kind: valet_registry::CollectionType::Run,
                doc: get_collection(&mut src, run)?.doc,
                children: vec![],
            }));
        }
        for t in types.values() {
            entries.push(Entry::DatasetType {
                name: t.name.clone(),
                dimensions: t.dimensions.names().map(str::to_owned).collect(),
                storage_class: t.storage_class.clone(),
                is_calibration: t.is_calibration,
            });
        }
        for ((run, dataset_type), items) in groups {
            entries.push(Entry::Datasets {
                dataset_type: dataset_type.to_owned(),
                run: run.to_owned(),
                files: dataset_files(items, |id| Ok(artifacts.remove(&id)))?,
            });
        }
        drop(src);
        let universe = &source.registry.universe;
        let model = ExportFile {
            version: "1.0.2".into(),
            universe_version: universe.version,
            universe_namespace: universe.namespace.clone(),
            entries: entries.into_iter().map(|e| (0, e)).collect(),
        };
        let label = format!("repository {}", source.root.display());
        import_export(
            self,
            &[(model, label)],
            &ImportOptions {
                skip_dimensions: Vec::new(),
                transfer: Some(mode),
                directory: Some(source.config.datastore_path(&source.root)),
                progress: options.progress.clone(),
                // Files the source itself recorded outside its root (direct
                // ingests) are as trusted as the source.
                allow_outside: true,
            },
        )?;
        Ok(ids)
    }

    /// The source's definitions of the types of `datasets`, each checked against
    /// this repository's: missing here is an error unless `register`, a different
    /// definition always is.
    fn checked_types(
        &self,
        source: &Repo,
        datasets: &[&DatasetRef],
        register: bool,
    ) -> Result<BTreeMap<String, DatasetType>, RepoError> {
        let names: BTreeSet<&str> = datasets.iter().map(|d| d.dataset_type.as_str()).collect();
        let mut types = BTreeMap::new();
        for name in names {
            let theirs = source.dataset_type(name)?;
            match self.dataset_type(name) {
                Ok(ours) => {
                    let dims = |t: &DatasetType| {
                        t.dimensions
                            .names()
                            .map(str::to_owned)
                            .collect::<BTreeSet<_>>()
                    };
                    if dims(&ours) != dims(&theirs)
                        || ours.storage_class != theirs.storage_class
                        || ours.is_calibration != theirs.is_calibration
                    {
                        return Err(RepoError::Invalid(format!(
                            "dataset type {name} differs between the repositories: {} in the source, {} in the destination",
                            describe(&theirs),
                            describe(&ours)
                        )));
                    }
                }
                Err(_) if register => {}
                Err(_) => {
                    return Err(RepoError::Invalid(format!(
                        "dataset type {name} is not registered in the destination (use --register-dataset-types)"
                    )))
                }
            }
            types.insert(name.to_owned(), theirs);
        }
        Ok(types)
    }
}

/// A dataset type's definition in a message.
fn describe(t: &DatasetType) -> String {
    let dims: Vec<&str> = t.dimensions.names().collect();
    format!(
        "({}; {}{})",
        dims.join(", "),
        t.storage_class,
        if t.is_calibration {
            "; calibration"
        } else {
            ""
        }
    )
}

/// The ids of `datasets` the destination already holds, each checked to be the same
/// dataset (type, RUN and data ID).
fn already_here(dest: &Repo, datasets: &[DatasetRef]) -> Result<HashSet<Uuid>, RepoError> {
    let mut present = HashSet::new();
    let by_id: HashMap<Uuid, &DatasetRef> = datasets.iter().map(|d| (d.id, d)).collect();
    let ids: Vec<Uuid> = by_id.keys().copied().collect();
    let mut conn = dest.registry.db.conn()?;
    for (_, ours) in existing_datasets(&mut conn, &ids)? {
        let theirs = by_id[&ours.id];
        if ours.dataset_type != theirs.dataset_type
            || ours.run != theirs.run
            || ours.data_id != theirs.data_id
        {
            return Err(RepoError::Invalid(format!(
                "dataset {} is already in the destination as a different dataset ({} in RUN {})",
                ours.id, ours.dataset_type, ours.run
            )));
        }
        present.insert(ours.id);
    }
    Ok(present)
}

/// The dimension records the data IDs of `datasets` point at, in the source, as the
/// reference's transfer gathers them: for each data ID, the record of every element
/// whose dimensions it holds (its required and implied dimensions, and joins such as
/// `visit_detector_region`); then the records those bring ("populated by": a visit's
/// `visit_definition` and `visit_system_membership` rows) with what their own data
/// IDs hold (the exposures of those definitions); each once.
fn needed_records(
    source: &Repo,
    types: &BTreeMap<String, DatasetType>,
    datasets: &[&DatasetRef],
) -> Result<Vec<Entry>, RepoError> {
    let universe = source.registry.universe.clone();
    let mut conn = source.registry.db.conn()?;
    let mut gathered = Gathered::new(RecordCache::new(universe.clone()));
    let mut reach: HashMap<&str, Vec<String>> = HashMap::new();
    for (name, t) in types {
        reach.insert(name.as_str(), gathered.reach(&mut conn, &t.dimensions)?);
    }
    for d in datasets {
        let t = &types[&d.dataset_type];
        gathered.add(
            &t.dimensions.required,
            &d.data_id,
            &reach[d.dataset_type.as_str()],
        )?;
    }
    let primary: BTreeSet<String> = gathered.records.keys().cloned().collect();
    for p in universe.table_elements() {
        let Some(by) = p.populated_by.as_deref() else {
            continue;
        };
        if !primary.contains(by) || primary.contains(&p.name) {
            continue;
        }
        // The populating records' keys, as data-ID values.
        let (names, columns) = valet_registry::schema::dimension_reference(&universe, by)?;
        let wanted: HashSet<String> = gathered.records[by]
            .iter()
            .map(|r| record_key(r, &columns))
            .collect();
        let group = universe
            .group(&universe.required_of(&p.name)?)
            .map_err(valet_registry::RegistryError::from)?;
        let reach_p = gathered.reach(&mut conn, &group)?;
        let (_, records) = query_records(&mut conn, &universe, &p.name, None)?;
        for r in records
            .iter()
            .filter(|r| wanted.contains(&record_key(r, &names)))
        {
            let data_id: DataId = group
                .required
                .iter()
                .map(|d| (d.clone(), r.get(d).cloned().unwrap_or(Value::Null)))
                .collect();
            gathered.add(&group.required, &data_id, &reach_p)?;
        }
    }
    Ok(gathered.into_entries(&universe))
}

/// Dimension records gathered from data IDs, each once, by element.
struct Gathered {
    cache: RecordCache,
    positions: HashMap<String, BTreeSet<usize>>,
    records: HashMap<String, Vec<Record>>,
}

impl Gathered {
    fn new(cache: RecordCache) -> Gathered {
        Gathered {
            cache,
            positions: HashMap::new(),
            records: HashMap::new(),
        }
    }

    /// The elements data IDs of `group` reach (those whose dimensions they all
    /// hold), loaded into the cache.
    fn reach(
        &mut self,
        conn: &mut valet_registry::Conn,
        group: &valet_config::DimensionGroup,
    ) -> Result<Vec<String>, RepoError> {
        let universe = self.cache.universe().clone();
        let held: BTreeSet<&str> = group.names().collect();
        let mut elements = Vec::new();
        for e in universe.table_elements() {
            if universe
                .required_of(&e.name)?
                .iter()
                .all(|d| held.contains(d.as_str()))
            {
                elements.push(e.name.clone());
            }
        }
        self.cache.load_for(conn, &elements)?;
        Ok(elements)
    }

    /// The records of `elements` that a data ID (of these required dimensions)
    /// points at.
    fn add(
        &mut self,
        required: &[String],
        data_id: &DataId,
        elements: &[String],
    ) -> Result<(), RepoError> {
        let expanded = self.cache.expand(required, data_id)?;
        for element in elements {
            let Some(pos) = self.cache.position(element, &expanded.data_id) else {
                continue;
            };
            if self
                .positions
                .entry(element.clone())
                .or_default()
                .insert(pos)
            {
                if let Some(r) = self.cache.get(element, &expanded.data_id) {
                    self.records
                        .entry(element.clone())
                        .or_default()
                        .push(r.clone());
                }
            }
        }
        Ok(())
    }

    /// The records as export entries, elements in universe order.
    fn into_entries(mut self, universe: &valet_config::Universe) -> Vec<Entry> {
        universe
            .table_elements()
            .filter_map(|e| {
                let records = self.records.remove(&e.name)?;
                Some(Entry::Dimension {
                    element: e.name.clone(),
                    records,
                })
            })
            .collect()
    }
}
