//! Removing collections: non-RUN collections leave their datasets alone; RUNs take
//! their datasets with them. A collection that a chain still lists is refused unless
//! the caller asks for it to be unlinked first.

use valet_registry::artifacts::trash_run;
use valet_registry::collections::get_collection;
use valet_registry::datasets::run_contents;
use valet_registry::db::Value;
use valet_registry::events::Event;
use valet_registry::races::{lock_collection, lock_collection_structure, RowLock};
use valet_registry::schema::bump_generation;
use valet_registry::{CollectionRecord, CollectionType, Conn, RegistryError, Result};

use crate::chains::{edit_chain, parents_of, ChainMode};

fn unlink_or_refuse(conn: &mut Conn, c: &CollectionRecord, unlink: bool, flag: &str) -> Result<()> {
    let parents = parents_of(conn, &c.name)?;
    if parents.is_empty() {
        return Ok(());
    }
    if !unlink {
        let names: Vec<&str> = parents.iter().map(|p| p.name.as_str()).collect();
        return Err(RegistryError::Conflict(format!(
            "collection {:?} is still listed by chain(s) {}; use {flag} to remove it from them",
            c.name,
            names.join(", ")
        )));
    }
    for p in parents {
        edit_chain(
            conn,
            &p.name,
            ChainMode::Remove,
            std::slice::from_ref(&c.name),
            false,
        )?;
    }
    Ok(())
}

/// Remove TAGGED, CALIBRATION and CHAINED collections (their memberships go; the
/// datasets stay in their RUNs).
pub fn remove_collections(
    conn: &mut Conn,
    names: &[String],
    remove_from_parents: bool,
) -> Result<()> {
    // Before anything is read (see `lock_collection_structure`).
    lock_collection_structure(conn)?;
    for name in names {
        let c = get_collection(conn, name)?;
        valet_registry::access::check_write(conn, name)?;
        valet_registry::access::check_not_production(conn, name, "remove")?;
        if c.kind == CollectionType::Run {
            return Err(RegistryError::Invalid(format!(
                "{name:?} is a RUN collection; remove it with remove-runs"
            )));
        }
        unlink_or_refuse(conn, &c, remove_from_parents, "--remove-from-parents")?;
        conn.execute(
            "DELETE FROM collection WHERE collection_id = ?",
            &[c.id.into()],
        )?;
        bump_generation(conn)?;
        conn.notify(&Event::CollectionRemoved { name, kind: c.kind })?;
    }
    Ok(())
}

/// Remove RUN collections and every dataset in them (from every collection). Returns
/// the number of datasets removed.
pub fn remove_runs(conn: &mut Conn, names: &[String], unlink_from_parents: bool) -> Result<u64> {
    // Before anything is read (see `lock_collection_structure`).
    lock_collection_structure(conn)?;
    let mut removed = 0;
    for name in names {
        // Waits for transactions still adding datasets to the run, so that they are
        // removed with it; later ones find the run gone.
        let c = lock_collection(conn, name, RowLock::Update)?;
        valet_registry::access::check_write(conn, name)?;
        valet_registry::access::check_not_production(conn, name, "remove")?;
        if c.kind != CollectionType::Run {
            return Err(RegistryError::Invalid(format!(
                "{name:?} is {}, not a RUN; remove it with remove-collections",
                c.kind
            )));
        }
        unlink_or_refuse(conn, &c, unlink_from_parents, "--force")?;
        // Stored datasets cannot be deleted until their files are in the trash.
        trash_run(conn, c.id)?;
        // What observers are told went, read while the registry still knows it.
        let gone = if conn.observed()? {
            run_contents(conn, &c)?
        } else {
            Vec::new()
        };
        removed += conn.execute("DELETE FROM dataset WHERE run_id = ?", &[Value::Int(c.id)])?;
        conn.execute(
            "DELETE FROM collection WHERE collection_id = ?",
            &[c.id.into()],
        )?;
        bump_generation(conn)?;
        if !gone.is_empty() {
            conn.notify(&Event::DatasetsRemoved { datasets: &gone })?;
        }
        conn.notify(&Event::CollectionRemoved { name, kind: c.kind })?;
    }
    Ok(removed)
}
