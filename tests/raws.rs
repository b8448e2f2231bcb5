//! `ingest-raws` on both backends: DECam- and HSC-shaped raws become exposure,
//! day_obs and group records, `raw` datasets with the reference's deterministic ids
//! and stored files; again is a no-op; bad files are reported and skipped (or stop
//! everything with fail-fast); a conflicting exposure record changes nothing.

mod common;

use std::path::{Path, PathBuf};

use common::{new_repo, Backend};
use valet::raws::IngestRawsOptions;
use valet::registry::ids::DATASET_ID_NAMESPACE;
use valet::{ErrorKind, Record, Repo, TransferMode, Value};
use valet_fits::write::write_hdus;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/raws")
        .join(name)
}

/// The generated raws (and the edge-case files, which no instrument claims), copied
/// into a directory of their own.
fn raw_dir(dir: &Path) -> PathBuf {
    let out = dir.join("raws");
    std::fs::create_dir_all(out.join("night1")).unwrap();
    for name in [
        "decam-raw.fits.fz",
        "hsc-raw-HSCA90402500.fits",
        "hsc-raw-HSCA90402512.fits",
        "hsc-raw-HSCA90403016.fits",
        "edge-cases.fits",
    ] {
        std::fs::copy(data(name), out.join("night1").join(name)).unwrap();
    }
    std::fs::write(out.join("night1/notes.txt"), "not a raw").unwrap();
    out
}

fn count(repo: &Repo, sql: &str) -> i64 {
    let mut c = repo.registry().db.conn().unwrap();
    match c.query_opt(sql, &[]).unwrap().unwrap()[0] {
        Value::Int(n) => n,
        ref v => panic!("{v:?}"),
    }
}

fn setup(backend: Backend) -> Option<(common::TestRepo, PathBuf)> {
    let t = new_repo(backend)?;
    t.repo.register_instrument_from("DECam", false).unwrap();
    t.repo.register_instrument_from("HSC", false).unwrap();
    let dir = raw_dir(t.dir.path());
    Some((t, dir))
}

fn copy_options() -> IngestRawsOptions {
    IngestRawsOptions {
        transfer: TransferMode::Copy,
        threads: 2,
        ..Default::default()
    }
}

