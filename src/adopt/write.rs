//! The write side of an adoption: everything the plan selects, streamed from the
//! source into valet's bulk writers inside the transaction that creates the
//! repository, in the order references need (types, collections, chains, dimension
//! records, datasets with their files, TAGGED memberships, validity ranges).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use base64::Engine;
use uuid::Uuid;
use valet_collections::calibration::certify;
use valet_collections::chains::adopt_chain;
use valet_collections::tagged::associate;
use valet_datastore::TransferMode;
use valet_registry::artifacts::{insert_artifacts, ArtifactRecord};
use valet_registry::collections::register_collection;
use valet_registry::dataset_types::register_dataset_type;
use valet_registry::datasets::insert_datasets;
use valet_registry::dimensions::insert_records;
use valet_registry::schema::element_columns;
use valet_registry::{
    CollectionType, DataId, DatasetType, IdGenerationMode, NewDataset, Record, Timespan, Value,
};

use super::catalog::{sql_list, Catalog, SourceType};
use super::source::{dataset_id, literal, quote, Source};
use crate::datastore::{Datastore, WriteLog};
use crate::expand::RecordCache;
use crate::repo::Filling;
use crate::transfers::import::Progress;
use crate::transfers::ImportSummary;
use crate::RepoError;

/// Rows written at once: large enough for multi-row inserts to pay, small enough to
/// keep memory flat whatever the repository's size.
const BATCH: usize = 10_000;

/// The reference's stored bounds of an unbounded timespan (its `TimeConverter`'s
/// `min_nsec` and `max_nsec`: 1970 and 2100, TAI).
const REF_MIN_NSEC: i64 = 0;
const REF_MAX_NSEC: i64 = 4_102_444_800_000_000_000;

/// The component value of a record that is the whole dataset.
pub(crate) const WHOLE: &str = "__NULL_STRING__";

/// What to adopt, decided before anything is written.
pub(crate) struct Plan {
    /// Dataset types to adopt.
    pub types: Vec<SourceType>,
    /// Collections selected (with what their chains reach), by source id.
    pub collections: BTreeSet<i64>,
    /// True when nothing was restricted by `-c`: every dataset is adopted.
    pub everything: bool,
    /// The file datastore's records table, if the source has one.
    pub records_table: Option<String>,
    /// Where relative datastore paths are found.
    pub datastore_root: PathBuf,
    /// How files come into valet.
    pub transfer: TransferMode,
}

/// The state one attempt of the fill carries.
pub(crate) struct Fill<'a> {
    /// The source registry.
    pub source: &'a mut Source,
    /// Its small tables.
    pub catalog: &'a Catalog,
    /// What to adopt.
    pub plan: &'a Plan,
    /// The file side, for transfers other than `direct`.
    pub log: &'a mut WriteLog,
    /// Progress reports.
    pub progress: &'a mut Progress,
}

/// A timespan bound as valet keeps it: the reference's unbounded ends are `None`.
fn bound(v: &Value, unbounded: i64) -> Option<i64> {
    v.as_i64().filter(|x| *x != unbounded)
}

