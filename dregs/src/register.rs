//! Registering and replacing named datasets: the registry side. A registration is
//! planned first (version chosen, owner and path decided, every rule checked), its
//! data then handled by the caller (copied into the file root, or inspected in
//! place), and only then inserted, valid, in the same transaction: a row never
//! exists for data that is not complete.

use valet_collections::provenance::{register_execution, ExecutionSpec};
use valet_registry::identity::{current_user, now_utc_ns};
use valet_registry::named::ensure_tables;
use valet_registry::{Conn, RegistryError, Result, Value};

use crate::keywords::keyword_ids;
use crate::model::{
    parse_version, status, LocationType, NamedDataset, Version, VersionRequest, COLUMNS, PRODUCTION,
};
use crate::rules::{
    check_area_write, check_dataset_write, check_name, check_relative_path, generated_path,
    resolve_owner,
};

/// What a user asks to register (or to register as a replacement).
#[derive(Debug, Clone)]
pub struct Registration {
    /// Name.
    pub name: String,
    /// `MAJOR.MINOR.PATCH`, or `major`/`minor`/`patch` to bump the highest existing.
    pub version: String,
    /// Path below the owner's area (generated when omitted).
    pub relative_path: Option<String>,
    /// Owner (default: the acting user; `production` for the production area).
    pub owner: Option<String>,
    /// Owner type (default `user`).
    pub owner_type: Option<String>,
    /// Where the data is.
    pub location_type: LocationType,
    /// Whether `replace` may supersede it.
    pub is_overwritable: bool,
    /// Description.
    pub description: Option<String>,
    /// Software that reads it.
    pub access_api: Option<String>,
    /// That software's configuration (text).
    pub access_api_configuration: Option<String>,
    /// URL of external data.
    pub url: Option<String>,
    /// Contact for external data.
    pub contact_email: Option<String>,
    /// When the data was made (UTC ns; default the source's change time).
    pub creation_date: Option<i64>,
    /// The execution that produced it; `None` records a new one from `execution`.
    pub execution_id: Option<i64>,
    /// The execution to record when `execution_id` is `None` (its name defaults to
    /// `for_dataset_<name>-<version>`, its description to DESC's; `runs` unused).
    pub execution: ExecutionSpec,
    /// Keywords to tag it with (registered ones; any case).
    pub keywords: Vec<String>,
}

impl Registration {
    /// A registration of `name` at `version` with every option at its default.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Registration {
        Registration {
            name: name.into(),
            version: version.into(),
            relative_path: None,
            owner: None,
            owner_type: None,
            location_type: LocationType::Dataregistry,
            is_overwritable: false,
            description: None,
            access_api: None,
            access_api_configuration: None,
            url: None,
            contact_email: None,
            creation_date: None,
            execution_id: None,
            execution: ExecutionSpec::default(),
            keywords: Vec::new(),
        }
    }
}

/// Where the data of a registration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSource {
    /// Copied in from elsewhere: a single file (its name) or a directory (`None`).
    Copy {
        /// The file's name, for a single file.
        file_name: Option<String>,
    },
    /// Already at its destination under the root.
    InPlace,
    /// No data (external, meta-only and dummy datasets).
    None,
}

/// A registration with every decision taken.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The version it gets.
    pub version: Version,
    /// Owner.
    pub owner: String,
    /// Owner type.
    pub owner_type: String,
    /// Path below the owner's area, if the registry keeps one.
    pub relative_path: Option<String>,
    /// 0, or one more than the dataset it replaces.
    pub replace_iteration: i64,
    /// The dataset it replaces.
    pub replaces: Option<NamedDataset>,
    /// Keyword ids to tag it with.
    pub keyword_ids: Vec<i64>,
}

impl Plan {
    /// `<owner_type>/<owner>/<relative_path>`, where its data goes below the root.
    pub fn location(&self) -> Option<String> {
        self.relative_path
            .as_deref()
            .map(|r| crate::model::entry_path(&self.owner_type, &self.owner, r))
    }
}

