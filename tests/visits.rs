//! `define-visits` on both backends: one-to-one and by-group visits from ingested
//! raws, their records, detector regions that agree with astropy.wcs (within 0.01
//! arcsec; `tests/data/raws/wcs.json`), and a second run that changes nothing.

mod common;

use std::path::{Path, PathBuf};

use common::{new_repo, Backend};
use serde_json::Value as Json;
use valet::queries::DimensionRecordQuery;
use valet::raws::visits::DefineVisitsOptions;
use valet::raws::IngestRawsOptions;
use valet::registry::region::{lon_lat_degrees, Region};
use valet::{Record, Repo, TransferMode, Value};
use valet_fits::write::write_hdus;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/raws")
        .join(name)
}

fn records(repo: &Repo, element: &str, where_: &str) -> Vec<Record> {
    repo.query_dimension_records(&DimensionRecordQuery {
        element: element.into(),
        where_: where_.into(),
        ..Default::default()
    })
    .unwrap()
    .records
}

fn vertices(r: &Record) -> Vec<(f64, f64)> {
    let Some(Value::Bytes(b)) = r.get("region") else {
        panic!("no region in {r:?}")
    };
    match Region::decode(b) {
        Region::ConvexPolygon(v) => v.into_iter().map(lon_lat_degrees).collect(),
        other => panic!("{other:?}"),
    }
}

fn arcsec(a: (f64, f64), b: (f64, f64)) -> f64 {
    let v = |(ra, dec): (f64, f64)| valet::raws::wcs::unit_vector(ra, dec);
    let (p, q) = (v(a), v(b));
    let d: f64 = p
        .iter()
        .zip(q)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt();
    (2.0 * (d / 2.0).asin()).to_degrees() * 3600.0
}

