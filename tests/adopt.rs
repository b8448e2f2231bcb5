//! `Repo::adopt` against reference Butler repositories built by the reference itself
//! (tests/adopt/reference.py, in the venv of scripts/python-env.sh): the adopted
//! repository must give the reference's own answers — collections and chains,
//! find-first of every type in every collection, single look-ups, calibration
//! look-ups at times around every validity range's edges, file paths and sizes — on
//! both valet backends, from SQLite and PostgreSQL sources. Also: refusals, no
//! repository after a failure, and the source left untouched.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{fresh_pg_database, Backend};
use serde_json::Value as Json;
use valet::adopt::AdoptOptions;
use valet::queries::{DatasetSearch, FindDatasetOptions};
use valet::registry::artifacts::get_artifact;
use valet::registry::collections::{all_collections, get_collection};
use valet::registry::{DataId, Timespan, Value};
use valet::Repo;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The reference's Python, from the cached environment (made on first use).
fn python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let out = Command::new(workspace().join("scripts/python-env.sh"))
            .output()
            .expect("run scripts/python-env.sh");
        assert!(
            out.status.success(),
            "python-env.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("bin/python")
    })
}

/// A reference repository and the reference's answers about it.
struct Reference {
    _dir: tempfile::TempDir,
    root: PathBuf,
    answers: Json,
}

fn build(db: Option<&str>, universe: Option<u32>) -> Reference {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("butler");
    let answers = dir.path().join("answers.json");
    let mut cmd = Command::new(python());
    cmd.arg(workspace().join("tests/adopt/reference.py"))
        .arg(&root)
        .arg(&answers);
    if let Some(db) = db {
        cmd.args(["--db", db]);
    }
    if let Some(u) = universe {
        cmd.args(["--universe", &u.to_string()]);
    }
    let out = cmd.output().expect("run reference.py");
    assert!(
        out.status.success(),
        "reference.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers = serde_json::from_str(&std::fs::read_to_string(&answers).unwrap()).unwrap();
    Reference {
        _dir: dir,
        root,
        answers,
    }
}

/// The dp02-mini reference on SQLite, built once for every test here.
fn dp02() -> &'static Reference {
    static R: OnceLock<Reference> = OnceLock::new();
    R.get_or_init(|| build(None, None))
}

fn value(j: &Json) -> Value {
    match j {
        Json::Number(n) => Value::Int(n.as_i64().expect("integer data ID value")),
        Json::String(s) => Value::Text(s.clone()),
        other => panic!("unexpected data ID value {other}"),
    }
}

fn data_id(j: &Json) -> DataId {
    j.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), value(v)))
        .collect()
}

fn s(j: &Json) -> String {
    j.as_str().unwrap().to_owned()
}