/// One file of a dataset, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFact {
    /// Path relative to the file root.
    pub path: String,
    /// Size in bytes.
    pub size: i64,
    /// BLAKE2b of the content.
    pub checksum: Option<String>,
}

/// What the data of a registration turned out to be.
#[derive(Debug, Clone, Default)]
pub struct DataFacts {
    /// `file` or `directory`; none when there is no data.
    pub data_org: Option<String>,
    /// When the data was made (UTC ns).
    pub creation_date: Option<i64>,
    /// Every file.
    pub files: Vec<FileFact>,
    /// A checksum of the whole: the file's, or one over the directory's listing.
    pub checksum: Option<String>,
    /// The root the data was registered under (DESC's `register_root_dir`).
    pub root_dir: Option<String>,
}

fn latest_with_path(
    conn: &mut Conn,
    owner: &str,
    owner_type: &str,
    relative_path: &str,
) -> Result<Option<NamedDataset>> {
    Ok(conn
        .query_opt(
            &format!(
                "SELECT {COLUMNS} FROM dregs_dataset WHERE owner = ? AND owner_type = ? AND relative_path = ? \
                 ORDER BY register_date DESC, dataset_id DESC LIMIT 1"
            ),
            &[owner.into(), owner_type.into(), relative_path.into()],
        )?
        .map(|r| NamedDataset::from_row(&r)))
}

/// The latest iteration of `name` `version` in this owner's area.
pub fn latest_iteration(
    conn: &mut Conn,
    name: &str,
    version: &str,
    owner: &str,
    owner_type: &str,
) -> Result<Option<NamedDataset>> {
    Ok(conn
        .query_opt(
            &format!(
                "SELECT {COLUMNS} FROM dregs_dataset WHERE name = ? AND version_string = ? AND owner = ? AND owner_type = ? \
                 ORDER BY replace_iteration DESC LIMIT 1"
            ),
            &[name.into(), version.into(), owner.into(), owner_type.into()],
        )?
        .map(|r| NamedDataset::from_row(&r)))
}

/// The highest version of any dataset called `name`, whoever owns it (0.0.0 if none).
fn highest_version(conn: &mut Conn, name: &str) -> Result<Version> {
    Ok(conn
        .query_opt(
            "SELECT version_major, version_minor, version_patch FROM dregs_dataset WHERE name = ? \
             ORDER BY version_major DESC, version_minor DESC, version_patch DESC LIMIT 1",
            &[name.into()],
        )?
        .map(|r| Version {
            major: r[0].as_i64().unwrap_or_default(),
            minor: r[1].as_i64().unwrap_or_default(),
            patch: r[2].as_i64().unwrap_or_default(),
        })
        .unwrap_or_default())
}

/// Checks shared by register and replace: name, owner, area, production and
/// location-type rules, keywords.
fn common_checks(conn: &mut Conn, reg: &Registration) -> Result<(String, String, Vec<i64>)> {
    ensure_tables(conn)?;
    check_name(&reg.name)?;
    let (owner, owner_type) = resolve_owner(reg.owner.as_deref(), reg.owner_type.as_deref())?;
    if owner_type == PRODUCTION && reg.is_overwritable {
        return Err(RegistryError::Invalid(
            "Cannot overwrite production entries: a production dataset cannot be is_overwritable"
                .into(),
        ));
    }
    check_area_write(conn, &owner, &owner_type)?;
    if reg.location_type == LocationType::External
        && reg.url.is_none()
        && reg.contact_email.is_none()
    {
        return Err(RegistryError::Invalid(
            "External datasets require either a url or contact_email".into(),
        ));
    }
    let ids = keyword_ids(conn, &reg.keywords)?;
    Ok((owner, owner_type, ids))
}

