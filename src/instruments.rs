//! Instruments (the reference's `register-instrument`): an instrument definition
//! (see [`valet_config::instrument`]) becomes the instrument, visit_system,
//! physical_filter and detector records, and the repository keeps the definition
//! itself, so that `ingest-raws` can read the instrument's headers later.

use std::path::Path;

use valet_config::InstrumentDefinition;
use valet_registry::dimensions::{sync_records, SyncOutcome};
use valet_registry::schema::{get_attribute, set_attribute};
use valet_registry::{Conn, Record, RegistryError, Value};

use crate::repo::io_err;
use crate::{Repo, RepoError};

/// What [`Repo::register_instrument`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterInstrumentSummary {
    /// The instrument.
    pub instrument: String,
    /// Records inserted.
    pub inserted: usize,
    /// Records that were there with other values and were updated (`update` only).
    pub updated: usize,
    /// Records that were there already, identical.
    pub unchanged: usize,
    /// Whether the stored definition was written (new or changed).
    pub definition_written: bool,
}

impl RegisterInstrumentSummary {
    /// Whether registering changed nothing.
    pub fn is_no_op(&self) -> bool {
        self.inserted == 0 && self.updated == 0 && !self.definition_written
    }
}

/// The attribute that keeps an instrument's definition.
fn definition_attribute(name: &str) -> String {
    format!("instrument_definition:{name}")
}

