//! Ingesting files (the reference's `ingest-files`) and the put/get API: new datasets
//! with their files, in one transaction; a failure leaves neither rows nor files.

use std::path::{Path, PathBuf};

use valet_datastore::{SourceCheck, SourceRule, TransferMode};
use valet_registry::artifacts::{get_artifact, insert_artifacts};
use valet_registry::collections::{find_collection, register_collection};
use valet_registry::datasets::insert_datasets;
use valet_registry::{CollectionType, DataId, DatasetRef, IdGenerationMode, NewDataset, Value};

use crate::datastore::WriteLog;
use crate::expand::RecordCache;
use crate::repo::io_err;
use crate::{Repo, RepoError};

/// The files an ingest table lists, with their data IDs: relative names under the
/// options' prefix (the working directory by default).
pub(crate) fn table_files(
    table: &Path,
    options: &IngestTableOptions,
) -> Result<Vec<FileToIngest>, RepoError> {
    let text = std::fs::read_to_string(table).map_err(io_err(table))?;
    let prefix = match &options.prefix {
        Some(p) => p.clone(),
        None => std::env::current_dir().map_err(io_err(Path::new(".")))?,
    };
    read_ingest_table(
        &text,
        &table.display().to_string(),
        &options.data_id,
        Some(&prefix),
        options.allow_outside,
    )
}

/// One file to ingest and the data ID of the dataset it holds.
#[derive(Debug, Clone)]
pub struct FileToIngest {
    /// The file.
    pub path: PathBuf,
    /// Its data ID.
    pub data_id: DataId,
    /// The dataset's id, when the caller has one already (a reference `DatasetRef`);
    /// made by the ingest's id generation mode otherwise.
    pub id: Option<uuid::Uuid>,
}

/// How [`Repo::ingest_table`] ingests the files a table lists.
#[derive(Debug, Clone)]
pub struct IngestTableOptions {
    /// Dataset type of the new datasets.
    pub dataset_type: String,
    /// RUN to put them in (registered if missing).
    pub run: String,
    /// Dimension values shared by every row.
    pub data_id: DataId,
    /// Directory that relative file names are under (default: the working
    /// directory, as the reference's `--prefix`).
    pub prefix: Option<PathBuf>,
    /// Let relative file names lead outside the prefix (`..`, symlinks).
    pub allow_outside: bool,
    /// How the files are put into the datastore.
    pub transfer: TransferMode,
    /// How dataset ids are made.
    pub id_generation: IdGenerationMode,
    /// The formatter recorded for the files (a Python class name), instead of the
    /// one the storage class implies.
    pub formatter: Option<String>,
    /// Record each file's checksum as well as its size (the reference's
    /// `--track-file-attrs`); without, files are not read again to store them.
    pub track_file_attrs: bool,
}

/// How [`Repo::ingest_files_as`] records the files it stores.
#[derive(Debug, Clone)]
struct FileRecords<'a> {
    formatter: Option<&'a str>,
    track_file_attrs: bool,
}

impl Default for FileRecords<'_> {
    /// The formatter the storage class implies; size and checksum recorded.
    fn default() -> Self {
        FileRecords {
            formatter: None,
            track_file_attrs: true,
        }
    }
}

impl Repo {
    /// Ingest the files an ingest table lists (see [`read_ingest_table`]) as new
    /// datasets, in one transaction.
    pub fn ingest_table(
        &self,
        table: &Path,
        options: &IngestTableOptions,
    ) -> Result<Vec<DatasetRef>, RepoError> {
        let files = table_files(table, options)?;
        self.ingest_listed(&files, options)
    }

    /// Ingest `files` as [`Repo::ingest_table`] ingests a table's (its table,
    /// prefix and shared data ID already applied).
    pub(crate) fn ingest_listed(
        &self,
        files: &[FileToIngest],
        options: &IngestTableOptions,
    ) -> Result<Vec<DatasetRef>, RepoError> {
        if let Some(f) = &options.formatter {
            check_formatter_name(f)?;
        }
        self.ingest_files_as(
            &options.dataset_type,
            &options.run,
            files,
            options.transfer,
            options.id_generation,
            FileRecords {
                formatter: options.formatter.as_deref(),
                track_file_attrs: options.track_file_attrs,
            },
        )
    }

