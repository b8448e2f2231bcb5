//! The Repo methods the commands call, used directly: what a front end other than the
//! CLI sees.

mod common;

use std::path::PathBuf;

use common::{new_repo, Backend};
use valet::collection_queries::{ChainsView, QueryCollectionsOptions};
use valet::collection_writes::{CertifyOptions, DecertifyOptions, RegisterCollectionOptions};
use valet::dataset_type_writes::DatasetTypeSpec;
use valet::queries::{
    parse_binds, DatasetSearch, DimensionRecordQuery, FindDatasetOptions, QueryDataIdsOptions,
    QueryDatasetsOptions,
};
use valet::transfers::ImportOptions;
use valet::{CollectionType, DataId, Repo, Timespan, Value};

const CHAIN: &str = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905";

fn dp02_mini(repo: &Repo) {
    let export = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/conformance/dp02-mini/export.yaml");
    repo.import_files(&[export], &ImportOptions::default())
        .unwrap();
}

fn search(types: &[&str], collections: &[&str], find_first: bool) -> DatasetSearch {
    DatasetSearch {
        dataset_types: types.iter().map(|s| s.to_string()).collect(),
        collections: collections.iter().map(|s| s.to_string()).collect(),
        find_first,
        ..Default::default()
    }
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap()
}

