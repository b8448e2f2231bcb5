//! Set-up shared by the benchmarks: DP0.2-shaped repositories on SQLite and, when
//! `VALET_TEST_PG` names a server, on PostgreSQL.

// Each benchmark uses a subset of these.
#![allow(dead_code)]

use valet::transfers::{import_export, ImportOptions};
use valet::workload::{generate, Shape};
use valet::{CreateOptions, Repo};

/// A fresh, empty repository (SQLite, or the given database URL).
pub fn empty_repo(db: Option<String>) -> (tempfile::TempDir, Repo) {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repo::create(
        &dir.path().join("repo"),
        &CreateOptions {
            db,
            ..Default::default()
        },
    )
    .expect("create");
    (dir, repo)
}

/// A fresh repository (SQLite, or the given database URL) holding the sample of
/// `shape`.
pub fn repo_with(shape: Shape, db: Option<String>) -> (tempfile::TempDir, Repo) {
    let (dir, repo) = empty_repo(db);
    import_export(
        &repo,
        &[(generate(&shape), "sample".into())],
        &ImportOptions::default(),
    )
    .expect("import");
    (dir, repo)
}

/// A fresh PostgreSQL database named `name` on the `VALET_TEST_PG` server.
pub fn pg_database(name: &str) -> Option<String> {
    let admin = std::env::var("VALET_TEST_PG").ok()?;
    let mut client = postgres::Client::connect(&admin, postgres::NoTls).expect("connect");
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .unwrap();
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(&admin)
        .to_owned();
    Some(format!("{base}/{name}"))
}

/// The backends to measure: SQLite, and PostgreSQL when `VALET_TEST_PG` is set.
pub fn backends(name: &str) -> Vec<(&'static str, Option<String>)> {
    let mut v = vec![("sqlite", None)];
    if let Some(url) = pg_database(name) {
        v.push(("postgres", Some(url)));
    }
    v
}