/// Every answer the reference recorded, asked of the adopted repository.
fn compare(repo: &Repo, answers: &Json, files: bool) {
    let mut conn = repo.registry().db.conn().unwrap();
    let collections = answers["collections"].as_object().unwrap();
    assert_eq!(all_collections(&mut conn).unwrap().len(), collections.len());
    for (name, c) in collections {
        let record = get_collection(&mut conn, name).unwrap();
        assert_eq!(record.kind.to_string(), s(&c["type"]), "type of {name}");
        assert_eq!(record.doc.as_deref(), c["doc"].as_str(), "doc of {name}");
        let children: Vec<String> = valet::collections::chains::children_of(&mut conn, record.id)
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        let expected: Vec<String> = c["children"].as_array().unwrap().iter().map(s).collect();
        assert_eq!(children, expected, "children of {name}");
    }
    for q in answers["find_first"].as_array().unwrap() {
        let found = repo
            .find_datasets(&DatasetSearch {
                dataset_types: vec![s(&q["type"])],
                collections: vec![s(&q["collection"])],
                find_first: true,
                ..Default::default()
            })
            .unwrap();
        let mut got: Vec<(String, String)> = found
            .into_iter()
            .map(|d| (d.id.to_string(), d.run))
            .collect();
        got.sort();
        let expected: Vec<(String, String)> = q["found"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (s(&p[0]), s(&p[1])))
            .collect();
        assert_eq!(
            got, expected,
            "find-first of {} in {}",
            q["type"], q["collection"]
        );
    }
    let find = |q: &Json, timespan: Option<Timespan>| {
        repo.find_dataset(&FindDatasetOptions {
            dataset_type: s(&q["type"]),
            data_id: data_id(&q["data_id"]),
            collections: vec![s(&q["collection"])],
            timespan,
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{q}: {e}"))
        .map(|f| f.found.dataset.id.to_string())
    };
    for q in answers["lookups"].as_array().unwrap() {
        assert_eq!(find(q, None).as_deref(), q["id"].as_str(), "look-up {q}");
    }
    for q in answers["calibrations"].as_array().unwrap() {
        let t = q["time"].as_i64().unwrap();
        let span = Some(Timespan::new(Some(t), Some(t + 1)));
        assert_eq!(
            find(q, span).as_deref(),
            q["id"].as_str(),
            "calibration {q}"
        );
    }
    if files {
        for (id, f) in answers["files"].as_object().unwrap() {
            let a = get_artifact(&mut conn, id.parse().unwrap())
                .unwrap()
                .unwrap_or_else(|| panic!("no file record for {id}"));
            assert_eq!(a.path, s(&f[0]), "path of {id}");
            assert_eq!(a.file_size, f[1].as_i64(), "size of {id}");
        }
    }
}

/// The new repository's `--db` on `backend`, or `None` when PostgreSQL is absent.
fn valet_db(backend: Backend) -> Option<Option<String>> {
    match backend {
        Backend::Sqlite => Some(None),
        Backend::Postgres => fresh_pg_database().map(Some),
    }
}

fn adopt(
    dest: &Path,
    reference: &Path,
    db: Option<String>,
) -> Result<(Repo, valet::transfers::ImportSummary), valet::RepoError> {
    Repo::adopt(
        dest,
        reference,
        &AdoptOptions {
            db,
            ..Default::default()
        },
    )
}

fn answers_match_the_reference(backend: Backend) {
    let Some(db) = valet_db(backend) else { return };
    let r = dp02();
    let dir = tempfile::tempdir().unwrap();
    let (repo, summary) = adopt(&dir.path().join("v"), &r.root, db).unwrap();
    assert_eq!(summary.datasets, 829);
    assert!(summary.validity_ranges > 0 && summary.associations > 0);
    compare(&repo, &r.answers, true);
}

fn older_universe(backend: Backend) {
    let Some(db) = valet_db(backend) else { return };
    let r = build(None, Some(6));
    let dir = tempfile::tempdir().unwrap();
    let (repo, _) = adopt(&dir.path().join("v"), &r.root, db).unwrap();
    assert_eq!(repo.universe().version, 6);
    compare(&repo, &r.answers, false);
}

fn restricted_to_collections_and_types(backend: Backend) {
    let Some(db) = valet_db(backend) else { return };
    let r = dp02();
    let dir = tempfile::tempdir().unwrap();
    let (repo, summary) = Repo::adopt(
        &dir.path().join("v"),
        &r.root,
        &AdoptOptions {
            db,
            collections: vec!["LSSTCam-imSim/defaults".into()],
            dataset_types: vec!["raw".into(), "bias".into()],
            ..Default::default()
        },
    )
    .unwrap();
    let mut conn = repo.registry().db.conn().unwrap();
    let names: Vec<String> = all_collections(&mut conn)
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    // The chain, what it reaches, and the RUNs of the datasets its TAGGED and
    // CALIBRATION collections hold; nothing of the processing runs.
    assert!(
        names.contains(&"LSSTCam-imSim/raw/DM-12345".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"LSSTCam-imSim/raw/all".to_owned()),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.starts_with("2.2i/")), "{names:?}");
    assert_eq!(repo.query_dataset_types(&[]).unwrap().len(), 2);
    for q in r.answers["find_first"].as_array().unwrap() {
        if q["collection"] == "LSSTCam-imSim/defaults" && q["type"] == "raw" {
            let found = repo
                .find_datasets(&DatasetSearch {
                    dataset_types: vec!["raw".into()],
                    collections: vec!["LSSTCam-imSim/defaults".into()],
                    find_first: true,
                    ..Default::default()
                })
                .unwrap();
            assert_eq!(found.len(), q["found"].as_array().unwrap().len());
        }
    }
    assert!(summary.datasets > 0);
}

/// A copy of the dp02 reference (its config and registry file) to spoil.
fn spoiled_copy(sql: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("butler");
    std::fs::create_dir_all(&root).unwrap();
    for f in ["butler.yaml", "gen3.sqlite3"] {
        std::fs::copy(dp02().root.join(f), root.join(f)).unwrap();
    }
    let conn = rusqlite::Connection::open(root.join("gen3.sqlite3")).unwrap();
    conn.execute_batch(sql).unwrap();
    dir
}

#[test]
fn unsupported_manager_version_is_refused_in_one_line() {
    let copy = spoiled_copy(
        "UPDATE butler_attributes SET value = '9.0.0' WHERE name LIKE 'version:%SynthIntKeyCollectionManager'",
    );
    let dest = copy.path().join("v");
    let err = adopt(&dest, &copy.path().join("butler"), None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("collections manager") && err.contains("9.0.0"),
        "{err}"
    );
    assert!(!err.contains('\n'), "{err}");
    assert!(!dest.exists());
}

fn failure_midway_leaves_no_repository(backend: Backend) {
    let Some(db) = valet_db(backend) else { return };
    // The last file record is not a local file: the datasets before it are written
    // when the adoption fails.
    let copy = spoiled_copy(
        "UPDATE file_datastore_records SET path = 's3://bucket/x.fits' WHERE rowid = (SELECT max(rowid) FROM file_datastore_records)",
    );
    let dest = copy.path().join("v");
    let err = adopt(&dest, &copy.path().join("butler"), db.clone())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("s3://bucket/x.fits"), "{err}");
    assert!(!dest.exists(), "a failed adoption left {}", dest.display());
    // Nothing is left in the database either: the same database takes a new one.
    let (repo, _) = adopt(&dest, &dp02().root, db).unwrap();
    compare(&repo, &dp02().answers, false);
}

