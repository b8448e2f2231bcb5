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

    /// Expand a data ID of a dimension group: its required values, the implied
    /// ones, and every element's record.
    pub(crate) fn expand_in_group(
        &self,
        conn: &mut valet_registry::Conn,
        group: &valet_config::DimensionGroup,
        data_id: &DataId,
    ) -> Result<ExpandedDataId, RepoError> {
        let needed: Vec<String> = group
            .required
            .iter()
            .chain(&group.implied)
            .cloned()
            .collect();
        let mut cache = RecordCache::new(self.registry.universe.clone());
        cache.load_for(conn, &needed)?;
        let expanded = cache.expand(&group.required, data_id)?;
        Ok(ExpandedDataId {
            dimensions: self
                .dimension_order(group.required.iter().cloned())
                .into_iter()
                .chain(self.dimension_order(group.implied.iter().cloned()))
                .collect(),
            required: group.required.len(),
            data_id: expanded.data_id.clone(),
            records: expanded
                .records
                .iter()
                .map(|(k, r)| (k.clone(), (*r).clone()))
                .collect(),
        })
    }
}
