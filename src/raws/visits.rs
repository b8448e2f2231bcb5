//! `define-visits`: visits from exposures, as the reference's `DefineVisitsTask`
//! makes them. Two visit systems: one-to-one (0; a visit per exposure, with its id
//! and `obs_id` as name) and by-group-metadata (1; the exposures sharing a `group`).
//! A group of one exposure is that exposure's one-to-one visit, in both systems; a
//! larger group's visit takes its first exposure's id and the group's name, and that
//! exposure's one-to-one visit becomes `9<id>`, named `<obs_id>_first` (the
//! reference's rule for multi-exposure visits). Regions come from the raws' WCSs:
//! each detector's boundary (corners and edge midpoints) as a convex polygon, the
//! visit's the convex hull of its detectors', from the visit's first exposure.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use valet_config::InstrumentDefinition;
use valet_fits::Hdu;
use valet_registry::dimensions::{insert_records, sync_records, SyncOutcome};
use valet_registry::region::Region;
use valet_registry::schema::element_columns;
use valet_registry::{Record, Value};

use super::ingest::RAW;
use super::translate::{raw_headers, translate};
use super::wcs::{boundary_pixels, convex_hull, image_size, unit_vector, Wcs};
use crate::queries::{DatasetSearch, DimensionRecordQuery, QueryDatasetsOptions};
use crate::{Repo, RepoError};

/// The one-to-one visit system.
pub const ONE_TO_ONE: (i64, &str) = (0, "one-to-one");
/// The by-group visit system.
pub const BY_GROUP: (i64, &str) = (1, "by-group-metadata");

/// How [`Repo::define_visits`] finds its exposures.
#[derive(Debug, Clone, Default)]
pub struct DefineVisitsOptions {
    /// Collections searched for raws (default `<instrument>/raw/all`).
    pub collections: Vec<String>,
    /// Only raws whose data IDs match this expression.
    pub where_: String,
    /// Replace visits (and their detector regions) defined differently before.
    pub update_records: bool,
}

/// What [`Repo::define_visits`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefineVisitsSummary {
    /// Exposures with raws found.
    pub exposures: usize,
    /// Of them, left out as not on the sky (no tracking position, or not seeing it).
    pub not_on_sky: usize,
    /// Visits defined now.
    pub inserted: usize,
    /// Visits defined before, identically.
    pub unchanged: usize,
    /// Visits defined before otherwise, replaced (`update_records`).
    pub updated: usize,
    /// Rows of the live ObsCore table refilled to take the new regions (when it is
    /// enabled and visits changed).
    pub obscore_rows: Option<u64>,
}

/// A visit to define.
struct VisitPlan {
    id: i64,
    name: String,
    systems: Vec<i64>,
    exposures: Vec<Record>,
}

fn int(r: &Record, k: &str) -> Option<i64> {
    match r.get(k) {
        Some(Value::Int(i)) => Some(*i),
        _ => None,
    }
}

fn float(r: &Record, k: &str) -> Option<f64> {
    match r.get(k) {
        Some(Value::Float(x)) => Some(*x),
        Some(Value::Int(i)) => Some(*i as f64),
        _ => None,
    }
}

fn text(r: &Record, k: &str) -> Option<String> {
    match r.get(k) {
        Some(Value::Text(s)) => Some(s.clone()),
        _ => None,
    }
}

/// Group exposures (sorted by id) into the visits of both systems.
fn plan_visits(exposures: &[Record]) -> Vec<VisitPlan> {
    let mut groups: BTreeMap<String, Vec<&Record>> = BTreeMap::new();
    for e in exposures {
        let key = text(e, "group").unwrap_or_else(|| int(e, "id").unwrap_or(0).to_string());
        groups.entry(key).or_default().push(e);
    }
    let mut out = Vec::new();
    for (group, members) in groups {
        let first = int(members[0], "id").unwrap_or(0);
        for e in &members {
            let id = int(e, "id").unwrap_or(0);
            let obs_id = text(e, "obs_id").unwrap_or_default();
            let (id, name, systems) = if members.len() == 1 {
                (id, obs_id, vec![ONE_TO_ONE.0, BY_GROUP.0])
            } else if id == first {
                (
                    format!("9{id}").parse().unwrap_or(id),
                    format!("{obs_id}_first"),
                    vec![ONE_TO_ONE.0],
                )
            } else {
                (id, obs_id, vec![ONE_TO_ONE.0])
            };
            out.push(VisitPlan {
                id,
                name,
                systems,
                exposures: vec![(*e).clone()],
            });
        }
        if members.len() > 1 {
            out.push(VisitPlan {
                id: first,
                name: group,
                systems: vec![BY_GROUP.0],
                exposures: members.into_iter().cloned().collect(),
            });
        }
    }
    out
}

