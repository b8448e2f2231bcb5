//! The reference's find-first answers on the dp02 fixtures, ids included: bulk
//! find-first through the DP0.2 chain, the union without find-first, single look-ups,
//! calibration look-ups at a time, raws through the nested defaults chain, and calexps
//! through a personal chain.

mod common;

use std::path::PathBuf;

use common::{new_repo, Backend};
use serde_json::{json, Value as Json};
use valet::collections::{DatasetQuery, FindRequest, Found};
use valet::registry::timespan::parse_tai_iso;
use valet::registry::{DataId, Timespan, Value};
use valet::transfers::ImportOptions;
use valet::Repo;

const CHAIN: &str = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905";

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/conformance")
        .join(path)
}

fn data_id(j: &Json) -> DataId {
    j.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Json::Number(n) => Value::Int(n.as_i64().unwrap()),
                Json::String(s) => Value::Text(s.clone()),
                other => panic!("unexpected data ID value {other}"),
            };
            (k.clone(), v)
        })
        .collect()
}

fn data_id_json(d: &DataId) -> Json {
    let m: serde_json::Map<String, Json> = d
        .iter()
        .map(|(k, v)| {
            let j = match v {
                Value::Int(i) => json!(i),
                Value::Text(s) => json!(s),
                other => panic!("unexpected {other:?}"),
            };
            (k.clone(), j)
        })
        .collect();
    Json::Object(m)
}

fn query(repo: &Repo, dataset_type: &str, collections: &[&str], find_first: bool) -> Vec<Found> {
    let mut conn = repo.registry().db.conn().unwrap();
    let mut out = Vec::new();
    repo.resolver()
        .query_datasets(
            &mut conn,
            &repo.registry().universe,
            &DatasetQuery {
                dataset_type: dataset_type.into(),
                collections: collections.iter().map(|s| s.to_string()).collect(),
                find_first,
                ..Default::default()
            },
            &mut |f| {
                out.push(f);
                Ok(true)
            },
        )
        .unwrap();
    out
}

/// One `find_dataset` look-up, answered as (dataset id, run).
fn find(
    repo: &Repo,
    dataset_type: &str,
    data_id_json: &Json,
    collection: &str,
    timespan: Option<Timespan>,
) -> Option<(String, String)> {
    let mut conn = repo.registry().db.conn().unwrap();
    let did = data_id(data_id_json);
    let collections = vec![collection.to_owned()];
    let found = repo
        .resolver()
        .find_dataset(
            &mut conn,
            &repo.registry().universe,
            &FindRequest {
                dataset_type,
                data_id: &did,
                collections: &collections,
                timespan,
                as_of: None,
            },
        )
        .unwrap();
    found.map(|f| (f.dataset.id.to_string(), f.dataset.run))
}

/// The reference's answer to a look-up: (dataset id, run), or none.
fn expected(answer: &Json) -> Option<(String, String)> {
    answer["dataset_id"]
        .as_str()
        .map(|id| (id.to_owned(), answer["run"].as_str().unwrap().to_owned()))
}

fn check(backend: Backend, fixture: &str) {
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    repo.import_files(
        &[data(&format!("{fixture}/export.yaml"))],
        &ImportOptions::default(),
    )
    .unwrap();
    let exp: Json = serde_json::from_str(
        &std::fs::read_to_string(data(&format!("{fixture}/expected.json"))).unwrap(),
    )
    .unwrap();

    // Bulk find-first, sorted by visit then detector as the reference lists it.
    let mut found = query(repo, "calexp", &[CHAIN], true);
    found.sort_by_key(|f| {
        (
            f.dataset.data_id["visit"].as_i64(),
            f.dataset.data_id["detector"].as_i64(),
        )
    });
    let got: Vec<Json> = found
        .iter()
        .map(|f| json!({"data_id": data_id_json(&f.dataset.data_id), "dataset_id": f.dataset.id.to_string(), "run": f.dataset.run}))
        .collect();
    assert_eq!(Json::Array(got), exp["findfirst"], "findfirst");

    assert_eq!(
        json!(query(repo, "calexp", &[CHAIN], false).len()),
        exp["union_count"],
        "union_count"
    );

    for l in exp["lookups"].as_array().unwrap() {
        let collection = l["collection"].as_str().unwrap();
        let got = find(repo, "calexp", &l["data_id"], collection, None);
        assert_eq!(got, expected(l), "lookup {l}");
    }
    for c in exp["calib"].as_array().unwrap() {
        let at = parse_tai_iso(c["tai"].as_str().unwrap()).unwrap();
        let at = Timespan::new(Some(at), Some(at));
        let got = find(repo, "bias", &c["data_id"], "LSSTCam-imSim/calib", Some(at));
        assert_eq!(got, expected(c), "calib {c}");
    }

    let mut raws: Vec<String> = query(repo, "raw", &["LSSTCam-imSim/defaults"], true)
        .iter()
        .map(|f| f.dataset.id.to_string())
        .collect();
    raws.sort();
    assert_eq!(json!(raws), exp["raw_defaults"], "raw_defaults");

    let mut user: Vec<Json> = query(repo, "calexp", &["u/someone/DM-99999"], true)
        .iter()
        .map(|f| json!([f.dataset.id.to_string(), f.dataset.run]))
        .collect();
    user.sort_by_key(|v| v[0].as_str().unwrap().to_owned());
    assert_eq!(
        Json::Array(user),
        exp["user_chain_calexp"],
        "user_chain_calexp"
    );
}

fn dp02_mini(backend: Backend) {
    check(backend, "dp02-mini");
}

fn dp02_small(backend: Backend) {
    check(backend, "dp02-small");
}

on_both_backends!(dp02_mini, dp02_small);