/// The same reference content kept in PostgreSQL (the reference's psycopg2 driver).
fn postgres_source(backend: Backend) {
    let Some(db) = valet_db(backend) else { return };
    let Some(source_db) = fresh_pg_database() else {
        return;
    };
    let mut client = ::postgres::Client::connect(&source_db, ::postgres::NoTls).unwrap();
    client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        .unwrap();
    // The venv has the reference's psycopg2 driver; the URL names it.
    let (_, rest) = source_db.split_once("://").unwrap();
    let r = build(Some(&format!("postgresql+psycopg2://{rest}")), None);
    let dir = tempfile::tempdir().unwrap();
    let (repo, _) = adopt(&dir.path().join("v"), &r.root, db).unwrap();
    compare(&repo, &r.answers, true);
}

/// `-t copy`: the files come into the new repository at its own template paths,
/// with their sizes; the reference's files stay.
fn copied_files(backend: Backend) {
    let Some(db) = valet_db(backend) else { return };
    let r = dp02();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("v");
    let (repo, summary) = Repo::adopt(
        &dest,
        &r.root,
        &AdoptOptions {
            db,
            transfer: valet::TransferMode::Copy,
            dataset_types: vec!["bias".into()],
            ..Default::default()
        },
    )
    .unwrap();
    assert!(summary.files > 0);
    let mut conn = repo.registry().db.conn().unwrap();
    let artifacts = valet::registry::artifacts::all_artifacts(&mut conn).unwrap();
    assert_eq!(artifacts.len(), summary.files);
    for a in artifacts {
        assert!(!Path::new(&a.path).is_absolute(), "{}", a.path);
        let file = dest.join(&a.path);
        assert_eq!(
            std::fs::metadata(&file).unwrap().len() as i64,
            a.file_size.unwrap()
        );
        let (source, _) = &r.answers["files"][a.dataset_id.to_string()]
            .as_array()
            .map(|f| (s(&f[0]), ()))
            .unwrap();
        assert!(Path::new(source).exists());
    }
}

