//! Expanding data IDs: the dimension records a data ID points at and the implied
//! values they carry (`physical_filter`, `band`, `day_obs`, `group`), which file
//! templates and ObsCore records need. Records are loaded once per element and
//! indexed by primary key.

use std::collections::{BTreeMap, HashMap};

use std::sync::Arc;

use valet_config::Universe;

use crate::dimensions::query_records;
use crate::schema::element_key_columns;
use crate::{Conn, DataId, Record, RegistryError, Value};

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

/// What a record implies, worked out once when its table is loaded: the implied
/// dimension values it carries and the records they point at (`visit` →
/// `physical_filter` → `band`), as (element, index in that element's table).
#[derive(Debug, Clone, Default)]
struct Implied {
    values: Vec<(String, Value)>,
    records: Vec<(String, usize)>,
}

/// One element's records, indexed by primary key.
struct Table {
    /// The key columns of the element's table.
    key_columns: Vec<String>,
    /// Data ID names of the key columns (the primary key under the element's name).
    key_names: Vec<String>,
    records: Vec<Record>,
    index: HashMap<Vec<u8>, usize>,
    implied: Vec<Implied>,
}

/// Dimension records loaded once per element, with what each implies worked out at
/// load time, and on request the detector regions and the exposure → visit link.
pub struct RecordCache {
    universe: Arc<Universe>,
    tables: HashMap<String, Table>,
    visit_of_exposure: Option<HashMap<Vec<u8>, Value>>,
    detector_regions: Option<DetectorRegions>,
    /// The visits whose detector regions are loaded, while not all of them are.
    region_visits: Option<std::collections::HashSet<(String, i64)>>,
}

impl RecordCache {
    /// An empty cache.
    pub fn new(universe: Arc<Universe>) -> RecordCache {
        RecordCache {
            universe,
            tables: HashMap::new(),
            visit_of_exposure: None,
            detector_regions: None,
            region_visits: None,
        }
    }

    /// The universe the records belong to.
    pub fn universe(&self) -> &Arc<Universe> {
        &self.universe
    }

