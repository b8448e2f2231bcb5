//! `transfer-datasets` on both backends: the reference's find-first calexps of
//! dp02-mini copied into a fresh repository with their files, RUNs and only the
//! dimension records they need; refusals leave the destination as it was; a second
//! transfer copies nothing again.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::{count, new_repo, Backend};
use valet::dataset_type_writes::DatasetTypeSpec;
use valet::datastore_crate::TransferMode;
use valet::queries::DatasetSearch;
use valet::transfers::{ImportOptions, TransferOptions};
use valet::Repo;

const CHAIN: &str = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905";

/// The reference's find-first calexp ids through the chain.
fn expected_ids() -> BTreeSet<String> {
    let text =
        std::fs::read_to_string(common::conformance_data("dp02-mini/expected.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["findfirst"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["dataset_id"].as_str().unwrap().to_owned())
        .collect()
}

/// How many visits those calexps cover.
fn expected_visits() -> i64 {
    let text =
        std::fs::read_to_string(common::conformance_data("dp02-mini/expected.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let visits: BTreeSet<i64> = json["findfirst"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["data_id"]["visit"].as_i64().unwrap())
        .collect();
    visits.len() as i64
}

fn calexps_in(repo: &Repo) -> BTreeSet<String> {
    repo.find_datasets(&DatasetSearch {
        dataset_types: vec!["calexp".into()],
        collections: vec!["*".into()],
        ..Default::default()
    })
    .unwrap()
    .into_iter()
    .map(|d| d.id.to_string())
    .collect()
}

fn options(register: bool, dimensions: bool, transfer: TransferMode) -> TransferOptions {
    TransferOptions {
        search: DatasetSearch {
            dataset_types: vec!["calexp".into()],
            collections: vec![CHAIN.into()],
            find_first: true,
            ..Default::default()
        },
        ids: None,
        transfer,
        register_dataset_types: register,
        transfer_dimensions: dimensions,
        progress: None,
    }
}

/// Everything a failed transfer must leave alone.
fn state(repo: &Repo) -> (i64, i64, i64, i64) {
    (
        count(repo, "SELECT COUNT(*) FROM dataset"),
        count(repo, "SELECT COUNT(*) FROM collection"),
        count(repo, "SELECT COUNT(*) FROM dataset_type"),
        count(repo, "SELECT COUNT(*) FROM visit"),
    )
}

fn transfer_calexps(backend: Backend) {
    let Some(source) = new_repo(backend) else {
        return;
    };
    source
        .repo
        .import_files(
            &[PathBuf::from(common::conformance_data(
                "dp02-mini/export.yaml",
            ))],
            &ImportOptions {
                transfer: Some(TransferMode::Copy),
                directory: Some(common::conformance_data("dp02-mini/files").into()),
                ..Default::default()
            },
        )
        .unwrap();
    let Some(dest) = new_repo(backend) else {
        return;
    };
    let (src, dst) = (&source.repo, &dest.repo);
    let empty = state(dst);

    // Without --register-dataset-types a missing type is refused, by name.
    let e = dst
        .transfer_from(src, &options(false, true, TransferMode::Auto))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("calexp") && e.contains("--register-dataset-types"),
        "{e}"
    );
    assert_eq!(state(dst), empty);
    // Direct transfers would leave the files the source's to delete.
    let e = dst
        .transfer_from(src, &options(true, true, TransferMode::Direct))
        .unwrap_err()
        .to_string();
    assert!(e.contains("direct"), "{e}");
    // Moving would take the files from under the source's registry.
    let e = dst
        .transfer_from(src, &options(true, true, TransferMode::Move))
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot use move mode"), "{e}");
    // Without dimension records, the data IDs point at nothing: refused, unchanged.
    assert!(dst
        .transfer_from(src, &options(true, false, TransferMode::Auto))
        .is_err());
    assert_eq!(state(dst), empty);

    let expected = expected_ids();
    let n = dst
        .transfer_from(src, &options(true, true, TransferMode::Auto))
        .unwrap();
    assert_eq!(
        n.iter().map(|u| u.to_string()).collect::<BTreeSet<_>>(),
        expected
    );
    assert_eq!(calexps_in(dst), expected, "the reference's find-first ids");
    // Their RUNs, not the chain; only the records the calexps point at, with what
    // a visit brings (its definitions and their exposures, as the reference's
    // "populated by" rule has it).
    assert_eq!(
        count(dst, "SELECT COUNT(*) FROM collection WHERE type = 3"),
        0
    );
    assert_eq!(count(dst, "SELECT COUNT(*) FROM visit"), expected_visits());
    assert_eq!(
        count(dst, "SELECT COUNT(*) FROM visit_definition"),
        count(src, "SELECT COUNT(*) FROM visit_definition")
    );
    assert_eq!(
        count(dst, "SELECT COUNT(*) FROM exposure"),
        count(src, "SELECT COUNT(DISTINCT exposure) FROM visit_definition")
    );
    assert!(count(dst, "SELECT COUNT(*) FROM visit_detector_region") > 0);
    // Files copied (auto copies), checksums and all.
    assert_eq!(
        valet::check::check(dst, true, false).unwrap().problems,
        Vec::<String>::new()
    );
    let store = dst.config().datastore_path(dst.root());
    assert!(!std::fs::symlink_metadata(&store).unwrap().is_symlink());

    // Again: counted as the reference counts them, nothing copied twice.
    let before = state(dst);
    let n = dst
        .transfer_from(src, &options(false, true, TransferMode::Auto))
        .unwrap();
    assert_eq!(n.len(), expected.len());
    assert_eq!(state(dst), before);

    // By ids, as the reference's transfer_from takes refs: a raw and a bias go to a
    // fresh repository; an unknown id is refused there first.
    let Some(by_id) = new_repo(backend) else {
        return;
    };
    let pick = |t: &str, c: &str| {
        src.find_datasets(&DatasetSearch {
            dataset_types: vec![t.into()],
            collections: vec![c.into()],
            ..Default::default()
        })
        .unwrap()[0]
            .id
    };
    let raw = pick("raw", "LSSTCam-imSim/raw/all");
    let bias = pick("bias", "LSSTCam-imSim/calib/DM-30694/20210601");
    let by_ids = |ids: Vec<uuid::Uuid>| TransferOptions {
        ids: Some(ids),
        ..options(true, true, TransferMode::Copy)
    };
    assert!(by_id
        .repo
        .transfer_from(src, &by_ids(vec![raw, uuid::Uuid::nil()]))
        .is_err());
    let moved = by_id
        .repo
        .transfer_from(src, &by_ids(vec![raw, bias]))
        .unwrap();
    assert_eq!(moved, vec![raw, bias]);
    assert_eq!(count(&by_id.repo, "SELECT COUNT(*) FROM dataset"), 2);
    assert_eq!(count(&by_id.repo, "SELECT COUNT(*) FROM exposure"), 1);

    // A destination whose calexp differs refuses, naming both definitions.
    let Some(other) = new_repo(backend) else {
        return;
    };
    other
        .repo
        .register_dataset_type(
            "calexp",
            &DatasetTypeSpec {
                storage_class: "StructuredDataDict".into(),
                dimensions: vec!["instrument".into(), "visit".into(), "detector".into()],
                is_calibration: false,
            },
        )
        .unwrap();
    let e = other
        .repo
        .transfer_from(src, &options(true, true, TransferMode::Copy))
        .unwrap_err()
        .to_string();
    assert!(e.contains("differs") && e.contains("ExposureF"), "{e}");
}

on_both_backends!(transfer_calexps);
