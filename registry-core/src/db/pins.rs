//! Outer transactions: one connection pinned to a thread for as long as a caller keeps
//! a transaction open across many registry calls (the reference's
//! `butler.transaction()`).
//!
//! While a thread holds a pin, every connection it takes from the [`Db`] is the pinned
//! one, and every [`Db::transaction`] it runs becomes a savepoint inside the outer
//! transaction. Effects outside the database (files written, files deleted) are
//! registered with [`Db::after_transaction`] and run when the outermost transaction
//! ends, told whether it committed.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::ThreadId;

use super::{Conn, Db, DbError};

/// What runs when an outer transaction ends; the argument says whether it committed.
pub type Hook = Box<dyn FnOnce(bool) + Send>;

/// Savepoint for a nested outer transaction (distinct from [`Conn::savepoint`]'s).
const NESTED: &str = "valet_outer";

/// The outer transactions open on a pool, one per thread at most.
#[derive(Clone, Default)]
pub(super) struct Pins {
    /// How many pins exist: when zero, taking a connection skips the lock.
    count: Arc<AtomicUsize>,
    by_thread: Arc<Mutex<HashMap<ThreadId, Pin>>>,
}

/// One thread's outer transaction.
struct Pin {
    /// The connection, `None` while a [`ConnHandle`] has it out.
    conn: Option<Conn>,
    /// 1 for the outermost level; each nested `begin` adds one.
    depth: u32,
    /// Effects to finish or undo, with the depth that registered each.
    hooks: Vec<(u32, Hook)>,
}

fn in_use() -> DbError {
    DbError::other(
        "the connection of this thread's transaction is already in use (a registry call \
         made while another is under way in the same transaction)",
    )
}

impl Pins {
    fn lock(&self) -> MutexGuard<'_, HashMap<ThreadId, Pin>> {
        // A panic while the map was held leaves it consistent: every change is one call.
        self.by_thread.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The pinned connection of this thread, if it has an outer transaction.
    pub(super) fn take(&self) -> Result<Option<ConnHandle>, DbError> {
        if self.count.load(Ordering::Acquire) == 0 {
            return Ok(None);
        }
        let thread = std::thread::current().id();
        let mut map = self.lock();
        let Some(pin) = map.get_mut(&thread) else {
            return Ok(None);
        };
        let conn = pin.conn.take().ok_or_else(in_use)?;
        Ok(Some(ConnHandle {
            conn: Some(conn),
            home: Some(self.clone()),
        }))
    }

    fn give_back(&self, conn: Conn) {
        let thread = std::thread::current().id();
        if let Some(pin) = self.lock().get_mut(&thread) {
            pin.conn = Some(conn);
        }
        // Otherwise the transaction was ended while the connection was out, which
        // `end` refuses, so this does not happen; the connection goes back to the pool.
    }
}

/// A connection taken from a [`Db`]: the thread's pinned one inside an outer
/// transaction (given back when this is dropped), a pooled one otherwise.
pub struct ConnHandle {
    /// Present until dropped.
    conn: Option<Conn>,
    home: Option<Pins>,
}

impl ConnHandle {
    pub(super) fn pooled(conn: Conn) -> ConnHandle {
        ConnHandle {
            conn: Some(conn),
            home: None,
        }
    }

    /// Whether this is the connection of an outer transaction.
    pub fn is_pinned(&self) -> bool {
        self.home.is_some()
    }
}

impl Deref for ConnHandle {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn
            .as_ref()
            .expect("a ConnHandle holds its connection until dropped")
    }
}

impl DerefMut for ConnHandle {
    fn deref_mut(&mut self) -> &mut Conn {
        self.conn
            .as_mut()
            .expect("a ConnHandle holds its connection until dropped")
    }
}

impl Drop for ConnHandle {
    fn drop(&mut self) {
        if let (Some(home), Some(conn)) = (self.home.take(), self.conn.take()) {
            home.give_back(conn);
        }
    }
}