fn copy_ingest(repo: &Repo, paths: &[PathBuf]) {
    let s = repo
        .ingest_raws(
            paths,
            &IngestRawsOptions {
                transfer: TransferMode::Copy,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(s.failed.is_empty(), "{:?}", s.failed);
}

fn decam_and_hsc_visits(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    repo.register_instrument_from("DECam", false).unwrap();
    repo.register_instrument_from("HSC", false).unwrap();
    let files: Vec<PathBuf> = [
        "decam-raw.fits.fz",
        "hsc-raw-HSCA90402500.fits",
        "hsc-raw-HSCA90402512.fits",
        "hsc-raw-HSCA90403016.fits",
    ]
    .iter()
    .map(|f| data(f))
    .collect();
    copy_ingest(repo, &files);
    let hsc = repo.define_visits("HSC", &Default::default()).unwrap();
    assert_eq!((hsc.exposures, hsc.inserted, hsc.not_on_sky), (2, 2, 0));
    let decam = repo.define_visits("DECam", &Default::default()).unwrap();
    assert_eq!((decam.exposures, decam.inserted), (1, 1));

    // One-to-one visits named by obs_id, in both systems (their groups have one
    // exposure each).
    let visits = records(repo, "visit", "");
    assert_eq!(visits.len(), 3);
    let decam_visit = &visits[0];
    assert_eq!(decam_visit.get("id"), Some(&Value::Int(177764)));
    assert_eq!(
        decam_visit.get("name"),
        Some(&Value::Text("ct4m20130213t090140".into()))
    );
    assert_eq!(records(repo, "visit_system_membership", "").len(), 6);
    assert_eq!(records(repo, "visit_definition", "").len(), 3);

    // Detector regions: every corner astropy computes is a vertex, every vertex one
    // of astropy's boundary points.
    let oracle: serde_json::Map<String, Json> =
        serde_json::from_str(&std::fs::read_to_string(data("wcs.json")).unwrap()).unwrap();
    let points = |file: &str, hdu: u64| -> Vec<(f64, f64)> {
        oracle[file]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["hdu"].as_u64() == Some(hdu))
            .unwrap()["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[2].as_f64().unwrap(), p[3].as_f64().unwrap()))
            .collect()
    };
    // DECam's detector 25 is HDU 1 and detector 1 HDU 2; HSC detector 50's file.
    for (where_, file, hdu) in [
        (
            "instrument = 'DECam' AND detector = 25",
            "decam-raw.fits.fz",
            1,
        ),
        (
            "instrument = 'DECam' AND detector = 1",
            "decam-raw.fits.fz",
            2,
        ),
        (
            "instrument = 'HSC' AND detector = 50",
            "hsc-raw-HSCA90402512.fits",
            0,
        ),
    ] {
        let r = records(repo, "visit_detector_region", where_);
        assert_eq!(r.len(), 1, "{where_}");
        let ours = vertices(&r[0]);
        let theirs = points(file, hdu);
        for corner in [theirs[0], theirs[2], theirs[4], theirs[6]] {
            let best = ours
                .iter()
                .map(|v| arcsec(*v, corner))
                .fold(f64::MAX, f64::min);
            assert!(
                best < 0.01,
                "{where_}: corner {corner:?} is {best} arcsec from a vertex"
            );
        }
        for v in &ours {
            let best = theirs[..8]
                .iter()
                .map(|p| arcsec(*v, *p))
                .fold(f64::MAX, f64::min);
            assert!(
                best < 0.01,
                "{where_}: vertex {v:?} is {best} arcsec from the boundary"
            );
        }
    }
    // The DECam visit's region is the hull of both detectors': every boundary point
    // of either is inside it (left of every edge, seen from outside).
    let visit_vertices = vertices(decam_visit);
    let unit = |(ra, dec): (f64, f64)| valet::raws::wcs::unit_vector(ra, dec);
    for hdu in [1, 2] {
        for p in points("decam-raw.fits.fz", hdu) {
            let p = unit(p);
            for k in 0..visit_vertices.len() {
                let (a, b) = (
                    unit(visit_vertices[k]),
                    unit(visit_vertices[(k + 1) % visit_vertices.len()]),
                );
                let n = [
                    a[1] * b[2] - a[2] * b[1],
                    a[2] * b[0] - a[0] * b[2],
                    a[0] * b[1] - a[1] * b[0],
                ];
                assert!(n[0] * p[0] + n[1] * p[1] + n[2] * p[2] > -1e-9);
            }
        }
    }
    assert!(visit_vertices.len() >= 4);

    // The visits feed ObsCore: a raw's row takes its detector's region.
    let config = valet::obscore::ObsCoreConfig::from_yaml(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/obscore-dp02.yaml"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut csv = Vec::new();
    let options = valet::obscore_api::ObsCoreExportOptions {
        collections: vec!["DECam/raw/all".into()],
        ..Default::default()
    };
    let rows = repo
        .write_obscore(
            &mut csv,
            valet::obscore_api::ObsCoreFormat::Csv,
            &valet::obscore_api::ObsCoreSource::search(&config, &options),
        )
        .unwrap();
    assert_eq!(rows, 2);
    let csv = String::from_utf8(csv).unwrap();
    let s25 = csv.lines().find(|l| l.contains("-S1\"")).unwrap();
    let region = records(
        repo,
        "visit_detector_region",
        "instrument = 'DECam' AND detector = 25",
    );
    let (ra, dec) = vertices(&region[0])[0];
    assert!(
        s25.contains(&format!("POLYGON ICRS {ra:.6} {dec:.6}")),
        "{s25}"
    );

    // Again: nothing changes.
    let again = repo.define_visits("HSC", &Default::default()).unwrap();
    assert_eq!((again.inserted, again.unchanged), (0, 2));
    let updated = repo
        .define_visits(
            "DECam",
            &DefineVisitsOptions {
                update_records: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!((updated.unchanged, updated.updated), (1, 0));
}

/// Sample raws of the given (visit, detector) pairs, with a header edit.
fn sample_raws(
    dir: &Path,
    pairs: &[(i64, i64)],
    edit: impl Fn(i64, &mut valet_fits::Header),
) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    pairs
        .iter()
        .map(|(v, d)| {
            let mut h = valet::sample_raws::raw_header(*v, *d);
            edit(*v, &mut h);
            let path = dir.join(format!("raw_{v}_{d}.fits"));
            let mut bytes = Vec::new();
            write_hdus(&mut bytes, &[(&h, &[0u8; 128])]).unwrap();
            std::fs::write(&path, bytes).unwrap();
            path
        })
        .collect()
}

fn groups_of_exposures_become_one_visit(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    repo.register_instrument_from("LSSTCam-imSim", false)
        .unwrap();
    // Exposures 0 and 6 (the same filter) in one group; exposure 12 alone; exposure 18
    // has no tracking position, so it is not on the sky.
    let files = sample_raws(
        &t.dir.path().join("raws"),
        &[(0, 0), (0, 1), (6, 0), (6, 1), (12, 0), (18, 0)],
        |v, h| {
            if v == 0 || v == 6 {
                h.set("GROUPID", valet_fits::Value::Str("snaps".into()));
            }
            if v == 18 {
                h.set("RATEL", valet_fits::Value::Undefined);
            }
        },
    );
    copy_ingest(repo, &files);
    let s = repo
        .define_visits("LSSTCam-imSim", &Default::default())
        .unwrap();
    assert_eq!((s.exposures, s.not_on_sky, s.inserted), (4, 1, 4));
    let visits = records(repo, "visit", "");
    let by_id = |id: i64| {
        visits
            .iter()
            .find(|v| v.get("id") == Some(&Value::Int(id)))
            .unwrap_or_else(|| panic!("no visit {id}"))
    };
    // The group's visit: the first exposure's id, the group's name, both exposures.
    let group = by_id(0);
    assert_eq!(group.get("name"), Some(&Value::Text("snaps".into())));
    assert_eq!(group.get("exposure_time"), Some(&Value::Float(60.0)));
    assert_eq!(
        group.get("physical_filter"),
        Some(&Value::Text("u_sim_1.4".into()))
    );
    let e0 = &records(repo, "exposure", "id = 0")[0];
    let e6 = &records(repo, "exposure", "id = 6")[0];
    assert_eq!(group.get("timespan_begin"), e0.get("timespan_begin"));
    assert_eq!(group.get("timespan_end"), e6.get("timespan_end"));
    // The first exposure's own visit moves aside; the other keeps its id.
    assert_eq!(by_id(90).get("name"), Some(&Value::Text("e0_first".into())));
    assert_eq!(by_id(6).get("name"), Some(&Value::Text("e6".into())));
    assert_eq!(by_id(12).get("name"), Some(&Value::Text("e12".into())));
    let definitions = records(repo, "visit_definition", "visit = 0");
    assert_eq!(definitions.len(), 2);
    let systems = |visit: i64| -> Vec<Value> {
        records(repo, "visit_system_membership", &format!("visit = {visit}"))
            .iter()
            .filter_map(|r| r.get("visit_system").cloned())
            .collect()
    };
    assert_eq!(systems(0), vec![Value::Int(1)]);
    assert_eq!(systems(90), vec![Value::Int(0)]);
    assert_eq!(systems(12), vec![Value::Int(0), Value::Int(1)]);
    // Two detectors' regions for the group visit, from its first exposure.
    assert_eq!(records(repo, "visit_detector_region", "visit = 0").len(), 2);
}

fn live_obscore_table_takes_the_regions(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    repo.register_instrument_from("DECam", false).unwrap();
    copy_ingest(repo, &[data("decam-raw.fits.fz")]);
    let config = r#"
namespace: daf_butler_obscore
version: 0
table_name: obscore
collection_type: RUN
facility_name: Test
obs_collection: TEST
collections: ["DECam/raw/all"]
dataset_types:
  raw:
    dataproduct_type: image
    calib_level: 1
    obs_id_fmt: "{records[exposure].obs_id}-{records[detector].full_name}"
"#;
    assert_eq!(repo.enable_obscore(config, None).unwrap(), 2);
    assert!(repo.check_obscore_table().unwrap().is_empty());
    let s = repo.define_visits("DECam", &Default::default()).unwrap();
    assert_eq!(s.obscore_rows, Some(2));
    let problems = repo.check_obscore_table().unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    // Nothing new: the table is left alone.
    let again = repo.define_visits("DECam", &Default::default()).unwrap();
    assert_eq!(again.obscore_rows, None);
}

on_both_backends!(
    decam_and_hsc_visits,
    groups_of_exposures_become_one_visit,
    live_obscore_table_takes_the_regions,
);
