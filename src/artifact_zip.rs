//! The reference's zip of dataset files, written (`retrieve-artifacts --zip`) and read
//! (`ingest-zip`): the files with an index, `_butler_zip_index.json`, that lists the
//! datasets, their types and dimension records, and which member holds which datasets.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value as Json};
use uuid::Uuid;
use valet_config::Element;
use valet_registry::artifacts::{get_artifact, ArtifactRecord};
use valet_registry::ids::DATASET_ID_NAMESPACE;
use valet_registry::{DataId, DatasetRef, DatasetType, Record, Value};

use crate::dataset_type_writes::DatasetTypeSpec;
use crate::dimension_writes::ExistingRecords;
use crate::ingest::FileToIngest;
use crate::queries::{compare_values, json_value, value_json, QueryDatasetsOptions};
use crate::retrieve::file_name_of;
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
        let found = self.query_datasets(query)?;
        Ok((
            self.write_zip_of(found.refs(), destination, clobber)?,
            found.limited,
        ))
    }

    /// [`Repo::retrieve_artifacts_zip`] of the datasets with these ids (the
    /// reference's `Butler.retrieve_artifacts_zip(refs, …)`); an unknown id is an
    /// error.
    pub fn retrieve_artifacts_zip_of(
        &self,
        ids: &[Uuid],
        destination: &Path,
        clobber: bool,
    ) -> Result<Option<PathBuf>, RepoError> {
        let refs = self
            .get_datasets(ids)?
            .into_iter()
            .map(|(_, d)| d)
            .collect();
        self.write_zip_of(refs, destination, clobber)
    }

    /// Write the zip of these datasets (see [`Repo::retrieve_artifacts_zip`]).
    fn write_zip_of(
        &self,
        mut refs: Vec<DatasetRef>,
        destination: &Path,
        clobber: bool,
    ) -> Result<Option<PathBuf>, RepoError> {
        let store = self.datastore()?;
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| RepoError::Io { path, source }
        };
        let mut types: BTreeMap<String, DatasetType> = BTreeMap::new();
        for r in &refs {
            if !types.contains_key(&r.dataset_type) {
                types.insert(r.dataset_type.clone(), self.dataset_type(&r.dataset_type)?);
            }
        }
        // The reference visits datasets by RUN, dataset type, then data ID.
        let required = |r: &DatasetRef| -> Vec<Value> {
            types[&r.dataset_type]
                .dimensions
                .required
                .iter()
                .map(|d| r.data_id.get(d).cloned().unwrap_or(Value::Null))
                .collect()
        };
        refs.sort_by_cached_key(|r| {
            (
                r.run.clone(),
                r.dataset_type.clone(),
                OrderedValues(required(r)),
            )
        });
        let members = self.zip_members(&refs)?;
        if members.is_empty() {
            return Ok(None);
        }
        let index = self.zip_index(&refs, &types, &members)?;
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
        Ok(Some(target))
    }

    /// The files of these datasets as zip members named as the reference names them
    /// (the first eight characters of the first dataset's id, a dash, the file's name);
    /// datasets sharing a file share its member.
    fn zip_members(&self, refs: &[DatasetRef]) -> Result<Vec<Member>, RepoError> {
        let mut conn = self.registry.db.conn()?;
        let mut members: Vec<Member> = Vec::new();
        let mut by_path: HashMap<String, usize> = HashMap::new();
        let mut names: HashSet<String> = HashSet::new();
        for r in refs {
            // A dataset without a file (a registry-only import) has nothing to put in.
            let Some(artifact) = get_artifact(&mut conn, r.id)? else {
                continue;
            };
            if let Some(&i) = by_path.get(&artifact.path) {
                members[i].ids.push(r.id);
                continue;
            }
            let name = format!(
                "{}-{}",
                &r.id.to_string()[..8],
                file_name_of(r.id, &artifact.path)?
            );
            if !names.insert(name.clone()) {
                return Err(RepoError::Invalid(format!(
                    "two files would both be {name} in the zip (dataset {})",
                    r.id
                )));
            }
            by_path.insert(artifact.path.clone(), members.len());
            members.push(Member {
                name,
                artifact,
                ids: vec![r.id],
            });
        }
        Ok(members)
    }

    /// The index of a zip of these datasets' files, as the reference writes it: each
    /// data ID is expanded once, for its implied values and its records.
    fn zip_index(
        &self,
        refs: &[DatasetRef],
        types: &BTreeMap<String, DatasetType>,
        members: &[Member],
    ) -> Result<Json, RepoError> {
        let universe = &self.registry.universe;
        let in_zip: HashSet<Uuid> = members.iter().flat_map(|m| m.ids.iter().copied()).collect();
        let mut dataset_types = Map::new();
        let mut compact_refs = Map::new();
        let mut records: BTreeMap<String, ElementRecords> = BTreeMap::new();
        for (name, t) in types {
            let of_type: Vec<&DatasetRef> = refs
                .iter()
                .filter(|r| r.dataset_type == *name && in_zip.contains(&r.id))
                .collect();
            if of_type.is_empty() {
                continue;
            }
            dataset_types.insert(
                name.clone(),
                json!({
                    "name": name,
                    "storageClass": t.storage_class,
                    "dimensions": t.dimensions.required,
                    "parentStorageClass": null,
                    "isCalibration": t.is_calibration,
                }),
            );
            let data_ids: Vec<DataId> = of_type.iter().map(|r| r.data_id.clone()).collect();
            let expanded = self.expand_data_ids(&t.dimensions.required, &data_ids)?;
            for (r, e) in of_type.iter().zip(expanded) {
                // Required dimensions, then implied ones by name, as the reference.
                let mut implied: Vec<&String> = e.dimensions[e.required..].iter().collect();
                implied.sort();
                let data_id: Map<String, Json> = t
                    .dimensions
                    .required
                    .iter()
                    .chain(implied)
                    .filter_map(|k| Some((k.clone(), value_json(e.data_id.get(k)?))))
                    .collect();
                compact_refs.insert(
                    r.id.to_string(),
                    json!({"dataset_type_name": name, "run": r.run, "data_id": data_id}),
                );
                for (element, record) in &e.records {
                    let Some(el) = universe.element(element).filter(|e| !e.skypix) else {
                        continue;
                    };
                    if !records.contains_key(element) {
                        let required = universe
                            .required_of(element)
                            .map_err(valet_registry::RegistryError::from)?;
                        let fields = reference_fields(el, &required);
                        records.insert(element.clone(), ElementRecords::new(fields));
                    }
                    if let Some(of_element) = records.get_mut(element) {
                        of_element.add(record);
                    }
                }
            }
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
        let dimension_records: Map<String, Json> = records
            .into_iter()
            .map(|(element, of_element)| (element, Json::Array(of_element.list)))
            .collect();
        Ok(json!({
            "index_version": "V1",
            "refs": {
                "container_version": "V1",
                "universe_version": universe.version,
                "universe_namespace": universe.namespace,
                "dataset_types": dataset_types,
                "compact_refs": compact_refs,
                "dimension_records": dimension_records,
            },
            "artifact_map": artifact_map,
        }))
    }
}

