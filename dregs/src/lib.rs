//! DESC's data registry model on valet's registry: datasets registered by name and
//! version under an owner (a user, group, project or the production area), as files,
//! directories or metadata only, with aliases, keywords, replace and delete, and the
//! executions that read and wrote them — the same executions the Butler side
//! records, so lineage crosses between the two.
//!
//! Each operation is a function over a [`valet_registry::Conn`], to run inside a
//! transaction; the file side (copying data in, removing it) belongs to the caller.

pub mod aliases;
pub mod keywords;
pub mod model;
pub mod modify;
pub mod query;
pub mod register;
pub mod removal;
pub mod rules;

use valet_registry::named::has_tables;
use valet_registry::{Conn, RegistryError, Result};

pub use model::{LocationType, NamedDataset, Version};
pub use register::{DataFacts, DataSource, FileFact, Plan, Registration};

/// The named dataset with this id.
pub fn get_dataset(conn: &mut Conn, id: i64) -> Result<NamedDataset> {
    let not_found = || RegistryError::NotFound(format!("Entry {id} not found in dataset"));
    if !has_tables(conn)? {
        return Err(not_found());
    }
    conn.query_opt(
        &format!(
            "SELECT {} FROM dregs_dataset WHERE dataset_id = ?",
            model::COLUMNS
        ),
        &[id.into()],
    )?
    .map(|r| NamedDataset::from_row(&r))
    .ok_or_else(not_found)
}
