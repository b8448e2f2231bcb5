//! `ingest-raws`: raw files become exposure, day_obs and group records, `raw`
//! datasets (one per detector HDU, all pointing at their file) and stored files, in
//! one transaction, the way [`Repo::ingest_files`] stores files.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use uuid::Uuid;
use valet_config::InstrumentDefinition;
use valet_datastore::TransferMode;
use valet_registry::artifacts::insert_artifacts;
use valet_registry::collections::{find_collection, register_collection};
use valet_registry::dataset_types::{find_dataset_type, register_dataset_type};
use valet_registry::datasets::insert_datasets;
use valet_registry::dimensions::{sync_records, SyncOutcome};
use valet_registry::ids::dataset_id;
use valet_registry::schema::element_columns;
use valet_registry::{
    CollectionType, Conn, DataId, IdGenerationMode, NewDataset, Record, RegistryError, Value,
};

use super::translate::{day_obs_timespan, raw_headers, recognises, translate, ObservationInfo};
use crate::datastore::{Datastore, WriteLog};
use crate::expand::RecordCache;
use crate::repo::io_err;
use crate::transfers::import::ProgressFn;
use crate::{Repo, RepoError};
use valet_config::repo_config::TemplateSpec;

/// The dataset type raws are ingested as.
pub const RAW: &str = "raw";
/// Which files in a directory are raws, unless told otherwise (the reference's
/// default, which also takes `.fits.fz` and `.fits.gz`).
pub const DEFAULT_REGEX: &str = r"\.fit[s]?\b";

/// How [`Repo::ingest_raws`] ingests.
#[derive(Clone)]
pub struct IngestRawsOptions {
    /// The RUN for every raw; by default `<instrument>/raw/all`.
    pub run: Option<String>,
    /// How files go into the datastore (default `auto`).
    pub transfer: TransferMode,
    /// Threads reading headers; 0 means one per core.
    pub threads: usize,
    /// Which files of a directory to take (default [`DEFAULT_REGEX`]); files named
    /// directly are always taken.
    pub regex: Option<String>,
    /// Stop at the first file that cannot be read or translated, writing nothing.
    pub fail_fast: bool,
    /// Progress reports (files read, of all), for a progress bar.
    pub progress: Option<ProgressFn>,
    /// Record each file's checksum (its size is always recorded); off, files are
    /// not read again to store them (`--no-track-file-attrs`).
    pub track_file_attrs: bool,
}

impl Default for IngestRawsOptions {
    fn default() -> Self {
        IngestRawsOptions {
            run: None,
            transfer: TransferMode::Auto,
            threads: 0,
            regex: None,
            fail_fast: false,
            progress: None,
            track_file_attrs: true,
        }
    }
}

/// What [`Repo::ingest_raws`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestRawsSummary {
    /// Files found.
    pub files: usize,
    /// Files ingested now.
    pub ingested_files: usize,
    /// Raws (datasets) ingested now.
    pub raws: usize,
    /// Exposure records inserted now.
    pub exposures: usize,
    /// Files whose raws were all ingested before, left alone.
    pub skipped: usize,
    /// Files that could not be read or translated: the file and why.
    pub failed: Vec<(String, String)>,
    /// The RUNs written to.
    pub runs: Vec<String>,
}

/// One file's raws, as its headers describe them.
#[derive(Debug, Clone)]
struct FileRaws {
    path: PathBuf,
    instrument: String,
    raws: Vec<ObservationInfo>,
}

/// The files PATHs stand for: files as they are, directories walked (in name order)
/// for files whose name matches `regex`.
pub fn find_raw_files(paths: &[PathBuf], regex: &str) -> Result<Vec<PathBuf>, RepoError> {
    let re = regex::Regex::new(regex)
        .map_err(|e| RepoError::Invalid(format!("--regex {regex:?}: {e}")))?;
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(io_err(p))?;
        if meta.is_dir() {
            walk(p, &re, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, re: &regex::Regex, out: &mut Vec<PathBuf>) -> Result<(), RepoError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .map(|e| e.map(|e| e.path()).map_err(io_err(dir)))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, re, out)?;
        } else if p
            .file_name()
            .is_some_and(|n| re.is_match(&n.to_string_lossy()))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Read one file's headers and translate its raws.
