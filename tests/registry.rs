//! Registry foundation tests: repositories, the universe, dimension records, dataset
//! types and datasets, each on SQLite and PostgreSQL.

mod common;

use common::{new_repo, Backend};
use valet::registry::db::{DbError, TRANSACTION_ATTEMPTS};
use valet::registry::{
    dataset_types, datasets, dimensions, CollectionType, Conn, DataId, IdGenerationMode,
    NewDataset, Record, Registry, RegistryError, Value,
};
use valet::{CreateOptions, Repo, Universe};

fn rec(pairs: &[(&str, Value)]) -> Record {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn data_id(pairs: &[(&str, Value)]) -> DataId {
    rec(pairs)
}

/// HSC with two filters, `n_detectors` detectors and `n_exposures` exposures.
fn add_hsc(repo: &Repo, n_detectors: i64, n_exposures: i64) {
    let r = repo.registry();
    r.insert_dimension_records(
        "instrument",
        &[rec(&[
            ("name", "HSC".into()),
            ("detector_max", 200.into()),
            ("class_name", "lsst.obs.subaru.HyperSuprimeCam".into()),
        ])],
        false,
    )
    .unwrap();
    r.insert_dimension_records(
        "physical_filter",
        &[
            rec(&[
                ("instrument", "HSC".into()),
                ("name", "HSC-R".into()),
                ("band", "r".into()),
            ]),
            rec(&[
                ("instrument", "HSC".into()),
                ("name", "HSC-I".into()),
                ("band", "i".into()),
            ]),
        ],
        false,
    )
    .unwrap();
    let detectors: Vec<Record> = (0..n_detectors)
        .map(|d| {
            rec(&[
                ("instrument", "HSC".into()),
                ("id", d.into()),
                ("full_name", format!("D{d:03}").into()),
            ])
        })
        .collect();
    r.insert_dimension_records("detector", &detectors, false)
        .unwrap();
    r.insert_dimension_records(
        "day_obs",
        &[rec(&[
            ("instrument", "HSC".into()),
            ("id", 20130617.into()),
        ])],
        false,
    )
    .unwrap();
    r.insert_dimension_records(
        "group",
        &[rec(&[("instrument", "HSC".into()), ("name", "g1".into())])],
        false,
    )
    .unwrap();
    let exposures: Vec<Record> = (0..n_exposures)
        .map(|e| {
            rec(&[
                ("instrument", "HSC".into()),
                ("id", (903334 + e).into()),
                ("obs_id", format!("HSCA{:08}", 903334 + e).into()),
                ("physical_filter", "HSC-R".into()),
                ("day_obs", 20130617.into()),
                ("group", "g1".into()),
                ("exposure_time", 30.0.into()),
                ("has_simulated", false.into()),
                ("datetime_begin", "2013-06-17 13:00:00.000000000".into()),
                ("datetime_end", "2013-06-17 13:00:30.000000000".into()),
            ])
        })
        .collect();
    r.insert_dimension_records("exposure", &exposures, false)
        .unwrap();
}

fn register_raw(repo: &Repo) {
    repo.registry()
        .register_dataset_type(
            "raw",
            "Exposure",
            &["instrument".into(), "exposure".into(), "detector".into()],
            false,
        )
        .unwrap();
}

fn count_rows(repo: &Repo, table: &str) -> i64 {
    let mut c = repo.registry().db.conn().unwrap();
    c.query_opt(&format!("SELECT COUNT(*) FROM {table}"), &[])
        .unwrap()
        .unwrap()[0]
        .as_i64()
        .unwrap()
}

fn count_datasets(repo: &Repo) -> i64 {
    count_rows(repo, "dataset")
}

fn create_and_open(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let root = t.root();
    assert!(root.join("valet.yaml").exists());
    if backend == Backend::Sqlite {
        assert!(root.join("registry.sqlite3").exists());
    }
    let reopened = Repo::open(&root).unwrap();
    assert_eq!(reopened.registry().universe.version, 8);
    assert_eq!(reopened.registry().universe.namespace, "daf_butler");

    // A second create over the same repository refuses and leaves it usable.
    let again = Repo::create(
        &root,
        &CreateOptions {
            db: t.db_url.clone(),
            dimension_config: None,
            identity: None,
        },
    );
    let msg = again.err().expect("second create must fail").to_string();
    assert!(msg.contains("already holds a repository"), "{msg}");
    Repo::open(&root).unwrap();

    // A registry written by a newer valet is refused with a clear message.
    {
        let mut c = reopened.registry().db.conn().unwrap();
        c.execute(
            "UPDATE valet_attributes SET value = '99' WHERE name = 'schema_version'",
            &[],
        )
        .unwrap();
    }
    let msg = Repo::open(&root)
        .err()
        .expect("newer schema must fail")
        .to_string();
    assert!(msg.contains("schema version 99 is newer"), "{msg}");

    let not_repo = t.dir.path().join("nothing-here");
    let msg = Repo::open(&not_repo).err().unwrap().to_string();
    assert!(msg.contains("not a valet repository"), "{msg}");
}

fn records_and_foreign_keys(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    add_hsc(repo, 3, 2);
    let r = repo.registry();

    // A visit whose physical_filter is unknown is refused, naming both records.
    let bad_visit = rec(&[
        ("instrument", "HSC".into()),
        ("id", 1.into()),
        ("name", "v1".into()),
        ("physical_filter", "HSC-Z".into()),
        ("day_obs", 20130617.into()),
    ]);
    let err = r
        .insert_dimension_records("visit", &[bad_visit], false)
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, RegistryError::NotFound(_)), "{msg}");
    assert!(
        msg.contains("visit record {instrument: HSC, id: 1}"),
        "{msg}"
    );
    assert!(
        msg.contains("physical_filter {instrument: HSC, name: HSC-Z} does not exist"),
        "{msg}"
    );

    // An unknown instrument in a detector.
    let err = r
        .insert_dimension_records(
            "detector",
            &[rec(&[
                ("instrument", "LSSTCam".into()),
                ("id", 1.into()),
                ("full_name", "x".into()),
            ])],
            false,
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("instrument {name: LSSTCam} does not exist"),
        "{err}"
    );

    // Duplicates: an error without skip_existing, a no-op with it.
    let det = rec(&[
        ("instrument", "HSC".into()),
        ("id", 0.into()),
        ("full_name", "D000".into()),
    ]);
    let err = r
        .insert_dimension_records("detector", std::slice::from_ref(&det), false)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("detector record {instrument: HSC, id: 0} already exists"),
        "{err}"
    );
    assert_eq!(
        r.insert_dimension_records("detector", &[det], true)
            .unwrap(),
        0
    );

    // Unique alternate key: another detector with an existing full_name.
    let clash = rec(&[
        ("instrument", "HSC".into()),
        ("id", 50.into()),
        ("full_name", "D001".into()),
    ]);
    assert!(r
        .insert_dimension_records("detector", &[clash], true)
        .is_err());

    // Unknown fields and missing keys are refused.
    let err = r
        .insert_dimension_records(
            "detector",
            &[rec(&[
                ("instrument", "HSC".into()),
                ("id", 7.into()),
                ("full_name", "x".into()),
                ("colour", "red".into()),
            ])],
            false,
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("unknown field \"colour\""),
        "{err}"
    );
    let err = r
        .insert_dimension_records(
            "detector",
            &[rec(&[
                ("instrument", "HSC".into()),
                ("full_name", "x".into()),
            ])],
            false,
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("missing key field \"id\""),
        "{err}"
    );

    // Listing: ordered by key, types restored, band derived from physical filters.
    let mut c = r.db.conn().unwrap();
    let (cols, recs) = dimensions::query_records(&mut c, &r.universe, "detector", None).unwrap();
    assert_eq!(&cols[..3], &["instrument", "id", "full_name"]);
    let ids: Vec<i64> = recs.iter().map(|x| x["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![0, 1, 2]);
    let (_, exposures) = dimensions::query_records(&mut c, &r.universe, "exposure", None).unwrap();
    assert_eq!(exposures[0]["has_simulated"], Value::Bool(false));
    assert_eq!(
        exposures[0]["timespan_begin"],
        Value::Int(1_371_474_000_000_000_000)
    );
    let (_, bands) = dimensions::query_records(&mut c, &r.universe, "band", None).unwrap();
    let bands: Vec<&str> = bands.iter().map(|b| b["name"].as_str().unwrap()).collect();
    assert_eq!(bands, vec!["i", "r"]);
    let filter = ("\"id\" >= ?", &[Value::Int(1)][..]);
    let (_, some) =
        dimensions::query_records(&mut c, &r.universe, "detector", Some(filter)).unwrap();
    assert_eq!(some.len(), 2);
    assert!(dimensions::query_records(&mut c, &r.universe, "htm7", None).is_err());
    assert!(dimensions::query_records(&mut c, &r.universe, "nonsense", None).is_err());
}

fn dataset_type_rules(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    add_hsc(repo, 2, 1);
    let r = repo.registry();
    let dims = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let (raw, inserted) = r
        .register_dataset_type(
            "raw",
            "Exposure",
            &dims(&["instrument", "exposure", "detector"]),
            false,
        )
        .unwrap();
    assert!(inserted);
    assert_eq!(
        raw.dimensions.required,
        vec!["instrument", "detector", "exposure"]
    );
    assert!(raw
        .dimensions
        .implied
        .contains(&"physical_filter".to_string()));
    // The same definition again (dimensions in another order, implied ones spelled out).
    let (_, inserted) = r
        .register_dataset_type(
            "raw",
            "Exposure",
            &dims(&[
                "detector",
                "exposure",
                "instrument",
                "band",
                "physical_filter",
                "day_obs",
                "group",
            ]),
            false,
        )
        .unwrap();
    assert!(!inserted);
    // A different definition under the same name.
    for (sc, d, cal) in [
        (
            "ExposureF",
            dims(&["instrument", "exposure", "detector"]),
            false,
        ),
        ("Exposure", dims(&["instrument", "detector"]), false),
        (
            "Exposure",
            dims(&["instrument", "exposure", "detector"]),
            true,
        ),
    ] {
        let err = r.register_dataset_type("raw", sc, &d, cal).unwrap_err();
        assert!(matches!(err, RegistryError::Conflict(_)), "{err}");
        assert!(err.to_string().contains("already registered"), "{err}");
    }
    // Names: components and bad names refused; unknown dimensions refused.
    let err = r
        .register_dataset_type("calexp.wcs", "Wcs", &dims(&["instrument"]), false)
        .unwrap_err();
    assert!(err.to_string().contains("component"), "{err}");
    assert!(r
        .register_dataset_type("1bad", "X", &dims(&["instrument"]), false)
        .is_err());
    let err = r
        .register_dataset_type("x", "X", &dims(&["instrument", "nope"]), false)
        .unwrap_err();
    assert!(err.to_string().contains("\"nope\""), "{err}");

    // Calibration types share the group's tags table and get a calibs table.
    let (bias, _) = r
        .register_dataset_type(
            "bias",
            "ExposureF",
            &dims(&["instrument", "detector"]),
            true,
        )
        .unwrap();
    let (flat, _) = r
        .register_dataset_type(
            "dark",
            "ExposureF",
            &dims(&["detector", "instrument"]),
            true,
        )
        .unwrap();
    assert_eq!(bias.tags_table, flat.tags_table);
    assert!(bias.calibs_table.is_some());
    assert_eq!(bias.calibs_table, flat.calibs_table);

    // Removal is refused while datasets exist, allowed after.
    r.register_collection("HSC/raw/all", CollectionType::Run, None)
        .unwrap();
    r.insert_datasets(
        "raw",
        "HSC/raw/all",
        &[NewDataset {
            id: None,
            data_id: data_id(&[
                ("instrument", "HSC".into()),
                ("exposure", 903334.into()),
                ("detector", 1.into()),
            ]),
        }],
        IdGenerationMode::Unique,
    )
    .unwrap();
    let err = r
        .transaction(|c, _| dataset_types::remove_dataset_type(c, "raw"))
        .unwrap_err();
    assert!(
        err.to_string().contains("1 dataset(s) of it still exist"),
        "{err}"
    );
    r.transaction(|c, _| dataset_types::remove_dataset_type(c, "dark"))
        .unwrap();
    let mut c = r.db.conn().unwrap();
    assert!(dataset_types::find_dataset_type(&mut c, "dark")
        .unwrap()
        .is_none());
    let names: Vec<String> = dataset_types::all_dataset_types(&mut c)
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, vec!["bias", "raw"]);
    drop(c);

    // A calibration type removed and registered again reuses its group's calibs
    // table, which outlives the type.
    r.transaction(|c, _| dataset_types::remove_dataset_type(c, "bias"))
        .unwrap();
    let (again, _) = r
        .register_dataset_type(
            "bias",
            "ExposureF",
            &dims(&["detector", "instrument"]),
            true,
        )
        .unwrap();
    assert_eq!(again.calibs_table, bias.calibs_table);
}

