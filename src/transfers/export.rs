//! Building an export of (part of) a repository: the collections asked for (chains
//! with everything they reach), the datasets they hold, every dimension record, the
//! TAGGED memberships and CALIBRATION ranges of the exported datasets.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use uuid::Uuid;
use valet_collections::calibration::validity_ranges;
use valet_collections::chains::children_of;
use valet_collections::{query_collections, CollectionQuery, DatasetQuery};
use valet_registry::artifacts::{get_artifact, ArtifactRecord};
use valet_registry::collections::get_collection;
use valet_registry::dataset_types::all_dataset_types;
use valet_registry::dimensions::query_records;
use valet_registry::glob::{glob_to_regex, is_glob};
use valet_registry::{CollectionRecord, CollectionType, DataId, Timespan};

use super::model::{Association, CollectionEntry, DatasetFile, Entry, ExportFile};
use crate::{Repo, RepoError};

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Collection names or globs; empty means every collection.
    pub collections: Vec<String>,
    /// Dataset type names or globs; empty means every type.
    pub dataset_types: Vec<String>,
    /// A `--where` expression restricting the datasets.
    pub where_: String,
    /// Only these datasets (with the collections and types above), when given: what
    /// the reference's `export().saveDatasets(refs)` writes.
    pub datasets: Option<HashSet<Uuid>>,
}