/// Decide everything about a new registration, or refuse it with the reason.
pub fn plan_registration(conn: &mut Conn, reg: &Registration, source: &DataSource) -> Result<Plan> {
    let (owner, owner_type, keyword_ids) = common_checks(conn, reg)?;
    let version = match parse_version(&reg.version)? {
        VersionRequest::Exact(v) => v,
        VersionRequest::Bump(b) => highest_version(conn, &reg.name)?.bumped(b),
    };
    let copying = matches!(source, DataSource::Copy { .. });
    let relative_path = if !reg.location_type.has_path() {
        None
    } else if let Some(p) = &reg.relative_path {
        check_relative_path(p)?;
        Some(p.trim_end_matches('/').to_owned())
    } else if reg.location_type == LocationType::Dataregistry && !copying {
        return Err(RegistryError::Invalid(format!(
            "dataset {:?}: a `relative_path` must be passed when `old_location` is None (the data is then already in place)",
            reg.name
        )));
    } else {
        let file_name = match source {
            DataSource::Copy { file_name } => file_name.as_deref(),
            _ => None,
        };
        Some(generated_path(&reg.name, &version.to_string(), file_name))
    };
    if let Some(p) = &relative_path {
        if let Some(holder) = latest_with_path(conn, &owner, &owner_type, p)? {
            // Several datasets may describe data already in place; a copy needs the
            // path to itself.
            if !holder.is_deleted() && copying {
                return Err(RegistryError::Conflict(format!(
                    "relative_path {p:?} of {owner_type} {owner:?} is taken by dataset {} ({} {})",
                    holder.dataset_id, holder.name, holder.version
                )));
            }
        }
    }
    if let Some(prev) =
        latest_iteration(conn, &reg.name, &version.to_string(), &owner, &owner_type)?
    {
        return Err(RegistryError::Conflict(format!(
            "There is already a dataset with name {:?}, version {version}, owner {owner:?}, owner_type {owner_type} (dataset {}); bump the version or replace it",
            reg.name, prev.dataset_id
        )));
    }
    Ok(Plan {
        version,
        owner,
        owner_type,
        relative_path,
        replace_iteration: 0,
        replaces: None,
        keyword_ids,
    })
}

/// Decide everything about a replacement of `name` `version` (explicit only), or
/// refuse it: the latest iteration must exist, be overwritable (or invalid), not be
/// deleted or archived, and be the acting user's (or the user an admin). The new
/// iteration keeps its relative path.
pub fn plan_replacement(conn: &mut Conn, reg: &Registration) -> Result<Plan> {
    let (owner, owner_type, keyword_ids) = common_checks(conn, reg)?;
    let version = match parse_version(&reg.version)? {
        VersionRequest::Exact(v) => v,
        VersionRequest::Bump(_) => {
            return Err(RegistryError::Invalid(format!(
            "Invalid version string for replace, no bumping: give the version to replace, not {:?}",
            reg.version
        )))
        }
    };
    if !reg.location_type.has_path() {
        return Err(RegistryError::Invalid(format!(
            "Can only currently replace dataregistry or dummy type entries, not {}",
            reg.location_type.as_str()
        )));
    }
    let latest = latest_iteration(conn, &reg.name, &version.to_string(), &owner, &owner_type)?
        .ok_or_else(|| {
            RegistryError::NotFound(format!(
                "Dataset name: {} v: {version} does not exist for {owner_type} {owner:?}: nothing to replace",
                reg.name
            ))
        })?;
    if latest.is_deleted() {
        return Err(RegistryError::Conflict(format!(
            "Dataset name: {} v: {} is deleted, cannot replace (dataset {})",
            latest.name, latest.version, latest.dataset_id
        )));
    }
    if latest.status & status::ARCHIVED != 0 {
        return Err(RegistryError::Conflict(format!(
            "Dataset {} ({} {}) is archived, cannot replace",
            latest.dataset_id, latest.name, latest.version
        )));
    }
    check_dataset_write(conn, &latest, "replace")?;
    if latest.is_valid() && !latest.is_overwritable {
        return Err(RegistryError::Conflict(format!(
            "Dataset name: {} v: {}'s latest iteration ({}, dataset {}) is not overwritable",
            latest.name, latest.version, latest.replace_iteration, latest.dataset_id
        )));
    }
    Ok(Plan {
        version,
        owner,
        owner_type,
        relative_path: latest.relative_path.clone(),
        replace_iteration: latest.replace_iteration + 1,
        replaces: Some(latest),
        keyword_ids,
    })
}

