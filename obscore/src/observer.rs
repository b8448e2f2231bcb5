//! The live ObsCore table as an observer of registry writes (see
//! [`valet_registry::events`]): every write reports what it changed, in its own
//! transaction, and the table follows.
//!
//! - RUN mode: inserts into matching RUNs add rows.
//! - TAGGED mode: associations and disassociations of the configured collection add
//!   and remove rows; removing the collection empties the table.
//! - CHAINED mode: the table is the chain's find-first resolution. Any event that can
//!   change that answer re-resolves exactly the data IDs it touched, in bulk; a chain
//!   edit anywhere re-resolves what moved in or out of the chain's flattened search
//!   path (which is stored, so the next edit knows what it was), or rebuilds the table
//!   when the order of what stayed changed.
//!
//! Rows of deleted datasets go with them in every mode: the table's key is a foreign
//! key to the dataset, with cascade.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::config::CollectionKind;
use crate::ObsCoreConfig;
use regex::Regex;
use valet_collections::{DatasetQuery, Resolver};
use valet_config::Universe;
use valet_registry::datasets::holdings;
use valet_registry::db::Value;
use valet_registry::events::{Event, Observer};
use valet_registry::expand::RecordCache;
use valet_registry::{Conn, DataId, DatasetRef, DatasetType, RegistryError};

use crate::live::{
    add_expected, add_rows, enabled_config, expected_datasets, run_patterns, table_name,
};
use crate::ObsCoreError;

/// Where a CHAINED table keeps the flattened search path it was last resolved for.
pub const CHAIN_PATH_ATTRIBUTE: &str = "obscore_chain_path";

/// The live table's observer, registered on every repository's connection pool.
pub struct ObsCoreObserver {
    universe: Arc<Universe>,
}

impl ObsCoreObserver {
    /// An observer for a registry of this universe.
    pub fn new(universe: Arc<Universe>) -> ObsCoreObserver {
        ObsCoreObserver { universe }
    }
}

/// What the observer keeps for one transaction: the configuration (read once), the
/// record cache and the resolver, so a write of many batches loads each once.
struct Transaction {
    config: Option<ObsCoreConfig>,
    patterns: Vec<Regex>,
    cache: RecordCache,
    resolver: Resolver,
    /// The CHAINED table's stored search path, worked out once.
    path: Option<Arc<SearchPath>>,
}

fn observer_error(e: ObsCoreError) -> RegistryError {
    match e {
        ObsCoreError::Registry(r) => r,
        other => RegistryError::Observer(Box::new(other)),
    }
}

impl Observer for ObsCoreObserver {
    fn name(&self) -> &'static str {
        "ObsCore"
    }

    fn interested(&self, conn: &mut Conn) -> valet_registry::Result<bool> {
        let state = self.state(conn).map_err(observer_error)?;
        let enabled = state.config.is_some();
        conn.put_state(state);
        Ok(enabled)
    }

    fn observe(&self, conn: &mut Conn, event: &Event<'_>) -> valet_registry::Result<()> {
        let mut state = self.state(conn).map_err(observer_error)?;
        let result = state.apply(conn, event);
        conn.put_state(state);
        result.map_err(observer_error)
    }
}

impl ObsCoreObserver {
    fn state(&self, conn: &mut Conn) -> Result<Transaction, ObsCoreError> {
        if let Some(s) = conn.take_state::<Transaction>() {
            return Ok(s);
        }
        let config = enabled_config(conn)?;
        let patterns = match &config {
            Some(c) if c.collection_type == CollectionKind::Run => run_patterns(c)?,
            _ => vec![],
        };
        Ok(Transaction {
            config,
            patterns,
            cache: RecordCache::new(self.universe.clone()),
            resolver: Resolver::new(),
            path: None,
        })
    }
}

/// A CHAINED table's search path with what each event asks of it worked out once
/// per transaction (and per chain edit), not once per event: each collection's rank
/// by id, membership by name, and whether any member is TAGGED.
struct SearchPath {
    names: Vec<String>,
    members: HashSet<String>,
    rank_of_id: HashMap<i64, usize>,
    has_tagged: bool,
}

impl SearchPath {
    fn new(conn: &mut Conn, names: Vec<String>) -> Result<SearchPath, ObsCoreError> {
        let mut rank_of_id = HashMap::with_capacity(names.len());
        let mut has_tagged = false;
        for (i, n) in names.iter().enumerate() {
            if let Some(c) = valet_registry::collections::find_collection(conn, n)? {
                rank_of_id.insert(c.id, i);
                has_tagged |= c.kind == valet_registry::CollectionType::Tagged;
            }
        }
        Ok(SearchPath {
            members: names.iter().cloned().collect(),
            names,
            rank_of_id,
            has_tagged,
        })
    }

