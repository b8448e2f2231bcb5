//! Expanding data IDs: the dimension records a data ID points at and the implied
//! values they carry (`physical_filter`, `band`, `day_obs`, `group`), which file
//! templates and ObsCore records need. Records are loaded once per element and
//! indexed by primary key.

use std::collections::{BTreeMap, HashMap};

use valet_config::Universe;
use valet_registry::dimensions::query_records;
use valet_registry::schema::element_key_columns;
use valet_registry::{Conn, DataId, Record, RegistryError, Value};

/// A compact byte key for a tuple of values, built without formatting: integers as
/// their eight bytes, text as its bytes, each part tagged and terminated.
fn key<'a>(values: impl Iterator<Item = &'a Value>) -> Vec<u8> {
    let mut k = Vec::with_capacity(32);
    for v in values {
        match v {
            Value::Int(i) => {
                k.push(b'i');
                k.extend_from_slice(&i.to_le_bytes());
            }
            Value::Text(s) => {
                k.push(b's');
                k.extend_from_slice(s.as_bytes());
                k.push(0);
            }
            other => {
                k.push(b'o');
                k.extend_from_slice(other.to_string().as_bytes());
                k.push(0);
            }
        }
    }
    k
}

/// An expanded data ID; its records are borrowed from the cache, so expanding a
/// million data IDs copies no record.
#[derive(Debug, Clone, Default)]
pub struct Expanded<'c> {
    /// Required and implied dimension values.
    pub data_id: DataId,
    /// Records by element.
    pub records: BTreeMap<String, &'c Record>,
}

/// One element's records: its key columns and the records by key.
type Table = (Vec<String>, HashMap<Vec<u8>, Record>);

/// Dimension records loaded once per element.
pub struct RecordCache<'u> {
    universe: &'u Universe,
    tables: HashMap<String, Table>,
    visit_of_exposure: Option<HashMap<Vec<u8>, Value>>,
}

impl<'u> RecordCache<'u> {
    /// An empty cache.
    pub fn new(universe: &'u Universe) -> RecordCache<'u> {
        RecordCache {
            universe,
            tables: HashMap::new(),
            visit_of_exposure: None,
        }
    }

    /// Load every record of `element` (once).
    pub fn load(&mut self, conn: &mut Conn, element: &str) -> Result<(), RegistryError> {
        if self.tables.contains_key(element) {
            return Ok(());
        }
        let e = self.universe.get(element)?;
        if !e.has_table() {
            return Ok(());
        }
        let keys = element_key_columns(self.universe, e)?;
        let (_, records) = query_records(conn, self.universe, element, None)?;
        let mut index = HashMap::with_capacity(records.len());
        for r in records {
            let k = key(keys.iter().map(|c| r.get(c).unwrap_or(&Value::Null)));
            index.insert(k, r);
        }
        self.tables.insert(element.to_owned(), (keys, index));
        Ok(())
    }

    /// Load what expanding data IDs of these dimensions needs, including the
    /// exposure → visit link and detector regions.
    pub fn load_for(
        &mut self,
        conn: &mut Conn,
        dimensions: &[String],
    ) -> Result<(), RegistryError> {
        let mut elements: Vec<String> = dimensions.to_vec();
        elements.extend([
            "visit_definition".to_owned(),
            "visit_detector_region".to_owned(),
        ]);
        for e in &elements {
            if self.universe.element(e).is_some() {
                self.load(conn, e)?;
            }
        }
        if self.visit_of_exposure.is_none() {
            let mut map: HashMap<Vec<u8>, Value> = HashMap::new();
            if let Some((_, defs)) = self.tables.get("visit_definition") {
                for r in defs.values() {
                    if let (Some(i), Some(e), Some(v)) =
                        (r.get("instrument"), r.get("exposure"), r.get("visit"))
                    {
                        map.entry(key([i, e].into_iter()))
                            .and_modify(|old| {
                                if v.as_i64() < old.as_i64() {
                                    *old = v.clone();
                                }
                            })
                            .or_insert_with(|| v.clone());
                    }
                }
            }
            self.visit_of_exposure = Some(map);
        }
        Ok(())
    }

    /// The record of `element` a data ID points at.
    pub fn get(&self, element: &str, data_id: &DataId) -> Option<&Record> {
        let (keys, index) = self.tables.get(element)?;
        let pk = self
            .universe
            .element(element)?
            .primary_key()
            .map(|k| k.name.clone());
        let k = key(keys.iter().map(|c| {
            let name = if Some(c) == pk.as_ref() {
                element
            } else {
                c.as_str()
            };
            data_id.get(name).unwrap_or(&Value::Null)
        }));
        index.get(&k)
    }

    /// Expand a data ID of the given required dimensions.
    pub fn expand(
        &self,
        required: &[String],
        data_id: &DataId,
    ) -> Result<Expanded<'_>, RegistryError> {
        let mut out = Expanded {
            data_id: data_id.clone(),
            records: BTreeMap::new(),
        };
        for d in required {
            if let Some(r) = self.get(d, &out.data_id) {
                out.records.insert(d.clone(), r);
            }
        }
        // Implied values, then their own records (physical_filter → band).
        for _ in 0..3 {
            let mut added = false;
            for (element, record) in out.records.clone() {
                for implied in &self.universe.get(&element)?.implies {
                    if let Some(v) = record.get(implied).filter(|v| !v.is_null()) {
                        if !out.data_id.contains_key(implied) {
                            out.data_id.insert(implied.clone(), v.clone());
                            added = true;
                        }
                        if !out.records.contains_key(implied) {
                            if let Some(r) = self.get(implied, &out.data_id) {
                                out.records.insert(implied.clone(), r);
                                added = true;
                            }
                        }
                    }
                }
            }
            if !added {
                break;
            }
        }
        Ok(out)
    }

    /// The region of a data ID: its detector's region in its visit (through
    /// `visit_definition` for exposures), else the visit's.
    pub fn region<'c>(&'c self, expanded: &Expanded<'c>) -> Option<&'c [u8]> {
        let mut id = expanded.data_id.clone();
        if !id.contains_key("visit") {
            if let (Some(i), Some(e), Some(map)) = (
                id.get("instrument"),
                id.get("exposure"),
                &self.visit_of_exposure,
            ) {
                if let Some(v) = map.get(&key([i, e].into_iter())) {
                    id.insert("visit".into(), v.clone());
                }
            }
        }
        let region = if id.contains_key("detector") && id.contains_key("visit") {
            self.get("visit_detector_region", &id)
                .and_then(|r| r.get("region"))
        } else if expanded.data_id.contains_key("visit") {
            expanded.records.get("visit").and_then(|r| r.get("region"))
        } else {
            None
        };
        match region {
            Some(Value::Bytes(b)) => Some(b.as_slice()),
            _ => None,
        }
    }
}