fn dataset_queries(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    dp02_mini(repo);

    // Sorted by detector descending, then visit; dimensions in universe order.
    let found = repo
        .query_datasets(&QueryDatasetsOptions {
            search: DatasetSearch {
                where_: "visit IN (1..3)".into(),
                ..search(&["calexp"], &[CHAIN], true)
            },
            order_by: vec!["-detector".into(), "visit".into()],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(&found.dimensions[..3], ["instrument", "detector", "visit"]);
    let keys: Vec<(i64, i64)> = found
        .iter()
        .map(|r| {
            let d = r.data_id();
            (int(&d["detector"]), int(&d["visit"]))
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    assert_eq!(keys, sorted);
    assert!(keys.len() > 3 && found.iter().all(|r| r.uri().is_none()));

    // A column that is not there is named, with those that are.
    let err = repo
        .query_datasets(&QueryDatasetsOptions {
            search: search(&["calexp"], &[CHAIN], true),
            order_by: vec!["uri".into()],
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"uri\": no such column (columns: type, run, id, instrument"));

    // The limit and the owner type of the RUNs.
    let limited = repo
        .query_datasets(&QueryDatasetsOptions {
            search: search(&["calexp"], &[CHAIN], true),
            limit: Some(2),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(limited.len(), 2);
    let personal = repo
        .query_datasets(&QueryDatasetsOptions {
            search: search(&[], &["u/someone/DM-99999"], false),
            owner_type: Some("user".into()),
            ..Default::default()
        })
        .unwrap();
    assert!(personal.iter().all(|r| r.run().starts_with("u/someone/")));
    assert!(repo
        .find_datasets(&search(&["calexp"], &[], false))
        .unwrap_err()
        .to_string()
        .contains("no collections given"));

    // One look-up; a miss is None.
    let mut data_id: DataId = [
        ("instrument".to_owned(), Value::from("LSSTCam-imSim")),
        ("detector".to_owned(), Value::Int(1)),
        ("visit".to_owned(), Value::Int(5)),
    ]
    .into_iter()
    .collect();
    let find = |data_id: &DataId| {
        repo.find_dataset(&FindDatasetOptions {
            dataset_type: "calexp".into(),
            data_id: data_id.clone(),
            collections: vec![CHAIN.into()],
            ..Default::default()
        })
        .unwrap()
    };
    let hit = find(&data_id).unwrap();
    assert_eq!(hit.found.dataset.data_id["visit"], Value::Int(5));
    assert_eq!(&hit.dimensions[..3], ["instrument", "detector", "visit"]);
    data_id.insert("visit".into(), Value::Int(99));
    assert!(find(&data_id).is_none());

    // Distinct data IDs, sorted, cut at the limit.
    let ids = repo
        .query_data_ids(&QueryDataIdsOptions {
            search: search(&["calexp"], &[CHAIN], false),
            dimensions: vec!["visit".into()],
            limit: Some(3),
            ..Default::default()
        })
        .unwrap();
    // A dimension brings those it requires and implies, as in the reference.
    assert_eq!(
        ids.dimensions,
        ["instrument", "visit", "band", "day_obs", "physical_filter"]
    );
    let visits: Vec<i64> = ids.rows.iter().map(|r| int(&r[1])).collect();
    assert_eq!(visits, [0, 1, 2]);

    // Dimension records with a bound filter.
    let detectors = repo
        .query_dimension_records(&DimensionRecordQuery {
            element: "detector".into(),
            where_: "detector IN (1..5) AND full_name != x".into(),
            bind: parse_binds(&["x=R00_S02".into()]).unwrap(),
            limit: Some(2),
            ..Default::default()
        })
        .unwrap();
    let got: Vec<i64> = detectors.records.iter().map(|r| int(&r["id"])).collect();
    assert_eq!(got, [1, 3]);
}

fn collection_reads_and_writes(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    dp02_mini(repo);

    // The tree below a chain, and its children beside it.
    let view = |chains| {
        repo.query_collections(&QueryCollectionsOptions {
            patterns: vec!["LSSTCam-imSim/defaults".into()],
            chains,
            ..Default::default()
        })
        .unwrap()
    };
    let tree: Vec<(String, usize)> = view(ChainsView::Tree)
        .into_iter()
        .map(|r| (r.record.name, r.depth))
        .collect();
    assert_eq!(
        tree,
        [
            ("LSSTCam-imSim/defaults".to_owned(), 0),
            ("LSSTCam-imSim/raw".to_owned(), 1),
            ("LSSTCam-imSim/raw/DM-12345".to_owned(), 2),
            ("LSSTCam-imSim/calib".to_owned(), 1),
            ("LSSTCam-imSim/calib/DM-30694".to_owned(), 2),
        ]
    );
    let table = view(ChainsView::Table);
    assert_eq!(table.len(), 1);
    assert_eq!(
        table[0].related,
        ["LSSTCam-imSim/raw", "LSSTCam-imSim/calib"]
    );
    let runs = repo
        .matching_collections(&["LSSTCam-imSim/*".into()], &[CollectionType::Run])
        .unwrap();
    assert!(runs.len() == 4 && runs.contains(&"LSSTCam-imSim/raw/all".to_owned()));

    // Registering twice creates once.
    let register = || {
        repo.register_collection(
            "u/someone/calib",
            CollectionType::Calibration,
            &RegisterCollectionOptions::default(),
        )
        .unwrap()
    };
    assert!(register());
    assert!(!register());

    // Certify from a RUN, then cut a month out of every range.
    let tai = |t: &str| valet::registry::timespan::parse_tai_iso(t).unwrap();
    let n = repo
        .certify_calibrations(&CertifyOptions {
            input: "LSSTCam-imSim/calib/DM-30694/20210601".into(),
            output: "u/someone/calib".into(),
            dataset_type: "bias".into(),
            timespan: Timespan::new(Some(tai("2020-01-01")), Some(tai("2021-01-01"))),
            search_all_inputs: false,
        })
        .unwrap();
    assert!(n > 0);
    let changed = repo
        .decertify_calibrations(&DecertifyOptions {
            collection: "u/someone/calib".into(),
            dataset_type: "bias".into(),
            timespan: Timespan::new(Some(tai("2020-06-01")), Some(tai("2020-07-01"))),
            data_ids: vec![],
        })
        .unwrap();
    assert_eq!(changed, n);

    // Dataset types: all or none go.
    let spec = DatasetTypeSpec {
        storage_class: "StructuredDataDict".into(),
        dimensions: vec!["instrument".into()],
        is_calibration: false,
    };
    for name in ["scratch_a", "scratch_b"] {
        assert!(repo.register_dataset_type(name, &spec).unwrap().1);
    }
    assert!(repo
        .remove_dataset_types(&["scratch_*".into(), "missing".into()])
        .is_err());
    assert_eq!(
        repo.remove_dataset_types(&["scratch_*".into()]).unwrap(),
        ["scratch_a", "scratch_b"]
    );
}

/// Front ends tell failures apart by `RepoError::kind()`, through every layer an
/// error passes: the registry, the collection layer, observers, ObsCore.
fn error_kinds(backend: Backend) {
    use valet::collections::chains::ChainMode;
    use valet::ErrorKind;
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    dp02_mini(repo);
    let kind = |r: Result<(), valet::RepoError>| r.unwrap_err().kind();
    let chain = |name: &str, kids: &[&str]| {
        let kids: Vec<String> = kids.iter().map(|s| s.to_string()).collect();
        repo.collection_chain(name, ChainMode::Redefine, &kids, false, None)
            .map(|_| ())
    };
    assert_eq!(kind(chain("u/me/c", &["no/such/run"])), ErrorKind::NotFound);
    // A chain listing itself is malformed input; a name taken by another type, a
    // conflict.
    assert_eq!(
        kind(chain("u/me/c", &[]).and_then(|()| chain("u/me/c", &["u/me/c"]))),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        kind(
            repo.register_collection("u/me/c", CollectionType::Tagged, &Default::default())
                .map(|_| ())
        ),
        ErrorKind::Conflict
    );
    let registered = |name: &str| {
        repo.register_collection(name, CollectionType::Run, &Default::default())
            .map(|_| ())
    };
    assert_eq!(kind(registered("a/\u{200B}b")), ErrorKind::InvalidInput);
    valet::registry::identity::set_thread_user(Some("mallory"));
    let denied = kind(registered("shared/run"));
    valet::registry::identity::set_thread_user(None);
    assert_eq!(denied, ErrorKind::Denied);
    assert_eq!(
        kind(repo.enable_obscore("dataset_types: [", None).map(|_| ())),
        ErrorKind::ObsCore
    );
    // An observer's failure keeps the registry's kind: a configuration naming a type
    // the repository lacks is "not found", not an ObsCore error.
    let config = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/conformance/dp02-mini/obscore.yaml"),
    )
    .unwrap()
    .replace("calexp:", "calxep:");
    assert_eq!(
        kind(repo.enable_obscore(&config, None).map(|_| ())),
        ErrorKind::NotFound
    );
}

/// Listings of several dataset types: grouped by type, each sorted as asked, with the
/// same datasets the plain search finds.
fn dataset_listing_order(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    dp02_mini(repo);
    let both = search(&["raw", "calexp"], &["*"], false);
    let listed = repo
        .query_datasets(&QueryDatasetsOptions {
            search: both.clone(),
            ..Default::default()
        })
        .unwrap();
    let mut listed_ids: Vec<_> = listed.iter().map(|r| r.id()).collect();
    let mut found_ids: Vec<_> = repo
        .find_datasets(&both)
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    listed_ids.sort();
    found_ids.sort();
    assert_eq!(listed_ids, found_ids);
    assert!(listed.len() > 100);

    // Types by name, each in one block; RUN first in the reference's order.
    let types: Vec<&str> = listed.iter().map(|r| r.dataset_type()).collect();
    let first_raw = types.iter().position(|t| *t == "raw").unwrap();
    assert!(types[..first_raw].iter().all(|t| *t == "calexp"));
    assert!(types[first_raw..].iter().all(|t| *t == "raw"));
    let runs: Vec<&str> = listed.iter().take(first_raw).map(|r| r.run()).collect();
    assert!(runs.windows(2).all(|w| w[0] <= w[1]));

    // The union of columns: required in universe order, then implied by name.
    let required = listed.dimensions.iter().position(|d| d == "band").unwrap();
    assert_eq!(
        &listed.dimensions[..required],
        ["instrument", "detector", "visit", "exposure"]
    );
    let implied = &listed.dimensions[required..];
    assert!(implied.windows(2).all(|w| w[0] < w[1]), "{implied:?}");
    assert_eq!(
        listed.type_dimensions["calexp"],
        [
            "instrument",
            "detector",
            "visit",
            "band",
            "day_obs",
            "physical_filter"
        ]
    );

    // Ids descending, then a cut after the sort keeps the largest.
    let by_id = |order: &str, limit: Option<usize>| {
        let rows = repo
            .query_datasets(&QueryDatasetsOptions {
                search: search(&["calexp"], &["*"], false),
                order_by: vec![order.into()],
                limit,
                ..Default::default()
            })
            .unwrap();
        (
            rows.iter().map(|r| r.id()).collect::<Vec<_>>(),
            rows.limited,
        )
    };
    let (descending, _) = by_id("-id", None);
    assert!(descending.windows(2).all(|w| w[0] > w[1]));
    let (first, limited) = by_id("-id", Some(3));
    assert_eq!(first, descending[..3]);
    assert!(limited);

    // A later key decides among rows equal in the first.
    let rows = repo
        .query_datasets(&QueryDatasetsOptions {
            search: search(&["calexp"], &[CHAIN], true),
            order_by: vec!["band".into(), "-visit".into(), "detector".into()],
            ..Default::default()
        })
        .unwrap();
    let keys: Vec<(String, i64, i64)> = rows
        .iter()
        .map(|r| {
            let band = r.value("band").and_then(|v| v.as_str()).unwrap().to_owned();
            (
                band,
                int(r.value("visit").unwrap()),
                int(r.value("detector").unwrap()),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    assert_eq!(keys, sorted);

    // Datasets by id: `dataset_id` or `calexp.dataset_id` with UUID('…') values.
    let ids: Vec<_> = rows.iter().take(2).map(|r| r.id()).collect();
    let by_id = |where_: String| {
        repo.query_datasets(&QueryDatasetsOptions {
            search: DatasetSearch {
                where_,
                ..search(&["calexp"], &[CHAIN], true)
            },
            ..Default::default()
        })
        .map(|rows| rows.iter().map(|r| r.id()).collect::<Vec<_>>())
    };
    assert_eq!(
        by_id(format!("dataset_id = UUID('{}')", ids[0])).unwrap(),
        [ids[0]]
    );
    let mut both = by_id(format!(
        "calexp.dataset_id IN (UUID('{}'), UUID('{}')) AND visit > -1",
        ids[0], ids[1]
    ))
    .unwrap();
    both.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(both, want);
    let err = by_id(format!("dataset_id = '{}'", ids[0]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("holds UUIDs"), "{err}");
}

/// Arrow batches of a search: the same datasets as the row search, split into batches
/// of the size asked, each with its own dictionaries, and an IPC stream of them reads
/// back whole.
fn datasets_as_arrow(backend: Backend) {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, Int64Type};
    use arrow_array::RecordBatch;

    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    dp02_mini(repo);
    let s = search(&["calexp"], &[CHAIN], true);
    let mut expected = Vec::new();
    repo.search_datasets(&s, &mut |f| {
        let visit = f.dataset.data_id.get("visit").map(int);
        expected.push((f.dataset.id.to_string(), f.dataset.run.clone(), visit));
        Ok(true)
    })
    .unwrap();
    assert!(
        expected.len() > 10,
        "dp02-mini has more than two batches of calexps"
    );

    let schema = repo.datasets_arrow_schema("calexp").unwrap();
    let mut batches: Vec<RecordBatch> = Vec::new();
    repo.datasets_arrow("calexp", &s, 4, &mut |b| {
        batches.push(b);
        Ok(())
    })
    .unwrap();
    assert_eq!(batches.len(), expected.len().div_ceil(4));
    assert!(batches
        .iter()
        .all(|b| b.schema() == schema && b.num_rows() <= 4));

    let mut buf = Vec::new();
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut buf, &schema).unwrap();
    for b in &batches {
        writer.write(b).unwrap();
    }
    writer.finish().unwrap();
    let read: Vec<RecordBatch> = arrow_ipc::reader::StreamReader::try_new(&buf[..], None)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(read, batches);

    let mut got = Vec::new();
    for b in &read {
        let ids = b.column_by_name("id").unwrap().as_string::<i32>();
        let runs = b
            .column_by_name("run")
            .unwrap()
            .as_dictionary::<Int32Type>();
        let run_names = runs.values().as_string::<i32>();
        let visits = b
            .column_by_name("visit")
            .unwrap()
            .as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            let run = run_names.value(runs.keys().value(i) as usize);
            got.push((
                ids.value(i).to_owned(),
                run.to_owned(),
                Some(visits.value(i)),
            ));
        }
    }
    assert_eq!(got, expected);

    // A failure of the consumer stops the search and comes back unchanged.
    let mut calls = 0;
    let err = repo
        .datasets_arrow("calexp", &s, 4, &mut |_| {
            calls += 1;
            Err(valet::RepoError::Invalid("the consumer gave up".into()))
        })
        .unwrap_err();
    assert_eq!(
        (calls, err.to_string().as_str()),
        (1, "the consumer gave up")
    );
}

on_both_backends!(
    datasets_as_arrow,
    dataset_queries,
    dataset_listing_order,
    collection_reads_and_writes,
    error_kinds
);