    fn contains(&self, collection: &str) -> bool {
        self.members.contains(collection)
    }
}

/// The chain a CHAINED configuration names.
fn chain_of(config: &ObsCoreConfig) -> Option<&str> {
    if config.collection_type != CollectionKind::Chained {
        return None;
    }
    config.collections.as_ref()?.first().map(String::as_str)
}

/// The chain's flattened search path as it is now (empty while it does not exist).
pub(crate) fn current_path(conn: &mut Conn, chain: &str) -> Result<Vec<String>, ObsCoreError> {
    if valet_registry::collections::find_collection(conn, chain)?.is_none() {
        return Ok(vec![]);
    }
    Ok(valet_collections::flatten(conn, &[chain.to_owned()], None)?
        .into_iter()
        .map(|c| c.name)
        .collect())
}

/// Record the search path a CHAINED table now reflects.
pub(crate) fn store_path(conn: &mut Conn, path: &[String]) -> Result<(), ObsCoreError> {
    let text = serde_json::to_string(path).map_err(|e| ObsCoreError::Invalid(e.to_string()))?;
    Ok(valet_registry::schema::set_attribute(
        conn,
        CHAIN_PATH_ATTRIBUTE,
        &text,
    )?)
}

fn stored_path(conn: &mut Conn) -> Result<Option<Vec<String>>, ObsCoreError> {
    Ok(
        valet_registry::schema::get_attribute(conn, CHAIN_PATH_ATTRIBUTE)?
            .and_then(|t| serde_json::from_str(&t).ok()),
    )
}

impl Transaction {
    fn apply(&mut self, conn: &mut Conn, event: &Event<'_>) -> Result<(), ObsCoreError> {
        let Some(config) = self.config.clone() else {
            return Ok(());
        };
        match config.collection_type {
            CollectionKind::Run => self.apply_run(conn, &config, event),
            CollectionKind::Tagged => self.apply_tagged(conn, &config, event),
            CollectionKind::Chained => self.apply_chained(conn, &config, event),
        }
    }

    fn apply_run(
        &mut self,
        conn: &mut Conn,
        config: &ObsCoreConfig,
        event: &Event<'_>,
    ) -> Result<(), ObsCoreError> {
        if let Event::DatasetsInserted {
            dataset_type,
            run,
            datasets,
        } = event
        {
            if self.patterns.is_empty() || self.patterns.iter().any(|p| p.is_match(run)) {
                add_rows(conn, config, &mut self.cache, dataset_type, datasets)?;
            }
        }
        Ok(())
    }