impl Fill<'_> {
    /// Write everything the plan selects into the repository being created.
    pub fn run(&mut self, f: &mut Filling<'_>) -> Result<ImportSummary, RepoError> {
        let mut summary = ImportSummary::default();
        let types = self.register_types(f, &mut summary)?;
        let datasets_from = self.dataset_filters(&types)?;
        self.register_collections(f, &datasets_from, &mut summary)?;
        self.insert_records(f, &mut summary)?;
        for (st, vt) in &types {
            let filter = datasets_from.sql(self.source, st);
            self.insert_datasets(f, st, vt, &filter, &mut summary)?;
        }
        for (st, _) in &types {
            self.insert_memberships(f, st, &mut summary)?;
        }
        Ok(summary)
    }

    fn register_types(
        &mut self,
        f: &mut Filling<'_>,
        summary: &mut ImportSummary,
    ) -> Result<Vec<(SourceType, DatasetType)>, RepoError> {
        let mut out = Vec::new();
        for t in &self.plan.types {
            let (vt, _) = register_dataset_type(
                f.conn,
                f.universe,
                &t.name,
                &t.storage_class,
                &t.dimensions,
                t.calibs_table.is_some(),
            )
            .map_err(|e| RepoError::Invalid(format!("dataset type {:?}: {e}", t.name)))?;
            out.push((t.clone(), vt));
        }
        summary.dataset_types = out.len();
        Ok(out)
    }

    /// Which datasets of each type are adopted, and the RUNs they need beyond the
    /// selected collections (those of datasets reached only through a TAGGED or
    /// CALIBRATION collection).
    fn dataset_filters(
        &mut self,
        types: &[(SourceType, DatasetType)],
    ) -> Result<DatasetFilter, RepoError> {
        let c = self.catalog;
        let sel = &self.plan.collections;
        let mut filter = DatasetFilter {
            everything: self.plan.everything,
            runs: c.id_list(sel, CollectionType::Run),
            tagged: c.id_list(sel, CollectionType::Tagged),
            calibrations: c.id_list(sel, CollectionType::Calibration),
            extra_runs: BTreeSet::new(),
        };
        if filter.everything {
            return Ok(filter);
        }
        for (t, _) in types {
            let sql = format!(
                "SELECT DISTINCT d.run_id FROM {} d WHERE d.dataset_type_id = {}{}",
                self.source.table("dataset"),
                t.id,
                filter.sql(self.source, t)
            );
            for r in self.source.all(&sql)? {
                if let Some(id) = r[0].as_i64() {
                    filter.extra_runs.insert(id);
                }
            }
        }
        Ok(filter)
    }

    fn register_collections(
        &mut self,
        f: &mut Filling<'_>,
        filter: &DatasetFilter,
        summary: &mut ImportSummary,
    ) -> Result<(), RepoError> {
        let c = self.catalog;
        let ids: BTreeSet<i64> = self
            .plan
            .collections
            .iter()
            .chain(filter.extra_runs.iter())
            .copied()
            .collect();
        for id in &ids {
            let col = &c.collections[id];
            if col.kind != CollectionType::Chained {
                register_collection(f.conn, &col.name, col.kind, col.doc.as_deref())
                    .map_err(|e| RepoError::Invalid(format!("collection {:?}: {e}", col.name)))?;
            }
        }
        for id in c.chains_in_order(&ids) {
            let col = &c.collections[&id];
            let children: Vec<String> = col
                .children
                .iter()
                .map(|k| c.collections[k].name.clone())
                .collect();
            // As the source has it, shared chains listing `u/…` collections included.
            adopt_chain(f.conn, &col.name, &children, col.doc.as_deref())
                .map_err(|e| RepoError::Invalid(format!("chain {:?}: {e}", col.name)))?;
        }
        summary.collections = ids.len();
        Ok(())
    }

    /// Every dimension record, element by element in universe order (references
    /// first), in batches.
    fn insert_records(
        &mut self,
        f: &mut Filling<'_>,
        summary: &mut ImportSummary,
    ) -> Result<(), RepoError> {
        let universe = f.universe.clone();
        for e in &universe.elements {
            if !e.has_table() {
                continue;
            }
            if !self.source.has_table(&e.name)? {
                return Err(RepoError::Invalid(format!(
                    "the Butler registry has no {} table, which its own universe defines",
                    e.name
                )));
            }
            let columns = element_columns(&universe, e)?;
            let [begin, end] = self.source.timespan_bounds("timespan");
            let select: Vec<String> = columns
                .iter()
                .map(|c| match c.as_str() {
                    "timespan_begin" => begin.clone(),
                    "timespan_end" => end.clone(),
                    other => quote(other),
                })
                .collect();
            let sql = format!(
                "SELECT {} FROM {}",
                select.join(", "),
                self.source.table(&e.name)
            );
            // The reference keeps regions and hashes as base64 text.
            let base64_columns: Vec<bool> = columns
                .iter()
                .map(|c| {
                    c == "region"
                        || e.keys.iter().chain(&e.metadata).any(|m| {
                            m.name == *c && matches!(m.ty, valet_config::ColumnType::Hash(_))
                        })
                })
                .collect();
            let mut batch: Vec<Record> = Vec::with_capacity(BATCH);
            let conn = &mut *f.conn;
            let progress = &mut *self.progress;
            let mut write = |batch: &mut Vec<Record>| -> Result<(), RepoError> {
                summary.dimension_records += insert_records(conn, &universe, &e.name, batch, false)
                    .map_err(|x| RepoError::Invalid(format!("{} records: {x}", e.name)))?;
                progress.advance(batch.len() as u64);
                batch.clear();
                Ok(())
            };
            self.source.each(&sql, |row| {
                let mut r = Record::new();
                for ((c, v), b64) in columns.iter().zip(row).zip(&base64_columns) {
                    let v = match (c.as_str(), v) {
                        ("timespan_begin", v) => bound(&v, REF_MIN_NSEC).into(),
                        ("timespan_end", v) => bound(&v, REF_MAX_NSEC).into(),
                        (_, Value::Text(t)) if *b64 => Value::Bytes(
                            base64::engine::general_purpose::STANDARD
                                .decode(t.trim())
                                .map_err(|_| {
                                    RepoError::Invalid(format!(
                                        "{} record field {c:?} of the Butler registry is not base64",
                                        e.name
                                    ))
                                })?,
                        ),
                        (_, v) => v,
                    };
                    r.insert(c.clone(), v);
                }
                batch.push(r);
                if batch.len() >= BATCH {
                    write(&mut batch)?;
                }
                Ok(())
            })?;
            if !batch.is_empty() {
                write(&mut batch)?;
            }
        }
        Ok(())
    }

    /// The datasets of one type, RUN by RUN, with their files.
    fn insert_datasets(
        &mut self,
        f: &mut Filling<'_>,
        st: &SourceType,
        vt: &DatasetType,
        filter: &str,
        summary: &mut ImportSummary,
    ) -> Result<(), RepoError> {
        let dims: Vec<String> = st
            .dimensions
            .iter()
            .map(|d| format!("t.{}", quote(d)))
            .collect();
        let (file_cols, file_join) = match &self.plan.records_table {
            Some(table) => (
                ", r.path, r.formatter, r.storage_class, r.checksum, r.file_size".to_owned(),
                format!(
                    " LEFT JOIN {} r ON r.dataset_id = d.id AND r.component = {}",
                    self.source.table(table),
                    literal(WHOLE)
                ),
            ),
            None => (String::new(), String::new()),
        };
        let sql = format!(
            "SELECT d.id, d.run_id{}{file_cols} FROM {} d JOIN {} t ON t.dataset_id = d.id AND t.collection_id = d.run_id{file_join} WHERE d.dataset_type_id = {}{filter} ORDER BY d.run_id",
            dims.iter().map(|d| format!(", {d}")).collect::<String>(),
            self.source.table("dataset"),
            self.source.table(&st.tags_table),
            st.id,
        );
        let n = st.dimensions.len();
        let store = match self.plan.transfer {
            TransferMode::Direct => None,
            _ => Some(Datastore::new(
                f.config.datastore_path(f.root),
                &f.config.templates,
            )?),
        };
        let mut batch = DatasetBatch {
            run: None,
            items: Vec::with_capacity(BATCH),
            files: Vec::with_capacity(BATCH),
        };
        let catalog = self.catalog;
        let plan = self.plan;
        let mut writer = BatchWriter {
            f,
            vt,
            plan,
            store: store.as_ref(),
            log: &mut *self.log,
            progress: &mut *self.progress,
            summary,
            cache: None,
        };
        self.source.each(&sql, |row| {
            let id = dataset_id(&row[0])?;
            let run = row[1].as_i64().and_then(|r| catalog.collections.get(&r));
            let run = run.map(|c| c.name.clone()).ok_or_else(|| {
                RepoError::Invalid(format!("dataset {id} of the Butler registry has no RUN"))
            })?;
            if batch.run.as_deref() != Some(run.as_str()) || batch.items.len() >= BATCH {
                writer.write(&mut batch)?;
                batch.run = Some(run);
            }
            let data_id: DataId = st
                .dimensions
                .iter()
                .cloned()
                .zip(row[2..2 + n].iter().cloned())
                .collect();
            batch.items.push(NewDataset {
                id: Some(id),
                data_id,
            });
            if row.len() > 2 + n && !row[2 + n].is_null() {
                let v = &row[2 + n..];
                batch.files.push(SourceFile {
                    id,
                    path: v[0].as_str().unwrap_or_default().to_owned(),
                    formatter: v[1].as_str().map(str::to_owned),
                    storage_class: v[2].as_str().map(str::to_owned),
                    checksum: v[3].as_str().map(str::to_owned),
                    file_size: v[4].as_i64(),
                });
            }
            Ok(())
        })?;
        writer.write(&mut batch)
    }

    /// TAGGED memberships and validity ranges of one type in the selected collections.
    fn insert_memberships(
        &mut self,
        f: &mut Filling<'_>,
        st: &SourceType,
        summary: &mut ImportSummary,
    ) -> Result<(), RepoError> {
        let c = self.catalog;
        let tagged = c.id_list(&self.plan.collections, CollectionType::Tagged);
        if !tagged.is_empty() {
            let sql = format!(
                "SELECT collection_id, dataset_id FROM {} WHERE dataset_type_id = {} AND collection_id IN {} ORDER BY collection_id",
                self.source.table(&st.tags_table),
                st.id,
                sql_list(&tagged)
            );
            let mut current: Option<i64> = None;
            let mut ids: Vec<Uuid> = Vec::new();
            let mut flush = |current: Option<i64>, ids: &mut Vec<Uuid>| -> Result<(), RepoError> {
                if let (Some(coll), false) = (current, ids.is_empty()) {
                    let name = &c.collections[&coll].name;
                    summary.associations += associate(f.conn, f.universe, name, ids)
                        .map_err(|e| RepoError::Invalid(format!("members of {name:?}: {e}")))?;
                }
                ids.clear();
                Ok(())
            };
            self.source.each(&sql, |row| {
                let coll = row[0].as_i64();
                if coll != current || ids.len() >= BATCH {
                    flush(current, &mut ids)?;
                    current = coll;
                }
                ids.push(dataset_id(&row[1])?);
                Ok(())
            })?;
            flush(current, &mut ids)?;
        }
        let calibrations = c.id_list(&self.plan.collections, CollectionType::Calibration);
        let Some(calibs) = &st.calibs_table else {
            return Ok(());
        };
        if calibrations.is_empty() {
            return Ok(());
        }
        let [begin, end] = self.source.timespan_bounds("timespan");
        let sql = format!(
            "SELECT collection_id, dataset_id, {begin}, {end} FROM {} WHERE dataset_type_id = {} AND collection_id IN {} ORDER BY collection_id, 3, 4",
            self.source.table(calibs),
            st.id,
            sql_list(&calibrations)
        );
        type Key = (i64, Option<i64>, Option<i64>);
        let mut current: Option<Key> = None;
        let mut ids: Vec<Uuid> = Vec::new();
        let mut flush = |current: Option<Key>, ids: &mut Vec<Uuid>| -> Result<(), RepoError> {
            if let (Some((coll, b, e)), false) = (current, ids.is_empty()) {
                let name = &c.collections[&coll].name;
                summary.validity_ranges +=
                    certify(f.conn, f.universe, name, ids, Timespan::new(b, e)).map_err(|x| {
                        RepoError::Invalid(format!("validity ranges of {name:?}: {x}"))
                    })?;
            }
            ids.clear();
            Ok(())
        };
        self.source.each(&sql, |row| {
            let key = (
                row[0].as_i64().unwrap_or_default(),
                bound(&row[2], REF_MIN_NSEC),
                bound(&row[3], REF_MAX_NSEC),
            );
            if Some(key) != current || ids.len() >= BATCH {
                flush(current, &mut ids)?;
                current = Some(key);
            }
            ids.push(dataset_id(&row[1])?);
            Ok(())
        })?;
        flush(current, &mut ids)
    }
}