/// The records of one element in a zip's index, each once, in the element's field
/// layout.
struct ElementRecords {
    fields: Vec<RecordField>,
    seen: HashSet<String>,
    list: Vec<Json>,
}

impl ElementRecords {
    fn new(fields: Vec<RecordField>) -> ElementRecords {
        ElementRecords {
            fields,
            seen: HashSet::new(),
            list: Vec::new(),
        }
    }

    fn add(&mut self, record: &Record) {
        let serialized = reference_record(&self.fields, record);
        if self.seen.insert(serialized.to_string()) {
            self.list.push(serialized);
        }
    }
}

/// Values compared as the reference sorts them, for sorting by a data ID.
#[derive(PartialEq)]
struct OrderedValues(Vec<Value>);

impl Eq for OrderedValues {}

impl PartialOrd for OrderedValues {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedValues {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| compare_values(a, b))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    }
}

/// How [`Repo::ingest_zip`] takes a zip in.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct IngestZipOptions {
    /// Insert the dimension records the index carries (admins only; records already
    /// there are kept as they are), as the reference's `--transfer-dimensions`.
    pub transfer_dimensions: bool,
    /// Read and check the zip, and say what would be ingested, changing nothing.
    pub dry_run: bool,
}

/// What [`Repo::ingest_zip`] ingested (or, dry, would ingest).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IngestZipSummary {
    /// Datasets.
    pub datasets: usize,
    /// Files stored (one per dataset: datasets sharing a member each get a copy).
    pub files: usize,
    /// The RUNs they go into, by name.
    pub runs: Vec<String>,
}

