//! The hook interface: every write function of the registry (and of the collection
//! layer above it) reports what it changed as an [`Event`], inside its transaction, to
//! the observers registered on the connection pool. State derived from the registry —
//! the live ObsCore table, later collection summaries or provenance indexes — is an
//! observer, so a write cannot forget to keep it current: there is no other way to
//! write.
//!
//! Events are sent after the change, in the same transaction; an observer's error
//! fails the write. Observers must not write through event-sending functions
//! themselves (they keep their own tables with plain SQL).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::collections::CollectionType;
use crate::dataset_types::DatasetType;
use crate::datasets::{DataId, DatasetRef};
use crate::db::Conn;
use crate::error::Result;

/// A change a write made, as the observers are told of it.
#[derive(Debug)]
pub enum Event<'a> {
    /// New datasets of one type in a RUN.
    DatasetsInserted {
        /// Their type.
        dataset_type: &'a DatasetType,
        /// The RUN.
        run: &'a str,
        /// The datasets.
        datasets: &'a [DatasetRef],
    },
    /// Datasets were deleted (and with them every membership). They are given as they
    /// were, since the registry no longer knows them.
    DatasetsRemoved {
        /// The datasets and their types.
        datasets: &'a [(DatasetType, DatasetRef)],
    },
    /// Datasets were added to a TAGGED collection (members already there included).
    Associated {
        /// The collection.
        collection: &'a str,
        /// The datasets and their types.
        datasets: &'a [(DatasetType, DatasetRef)],
    },
    /// Datasets were removed from a TAGGED collection (non-members included).
    Disassociated {
        /// The collection.
        collection: &'a str,
        /// The datasets and their types.
        datasets: &'a [(DatasetType, DatasetRef)],
    },
    /// Validity ranges of a CALIBRATION collection changed (certify or decertify) for
    /// these data IDs of one type.
    CalibrationsChanged {
        /// The collection.
        collection: &'a str,
        /// The dataset type.
        dataset_type: &'a DatasetType,
        /// The data IDs whose ranges changed.
        data_ids: &'a [DataId],
    },
    /// A CHAINED collection's children changed (defined, edited or unlinked).
    ChainEdited {
        /// The chain.
        chain: &'a str,
    },
    /// A collection was removed (a RUN's datasets come first as `DatasetsRemoved`).
    CollectionRemoved {
        /// Its name.
        name: &'a str,
        /// Its type.
        kind: CollectionType,
    },
}

/// Derived state kept current by the registry's writes.
pub trait Observer: Send + Sync {
    /// A short name, for error messages.
    fn name(&self) -> &'static str;

    /// Whether this observer needs events in the current transaction at all (for
    /// example, only once its feature is enabled). A write may skip gathering what an
    /// event carries when no observer is interested.
    fn interested(&self, conn: &mut Conn) -> Result<bool>;

    /// Bring the derived state up to date with `event`, inside the write's transaction.
    fn observe(&self, conn: &mut Conn, event: &Event<'_>) -> Result<()>;
}

/// The observers of one connection pool.
#[derive(Clone, Default)]
pub struct Observers(Arc<RwLock<Vec<Arc<dyn Observer>>>>);

impl Observers {
    /// Register an observer.
    pub fn add(&self, observer: Arc<dyn Observer>) {
        if let Ok(mut v) = self.0.write() {
            v.push(observer);
        }
    }

    fn all(&self) -> Vec<Arc<dyn Observer>> {
        self.0.read().map(|v| v.clone()).unwrap_or_default()
    }
}

/// State observers keep for the duration of one transaction (caches, the
/// configuration they read), one value per type; cleared when a transaction begins,
/// commits or rolls back.
#[derive(Default)]
pub struct TransactionState(HashMap<TypeId, Box<dyn Any + Send>>);

impl Conn {
    /// Tell every interested observer about `event`.
    pub fn notify(&mut self, event: &Event<'_>) -> Result<()> {
        for o in self.observers.all() {
            if o.interested(self)? {
                o.observe(self, event)?;
            }
        }
        Ok(())
    }

    /// Whether any observer wants events now (see [`Observer::interested`]).
    pub fn observed(&mut self) -> Result<bool> {
        for o in self.observers.all() {
            if o.interested(self)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Take this transaction's state of type `T`, if an observer left one.
    pub fn take_state<T: Any + Send>(&mut self) -> Option<T> {
        self.state
            .0
            .remove(&TypeId::of::<T>())
            .and_then(|b| b.downcast::<T>().ok())
            .map(|b| *b)
    }

    /// Keep `value` for the rest of this transaction.
    pub fn put_state<T: Any + Send>(&mut self, value: T) {
        self.state.0.insert(TypeId::of::<T>(), Box::new(value));
    }
}