    /// Ingest files as new datasets of one type in one RUN (registered if missing).
    pub fn ingest_files(
        &self,
        dataset_type: &str,
        run: &str,
        files: &[FileToIngest],
        mode: TransferMode,
        id_mode: IdGenerationMode,
    ) -> Result<Vec<DatasetRef>, RepoError> {
        self.ingest_files_as(
            dataset_type,
            run,
            files,
            mode,
            id_mode,
            FileRecords::default(),
        )
    }

    /// [`Repo::ingest_files`] (copying the files) with this formatter recorded for
    /// them (`None`: the one the storage class implies).
    pub(crate) fn ingest_files_with_formatter(
        &self,
        dataset_type: &str,
        run: &str,
        files: &[FileToIngest],
        formatter: Option<&str>,
    ) -> Result<Vec<DatasetRef>, RepoError> {
        self.ingest_files_as(
            dataset_type,
            run,
            files,
            TransferMode::Copy,
            IdGenerationMode::Unique,
            FileRecords {
                formatter,
                ..FileRecords::default()
            },
        )
    }

    fn ingest_files_as(
        &self,
        dataset_type: &str,
        run: &str,
        files: &[FileToIngest],
        mode: TransferMode,
        id_mode: IdGenerationMode,
        records: FileRecords<'_>,
    ) -> Result<Vec<DatasetRef>, RepoError> {
        let mut store = self.datastore()?;
        if !records.track_file_attrs {
            store = store.without_checksums();
        }
        let mut log = WriteLog::begin(Some(&store), None)?;
        let result = self.registry.db.transaction(|conn| {
            // A retried attempt first takes back the files of the failed one (see
            // `import_export`).
            log.undo();
            let universe = self.registry.universe.clone();
            let t = valet_registry::dataset_types::get_dataset_type(conn, dataset_type)?;
            if find_collection(conn, run)?.is_none() {
                register_collection(conn, run, CollectionType::Run, None)?;
            }
            let items: Vec<NewDataset> = files
                .iter()
                .map(|f| NewDataset {
                    id: f.id,
                    data_id: f.data_id.clone(),
                })
                .collect();
            let refs = insert_datasets(conn, &universe, &t, run, &items, id_mode)?;
            let mut cache = RecordCache::new(universe.clone());
            let dims: Vec<String> = t.dimensions.names().map(str::to_owned).collect();
            cache.load_for(conn, &dims)?;
            let mut artifacts = Vec::with_capacity(refs.len());
            for (f, r) in files.iter().zip(refs.iter()) {
                let expanded = cache.expand(&t.dimensions.required, &r.data_id)?;
                artifacts.extend(store.store_file(
                    &universe,
                    &t,
                    run,
                    &[r.id],
                    &expanded,
                    &f.path,
                    mode,
                    records.formatter.map(str::to_owned),
                    &mut log,
                )?);
            }

            insert_artifacts(conn, &artifacts)?;
            Ok::<_, RepoError>(refs)
        });
        crate::datastore::finish_write(self, log, result.is_err());
        result
    }

    /// Store bytes as a new dataset (the reference's `put`); `extension` names the
    /// file type (`json`, `fits`, …).
    pub fn put(
        &self,
        bytes: &[u8],
        dataset_type: &str,
        data_id: &DataId,
        run: &str,
        extension: &str,
    ) -> Result<DatasetRef, RepoError> {
        // Staged among valet's control files, which `check` never takes for orphans.
        let control = self.datastore()?.root.join(valet_datastore::CONTROL_DIR);
        std::fs::create_dir_all(&control).map_err(|e| RepoError::Io {
            path: control.display().to_string(),
            source: e,
        })?;
        let staging = tempfile::Builder::new()
            .suffix(&format!(".{extension}"))
            .tempfile_in(&control)
            .map_err(|e| RepoError::Invalid(format!("{}: {e}", control.display())))?;
        std::fs::write(staging.path(), bytes)
            .map_err(|e| RepoError::Invalid(format!("{}: {e}", staging.path().display())))?;
        let file = FileToIngest {
            path: staging.path().to_path_buf(),
            data_id: data_id.clone(),
            id: None,
        };
        let refs = self.ingest_files(
            dataset_type,
            run,
            &[file],
            TransferMode::Copy,
            IdGenerationMode::Unique,
        )?;
        refs.into_iter()
            .next()
            .ok_or_else(|| RepoError::Invalid("put stored nothing".into()))
    }

