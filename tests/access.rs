//! Access rules on both backends: admins write anything, others only inside
//! `u/<user>/…`, shared chains never list personal collections, and every refusal
//! names its rule and changes nothing.

mod common;

use std::path::PathBuf;

use common::{new_repo, Backend};
use valet::collections::calibration::certify;
use valet::collections::chains::{collection_chain, ChainMode};
use valet::collections::removal::remove_runs;
use valet::collections::tagged::associate;
use valet::registry::access::{add_admin, admins, remove_admin};
use valet::registry::identity::set_thread_user;
use valet::registry::{
    CollectionType, DataId, IdGenerationMode, NewDataset, Record, RegistryError, Timespan, Value,
};
use valet::transfers::ImportOptions;
use valet::Repo;

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/conformance")
        .join(path)
}

fn counts(repo: &Repo) -> (i64, i64, i64) {
    let mut c = repo.registry().db.conn().unwrap();
    let mut n = |sql: &str| c.query_opt(sql, &[]).unwrap().unwrap()[0].as_i64().unwrap();
    (
        n("SELECT COUNT(*) FROM collection"),
        n("SELECT COUNT(*) FROM dataset"),
        n("SELECT COUNT(*) FROM collection_chain"),
    )
}

/// Insert one calexp (as the thread's user).
fn insert_calexp(
    repo: &valet::Repo,
    run: &str,
    visit: i64,
    detector: i64,
) -> Result<Vec<valet::registry::DatasetRef>, valet::registry::RegistryError> {
    repo.registry().insert_datasets(
        "calexp",
        run,
        &[NewDataset {
            id: None,
            data_id: calexp_id(visit, detector),
        }],
        IdGenerationMode::Unique,
    )
}