fn reference_uuid5_examples(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    add_hsc(repo, 20, 1);
    let r = repo.registry();
    register_raw(repo);
    r.register_dataset_type(
        "bias",
        "ExposureF",
        &["instrument".into(), "detector".into()],
        true,
    )
    .unwrap();
    r.register_collection("HSC/raw/all", CollectionType::Run, None)
        .unwrap();
    r.register_collection("HSC/calib/run1", CollectionType::Run, None)
        .unwrap();
    let raw = r
        .insert_datasets(
            "raw",
            "HSC/raw/all",
            &[NewDataset {
                id: None,
                data_id: data_id(&[
                    ("instrument", "HSC".into()),
                    ("exposure", 903334.into()),
                    ("detector", 16.into()),
                ]),
            }],
            IdGenerationMode::DataIdTypeRun,
        )
        .unwrap();
    assert_eq!(
        raw[0].id.to_string(),
        "57e68524-8eff-5787-ad73-9fc0c35fbe41"
    );
    let bias = r
        .insert_datasets(
            "bias",
            "HSC/calib/run1",
            &[NewDataset {
                id: None,
                data_id: data_id(&[("instrument", "HSC".into()), ("detector", "16".into())]),
            }],
            IdGenerationMode::DataIdType,
        )
        .unwrap();
    assert_eq!(
        bias[0].id.to_string(),
        "010d1d6e-ee02-58c4-b59e-5ba4c0137bbe"
    );
    // Stored and read back as the same UUID.
    let mut c = r.db.conn().unwrap();
    let t = dataset_types::get_dataset_type(&mut c, "raw").unwrap();
    let run = valet::registry::collections::get_collection(&mut c, "HSC/raw/all").unwrap();
    let found = datasets::find_in_collection(
        &mut c,
        &r.universe,
        &t,
        run.id,
        &data_id(&[
            ("instrument", "HSC".into()),
            ("exposure", 903334.into()),
            ("detector", 16.into()),
        ]),
    )
    .unwrap();
    assert_eq!(found, Some(raw[0].id));
}

