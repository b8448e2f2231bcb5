//! A generator of DP0.2-shaped repositories, at any scale: one instrument, its
//! detectors, N visits (one exposure each), raws in `<instrument>/raw/all`, calexps
//! spread over R processing RUNs chained newest-first (with a fraction of data IDs
//! re-processed in a later RUN), biases certified in a CALIBRATION collection, and the
//! pointer chains of the repository conventions. It produces an export model that can
//! be imported directly or written out as a Butler export file.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use uuid::Uuid;
use valet_registry::region::Region;
use valet_registry::{CollectionType, DataId, Record, Timespan, Value};

use crate::repo::io_err;
use crate::transfers::model::{Association, CollectionEntry, DatasetFile, Entry, ExportFile};
use crate::transfers::write_export;
use crate::RepoError;

/// The instrument the sample uses.
pub const INSTRUMENT: &str = "LSSTCam-imSim";
/// The public processing chain.
pub const CHAIN: &str = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905";
/// Where raws live.
pub const RAW_RUN: &str = "LSSTCam-imSim/raw/all";
/// The CALIBRATION collection.
pub const CALIB: &str = "LSSTCam-imSim/calib/DM-30694";

pub(crate) const BANDS: [&str; 6] = ["u", "g", "r", "i", "z", "y"];
/// The sample's files are JSON placeholders, read (by the reference too) with its
/// JSON formatter rather than the one their storage class would choose.
const JSON_FORMATTER: &str = "lsst.daf.butler.formatters.json.JsonFormatter";

/// 2022-01-01T00:00:00 TAI in nanoseconds.
pub(crate) const START_NS: i64 = 1_640_995_200_000_000_000;
pub(crate) const EXPOSURE_NS: i64 = 30_000_000_000;

/// The size of a generated repository.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Detectors (DP0.2: 189).
    pub detectors: i64,
    /// Visits, one exposure each.
    pub visits: i64,
    /// Processing RUNs in the chain (DP0.2: 286).
    pub runs: i64,
    /// Percentage of calexp data IDs re-processed in a later RUN (DP0.2: ~10).
    pub reprocessed_percent: i64,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            detectors: 189,
            visits: 530,
            runs: 286,
            reprocessed_percent: 10,
        }
    }
}

/// The name of processing RUN `k` (0-based, oldest first).
pub fn run_name(k: i64) -> String {
    format!("{CHAIN}/2021{:04}T{:02}0000Z", 1200 + k / 24, k % 24)
}

