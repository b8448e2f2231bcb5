//! Test support: a fresh repository on each backend.
//!
//! SQLite repositories live in a temporary directory. PostgreSQL ones get a database
//! of their own on the server named by `VALET_TEST_PG` (started by
//! `scripts/with-postgres.sh`); without it the PostgreSQL variants are skipped, unless
//! `VALET_REQUIRE_PG` is set, in which case they fail.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use valet::{CreateOptions, Repo};

/// The two registry backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A repository for one test; its directory and database go away with it.
pub struct TestRepo {
    pub repo: Repo,
    pub dir: tempfile::TempDir,
    pub db_url: Option<String>,
}

impl TestRepo {
    pub fn root(&self) -> PathBuf {
        self.repo.root().to_path_buf()
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh, empty PostgreSQL database URL, or `None` when no server is configured.
pub fn fresh_pg_database() -> Option<String> {
    let admin = match std::env::var("VALET_TEST_PG") {
        Ok(url) => url,
        Err(_) => {
            assert!(
                std::env::var_os("VALET_REQUIRE_PG").is_none(),
                "VALET_REQUIRE_PG is set but VALET_TEST_PG is not: run tests through scripts/test.sh"
            );
            eprintln!("VALET_TEST_PG not set: skipping the PostgreSQL variant");
            return None;
        }
    };
    let name = format!(
        "valet_test_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let mut client = postgres::Client::connect(&admin, postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot connect to {admin}: {e}"));
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .expect("drop old test database");
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create test database");
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    Some(format!("{base}/{name}"))
}

/// The lines of a text (a CSV export, say), sorted, to compare without order.
pub fn sorted_lines(text: &[u8]) -> Vec<String> {
    let mut lines: Vec<String> = String::from_utf8_lossy(text)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// The single integer a SQL query returns (a `COUNT(*)`), read from `repo`'s registry.
pub fn count(repo: &Repo, sql: &str) -> i64 {
    let mut c = repo.registry().db.conn().expect("connection");
    c.query_opt(sql, &[])
        .expect("query")
        .and_then(|row| row[0].as_i64())
        .expect("one integer")
}

/// A path under the conformance data (`tests/data/conformance`), from the tests of
/// any crate in the workspace.
pub fn conformance_data(path: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|d| d.join("tests/data/conformance"))
        .find(|d| d.is_dir())
        .expect("tests/data/conformance in the workspace");
    root.join(path).display().to_string()
}

/// The `valet import` arguments that bring dp02-mini, its files copied, into `repo`.
pub fn dp02_mini_import(repo: &str) -> Vec<String> {
    let files = conformance_data("dp02-mini/files");
    [
        "import",
        repo,
        &files,
        "--export-file",
        "../export.yaml",
        "-t",
        "copy",
    ]
    .map(str::to_owned)
    .into()
}

/// A new repository on `backend`, or `None` if that backend is not available here.
pub fn new_repo(backend: Backend) -> Option<TestRepo> {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("repo");
    let db_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fresh_pg_database()?),
    };
    let repo = Repo::create(
        &root,
        &CreateOptions {
            db: db_url.clone(),
            dimension_config: None,
            identity: None,
        },
    )
    .expect("create repository");
    Some(TestRepo { repo, dir, db_url })
}

/// Generate `#[test]` functions that run each named test body on both backends:
/// `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(super::common::Backend::Sqlite)
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    super::$name(super::common::Backend::Postgres)
                }
            )*
        }
    };
}

/// splitmix64: a small, fast generator, fully determined by its seed and the same on
/// every platform, so a failing seeded test can be replayed.
pub struct Rng(pub u64);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo) as usize) as i64
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    /// One of `items` (not empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}