fn dataset_insert_errors_change_nothing(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    add_hsc(repo, 4, 2);
    register_raw(repo);
    let r = repo.registry();
    r.register_collection("HSC/raw/all", CollectionType::Run, None)
        .unwrap();
    r.register_collection("HSC/raw/tagged", CollectionType::Tagged, None)
        .unwrap();
    let did = |e: i64, d: i64| NewDataset {
        id: None,
        data_id: data_id(&[
            ("instrument", "HSC".into()),
            ("exposure", e.into()),
            ("detector", d.into()),
        ]),
    };
    let first = r
        .insert_datasets(
            "raw",
            "HSC/raw/all",
            &[did(903334, 0)],
            IdGenerationMode::Unique,
        )
        .unwrap();
    assert_eq!(first[0].id.get_version_num(), 7);
    assert_eq!(count_datasets(repo), 1);

    let cases: Vec<(Vec<NewDataset>, &str, &str)> = vec![
        // Good rows first, then a data ID the run already holds: all or nothing.
        (vec![did(903334, 1), did(903334, 0)], "HSC/raw/all", "already holds a raw dataset with data ID {instrument: HSC, detector: 0, exposure: 903334}"),
        (vec![did(903334, 2), did(903334, 2)], "HSC/raw/all", "appears twice"),
        (vec![did(903334, 3), did(999, 1)], "HSC/raw/all", "exposure record {instrument: HSC, id: 999} does not exist"),
        (vec![did(903334, 3), did(903335, 99)], "HSC/raw/all", "detector record {instrument: HSC, id: 99} does not exist"),
        (vec![NewDataset { id: Some(first[0].id), data_id: did(903335, 1).data_id }], "HSC/raw/all", "already exists"),
        (vec![did(903334, 1)], "HSC/raw/tagged", "is TAGGED"),
        (vec![did(903334, 1)], "HSC/raw/nope", "collection \"HSC/raw/nope\" does not exist"),
        (
            vec![NewDataset { id: None, data_id: data_id(&[("instrument", "HSC".into()), ("exposure", 903334.into())]) }],
            "HSC/raw/all",
            "missing required dimension \"detector\"",
        ),
        (
            vec![NewDataset { id: None, data_id: data_id(&[("instrument", "HSC".into()), ("exposure", "x".into()), ("detector", 1.into())]) }],
            "HSC/raw/all",
            "\"x\" is not an integer",
        ),
        (
            vec![NewDataset { id: None, data_id: data_id(&[("instrument", "HSC".into()), ("exposure", 903334.into()), ("detector", 1.into()), ("visit", 1.into())]) }],
            "HSC/raw/all",
            "not a dimension of dataset type",
        ),
    ];
    for (items, run, expected) in cases {
        let err = r
            .insert_datasets("raw", run, &items, IdGenerationMode::Unique)
            .expect_err(expected);
        assert!(
            err.to_string().contains(expected),
            "expected {expected:?}, got {err}"
        );
        assert_eq!(
            count_datasets(repo),
            1,
            "failed insert ({expected}) left rows behind"
        );
    }
    // Implied values in a data ID are accepted.
    r.insert_datasets(
        "raw",
        "HSC/raw/all",
        &[NewDataset {
            id: None,
            data_id: data_id(&[
                ("instrument", "HSC".into()),
                ("exposure", 903334.into()),
                ("detector", 1.into()),
                ("physical_filter", "HSC-R".into()),
            ]),
        }],
        IdGenerationMode::Unique,
    )
    .unwrap();
    assert_eq!(count_datasets(repo), 2);
}

