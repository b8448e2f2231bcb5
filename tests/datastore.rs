//! The datastore on both backends: dp02-mini imported with its files lands every
//! artifact at the reference's templated path with its bytes and checksum; transfer
//! modes behave as named; a failed import takes its files back; removing a RUN
//! deletes its files after the commit.

mod common;

use std::path::PathBuf;

use common::{new_repo, Backend};
use valet::collections::removal::remove_runs;
use valet::datastore::empty_trash;
use valet::datastore_crate::{checksum, TransferMode};
use valet::registry::artifacts::all_artifacts;
use valet::transfers::ImportOptions;

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/conformance")
        .join(path)
}

/// Import dp02-mini, its files taken from `files`.
fn import_from(
    t: &common::TestRepo,
    mode: TransferMode,
    files: PathBuf,
) -> Result<valet::transfers::ImportSummary, valet::RepoError> {
    t.repo.import_files(
        &[data("dp02-mini/export.yaml")],
        &ImportOptions {
            transfer: Some(mode),
            directory: Some(files),
            ..Default::default()
        },
    )
}

fn import_with(t: &common::TestRepo, mode: TransferMode) -> valet::transfers::ImportSummary {
    import_from(t, mode, data("dp02-mini/files")).unwrap()
}

fn reference_paths(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let s = import_with(&t, TransferMode::Copy);
    assert_eq!(s.files, 799);
    let exp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("dp02-mini/expected.json")).unwrap())
            .unwrap();
    let paths = exp["paths"].as_object().unwrap();
    let mut c = t.repo.registry().db.conn().unwrap();
    let records = all_artifacts(&mut c).unwrap();
    assert_eq!(records.len(), paths.len());
    for r in &records {
        let want = paths[&r.dataset_id.to_string()].as_str().unwrap();
        assert_eq!(r.path, want, "dataset {}", r.dataset_id);
        let file = t.root().join(&r.path);
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            String::from_utf8_lossy(&bytes).contains(&r.dataset_id.to_string()),
            "{}",
            r.path
        );
        assert_eq!(r.file_size, Some(bytes.len() as i64));
        assert_eq!(
            r.checksum.as_deref(),
            Some(checksum(&file).unwrap().as_str())
        );
        assert!(!std::fs::symlink_metadata(&file)
            .unwrap()
            .file_type()
            .is_symlink());
    }
}

