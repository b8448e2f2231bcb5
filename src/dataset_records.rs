//! Datasets as registry entries, without files: registering them in a RUN (the
//! reference's `Registry.insertDatasets`), reading them back by id, and data IDs
//! expanded with their dimension records.

use std::collections::BTreeMap;

use uuid::Uuid;
use valet_registry::dataset_types::get_dataset_type;
use valet_registry::datasets::{get_datasets, insert_datasets, NewDataset};
use valet_registry::expand::RecordCache;
use valet_registry::{DataId, DatasetRef, DatasetType, IdGenerationMode, Record};

use crate::{Repo, RepoError};

/// A data ID with every dimension its dimensions imply, and their records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExpandedDataId {
    /// Required, then implied dimensions, in universe order.
    pub dimensions: Vec<String>,
    /// The number of required dimensions at the front of `dimensions`.
    pub required: usize,
    /// The value of each dimension.
    pub data_id: DataId,
    /// The record of each element of the data ID, by element name.
    pub records: BTreeMap<String, Record>,
}

impl Repo {
    /// Register datasets of one type in a RUN without files, in one transaction;
    /// returns them in input order.
    pub fn insert_datasets(
        &self,
        dataset_type: &str,
        run: &str,
        data_ids: &[DataId],
        mode: IdGenerationMode,
    ) -> Result<Vec<DatasetRef>, RepoError> {
        let new: Vec<NewDataset> = data_ids
            .iter()
            .map(|d| NewDataset {
                id: None,
                data_id: d.clone(),
            })
            .collect();
        Ok(self.registry.transaction(|conn, universe| {
            let t = get_dataset_type(conn, dataset_type)?;
            insert_datasets(conn, universe, &t, run, &new, mode)
        })?)
    }

    /// The datasets with these ids, with their types; an unknown id is an error.
    pub fn get_datasets(&self, ids: &[Uuid]) -> Result<Vec<(DatasetType, DatasetRef)>, RepoError> {
        let mut conn = self.registry.db.conn()?;
        Ok(get_datasets(&mut conn, ids)?)
    }

    /// Complete a data ID of these dimensions (names; the group they make is used)
    /// with the dimensions they imply and the records of every element, refusing
    /// values no record has.
    pub fn expand_data_id(
        &self,
        dimensions: &[String],
        data_id: &DataId,
    ) -> Result<ExpandedDataId, RepoError> {
        let group = self
            .registry
            .universe
            .group(dimensions)
            .map_err(valet_registry::RegistryError::from)?;
        let mut conn = self.registry.db.conn()?;
        self.expand_in_group(&mut conn, &group, data_id)
    }

    /// Expand many data IDs of the same dimensions (the reference's
    /// `with_dimension_records=True`), reading each element's records once.
    pub fn expand_data_ids(
        &self,
        dimensions: &[String],
        data_ids: &[DataId],
    ) -> Result<Vec<ExpandedDataId>, RepoError> {
        let group = self
            .registry
            .universe
            .group(dimensions)
            .map_err(valet_registry::RegistryError::from)?;
        let mut conn = self.registry.db.conn()?;
        let cache = self.records_of_group(&mut conn, &group)?;
        let order = self.group_order(&group);
        data_ids
            .iter()
            .map(|d| Self::expanded(&cache, &group, &order, d))
            .collect()
    }

    /// Expand a data ID of a dimension group: its required values, the implied
    /// ones, and every element's record.
    pub(crate) fn expand_in_group(
        &self,
        conn: &mut valet_registry::Conn,
        group: &valet_config::DimensionGroup,
        data_id: &DataId,
    ) -> Result<ExpandedDataId, RepoError> {
        let cache = self.records_of_group(conn, group)?;
        Self::expanded(&cache, group, &self.group_order(group), data_id)
    }

    /// The records of every element of a group, read once.
    fn records_of_group(
        &self,
        conn: &mut valet_registry::Conn,
        group: &valet_config::DimensionGroup,
    ) -> Result<RecordCache, RepoError> {
        let mut needed: Vec<String> = group
            .required
            .iter()
            .chain(&group.implied)
            .cloned()
            .collect();
        needed.extend(self.join_elements(group));
        let mut cache = RecordCache::new(self.registry.universe.clone());
        cache.load_for(conn, &needed)?;
        Ok(cache)
    }

    /// The elements that are not dimensions but join a group's dimensions
    /// (`visit_detector_region` for visit and detector): the reference counts them
    /// among the group's elements and expands their records too.
    fn join_elements(&self, group: &valet_config::DimensionGroup) -> Vec<String> {
        let names: Vec<&String> = group.required.iter().chain(&group.implied).collect();
        self.registry
            .universe
            .table_elements()
            .filter(|e| !e.is_dimension() && e.requires.iter().all(|r| names.contains(&r)))
            .map(|e| e.name.clone())
            .collect()
    }

    /// A group's dimensions: required, then implied, each in universe order.
    fn group_order(&self, group: &valet_config::DimensionGroup) -> Vec<String> {
        self.dimension_order(group.required.iter().cloned())
            .into_iter()
            .chain(self.dimension_order(group.implied.iter().cloned()))
            .collect()
    }

    fn expanded(
        cache: &RecordCache,
        group: &valet_config::DimensionGroup,
        order: &[String],
        data_id: &DataId,
    ) -> Result<ExpandedDataId, RepoError> {
        let expanded = cache.expand(&group.required, data_id)?;
        let mut records: BTreeMap<String, Record> = expanded
            .records
            .iter()
            .map(|(k, r)| (k.clone(), (*r).clone()))
            .collect();
        let universe = cache.universe();
        for name in order {
            if records.contains_key(name) {
                continue;
            }
            // A dimension without a table of its own (`band`): its record is its key.
            let Some(e) = universe.element(name) else {
                continue;
            };
            if let (false, Some(key), Some(v)) =
                (e.has_table(), e.primary_key(), expanded.data_id.get(name))
            {
                records.insert(name.clone(), Record::from([(key.name.clone(), v.clone())]));
            }
        }
        for e in universe.table_elements().filter(|e| !e.is_dimension()) {
            if let Some(r) = cache.get(&e.name, &expanded.data_id) {
                records.insert(e.name.clone(), r.clone());
            }
        }
        Ok(ExpandedDataId {
            dimensions: order.to_vec(),
            required: group.required.len(),
            data_id: expanded.data_id.clone(),
            records,
        })
    }
}
