//! The reference's collection answers on the dp02 fixtures: globs, regexes, flattened
//! chains, trees, types, and the calibration ranges left by a decertify split.

mod common;

use std::path::PathBuf;

use common::{new_repo, Backend};
use serde_json::Value as Json;
use valet::collections::calibration::validity_ranges;
use valet::collections::{query_collections, CollectionQuery};
use valet::registry::timespan::format_tai_iso;
use valet::transfers::ImportOptions;

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/conformance")
        .join(path)
}

fn expected(name: &str) -> Json {
    let text = std::fs::read_to_string(data(&format!("{name}/expected.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn names(records: &[valet::registry::CollectionRecord]) -> Vec<String> {
    records.iter().map(|c| c.name.clone()).collect()
}

fn iso6(ns: i64) -> String {
    // The reference writes TAI times with microseconds and a 'T'.
    let full = format_tai_iso(ns);
    format!("{}T{}", &full[..10], &full[11..26])
}

fn check(backend: Backend, fixture: &str) {
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    let summary = repo
        .import_files(
            &[data(&format!("{fixture}/export.yaml"))],
            &ImportOptions::default(),
        )
        .unwrap();
    assert!(summary.datasets > 0);
    let exp = expected(fixture);
    let mut conn = repo.registry().db.conn().unwrap();
    let mut checked = 0;
    for (key, answer) in exp["collections"].as_object().unwrap() {
        let answer_names = |v: &Json| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_owned())
                .collect()
        };
        if key == "types" {
            let all = query_collections(&mut conn, &CollectionQuery::default()).unwrap();
            let got: serde_json::Map<String, Json> = all
                .iter()
                .map(|c| (c.name.clone(), Json::String(c.kind.name().to_owned())))
                .collect();
            assert_eq!(&Json::Object(got), answer, "types");
            checked += 1;
            continue;
        }
        let (kind, arg) = key.split_once(':').unwrap();
        let q = match kind {
            "glob" => CollectionQuery {
                patterns: vec![arg.into()],
                ..Default::default()
            },
            "regex" => CollectionQuery {
                patterns: vec![arg.into()],
                regex: true,
                ..Default::default()
            },
            "flatten" => CollectionQuery {
                patterns: vec![arg.into()],
                flatten_chains: true,
                ..Default::default()
            },
            "tree" => CollectionQuery {
                patterns: vec![arg.into()],
                flatten_chains: true,
                include_chains: Some(true),
                ..Default::default()
            },
            other => panic!("unknown collection answer kind {other}"),
        };
        let got = names(&query_collections(&mut conn, &q).unwrap());
        assert_eq!(got, answer_names(answer), "{key}");
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} collection answers checked");

    let ranges = validity_ranges(&mut conn, "LSSTCam-imSim/calib/DM-30694", "bias").unwrap();
    let got: Vec<Json> = ranges
        .iter()
        .map(|r| {
            serde_json::json!([
                r.data_id["detector"].as_i64().unwrap(),
                r.timespan.begin.map(iso6),
                r.timespan.end.map(iso6),
                r.dataset_id.to_string()
            ])
        })
        .collect();
    assert_eq!(Json::Array(got), exp["calib_ranges"]);
}

fn dp02_mini(backend: Backend) {
    check(backend, "dp02-mini");
}

fn dp02_small(backend: Backend) {
    check(backend, "dp02-small");
}

on_both_backends!(dp02_mini, dp02_small);