/// One dataset the index lists, with the member holding its file.
struct ZipDataset {
    id: Uuid,
    dataset_type: String,
    run: String,
    data_id: DataId,
    member: String,
    formatter: Option<String>,
}

/// What a zip's index says, checked.
struct ZipContents {
    dataset_types: Vec<(String, DatasetTypeSpec)>,
    datasets: Vec<ZipDataset>,
    /// Serialized records by element.
    records: Vec<(String, Vec<Json>)>,
}

impl ZipContents {
    /// Read an index as the reference writes it (version V1), for this universe.
    fn parse(index: &Json, universe: &valet_config::Universe) -> Result<ZipContents, RepoError> {
        let bad = |what: String| RepoError::Invalid(format!("zip index: {what}"));
        let text = |v: &Json, what: &str| -> Result<String, RepoError> {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| bad(format!("{what} is not text")))
        };
        if index["index_version"] != "V1" || index["refs"]["container_version"] != "V1" {
            return Err(bad(format!(
                "version {} / {} is not V1 / V1",
                index["index_version"], index["refs"]["container_version"]
            )));
        }
        let refs = &index["refs"];
        if refs["universe_namespace"] != universe.namespace.as_str() {
            return Err(bad(format!(
                "its dimensions are {}'s, the repository's are {}'s",
                refs["universe_namespace"], universe.namespace
            )));
        }
        let mut dataset_types = Vec::new();
        let mut required: HashMap<String, Vec<String>> = HashMap::new();
        for (name, t) in refs["dataset_types"].as_object().into_iter().flatten() {
            let dimensions: Vec<String> = t["dimensions"]
                .as_array()
                .ok_or_else(|| bad(format!("dataset type {name} has no dimensions list")))?
                .iter()
                .map(|d| text(d, "a dimension"))
                .collect::<Result<_, _>>()?;
            required.insert(name.clone(), dimensions.clone());
            dataset_types.push((
                name.clone(),
                DatasetTypeSpec {
                    storage_class: text(&t["storageClass"], "a storage class")?,
                    dimensions,
                    is_calibration: t["isCalibration"].as_bool().unwrap_or(false),
                },
            ));
        }
        let mut datasets = Vec::new();
        for (member, entry) in index["artifact_map"].as_object().into_iter().flatten() {
            let info = &entry["info"];
            if !info["component"].is_null() {
                return Err(bad(format!(
                    "{member} holds one component of a disassembled dataset, which valet does not store"
                )));
            }
            for id in entry["ids"].as_array().into_iter().flatten() {
                let id = text(id, "a dataset id")?;
                let r = &refs["compact_refs"][id.as_str()];
                let dataset_type = text(&r["dataset_type_name"], "a dataset type name")?;
                let dims = required.get(&dataset_type).ok_or_else(|| {
                    bad(format!("dataset {id}'s type {dataset_type} is not listed"))
                })?;
                let data_id: DataId = dims
                    .iter()
                    .map(|d| {
                        let v = json_value(&r["data_id"][d.as_str()])
                            .filter(|v| !v.is_null())
                            .ok_or_else(|| {
                                bad(format!("dataset {id} has no {d} in its data ID"))
                            })?;
                        Ok((d.clone(), v))
                    })
                    .collect::<Result<_, RepoError>>()?;
                datasets.push(ZipDataset {
                    id: id.parse().map_err(|_| bad(format!("{id} is not a UUID")))?,
                    dataset_type,
                    run: text(&r["run"], "a RUN")?,
                    data_id,
                    member: member.clone(),
                    formatter: info["formatter"]
                        .as_str()
                        .filter(|f| !f.is_empty())
                        .map(str::to_owned),
                });
            }
        }
        let records = refs["dimension_records"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(element, list)| {
                let list = list
                    .as_array()
                    .ok_or_else(|| bad(format!("the {element} records are not a list")))?;
                Ok((element.clone(), list.clone()))
            })
            .collect::<Result<_, RepoError>>()?;
        Ok(ZipContents {
            dataset_types,
            datasets,
            records,
        })
    }
}