/// Read an instrument definition: a YAML file if `name_or_file` names one, else a
/// definition valet ships (`DECam`, `HSC`, `LSSTCam-imSim`).
pub fn load_definition(name_or_file: &str) -> Result<InstrumentDefinition, RepoError> {
    let path = Path::new(name_or_file);
    if path.is_file() {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        return Ok(InstrumentDefinition::from_yaml(&text, name_or_file)?);
    }
    match InstrumentDefinition::shipped(name_or_file) {
        Some(def) => Ok(def?),
        None => Err(RepoError::Invalid(format!(
            "{name_or_file:?} is neither a definition file nor a shipped instrument ({})",
            valet_config::instrument::SHIPPED
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The dimension records a definition stands for, element by element in insertion
/// order.
pub fn definition_records(def: &InstrumentDefinition) -> Vec<(&'static str, Vec<Record>)> {
    let inst = || Value::Text(def.name.clone());
    let text = |s: &str| Value::Text(s.to_owned());
    let instrument = Record::from([
        ("name".to_owned(), inst()),
        ("visit_max".to_owned(), Value::Int(def.visit_max)),
        (
            "visit_system".to_owned(),
            def.visit_system.map_or(Value::Null, Value::Int),
        ),
        ("exposure_max".to_owned(), Value::Int(def.exposure_max)),
        ("detector_max".to_owned(), Value::Int(def.detector_max)),
        ("class_name".to_owned(), text(&def.class_name)),
    ]);
    let systems = def
        .visit_systems
        .iter()
        .map(|s| {
            Record::from([
                ("instrument".to_owned(), inst()),
                ("id".to_owned(), Value::Int(s.id)),
                ("name".to_owned(), text(&s.name)),
            ])
        })
        .collect();
    let filters = def
        .physical_filters
        .iter()
        .map(|f| {
            Record::from([
                ("instrument".to_owned(), inst()),
                ("name".to_owned(), text(&f.name)),
                ("band".to_owned(), text(&f.band)),
            ])
        })
        .collect();
    let detectors = def
        .detectors
        .iter()
        .map(|d| {
            Record::from([
                ("instrument".to_owned(), inst()),
                ("id".to_owned(), Value::Int(d.id)),
                ("full_name".to_owned(), text(&d.full_name)),
                ("name_in_raft".to_owned(), text(&d.name_in_raft)),
                ("raft".to_owned(), text(&d.raft)),
                ("purpose".to_owned(), text(&d.purpose)),
            ])
        })
        .collect();
    vec![
        ("instrument", vec![instrument]),
        ("visit_system", systems),
        ("physical_filter", filters),
        ("detector", detectors),
    ]
}

/// The definition a repository keeps for an instrument, if any.
fn stored_definition(
    conn: &mut Conn,
    name: &str,
) -> Result<Option<InstrumentDefinition>, RepoError> {
    let Some(text) = get_attribute(conn, &definition_attribute(name))? else {
        return Ok(None);
    };
    let source = format!("the definition of {name} kept in the registry");
    Ok(Some(InstrumentDefinition::from_yaml(&text, &source)?))
}

impl Repo {
    /// Register an instrument from a definition file or a shipped definition's name
    /// (see [`load_definition`] and [`Repo::register_instrument`]).
    pub fn register_instrument_from(
        &self,
        name_or_file: &str,
        update: bool,
    ) -> Result<RegisterInstrumentSummary, RepoError> {
        self.register_instrument(&load_definition(name_or_file)?, update)
    }

    /// Register an instrument (admins only): its instrument, visit_system,
    /// physical_filter and detector records, and the definition itself, in one
    /// transaction. Registering an identical definition again changes nothing; a
    /// different one is refused, naming what differs, unless `update`, which
    /// replaces the records' values (records the new definition lacks are kept).
    pub fn register_instrument(
        &self,
        def: &InstrumentDefinition,
        update: bool,
    ) -> Result<RegisterInstrumentSummary, RepoError> {
        def.check().map_err(RepoError::Invalid)?;
        self.require_admin(&format!("register instrument {}", def.name))?;
        let records = definition_records(def);
        self.registry.db.transaction(|conn| {
            let universe = self.registry.universe.clone();
            let mut summary = RegisterInstrumentSummary {
                instrument: def.name.clone(),
                ..Default::default()
            };
            for (element, recs) in &records {
                if recs.is_empty() {
                    continue;
                }
                let outcomes = sync_records(conn, &universe, element, recs, update).map_err(
                    |e| match e {
                        RegistryError::Conflict(m) => RegistryError::Conflict(format!(
                            "instrument {} is registered differently: {m} (use --update to replace it)",
                            def.name
                        )),
                        other => other,
                    },
                )?;
                for o in outcomes {
                    match o {
                        SyncOutcome::Inserted => summary.inserted += 1,
                        SyncOutcome::Updated => summary.updated += 1,
                        SyncOutcome::Unchanged => summary.unchanged += 1,
                    }
                }
            }
            let stored = stored_definition(conn, &def.name)?;
            if stored.as_ref() != Some(def) {
                if stored.is_some() && !update {
                    return Err(RepoError::Registry(RegistryError::Conflict(format!(
                        "instrument {} is registered with another definition (its translator, day_obs offset or raw template differ); use --update to replace it",
                        def.name
                    ))));
                }
                set_attribute(conn, &definition_attribute(&def.name), &def.to_yaml())?;
                summary.definition_written = true;
            }
            Ok(summary)
        })
    }

    /// The definition of a registered instrument: the one registered with it, else
    /// (for an instrument whose records came from an export) the shipped one of
    /// that name.
    pub fn instrument_definition(&self, name: &str) -> Result<InstrumentDefinition, RepoError> {
        let mut conn = self.registry.db.conn()?;
        if let Some(def) = stored_definition(&mut conn, name)? {
            return Ok(def);
        }
        match InstrumentDefinition::shipped(name) {
            Some(def) => Ok(def?),
            None => Err(RepoError::Registry(RegistryError::NotFound(format!(
                "instrument {name} has no definition in this repository (register it with register-instrument)"
            )))),
        }
    }

    /// The definitions of the repository's instruments: those registered with one,
    /// and the shipped ones of instruments whose records came without one (from an
    /// export).
    pub fn instrument_definitions(&self) -> Result<Vec<InstrumentDefinition>, RepoError> {
        let mut conn = self.registry.db.conn()?;
        let rows = conn.query(
            "SELECT value FROM valet_attributes WHERE name LIKE 'instrument_definition:%' ORDER BY name",
            &[],
        )?;
        let mut defs = Vec::new();
        for row in rows {
            if let Some(Value::Text(t)) = row.into_iter().next() {
                defs.push(InstrumentDefinition::from_yaml(
                    &t,
                    "a kept instrument definition",
                )?);
            }
        }
        for row in conn.query("SELECT name FROM instrument ORDER BY name", &[])? {
            let Some(Value::Text(name)) = row.into_iter().next() else {
                continue;
            };
            if defs.iter().all(|d| d.name != name) {
                if let Some(def) = InstrumentDefinition::shipped(&name) {
                    defs.push(def?);
                }
            }
        }
        Ok(defs)
    }
}
