//! The valet registry: the database that records dimension records, dataset types,
//! collections and datasets, on SQLite (embedded) or PostgreSQL (shared).
//!
//! Every operation is a function over a [`db::Conn`], so that callers can compose many
//! of them in one transaction; [`Registry`] holds the connection pool and the universe
//! and offers the common single-transaction entry points.

pub mod access;
pub mod artifacts;
pub mod collections;
pub mod dataset_storage;
pub mod dataset_types;
pub mod datasets;
pub mod db;
pub mod dimensions;
pub mod error;
pub mod events;
pub mod expand;
pub mod expr;
pub mod glob;
pub mod identity;
pub mod ids;
pub mod named;
pub mod races;
pub mod region;
pub mod schema;
pub mod text;
pub mod timespan;
pub mod tokens;

use std::sync::Arc;

use valet_config::Universe;

pub use collections::{CollectionRecord, CollectionType};
pub use dataset_types::DatasetType;
pub use datasets::{DataId, DatasetRef, NewDataset};
pub use db::{Backend, Conn, Db, Value};
pub use dimensions::Record;
pub use error::{RegistryError, Result};
pub use events::{Event, Observer};
pub use ids::IdGenerationMode;
pub use timespan::Timespan;

/// A connection pool plus the universe it was created with.
#[derive(Clone)]
pub struct Registry {
    /// The connection pool.
    pub db: Db,
    /// The dimension universe stored in the database.
    pub universe: Arc<Universe>,
}

impl Registry {
    /// Create the registry schema in an empty database.
    pub fn create(url: &str, universe: Universe) -> Result<Registry> {
        Registry::create_filled(url, universe, |_, _| Ok::<(), RegistryError>(()))
            .map(|(registry, ())| registry)
    }

    /// Create the registry schema in an empty database and fill it with `fill`, all in
    /// one transaction: when `fill` fails the database is left as empty as it was (both
    /// backends roll back DDL), so nothing half-made remains to refuse the next try.
    pub fn create_filled<T, E>(
        url: &str,
        universe: Universe,
        mut fill: impl FnMut(&mut Conn, &Arc<Universe>) -> std::result::Result<T, E>,
    ) -> std::result::Result<(Registry, T), E>
    where
        E: From<RegistryError> + From<db::DbError>,
    {
        let db = Db::connect(url).map_err(RegistryError::from)?;
        {
            let mut conn = db.conn()?;
            if schema::is_initialized(&mut conn)? {
                return Err(RegistryError::Conflict(
                    "the database already holds a valet registry; refusing to overwrite it".into(),
                )
                .into());
            }
        }
        let universe = Arc::new(universe);
        let filled = db.transaction(|c| {
            schema::initialize(c, &universe)?;
            // Whoever creates a repository is its first admin.
            access::add_admin(c, &identity::current_user()?)?;
            fill(c, &universe)
        })?;
        Ok((Registry { db, universe }, filled))
    }

    /// Open an existing registry, checking its schema version and loading its universe.
    pub fn open(url: &str) -> Result<Registry> {
        let db = Db::connect(url)?;
        let mut conn = db.conn()?;
        if !schema::is_initialized(&mut conn)? {
            return Err(RegistryError::Schema(
                "the database holds no valet registry (run `valet create` first)".into(),
            ));
        }
        schema::check_version(&mut conn)?;
        let text = schema::get_attribute(&mut conn, schema::attr::UNIVERSE)?
            .ok_or_else(|| RegistryError::Schema("registry has no dimension universe".into()))?;
        let universe = Universe::from_yaml(&text)?;
        drop(conn);
        Ok(Registry {
            db,
            universe: Arc::new(universe),
        })
    }

    /// Run `f` in one transaction, again if it loses a conflict with a concurrent one;
    /// `f` must be safe to run more than once (see [`Db::transaction`]).
    pub fn transaction<T>(
        &self,
        mut f: impl FnMut(&mut Conn, &Universe) -> Result<T>,
    ) -> Result<T> {
        let universe = self.universe.clone();
        self.db.transaction(|c| f(c, &universe))
    }

    /// Insert dimension records of one element (one transaction).
    pub fn insert_dimension_records(
        &self,
        element: &str,
        records: &[Record],
        skip_existing: bool,
    ) -> Result<u64> {
        self.transaction(|c, u| dimensions::insert_records(c, u, element, records, skip_existing))
    }

    /// Register a dataset type (one transaction).
    pub fn register_dataset_type(
        &self,
        name: &str,
        storage_class: &str,
        dimensions: &[String],
        is_calibration: bool,
    ) -> Result<(DatasetType, bool)> {
        self.transaction(|c, u| {
            dataset_types::register_dataset_type(
                c,
                u,
                name,
                storage_class,
                dimensions,
                is_calibration,
            )
        })
    }

    /// Look a dataset type up.
    pub fn get_dataset_type(&self, name: &str) -> Result<DatasetType> {
        dataset_types::get_dataset_type(&mut *self.db.conn()?, name)
    }

    /// Register a collection (one transaction).
    pub fn register_collection(
        &self,
        name: &str,
        kind: CollectionType,
        doc: Option<&str>,
    ) -> Result<(CollectionRecord, bool)> {
        self.transaction(|c, _| collections::register_collection(c, name, kind, doc))
    }

    /// Insert datasets into a RUN (one transaction).
    pub fn insert_datasets(
        &self,
        dataset_type: &str,
        run: &str,
        datasets: &[NewDataset],
        mode: IdGenerationMode,
    ) -> Result<Vec<DatasetRef>> {
        self.transaction(|c, u| {
            let t = dataset_types::get_dataset_type(c, dataset_type)?;
            datasets::insert_datasets(c, u, &t, run, datasets, mode)
        })
    }
}