fn links_and_failures(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    import_with(&t, TransferMode::Symlink);
    let mut c = t.repo.registry().db.conn().unwrap();
    let any = &all_artifacts(&mut c).unwrap()[0];
    assert!(std::fs::symlink_metadata(t.root().join(&any.path))
        .unwrap()
        .file_type()
        .is_symlink());
    drop(c);
    // Importing again fails (the datasets exist), and leaves no new files behind.
    let count_files = || walk(&t.root()).len();
    let before = count_files();
    let err = import_from(&t, TransferMode::Copy, data("dp02-mini/files")).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(count_files(), before);

    // An import whose datasets are all stored, with their files, before a later
    // entry fails takes the files back out: nothing of it is left.
    let Some(late) = new_repo(backend) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut text = std::fs::read_to_string(data("dp02-mini/export.yaml")).unwrap();
    text.push_str(
        "- type: associations\n  collection: u/nobody/tagged\n  collection_type: TAGGED\n  \
         dataset_ids:\n  - !uuid '00000000-0000-4000-8000-000000000001'\n",
    );
    let export = dir.path().join("export.yaml");
    std::fs::write(&export, text).unwrap();
    let empty = walk(&late.root()).len();
    let remaining = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let progress = remaining.clone();
    let err = late
        .repo
        .import_files(
            &[export],
            &ImportOptions {
                transfer: Some(TransferMode::Copy),
                directory: Some(data("dp02-mini/files")),
                progress: Some(std::sync::Arc::new(move |done, total| {
                    progress.store(total - done, std::sync::atomic::Ordering::Relaxed)
                })),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("export.yaml"), "{err}");
    assert_eq!(
        remaining.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "the failure came before every dataset was stored"
    );
    assert_eq!(walk(&late.root()).len(), empty, "files left behind");
    let mut c = late.repo.registry().db.conn().unwrap();
    assert!(all_artifacts(&mut c).unwrap().is_empty());
    drop(c);

    // A direct transfer records absolute paths and copies nothing.
    let Some(d) = new_repo(backend) else { return };
    import_with(&d, TransferMode::Direct);
    let mut c = d.repo.registry().db.conn().unwrap();
    assert!(all_artifacts(&mut c)
        .unwrap()
        .iter()
        .all(|r| r.path.starts_with('/')));
    assert!(walk(&d.root()).iter().all(|p| !p.ends_with(".json")));
}

/// Every file under `dir`, leaving out valet's control files (`.valet/`).
fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if e.file_name() == valet::datastore_crate::CONTROL_DIR {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

fn remove_runs_deletes_files(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    import_with(&t, TransferMode::Copy);
    let run = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905/20211200T000000Z";
    let run_dir = t.root().join(run);
    assert!(!walk(&run_dir).is_empty());
    let total = walk(&t.root()).len();
    let removed = t
        .repo
        .registry()
        .transaction(|c, _| remove_runs(c, &[run.to_owned()], true))
        .unwrap();
    assert!(removed > 0);
    // Until the trash is emptied the files are still there; then they are gone.
    assert_eq!(walk(&t.root()).len(), total);
    let report = empty_trash(&t.repo).unwrap();
    assert_eq!(report.deleted as u64, removed);
    assert!(walk(&run_dir).is_empty());
    assert_eq!(walk(&t.root()).len(), total - removed as usize);
    // Emptying again is a no-op.
    assert_eq!(
        empty_trash(&t.repo).unwrap(),
        valet::datastore::TrashReport::default()
    );
}

fn check_finds_and_repairs(backend: Backend) {
    use valet::check::check;
    let Some(t) = new_repo(backend) else { return };
    import_with(&t, TransferMode::Copy);
    assert_eq!(
        check(&t.repo, true, false).unwrap().problems,
        Vec::<String>::new()
    );
    let mut c = t.repo.registry().db.conn().unwrap();
    let records = all_artifacts(&mut c).unwrap();
    drop(c);
    // A missing file, a corrupted one (same size), a staging leftover, an orphan, and
    // a removal interrupted between its commit and its file deletions.
    std::fs::remove_file(t.root().join(&records[0].path)).unwrap();
    let corrupt = t.root().join(&records[1].path);
    let mut bytes = std::fs::read(&corrupt).unwrap();
    bytes[2] ^= 1;
    std::fs::write(&corrupt, bytes).unwrap();
    std::fs::write(
        t.root().join("LSSTCam-imSim/.valet-staging-1-x.json"),
        b"partial",
    )
    .unwrap();
    std::fs::write(t.root().join("LSSTCam-imSim/stray.json"), b"?").unwrap();
    let run = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905/20211200T190000Z";
    t.repo
        .registry()
        .transaction(|c, _| remove_runs(c, &[run.to_owned()], true))
        .unwrap();
    let shallow = check(&t.repo, false, false).unwrap().problems;
    assert_eq!(shallow.len(), 4, "{shallow:#?}");
    let deep = check(&t.repo, true, false).unwrap().problems;
    assert_eq!(deep.len(), 5, "{deep:#?}");
    assert!(deep.iter().any(|p| p.contains("is missing")));
    assert!(deep.iter().any(|p| p.contains("checksum differs")));
    assert!(deep.iter().any(|p| p.contains("staging file")));
    assert!(deep.iter().any(|p| p.contains("stray.json")));
    assert!(deep.iter().any(|p| p.contains("trashed artifact")));
    // Repair finishes the removal and removes valet's own leftovers; what it cannot
    // fix (a lost or damaged file) stays reported, and so does a file valet did not
    // write, which stays where it is.
    let repaired = check(&t.repo, true, true).unwrap();
    assert_eq!(repaired.repaired.len(), 2, "{repaired:#?}");
    assert_eq!(repaired.problems.len(), 3, "{repaired:#?}");
    assert!(repaired
        .problems
        .iter()
        .any(|p| p.contains("stray.json") && p.contains("--remove-orphans")));
    assert!(t.root().join("LSSTCam-imSim/stray.json").exists());
    assert!(!t.root().join(run).exists() || walk(&t.root().join(run)).is_empty());
    // A dry run of --remove-orphans lists it and changes nothing; then it goes.
    let orphans = |dry_run| valet::check::CheckOptions {
        deep: true,
        remove_orphans: true,
        dry_run,
        ..Default::default()
    };
    let listed = t.repo.check(orphans(true)).unwrap();
    assert_eq!(
        listed.repaired,
        vec!["would remove file no dataset knows LSSTCam-imSim/stray.json".to_string()]
    );
    assert!(t.root().join("LSSTCam-imSim/stray.json").exists());
    let removed = t.repo.check(orphans(false)).unwrap();
    assert_eq!(removed.repaired.len(), 1, "{removed:#?}");
    assert!(!t.root().join("LSSTCam-imSim/stray.json").exists());
    assert_eq!(check(&t.repo, true, false).unwrap().problems.len(), 2);
}

fn ingest_and_put(backend: Backend) {
    use valet::ingest::{read_ingest_table, FileToIngest};
    use valet::registry::{DataId, IdGenerationMode, Value};
    let Some(t) = new_repo(backend) else { return };
    // Dimension records and types from the dp02 fixture, without its datasets.
    t.repo
        .import_files(&[data("dp02-mini/export.yaml")], &ImportOptions::default())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut rows = String::from("file,detector,exposure\n");
    for d in 0..3 {
        std::fs::write(dir.path().join(format!("f{d}.fits")), format!("pixels {d}")).unwrap();
        rows.push_str(&format!("f{d}.fits,{d},5\n"));
    }
    let fixed: DataId = [("instrument".to_string(), Value::from("LSSTCam-imSim"))]
        .into_iter()
        .collect();
    let files = read_ingest_table(&rows, "t.csv", &fixed, Some(dir.path()), false).unwrap();
    let refs = t
        .repo
        .ingest_files(
            "raw",
            "LSSTCam-imSim/raw/new",
            &files,
            TransferMode::Copy,
            IdGenerationMode::DataIdTypeRun,
        )
        .unwrap();
    assert_eq!(refs.len(), 3);
    assert_eq!(refs[0].id.get_version_num(), 5);
    let p = t.repo.get_path(&refs[1]).unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "pixels 1");
    assert!(
        p.to_string_lossy()
            .ends_with("raw_LSSTCam-imSim_y_sim_1_4_e5_R00_S01_LSSTCam-imSim_raw_new.fits"),
        "{}",
        p.display()
    );
    // A table naming a missing file: nothing is registered and no file is left.
    let before = walk(&t.root()).len();
    let bad = vec![
        FileToIngest {
            path: dir.path().join("f0.fits"),
            data_id: files[0].data_id.clone(),
            id: None,
        },
        FileToIngest {
            path: dir.path().join("missing.fits"),
            data_id: files[1].data_id.clone(),
            id: None,
        },
    ];
    let err = t
        .repo
        .ingest_files(
            "raw",
            "LSSTCam-imSim/raw/other",
            &bad,
            TransferMode::Copy,
            IdGenerationMode::Unique,
        )
        .unwrap_err();
    assert!(err.to_string().contains("missing.fits"), "{err}");
    assert_eq!(walk(&t.root()).len(), before);
    let mut c = t.repo.registry().db.conn().unwrap();
    assert!(
        valet::registry::collections::find_collection(&mut c, "LSSTCam-imSim/raw/other")
            .unwrap()
            .is_none()
    );
    drop(c);
    // put/get: bytes in, the same bytes out.
    let did: DataId = [
        ("instrument", Value::from("LSSTCam-imSim")),
        ("detector", Value::Int(4)),
        ("visit", Value::Int(2)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let r = t
        .repo
        .put(
            b"{\"calexp\": true}",
            "calexp",
            &did,
            "u/me/DM-1/run",
            "json",
        )
        .unwrap();
    assert_eq!(
        std::fs::read(t.repo.get_path(&r).unwrap()).unwrap(),
        b"{\"calexp\": true}"
    );
    assert_eq!(
        valet::check::check(&t.repo, true, false).unwrap().problems,
        Vec::<String>::new()
    );
    // Table errors name the line.
    let err =
        read_ingest_table("file,detector\nx.fits,1,2\n", "t.csv", &fixed, None, false).unwrap_err();
    assert!(err.to_string().contains("t.csv:2"), "{err}");
}

fn prune_rules(backend: Backend) {
    use valet::prune::{prune, PruneOptions};
    use valet::transfers::{DatasetFile, Entry, ExportFile};
    let Some(t) = new_repo(backend) else { return };
    import_with(&t, TransferMode::Copy);
    // Two new biases stored in one shared file.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("shared.json"), b"{}").unwrap();
    let ids = [uuid::Uuid::now_v7(), uuid::Uuid::now_v7()];
    let did = |d: i64| -> valet::registry::DataId {
        [
            (
                "instrument".to_string(),
                valet::registry::Value::from("LSSTCam-imSim"),
            ),
            ("detector".to_string(), valet::registry::Value::Int(d)),
        ]
        .into_iter()
        .collect()
    };
    let model = ExportFile {
        version: "1.0.2".into(),
        universe_version: 8,
        universe_namespace: "daf_butler".into(),
        entries: vec![
            (
                0,
                Entry::Collection(valet::transfers::CollectionEntry {
                    name: "u/me/DM-1/biases".into(),
                    kind: valet::registry::CollectionType::Run,
                    doc: None,
                    children: vec![],
                }),
            ),
            (
                0,
                Entry::Datasets {
                    dataset_type: "bias".into(),
                    run: "u/me/DM-1/biases".into(),
                    files: vec![DatasetFile {
                        ids: ids.to_vec(),
                        data_ids: vec![did(0), did(1)],
                        path: Some("shared.json".into()),
                        formatter: None,
                    }],
                },
            ),
        ],
    };
    valet::transfers::import_export(
        &t.repo,
        &[(model, dir.path().join("x.yaml").display().to_string())],
        &ImportOptions {
            transfer: Some(TransferMode::Copy),
            directory: Some(dir.path().to_path_buf()),
            ..Default::default()
        },
    )
    .unwrap();
    let shared = t
        .repo
        .get_path(&valet::registry::DatasetRef {
            id: ids[0],
            dataset_type: "bias".into(),
            run: "u/me/DM-1/biases".into(),
            data_id: did(0),
        })
        .unwrap();
    assert!(shared.exists());
    // Wrong run: refused, nothing changes.
    let err = prune(
        &t.repo,
        &ids[..1],
        &PruneOptions {
            purge: Some("elsewhere".into()),
            unstore: true,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("not \"elsewhere\""), "{err}");
    assert!(prune(&t.repo, &ids[..1], &PruneOptions::default()).is_err());
    assert!(prune(
        &t.repo,
        &ids[..1],
        &PruneOptions {
            purge: Some("x".into()),
            disassociate: vec!["t".into()],
            ..Default::default()
        }
    )
    .is_err());
    // Purging one of the two keeps the shared file; purging the other deletes it.
    let r = prune(
        &t.repo,
        &ids[..1],
        &PruneOptions {
            purge: Some("u/me/DM-1/biases".into()),
            unstore: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((r.purged, r.files_deleted), (1, 0));
    assert!(shared.exists());
    let r = prune(
        &t.repo,
        &ids[1..],
        &PruneOptions {
            purge: Some("u/me/DM-1/biases".into()),
            unstore: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((r.purged, r.files_deleted), (1, 1));
    assert!(!shared.exists());
    // Unstore keeps the dataset registered; disassociate leaves it in its RUN.
    let mut c = t.repo.registry().db.conn().unwrap();
    let raws = all_artifacts(&mut c).unwrap();
    drop(c);
    let raw = raws
        .iter()
        .find(|a| a.path.starts_with("LSSTCam-imSim/raw/all"))
        .unwrap();
    let r = prune(
        &t.repo,
        &[raw.dataset_id],
        &PruneOptions {
            unstore: true,
            disassociate: vec!["LSSTCam-imSim/raw/DM-12345".into()],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r.files_deleted, 1);
    assert!(!t.root().join(&raw.path).exists());
    let mut c = t.repo.registry().db.conn().unwrap();
    assert!(
        valet::registry::artifacts::get_artifact(&mut c, raw.dataset_id)
            .unwrap()
            .is_none()
    );
    assert_eq!(
        valet::registry::datasets::get_datasets(&mut c, &[raw.dataset_id])
            .unwrap()
            .len(),
        1
    );
    drop(c);
    assert_eq!(
        valet::check::check(&t.repo, true, false).unwrap().problems,
        Vec::<String>::new()
    );
}

fn traversal_refused(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    t.repo
        .import_files(
            &[data("butler-fixtures/base.yaml")],
            &ImportOptions::default(),
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("export");
    std::fs::create_dir_all(&inner).unwrap();
    std::fs::write(dir.path().join("secret.txt"), b"outside").unwrap();
    let text = "version: 1.0.2\nuniverse_version: 8\nuniverse_namespace: daf_butler\ndata:\n\
- type: collection\n  collection_type: RUN\n  name: r\n\
- type: dataset\n  dataset_type: bias\n  run: r\n  records:\n  - dataset_id: [!uuid '01a203b0-c267-7733-8854-d5f0208e32f8']\n    data_id: [{instrument: Cam1, detector: 1}]\n    path: ../secret.txt\n";
    std::fs::write(inner.join("export.yaml"), text).unwrap();
    let before = walk(&t.root()).len();
    let err = t
        .repo
        .import_files(
            &[inner.join("export.yaml")],
            &ImportOptions {
                transfer: Some(TransferMode::Copy),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("'..'"), "{err}");
    assert_eq!(walk(&t.root()).len(), before);
    // A RUN name cannot climb either: names with '..' segments are refused.
    let err = t
        .repo
        .registry()
        .register_collection("a/../../b", valet::registry::CollectionType::Run, None)
        .unwrap_err();
    assert!(err.to_string().contains("'..'"), "{err}");
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// An import whose transaction loses a deadlock after it has moved files into the
/// datastore runs again: the files of the failed attempt go back first, so each is
/// stored once and none is left over.
fn retried_import_stores_each_file_once(backend: Backend) {
    if backend == Backend::Sqlite {
        // SQLite writers queue for the write lock; nothing there is ever retried.
        return;
    }
    let Some(t) = new_repo(backend) else { return };
    // The first insert of artifact records loses as a deadlock would (a sequence,
    // unlike a table, keeps counting through the rollback).
    t.repo
        .registry()
        .db
        .transaction(|c| {
            c.batch(
                "CREATE SEQUENCE artifact_inserts;
                 CREATE FUNCTION lose_first_artifact_insert() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN
                     IF nextval('artifact_inserts') = 1 THEN
                         RAISE EXCEPTION 'lost a conflict' USING ERRCODE = '40P01';
                     END IF;
                     RETURN NULL;
                 END $$;
                 CREATE TRIGGER lose_first BEFORE INSERT ON datastore_record
                     FOR EACH STATEMENT EXECUTE FUNCTION lose_first_artifact_insert();",
            )
        })
        .unwrap();
    let source = t.dir.path().join("files");
    copy_tree(&data("dp02-mini/files"), &source);
    let s = import_from(&t, TransferMode::Move, source.clone()).unwrap();
    assert_eq!(s.files, 799);
    let inserts = t
        .repo
        .registry()
        .db
        .conn()
        .unwrap()
        .query_opt("SELECT last_value FROM artifact_inserts", &[])
        .unwrap()
        .unwrap()[0]
        .as_i64()
        .unwrap();
    assert!(inserts > 1, "the failing attempt never happened");
    let json = |dir: &std::path::Path| walk(dir).iter().filter(|p| p.ends_with(".json")).count();
    assert_eq!(json(&source), 0, "every file was moved");
    assert_eq!(json(&t.root()), 799);
    assert_eq!(
        valet::check::check(&t.repo, true, false).unwrap().problems,
        Vec::<String>::new()
    );
}

/// `ingest_table` records the formatter it is given, and a checksum only while file
/// attributes are tracked.
fn ingest_table_records(backend: Backend) {
    use valet::ingest::IngestTableOptions;
    use valet::registry::{DataId, IdGenerationMode, Value};
    let Some(t) = new_repo(backend) else { return };
    t.repo
        .import_files(&[data("dp02-mini/export.yaml")], &ImportOptions::default())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f0.fits"), "pixels").unwrap();
    let table = dir.path().join("t.csv");
    std::fs::write(&table, "file,detector,exposure\nf0.fits,0,5\n").unwrap();
    let ingest = |run: &str, formatter: Option<&str>, track_file_attrs: bool| {
        let refs = t
            .repo
            .ingest_table(
                &table,
                &IngestTableOptions {
                    dataset_type: "raw".into(),
                    run: run.into(),
                    data_id: [("instrument".to_string(), Value::from("LSSTCam-imSim"))]
                        .into_iter()
                        .collect::<DataId>(),
                    prefix: Some(dir.path().to_path_buf()),
                    allow_outside: false,
                    transfer: TransferMode::Copy,
                    id_generation: IdGenerationMode::Unique,
                    formatter: formatter.map(str::to_owned),
                    track_file_attrs,
                },
            )
            .unwrap();
        let mut c = t.repo.registry().db.conn().unwrap();
        all_artifacts(&mut c)
            .unwrap()
            .into_iter()
            .find(|a| a.dataset_id == refs[0].id)
            .unwrap()
    };
    let tracked = ingest("u/me/tracked", None, true);
    assert!(tracked.checksum.is_some());
    let untracked = ingest("u/me/untracked", Some("my.pkg.RawFormatter"), false);
    assert_eq!(untracked.checksum, None);
    assert_eq!(untracked.file_size, Some(6));
    assert_eq!(untracked.formatter.as_deref(), Some("my.pkg.RawFormatter"));
}

on_both_backends!(
    ingest_table_records,
    retried_import_stores_each_file_once,
    reference_paths,
    links_and_failures,
    remove_runs_deletes_files,
    check_finds_and_repairs,
    ingest_and_put,
    prune_rules,
    traversal_refused,
);
