//! Writes that race with concurrent ones on a shared (PostgreSQL) registry.
//!
//! SQLite needs none of this: a writing transaction takes the database write lock
//! when it begins (`BEGIN IMMEDIATE`), so writers run one after another. PostgreSQL
//! runs them side by side at READ COMMITTED, which leaves three hazards that the
//! functions here remove:
//!
//! - two transactions both look a name up, both find nothing and both insert it
//!   ([`insert_unless_found`]);
//! - transactions that change the collection structure take their row locks in
//!   different orders and deadlock, or act on names read before another committed
//!   ([`lock_collection_structure`]);
//! - datasets are inserted into a RUN that is being removed ([`lock_collection`]).
//!
//! Deadlocks and serialization failures that remain are retried by
//! [`crate::Db::transaction`].

use crate::collections::{get_collection, CollectionRecord};
use crate::db::{Backend, Conn, DbErrorKind};
use crate::error::{RegistryError, Result};

/// How often a look-up-then-insert step runs after losing its insert. Each loss means
/// another transaction committed the key meanwhile, which the next look-up sees;
/// losing twice in a row takes that key being removed and added again in between.
const INSERT_ATTEMPTS: usize = 3;

/// Run `step`, a look-up followed by an insert of what the look-up did not find, so
/// that losing a race to a concurrent insert of the same key behaves exactly as if the
/// winner had committed before `step` began.
///
/// The losing insert waits for the winner's transaction and, once that commits, fails
/// with a unique violation. `step` is then rolled back to a savepoint and runs again in
/// the same transaction, where its look-up (a new statement, so a new snapshot) sees
/// the winner's row and applies the ordinary rules: an identical definition is a
/// no-op, a different one a conflict.
pub fn insert_unless_found<T>(
    conn: &mut Conn,
    mut step: impl FnMut(&mut Conn) -> Result<T>,
) -> Result<T> {
    let mut attempt = 1;
    loop {
        match conn.savepoint(&mut step) {
            Err(RegistryError::Db(e))
                if e.kind == DbErrorKind::Unique && attempt < INSERT_ATTEMPTS =>
            {
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Take the lock that orders every change to the collection structure: creating and
/// editing chains, removing collections, runs and dataset types. Call it before
/// reading anything the change depends on.
///
/// Without it a chain edit locks the chain, then the structure counter (see
/// [`crate::schema::bump_generation`]), then, through foreign keys, each child, while
/// a run removal locks the run, then the chains listing it, then the counter. Taken in
/// those different orders the two deadlock, and whichever read its collections before
/// the other committed acts on stale names: it adds a child that is gone, or removes a
/// run that a chain now lists, and fails on a foreign key. Every such transaction
/// updates the counter row anyway, so none of them ever ran past that point in
/// parallel: locking that same row first costs no concurrency, gives all of them one
/// lock order, and makes each see what the one before it committed.
pub fn lock_collection_structure(conn: &mut Conn) -> Result<()> {
    if conn.backend() == Backend::Postgres {
        conn.query(
            "SELECT value FROM cache_generation WHERE name = 'collections' FOR UPDATE",
            &[],
        )?;
    }
    Ok(())
}

/// How [`lock_collection`] locks a collection's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowLock {
    /// Keep the collection from being removed while rows that refer to it are added
    /// (several transactions may hold this at once).
    KeyShare,
    /// Exclusive, for removing the collection.
    Update,
}

/// Lock a collection's row until the transaction ends, then look it up; a collection
/// removed by a transaction that committed while this one waited is reported missing.
/// On SQLite this is a plain look-up (the transaction already holds the write lock).
pub fn lock_collection(conn: &mut Conn, name: &str, mode: RowLock) -> Result<CollectionRecord> {
    if conn.backend() == Backend::Postgres {
        let lock = match mode {
            RowLock::KeyShare => "FOR KEY SHARE",
            RowLock::Update => "FOR UPDATE",
        };
        conn.query(
            &format!("SELECT collection_id FROM collection WHERE name = ? {lock}"),
            &[name.into()],
        )?;
    }
    // A new statement, so it sees what a transaction we waited for committed.
    get_collection(conn, name)
}
