//! Dataset type writes through [`Repo`]: registering and removing dataset types, each
//! in one transaction.

use valet_registry::dataset_types::{all_dataset_types, remove_dataset_type};
use valet_registry::glob::{glob_to_regex, is_glob};
use valet_registry::DatasetType;

use crate::{Repo, RepoError};

/// What a dataset type is, for [`Repo::register_dataset_type`].
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct DatasetTypeSpec {
    /// Storage class name.
    pub storage_class: String,
    /// Dimension names.
    pub dimensions: Vec<String>,
    /// Whether it is a calibration type.
    pub is_calibration: bool,
}

impl Repo {
    /// Register a dataset type; returns it and whether it is new (registering the same
    /// definition again changes nothing; a different one is refused).
    pub fn register_dataset_type(
        &self,
        name: &str,
        spec: &DatasetTypeSpec,
    ) -> Result<(DatasetType, bool), RepoError> {
        Ok(self.registry.register_dataset_type(
            name,
            &spec.storage_class,
            &spec.dimensions,
            spec.is_calibration,
        )?)
    }

    /// Remove the dataset types that names or globs mean, all or none (refused while
    /// datasets of them exist); a name that is not a glob must be registered. Returns
    /// the names removed.
    pub fn remove_dataset_types(&self, patterns: &[String]) -> Result<Vec<String>, RepoError> {
        Ok(self.registry.transaction(|conn, _| {
            let all = all_dataset_types(conn)?;
            let mut removed = Vec::new();
            for pattern in patterns {
                if is_glob(pattern) {
                    let re = glob_to_regex(pattern)?;
                    for t in all.iter().filter(|t| re.is_match(&t.name)) {
                        remove_dataset_type(conn, &t.name)?;
                        removed.push(t.name.clone());
                    }
                } else {
                    remove_dataset_type(conn, pattern)?;
                    removed.push(pattern.clone());
                }
            }
            Ok(removed)
        })?)
    }
}
