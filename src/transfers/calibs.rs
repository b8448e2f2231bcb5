//! `export-calibs`: the calibrations of CALIBRATION collections (and the chains that
//! hold them), with their validity ranges and files, as an export directory.

use std::collections::HashSet;
use std::path::Path;

use valet_collections::{query_collections, CollectionQuery};
use valet_datastore::TransferMode;
use valet_registry::{CollectionType, DatasetRef};

use super::export::ExportOptions;
use crate::queries::{compare_values, DatasetSearch};
use crate::{Repo, RepoError};

impl Repo {
    /// Export the calibration datasets of the CALIBRATION collections `collections`
    /// (names or globs; none: all) reach, chains flattened, into a new `directory`:
    /// the collections (chains included), the datasets of the calibration types among
    /// `dataset_types` (none: all) with their RUNs, records and validity ranges, and
    /// their files when `transfer` is given. Returns the datasets, sorted by type and
    /// data ID, as the reference's `export-calibs` lists them. The directory must not
    /// exist yet.
    pub fn export_calibs(
        &self,
        directory: &Path,
        collections: &[String],
        dataset_types: &[String],
        transfer: Option<TransferMode>,
    ) -> Result<Vec<DatasetRef>, RepoError> {
        if directory.exists() {
            return Err(RepoError::Invalid(format!(
                "Export directory exists: {}",
                directory.display()
            )));
        }
        let calib_types: Vec<String> = self
            .query_dataset_types(dataset_types)?
            .into_iter()
            .filter(|t| t.is_calibration)
            .map(|t| t.name)
            .collect();
        let found = {
            let mut conn = self.registry.db.conn()?;
            query_collections(
                &mut conn,
                &CollectionQuery {
                    patterns: collections.to_vec(),
                    types: vec![CollectionType::Calibration, CollectionType::Chained],
                    flatten_chains: true,
                    include_chains: Some(true),
                    ..Default::default()
                },
            )?
        };
        let mut datasets: Vec<DatasetRef> = Vec::new();
        let mut seen = HashSet::new();
        for c in found
            .iter()
            .filter(|c| c.kind == CollectionType::Calibration)
        {
            let search = DatasetSearch {
                collections: vec![c.name.clone()],
                ..Default::default()
            };
            self.search_types(&calib_types, &search, &mut |f| {
                if seen.insert(f.dataset.id) {
                    datasets.push(f.dataset);
                }
                Ok(true)
            })?;
        }
        let names: Vec<String> = found.into_iter().map(|c| c.name).collect();
        if !names.is_empty() {
            self.export(
                directory,
                &ExportOptions {
                    collections: names,
                    dataset_types: calib_types,
                    where_: String::new(),
                    datasets: Some(seen),
                },
                transfer,
            )?;
        } else {
            std::fs::create_dir_all(directory).map_err(crate::repo::io_err(directory))?;
        }
        // As the reference sorts them: by type, then by the data ID's values in
        // dimension order (worked out once per type).
        let mut orders: std::collections::HashMap<String, Vec<String>> = Default::default();
        for d in &datasets {
            if !orders.contains_key(&d.dataset_type) {
                let order = self.dimension_order(d.data_id.keys().cloned());
                orders.insert(d.dataset_type.clone(), order);
            }
        }
        datasets.sort_by(|a, b| {
            a.dataset_type.cmp(&b.dataset_type).then_with(|| {
                orders[&a.dataset_type]
                    .iter()
                    .map(|d| match (a.data_id.get(d), b.data_id.get(d)) {
                        (Some(x), Some(y)) => compare_values(x, y),
                        (x, y) => x.is_some().cmp(&y.is_some()),
                    })
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
        });
        Ok(datasets)
    }
}