fn ingest_then_again(backend: Backend) {
    let Some((t, dir)) = setup(backend) else {
        return;
    };
    let repo = &t.repo;
    let s = repo
        .ingest_raws(std::slice::from_ref(&dir), &copy_options())
        .unwrap();
    // notes.txt is not taken (the regex); edge-cases.fits is nobody's raw.
    assert_eq!(s.files, 5);
    assert_eq!(s.failed.len(), 1, "{:?}", s.failed);
    assert!(s.failed[0].0.ends_with("edge-cases.fits"));
    assert!(
        s.failed[0].1.contains("no registered instrument"),
        "{:?}",
        s.failed
    );
    assert_eq!(
        (s.ingested_files, s.raws, s.exposures, s.skipped),
        (4, 5, 3, 0)
    );
    assert_eq!(
        s.runs,
        vec!["DECam/raw/all".to_owned(), "HSC/raw/all".to_owned()]
    );
    assert_eq!(count(repo, "SELECT COUNT(*) FROM dataset"), 5);
    assert_eq!(count(repo, "SELECT COUNT(*) FROM exposure"), 3);
    assert_eq!(count(repo, "SELECT COUNT(*) FROM day_obs"), 2);
    assert_eq!(count(repo, "SELECT COUNT(*) FROM \"group\""), 3);
    // The DECam file holds two raws, both pointing at the one stored file, which keeps
    // its compound extension.
    let mut c = repo.registry().db.conn().unwrap();
    let rows = c
        .query(
            "SELECT DISTINCT path FROM datastore_record ORDER BY path",
            &[],
        )
        .unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(count(repo, "SELECT COUNT(*) FROM datastore_record"), 5);
    let decam: Vec<String> = rows
        .iter()
        .filter_map(|r| match &r[0] {
            Value::Text(p) if p.starts_with("DECam/") => Some(p.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(decam.len(), 1);
    assert!(decam[0].ends_with("_S1_DECam_raw_all.fits.fz"), "{decam:?}");
    assert!(repo.root().join(&decam[0]).is_file());
    // Ids are the reference's DATAID_TYPE_RUN recipe.
    let id = uuid::Uuid::new_v5(
        &DATASET_ID_NAMESPACE,
        b"dataset_type=raw,run=HSC/raw/all,detector=50,exposure=904024,instrument=HSC",
    );
    let found = c
        .query_opt(
            "SELECT COUNT(*) FROM dataset WHERE id = ?",
            &[Value::Uuid(id)],
        )
        .unwrap()
        .unwrap();
    assert_eq!(found[0], Value::Int(1));
    // The day_obs record spans the observing day from DECam's 12 h offset.
    let day = c
        .query_opt(
            "SELECT timespan_begin FROM day_obs WHERE instrument = 'DECam' AND id = 20130212",
            &[],
        )
        .unwrap()
        .unwrap();
    let begin = valet::registry::timespan::parse_tai_iso("2013-02-12 12:00:00").unwrap();
    assert_eq!(day[0], Value::Int(begin));
    drop(c);

    // Again: nothing new, and it says so.
    let again = repo
        .ingest_raws(std::slice::from_ref(&dir), &copy_options())
        .unwrap();
    assert_eq!(
        (
            again.ingested_files,
            again.raws,
            again.exposures,
            again.skipped
        ),
        (0, 0, 0, 4)
    );
    assert_eq!(count(repo, "SELECT COUNT(*) FROM dataset"), 5);
    assert!(repo.check(Default::default()).unwrap().problems.is_empty());
}

fn fail_fast_writes_nothing(backend: Backend) {
    let Some((t, dir)) = setup(backend) else {
        return;
    };
    let options = IngestRawsOptions {
        fail_fast: true,
        ..copy_options()
    };
    let e = t.repo.ingest_raws(&[dir], &options).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("edge-cases.fits"), "{e}");
    assert_eq!(count(&t.repo, "SELECT COUNT(*) FROM dataset"), 0);
    assert_eq!(count(&t.repo, "SELECT COUNT(*) FROM exposure"), 0);
}

/// Write `source`'s HDUs again with the primary header changed by `edit`.
fn rewrite(source: &Path, dest: &Path, edit: impl Fn(&mut valet_fits::Header)) {
    let bytes = std::fs::read(source).unwrap();
    let hdus = valet_fits::read_headers(source).unwrap();
    let mut headers: Vec<valet_fits::Header> = hdus.iter().map(|h| h.header.clone()).collect();
    edit(&mut headers[0]);
    let parts: Vec<(&valet_fits::Header, &[u8])> = headers
        .iter()
        .zip(&hdus)
        .map(|(h, hdu)| {
            let start = hdu.data_offset as usize;
            (h, &bytes[start..start + hdu.data_size as usize])
        })
        .collect();
    let mut out = Vec::new();
    write_hdus(&mut out, &parts).unwrap();
    std::fs::write(dest, out).unwrap();
}

fn conflicting_exposure_changes_nothing(backend: Backend) {
    let Some((t, dir)) = setup(backend) else {
        return;
    };
    let repo = &t.repo;
    let hsc = dir.join("night1/hsc-raw-HSCA90402500.fits");
    repo.ingest_raws(std::slice::from_ref(&hsc), &copy_options())
        .unwrap();
    // Another detector of the same exposure, whose header disagrees on its time.
    let other = t.dir.path().join("other.fits");
    rewrite(&dir.join("night1/hsc-raw-HSCA90402512.fits"), &other, |h| {
        h.set("EXPTIME", valet_fits::Value::Float(45.0));
    });
    let e = repo.ingest_raws(&[other], &copy_options()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    let m = e.to_string();
    assert!(
        m.contains("exposure record") && m.contains("exposure_time: 30") && m.contains("45"),
        "{m}"
    );
    assert_eq!(count(repo, "SELECT COUNT(*) FROM dataset"), 1);
}

fn corrupt_files_are_reported_and_skipped(backend: Backend) {
    let Some((t, dir)) = setup(backend) else {
        return;
    };
    let repo = &t.repo;
    let good = dir.join("night1/hsc-raw-HSCA90403016.fits");
    let bytes = std::fs::read(&good).unwrap();
    let bad = t.dir.path().join("cut.fits");
    std::fs::write(&bad, &bytes[..bytes.len() - 2880 + 64]).unwrap();
    let unknown_filter = t.dir.path().join("filter.fits");
    rewrite(&good, &unknown_filter, |h| {
        h.set("FILTER01", valet_fits::Value::Str("HSC-Q".into()));
        h.set("EXP-ID", valet_fits::Value::Str("HSCA90409900".into()));
    });
    let s = repo
        .ingest_raws(&[bad.clone(), unknown_filter, good], &copy_options())
        .unwrap();
    assert_eq!((s.ingested_files, s.raws), (1, 1));
    assert_eq!(s.failed.len(), 2);
    assert!(s.failed[0].1.contains("truncated"), "{:?}", s.failed);
    assert!(s.failed[1].1.contains("HSC-Q"), "{:?}", s.failed);
}

fn direct_transfer_records_the_path(backend: Backend) {
    let Some((t, dir)) = setup(backend) else {
        return;
    };
    let file = dir.join("night1/decam-raw.fits.fz");
    let s = t
        .repo
        .ingest_raws(
            std::slice::from_ref(&file),
            &IngestRawsOptions {
                transfer: TransferMode::Direct,
                run: Some("DECam/raw/direct".into()),
                track_file_attrs: false,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!((s.raws, s.runs.len()), (2, 1));
    let mut c = t.repo.registry().db.conn().unwrap();
    let rows = c
        .query("SELECT DISTINCT path FROM datastore_record", &[])
        .unwrap();
    assert_eq!(rows.len(), 1);
    let Value::Text(p) = &rows[0][0] else {
        panic!()
    };
    assert!(p.ends_with("decam-raw.fits.fz"), "{p}");
}

fn the_same_raw_twice_is_reported(backend: Backend) {
    let Some((t, dir)) = setup(backend) else {
        return;
    };
    let first = dir.join("night1/hsc-raw-HSCA90403016.fits");
    let copy = t.dir.path().join("copy.fits");
    std::fs::copy(&first, &copy).unwrap();
    let s = t.repo.ingest_raws(&[first, copy], &copy_options()).unwrap();
    assert_eq!((s.ingested_files, s.raws), (1, 1));
    assert_eq!(s.failed.len(), 1);
    assert!(s.failed[0].0.ends_with("copy.fits"));
    assert!(s.failed[0].1.contains("the same raws as"), "{:?}", s.failed);
}

fn raw_template_from_the_definition(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let mut def = valet::InstrumentDefinition::shipped("HSC")
        .unwrap()
        .unwrap();
    def.raw_template = Some("{run:/}/{exposure.obs_id}/{detector.full_name}".into());
    t.repo.register_instrument(&def, false).unwrap();
    let dir = raw_dir(t.dir.path());
    let file = dir.join("night1/hsc-raw-HSCA90402512.fits");
    t.repo
        .ingest_raws(std::slice::from_ref(&file), &copy_options())
        .unwrap();
    assert!(t
        .repo
        .root()
        .join("HSC/raw/all/HSCA90402400/1_12.fits")
        .is_file());
}

fn sample_raws_are_the_samples_exposures(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let shape = valet::workload::Shape {
        detectors: 4,
        visits: 3,
        runs: 1,
        reprocessed_percent: 0,
    };
    let dir = t.dir.path().join("sample-raws");
    let files = valet::sample_raws::write_raws(&dir, &shape).unwrap();
    assert_eq!(files.len(), 12);
    t.repo
        .register_instrument_from("LSSTCam-imSim", false)
        .unwrap();
    let s = t.repo.ingest_raws(&[dir], &copy_options()).unwrap();
    assert_eq!((s.raws, s.exposures, s.failed.len()), (12, 3, 0));
    // Every field the generator writes for an exposure, the raws' headers give.
    let generated: Vec<Record> = valet::workload::generate(&shape)
        .entries
        .into_iter()
        .filter_map(|(_, e)| match e {
            valet::transfers::Entry::Dimension { element, records } if element == "exposure" => {
                Some(records)
            }
            _ => None,
        })
        .flatten()
        .collect();
    let stored = t
        .repo
        .query_dimension_records(&valet::queries::DimensionRecordQuery {
            element: "exposure".into(),
            where_: String::new(),
            ..Default::default()
        })
        .unwrap()
        .records;
    assert_eq!(generated.len(), stored.len());
    for (g, s) in generated.iter().zip(&stored) {
        for (k, v) in g {
            assert_eq!(s.get(k), Some(v), "exposure {:?} field {k}", g.get("id"));
        }
    }
}

fn generated_raws_of_every_instrument(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    for name in ["DECam", "HSC", "LSSTCam-imSim"] {
        repo.register_instrument_from(name, false).unwrap();
    }
    let dir = t.dir.path().join("generated");
    let decam = valet::sample_raws::write_decam_raws(&dir.join("DECam"), 2, 5).unwrap();
    let hsc = valet::sample_raws::write_hsc_raws(&dir.join("HSC"), 2, 3).unwrap();
    assert_eq!((decam.len(), hsc.len()), (2, 6));
    let s = repo
        .ingest_raws(std::slice::from_ref(&dir), &copy_options())
        .unwrap();
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_eq!((s.ingested_files, s.raws, s.exposures), (8, 16, 4));
    for name in ["DECam", "HSC"] {
        let v = repo.define_visits(name, &Default::default()).unwrap();
        assert_eq!((v.exposures, v.inserted, v.not_on_sky), (2, 2, 0), "{name}");
    }
    // DECam's primary header (FK5, sexagesimal hours) and HSC's (ICRS) both give a
    // tracking position near where the WCS puts the first detector.
    let mut c = repo.registry().db.conn().unwrap();
    let rows = c
        .query(
            "SELECT instrument, tracking_ra FROM exposure ORDER BY instrument, id",
            &[],
        )
        .unwrap();
    let ra = |i: usize| match rows[i][1] {
        Value::Float(x) => x,
        ref v => panic!("{v:?}"),
    };
    assert!((ra(0) - 150.0).abs() < 1e-3 && (ra(2) - 30.0).abs() < 1e-3);
}

fn exported_instruments_use_the_shipped_translator(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    // dp02-mini brings LSSTCam-imSim's records but no definition.
    repo.import_files(
        &[common::conformance_data("dp02-mini/export.yaml").into()],
        &Default::default(),
    )
    .unwrap();
    // A new exposure (the sample's own would differ from dp02-mini's records).
    let dir = t.dir.path().join("sample-raws");
    std::fs::create_dir_all(&dir).unwrap();
    for d in 0..2 {
        let mut h = valet::sample_raws::raw_header(0, d);
        h.set("EXPID", valet_fits::Value::Int(999_999));
        h.set("OBSID", valet_fits::Value::Str("e999999".into()));
        h.set("GROUPID", valet_fits::Value::Str("g999999".into()));
        h.set("DAYOBS", valet_fits::Value::Int(20230101));
        let mut bytes = Vec::new();
        write_hdus(&mut bytes, &[(&h, &[0u8; 128])]).unwrap();
        std::fs::write(dir.join(format!("raw_{d}.fits")), bytes).unwrap();
    }
    let s = repo
        .ingest_raws(
            &[dir],
            &IngestRawsOptions {
                run: Some("LSSTCam-imSim/raw/new".into()),
                ..copy_options()
            },
        )
        .unwrap();
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_eq!(s.raws, 2);
}

on_both_backends!(
    ingest_then_again,
    fail_fast_writes_nothing,
    conflicting_exposure_changes_nothing,
    corrupt_files_are_reported_and_skipped,
    direct_transfer_records_the_path,
    the_same_raw_twice_is_reported,
    raw_template_from_the_definition,
    sample_raws_are_the_samples_exposures,
    generated_raws_of_every_instrument,
    exported_instruments_use_the_shipped_translator,
);