impl Repo {
    /// Ingest a zip `retrieve-artifacts --zip` wrote (valet's or the reference's):
    /// its datasets, with their ids, into their RUNs (registered if missing), their
    /// dataset types registered if missing (a different definition is refused), and,
    /// with `transfer_dimensions`, their dimension records. Each member is unpacked
    /// into the datastore under the file templates, as any ingested file is. All of it
    /// in one transaction: on failure nothing is left.
    pub fn ingest_zip(
        &self,
        zip_path: &Path,
        options: IngestZipOptions,
    ) -> Result<IngestZipSummary, RepoError> {
        let shown = zip_path.display().to_string();
        let io = |source| RepoError::Io {
            path: shown.clone(),
            source,
        };
        let not_zip = |e: zip::result::ZipError| RepoError::Invalid(format!("{shown}: {e}"));
        let mut archive =
            zip::ZipArchive::new(File::open(zip_path).map_err(io)?).map_err(not_zip)?;
        let index: Json = {
            let member = archive.by_name(ZIP_INDEX_NAME).map_err(|_| {
                RepoError::Invalid(format!(
                    "{shown} has no {ZIP_INDEX_NAME}: it is not a zip of datasets (retrieve-artifacts --zip)"
                ))
            })?;
            serde_json::from_reader(member)
                .map_err(|e| RepoError::Invalid(format!("{shown}: {ZIP_INDEX_NAME}: {e}")))?
        };
        let contents = ZipContents::parse(&index, &self.registry.universe)
            .map_err(|e| RepoError::Invalid(format!("{shown}: {e}")))?;
        let mut runs: Vec<String> = contents.datasets.iter().map(|d| d.run.clone()).collect();
        runs.sort();
        runs.dedup();
        let summary = IngestZipSummary {
            datasets: contents.datasets.len(),
            files: contents.datasets.len(),
            runs,
        };
        if options.dry_run {
            return Ok(summary);
        }
        // Members are unpacked first, outside the repository; the temporary copies go
        // when this returns.
        let unpacked = tempfile::tempdir().map_err(io)?;
        let mut members: HashMap<&str, PathBuf> = HashMap::new();
        for d in &contents.datasets {
            if members.contains_key(d.member.as_str()) {
                continue;
            }
            let mut member = archive.by_name(&d.member).map_err(|_| {
                RepoError::Invalid(format!(
                    "{shown}: member {} that the index lists is not in the zip",
                    d.member
                ))
            })?;
            let name = member
                .enclosed_name()
                .filter(|n| n.file_name().is_some())
                .ok_or_else(|| {
                    RepoError::Invalid(format!(
                        "{shown}: member {:?} is not a plain file name",
                        d.member
                    ))
                })?;
            let path = unpacked.path().join(format!(
                "{}-{}",
                members.len(),
                name.display().to_string().replace('/', "_")
            ));
            let mut out = File::create(&path).map_err(io)?;
            std::io::copy(&mut member, &mut out).map_err(io)?;
            members.insert(d.member.as_str(), path);
        }
        self.begin_transaction()?;
        let result = self.ingest_zip_contents(&contents, &members, options);
        let ended = self.end_transaction(result.is_ok());
        result?;
        ended?;
        Ok(summary)
    }

    /// The registry and datastore work of [`Repo::ingest_zip`], inside its transaction.
    fn ingest_zip_contents(
        &self,
        contents: &ZipContents,
        members: &HashMap<&str, PathBuf>,
        options: IngestZipOptions,
    ) -> Result<(), RepoError> {
        let universe = self.registry.universe.clone();
        if options.transfer_dimensions {
            // Elements in universe order: what a record points at goes in first.
            let mut records: Vec<&(String, Vec<Json>)> = contents
                .records
                .iter()
                .filter(|(e, _)| universe.element(e).is_some_and(|e| e.has_table()))
                .collect();
            records.sort_by_key(|(e, _)| universe.element(e).map_or(usize::MAX, |e| e.index));
            for (element, list) in records {
                let e = universe
                    .get(element)
                    .map_err(valet_registry::RegistryError::from)?;
                let required = universe
                    .required_of(element)
                    .map_err(valet_registry::RegistryError::from)?;
                let fields = reference_fields(e, &required);
                let parsed: Vec<Record> = list
                    .iter()
                    .map(|r| {
                        let values = r.as_array().map(Vec::as_slice).unwrap_or_default();
                        record_from_reference(element, &fields, values)
                    })
                    .collect::<Result<_, _>>()?;
                self.insert_dimension_records(element, &parsed, ExistingRecords::Skip)?;
            }
        }
        for (name, spec) in &contents.dataset_types {
            self.register_dataset_type(name, spec)?;
        }
        // One ingest per dataset type, RUN and formatter.
        let mut groups: BTreeMap<(&str, &str, Option<&str>), Vec<FileToIngest>> = BTreeMap::new();
        for d in &contents.datasets {
            groups
                .entry((&d.dataset_type, &d.run, d.formatter.as_deref()))
                .or_default()
                .push(FileToIngest {
                    path: members.get(d.member.as_str()).cloned().unwrap_or_default(),
                    data_id: d.data_id.clone(),
                    id: Some(d.id),
                });
        }
        for ((dataset_type, run, formatter), files) in groups {
            self.ingest_files_with_formatter(dataset_type, run, &files, formatter)?;
        }
        Ok(())
    }
}