/// The `WHERE` conditions that select the datasets of a type.
pub(crate) struct DatasetFilter {
    everything: bool,
    runs: Vec<i64>,
    tagged: Vec<i64>,
    calibrations: Vec<i64>,
    /// RUNs of datasets reached only through TAGGED or CALIBRATION collections.
    extra_runs: BTreeSet<i64>,
}

impl DatasetFilter {
    /// The conditions for type `t` (its membership tables are its own).
    fn sql(&self, source: &Source, t: &SourceType) -> String {
        if self.everything {
            return String::new();
        }
        let table = |name: &str| source.table(name);
        let mut any = vec![format!("d.run_id IN {}", sql_list(&self.runs))];
        if !self.tagged.is_empty() {
            any.push(format!(
                "d.id IN (SELECT dataset_id FROM {} WHERE collection_id IN {})",
                table(&t.tags_table),
                sql_list(&self.tagged)
            ));
        }
        if let (Some(calibs), false) = (&t.calibs_table, self.calibrations.is_empty()) {
            any.push(format!(
                "d.id IN (SELECT dataset_id FROM {} WHERE collection_id IN {})",
                table(calibs),
                sql_list(&self.calibrations)
            ));
        }
        format!(" AND ({})", any.join(" OR "))
    }
}

/// One file record of the source.
struct SourceFile {
    id: Uuid,
    path: String,
    formatter: Option<String>,
    storage_class: Option<String>,
    checksum: Option<String>,
    file_size: Option<i64>,
}