impl Db {
    /// Open an outer transaction on this thread (nested in the open one, as a
    /// savepoint, if there is one already): every registry call the thread makes until
    /// the matching [`Db::end_outer`] belongs to it.
    pub fn begin_outer(&self) -> Result<(), DbError> {
        let thread = std::thread::current().id();
        {
            let mut map = self.pins.lock();
            if let Some(pin) = map.get_mut(&thread) {
                let conn = pin.conn.as_mut().ok_or_else(in_use)?;
                conn.batch(&format!("SAVEPOINT {NESTED}"))?;
                pin.depth += 1;
                return Ok(());
            }
        }
        let mut conn = self.pooled_conn()?;
        conn.begin()?;
        self.pins.lock().insert(
            thread,
            Pin {
                conn: Some(conn),
                depth: 1,
                hooks: Vec::new(),
            },
        );
        self.pins.count.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// End this thread's innermost outer transaction: commit (release, if nested) or
    /// roll back. When the outermost one ends, the effects registered with
    /// [`Db::after_transaction`] are finished (committed) or undone, newest first.
    pub fn end_outer(&self, commit: bool) -> Result<(), DbError> {
        let thread = std::thread::current().id();
        let mut map = self.pins.lock();
        let pin = map
            .get_mut(&thread)
            .ok_or_else(|| DbError::other("no transaction is open on this thread"))?;
        let conn = pin.conn.as_mut().ok_or_else(in_use)?;
        if pin.depth > 1 {
            let depth = pin.depth;
            let undone = if commit {
                conn.batch(&format!("RELEASE SAVEPOINT {NESTED}"))?;
                Vec::new()
            } else {
                conn.batch(&format!("ROLLBACK TO SAVEPOINT {NESTED}"))?;
                conn.batch(&format!("RELEASE SAVEPOINT {NESTED}"))?;
                let (undone, kept) = std::mem::take(&mut pin.hooks)
                    .into_iter()
                    .partition(|(d, _)| *d >= depth);
                pin.hooks = kept;
                undone
            };
            // What the nested level registered now belongs to its parent.
            for (d, _) in pin.hooks.iter_mut() {
                *d = (*d).min(depth - 1);
            }
            pin.depth -= 1;
            drop(map);
            for (_, hook) in undone.into_iter().rev() {
                hook(false);
            }
            return Ok(());
        }
        let Some(mut pin) = map.remove(&thread) else {
            return Err(DbError::other("no transaction is open on this thread"));
        };
        self.pins.count.fetch_sub(1, Ordering::AcqRel);
        drop(map);
        let Some(mut conn) = pin.conn.take() else {
            return Err(in_use());
        };
        let result = if commit {
            conn.commit()
        } else {
            conn.rollback()
        };
        if result.is_err() {
            // A failed COMMIT may leave the transaction open; nothing of it stays.
            let _ = conn.rollback();
        }
        // The hooks may take connections of their own: this one goes back first.
        drop(conn);
        let committed = commit && result.is_ok();
        for (_, hook) in pin.hooks.into_iter().rev() {
            hook(committed);
        }
        result
    }

    /// Whether this thread has an outer transaction open.
    pub fn in_outer(&self) -> bool {
        self.pins.count.load(Ordering::Acquire) > 0
            && self.pins.lock().contains_key(&std::thread::current().id())
    }

    /// Run `hook` once the changes just made are final: at once (told they committed)
    /// outside an outer transaction, when the outermost one ends inside one.
    pub fn after_transaction(&self, hook: impl FnOnce(bool) + Send + 'static) {
        let thread = std::thread::current().id();
        let hook: Hook = Box::new(hook);
        let hook = if self.pins.count.load(Ordering::Acquire) > 0 {
            let mut map = self.pins.lock();
            match map.get_mut(&thread) {
                Some(pin) => {
                    pin.hooks.push((pin.depth, hook));
                    return;
                }
                None => hook,
            }
        } else {
            hook
        };
        hook(true);
    }
}