/// The mean of angles in degrees, across the 0/360 wrap.
fn mean_angle(angles: &[f64]) -> f64 {
    if angles.len() == 1 {
        return angles[0];
    }
    let (s, c) = angles.iter().fold((0.0, 0.0), |(s, c), a| {
        (s + a.to_radians().sin(), c + a.to_radians().cos())
    });
    s.atan2(c).to_degrees()
}

/// A value when every exposure has the same one, else `None`.
fn common<T: PartialEq + Clone>(values: impl Iterator<Item = Option<T>>) -> Option<T> {
    let mut out: Option<T> = None;
    for v in values {
        let v = v?;
        match &out {
            Some(o) if *o != v => return None,
            _ => out = Some(v),
        }
    }
    out
}

/// All of the values, or `None` if any is missing.
fn all<T>(values: impl Iterator<Item = Option<T>>) -> Option<Vec<T>> {
    values.collect()
}

/// The region (polygon vertices) of each detector of an exposure, from its raws'
/// headers.
fn exposure_regions(
    def: &InstrumentDefinition,
    raws: &[(i64, PathBuf)],
    files: &mut HashMap<PathBuf, Vec<Hdu>>,
) -> Result<BTreeMap<i64, Vec<[f64; 3]>>, RepoError> {
    let mut regions = BTreeMap::new();
    for (detector, path) in raws {
        if !files.contains_key(path) {
            let hdus =
                valet_fits::read_headers(path).map_err(|e| RepoError::Invalid(e.to_string()))?;
            files.insert(path.clone(), hdus);
        }
        let hdus = &files[path];
        let fail =
            |m: String| RepoError::Invalid(format!("{}: detector {detector}: {m}", path.display()));
        let header = raw_headers(def, hdus)
            .into_iter()
            .map(|(_, h)| h)
            .find(|h| translate(def, h).is_ok_and(|o| o.detector == *detector))
            .ok_or_else(|| fail("no HDU of the file holds this detector's raw".into()))?;
        let wcs = Wcs::from_header(&header).map_err(fail)?;
        let (nx, ny) = image_size(&header).ok_or_else(|| fail("no image size".into()))?;
        let points: Vec<[f64; 3]> = boundary_pixels(nx, ny)
            .iter()
            .map(|(x, y)| {
                let (ra, dec) = wcs.pixel_to_sky(*x, *y);
                unit_vector(ra, dec)
            })
            .collect();
        regions.insert(*detector, convex_hull(&points).map_err(fail)?);
    }
    Ok(regions)
}

fn polygon(vertices: Vec<[f64; 3]>) -> Value {
    Value::Bytes(Region::ConvexPolygon(vertices).encode())
}