fn bulk_insert_100k(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    // 189 detectors × 530 exposures ≈ 100k raws, the DP0.2 focal plane.
    add_hsc(repo, 189, 530);
    register_raw(repo);
    let r = repo.registry();
    r.register_collection("HSC/raw/all", CollectionType::Run, None)
        .unwrap();
    let items: Vec<NewDataset> = (0..530)
        .flat_map(|e| {
            (0..189).map(move |d| NewDataset {
                id: None,
                data_id: data_id(&[
                    ("instrument", "HSC".into()),
                    ("exposure", (903334 + e).into()),
                    ("detector", d.into()),
                ]),
            })
        })
        .collect();
    assert_eq!(items.len(), 100_170);
    let refs = r
        .insert_datasets(
            "raw",
            "HSC/raw/all",
            &items,
            IdGenerationMode::DataIdTypeRun,
        )
        .unwrap();
    assert_eq!(refs.len(), 100_170);
    assert_eq!(count_datasets(repo), 100_170);
    let mut c = r.db.conn().unwrap();
    let t = dataset_types::get_dataset_type(&mut c, "raw").unwrap();
    let run = valet::registry::collections::get_collection(&mut c, "HSC/raw/all").unwrap();
    let last = &refs[refs.len() - 1];
    let found =
        datasets::find_in_collection(&mut c, &r.universe, &t, run.id, &last.data_id).unwrap();
    assert_eq!(found, Some(last.id));
    let tags: i64 = c
        .query_opt(&format!("SELECT COUNT(*) FROM {}", t.tags_table), &[])
        .unwrap()
        .unwrap()[0]
        .as_i64()
        .unwrap();
    assert_eq!(tags, 100_170);
    // The summary says the run holds raws of HSC.
    let summary = c
        .query(
            "SELECT instrument FROM collection_summary_instrument WHERE collection_id = ?",
            &[run.id.into()],
        )
        .unwrap();
    assert_eq!(summary, vec![vec![Value::Text("HSC".into())]]);
}