fn rec(pairs: Vec<(&str, Value)>) -> Record {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn data_id(pairs: &[(&str, Value)]) -> DataId {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// A deterministic id, so a sample is the same every time it is generated.
fn sample_id(kind: &str, a: i64, b: i64, c: i64) -> Uuid {
    Uuid::new_v5(
        &valet_registry::ids::DATASET_ID_NAMESPACE,
        format!("valet-sample/{kind}/{a}/{b}/{c}").as_bytes(),
    )
}

/// A small square on the sky (degrees), as an encoded sphgeom ConvexPolygon.
pub fn square(ra: f64, dec: f64, half: f64) -> Value {
    let corner = |dra: f64, ddec: f64| {
        let (lon, lat) = ((ra + dra).to_radians(), (dec + ddec).to_radians());
        [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
    };
    Value::Bytes(
        Region::ConvexPolygon(vec![
            corner(-half, -half),
            corner(half, -half),
            corner(half, half),
            corner(-half, half),
        ])
        .encode(),
    )
}

pub(crate) fn visit_center(v: i64) -> (f64, f64) {
    (
        50.0 + (v % 40) as f64 * 0.5,
        -30.0 + (v / 40 % 20) as f64 * 0.5,
    )
}

pub(crate) fn detector_center(v: i64, d: i64) -> (f64, f64) {
    let (ra, dec) = visit_center(v);
    (
        ra - 0.95 + (d % 14) as f64 * 0.14,
        dec - 0.95 + (d / 14 % 14) as f64 * 0.14,
    )
}

/// Dimension records of the sample.
fn dimension_entries(shape: &Shape) -> Vec<Entry> {
    let i = || Value::from(INSTRUMENT);
    let mut out = vec![Entry::Dimension {
        element: "instrument".into(),
        records: vec![rec(vec![
            ("name", i()),
            ("visit_max", 100_000_000.into()),
            ("exposure_max", 100_000_000.into()),
            ("detector_max", 1000.into()),
            ("class_name", "lsst.obs.lsst.LsstCamImSim".into()),
        ])],
    }];
    out.push(Entry::Dimension {
        element: "physical_filter".into(),
        records: BANDS
            .iter()
            .map(|b| {
                rec(vec![
                    ("instrument", i()),
                    ("name", format!("{b}_sim_1.4").into()),
                    ("band", (*b).into()),
                ])
            })
            .collect(),
    });
    out.push(Entry::Dimension {
        element: "detector".into(),
        records: (0..shape.detectors)
            .map(|d| {
                rec(vec![
                    ("instrument", i()),
                    ("id", d.into()),
                    ("full_name", format!("R{:02}_S{:02}", d / 9, d % 9).into()),
                    ("name_in_raft", format!("S{:02}", d % 9).into()),
                    ("raft", format!("R{:02}", d / 9).into()),
                    ("purpose", "SCIENCE".into()),
                ])
            })
            .collect(),
    });
    let days = (shape.visits / 500 + 1).max(1);
    out.push(Entry::Dimension {
        element: "day_obs".into(),
        records: (0..days)
            .map(|k| rec(vec![("instrument", i()), ("id", (20220101 + k).into())]))
            .collect(),
    });
    out.push(Entry::Dimension {
        element: "group".into(),
        records: (0..shape.visits)
            .map(|v| rec(vec![("instrument", i()), ("name", v.to_string().into())]))
            .collect(),
    });
    let filter = |v: i64| Value::from(format!("{}_sim_1.4", BANDS[(v % 6) as usize]));
    let day = |v: i64| Value::Int(20220101 + v / 500);
    let begin = |v: i64| START_NS + v * 60_000_000_000;
    out.push(Entry::Dimension {
        element: "exposure".into(),
        records: (0..shape.visits)
            .map(|v| {
                let (ra, dec) = visit_center(v);
                rec(vec![
                    ("instrument", i()),
                    ("id", v.into()),
                    ("day_obs", day(v)),
                    ("group", v.to_string().into()),
                    ("physical_filter", filter(v)),
                    ("obs_id", format!("e{v}").into()),
                    ("exposure_time", 30.0.into()),
                    ("dark_time", 30.0.into()),
                    ("observation_type", "science".into()),
                    ("observation_reason", "survey".into()),
                    ("seq_num", v.into()),
                    ("target_name", "DC2".into()),
                    ("science_program", "DP0.2".into()),
                    ("tracking_ra", ra.into()),
                    ("tracking_dec", dec.into()),
                    ("timespan_begin", begin(v).into()),
                    ("timespan_end", (begin(v) + EXPOSURE_NS).into()),
                ])
            })
            .collect(),
    });
    out.push(Entry::Dimension {
        element: "visit".into(),
        records: (0..shape.visits)
            .map(|v| {
                let (ra, dec) = visit_center(v);
                rec(vec![
                    ("instrument", i()),
                    ("id", v.into()),
                    ("day_obs", day(v)),
                    ("physical_filter", filter(v)),
                    ("name", format!("v{v}").into()),
                    ("seq_num", v.into()),
                    ("exposure_time", 30.0.into()),
                    ("target_name", "DC2".into()),
                    ("science_program", "DP0.2".into()),
                    ("region", square(ra, dec, 1.0)),
                    ("timespan_begin", begin(v).into()),
                    ("timespan_end", (begin(v) + EXPOSURE_NS).into()),
                ])
            })
            .collect(),
    });
    out.push(Entry::Dimension {
        element: "visit_definition".into(),
        records: (0..shape.visits)
            .map(|v| {
                rec(vec![
                    ("instrument", i()),
                    ("exposure", v.into()),
                    ("visit", v.into()),
                ])
            })
            .collect(),
    });
    out.push(Entry::Dimension {
        element: "visit_detector_region".into(),
        records: (0..shape.visits)
            .flat_map(|v| {
                (0..shape.detectors).map(move |d| {
                    let (ra, dec) = detector_center(v, d);
                    rec(vec![
                        ("instrument", Value::from(INSTRUMENT)),
                        ("detector", d.into()),
                        ("visit", v.into()),
                        ("region", square(ra, dec, 0.07)),
                    ])
                })
            })
            .collect(),
    });
    out
}

fn collection(name: &str, kind: CollectionType, children: Vec<String>) -> Entry {
    Entry::Collection(CollectionEntry {
        name: name.to_owned(),
        kind,
        doc: None,
        children,
    })
}

fn dataset_type(name: &str, dims: &[&str], storage_class: &str, calib: bool) -> Entry {
    Entry::DatasetType {
        name: name.into(),
        dimensions: dims.iter().map(|s| s.to_string()).collect(),
        storage_class: storage_class.into(),
        is_calibration: calib,
    }
}

/// Write the sample as a Butler export file, `directory/export.yaml` (the directory is
/// created if missing); returns the file's path.
pub fn write_sample(directory: &Path, shape: &Shape) -> Result<PathBuf, RepoError> {
    std::fs::create_dir_all(directory).map_err(io_err(directory))?;
    let path = directory.join("export.yaml");
    let file = std::fs::File::create(&path).map_err(io_err(&path))?;
    let mut out = BufWriter::new(file);
    write_export(&generate(shape), &mut out).map_err(io_err(&path))?;
    out.flush().map_err(io_err(&path))?;
    Ok(path)
}

/// Build the whole sample as an export model.
pub fn generate(shape: &Shape) -> ExportFile {
    let runs = shape.runs.max(1);
    let mut entries = dimension_entries(shape);
    let calib_runs: Vec<String> = (1..=3).map(|k| format!("{CALIB}/2021060{k}")).collect();
    entries.push(collection(RAW_RUN, CollectionType::Run, vec![]));
    for k in 0..runs {
        entries.push(collection(&run_name(k), CollectionType::Run, vec![]));
    }
    for r in &calib_runs {
        entries.push(collection(r, CollectionType::Run, vec![]));
    }
    entries.push(collection(CALIB, CollectionType::Calibration, vec![]));
    let mut chain: Vec<String> = (0..runs).rev().map(run_name).collect();
    chain.push(RAW_RUN.into());
    entries.push(collection(CHAIN, CollectionType::Chained, chain));
    entries.push(collection(
        "LSSTCam-imSim/calib",
        CollectionType::Chained,
        vec![CALIB.into()],
    ));
    entries.push(collection(
        "LSSTCam-imSim/defaults",
        CollectionType::Chained,
        vec![RAW_RUN.into(), "LSSTCam-imSim/calib".into()],
    ));

    entries.push(dataset_type(
        "raw",
        &[
            "instrument",
            "detector",
            "exposure",
            "band",
            "physical_filter",
            "day_obs",
            "group",
        ],
        "Exposure",
        false,
    ));
    let i = || Value::from(INSTRUMENT);
    let raw_files: Vec<DatasetFile> = (0..shape.visits)
        .flat_map(|e| {
            (0..shape.detectors).map(move |d| DatasetFile {
                ids: vec![sample_id("raw", e, d, 0)],
                data_ids: vec![data_id(&[
                    ("instrument", i()),
                    ("detector", d.into()),
                    ("exposure", e.into()),
                ])],
                path: Some(format!("{RAW_RUN}/raw/raw_{INSTRUMENT}_{d}_{e}.json")),
                formatter: Some(JSON_FORMATTER.into()),
            })
        })
        .collect();
    entries.push(Entry::Datasets {
        dataset_type: "raw".into(),
        run: RAW_RUN.into(),
        files: raw_files,
    });

    entries.push(dataset_type(
        "calexp",
        &[
            "instrument",
            "detector",
            "visit",
            "band",
            "physical_filter",
            "day_obs",
        ],
        "ExposureF",
        false,
    ));
    // Visits are processed in order, spread evenly over the runs; a slice of each
    // run's data IDs is processed again by the run after it.
    let per_run = (shape.visits + runs - 1) / runs;
    let mut by_run: Vec<Vec<(i64, i64)>> = vec![Vec::new(); runs as usize];
    for v in 0..shape.visits {
        let k = (v / per_run.max(1)).min(runs - 1);
        for d in 0..shape.detectors {
            by_run[k as usize].push((v, d));
            let again = (v * shape.detectors + d) % 100 < shape.reprocessed_percent;
            if again && k + 1 < runs {
                by_run[(k + 1) as usize].push((v, d));
            }
        }
    }
    for (k, items) in by_run.into_iter().enumerate() {
        if items.is_empty() {
            continue;
        }
        let run = run_name(k as i64);
        entries.push(Entry::Datasets {
            dataset_type: "calexp".into(),
            run: run.clone(),
            files: items
                .into_iter()
                .map(|(v, d)| DatasetFile {
                    ids: vec![sample_id("calexp", v, d, k as i64)],
                    data_ids: vec![data_id(&[
                        ("instrument", i()),
                        ("detector", d.into()),
                        ("visit", v.into()),
                    ])],
                    path: Some(format!("{run}/calexp/calexp_{INSTRUMENT}_{d}_{v}.json")),
                    formatter: Some(JSON_FORMATTER.into()),
                })
                .collect(),
        });
    }

    entries.push(dataset_type(
        "bias",
        &["instrument", "detector"],
        "ExposureF",
        true,
    ));
    let mut ranges = Vec::new();
    let bounds = [
        None,
        Some(START_NS),
        Some(START_NS + 86_400_000_000_000),
        None,
    ];
    for (k, r) in calib_runs.iter().enumerate() {
        let ids: Vec<Uuid> = (0..shape.detectors)
            .map(|d| sample_id("bias", d, k as i64, 0))
            .collect();
        entries.push(Entry::Datasets {
            dataset_type: "bias".into(),
            run: r.clone(),
            files: (0..shape.detectors)
                .map(|d| DatasetFile {
                    ids: vec![ids[d as usize]],
                    data_ids: vec![data_id(&[("instrument", i()), ("detector", d.into())])],
                    path: Some(format!("{r}/bias/bias_{INSTRUMENT}_{d}.json")),
                    formatter: Some(JSON_FORMATTER.into()),
                })
                .collect(),
        });
        ranges.push((Timespan::new(bounds[k], bounds[k + 1]), ids));
    }
    entries.push(Entry::Associations {
        collection: CALIB.into(),
        association: Association::Calibration(ranges),
    });
    ExportFile {
        version: "1.0.2".into(),
        universe_version: 8,
        universe_namespace: "daf_butler".into(),
        entries: entries.into_iter().map(|e| (0, e)).collect(),
    }
}

/// Insert the sample's dimension records (one exposure and one visit per visit
/// number, with timespans, regions and `visit_definition`) straight into a
/// repository, without datasets: the set-up of benchmarks and examples that add
/// their own datasets. `detector_regions` adds a region per visit and detector.
pub fn insert_dimension_records(
    repo: &crate::Repo,
    shape: &Shape,
    detector_regions: bool,
) -> Result<(), crate::RepoError> {
    for entry in dimension_entries(shape) {
        let Entry::Dimension { element, records } = entry else {
            continue;
        };
        if element == "visit_detector_region" && !detector_regions {
            continue;
        }
        // Large elements go in slices to keep each transaction's memory modest.
        for chunk in records.chunks(100_000) {
            repo.registry
                .insert_dimension_records(&element, chunk, false)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_counts() {
        let shape = Shape {
            detectors: 4,
            visits: 10,
            runs: 3,
            reprocessed_percent: 10,
        };
        let f = generate(&shape);
        let calexps: usize = f
            .entries
            .iter()
            .filter_map(|(_, e)| match e {
                Entry::Datasets {
                    dataset_type,
                    files,
                    ..
                } if dataset_type == "calexp" => Some(files.len()),
                _ => None,
            })
            .sum();
        // 40 data IDs, of which indices 0..10 (mod 100) are processed twice.
        assert_eq!(calexps, 50);
        assert_eq!(run_name(0), format!("{CHAIN}/20211200T000000Z"));
        assert_eq!(run_name(25), format!("{CHAIN}/20211201T010000Z"));
    }
}
