//! Datasets a search finds, held compactly on their way to Python: each dataset
//! type and RUN name once, and per dataset only its id, two indexes and its
//! dimension values. Rows are made as the search streams, so what the search
//! allocates for a row is freed at once rather than all together at the end.

use uuid::Uuid;
use valet::queries::DatasetSearch;
use valet::{Repo, RepoError, Value};

use crate::refs::values_in_order;

/// One dataset found.
pub struct CompactRow {
    /// Its id.
    pub id: Uuid,
    /// Its dataset type, an index into [`CompactRefs::types`].
    pub type_index: usize,
    /// Its RUN, an index into [`CompactRefs::runs`].
    pub run_index: usize,
    /// The values of its type's required dimensions, in order.
    pub values: Vec<Value>,
}

/// The datasets a search found.
#[derive(Default)]
pub struct CompactRefs {
    /// The dataset types searched, by name.
    pub types: Vec<String>,
    /// The RUNs the datasets are in.
    pub runs: Vec<String>,
    /// The datasets, in the order found.
    pub rows: Vec<CompactRow>,
}

/// Run a search and keep what it finds compactly.
pub fn find(repo: &Repo, search: &DatasetSearch) -> Result<CompactRefs, RepoError> {
    let mut found = CompactRefs {
        types: repo.matching_dataset_types(&search.dataset_types)?,
        ..Default::default()
    };
    let required = found
        .types
        .iter()
        .map(|t| Ok(repo.dataset_type(t)?.dimensions.required))
        .collect::<Result<Vec<_>, RepoError>>()?;
    let mut run_index = std::collections::HashMap::new();
    let (types, runs, rows) = (&found.types, &mut found.runs, &mut found.rows);
    repo.search_datasets(search, &mut |f| {
        let d = f.dataset;
        let type_index = types
            .iter()
            .position(|t| *t == d.dataset_type)
            .unwrap_or_default();
        let run = match run_index.get(&d.run) {
            Some(&i) => i,
            None => {
                runs.push(d.run.clone());
                run_index.insert(d.run, runs.len() - 1);
                runs.len() - 1
            }
        };
        rows.push(CompactRow {
            id: d.id,
            type_index,
            run_index: run,
            values: values_in_order(d.data_id, &required[type_index]),
        });
        Ok(true)
    })?;
    Ok(found)
}