/// Build the export model.
pub fn build_export(repo: &Repo, options: &ExportOptions) -> Result<ExportFile, RepoError> {
    let universe = repo.registry.universe.clone();
    let mut conn = repo.registry.db.conn()?;
    let mut collections: Vec<CollectionRecord> = query_collections(
        &mut conn,
        &CollectionQuery {
            patterns: options.collections.clone(),
            flatten_chains: true,
            include_chains: Some(true),
            ..Default::default()
        },
    )?;
    let leaves: Vec<String> = collections
        .iter()
        .filter(|c| c.kind != CollectionType::Chained)
        .map(|c| c.name.clone())
        .collect();

    let type_patterns = name_patterns(&options.dataset_types)?;
    let types: Vec<_> = all_dataset_types(&mut conn)?
        .into_iter()
        .filter(|t| type_patterns.is_empty() || type_patterns.iter().any(|p| p.is_match(&t.name)))
        .collect();

    // Datasets held by the exported collections, grouped by (type, run).
    let mut by_run: BTreeMap<(String, String), Vec<(Uuid, DataId)>> = BTreeMap::new();
    let mut exported: HashSet<Uuid> = HashSet::new();
    if !leaves.is_empty() {
        for t in &types {
            repo.resolver.query_datasets(
                &mut conn,
                &universe,
                &DatasetQuery {
                    dataset_type: t.name.clone(),
                    collections: leaves.clone(),
                    find_first: false,
                    where_: options.where_.clone(),
                    ..Default::default()
                },
                &mut |f| {
                    let wanted = options
                        .datasets
                        .as_ref()
                        .is_none_or(|ids| ids.contains(&f.dataset.id));
                    if wanted && exported.insert(f.dataset.id) {
                        by_run
                            .entry((t.name.clone(), f.dataset.run.clone()))
                            .or_default()
                            .push((f.dataset.id, f.dataset.data_id));
                    }
                    Ok(true)
                },
            )?;
        }
    }
    // The RUNs of exported datasets are exported too.
    let mut names: HashSet<String> = collections.iter().map(|c| c.name.clone()).collect();
    for (_, run) in by_run.keys() {
        if names.insert(run.clone()) {
            collections.push(get_collection(&mut conn, run)?);
        }
    }

    let mut entries = Vec::new();
    for e in universe.table_elements() {
        let (_, records) = query_records(&mut conn, &universe, &e.name, None)?;
        if !records.is_empty() {
            entries.push(Entry::Dimension {
                element: e.name.clone(),
                records,
            });
        }
    }
    let mut non_chains: Vec<&CollectionRecord> = collections
        .iter()
        .filter(|c| c.kind != CollectionType::Chained)
        .collect();
    non_chains.sort_by(|a, b| a.name.cmp(&b.name));
    for c in non_chains {
        entries.push(Entry::Collection(CollectionEntry {
            name: c.name.clone(),
            kind: c.kind,
            doc: c.doc.clone(),
            children: vec![],
        }));
    }
    // Chains after their children (the reference's importer requires it): a
    // depth-first post-order over the chains, starting from them sorted by name.
    let mut chains: Vec<&CollectionRecord> = collections
        .iter()
        .filter(|c| c.kind == CollectionType::Chained)
        .collect();
    chains.sort_by(|a, b| a.name.cmp(&b.name));
    let mut children: BTreeMap<String, Vec<CollectionRecord>> = BTreeMap::new();
    for c in &chains {
        children.insert(c.name.clone(), children_of(&mut conn, c.id)?);
    }
    fn post_order(
        name: &str,
        children: &BTreeMap<String, Vec<CollectionRecord>>,
        done: &mut HashSet<String>,
        out: &mut Vec<String>,
    ) {
        if !done.insert(name.to_owned()) {
            return;
        }
        for k in children.get(name).into_iter().flatten() {
            if children.contains_key(&k.name) {
                post_order(&k.name, children, done, out);
            }
        }
        out.push(name.to_owned());
    }
    let mut order = Vec::new();
    let mut done = HashSet::new();
    for c in &chains {
        post_order(&c.name, &children, &mut done, &mut order);
    }
    for name in order {
        let c = chains
            .iter()
            .find(|c| c.name == name)
            .expect("every chain is listed");
        entries.push(Entry::Collection(CollectionEntry {
            name: c.name.clone(),
            kind: c.kind,
            doc: c.doc.clone(),
            children: children[&name].iter().map(|k| k.name.clone()).collect(),
        }));
    }
    for t in &types {
        let dims: Vec<String> = t.dimensions.names().map(str::to_owned).collect();
        entries.push(Entry::DatasetType {
            name: t.name.clone(),
            dimensions: dims,
            storage_class: t.storage_class.clone(),
            is_calibration: t.is_calibration,
        });
    }
    for ((dataset_type, run), items) in by_run {
        let files = dataset_files(items, |id| Ok(get_artifact(&mut conn, id)?))?;
        entries.push(Entry::Datasets {
            dataset_type,
            run,
            files,
        });
    }
    for c in &collections {
        match c.kind {
            CollectionType::Tagged => {
                let mut members = Vec::new();
                for t in &types {
                    members.extend(
                        t.storage()
                            .members(&mut conn, c.id)?
                            .into_iter()
                            .map(|(id, _)| id)
                            .filter(|u| exported.contains(u)),
                    );
                }
                if !members.is_empty() {
                    entries.push(Entry::Associations {
                        collection: c.name.clone(),
                        association: Association::Tagged(members),
                    });
                }
            }
            CollectionType::Calibration => {
                let mut ranges: BTreeMap<(i64, i64), Vec<Uuid>> = BTreeMap::new();
                for t in types.iter().filter(|t| t.is_calibration) {
                    for r in validity_ranges(&mut conn, &c.name, &t.name)? {
                        if exported.contains(&r.dataset_id) {
                            ranges
                                .entry((r.timespan.begin_or_min(), r.timespan.end_or_max()))
                                .or_default()
                                .push(r.dataset_id);
                        }
                    }
                }
                if !ranges.is_empty() {
                    entries.push(Entry::Associations {
                        collection: c.name.clone(),
                        association: Association::Calibration(
                            ranges
                                .into_iter()
                                .map(|((b, e), ids)| (Timespan::from_stored(b, e), ids))
                                .collect(),
                        ),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(ExportFile {
        version: "1.0.2".into(),
        universe_version: universe.version,
        universe_namespace: universe.namespace.clone(),
        entries: entries.into_iter().map(|e| (0, e)).collect(),
    })
}

/// The files of datasets as an export lists them: datasets stored in one file are one
/// record, as the reference writes them; a dataset without a file has no path.
/// `artifact` gives a dataset's file record (read from the registry, or already read).
pub(crate) fn dataset_files(
    items: Vec<(Uuid, DataId)>,
    mut artifact: impl FnMut(Uuid) -> Result<Option<ArtifactRecord>, RepoError>,
) -> Result<Vec<DatasetFile>, RepoError> {
    let mut files: Vec<DatasetFile> = Vec::new();
    let mut by_path: BTreeMap<String, usize> = BTreeMap::new();
    for (id, data_id) in items {
        match artifact(id)? {
            Some(a) => match by_path.get(&a.path) {
                Some(&i) => {
                    files[i].ids.push(id);
                    files[i].data_ids.push(data_id);
                }
                None => {
                    by_path.insert(a.path.clone(), files.len());
                    files.push(DatasetFile {
                        ids: vec![id],
                        data_ids: vec![data_id],
                        path: Some(a.path),
                        formatter: a.formatter,
                    });
                }
            },
            None => files.push(DatasetFile {
                ids: vec![id],
                data_ids: vec![data_id],
                path: None,
                formatter: None,
            }),
        }
    }
    Ok(files)
}

/// Names or globs as whole-name regexes (a plain name matches only itself).
pub(crate) fn name_patterns(patterns: &[String]) -> Result<Vec<regex::Regex>, RepoError> {
    Ok(patterns
        .iter()
        .map(|p| {
            if is_glob(p) {
                glob_to_regex(p)
            } else {
                glob_to_regex(&regex_escape_glob(p))
            }
        })
        .collect::<Result<Vec<_>, _>>()?)
}

/// Escape glob characters so a plain name matches only itself.
fn regex_escape_glob(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '*' | '?' | '[' | ']' => format!("[{c}]"),
            other => other.to_string(),
        })
        .collect()
}

/// Copy (or link) the files an export lists from the repository's datastore into the
/// export directory, at the same relative paths, through `transfer` (so a failure can
/// take them back). Files recorded with absolute paths (`direct` transfers) are left
/// where they are. Returns the number transferred.
fn transfer_export_files(
    repo: &Repo,
    model: &ExportFile,
    transfer: &mut valet_datastore::Transfer,
    mode: valet_datastore::TransferMode,
) -> Result<usize, RepoError> {
    let store = repo.datastore()?;
    let mut n = 0;
    for (_, e) in &model.entries {
        let Entry::Datasets { files, .. } = e else {
            continue;
        };
        for f in files {
            let Some(path) = &f.path else { continue };
            if std::path::Path::new(path).is_absolute() {
                continue;
            }
            transfer.file(&store.location(path), path, mode, false)?;
            n += 1;
        }
    }
    Ok(n)
}

/// Copy (or link) the files an export lists into `directory` (see
/// [`Repo::export`]); on failure nothing it copied is left.
pub fn export_files(
    repo: &Repo,
    model: &ExportFile,
    directory: &Path,
    mode: valet_datastore::TransferMode,
) -> Result<usize, RepoError> {
    let mode = export_mode(mode)?;
    let mut transfer = valet_datastore::Transfer::creating(directory)?;
    match transfer_export_files(repo, model, &mut transfer, mode) {
        Ok(n) => {
            transfer.finish();
            Ok(n)
        }
        Err(e) => {
            transfer.undo();
            Err(e)
        }
    }
}

/// The mode files leave the repository in (see
/// [`valet_datastore::TransferMode::leaving_repository`]); an export may record
/// absolute paths (`direct`).
fn export_mode(
    mode: valet_datastore::TransferMode,
) -> Result<valet_datastore::TransferMode, RepoError> {
    mode.leaving_repository("an export", true)
        .map_err(RepoError::Invalid)
}

/// What [`Repo::export`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// The export file.
    pub export_file: PathBuf,
    /// Files transferred beside it.
    pub files: usize,
}

impl Repo {
    /// Write `export.yaml` for the collections and datasets `options` select into
    /// `directory` (created if missing), with their files when `transfer` is given.
    /// The destination must lie outside the repository; a failure leaves it as it was.
    pub fn export(
        &self,
        directory: &Path,
        options: &ExportOptions,
        transfer: Option<valet_datastore::TransferMode>,
    ) -> Result<ExportSummary, RepoError> {
        let dest_err = |e: std::io::Error| RepoError::Io {
            path: directory.display().to_string(),
            source: e,
        };
        let datastore_root = self.config.datastore_path(&self.root);
        for protected in [&self.root, &datastore_root] {
            valet_datastore::refuse_inside(directory, protected, "export").map_err(dest_err)?;
        }
        let transfer = transfer.map(export_mode).transpose()?;
        let model = build_export(self, options)?;
        let mut files = valet_datastore::Transfer::creating(directory)?;
        let written = (|| {
            let n = match transfer {
                Some(mode) => transfer_export_files(self, &model, &mut files, mode)?,
                None => 0,
            };
            let export_file = write_export_file(&model, files.root())?;
            Ok(ExportSummary {
                export_file,
                files: n,
            })
        })();
        match written {
            Ok(summary) => {
                files.finish();
                Ok(summary)
            }
            Err(e) => {
                files.undo();
                Err(e)
            }
        }
    }
}

/// Write `export.yaml` in `directory` under a staging name, then rename it into place,
/// so a failure leaves no partial file.
fn write_export_file(model: &ExportFile, directory: &Path) -> Result<PathBuf, RepoError> {
    let path = directory.join("export.yaml");
    let staging = directory.join(format!(
        "{}{}-export.yaml",
        valet_datastore::transfer::STAGING_PREFIX,
        std::process::id()
    ));
    let io_err = |p: &Path| {
        let p = p.display().to_string();
        move |e: std::io::Error| RepoError::Io { path: p, source: e }
    };
    let result = (|| {
        let file = std::fs::File::create(&staging).map_err(io_err(&staging))?;
        let mut out = std::io::BufWriter::new(file);
        crate::transfers::write_export(model, &mut out).map_err(io_err(&path))?;
        std::io::Write::flush(&mut out).map_err(io_err(&path))?;
        std::fs::rename(&staging, &path).map_err(io_err(&path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&staging);
    }
    result.map(|()| path)
}