/// ObsCore rows as sorted CSV lines: a find-first search of `collections` with
/// dp02-mini's configuration, or the live table.
fn obscore_lines(repo: &Repo, collections: Option<&[String]>) -> Vec<String> {
    use valet::obscore_api::{ObsCoreConfig, ObsCoreExportOptions, ObsCoreFormat, ObsCoreSource};
    let source = match collections {
        Some(collections) => {
            let text = std::fs::read_to_string(dp02_data("obscore.yaml")).unwrap();
            ObsCoreSource::search(
                &ObsCoreConfig::from_yaml(&text).unwrap(),
                &ObsCoreExportOptions {
                    collections: collections.to_vec(),
                    ..Default::default()
                },
            )
        }
        None => ObsCoreSource::Live,
    };
    let mut out = Vec::new();
    repo.write_obscore(&mut out, ObsCoreFormat::Csv, &source)
        .unwrap();
    common::sorted_lines(&out)
}

/// How many files are under `dir`, at any depth.
fn files_under(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| if p.is_dir() { files_under(&p) } else { 1 })
        .sum()
}

fn dp02_data(path: &str) -> PathBuf {
    workspace()
        .join("tests/data/conformance/dp02-mini")
        .join(path)
}

/// After adopt, the ObsCore table of the whole repository (find-first through a
/// chain over all of it) and a live table kept through later writes — a chain edit,
/// a run removed, an import — are what the same steps give on a repository built by
/// `valet import` of the same data.
fn obscore_after_adopt(backend: Backend) {
    use valet::collections::chains::ChainMode;
    use valet::transfers::{build_export, write_export, ExportOptions, ImportOptions};
    let Some(db) = valet_db(backend) else { return };
    let dir = tempfile::tempdir().unwrap();
    let (adopted, _) = adopt(&dir.path().join("v"), &dp02().root, db).unwrap();
    let Some(imported) = common::new_repo(backend) else {
        return;
    };
    let imported = &imported.repo;
    imported
        .import_directory(
            &dp02_data("files"),
            &["../export.yaml".into()],
            &ImportOptions {
                transfer: Some(valet::TransferMode::Copy),
                ..Default::default()
            },
        )
        .unwrap();
    let processing = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905";
    let everything = "everything".to_owned();
    let members = [processing.to_owned(), "LSSTCam-imSim/defaults".to_owned()];
    for repo in [&adopted, imported] {
        repo.collection_chain(&everything, ChainMode::Redefine, &members, false, None)
            .unwrap();
    }
    let whole = obscore_lines(&adopted, Some(std::slice::from_ref(&everything)));
    assert!(whole.len() > 100, "{} rows", whole.len());
    assert_eq!(
        whole,
        obscore_lines(imported, Some(std::slice::from_ref(&everything)))
    );
    // Kept live, in CHAINED mode on the same chain.
    let config = std::fs::read_to_string(dp02_data("obscore.yaml"))
        .unwrap()
        .replace("collection_type: RUN", "collection_type: CHAINED")
        .replace("collections: []", "collections: [everything]");
    let same = |what: &str| {
        for repo in [&adopted, imported] {
            assert_eq!(
                repo.check_obscore_table().unwrap(),
                Vec::<String>::new(),
                "{what}"
            );
        }
        let live = obscore_lines(&adopted, None);
        assert_eq!(live, obscore_lines(imported, None), "{what}");
        live
    };
    for repo in [&adopted, imported] {
        repo.enable_obscore(&config, None).unwrap();
    }
    assert_eq!(same("enabled").len(), whole.len());
    // A chain edit: the processing runs go behind the raws.
    let reversed: Vec<String> = members.iter().rev().cloned().collect();
    for repo in [&adopted, imported] {
        repo.collection_chain(&everything, ChainMode::Redefine, &reversed, false, None)
            .unwrap();
    }
    same("after a chain edit");
    // A run out, then back by import (registry only), then back into its chain.
    let run = format!("{processing}/20211200T190000Z");
    let export = dir.path().join("run.yaml");
    let model = build_export(
        imported,
        &ExportOptions {
            collections: vec![run.clone()],
            ..Default::default()
        },
    )
    .unwrap();
    write_export(&model, &mut std::fs::File::create(&export).unwrap()).unwrap();
    let reference_files = files_under(&dp02().root);
    for repo in [&adopted, imported] {
        repo.remove_runs(std::slice::from_ref(&run), true).unwrap();
    }
    // The adopted datasets' files are the reference's (`-t direct`): they stay.
    assert_eq!(files_under(&dp02().root), reference_files);
    let without = same("after remove-runs");
    assert_ne!(without.len(), 0);
    for repo in [&adopted, imported] {
        repo.import_files(std::slice::from_ref(&export), &ImportOptions::default())
            .unwrap();
        repo.collection_chain(
            processing,
            ChainMode::Prepend,
            std::slice::from_ref(&run),
            false,
            None,
        )
        .unwrap();
    }
    same("after an import and a chain edit");
}