    /// Load every record of `element` (once).
    fn load(&mut self, conn: &mut Conn, element: &str) -> Result<bool, RegistryError> {
        if self.tables.contains_key(element) {
            return Ok(false);
        }
        let e = self.universe.get(element)?;
        if !e.has_table() {
            return Ok(false);
        }
        let keys = element_key_columns(&self.universe, e)?;
        let pk = e.primary_key().map(|k| k.name.clone());
        let key_names: Vec<String> = keys
            .iter()
            .map(|c| {
                if Some(c) == pk.as_ref() {
                    element.to_owned()
                } else {
                    c.clone()
                }
            })
            .collect();
        let (_, records) = query_records(conn, &self.universe, element, None)?;
        let mut index = HashMap::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            index.insert(
                key(keys.iter().map(|c| r.get(c).unwrap_or(&Value::Null))),
                i,
            );
        }
        self.tables.insert(
            element.to_owned(),
            Table {
                key_columns: keys,
                key_names,
                records,
                index,
                implied: Vec::new(),
            },
        );
        Ok(true)
    }

    /// Load what expanding data IDs of these dimensions needs.
    pub fn load_for(
        &mut self,
        conn: &mut Conn,
        dimensions: &[String],
    ) -> Result<(), RegistryError> {
        let mut loaded = false;
        for d in dimensions {
            if self.universe.element(d).is_some() {
                loaded |= self.load(conn, d)?;
            }
        }
        if loaded {
            self.work_out_implied()?;
        }
        Ok(())
    }

    /// Also load what [`Self::region`] needs for data IDs of these dimensions: the
    /// detector regions of visits and the exposure → visit link.
    pub fn load_regions_for(
        &mut self,
        conn: &mut Conn,
        dimensions: &[String],
    ) -> Result<(), RegistryError> {
        self.load_for(conn, dimensions)?;
        let has = |d: &str| dimensions.iter().any(|x| x == d);
        if !has("detector") || !(has("visit") || has("exposure")) {
            return Ok(());
        }
        self.load_visit_of_exposure(conn)?;
        let partial = self.region_visits.is_some();
        if (self.detector_regions.is_none() || partial)
            && self.universe.element("visit_detector_region").is_some()
        {
            let mut regions = DetectorRegions::default();
            conn.query_each(
                "SELECT instrument, visit, detector, region FROM visit_detector_region",
                &[],
                &mut |r| {
                    regions.insert_row(r);
                    Ok(())
                },
            )?;
            self.detector_regions = Some(regions);
            self.region_visits = None;
        }
        Ok(())
    }

    /// [`Self::load_regions_for`], but of the detector regions only those of the
    /// visits these data IDs name (directly, or through their exposures): a write of
    /// a few datasets into a large repository reads a few visits' regions, not all.
    /// Falls back to loading them all when the data IDs name many visits.
    pub fn load_regions_for_data_ids<'d>(
        &mut self,
        conn: &mut Conn,
        dimensions: &[String],
        data_ids: impl Iterator<Item = &'d DataId>,
    ) -> Result<(), RegistryError> {
        /// More visits than this, and reading every region is the cheaper way.
        const MOST_VISITS: usize = 2_000;
        self.load_for(conn, dimensions)?;
        let has = |d: &str| dimensions.iter().any(|x| x == d);
        if !has("detector") || !(has("visit") || has("exposure")) {
            return Ok(());
        }
        if self.universe.element("visit_detector_region").is_none() {
            return Ok(());
        }
        if has("exposure") {
            self.load_visit_of_exposure(conn)?;
        }
        if self.detector_regions.is_some() && self.region_visits.is_none() {
            return Ok(());
        }
        let mut wanted: std::collections::BTreeSet<(String, i64)> = Default::default();
        for id in data_ids {
            let Some(instrument) = id.get("instrument").and_then(Value::as_str) else {
                continue;
            };
            let visit = id.get("visit").or_else(|| {
                let exposure = id.get("exposure")?;
                self.visit_of_exposure
                    .as_ref()?
                    .get(&key([&Value::from(instrument), exposure].into_iter()))
            });
            if let Some(visit) = visit.and_then(Value::as_i64) {
                let pair = (instrument.to_owned(), visit);
                if !self
                    .region_visits
                    .as_ref()
                    .is_some_and(|v| v.contains(&pair))
                {
                    wanted.insert(pair);
                }
            }
        }
        let loaded = self.region_visits.as_ref().map_or(0, |v| v.len());
        if loaded + wanted.len() > MOST_VISITS {
            return self.load_regions_for(conn, dimensions);
        }
        let regions = self.detector_regions.get_or_insert_with(Default::default);
        let visits = self.region_visits.get_or_insert_with(Default::default);
        let pairs: Vec<(String, i64)> = wanted.into_iter().collect();
        for chunk in pairs.chunk_by(|a, b| a.0 == b.0) {
            for some in chunk.chunks(500) {
                let marks = vec!["?"; some.len()].join(", ");
                let mut params: Vec<Value> = vec![some[0].0.clone().into()];
                params.extend(some.iter().map(|(_, v)| Value::Int(*v)));
                conn.query_each(
                    &format!(
                        "SELECT instrument, visit, detector, region FROM visit_detector_region \
                         WHERE instrument = ? AND visit IN ({marks})"
                    ),
                    &params,
                    &mut |r| {
                        regions.insert_row(r);
                        Ok(())
                    },
                )?;
            }
        }
        visits.extend(pairs);
        Ok(())
    }

    /// Load the exposure → visit link (once), when the universe has one.
    fn load_visit_of_exposure(&mut self, conn: &mut Conn) -> Result<(), RegistryError> {
        if self.visit_of_exposure.is_some() || self.universe.element("visit_definition").is_none() {
            return Ok(());
        }
        // An exposure in several visits takes the smallest visit id.
        let mut map: HashMap<Vec<u8>, Value> = HashMap::new();
        conn.query_each(
            "SELECT instrument, exposure, visit FROM visit_definition",
            &[],
            &mut |r| {
                let v = &r[2];
                map.entry(key(r[..2].iter()))
                    .and_modify(|old| {
                        if v.as_i64() < old.as_i64() {
                            *old = v.clone();
                        }
                    })
                    .or_insert_with(|| v.clone());
                Ok(())
            },
        )?;
        self.visit_of_exposure = Some(map);
        Ok(())
    }

    /// Work out, for every loaded record, the implied values and records it leads
    /// to, following implied records' own implications.
    fn work_out_implied(&mut self) -> Result<(), RegistryError> {
        let mut all = HashMap::new();
        for (element, table) in &self.tables {
            let mut per_record = Vec::with_capacity(table.records.len());
            for (i, r) in table.records.iter().enumerate() {
                per_record.push(self.implied_by(element, i, r)?);
            }
            all.insert(element.clone(), per_record);
        }
        for (element, implied) in all {
            if let Some(t) = self.tables.get_mut(&element) {
                t.implied = implied;
            }
        }
        Ok(())
    }

    fn implied_by(
        &self,
        element: &str,
        index: usize,
        record: &Record,
    ) -> Result<Implied, RegistryError> {
        let mut out = Implied::default();
        // What is known so far: the record's own columns, its key under the
        // element's name, then each implied value found.
        let mut known: DataId = record.clone();
        if let Some(t) = self.tables.get(element) {
            for (name, column) in t.key_names.iter().zip(&t.key_columns) {
                known.insert(
                    name.clone(),
                    record.get(column).cloned().unwrap_or(Value::Null),
                );
            }
        }
        let mut stack = vec![(element.to_owned(), index)];
        while let Some((el, i)) = stack.pop() {
            let Some(r) = self.tables.get(&el).and_then(|t| t.records.get(i)) else {
                continue;
            };
            for implied in &self.universe.get(&el)?.implies {
                let Some(v) = r.get(implied).filter(|v| !v.is_null()) else {
                    continue;
                };
                if out.values.iter().any(|(n, _)| n == implied) {
                    continue;
                }
                out.values.push((implied.clone(), v.clone()));
                known.insert(implied.clone(), v.clone());
                if let Some(j) = self.find(implied, &known) {
                    out.records.push((implied.clone(), j));
                    stack.push((implied.clone(), j));
                }
            }
        }
        Ok(out)
    }

    /// The index of the record of `element` a data ID points at.
    fn find(&self, element: &str, data_id: &DataId) -> Option<usize> {
        let t = self.tables.get(element)?;
        let k = key(t
            .key_names
            .iter()
            .map(|n| data_id.get(n).unwrap_or(&Value::Null)));
        t.index.get(&k).copied()
    }

    /// The position of the record of `element` a data ID points at: equal positions
    /// are the same record (for de-duplicating records gathered from many data IDs).
    pub fn position(&self, element: &str, data_id: &DataId) -> Option<usize> {
        self.find(element, data_id)
    }

    /// The record of `element` a data ID points at.
    pub fn get(&self, element: &str, data_id: &DataId) -> Option<&Record> {
        let i = self.find(element, data_id)?;
        self.tables.get(element)?.records.get(i)
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
            let Some(t) = self.tables.get(d.as_str()) else {
                continue;
            };
            let Some(i) = self.find(d, data_id) else {
                continue;
            };
            out.records.insert(d.clone(), &t.records[i]);
            let Some(implied) = t.implied.get(i) else {
                continue;
            };
            for (name, v) in &implied.values {
                if !out.data_id.contains_key(name) {
                    out.data_id.insert(name.clone(), v.clone());
                }
            }
            for (name, j) in &implied.records {
                if !out.records.contains_key(name) {
                    if let Some(r) = self.tables.get(name).and_then(|t| t.records.get(*j)) {
                        out.records.insert(name.clone(), r);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The region of a data ID: its detector's region in its visit (through
    /// `visit_definition` for exposures), else the visit's. Detector regions need
    /// [`Self::load_regions_for`].
    pub fn region<'c>(&'c self, expanded: &Expanded<'c>) -> Option<&'c [u8]> {
        let id = &expanded.data_id;
        if let (Some(instrument), Some(detector), Some(regions)) = (
            id.get("instrument").and_then(Value::as_str),
            id.get("detector").and_then(Value::as_i64),
            &self.detector_regions,
        ) {
            let visit = id.get("visit").or_else(|| {
                let exposure = id.get("exposure")?;
                self.visit_of_exposure
                    .as_ref()?
                    .get(&key([&Value::from(instrument), exposure].into_iter()))
            });
            if let Some(visit) = visit.and_then(Value::as_i64) {
                return regions.get(instrument, visit, detector);
            }
        }
        if id.contains_key("visit") {
            if let Some(Value::Bytes(b)) =
                expanded.records.get("visit").and_then(|r| r.get("region"))
            {
                return Some(b.as_slice());
            }
        }
        None
    }
}

/// Every detector's region in every visit, kept as one byte arena indexed by
/// (instrument, visit, detector): millions of regions cost two allocations, not two
/// per region, and integer keys hash fast.
#[derive(Default)]
struct DetectorRegions {
    instruments: Vec<String>,
    index: HashMap<(usize, i64, i64), (usize, usize), foldhash::fast::RandomState>,
    bytes: Vec<u8>,
}

impl DetectorRegions {
    fn instrument(&self, name: &str) -> Option<usize> {
        self.instruments.iter().position(|i| i == name)
    }

    fn insert(&mut self, instrument: &str, visit: i64, detector: i64, region: &[u8]) {
        let i = self.instrument(instrument).unwrap_or_else(|| {
            self.instruments.push(instrument.to_owned());
            self.instruments.len() - 1
        });
        let start = self.bytes.len();
        self.bytes.extend_from_slice(region);
        self.index
            .insert((i, visit, detector), (start, region.len()));
    }

    /// Add a `(instrument, visit, detector, region)` row.
    fn insert_row(&mut self, r: &[Value]) {
        if let (Value::Text(i), Some(v), Some(d), Value::Bytes(b)) =
            (&r[0], r[1].as_i64(), r[2].as_i64(), &r[3])
        {
            self.insert(i, v, d, b);
        }
    }

    fn get(&self, instrument: &str, visit: i64, detector: i64) -> Option<&[u8]> {
        let i = self.instrument(instrument)?;
        let &(start, len) = self.index.get(&(i, visit, detector))?;
        self.bytes.get(start..start + len)
    }
}