/// A field of a record as the reference serializes it.
enum RecordField {
    /// A column of valet's record.
    Column(String),
    /// The region, as hex of its encoded bytes.
    Region,
    /// The timespan, as `[begin, end]` in TAI nanoseconds.
    Timespan,
}

/// The fields of an element's records in the reference's order: the dimensions it
/// requires (`required`, in universe order, every one down the chain), its own key,
/// the dimensions it implies (by name), its other keys, its metadata, then its region
/// and timespan when it has them.
fn reference_fields(element: &Element, required: &[String]) -> Vec<RecordField> {
    let mut implied = element.implies.clone();
    implied.sort();
    let mut columns: Vec<String> = required
        .iter()
        .filter(|d| **d != element.name)
        .cloned()
        .collect();
    columns.extend(element.keys.first().map(|k| k.name.clone()));
    columns.extend(implied);
    columns.extend(element.keys.iter().skip(1).map(|k| k.name.clone()));
    columns.extend(element.metadata.iter().map(|m| m.name.clone()));
    let mut fields: Vec<RecordField> = columns.into_iter().map(RecordField::Column).collect();
    if element.spatial {
        fields.push(RecordField::Region);
    }
    if element.temporal {
        fields.push(RecordField::Timespan);
    }
    fields
}

/// A record as the reference serializes it: a list of its fields (see
/// [`reference_fields`]).
fn reference_record(fields: &[RecordField], record: &Record) -> Json {
    let column = |name: &str| record.get(name).map_or(Json::Null, value_json);
    Json::Array(
        fields
            .iter()
            .map(|f| match f {
                RecordField::Column(name) => column(name),
                RecordField::Region => column("region"),
                RecordField::Timespan => {
                    match (record.get("timespan_begin"), record.get("timespan_end")) {
                        (Some(Value::Int(b)), Some(Value::Int(e))) => json!([b, e]),
                        _ => Json::Null,
                    }
                }
            })
            .collect(),
    )
}

/// A record from the reference's serialized list of its fields.
fn record_from_reference(
    element: &str,
    fields: &[RecordField],
    values: &[Json],
) -> Result<Record, RepoError> {
    let bad = |what: &str| {
        RepoError::Invalid(format!(
            "zip index: a {element} record has {what} ({} fields, {} expected)",
            values.len(),
            fields.len()
        ))
    };
    if values.len() != fields.len() {
        return Err(bad("the wrong number of fields"));
    }
    let mut record = Record::new();
    for (field, v) in fields.iter().zip(values) {
        match field {
            RecordField::Column(name) => {
                record.insert(
                    name.clone(),
                    json_value(v).ok_or_else(|| bad("a nested value"))?,
                );
            }
            RecordField::Region => {
                let region = match v {
                    Json::Null => Value::Null,
                    Json::String(h) => {
                        Value::Bytes(hex::decode(h).map_err(|_| bad("a region that is not hex"))?)
                    }
                    _ => return Err(bad("a region that is not hex")),
                };
                record.insert("region".into(), region);
            }
            RecordField::Timespan => {
                let (begin, end) = match v {
                    Json::Null => (Value::Null, Value::Null),
                    Json::Array(pair) => match (
                        pair.first().and_then(Json::as_i64),
                        pair.get(1).and_then(Json::as_i64),
                    ) {
                        (Some(b), Some(e)) if pair.len() == 2 => (Value::Int(b), Value::Int(e)),
                        _ => return Err(bad("a timespan that is not two integers")),
                    },
                    _ => return Err(bad("a timespan that is not two integers")),
                };
                record.insert("timespan_begin".into(), begin);
                record.insert("timespan_end".into(), end);
            }
        }
    }
    Ok(record)
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
