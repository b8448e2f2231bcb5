//! Transactions that span many calls (`Repo::begin_transaction` /
//! `Repo::end_transaction`, the reference's `butler.transaction()`) on both
//! backends: a rollback takes back rows and the files stored inside; a commit keeps
//! them; nested transactions are savepoints; files of removed datasets are deleted
//! only once the outermost transaction commits; other threads see nothing until then.

mod common;

use std::path::{Path, PathBuf};

use common::{count, new_repo, Backend, TestRepo};
use valet::collection_writes::RegisterCollectionOptions;
use valet::datastore_crate::TransferMode;
use valet::transfers::ImportOptions;
use valet::CollectionType;

const RUN: &str = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905/20211200T000000Z";

fn import_dp02(t: &TestRepo) {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/conformance/dp02-mini");
    t.repo
        .import_files(
            &[data.join("export.yaml")],
            &ImportOptions {
                transfer: Some(TransferMode::Copy),
                directory: Some(data.join("files")),
                ..Default::default()
            },
        )
        .unwrap();
}

/// The dataset files of a repository: everything below its root but the files at
/// the root itself (configuration, SQLite registry) and valet's hidden control files.
fn files_under(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() && !e.file_name().to_string_lossy().starts_with('.') {
                walk(&p, out);
            } else if p.is_file() {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return out;
    };
    for e in entries.flatten() {
        if e.path().is_dir() && !e.file_name().to_string_lossy().starts_with('.') {
            walk(&e.path(), &mut out);
        }
    }
    out.sort();
    out
}

fn datasets(t: &TestRepo) -> i64 {
    count(&t.repo, "SELECT COUNT(*) FROM dataset")
}

fn collection_exists(t: &TestRepo, name: &str) -> bool {
    count(
        &t.repo,
        &format!("SELECT COUNT(*) FROM collection WHERE name = '{name}'"),
    ) == 1
}

fn run(t: &TestRepo, name: &str) {
    t.repo
        .register_collection(
            name,
            CollectionType::Run,
            &RegisterCollectionOptions::default(),
        )
        .unwrap();
}

fn rollback_takes_back_rows_and_files(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let before = files_under(&t.root());
    t.repo.begin_transaction().unwrap();
    import_dp02(&t);
    run(&t, "scratch");
    // Inside, the transaction sees its own work.
    assert!(datasets(&t) > 0);
    assert!(files_under(&t.root()).len() > before.len());
    t.repo.end_transaction(false).unwrap();
    assert_eq!(datasets(&t), 0);
    assert!(!collection_exists(&t, "scratch"));
    assert_eq!(
        files_under(&t.root()),
        before,
        "files stored inside stay behind"
    );
    // And the repository is usable afterwards, by the same thread.
    import_dp02(&t);
    assert!(datasets(&t) > 0);
}

fn commit_keeps_everything(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    t.repo.begin_transaction().unwrap();
    import_dp02(&t);
    run(&t, "scratch");
    t.repo.end_transaction(true).unwrap();
    assert!(datasets(&t) > 0);
    assert!(collection_exists(&t, "scratch"));
    assert!(files_under(&t.root()).len() > 700);
}

fn nested_transactions_are_savepoints(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    t.repo.begin_transaction().unwrap();
    run(&t, "outer");
    t.repo.begin_transaction().unwrap();
    run(&t, "inner");
    t.repo.end_transaction(false).unwrap();
    t.repo.begin_transaction().unwrap();
    run(&t, "inner-kept");
    t.repo.end_transaction(true).unwrap();
    t.repo.end_transaction(true).unwrap();
    assert!(collection_exists(&t, "outer"));
    assert!(!collection_exists(&t, "inner"));
    assert!(collection_exists(&t, "inner-kept"));
    // Nothing is left open.
    assert!(t.repo.end_transaction(true).is_err());
}

fn removed_files_go_only_at_commit(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    import_dp02(&t);
    let all = files_under(&t.root()).len();
    let names = vec![RUN.to_owned()];
    t.repo.begin_transaction().unwrap();
    let removed = t.repo.remove_runs(&names, true).unwrap();
    assert!(removed.datasets > 0);
    assert_eq!(
        files_under(&t.root()).len(),
        all,
        "deleted before the commit"
    );
    t.repo.end_transaction(false).unwrap();
    assert!(collection_exists(&t, RUN));
    assert_eq!(files_under(&t.root()).len(), all);
    t.repo.begin_transaction().unwrap();
    t.repo.remove_runs(&names, true).unwrap();
    t.repo.end_transaction(true).unwrap();
    assert!(!collection_exists(&t, RUN));
    assert!(
        files_under(&t.root()).len() < all,
        "the run's files stay after the commit"
    );
}

/// Whether another thread sees the collection `name` registered.
fn seen_elsewhere(t: &TestRepo, name: &str) -> bool {
    let repo = t.repo.clone();
    let sql = format!("SELECT COUNT(*) FROM collection WHERE name = '{name}'");
    std::thread::spawn(move || count(&repo, &sql))
        .join()
        .unwrap()
        == 1
}

fn other_threads_see_only_commits(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    t.repo.begin_transaction().unwrap();
    run(&t, "pending");
    assert!(!seen_elsewhere(&t, "pending"));
    t.repo.end_transaction(true).unwrap();
    assert!(seen_elsewhere(&t, "pending"));
}

fn ending_without_beginning_is_an_error(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let err = t.repo.end_transaction(true).unwrap_err().to_string();
    assert!(err.contains("no transaction is open"), "{err}");
}

on_both_backends!(
    rollback_takes_back_rows_and_files,
    commit_keeps_everything,
    nested_transactions_are_savepoints,
    removed_files_go_only_at_commit,
    other_threads_see_only_commits,
    ending_without_beginning_is_an_error,
);