fn collection_registration(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let r = t.repo.registry();
    let (run, created) = r
        .register_collection("u/someone/run", CollectionType::Run, Some("mine"))
        .unwrap();
    assert!(created);
    assert_eq!(run.doc.as_deref(), Some("mine"));
    let (_, created) = r
        .register_collection("u/someone/run", CollectionType::Run, None)
        .unwrap();
    assert!(!created);
    let err = r
        .register_collection("u/someone/run", CollectionType::Tagged, None)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("already exists as RUN, not TAGGED"),
        "{err}"
    );
    let err = r
        .register_collection("a/../b", CollectionType::Run, None)
        .unwrap_err();
    assert!(err.to_string().contains("'..'"), "{err}");
}

/// Raise a PostgreSQL error with SQLSTATE `code`, as a lost conflict would.
fn raise(c: &mut Conn, code: &str) -> Result<(), DbError> {
    c.batch(&format!(
        "DO $$ BEGIN RAISE EXCEPTION 'lost a conflict' USING ERRCODE = '{code}'; END $$"
    ))
}

/// Deadlocks and serialization failures are retried, other failures are not, a
/// failed attempt's database work is rolled back, and a transaction that never wins
/// gives up with a message of valet's own.
fn transient_failures_are_retried(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let db = &t.repo.registry().db;
    db.transaction(|c| c.batch("CREATE TABLE attempt_log (n BIGINT)"))
        .unwrap();
    let rows = || {
        db.conn()
            .unwrap()
            .query("SELECT n FROM attempt_log ORDER BY n", &[])
            .unwrap()
    };
    let mut attempts = 0;
    let err = db
        .transaction(|c| {
            attempts += 1;
            c.execute("INSERT INTO attempt_log (n) VALUES (0)", &[])?;
            c.execute("INSERT INTO no_such_table (n) VALUES (0)", &[])
        })
        .unwrap_err();
    assert_eq!(attempts, 1, "{err}");
    assert!(rows().is_empty());
    if backend == Backend::Sqlite {
        // SQLite reports no such failures: its writers queue for the write lock.
        return;
    }
    // Lost on the first two attempts, reported as an error of the closure's own (as
    // an import does); the third commits, and only its row is there.
    let mut attempts = 0;
    db.transaction(|c| {
        attempts += 1;
        c.execute("INSERT INTO attempt_log (n) VALUES (?)", &[attempts.into()])?;
        match attempts {
            1 => raise(c, "40P01"),
            2 => raise(c, "40001"),
            _ => Ok(()),
        }
        .map_err(|e| RegistryError::Invalid(format!("while importing: {e}")))
    })
    .unwrap();
    assert_eq!(attempts, 3);
    assert_eq!(rows(), vec![vec![Value::Int(3)]]);
    let mut attempts = 0;
    let err = db
        .transaction(|c| {
            attempts += 1;
            raise(c, "40P01")
        })
        .unwrap_err();
    assert_eq!(attempts, TRANSACTION_ATTEMPTS);
    let text = err.to_string();
    assert!(text.contains("abandoned after 5 attempts"), "{text}");
    assert!(!text.contains("lost a conflict"), "{text}");
    // A real deadlock: two transactions update the same two rows in opposite orders.
    // The server aborts one; it runs again once the other has committed.
    db.transaction(|c| {
        c.batch("CREATE TABLE pair (k BIGINT PRIMARY KEY, v BIGINT NOT NULL); INSERT INTO pair VALUES (1, 0), (2, 0)")
    })
    .unwrap();
    let both_hold_one = std::sync::Barrier::new(2);
    let attempts: Vec<i64> = std::thread::scope(|s| {
        let handles: Vec<_> = [(1i64, 2i64), (2, 1)]
            .into_iter()
            .map(|(first, second)| {
                let both_hold_one = &both_hold_one;
                s.spawn(move || {
                    let mut attempts = 0;
                    db.transaction(|c| {
                        attempts += 1;
                        let bump = "UPDATE pair SET v = v + 1 WHERE k = ?";
                        c.execute(bump, &[first.into()])?;
                        if attempts == 1 {
                            both_hold_one.wait();
                        }
                        c.execute(bump, &[second.into()])
                    })
                    .unwrap();
                    attempts
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(attempts.iter().sum::<i64>(), 3, "{attempts:?}");
    let pair = db
        .conn()
        .unwrap()
        .query("SELECT v FROM pair ORDER BY k", &[])
        .unwrap();
    assert_eq!(pair, vec![vec![Value::Int(2)], vec![Value::Int(2)]]);
}

/// A unique violation that no registry rule explains first reads the same on both
/// backends, in valet's words.
fn unique_violations_read_alike(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let insert = || {
        t.repo.registry().db.transaction(|c| {
            c.execute(
                "INSERT INTO collection (name, type) VALUES ('twice', 1)",
                &[],
            )
        })
    };
    insert().unwrap();
    let text = insert().unwrap_err().to_string();
    assert!(text.contains("collection (name"), "{text}");
    assert!(text.ends_with("already exists"), "{text}");
}

/// Run `winner` in a transaction that stays open while `loser` runs, then commits.
/// On PostgreSQL the loser's look-ups miss the winner's rows and its inserts wait for
/// them; on SQLite the loser waits for the write lock.
fn race<T>(
    registry: &Registry,
    winner: impl Fn(&mut Conn, &Universe) -> valet::registry::Result<()> + Send + 'static,
    loser: impl FnOnce() -> T,
) -> T {
    let (inserted, wait) = std::sync::mpsc::channel();
    let r = registry.clone();
    let handle = std::thread::spawn(move || {
        r.transaction(|c, u| {
            winner(c, u)?;
            let _ = inserted.send(());
            std::thread::sleep(std::time::Duration::from_millis(300));
            Ok(())
        })
    });
    wait.recv().unwrap();
    let out = loser();
    handle.join().unwrap().unwrap();
    out
}

/// A registration that loses a race to a concurrent one of the same name behaves as
/// if the winner had committed first: the same definition is a no-op, a different
/// one is refused as a conflict.
fn lost_registration_races(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let r = t.repo.registry();
    let dims = |d: &[&str]| d.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let define = move |name: &'static str, d: &'static [&'static str]| {
        move |c: &mut Conn, u: &Universe| {
            dataset_types::register_dataset_type(c, u, name, "ExposureF", &dims(d), false)
                .map(|_| ())
        }
    };
    const VISIT: &[&str] = &["instrument", "visit", "detector"];
    const EXPOSURE: &[&str] = &["instrument", "exposure", "detector"];
    let (_, inserted) = race(r, define("calexp", VISIT), || {
        r.register_dataset_type("calexp", "ExposureF", &dims(VISIT), false)
            .unwrap()
    });
    assert!(!inserted, "the loser must find the winner's type");
    let err = race(r, define("src", VISIT), || {
        r.register_dataset_type("src", "ExposureF", &dims(EXPOSURE), false)
            .unwrap_err()
    });
    assert!(
        err.to_string().contains("already registered as ExposureF"),
        "{err}"
    );
    // Another type with the same new dimensions: the loser adopts the winner's
    // dimension group (and its tags table).
    let (t, inserted) = race(r, define("postISRCCD", EXPOSURE), || {
        r.register_dataset_type("icExp", "ExposureF", &dims(EXPOSURE), false)
            .unwrap()
    });
    assert!(inserted);
    assert_eq!(
        t.tags_table,
        r.get_dataset_type("postISRCCD").unwrap().tags_table
    );
    let run = |name: &'static str| {
        move |c: &mut Conn, _: &Universe| {
            valet::registry::collections::register_collection(c, name, CollectionType::Run, None)
                .map(|_| ())
        }
    };
    let (_, created) = race(r, run("run/a"), || {
        r.register_collection("run/a", CollectionType::Run, None)
            .unwrap()
    });
    assert!(!created);
    let err = race(r, run("run/b"), || {
        r.register_collection("run/b", CollectionType::Tagged, None)
            .unwrap_err()
    });
    assert!(
        err.to_string()
            .contains("already exists as RUN, not TAGGED"),
        "{err}"
    );
}

/// A panic inside a transaction rolls it back, and the connection it used goes back
/// to the pool with no transaction open (it was once left open, so that the next
/// transaction on it failed and the panicked one's writes could be committed later).
fn transactions_roll_back_on_panic(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let db = &t.repo.registry().db;
    let collections = || count_rows(&t.repo, "collection");
    let before = collections();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        db.transaction(|c| -> Result<(), RegistryError> {
            valet::registry::collections::register_collection(
                c,
                "u/someone/half-done",
                CollectionType::Run,
                None,
            )?;
            panic!("in the middle of a transaction");
        })
    }));
    assert!(panicked.is_err());
    for _ in 0..5 {
        t.repo
            .registry()
            .register_collection("u/someone/next", CollectionType::Run, None)
            .unwrap();
    }
    assert_eq!(collections(), before + 1);
}

on_both_backends!(
    transient_failures_are_retried,
    lost_registration_races,
    unique_violations_read_alike,
    transactions_roll_back_on_panic,
    create_and_open,
    records_and_foreign_keys,
    dataset_type_rules,
    reference_uuid5_examples,
    dataset_insert_errors_change_nothing,
    bulk_insert_100k,
    collection_registration,
);
