//! `valet dregs …` end to end on both backends: DESC's verbs, their output and exit
//! codes, a deletion confirmed from a pipe, and the pipeline's lineage.

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "support/mod.rs"]
mod support;

use std::io::Write;
use std::process::Stdio;

use common::Backend;
use support::{create, fails, ok, valet};

fn dregs_commands(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(repo) = create(backend, dir.path(), "repo") else {
        return;
    };
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("stage1/sub")).unwrap();
    std::fs::write(src.join("stage1/a.txt"), "a").unwrap();
    std::fs::write(src.join("stage1/sub/b.txt"), "b").unwrap();
    std::fs::write(src.join("catalog.db"), "catalog").unwrap();
    let s = |p: &str| src.join(p).display().to_string();

    let out = ok(&["dregs", "register", "execution", &repo, "pipeline-stage-1"]);
    assert_eq!(out.trim(), "Created execution entry with id 1");
    let out = ok(&[
        "dregs",
        "register",
        "dataset",
        &repo,
        "stage1_output",
        "0.0.1",
        "--old-location",
        &s("stage1"),
        "--relative_path",
        "pipeline/stage1",
        "--execution-id",
        "1",
        "--description",
        "a directory",
    ]);
    assert_eq!(out.trim(), "Created dataset entry with id 1 (execution 1)");
    let out = ok(&[
        "dregs",
        "register",
        "dataset",
        &repo,
        "catalog",
        "major",
        "--old-location",
        &s("catalog.db"),
        "--keywords",
        "DC2",
        "--is-overwritable",
    ]);
    assert_eq!(out.trim(), "Created dataset entry with id 2 (execution 2)");
    ok(&[
        "dregs",
        "register",
        "execution",
        &repo,
        "stage-2",
        "--input-datasets",
        "1",
        "2",
    ]);

    // ls: JSON objects with the promised keys; filters and keywords narrow it.
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["dregs", "ls", &repo, "--format", "json"])).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for key in [
        "dataset_id",
        "name",
        "version_string",
        "owner",
        "owner_type",
        "relative_path",
        "status",
        "nfiles",
    ] {
        assert!(rows[0].get(key).is_some(), "{key} missing from {}", rows[0]);
    }
    assert_eq!(rows[1]["version_string"], "1.0.0");
    assert_eq!(
        rows[1]["relative_path"],
        ".gen_paths/catalog_1.0.0/catalog.db"
    );
    let json: serde_json::Value = serde_json::from_str(&ok(&[
        "dregs",
        "ls",
        &repo,
        "--keyword",
        "dc2",
        "--return-cols",
        "name",
        "nfiles",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(
        json,
        serde_json::json!([{"name": "catalog", "nfiles": 1, "keyword.keyword": "dc2"}])
    );
    let csv = ok(&[
        "dregs",
        "ls",
        &repo,
        "--owner",
        "none",
        "--filter",
        "dataset.nfiles >= 2",
        "--return-cols",
        "dataset_id",
        "data_org",
        "--format",
        "csv",
    ]);
    assert_eq!(csv, "dataset_id,data_org\n1,directory\n");
    let csv = ok(&[
        "dregs",
        "ls",
        &repo,
        "--where",
        "name = 'catalog'",
        "--return-cols",
        "name",
        "--format",
        "csv",
    ]);
    assert_eq!(csv, "name\ncatalog\n");
    let table = ok(&["dregs", "show", "keywords", &repo]);
    assert!(
        table.contains("simulation") && table.contains("dc2"),
        "{table}"
    );

    // path, modify.
    let path = ok(&["dregs", "path", &repo, "1"]);
    assert!(
        path.trim().ends_with("dregs/user/alice/pipeline/stage1"),
        "{path}"
    );
    assert_eq!(
        std::fs::read_to_string(format!("{}/sub/b.txt", path.trim())).unwrap(),
        "b"
    );
    ok(&[
        "dregs",
        "modify",
        "dataset",
        &repo,
        "1",
        "description",
        "updated",
    ]);
    fails(
        &["dregs", "modify", "dataset", &repo, "1", "owner", "bob"],
        "is not modifiable",
    );

    // Refusals are one line with a non-zero exit.
    fails(
        &["dregs", "register", "dataset", &repo, "x", "1.0"],
        "Version string must have 3 components",
    );
    fails(
        &[
            "dregs",
            "register",
            "dataset",
            &repo,
            "catalog",
            "1.0.0",
            "--location-type",
            "dummy",
        ],
        "There is already a dataset",
    );
    fails(
        &[
            "dregs",
            "register",
            "dataset",
            &repo,
            "ext",
            "1.0.0",
            "--location-type",
            "external",
        ],
        "require either a url or contact_email",
    );

    // replace keeps the path; delete asks, and reads the answer from a pipe.
    std::fs::write(src.join("catalog.db"), "catalog v2").unwrap();
    let out = ok(&[
        "dregs",
        "replace",
        "dataset",
        &repo,
        "catalog",
        "1.0.0",
        "--old-location",
        &s("catalog.db"),
    ]);
    assert_eq!(out.trim(), "Created dataset entry with id 3 (execution 4)");
    let path3 = ok(&["dregs", "path", &repo, "3"]);
    assert_eq!(std::fs::read_to_string(path3.trim()).unwrap(), "catalog v2");
    fails(
        &["dregs", "delete", "dataset-by-id", &repo, "3"],
        "--no-confirm",
    );
    let mut child = valet()
        .args([
            "dregs", "delete", "dataset", &repo, "catalog", "1.0.0", "alice", "user",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"y\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Deleted dataset 3: 1 file(s) removed"
    );
    assert!(!std::path::Path::new(path3.trim()).exists());
    fails(
        &[
            "dregs",
            "delete",
            "dataset-by-id",
            &repo,
            "3",
            "--no-confirm",
        ],
        "previously deleted",
    );

    // Aliases.
    ok(&["dregs", "alias", &repo, "best", "--dataset-id", "1"]);
    fails(
        &["dregs", "alias", &repo, "best", "--dataset-id", "2"],
        "already exists",
    );
    ok(&[
        "dregs",
        "alias",
        &repo,
        "best",
        "--dataset-id",
        "2",
        "--supersede",
    ]);

    // Lineage follows the named datasets into the execution that read them.
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["lineage", &repo, "1", "--down"])).unwrap();
    let kinds: Vec<&str> = json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["named_dataset", "execution"]);
    ok(&["check", &repo, "--deep"]);
}

on_both_backends!(dregs_commands);