/// Datasets of one RUN waiting to be written.
struct DatasetBatch {
    run: Option<String>,
    items: Vec<NewDataset>,
    files: Vec<SourceFile>,
}

/// Writes dataset batches of one type, and their files.
struct BatchWriter<'a, 'b> {
    f: &'a mut Filling<'b>,
    vt: &'a DatasetType,
    plan: &'a Plan,
    store: Option<&'a Datastore>,
    log: &'a mut WriteLog,
    progress: &'a mut Progress,
    summary: &'a mut ImportSummary,
    cache: Option<RecordCache>,
}

impl BatchWriter<'_, '_> {
    fn write(&mut self, batch: &mut DatasetBatch) -> Result<(), RepoError> {
        let Some(run) = batch.run.as_deref() else {
            return Ok(());
        };
        if batch.items.is_empty() {
            return Ok(());
        }
        let what = |e: &dyn std::fmt::Display| {
            RepoError::Invalid(format!("{} datasets in run {run:?}: {e}", self.vt.name))
        };
        let conn = &mut *self.f.conn;
        let universe = self.f.universe;
        insert_datasets(
            conn,
            universe,
            self.vt,
            run,
            &batch.items,
            IdGenerationMode::Unique,
        )
        .map_err(|e| what(&e))?;
        self.summary.datasets += batch.items.len();
        self.progress.advance(batch.items.len() as u64);
        let mut artifacts = Vec::with_capacity(batch.files.len());
        match self.store {
            None => {
                for file in &batch.files {
                    artifacts.push(ArtifactRecord {
                        dataset_id: file.id,
                        path: source_path(&self.plan.datastore_root, &file.path)
                            .map_err(|e| what(&e))?
                            .display()
                            .to_string(),
                        formatter: file.formatter.clone(),
                        storage_class: file.storage_class.clone(),
                        checksum: file.checksum.clone(),
                        file_size: file.file_size,
                    });
                }
            }
            Some(store) => {
                let t = self.vt;
                let cache = self
                    .cache
                    .get_or_insert_with(|| RecordCache::new(universe.clone()));
                let dims: Vec<String> = t.dimensions.names().map(str::to_owned).collect();
                cache.load_for(conn, &dims).map_err(|e| what(&e))?;
                let data_ids: std::collections::HashMap<Uuid, &DataId> = batch
                    .items
                    .iter()
                    .filter_map(|d| Some((d.id?, &d.data_id)))
                    .collect();
                for file in &batch.files {
                    let source =
                        source_path(&self.plan.datastore_root, &file.path).map_err(|e| what(&e))?;
                    let data_id = data_ids.get(&file.id).ok_or_else(|| {
                        what(&format!("file of dataset {} without its dataset", file.id))
                    })?;
                    let expanded = cache
                        .expand(&t.dimensions.required, data_id)
                        .map_err(|e| what(&e))?;
                    artifacts.extend(
                        store
                            .store_file(
                                universe,
                                t,
                                run,
                                &[file.id],
                                &expanded,
                                &source,
                                self.plan.transfer,
                                file.formatter.clone(),
                                self.log,
                            )
                            .map_err(|e| what(&e))?,
                    );
                }
            }
        }
        self.summary.files += artifacts.len();
        insert_artifacts(conn, &artifacts).map_err(|e| what(&e))?;
        batch.items.clear();
        batch.files.clear();
        Ok(())
    }
}

/// Where a datastore record's file is: relative paths under the datastore root,
/// `file://` URLs as their paths; other schemes are not local files.
fn source_path(root: &Path, path: &str) -> Result<PathBuf, String> {
    if let Some(p) = path.strip_prefix("file://") {
        return Ok(PathBuf::from(p));
    }
    if path.contains("://") {
        return Err(format!(
            "file {path} is not local; valet's datastore is POSIX"
        ));
    }
    Ok(root.join(path))
}
