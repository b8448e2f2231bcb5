//! `retrieve-artifacts --zip`: the files of datasets in one zip, with the index the
//! reference's `butler ingest-zip` reads (`_butler_zip_index.json`: the datasets, their
//! types and dimension records, and which member holds which datasets).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value as Json};
use uuid::Uuid;
use valet_config::Element;
use valet_registry::artifacts::{get_artifact, ArtifactRecord};
use valet_registry::ids::DATASET_ID_NAMESPACE;
use valet_registry::{DataId, Record, Value};

use crate::queries::{compare_values, value_json, DatasetRow, QueryDatasetsOptions};
use crate::{Repo, RepoError};

/// The index's name, the zip's first member.
pub const ZIP_INDEX_NAME: &str = "_butler_zip_index.json";

/// One file in the zip and the datasets it holds.
struct Member {
    name: String,
    artifact: ArtifactRecord,
    ids: Vec<Uuid>,
}

impl Repo {
    /// Put the files of the datasets a query finds (sorted and cut as
    /// `query-datasets` sorts and cuts them) into one zip in `destination` (made if
    /// missing), named as the reference names it (a UUID5 of its member names), and
    /// return its path (`None` when no dataset has a file) and whether the limit cut
    /// the datasets. Nothing is left behind on failure; an existing zip of that name
    /// is replaced only with `clobber`.
    pub fn retrieve_artifacts_zip(
        &self,
        query: &QueryDatasetsOptions,
        destination: &Path,
        clobber: bool,
    ) -> Result<(Option<PathBuf>, bool), RepoError> {
        let store = self.datastore()?;
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| RepoError::Io { path, source }
        };
        let found = self.query_datasets(query)?;
        // The reference visits datasets by RUN, dataset type, then data ID.
        let mut rows: Vec<DatasetRow<'_>> = found.iter().collect();
        rows.sort_by(|a, b| {
            (a.run(), a.dataset_type())
                .cmp(&(b.run(), b.dataset_type()))
                .then_with(|| {
                    (0..a.columns().len())
                        .map(|i| {
                            compare_values(
                                a.value_at(i).unwrap_or(&Value::Null),
                                b.value_at(i).unwrap_or(&Value::Null),
                            )
                        })
                        .find(|o| o.is_ne())
                        .unwrap_or(std::cmp::Ordering::Equal)
                })
        });
        let members = self.zip_members(&rows)?;
        if members.is_empty() {
            return Ok((None, found.limited));
        }
        let index = self.zip_index(&rows, &members)?;
        valet_datastore::refuse_inside(destination, &store.root, "retrieve-artifacts --zip")
            .map_err(io(destination))?;
        std::fs::create_dir_all(destination).map_err(io(destination))?;
        let mut names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
        names.sort_unstable();
        let zip_name = format!(
            "{}.zip",
            Uuid::new_v5(&DATASET_ID_NAMESPACE, names.join(",").as_bytes())
        );
        let target = std::fs::canonicalize(destination)
            .map_err(io(destination))?
            .join(&zip_name);
        // Written beside its final name and renamed: a failure leaves nothing.
        let partial = tempfile::Builder::new()
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(destination)
            .map_err(io(destination))?;
        let file = partial.reopen().map_err(io(&target))?;
        write_zip(file, &index, &members, &|path| store.location(path)).map_err(|e| match e {
            ZipError::Io(path, source) => RepoError::Io {
                path: path.display().to_string(),
                source,
            },
            ZipError::Zip(e) => RepoError::Invalid(format!("writing {}: {e}", target.display())),
        })?;
        let kept = if clobber {
            partial.persist(&target).map_err(|e| e.error)
        } else {
            partial.persist_noclobber(&target).map_err(|e| e.error)
        };
        kept.map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => RepoError::Invalid(format!(
                "{} already exists (use --clobber to replace it)",
                target.display()
            )),
            _ => RepoError::Io {
                path: target.display().to_string(),
                source: e,
            },
        })?;
        Ok((Some(target), found.limited))
    }

    /// The files of these datasets as zip members named as the reference names them
    /// (the first eight characters of the first dataset's id, a dash, the file's name);
    /// datasets sharing a file share its member.
    fn zip_members(&self, rows: &[DatasetRow<'_>]) -> Result<Vec<Member>, RepoError> {
        let mut conn = self.registry.db.conn()?;
        let mut members: Vec<Member> = Vec::new();
        let mut by_path: HashMap<String, usize> = HashMap::new();
        let mut names: HashSet<String> = HashSet::new();
        for r in rows {
            // A dataset without a file (a registry-only import) has nothing to put in.
            let Some(artifact) = get_artifact(&mut conn, r.id())? else {
                continue;
            };
            if let Some(&i) = by_path.get(&artifact.path) {
                members[i].ids.push(r.id());
                continue;
            }
            let file_name = Path::new(&artifact.path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| {
                    RepoError::Invalid(format!(
                        "dataset {}: its file {} has no name",
                        r.id(),
                        artifact.path
                    ))
                })?;
            let name = format!("{}-{file_name}", &r.id().to_string()[..8]);
            if !names.insert(name.clone()) {
                return Err(RepoError::Invalid(format!(
                    "two files would both be {name} in the zip (dataset {})",
                    r.id()
                )));
            }
            by_path.insert(artifact.path.clone(), members.len());
            members.push(Member {
                name,
                artifact,
                ids: vec![r.id()],
            });
        }
        Ok(members)
    }

    /// The index of a zip of these datasets' files, as the reference writes it.
    fn zip_index(&self, rows: &[DatasetRow<'_>], members: &[Member]) -> Result<Json, RepoError> {
        let in_zip: HashSet<Uuid> = members.iter().flat_map(|m| m.ids.iter().copied()).collect();
        let rows: Vec<&DatasetRow<'_>> = rows.iter().filter(|r| in_zip.contains(&r.id())).collect();
        let mut dataset_types = Map::new();
        let mut compact_refs = Map::new();
        let mut data_ids: BTreeMap<&str, Vec<DataId>> = BTreeMap::new();
        for r in &rows {
            if !dataset_types.contains_key(r.dataset_type()) {
                let t = self.dataset_type(r.dataset_type())?;
                dataset_types.insert(
                    t.name.clone(),
                    json!({
                        "name": t.name,
                        "storageClass": t.storage_class,
                        "dimensions": t.dimensions.required,
                        "parentStorageClass": null,
                        "isCalibration": t.is_calibration,
                    }),
                );
            }
            let data_id: Map<String, Json> = r
                .columns()
                .iter()
                .enumerate()
                .filter_map(|(i, c)| Some((c.clone(), value_json(r.value_at(i)?))))
                .collect();
            compact_refs.insert(
                r.id().to_string(),
                json!({"dataset_type_name": r.dataset_type(), "run": r.run(), "data_id": data_id}),
            );
            data_ids
                .entry(r.dataset_type())
                .or_default()
                .push(r.data_id());
        }
        let artifact_map: Map<String, Json> = members
            .iter()
            .map(|m| {
                let a = &m.artifact;
                let ids: Vec<String> = m.ids.iter().map(Uuid::to_string).collect();
                let info = json!({
                    "formatter": a.formatter.clone().unwrap_or_default(),
                    "path": a.path,
                    "storage_class": a.storage_class.clone().unwrap_or_default(),
                    "component": null,
                    "checksum": a.checksum,
                    "file_size": a.file_size.unwrap_or(-1),
                });
                (m.name.clone(), json!({"info": info, "ids": ids}))
            })
            .collect();
        Ok(json!({
            "index_version": "V1",
            "refs": {
                "container_version": "V1",
                "universe_version": self.registry.universe.version,
                "universe_namespace": self.registry.universe.namespace,
                "dataset_types": dataset_types,
                "compact_refs": compact_refs,
                "dimension_records": self.zip_records(&data_ids)?,
            },
            "artifact_map": artifact_map,
        }))
    }

    /// The dimension records of these data IDs (by dataset type), each once, as the
    /// reference serializes them: by element, each record a list of its fields.
    fn zip_records(&self, data_ids: &BTreeMap<&str, Vec<DataId>>) -> Result<Json, RepoError> {
        let universe = &self.registry.universe;
        let mut out: BTreeMap<String, (HashSet<String>, Vec<Json>)> = BTreeMap::new();
        for (dataset_type, ids) in data_ids {
            let t = self.dataset_type(dataset_type)?;
            for expanded in self.expand_data_ids(&t.dimensions.required, ids)? {
                for (name, record) in &expanded.records {
                    let Some(element) = universe.element(name).filter(|e| !e.skypix) else {
                        continue;
                    };
                    let required = universe
                        .required_of(name)
                        .map_err(valet_registry::RegistryError::from)?;
                    let fields = reference_record(element, &required, record);
                    let (seen, list) = out.entry(name.clone()).or_default();
                    if seen.insert(fields.to_string()) {
                        list.push(fields);
                    }
                }
            }
        }
        Ok(Json::Object(
            out.into_iter()
                .map(|(name, (_, list))| (name, Json::Array(list)))
                .collect(),
        ))
    }
}

/// A record as the reference serializes it: the dimensions it requires (`required`,
/// in universe order, every one down the chain), its own key, the dimensions it implies
/// (by name), its other keys, its metadata, then its region and timespan when it has
/// them; regions as hex, timespans as `[begin, end]` in TAI nanoseconds.
fn reference_record(element: &Element, required: &[String], record: &Record) -> Json {
    let field = |name: &str| record.get(name).map_or(Json::Null, value_json);
    let mut implied = element.implies.clone();
    implied.sort();
    let mut fields: Vec<Json> = required
        .iter()
        .filter(|d| **d != element.name)
        .map(|d| field(d))
        .collect();
    fields.extend(element.keys.first().map(|k| field(&k.name)));
    fields.extend(implied.iter().map(|d| field(d)));
    fields.extend(element.keys.iter().skip(1).map(|k| field(&k.name)));
    fields.extend(element.metadata.iter().map(|m| field(&m.name)));
    if element.spatial {
        fields.push(field("region"));
    }
    if element.temporal {
        fields.push(
            match (record.get("timespan_begin"), record.get("timespan_end")) {
                (Some(Value::Int(b)), Some(Value::Int(e))) => json!([b, e]),
                _ => Json::Null,
            },
        );
    }
    Json::Array(fields)
}

enum ZipError {
    Io(PathBuf, std::io::Error),
    Zip(zip::result::ZipError),
}

impl From<zip::result::ZipError> for ZipError {
    fn from(e: zip::result::ZipError) -> ZipError {
        ZipError::Zip(e)
    }
}

/// Write the zip: the index first, compressed, then each member's file as it is
/// (stored), as the reference lays its zips out.
fn write_zip(
    file: File,
    index: &Json,
    members: &[Member],
    location: &dyn Fn(&str) -> PathBuf,
) -> Result<(), ZipError> {
    use zip::write::SimpleFileOptions;
    use zip::CompressionMethod;
    let mut zip = zip::ZipWriter::new(file);
    let large = SimpleFileOptions::default().large_file(true);
    zip.start_file(
        ZIP_INDEX_NAME,
        large.compression_method(CompressionMethod::Deflated),
    )?;
    let text = format!("{index}\n");
    zip.write_all(text.as_bytes())
        .map_err(|e| ZipError::Io(PathBuf::from(ZIP_INDEX_NAME), e))?;
    for m in members {
        let source = location(&m.artifact.path);
        let mut input = File::open(&source).map_err(|e| ZipError::Io(source.clone(), e))?;
        zip.start_file(&m.name, large.compression_method(CompressionMethod::Stored))?;
        std::io::copy(&mut input, &mut zip).map_err(|e| ZipError::Io(source.clone(), e))?;
    }
    let mut file = zip.finish()?;
    file.flush()
        .and_then(|_| file.sync_all())
        .map_err(|e| ZipError::Io(PathBuf::from(ZIP_INDEX_NAME), e))?;
    Ok(())
}