impl Repo {
    /// Define visits from the exposures of an instrument's raws (the reference's
    /// `define-visits`; see [`crate::raws::visits`]), in one transaction: visit
    /// systems, visits (identical ones kept; different ones a conflict unless
    /// `update_records`), visit_definition, visit_system_membership and
    /// visit_detector_region records.
    pub fn define_visits(
        &self,
        instrument: &str,
        options: &DefineVisitsOptions,
    ) -> Result<DefineVisitsSummary, RepoError> {
        let def = self.instrument_definition(instrument)?;
        let quoted = instrument.replace('\'', "''");
        let mut where_ = format!("instrument = '{quoted}'");
        if !options.where_.trim().is_empty() {
            where_ = format!("{where_} AND ({})", options.where_);
        }
        let collections = if options.collections.is_empty() {
            vec![format!("{instrument}/raw/all")]
        } else {
            options.collections.clone()
        };
        let found = self.query_datasets(&QueryDatasetsOptions {
            search: DatasetSearch {
                dataset_types: vec![RAW.into()],
                collections,
                where_,
                find_first: true,
                ..Default::default()
            },
            ..Default::default()
        })?;
        // The raws of each exposure: (detector, file).
        let mut raws: BTreeMap<i64, Vec<(i64, PathBuf)>> = BTreeMap::new();
        for row in found.iter() {
            let (Some(Value::Int(e)), Some(Value::Int(d))) =
                (row.value("exposure"), row.value("detector"))
            else {
                continue;
            };
            raws.entry(*e)
                .or_default()
                .push((*d, self.get_path(&row.to_ref())?));
        }
        let exposures: Vec<Record> = self
            .query_dimension_records(&DimensionRecordQuery {
                element: "exposure".into(),
                where_: format!("instrument = '{quoted}'"),
                ..Default::default()
            })?
            .records
            .into_iter()
            .filter(|e| int(e, "id").is_some_and(|id| raws.contains_key(&id)))
            .collect();
        let mut summary = DefineVisitsSummary {
            exposures: exposures.len(),
            ..Default::default()
        };
        let on_sky: Vec<Record> = exposures
            .into_iter()
            .filter(|e| {
                let sky = float(e, "tracking_ra").is_some()
                    && float(e, "tracking_dec").is_some()
                    && e.get("can_see_sky") != Some(&Value::Bool(false));
                if !sky {
                    summary.not_on_sky += 1;
                }
                sky
            })
            .collect();
        let plans = plan_visits(&on_sky);
        // Regions, per exposure (a visit's come from its first exposure).
        let mut files = HashMap::new();
        let mut regions = HashMap::new();
        for e in &on_sky {
            let id = int(e, "id").unwrap_or(0);
            regions.insert(id, exposure_regions(&def, &raws[&id], &mut files)?);
        }
        let universe = &self.registry.universe;
        let visit_columns = element_columns(universe, universe.get("visit")?)?;
        let inst = || Value::Text(instrument.to_owned());
        let mut visits = Vec::with_capacity(plans.len());
        let mut definitions = Vec::new();
        let mut memberships = Vec::new();
        let mut detector_regions: Vec<Vec<Record>> = Vec::new();
        for p in &plans {
            let ex = &p.exposures;
            let first = int(&ex[0], "id").unwrap_or(0);
            let detectors = &regions[&first];
            let mut points: Vec<[f64; 3]> = Vec::new();
            for v in detectors.values() {
                points.extend(v);
            }
            let hull = convex_hull(&points)
                .map_err(|m| RepoError::Invalid(format!("visit {}: {m}", p.id)))?;
            let floats = |k: &str| all(ex.iter().map(|e| float(e, k)));
            // The least (or greatest) of an integer column over the exposures.
            let least =
                |k: &str| all(ex.iter().map(|e| int(e, k))).and_then(|v| v.into_iter().min());
            let greatest =
                |k: &str| all(ex.iter().map(|e| int(e, k))).and_then(|v| v.into_iter().max());
            let mut v = Record::from([
                ("instrument".to_owned(), inst()),
                ("id".to_owned(), Value::Int(p.id)),
                ("name".to_owned(), Value::Text(p.name.clone())),
                ("region".to_owned(), polygon(hull)),
            ]);
            let mut put = |k: &str, value: Option<Value>| {
                v.insert(k.to_owned(), value.unwrap_or(Value::Null));
            };
            put(
                "physical_filter",
                common(ex.iter().map(|e| text(e, "physical_filter"))).map(Value::Text),
            );
            put(
                "target_name",
                common(ex.iter().map(|e| text(e, "target_name"))).map(Value::Text),
            );
            put(
                "science_program",
                common(ex.iter().map(|e| text(e, "science_program"))).map(Value::Text),
            );
            put(
                "observation_reason",
                Some(Value::Text(
                    common(ex.iter().map(|e| text(e, "observation_reason")))
                        .unwrap_or_else(|| "various".into()),
                )),
            );
            put("day_obs", least("day_obs").map(Value::Int));
            put("seq_num", least("seq_num").map(Value::Int));
            put(
                "exposure_time",
                floats("exposure_time").map(|t| Value::Float(t.iter().sum())),
            );
            put(
                "zenith_angle",
                floats("zenith_angle")
                    .map(|z| Value::Float(z.iter().sum::<f64>() / z.len() as f64)),
            );
            put(
                "azimuth",
                floats("azimuth").map(|a| Value::Float(mean_angle(&a))),
            );
            put("timespan_begin", least("timespan_begin").map(Value::Int));
            put("timespan_end", greatest("timespan_end").map(Value::Int));
            v.retain(|k, _| visit_columns.iter().any(|c| c == k));
            visits.push(v);
            for e in ex {
                definitions.push(Record::from([
                    ("instrument".to_owned(), inst()),
                    ("exposure".to_owned(), Value::Int(int(e, "id").unwrap_or(0))),
                    ("visit".to_owned(), Value::Int(p.id)),
                ]));
            }
            for s in &p.systems {
                memberships.push(Record::from([
                    ("instrument".to_owned(), inst()),
                    ("visit".to_owned(), Value::Int(p.id)),
                    ("visit_system".to_owned(), Value::Int(*s)),
                ]));
            }
            detector_regions.push(
                detectors
                    .iter()
                    .map(|(d, vertices)| {
                        Record::from([
                            ("instrument".to_owned(), inst()),
                            ("visit".to_owned(), Value::Int(p.id)),
                            ("detector".to_owned(), Value::Int(*d)),
                            ("region".to_owned(), polygon(vertices.clone())),
                        ])
                    })
                    .collect(),
            );
        }
        let systems: Vec<Record> = [ONE_TO_ONE, BY_GROUP]
            .iter()
            .map(|(id, name)| {
                Record::from([
                    ("instrument".to_owned(), inst()),
                    ("id".to_owned(), Value::Int(*id)),
                    ("name".to_owned(), Value::Text((*name).to_owned())),
                ])
            })
            .collect();
        let update = options.update_records;
        let summary = self.registry.db.transaction(|conn| {
            let universe = self.registry.universe.clone();
            let mut s = summary.clone();
            sync_records(conn, &universe, "visit_system", &systems, false)?;
            if visits.is_empty() {
                return Ok::<_, RepoError>(s);
            }
            let outcomes = sync_records(conn, &universe, "visit", &visits, update)?;
            let mut new_regions = Vec::new();
            let mut changed_regions = Vec::new();
            for (o, regions) in outcomes.iter().zip(&detector_regions) {
                match o {
                    SyncOutcome::Inserted => {
                        s.inserted += 1;
                        new_regions.extend(regions.iter().cloned());
                    }
                    SyncOutcome::Updated => {
                        s.updated += 1;
                        changed_regions.extend(regions.iter().cloned());
                    }
                    SyncOutcome::Unchanged => s.unchanged += 1,
                }
            }
            for (element, records) in [
                ("visit_definition", &definitions),
                ("visit_system_membership", &memberships),
                ("visit_detector_region", &new_regions),
            ] {
                if !records.is_empty() {
                    insert_records(conn, &universe, element, records, true)?;
                }
            }
            if !changed_regions.is_empty() {
                sync_records(
                    conn,
                    &universe,
                    "visit_detector_region",
                    &changed_regions,
                    true,
                )?;
            }
            // New or changed regions change the rows of datasets already in a live
            // ObsCore table (a raw takes its region through its visit): refill it in
            // this transaction, so the table and the visits commit together.
            if s.inserted + s.updated > 0 {
                if let Some(config) = valet_obscore::live::enabled_config(conn)? {
                    s.obscore_rows = Some(valet_obscore::live::refill(
                        conn,
                        &universe,
                        &self.resolver,
                        &config,
                        None,
                    )?);
                }
            }
            Ok(s)
        })?;
        Ok(summary)
    }
}