fn read_file(path: &Path, defs: &[InstrumentDefinition]) -> Result<FileRaws, String> {
    let hdus = valet_fits::read_headers(path).map_err(|e| e.without_file())?;
    let primary = &hdus.first().ok_or("no HDU")?.header;
    let def = defs
        .iter()
        .find(|d| recognises(d, primary))
        .ok_or_else(|| {
            format!(
                "no registered instrument recognises its header (registered: {})",
                if defs.is_empty() {
                    "none".to_owned()
                } else {
                    defs.iter()
                        .map(|d| d.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )
        })?;
    let headers = raw_headers(def, &hdus);
    if headers.is_empty() {
        return Err(format!("no HDU holds a {} raw", def.name));
    }
    let mut raws = Vec::with_capacity(headers.len());
    for (i, h) in headers {
        let info = translate(def, &h).map_err(|e| format!("HDU {i}: {e}"))?;
        if !def
            .physical_filters
            .iter()
            .any(|f| f.name == info.physical_filter)
        {
            return Err(format!(
                "HDU {i}: physical filter {:?} is not one of {}'s",
                info.physical_filter, def.name
            ));
        }
        raws.push(info);
    }
    Ok(FileRaws {
        path: path.to_owned(),
        instrument: def.name.clone(),
        raws,
    })
}

/// Read and translate files on `threads` threads; results in file order.
fn read_all(
    files: &[PathBuf],
    defs: &[InstrumentDefinition],
    threads: usize,
    progress: Option<&ProgressFn>,
) -> Vec<Result<FileRaws, String>> {
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    }
    .min(files.len().max(1));
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let mut results: Vec<(usize, Result<FileRaws, String>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = files.get(i) else { break };
                        mine.push((i, read_file(path, defs)));
                        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                        if let Some(p) = progress {
                            p(n as u64, files.len() as u64);
                        }
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| {
                w.join()
                    .unwrap_or_else(|_| vec![(usize::MAX, Err("a reader thread failed".into()))])
            })
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// The exposure, day_obs and group records of an observation, with only the columns
/// the repository's universe has.
fn observation_records(
    repo: &Repo,
    def: &InstrumentDefinition,
    o: &ObservationInfo,
) -> Result<[(&'static str, Record); 3], RepoError> {
    let universe = &repo.registry.universe;
    let inst = || Value::Text(o.instrument.clone());
    let text = |s: &Option<String>| s.clone().map_or(Value::Null, Value::Text);
    let float = |x: Option<f64>| x.map_or(Value::Null, Value::Float);
    let int = |x: Option<i64>| x.map_or(Value::Null, Value::Int);
    let exposure = Record::from([
        ("instrument".to_owned(), inst()),
        ("id".to_owned(), Value::Int(o.exposure_id)),
        ("obs_id".to_owned(), Value::Text(o.observation_id.clone())),
        (
            "physical_filter".to_owned(),
            Value::Text(o.physical_filter.clone()),
        ),
        ("group".to_owned(), Value::Text(o.group.clone())),
        ("day_obs".to_owned(), Value::Int(o.observing_day)),
        ("exposure_time".to_owned(), Value::Float(o.exposure_time)),
        ("dark_time".to_owned(), float(o.dark_time)),
        ("observation_type".to_owned(), text(&o.observation_type)),
        ("observation_reason".to_owned(), text(&o.observation_reason)),
        ("seq_num".to_owned(), int(o.observation_counter)),
        ("seq_start".to_owned(), int(o.observation_counter)),
        ("seq_end".to_owned(), int(o.observation_counter)),
        ("target_name".to_owned(), text(&o.object)),
        ("science_program".to_owned(), text(&o.science_program)),
        ("tracking_ra".to_owned(), float(o.tracking_ra)),
        ("tracking_dec".to_owned(), float(o.tracking_dec)),
        ("sky_angle".to_owned(), float(o.boresight_rotation_angle)),
        ("azimuth".to_owned(), float(o.azimuth)),
        ("zenith_angle".to_owned(), float(o.zenith_angle)),
        (
            "has_simulated".to_owned(),
            Value::Bool(o.has_simulated_content),
        ),
        (
            "can_see_sky".to_owned(),
            o.can_see_sky.map_or(Value::Null, Value::Bool),
        ),
        ("timespan_begin".to_owned(), Value::Int(o.datetime_begin)),
        ("timespan_end".to_owned(), Value::Int(o.datetime_end)),
    ]);
    let (day_begin, day_end) = day_obs_timespan(o.observing_day, def.day_obs_offset);
    let day_obs = Record::from([
        ("instrument".to_owned(), inst()),
        ("id".to_owned(), Value::Int(o.observing_day)),
        ("timespan_begin".to_owned(), Value::Int(day_begin)),
        ("timespan_end".to_owned(), Value::Int(day_end)),
    ]);
    let group = Record::from([
        ("instrument".to_owned(), inst()),
        ("name".to_owned(), Value::Text(o.group.clone())),
    ]);
    let mut out = [
        ("day_obs", day_obs),
        ("group", group),
        ("exposure", exposure),
    ];
    for (element, record) in out.iter_mut() {
        let e = universe.get(element)?;
        let columns = element_columns(universe, e)?;
        record.retain(|k, _| columns.iter().any(|c| c == k));
    }
    Ok(out)
}

/// Deterministic raw ids (`DATAID_TYPE_RUN`) that a registry already holds.
fn existing_ids(conn: &mut Conn, ids: &[Uuid]) -> Result<HashSet<Uuid>, RegistryError> {
    let mut found = HashSet::new();
    for chunk in ids.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let params: Vec<Value> = chunk.iter().map(|u| Value::Uuid(*u)).collect();
        for row in conn.query(
            &format!("SELECT id FROM dataset WHERE id IN ({marks})"),
            &params,
        )? {
            if let Some(Value::Uuid(u)) = row.into_iter().next() {
                found.insert(u);
            }
        }
    }
    Ok(found)
}

/// A file to store and the ids of its raws.
struct Planned<'a> {
    file: &'a FileRaws,
    run: String,
    ids: Vec<Uuid>,
}

impl Repo {
    /// The datastore raws go into: the repository's, with each instrument
    /// definition's `raw_template` where `valet.yaml` sets none for that instrument.
    fn raw_datastore(&self, defs: &[InstrumentDefinition]) -> Result<Datastore, RepoError> {
        let mut templates = self.config.templates.clone();
        for d in defs {
            let Some(t) = &d.raw_template else { continue };
            let section = templates
                .entry(format!("instrument<{}>", d.name))
                .or_insert_with(|| TemplateSpec::PerInstrument(Default::default()));
            if let TemplateSpec::PerInstrument(map) = section {
                map.entry(RAW.to_owned()).or_insert_with(|| t.clone());
            }
        }
        Ok(Datastore::new(
            self.config.datastore_path(&self.root),
            &templates,
        )?)
    }

    /// Ingest raw files (the reference's `ingest-raws`). Headers are read on
    /// `threads` threads; a file whose header no registered instrument recognises or
    /// translates is reported in the summary and skipped (or, with `fail_fast`, fails
    /// the ingest before anything is written). Then, in one transaction: the `raw`
    /// dataset type (registered if missing), the RUNs, the day_obs, group and
    /// exposure records (identical existing ones kept; different ones a conflict
    /// naming both), the datasets with deterministic ids (`DATAID_TYPE_RUN`), and
    /// the files. Raws ingested before are skipped, so ingesting the same files again
    /// changes nothing.
    pub fn ingest_raws(
        &self,
        paths: &[PathBuf],
        options: &IngestRawsOptions,
    ) -> Result<IngestRawsSummary, RepoError> {
        let files = find_raw_files(paths, options.regex.as_deref().unwrap_or(DEFAULT_REGEX))?;
        let defs: Vec<InstrumentDefinition> = self
            .instrument_definitions()?
            .into_iter()
            .filter(|d| d.translator.is_some())
            .collect();
        let mut summary = IngestRawsSummary {
            files: files.len(),
            ..Default::default()
        };
        let mut read = Vec::with_capacity(files.len());
        for (path, result) in files.iter().zip(read_all(
            &files,
            &defs,
            options.threads,
            options.progress.as_ref(),
        )) {
            match result {
                Ok(f) => read.push(f),
                Err(reason) if options.fail_fast => {
                    return Err(RepoError::Invalid(format!("{}: {reason}", path.display())))
                }
                Err(reason) => summary.failed.push((path.display().to_string(), reason)),
            }
        }
        if read.is_empty() {
            return Ok(summary);
        }
        let def_of = |name: &str| defs.iter().find(|d| d.name == name);
        let run_of = |f: &FileRaws| {
            options
                .run
                .clone()
                .unwrap_or_else(|| format!("{}/raw/all", f.instrument))
        };
        let plan: Vec<Planned> = read
            .iter()
            .map(|f| {
                let run = run_of(f);
                let ids = f
                    .raws
                    .iter()
                    .map(|o| {
                        dataset_id(
                            IdGenerationMode::DataIdTypeRun,
                            RAW,
                            &run,
                            &[
                                ("instrument", o.instrument.clone()),
                                ("detector", o.detector.to_string()),
                                ("exposure", o.exposure_id.to_string()),
                            ],
                        )
                    })
                    .collect();
                Planned { file: f, run, ids }
            })
            .collect();
        // One record per exposure (the first raw's), day and group.
        let mut records: BTreeMap<&str, Vec<Record>> = BTreeMap::new();
        let mut seen = HashSet::new();
        for f in &read {
            let Some(def) = def_of(&f.instrument) else {
                continue;
            };
            for o in &f.raws {
                for (element, record) in observation_records(self, def, o)? {
                    let key = format!(
                        "{element}:{:?}",
                        (record.get("id"), record.get("name"), &o.instrument)
                    );
                    if seen.insert(key) {
                        records.entry(element).or_default().push(record);
                    }
                }
            }
        }
        let mut store = self.raw_datastore(&defs)?;
        if !options.track_file_attrs {
            store = store.without_checksums();
        }
        let mut log = WriteLog::begin(Some(&store), None)?;
        let result = self.registry.db.transaction(|conn| {
            log.undo();
            let universe = self.registry.universe.clone();
            let mut s = summary.clone();
            let t = match find_dataset_type(conn, RAW)? {
                Some(t) => t,
                None => {
                    let dims = ["instrument", "detector", "exposure"].map(str::to_owned);
                    register_dataset_type(conn, &universe, RAW, "Exposure", &dims, false)?.0
                }
            };
            for element in ["day_obs", "group", "exposure"] {
                let Some(recs) = records.get(element) else {
                    continue;
                };
                let outcomes = sync_records(conn, &universe, element, recs, false)?;
                if element == "exposure" {
                    s.exposures = outcomes
                        .iter()
                        .filter(|o| **o == SyncOutcome::Inserted)
                        .count();
                }
            }
            let all_ids: Vec<Uuid> = plan.iter().flat_map(|p| p.ids.iter().copied()).collect();
            let existing = existing_ids(conn, &all_ids)?;
            let mut by_run: BTreeMap<&str, Vec<(&Planned, Vec<NewDataset>)>> = BTreeMap::new();
            let mut planned_ids: BTreeMap<Uuid, &Path> = BTreeMap::new();
            for p in &plan {
                if let Some(first) = p.ids.iter().find_map(|u| planned_ids.get(u)) {
                    s.failed.push((
                        p.file.path.display().to_string(),
                        format!("it holds the same raws as {}", first.display()),
                    ));
                    continue;
                }
                planned_ids.extend(p.ids.iter().map(|u| (*u, p.file.path.as_path())));
                let have = p.ids.iter().filter(|u| existing.contains(u)).count();
                if have == p.ids.len() {
                    s.skipped += 1;
                    continue;
                }
                if have > 0 {
                    s.failed.push((
                        p.file.path.display().to_string(),
                        format!("{have} of its {} raws are already ingested", p.ids.len()),
                    ));
                    continue;
                }
                let items = p
                    .file
                    .raws
                    .iter()
                    .zip(&p.ids)
                    .map(|(o, id)| NewDataset {
                        id: Some(*id),
                        data_id: DataId::from([
                            ("instrument".to_owned(), Value::Text(o.instrument.clone())),
                            ("detector".to_owned(), Value::Int(o.detector)),
                            ("exposure".to_owned(), Value::Int(o.exposure_id)),
                        ]),
                    })
                    .collect();
                by_run.entry(&p.run).or_default().push((p, items));
            }
            let mut cache = RecordCache::new(universe.clone());
            let dims: Vec<String> = t.dimensions.names().map(str::to_owned).collect();
            for (run, planned) in &by_run {
                if find_collection(conn, run)?.is_none() {
                    register_collection(conn, run, CollectionType::Run, None)?;
                }
                let items: Vec<NewDataset> = planned
                    .iter()
                    .flat_map(|(_, i)| i.iter().cloned())
                    .collect();
                let refs = insert_datasets(
                    conn,
                    &universe,
                    &t,
                    run,
                    &items,
                    IdGenerationMode::DataIdTypeRun,
                )?;
                s.raws += refs.len();
                cache.load_for(conn, &dims)?;
                let mut artifacts = Vec::with_capacity(planned.len());
                for (p, items) in planned {
                    let expanded = cache.expand(&t.dimensions.required, &items[0].data_id)?;
                    artifacts.extend(store.store_file(
                        &universe,
                        &t,
                        run,
                        &p.ids,
                        &expanded,
                        &p.file.path,
                        options.transfer,
                        None,
                        &mut log,
                    )?);
                    s.ingested_files += 1;
                }
                insert_artifacts(conn, &artifacts)?;
                s.runs.push((*run).to_owned());
            }
            Ok::<_, RepoError>(s)
        });
        crate::datastore::finish_write(self, log, result.is_err());
        result
    }
}