/// Insert a planned dataset, valid, with its files, keywords and (unless given) a
/// new execution; mark the dataset it replaces. Returns (dataset id, execution id).
pub fn insert_planned(
    conn: &mut Conn,
    reg: &Registration,
    plan: &Plan,
    facts: &DataFacts,
) -> Result<(i64, i64)> {
    let user = current_user()?;
    let now = now_utc_ns();
    let execution_id = match reg.execution_id {
        Some(id) => {
            let found = conn.query_opt(
                "SELECT execution_id FROM execution WHERE execution_id = ?",
                &[id.into()],
            )?;
            if found.is_none() {
                return Err(RegistryError::NotFound(format!(
                    "execution {id} does not exist"
                )));
            }
            id
        }
        None => {
            let e = &reg.execution;
            let name = if e.name.is_empty() {
                format!("for_dataset_{}-{}", reg.name, plan.version)
            } else {
                e.name.clone()
            };
            let description = e
                .description
                .clone()
                .or_else(|| Some("Fabricated execution for dataset".into()));
            register_execution(
                conn,
                &ExecutionSpec {
                    name,
                    description,
                    runs: Vec::new(),
                    ..e.clone()
                },
            )?
        }
    };
    let data_org = facts.data_org.clone().or_else(|| {
        (!reg.location_type.has_path() || reg.location_type == LocationType::Dummy)
            .then(|| reg.location_type.as_str().to_owned())
    });
    let total: i64 = facts.files.iter().map(|f| f.size).sum();
    let v = plan.version;
    let opt = |s: &Option<String>| -> Value { s.clone().into() };
    let id = conn
        .query_opt(
            "INSERT INTO dregs_dataset (name, version_major, version_minor, version_patch, version_string, owner, owner_type, \
             relative_path, location_type, data_org, nfiles, total_size, checksum, description, access_api, \
             access_api_configuration, url, contact_email, creation_date, register_date, creator_uid, is_overwritable, \
             status, replace_iteration, execution_id, register_root_dir, fetch_date) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING dataset_id",
            &[
                reg.name.clone().into(),
                v.major.into(),
                v.minor.into(),
                v.patch.into(),
                v.to_string().into(),
                plan.owner.clone().into(),
                plan.owner_type.clone().into(),
                opt(&plan.relative_path),
                reg.location_type.as_str().into(),
                opt(&data_org),
                (facts.files.len() as i64).into(),
                total.into(),
                opt(&facts.checksum),
                opt(&reg.description),
                opt(&reg.access_api),
                opt(&reg.access_api_configuration),
                opt(&reg.url),
                opt(&reg.contact_email),
                reg.creation_date.or(facts.creation_date).into(),
                now.into(),
                user.clone().into(),
                Value::Bool(reg.is_overwritable),
                status::VALID.into(),
                plan.replace_iteration.into(),
                execution_id.into(),
                opt(&facts.root_dir),
                now.into(),
            ],
        )?
        .and_then(|r| r[0].as_i64())
        .ok_or_else(|| RegistryError::Schema("dataset id not returned".into()))?;
    let file_rows: Vec<Vec<Value>> = facts
        .files
        .iter()
        .map(|f| {
            vec![
                id.into(),
                f.path.clone().into(),
                f.size.into(),
                f.checksum.clone().into(),
            ]
        })
        .collect();
    conn.insert_rows(
        "dregs_dataset_file",
        &["dataset_id", "path", "file_size", "checksum"],
        &file_rows,
        None,
    )?;
    crate::keywords::tag(conn, id, &plan.keyword_ids)?;
    if let Some(old) = &plan.replaces {
        conn.execute(
            "UPDATE dregs_dataset SET status = ?, delete_date = ?, delete_uid = ?, replace_id = ? WHERE dataset_id = ?",
            &[
                (old.status | status::DELETED | status::REPLACED).into(),
                now.into(),
                user.into(),
                id.into(),
                old.dataset_id.into(),
            ],
        )?;
    }
    Ok((id, execution_id))
}
