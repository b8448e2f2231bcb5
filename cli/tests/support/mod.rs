//! CLI test support: run the `valet` binary, check its answers, make repositories.
//! Shared by every test of the `valet` command (included with `#[path]`).

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{dp02_mini_import, fresh_pg_database, Backend};

/// The user the tests act as: whoever creates a repository is its first admin.
pub const TEST_USER: &str = "alice";

/// A `valet` command acting as [`TEST_USER`].
pub fn valet() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_valet"));
    c.env("VALET_USER", TEST_USER);
    c
}

/// Run `valet` with these arguments and wait for it.
pub fn run(args: &[&str]) -> Output {
    valet().args(args).output().expect("run valet")
}

/// Run `valet`, which must succeed; returns its standard output.
pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "valet {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Expect a refusal: a non-zero exit, one line on stderr containing `expected`, and
/// no panic.
pub fn refused(out: Output, expected: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "should fail; stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.contains(expected), "expected {expected:?} in {err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Create the repository `dir/name` with the CLI; `None` when the backend is
/// unavailable.
pub fn create(backend: Backend, dir: &Path, name: &str) -> Option<String> {
    let repo = dir.join(name).display().to_string();
    match backend {
        Backend::Sqlite => ok(&["create", &repo]),
        Backend::Postgres => ok(&["create", &repo, "--db", &fresh_pg_database()?]),
    };
    Some(repo)
}

/// How many datasets the collections matching `glob` hold.
pub fn count_datasets(repo: &str, glob: &str) -> usize {
    ok(&[
        "query-datasets",
        repo,
        "--collections",
        glob,
        "--format",
        "csv",
    ])
    .lines()
    .count()
    .saturating_sub(1)
}

/// Run `valet`, which must refuse as [`refused`] says.
pub fn fails(args: &[&str], expected: &str) {
    refused(run(args), expected)
}

/// Create the repository `dir/name` and import the dp02-mini fixture into it,
/// registry only (no files); `None` when the backend is unavailable.
pub fn with_dp02_mini_registry(backend: Backend, dir: &Path, name: &str) -> Option<String> {
    let repo = create(backend, dir, name)?;
    ok(&[
        "import",
        &repo,
        &crate::common::conformance_data("dp02-mini"),
        "--registry-only",
    ]);
    Some(repo)
}

/// [`create`], then the dp02-mini fixture imported with its files.
pub fn imported(backend: Backend, dir: &Path, name: &str) -> Option<String> {
    let repo = create(backend, dir, name)?;
    let args = dp02_mini_import(&repo);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    Some(repo)
}
