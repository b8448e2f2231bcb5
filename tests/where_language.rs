//! The `--where` forms beyond comparisons, on both backends, over dp02-mini's 360
//! find-first calexps (30 visits × 12 detectors, visit n observed from 00:0n:00 TAI
//! on 2022-01-01 for 30 s): arithmetic, time literals, timespan bounds and OVERLAPS,
//! GLOB (case-sensitive on both), ingest_date, and `:name` binds; and on dimension
//! records.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::{new_repo, Backend};
use valet::queries::{parse_binds, DatasetSearch, DimensionRecordQuery};
use valet::transfers::ImportOptions;
use valet::{Repo, Value};

const CHAIN: &str = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905";

/// The visits of the calexps `where_` selects (with `bind`), and how many there are.
fn calexps(repo: &Repo, where_: &str, bind: &[&str]) -> (BTreeSet<i64>, usize) {
    let bind: Vec<String> = bind.iter().map(|b| b.to_string()).collect();
    let found = repo
        .find_datasets(&DatasetSearch {
            dataset_types: vec!["calexp".into()],
            collections: vec![CHAIN.into()],
            find_first: true,
            where_: where_.into(),
            bind: parse_binds(&bind).unwrap(),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{where_}: {e}"));
    let visits = found
        .iter()
        .map(|d| d.data_id["visit"].as_i64().unwrap())
        .collect();
    (visits, found.len())
}

fn visit_names(repo: &Repo, where_: &str) -> Vec<String> {
    let records = repo
        .query_dimension_records(&DimensionRecordQuery {
            element: "visit".into(),
            where_: where_.into(),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{where_}: {e}"));
    records
        .records
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect()
}

fn where_forms(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    repo.import_files(
        &[PathBuf::from(common::conformance_data(
            "dp02-mini/export.yaml",
        ))],
        &ImportOptions::default(),
    )
    .unwrap();
    let visits = |v: &[i64]| v.iter().copied().collect::<BTreeSet<i64>>();

    assert_eq!(calexps(repo, "", &[]).1, 360);
    assert_eq!(calexps(repo, "visit + 1 = 4", &[]), (visits(&[3]), 12));
    assert_eq!(
        calexps(repo, "visit % 10 = 0 AND detector * 2 >= 20", &[]),
        (visits(&[0, 10, 20]), 6)
    );
    assert_eq!(
        calexps(repo, "(visit - 1) IN (0..2)", &[]),
        (visits(&[1, 2, 3]), 36)
    );
    assert_eq!(calexps(repo, "-visit > -2", &[]), (visits(&[0, 1]), 24));

    // 00:01:33 UTC is 00:02:10 TAI: inside visit 2.
    for instant in ["T'2022-01-01T00:01:33'", "T'2022-01-01 00:02:10/tai'"] {
        let text = format!("visit.timespan OVERLAPS {instant}");
        assert_eq!(calexps(repo, &text, &[]), (visits(&[2]), 12), "{text}");
    }
    // Half-open: visit 2 ends where the range begins, visit 4 begins where it ends.
    assert_eq!(
        calexps(
            repo,
            "visit.timespan OVERLAPS (T'2022-01-01T00:02:30/tai', T'2022-01-01T00:04:00/tai')",
            &[]
        ),
        (visits(&[3]), 12)
    );
    assert_eq!(
        calexps(
            repo,
            "visit.timespan.begin >= T'2022-01-01T00:28:00/tai'",
            &[]
        ),
        (visits(&[28, 29]), 24)
    );
    assert_eq!(calexps(repo, "ingest_date > T'2000-01-01'", &[]).1, 360);
    assert_eq!(calexps(repo, "ingest_date < T'2000-01-01'", &[]).1, 0);

    // GLOB is case-sensitive on both backends, as the reference's.
    let y = calexps(repo, "band = 'y'", &[]);
    assert!(y.1 > 0);
    assert_eq!(calexps(repo, "GLOB(physical_filter, 'y*')", &[]), y);
    assert_eq!(calexps(repo, "GLOB(physical_filter, 'Y*')", &[]).1, 0);
    assert_eq!(calexps(repo, "GLOB(physical_filter, 'y_sim_?.4')", &[]), y);
    assert_eq!(calexps(repo, "GLOB(physical_filter, 'y%')", &[]).1, 0);

    assert_eq!(calexps(repo, "visit = :v", &["v=5"]), (visits(&[5]), 12));
    assert_eq!(calexps(repo, "GLOB(band, :pattern)", &["pattern=y"]), y);

    // Related dimensions join through visit_definition (visit n is exposure n);
    // record fields alone resolve where one element has them, as the reference.
    assert_eq!(calexps(repo, "exposure = 3", &[]), (visits(&[3]), 12));
    assert_eq!(
        calexps(repo, "exposure.exposure_time > 0 AND visit < 2", &[]),
        (visits(&[0, 1]), 24)
    );
    assert_eq!(
        calexps(repo, "exposure_time > 0 AND visit < 2", &[]),
        calexps(repo, "visit.exposure_time > 0 AND visit < 2", &[])
    );
    assert_eq!(
        calexps(repo, "physical_filter.band = 'y'", &[]),
        calexps(repo, "band = 'y'", &[])
    );
    // dp02-mini's day_obs record has no timespan, and NULL never matches.
    assert_eq!(
        calexps(
            repo,
            "day_obs.timespan OVERLAPS T'2022-01-01T12:00:00/tai'",
            &[]
        )
        .1,
        0
    );
    let ambiguous = repo
        .find_datasets(&DatasetSearch {
            dataset_types: vec!["calexp".into()],
            collections: vec![CHAIN.into()],
            find_first: true,
            where_: "timespan.begin > T'2020-01-01'".into(),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
    assert!(
        ambiguous.contains("'visit.timespan', 'day_obs.timespan'"),
        "{ambiguous}"
    );
    // A visit of two exposures: its calexps still come once each.
    let definition: valet::registry::Record = [
        ("instrument", Value::from("LSSTCam-imSim")),
        ("visit", Value::Int(3)),
        ("exposure", Value::Int(4)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    repo.insert_dimension_records("visit_definition", &[definition], Default::default())
        .unwrap();
    assert_eq!(
        calexps(repo, "exposure IN (3, 4)", &[]),
        (visits(&[3, 4]), 24)
    );
    assert_eq!(calexps(repo, "exposure = 4", &[]), (visits(&[3, 4]), 24));

    // Dimension records.
    assert_eq!(
        visit_names(repo, "timespan.begin < T'2022-01-01T00:02:00/tai'"),
        ["v0", "v1"]
    );
    assert_eq!(visit_names(repo, "GLOB(name, 'v1*')").len(), 11);
    assert_eq!(visit_names(repo, "id * 2 = 58"), ["v29"]);
}

on_both_backends!(where_forms);