/// A shared chain that lists a personal collection, as real repositories have, is
/// adopted as it is (`compare` checks its children and finds through it); the rule
/// holds for later edits, and the lint names the chain.
fn shared_chain_listing_personal(backend: Backend) {
    use valet::collections::chains::ChainMode;
    let Some(db) = valet_db(backend) else { return };
    let dir = tempfile::tempdir().unwrap();
    let (repo, _) = adopt(&dir.path().join("v"), &dp02().root, db).unwrap();
    let chain = "LSSTCam-imSim/with-personal";
    let personal = "u/someone/DM-99999".to_owned();
    let findings = repo.lint_collections().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f.collection == chain && f.rule == "shared-lists-personal"),
        "{findings:?}"
    );
    let err = repo
        .collection_chain(
            chain,
            ChainMode::Extend,
            &["LSSTCam-imSim/raw/all".into()],
            false,
            None,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("rule: shared-lists-personal"), "{err}");
    let kids = repo
        .collection_chain(
            chain,
            ChainMode::Remove,
            std::slice::from_ref(&personal),
            false,
            None,
        )
        .unwrap();
    let names: Vec<&str> = kids.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["LSSTCam-imSim/defaults"]);
}

on_both_backends!(
    shared_chain_listing_personal,
    obscore_after_adopt,
    copied_files,
    answers_match_the_reference,
    older_universe,
    restricted_to_collections_and_types,
    failure_midway_leaves_no_repository,
    postgres_source,
);

#[test]
fn the_source_is_left_untouched() {
    let file = dp02().root.join("gen3.sqlite3");
    let before = (
        std::fs::read(&file).unwrap(),
        std::fs::metadata(&file).unwrap().modified().unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    adopt(&dir.path().join("v"), &dp02().root, None).unwrap();
    let after = (
        std::fs::read(&file).unwrap(),
        std::fs::metadata(&file).unwrap().modified().unwrap(),
    );
    assert!(before == after, "adopt changed {}", file.display());
    let names: Vec<String> = std::fs::read_dir(&dp02().root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.ends_with("-journal") || n.ends_with("-wal")),
        "{names:?}"
    );
}
