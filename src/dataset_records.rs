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
        let mut one = self.expand_data_ids(dimensions, std::slice::from_ref(data_id))?;
        one.pop()
            .ok_or_else(|| RepoError::Invalid("expanding a data ID gave nothing".into()))
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
        let expansion = self.group_expansion(&mut conn, group)?;
        data_ids.iter().map(|d| expansion.expand(d)).collect()
    }

    /// Expand a data ID of a dimension group: its required values, the implied
    /// ones, and every element's record.
    pub(crate) fn expand_in_group(
        &self,
        conn: &mut valet_registry::Conn,
        group: &valet_config::DimensionGroup,
        data_id: &DataId,
    ) -> Result<ExpandedDataId, RepoError> {
        self.group_expansion(conn, group.clone())?.expand(data_id)
    }

    /// What expanding data IDs of a group needs, read and worked out once: the records
    /// of its dimensions and of the elements joining them (`visit_detector_region`
    /// for visit and detector, which the reference counts among a group's elements),
    /// and the order of its dimensions.
    fn group_expansion(
        &self,
        conn: &mut valet_registry::Conn,
        group: valet_config::DimensionGroup,
    ) -> Result<GroupExpansion, RepoError> {
        let dimensions: Vec<&String> = group.required.iter().chain(&group.implied).collect();
        let joins: Vec<String> = self
            .registry
            .universe
            .table_elements()
            .filter(|e| !e.is_dimension() && e.requires.iter().all(|r| dimensions.contains(&r)))
            .map(|e| e.name.clone())
            .collect();
        let needed: Vec<String> = dimensions
            .into_iter()
            .cloned()
            .chain(joins.clone())
            .collect();
        let mut cache = RecordCache::new(self.registry.universe.clone());
        cache.load_for(conn, &needed)?;
        let order = self
            .dimension_order(group.required.iter().cloned())
            .into_iter()
            .chain(self.dimension_order(group.implied.iter().cloned()))
            .collect();
        Ok(GroupExpansion {
            cache,
            group,
            order,
            joins,
        })
    }
}

/// See [`Repo::group_expansion`].
struct GroupExpansion {
    cache: RecordCache,
    group: valet_config::DimensionGroup,
    /// Required, then implied dimensions, each in universe order.
    order: Vec<String>,
    /// The elements joining the group's dimensions.
    joins: Vec<String>,
}

impl GroupExpansion {
    fn expand(&self, data_id: &DataId) -> Result<ExpandedDataId, RepoError> {
        let expanded = self.cache.expand(&self.group.required, data_id)?;
        let mut records: BTreeMap<String, Record> = expanded
            .records
            .iter()
            .map(|(k, r)| (k.clone(), (*r).clone()))
            .collect();
        let universe = self.cache.universe();
        for name in &self.order {
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
        for join in &self.joins {
            if let Some(r) = self.cache.get(join, &expanded.data_id) {
                records.insert(join.clone(), r.clone());
            }
        }
        Ok(ExpandedDataId {
            dimensions: self.order.clone(),
            required: self.group.required.len(),
            data_id: expanded.data_id.clone(),
            records,
        })
    }
}
