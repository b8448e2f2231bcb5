//! DESC's data registry on a valet repository: named, versioned datasets (see
//! [`valet_dregs`]) whose files live below the datastore root at
//! `dregs/<owner_type>/<owner>/<relative_path>`. A registration copies its data in
//! and inserts its row in one write: the row exists, valid, only once the copy is
//! complete, and a failure leaves neither row nor files.

pub mod files;

use std::path::{Path, PathBuf};

use valet_datastore::WriteLog;
use valet_dregs::aliases::{register_alias, resolve_alias_fully, AliasTarget};
use valet_dregs::keywords::{
    create_keywords, dataset_keywords, keyword_ids, keyword_list, tag, Keyword,
};
use valet_dregs::query::{find, ls, Find, LsOptions, QueryResult};
use valet_dregs::register::{insert_planned, plan_registration, plan_replacement};
use valet_dregs::removal::{files_only_of, find_by_name, mark_deleted};
use valet_dregs::rules::check_dataset_write;
use valet_dregs::{get_dataset, DataFacts, DataSource, LocationType, NamedDataset, Registration};

pub use valet_dregs::{aliases, keywords, model, modify, query, register};

use crate::{Repo, RepoError};

/// What a registration or a replacement made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registered {
    /// The new dataset's id.
    pub dataset_id: i64,
    /// The execution it points to.
    pub execution_id: i64,
}

/// What a deletion did.
#[derive(Debug, Clone)]
pub struct Deleted {
    /// The dataset, as it was before.
    pub dataset: NamedDataset,
    /// Files removed.
    pub removed: usize,
    /// Files that could not be removed (`check --repair` removes them later).
    pub failed: Vec<String>,
}

/// A source of data to copy in, already checked to exist and be readable.
type CheckedSource<'p> = (&'p Path, std::fs::Metadata);