fn calexp_id(visit: i64, detector: i64) -> DataId {
    [
        ("instrument", Value::from("LSSTCam-imSim")),
        ("detector", Value::Int(detector)),
        ("visit", Value::Int(visit)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn denied<T: std::fmt::Debug>(r: Result<T, RegistryError>, rule: &str) {
    match r {
        Err(RegistryError::Denied(m)) => assert!(m.contains(&format!("rule: {rule}")), "{m}"),
        other => panic!("expected a refusal by {rule}, got {other:?}"),
    }
}

fn rules(backend: Backend) {
    set_thread_user(Some("alice"));
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    repo.import_files(&[data("dp02-mini/export.yaml")], &ImportOptions::default())
        .unwrap();
    let mut c = repo.registry().db.conn().unwrap();
    assert_eq!(admins(&mut c).unwrap(), vec!["alice"]);
    drop(c);
    let chain = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905";

    // Bob works in his own space.
    set_thread_user(Some("bob"));
    repo.registry()
        .register_collection("u/bob/DM-1/run", CollectionType::Run, None)
        .unwrap();
    insert_calexp(repo, "u/bob/DM-1/run", 3, 4).unwrap();
    let kids = vec!["u/bob/DM-1/run".to_owned(), chain.to_owned()];
    repo.registry()
        .transaction(|c, _| {
            collection_chain(c, "u/bob/DM-1", ChainMode::Redefine, &kids, false, None)
        })
        .unwrap();

    // Everything shared, or someone else's, is refused and changes nothing.
    let before = counts(repo);
    denied(
        repo.registry()
            .register_collection("HSC/raw/all", CollectionType::Run, None),
        "shared-needs-admin",
    );
    denied(
        repo.registry()
            .register_collection("u/alice/x", CollectionType::Run, None),
        "personal-collections-are-their-owners",
    );
    denied(
        insert_calexp(
            repo,
            "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905/20211200T000000Z",
            30,
            4,
        ),
        "shared-needs-admin",
    );
    let run = vec!["u/bob/DM-1/run".to_owned()];
    denied(
        repo.registry()
            .transaction(|c, _| collection_chain(c, chain, ChainMode::Prepend, &run, false, None)),
        "shared-needs-admin",
    );
    denied(
        repo.registry().transaction(|c, _| {
            collection_chain(
                c,
                "LSSTCam-imSim/raw",
                ChainMode::Redefine,
                &[],
                false,
                None,
            )
        }),
        "shared-needs-admin",
    );
    let some_raw = {
        let mut c = repo.registry().db.conn().unwrap();
        c.query_opt("SELECT id FROM dataset", &[]).unwrap().unwrap()[0]
            .as_uuid()
            .unwrap()
    };
    denied(
        repo.registry()
            .transaction(|c, u| associate(c, u, "LSSTCam-imSim/raw/DM-12345", &[some_raw])),
        "shared-needs-admin",
    );
    denied(
        repo.registry().transaction(|c, u| {
            certify(
                c,
                u,
                "LSSTCam-imSim/calib/DM-30694",
                &[some_raw],
                Timespan::new(None, None),
            )
        }),
        "shared-needs-admin",
    );
    denied(
        repo.registry()
            .transaction(|c, _| remove_runs(c, &["LSSTCam-imSim/raw/all".to_owned()], true)),
        "shared-needs-admin",
    );
    denied(
        repo.registry()
            .register_dataset_type("thing", "X", &["instrument".into()], false),
        "shared-needs-admin",
    );
    let new_detector: Record = [
        ("instrument", Value::from("LSSTCam-imSim")),
        ("id", Value::Int(500)),
        ("full_name", Value::from("Z")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    denied(
        repo.registry().insert_dimension_records(
            "detector",
            std::slice::from_ref(&new_detector),
            true,
        ),
        "shared-needs-admin",
    );
    denied(
        repo.registry().transaction(|c, _| add_admin(c, "bob")),
        "shared-needs-admin",
    );
    assert_eq!(counts(repo), before);
    // Re-importing records that exist changes nothing and is allowed.
    let existing: Record = [("name", Value::from("LSSTCam-imSim"))]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    assert_eq!(
        repo.registry()
            .insert_dimension_records("instrument", &[existing], true)
            .unwrap(),
        0
    );

    // A shared chain may never list a personal collection, not even for an admin.
    set_thread_user(Some("alice"));
    denied(
        repo.registry()
            .transaction(|c, _| collection_chain(c, chain, ChainMode::Prepend, &run, false, None)),
        "shared-lists-personal",
    );
    assert_eq!(counts(repo), before);
    // Alice makes Bob an admin; then he may write shared collections.
    repo.registry()
        .transaction(|c, _| add_admin(c, "bob"))
        .unwrap();
    set_thread_user(Some("bob"));
    repo.registry()
        .insert_dimension_records("detector", &[new_detector], true)
        .unwrap();
    repo.registry()
        .register_collection("LSSTCam-imSim/raw/DM-2", CollectionType::Tagged, None)
        .unwrap();
    repo.registry()
        .transaction(|c, _| remove_admin(c, "alice"))
        .unwrap();
    let err = repo
        .registry()
        .transaction(|c, _| remove_admin(c, "bob"))
        .unwrap_err();
    assert!(err.to_string().contains("last admin"), "{err}");
    set_thread_user(None);
}

fn production_is_immutable(backend: Backend) {
    use valet::prune::{prune, PruneOptions};
    use valet::registry::collections::register_owned_collection;
    set_thread_user(Some("alice"));
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    repo.import_files(&[data("dp02-mini/export.yaml")], &ImportOptions::default())
        .unwrap();
    let prod = "LSSTCam-imSim/runs/DP0.2/v1/DM-7";
    let (record, _) = repo
        .registry()
        .transaction(|c, _| {
            register_owned_collection(c, prod, CollectionType::Run, None, Some("production"))
        })
        .unwrap();
    assert_eq!(record.owner_type, "production");
    assert_eq!(record.owner.as_deref(), Some("alice"));
    let refs = insert_calexp(repo, prod, 1, 1).unwrap();
    let tag = "LSSTCam-imSim/runs/DP0.2/v1/DM-7/tagged";
    repo.registry()
        .transaction(|c, _| {
            register_owned_collection(c, tag, CollectionType::Tagged, None, Some("production"))
        })
        .unwrap();
    repo.registry()
        .transaction(|c, u| associate(c, u, tag, &[refs[0].id]))
        .unwrap();
    let before = counts(repo);
    // Not even an admin removes production datasets, by any path.
    denied(
        repo.registry()
            .transaction(|c, _| remove_runs(c, &[prod.to_owned()], true)),
        "production-is-immutable",
    );
    denied(
        repo.registry().transaction(|c, _| {
            valet::collections::removal::remove_collections(c, &[tag.to_owned()], true)
        }),
        "production-is-immutable",
    );
    denied(
        repo.registry()
            .transaction(|c, _| valet::collections::tagged::disassociate(c, tag, &[refs[0].id])),
        "production-is-immutable",
    );
    for options in [
        PruneOptions {
            purge: Some(prod.into()),
            unstore: true,
            ..Default::default()
        },
        PruneOptions {
            unstore: true,
            ..Default::default()
        },
    ] {
        let err = prune(repo, &[refs[0].id], &options).unwrap_err();
        assert!(
            err.to_string().contains("rule: production-is-immutable"),
            "{err}"
        );
    }
    // Re-inserting the same data ID (a replacement) is refused too.
    let err = insert_calexp(repo, prod, 1, 1).unwrap_err();
    assert!(err.to_string().contains("already holds"), "{err}");
    assert_eq!(counts(repo), before);
    // Production collections are shared: only admins write them.
    set_thread_user(Some("bob"));
    denied(insert_calexp(repo, prod, 2, 1), "shared-needs-admin");
    let bad = repo.registry().transaction(|c, _| {
        register_owned_collection(c, "u/bob/x", CollectionType::Run, None, Some("production"))
    });
    assert!(bad
        .unwrap_err()
        .to_string()
        .contains("cannot be owned by production"));
    set_thread_user(None);
}

fn database_role_identity(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let db = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => match common::fresh_pg_database() {
            Some(url) => Some(url),
            None => return,
        },
    };
    let options = valet::CreateOptions {
        db: db.clone(),
        dimension_config: None,
        identity: Some("database-role".into()),
    };
    set_thread_user(Some("mallory"));
    if backend == Backend::Sqlite {
        let err = Repo::create(&root, &options)
            .err()
            .expect("SQLite has no roles");
        assert!(
            err.to_string().contains("database-role with PostgreSQL"),
            "{err}"
        );
        set_thread_user(None);
        return;
    }
    // The database role (the test server's `postgres`) is the acting user, whatever
    // the login name says: it becomes the first admin and writes as such.
    let repo = Repo::create(&root, &options).unwrap();
    let mut c = repo.registry().db.conn().unwrap();
    assert_eq!(admins(&mut c).unwrap(), vec!["postgres"]);
    drop(c);
    set_thread_user(Some("mallory"));
    let reopened = Repo::open(&root).unwrap();
    reopened
        .registry()
        .register_collection("HSC/raw/all", CollectionType::Run, None)
        .unwrap();
    set_thread_user(None);
}

on_both_backends!(rules, production_is_immutable, database_role_identity);