    /// The file of a stored dataset.
    pub fn get_path(&self, dataset: &DatasetRef) -> Result<PathBuf, RepoError> {
        let store = self.datastore()?;
        let mut conn = self.registry.db.conn()?;
        let a = get_artifact(&mut conn, dataset.id)?.ok_or_else(|| {
            RepoError::Invalid(format!(
                "dataset {} has no file in the datastore",
                dataset.id
            ))
        })?;
        Ok(store.location(&a.path))
    }
}

/// The header row of a table (CSV, or ECSV with `#` lines) and its data rows with
/// their line numbers (from 0), blank and `#` lines left out.
pub(crate) fn table_lines<'a>(
    text: &'a str,
    source: &str,
) -> Result<(&'a str, impl Iterator<Item = (usize, &'a str)>), RepoError> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'));
    let (_, header) = lines
        .next()
        .ok_or_else(|| RepoError::Invalid(format!("{source}: the table is empty")))?;
    Ok((header, lines))
}

/// Read an ingest table: CSV (or ECSV, whose `#` header lines are skipped) with a
/// header row; the first column is the file, the others dimension values. `fixed`
/// values apply to every row; relative files are taken under `prefix` and must stay
/// there (no `..` or symlink leading out) unless `allow_outside`. Absolute paths are
/// taken as the table names them.
pub fn read_ingest_table(
    text: &str,
    source: &str,
    fixed: &DataId,
    prefix: Option<&Path>,
    allow_outside: bool,
) -> Result<Vec<FileToIngest>, RepoError> {
    let base = prefix.unwrap_or(Path::new("."));
    let mut inside = (!allow_outside)
        .then(|| {
            SourceCheck::new(&SourceRule {
                base: base.to_path_buf(),
                allow_absolute: false,
            })
        })
        .transpose()?;
    let (header, lines) = table_lines(text, source)?;
    let split = |l: &str| -> Vec<String> {
        if l.contains(',') {
            l.split(',')
                .map(|s| s.trim().trim_matches('"').to_owned())
                .collect()
        } else {
            l.split_whitespace()
                .map(|s| s.trim_matches('"').to_owned())
                .collect()
        }
    };
    let columns = split(header);
    if columns.is_empty() {
        return Err(RepoError::Invalid(format!("{source}:1: no columns")));
    }
    let mut out = Vec::new();
    for (i, line) in lines {
        let cells = split(line);
        if cells.len() != columns.len() {
            return Err(RepoError::Invalid(format!(
                "{source}:{}: {} values for {} columns",
                i + 1,
                cells.len(),
                columns.len()
            )));
        }
        let mut data_id = fixed.clone();
        for (c, v) in columns.iter().zip(cells.iter()).skip(1) {
            let value = match v.parse::<i64>() {
                Ok(n) => Value::Int(n),
                Err(_) => Value::Text(v.clone()),
            };
            data_id.insert(c.clone(), value);
        }
        let file = cells[0].trim_start_matches("file://");
        let path = if Path::new(file).is_absolute() {
            PathBuf::from(file)
        } else {
            let joined = base.join(file);
            match &mut inside {
                Some(check) => check
                    .resolve(&joined)
                    .map_err(|e| RepoError::Invalid(format!("{source}:{}: {e}", i + 1)))?,
                None => joined,
            }
        };
        out.push(FileToIngest {
            path,
            data_id,
            id: None,
        });
    }
    Ok(out)
}

/// A formatter must be named as Python names a class: dotted identifiers.
fn check_formatter_name(name: &str) -> Result<(), RepoError> {
    let ok = name.contains('.')
        && name.split('.').all(|part| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_alphanumeric() || c == '_')
        });
    if ok {
        Ok(())
    } else {
        Err(RepoError::Invalid(format!(
            "--formatter {name:?} is not a Python class name (package.module.Class)"
        )))
    }
}