/// Where a registration's data comes from, and (for a copy) the checked source.
fn data_source<'p>(
    reg: &Registration,
    old_location: Option<&'p Path>,
) -> Result<(DataSource, Option<CheckedSource<'p>>), RepoError> {
    match (reg.location_type, old_location) {
        (LocationType::Dataregistry, Some(p)) => {
            let meta = files::check_source(p)?;
            let file_name = meta
                .is_file()
                .then(|| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .flatten();
            Ok((DataSource::Copy { file_name }, Some((p, meta))))
        }
        (LocationType::Dataregistry, None) => Ok((DataSource::InPlace, None)),
        (other, Some(_)) => Err(RepoError::Invalid(format!(
            "old_location is only for dataregistry datasets; a {} dataset has no data to copy",
            other.as_str()
        ))),
        (_, None) => Ok((DataSource::None, None)),
    }
}

impl Repo {
    /// The directory of named datasets' areas, below the datastore root.
    pub fn dregs_root(&self) -> PathBuf {
        self.config
            .datastore_path(&self.root)
            .join(files::AREA_ROOT)
    }

    /// Register a named dataset (DESC's `register dataset`): its data copied in from
    /// `old_location`, or found in place at its relative path; version bump words
    /// resolved; every rule checked before anything is written.
    pub fn dregs_register(
        &self,
        reg: &Registration,
        old_location: Option<&Path>,
    ) -> Result<Registered, RepoError> {
        self.dregs_write(reg, old_location, false)
    }

    /// Replace the latest iteration of `reg.name` `reg.version` (DESC's `replace`):
    /// a new iteration at the same relative path, the old one marked deleted and
    /// replaced, its files replaced by the new data.
    pub fn dregs_replace(
        &self,
        reg: &Registration,
        old_location: Option<&Path>,
    ) -> Result<Registered, RepoError> {
        self.dregs_write(reg, old_location, true)
    }

    fn dregs_write(
        &self,
        reg: &Registration,
        old_location: Option<&Path>,
        replacing: bool,
    ) -> Result<Registered, RepoError> {
        let (source, copied) = data_source(reg, old_location)?;
        let store = self.datastore()?;
        let copying = matches!(source, DataSource::Copy { .. });
        let mut log = if copying {
            std::fs::create_dir_all(&store.root).map_err(crate::repo::io_err(&store.root))?;
            WriteLog::begin(Some(&store), None)?.clobbering(replacing)
        } else {
            WriteLog::default()
        };
        let mut stale = Vec::new();
        let result = self.registry.db.transaction(|conn| {
            log.undo();
            let plan = if replacing {
                plan_replacement(conn, reg)?
            } else {
                plan_registration(conn, reg, &source)?
            };
            let dest = plan.location().map(|l| files::stored_path(&l));
            let facts = match (&source, &copied, &dest) {
                (_, Some((from, meta)), Some(d)) => {
                    files::copy_in(&mut log, &store.root, from, meta, d, replacing)?
                }
                (DataSource::InPlace, _, Some(d)) => files::inspect_in_place(&store.root, d)?,
                _ => DataFacts::default(),
            };
            let facts = DataFacts {
                root_dir: Some(self.dregs_root().display().to_string()),
                ..facts
            };
            let (id, execution_id) = insert_planned(conn, reg, &plan, &facts)?;
            stale = match &plan.replaces {
                Some(old) => files_only_of(conn, old.dataset_id)?,
                None => Vec::new(),
            };
            Ok::<_, RepoError>(Registered {
                dataset_id: id,
                execution_id,
            })
        });
        log.end(result.is_err());
        if result.is_ok() && !stale.is_empty() {
            // The replaced iteration's files the new data did not overwrite.
            files::remove_files(&store.root, &stale);
        }
        result
    }

    /// Delete named dataset `id` (DESC's `delete dataset-by-id`): the row stays,
    /// marked deleted; its files go once that is committed.
    pub fn dregs_delete(&self, id: i64) -> Result<Deleted, RepoError> {
        let (dataset, files) = self.registry.transaction(|c, _| mark_deleted(c, id))?;
        let root = self.config.datastore_path(&self.root);
        let failed = files::remove_files(&root, &files);
        Ok(Deleted {
            dataset,
            removed: files.len() - failed.len(),
            failed,
        })
    }

    /// The latest iteration of `name` `version` in this owner's area.
    pub fn dregs_find_by_name(
        &self,
        name: &str,
        version: &str,
        owner: &str,
        owner_type: &str,
    ) -> Result<NamedDataset, RepoError> {
        let mut conn = self.registry.db.conn()?;
        Ok(find_by_name(&mut conn, name, version, owner, owner_type)?)
    }

    /// Named dataset `id`.
    pub fn dregs_dataset(&self, id: i64) -> Result<NamedDataset, RepoError> {
        let mut conn = self.registry.db.conn()?;
        Ok(get_dataset(&mut conn, id)?)
    }

    /// The absolute path of named dataset `id`'s data (dataregistry and dummy
    /// datasets; the others have none).
    pub fn dregs_path(&self, id: i64) -> Result<PathBuf, RepoError> {
        let d = self.dregs_dataset(id)?;
        let location = d.location().ok_or_else(|| {
            RepoError::Invalid(format!(
                "dataset {id} is {}: the data registry does not manage its data, so it has no path",
                d.location_type
            ))
        })?;
        Ok(self.dregs_root().join(location))
    }

    /// Set one modifiable column of a row of `table` (`dataset`, `execution` or
    /// `dataset_alias`).
    pub fn dregs_modify(
        &self,
        table: &str,
        id: i64,
        column: &str,
        value: Option<&str>,
    ) -> Result<(), RepoError> {
        Ok(self
            .registry
            .transaction(|c, _| valet_dregs::modify::modify(c, table, id, column, value))?)
    }

    /// Name a dataset or another alias; `None` if the alias exists and `supersede`
    /// is not set.
    pub fn dregs_alias(
        &self,
        alias: &str,
        target: AliasTarget,
        supersede: bool,
    ) -> Result<Option<i64>, RepoError> {
        Ok(self
            .registry
            .transaction(|c, _| register_alias(c, alias, target, supersede, None, None))?)
    }

    /// The current row of an alias: its id and what it names.
    pub fn dregs_alias_row(&self, alias: &str) -> Result<Option<(i64, AliasTarget)>, RepoError> {
        let mut conn = self.registry.db.conn()?;
        Ok(valet_dregs::aliases::resolve_alias(&mut conn, alias)?)
    }

    /// The dataset an alias finally names.
    pub fn dregs_resolve_alias(&self, alias: &str) -> Result<Option<i64>, RepoError> {
        let mut conn = self.registry.db.conn()?;
        Ok(resolve_alias_fully(&mut conn, alias)?)
    }

    /// The dataset an alias (by its id) finally names.
    pub fn dregs_follow_alias(&self, alias_id: i64) -> Result<Option<i64>, RepoError> {
        let mut conn = self.registry.db.conn()?;
        Ok(valet_dregs::aliases::follow(
            &mut conn,
            AliasTarget::Alias(alias_id),
        )?)
    }

    /// Register new keywords.
    pub fn dregs_create_keywords(&self, keywords: &[String]) -> Result<Vec<i64>, RepoError> {
        Ok(self
            .registry
            .transaction(|c, _| create_keywords(c, keywords))?)
    }

    /// Tag dataset `id` with registered keywords (its creator or an admin).
    pub fn dregs_add_keywords(&self, id: i64, keywords: &[String]) -> Result<(), RepoError> {
        Ok(self.registry.transaction(|c, _| {
            let d = get_dataset(c, id)?;
            check_dataset_write(c, &d, "modify")?;
            let ids = keyword_ids(c, keywords)?;
            tag(c, id, &ids)
        })?)
    }

    /// The keywords of dataset `id`.
    pub fn dregs_dataset_keywords(&self, id: i64) -> Result<Vec<String>, RepoError> {
        let mut conn = self.registry.db.conn()?;
        get_dataset(&mut conn, id)?;
        Ok(dataset_keywords(&mut conn, id)?)
    }

    /// Every keyword.
    pub fn dregs_keywords(&self) -> Result<Vec<Keyword>, RepoError> {
        let mut conn = self.registry.db.conn()?;
        Ok(keyword_list(&mut conn)?)
    }

    /// DESC's `find_datasets`: the columns (default every dataset column) of the
    /// rows the filters (and a `--where` expression) select.
    pub fn dregs_find(&self, query: &Find) -> Result<QueryResult, RepoError> {
        let mut conn = self.registry.db.conn()?;
        Ok(find(&mut conn, query)?)
    }

    /// DESC's `dregs ls`: the working and production areas together.
    pub fn dregs_ls(&self, options: &LsOptions) -> Result<QueryResult, RepoError> {
        let mut conn = self.registry.db.conn()?;
        Ok(ls(&mut conn, options)?)
    }
}