    fn apply_tagged(
        &mut self,
        conn: &mut Conn,
        config: &ObsCoreConfig,
        event: &Event<'_>,
    ) -> Result<(), ObsCoreError> {
        let target = |c: &str| {
            config
                .collections
                .as_ref()
                .is_some_and(|v| v.iter().any(|x| x == c))
        };
        match event {
            Event::Associated {
                collection,
                datasets,
            } if target(collection) => {
                for (t, refs) in by_type(datasets) {
                    add_rows(conn, config, &mut self.cache, &t, &refs)?;
                }
            }
            Event::Disassociated {
                collection,
                datasets,
            } if target(collection) => {
                let ids: Vec<Value> = datasets.iter().map(|(_, r)| Value::Uuid(r.id)).collect();
                delete_rows(conn, config, &ids)?;
            }
            Event::CollectionRemoved { name, .. } if target(name) => {
                conn.execute(&format!("DELETE FROM {}", table_name(config)), &[])?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The CHAINED table's search path: the one stored when it was last resolved.
    fn path(&mut self, conn: &mut Conn, chain: &str) -> Result<Arc<SearchPath>, ObsCoreError> {
        if let Some(p) = &self.path {
            return Ok(p.clone());
        }
        // Chain edits hold this lock until they commit (with the path they stored):
        // waiting for it means resolving against the path as it will be, never one a
        // concurrent edit is replacing.
        valet_registry::races::lock_collection_structure(conn)?;
        let p = match stored_path(conn)? {
            Some(p) => p,
            None => {
                let p = current_path(conn, chain)?;
                store_path(conn, &p)?;
                p
            }
        };
        let p = Arc::new(SearchPath::new(conn, p)?);
        self.path = Some(p.clone());
        Ok(p)
    }

    fn apply_chained(
        &mut self,
        conn: &mut Conn,
        config: &ObsCoreConfig,
        event: &Event<'_>,
    ) -> Result<(), ObsCoreError> {
        let Some(chain) = chain_of(config) else {
            return Ok(());
        };
        let path = self.path(conn, chain)?;
        let in_path = |c: &str| path.contains(c);
        let wanted = |t: &DatasetType| config.dataset_type(&t.name).is_some();
        match event {
            Event::DatasetsInserted {
                dataset_type,
                run,
                datasets,
            } if in_path(run) && wanted(dataset_type) => {
                let ids: Vec<DataId> = datasets.iter().map(|r| r.data_id.clone()).collect();
                self.resolve(conn, config, &path, dataset_type, &ids)?;
            }
            Event::DatasetsRemoved { datasets } => {
                // A TAGGED member may have held any of them; otherwise only those of
                // RUNs in the path can have been the chain's answer.
                let tagged = path.has_tagged;
                let touched: Vec<(DatasetType, DatasetRef)> = datasets
                    .iter()
                    .filter(|(t, r)| wanted(t) && (tagged || in_path(&r.run)))
                    .cloned()
                    .collect();
                self.resolve_datasets(conn, config, &path, &touched)?;
            }
            Event::Associated {
                collection,
                datasets,
            }
            | Event::Disassociated {
                collection,
                datasets,
            } if in_path(collection) => {
                let touched: Vec<(DatasetType, DatasetRef)> = datasets
                    .iter()
                    .filter(|(t, _)| wanted(t))
                    .cloned()
                    .collect();
                self.resolve_datasets(conn, config, &path, &touched)?;
            }
            Event::CalibrationsChanged {
                collection,
                dataset_type,
                data_ids,
            } if in_path(collection) && wanted(dataset_type) => {
                self.resolve(conn, config, &path, dataset_type, data_ids)?;
            }
            Event::ChainEdited { .. } | Event::CollectionRemoved { .. } => {
                let now = current_path(conn, chain)?;
                if now != path.names {
                    let now = Arc::new(SearchPath::new(conn, now)?);
                    self.path_changed(conn, config, &path, &now)?;
                    store_path(conn, &now.names)?;
                    self.path = Some(now);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn resolve_datasets(
        &mut self,
        conn: &mut Conn,
        config: &ObsCoreConfig,
        path: &SearchPath,
        datasets: &[(DatasetType, DatasetRef)],
    ) -> Result<(), ObsCoreError> {
        for (t, refs) in by_type(datasets) {
            let ids: Vec<DataId> = refs.into_iter().map(|r| r.data_id).collect();
            self.resolve(conn, config, path, &t, &ids)?;
        }
        Ok(())
    }

    /// The search path changed from `old` to `new`. Collections that came or went
    /// affect only the data IDs they hold, which are re-resolved in bulk; a change in
    /// the order of the collections both share rebuilds the table, as does a first
    /// path (nothing to compare with).
    fn path_changed(
        &mut self,
        conn: &mut Conn,
        config: &ObsCoreConfig,
        old: &SearchPath,
        new: &SearchPath,
    ) -> Result<(), ObsCoreError> {
        let (old, new_path) = (&old.names, new);
        let new = &new_path.names;
        let old_set: HashSet<&String> = old.iter().collect();
        let new_set: HashSet<&String> = new.iter().collect();
        let kept_old: Vec<&String> = old.iter().filter(|c| new_set.contains(c)).collect();
        let kept_new: Vec<&String> = new.iter().filter(|c| old_set.contains(c)).collect();
        if kept_old != kept_new || old.is_empty() {
            conn.execute(&format!("DELETE FROM {}", table_name(config)), &[])?;
            let universe = self.cache.universe().clone();
            for expected in expected_datasets(conn, &self.resolver, &universe, config)? {
                add_expected(conn, config, &mut self.cache, &expected, &|_| {})?;
            }
            return Ok(());
        }
        let affected: Vec<String> = old
            .iter()
            .filter(|c| !new_set.contains(c))
            .chain(new.iter().filter(|c| !old_set.contains(c)))
            .cloned()
            .collect();
        let universe = self.cache.universe().clone();
        for (type_name, _) in &config.types {
            let Some(t) = valet_registry::dataset_types::find_dataset_type(conn, type_name)? else {
                continue;
            };
            let mut ids: Vec<DataId> = Vec::new();
            let mut seen = HashSet::new();
            self.resolver.query_datasets(
                conn,
                &universe,
                &DatasetQuery {
                    dataset_type: type_name.clone(),
                    collections: affected.clone(),
                    find_first: false,
                    ..Default::default()
                },
                &mut |f| {
                    if seen.insert(format!("{:?}", f.dataset.data_id)) {
                        ids.push(f.dataset.data_id);
                    }
                    Ok(true)
                },
            )?;
            self.resolve(conn, config, new_path, &t, &ids)?;
        }
        Ok(())
    }

    /// Make the rows of these data IDs of `t` match the find-first answer through
    /// `path`: each winner's row in, every other dataset of the data ID out.
    fn resolve(
        &mut self,
        conn: &mut Conn,
        config: &ObsCoreConfig,
        path: &SearchPath,
        t: &DatasetType,
        data_ids: &[DataId],
    ) -> Result<(), ObsCoreError> {
        if data_ids.is_empty() {
            return Ok(());
        }
        // A calibration's answer depends on validity ranges: ask the resolver.
        if t.is_calibration {
            for d in data_ids {
                self.resolve_calibration(conn, config, path, t, d)?;
            }
            return Ok(());
        }
        let rank = &path.rank_of_id;
        let mut best: Vec<Option<(usize, uuid::Uuid, i64)>> = vec![None; data_ids.len()];
        let mut losers = Vec::new();
        for h in holdings(conn, t, data_ids)? {
            losers.push(Value::Uuid(h.dataset_id));
            if let Some(&r) = rank.get(&h.collection_id) {
                if best[h.index].is_none_or(|(b, _, _)| r < b) {
                    best[h.index] = Some((r, h.dataset_id, h.run_id));
                }
            }
        }
        let winners: HashSet<uuid::Uuid> = best.iter().flatten().map(|(_, id, _)| *id).collect();
        losers.retain(|v| v.as_uuid().is_some_and(|id| !winners.contains(&id)));
        delete_rows(conn, config, &losers)?;
        let mut runs: HashMap<i64, String> = HashMap::new();
        let mut refs = Vec::new();
        for (d, b) in data_ids.iter().zip(&best) {
            let Some((_, id, run_id)) = b else { continue };
            let run = match runs.get(run_id) {
                Some(r) => r.clone(),
                None => {
                    let r = valet_registry::collections::collection_by_id(conn, *run_id)?.name;
                    runs.insert(*run_id, r.clone());
                    r
                }
            };
            refs.push(DatasetRef {
                id: *id,
                dataset_type: t.name.clone(),
                run,
                data_id: d.clone(),
            });
        }
        add_rows(conn, config, &mut self.cache, t, &refs)?;
        Ok(())
    }

    fn resolve_calibration(
        &mut self,
        conn: &mut Conn,
        config: &ObsCoreConfig,
        path: &SearchPath,
        t: &DatasetType,
        data_id: &DataId,
    ) -> Result<(), ObsCoreError> {
        let universe = self.cache.universe().clone();
        let found = match path.names.is_empty() {
            true => None,
            false => self.resolver.find_dataset(
                conn,
                &universe,
                &valet_collections::FindRequest {
                    dataset_type: &t.name,
                    data_id,
                    collections: &path.names,
                    timespan: None,
                    as_of: None,
                },
            )?,
        };
        let winner = found.as_ref().map(|f| f.dataset.id);
        let losers: Vec<Value> = holdings(conn, t, std::slice::from_ref(data_id))?
            .into_iter()
            .filter(|h| Some(h.dataset_id) != winner)
            .map(|h| Value::Uuid(h.dataset_id))
            .collect();
        delete_rows(conn, config, &losers)?;
        if let Some(f) = found {
            add_rows(conn, config, &mut self.cache, t, &[f.dataset])?;
        }
        Ok(())
    }
}

/// Delete the rows of these datasets.
fn delete_rows(conn: &mut Conn, config: &ObsCoreConfig, ids: &[Value]) -> Result<(), ObsCoreError> {
    for chunk in ids.chunks(500) {
        conn.execute(
            &format!(
                "DELETE FROM {} WHERE registry_dataset_id IN ({})",
                table_name(config),
                vec!["?"; chunk.len()].join(", ")
            ),
            chunk,
        )?;
    }
    Ok(())
}

/// Datasets grouped by type, in first-seen order.
fn by_type(datasets: &[(DatasetType, DatasetRef)]) -> Vec<(DatasetType, Vec<DatasetRef>)> {
    let mut out: Vec<(DatasetType, Vec<DatasetRef>)> = Vec::new();
    for (t, r) in datasets {
        match out.iter_mut().find(|(x, _)| x.id == t.id) {
            Some((_, v)) => v.push(r.clone()),
            None => out.push((t.clone(), vec![r.clone()])),
        }
    }
    out
}
