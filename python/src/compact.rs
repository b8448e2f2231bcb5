//! Datasets a search finds, held compactly on their way to Python: each dataset
//! type and RUN name once, and per dataset only its id, two indexes and its
//! dimension values. Rows are made as the search streams, so what the search
//! allocates for a row is freed at once rather than all together at the end.

use uuid::Uuid;
use valet::queries::DatasetSearch;
use valet::{Repo, RepoError, Value};

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
    let mut run_index: std::collections::HashMap<String, usize> = Default::default();
    let (types, runs, rows) = (&found.types, &mut found.runs, &mut found.rows);
    let mut last_type = (String::new(), 0usize);
    repo.search_dataset_rows(search, &mut |f| {
        // Rows come type after type: the index is looked up once per type.
        if last_type.0 != f.dataset_type {
            let i = types
                .iter()
                .position(|t| t == f.dataset_type)
                .unwrap_or_default();
            last_type = (f.dataset_type.to_owned(), i);
        }
        let run = match run_index.get(f.run) {
            Some(&i) => i,
            None => {
                runs.push(f.run.to_owned());
                run_index.insert(f.run.to_owned(), runs.len() - 1);
                runs.len() - 1
            }
        };
        rows.push(CompactRow {
            id: f.id,
            type_index: last_type.1,
            run_index: run,
            values: f.values.to_vec(),
        });
        Ok(true)
    })?;
    Ok(found)
}
