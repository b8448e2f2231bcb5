//! The `valet` binary end to end, on SQLite and PostgreSQL.

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "support/mod.rs"]
mod support;

use std::path::Path;

use common::{conformance_data, Backend};
use support::{create, fails, imported, ok, run, with_dp02_mini_registry};

fn dataset_type_commands(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(repo) = create(backend, dir.path(), "repo") else {
        return;
    };
    fails(&["create", &repo], "already holds a repository");

    ok(&[
        "register-dataset-type",
        &repo,
        "raw",
        "Exposure",
        "instrument",
        "exposure",
        "detector",
    ]);
    ok(&[
        "register-dataset-type",
        &repo,
        "raw",
        "Exposure",
        "instrument,detector,exposure",
    ]);
    ok(&[
        "register-dataset-type",
        &repo,
        "bias",
        "ExposureF",
        "instrument",
        "detector",
        "--is-calibration",
    ]);
    fails(
        &[
            "register-dataset-type",
            &repo,
            "raw",
            "ExposureF",
            "instrument",
            "exposure",
            "detector",
        ],
        "already registered",
    );
    fails(
        &[
            "register-dataset-type",
            &repo,
            "raw.wcs",
            "Wcs",
            "instrument",
        ],
        "component",
    );
    fails(
        &[
            "register-dataset-type",
            &repo,
            "x",
            "X",
            "instrument",
            "spaceship",
        ],
        "spaceship",
    );

    let json = ok(&[
        "query-dataset-types",
        &repo,
        "--verbose",
        "--format",
        "json",
    ]);
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        parsed,
        serde_json::json!([
            {"name": "bias", "dimensions": "[instrument, detector]", "storage_class": "ExposureF", "is_calibration": true},
            {"name": "raw", "dimensions": "[instrument, detector, exposure]", "storage_class": "Exposure", "is_calibration": false}
        ])
    );
    let csv = ok(&["query-dataset-types", &repo, "r*", "--format", "csv"]);
    assert_eq!(csv, "name\nraw\n");
    let table = ok(&["query-dataset-types", &repo]);
    // Laid out as the reference: left-aligned and padded to the column.
    assert_eq!(table, "name\n----\nbias\nraw \n");

    ok(&["remove-dataset-type", &repo, "b*"]);
    assert_eq!(
        ok(&["query-dataset-types", &repo, "--format", "csv"]),
        "name\nraw\n"
    );
    fails(&["remove-dataset-type", &repo, "nothing"], "not registered");
}

fn dimension_record_queries(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(repo) = create(backend, dir.path(), "repo") else {
        return;
    };
    // In this process too, act as the user who created the repository.
    valet::registry::identity::set_thread_user(Some(support::TEST_USER));
    let opened = valet::Repo::open(Path::new(&repo)).unwrap();
    let rec = |pairs: &[(&str, valet::registry::Value)]| -> valet::registry::Record {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    };
    opened
        .registry()
        .insert_dimension_records("instrument", &[rec(&[("name", "HSC".into())])], false)
        .unwrap();
    let detectors: Vec<_> = (0..5)
        .map(|d| {
            rec(&[
                ("instrument", "HSC".into()),
                ("id", d.into()),
                ("full_name", format!("1_{d}").into()),
            ])
        })
        .collect();
    opened
        .registry()
        .insert_dimension_records("detector", &detectors, false)
        .unwrap();

    let csv = ok(&[
        "query-dimension-records",
        &repo,
        "detector",
        "--where",
        "detector IN (1..3) AND full_name != x",
        "--bind",
        "x=1_2",
        "--format",
        "csv",
    ]);
    let ids: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(ids, vec!["1", "3"]);
    fails(
        &[
            "query-dimension-records",
            &repo,
            "detector",
            "--where",
            "id >",
        ],
        "at column 5",
    );
    fails(
        &[
            "query-dimension-records",
            &repo,
            "detector",
            "--where",
            "colour = 1",
        ],
        "unknown field 'colour'",
    );
    fails(
        &["query-dimension-records", &repo, "warp_drive"],
        "unknown dimension element",
    );
    fails(
        &[
            "query-dimension-records",
            "/definitely/not/here",
            "detector",
        ],
        "not a valet repository",
    );
}

/// A DP0.2-shaped sample export of 3 RUNs in `dir/sample`; returns its directory.
fn generate_sample(dir: &Path, detectors: u32, visits: u32) -> String {
    let sample = dir.join("sample").display().to_string();
    let (detectors, visits) = (detectors.to_string(), visits.to_string());
    ok(&[
        "generate-sample",
        &sample,
        "--detectors",
        &detectors,
        "--visits",
        &visits,
        "--runs",
        "3",
    ]);
    sample
}

/// The chain of processing RUNs in the generated sample.
const CHAIN: &str = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905";

/// A repository created with the CLI in `dir`, holding a generated sample's registry
/// content; `None` when the backend is unavailable.
fn sample_repo(backend: Backend, dir: &Path, detectors: u32, visits: u32) -> Option<String> {
    let repo = create(backend, dir, "repo")?;
    let sample = generate_sample(dir, detectors, visits);
    ok(&["import", &repo, &sample, "--registry-only"]);
    Some(repo)
}

fn main_job(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(repo) = create(backend, dir.path(), "repo") else {
        return;
    };
    let sample = generate_sample(dir.path(), 4, 6);
    // The sample holds no files: an import that transfers them fails and changes nothing.
    fails(
        &["import", &repo, &sample, "-t", "copy"],
        "No such file or directory",
    );
    assert_eq!(
        ok(&["query-collections", &repo, "--format", "csv"]),
        "name,type,depth\n"
    );
    ok(&["import", &repo, &sample, "--registry-only"]);
    let chain = CHAIN;
    let csv = ok(&[
        "query-datasets",
        &repo,
        "calexp",
        "--collections",
        chain,
        "--find-first",
        "--format",
        "csv",
    ]);
    assert_eq!(csv.lines().count(), 1 + 4 * 6, "{csv}");
    let found = ok(&[
        "find-dataset",
        &repo,
        "calexp",
        "--collections",
        chain,
        "--data-id",
        "instrument=LSSTCam-imSim,detector=1,visit=5",
        "--format",
        "json",
    ]);
    let found: serde_json::Value = serde_json::from_str(&found).unwrap();
    assert_eq!(found[0]["visit"], 5);
    fails(
        &[
            "find-dataset",
            &repo,
            "calexp",
            "--collections",
            chain,
            "--data-id",
            "instrument=LSSTCam-imSim,detector=1,visit=99",
        ],
        "no calexp dataset",
    );
    fails(
        &[
            "query-datasets",
            &repo,
            "calexp",
            "--collections",
            "2.2i/*",
            "--find-first",
        ],
        "not allowed in a find-first search",
    );
    let out = dir.path().join("obscore.csv").display().to_string();
    let config = format!(
        "{}/../examples/obscore-dp02.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    ok(&[
        "obscore",
        "export",
        &repo,
        &out,
        "-c",
        &config,
        "--collections",
        chain,
        "--format",
        "csv",
    ]);
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 1 + 2 * 4 * 6);
    fails(
        &[
            "obscore",
            "export",
            &repo,
            &out,
            "-c",
            "/nope.yaml",
            "--collections",
            chain,
        ],
        "/nope.yaml",
    );

    // Chains: edit, history, as-of, cycles.
    ok(&[
        "register-collection",
        &repo,
        "u/me/DM-1/run",
        "--collection-type",
        "RUN",
    ]);
    assert_eq!(
        ok(&[
            "collection-chain",
            &repo,
            "u/me/DM-1",
            "u/me/DM-1/run",
            chain
        ])
        .trim(),
        format!("[u/me/DM-1/run, {chain}]")
    );
    fails(
        &[
            "collection-chain",
            &repo,
            chain,
            "u/me/DM-1",
            "--mode",
            "extend",
        ],
        "rule: shared-lists-personal",
    );
    ok(&["collection-chain", &repo, "u/me/DM-1/outer", "u/me/DM-1"]);
    fails(
        &[
            "collection-chain",
            &repo,
            "u/me/DM-1",
            "u/me/DM-1/outer",
            "--mode",
            "extend",
        ],
        "cycle",
    );
    assert_eq!(
        ok(&["collection-chain", &repo, "u/me/DM-1", "--mode", "pop"]).trim(),
        format!("[{chain}]")
    );
    let hist = ok(&["chain-history", &repo, "u/me/DM-1", "--format", "json"]);
    let hist: serde_json::Value = serde_json::from_str(&hist).unwrap();
    assert_eq!(hist.as_array().unwrap().len(), 2);
    ok(&[
        "remove-collections",
        &repo,
        "u/me/DM-1/outer",
        "--no-confirm",
    ]);
    let tree = ok(&[
        "query-collections",
        &repo,
        "u/me/*",
        "--chains",
        "TREE",
        "--format",
        "csv",
        "--as-of",
        "1970-01-02",
    ]);
    assert!(
        tree.contains("u/me/DM-1,CHAINED,0") && !tree.contains(chain),
        "{tree}"
    );
    // A shared chain may not list a personal collection, even for an admin; a name
    // outside the conventions is what the lint reports.
    fails(
        &[
            "collection-chain",
            &repo,
            "LSSTCam-imSim/defaults",
            "u/me/DM-1/run",
            "--mode",
            "extend",
        ],
        "rule: shared-lists-personal",
    );
    ok(&["lint-collections", &repo]);
    ok(&[
        "register-collection",
        &repo,
        "scratch",
        "--collection-type",
        "TAGGED",
    ]);
    fails(&["lint-collections", &repo], "naming problem");
    ok(&[
        "collection-chain",
        &repo,
        "u/me/DM-1",
        "u/me/DM-1/run",
        "--mode",
        "prepend",
    ]);
    fails(&["remove-runs", &repo, "u/me/DM-1/run"], "--no-confirm");
    fails(
        &["remove-runs", &repo, "u/me/DM-1/run", "--no-confirm"],
        "--force",
    );
    ok(&[
        "remove-runs",
        &repo,
        "u/me/DM-1/run",
        "--no-confirm",
        "--force",
    ]);
}

fn conformance_import_and_export(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(repo) = imported(backend, dir.path(), "repo") else {
        return;
    };
    let with_uri = ok(&[
        "query-datasets",
        &repo,
        "bias",
        "--collections",
        "LSSTCam-imSim/calib/DM-30694/20210601",
        "--show-uri",
        "--format",
        "json",
    ]);
    let with_uri: serde_json::Value = serde_json::from_str(&with_uri).unwrap();
    let uri = with_uri[0]["URI"].as_str().unwrap();
    // Absolute, as the reference prints them, with no `.` in the path.
    assert!(
        uri.starts_with("file:///") && uri.ends_with(".json") && !uri.contains("/./"),
        "{uri}"
    );
    assert!(std::path::Path::new(uri.trim_start_matches("file://")).exists());
    ok(&["check", &repo, "--deep"]);
    let types = ok(&[
        "query-collections",
        &repo,
        "--chains",
        "NO-CHILDREN",
        "--format",
        "json",
    ]);
    let types: serde_json::Value = serde_json::from_str(&types).unwrap();
    assert_eq!(types.as_array().unwrap().len(), 32);
    let out = dir.path().join("export").display().to_string();
    ok(&["export", &repo, &out, "-c", "LSSTCam-imSim/defaults"]);
    let text = std::fs::read_to_string(format!("{out}/export.yaml")).unwrap();
    assert!(text.contains("name: LSSTCam-imSim/calib/DM-30694") && !text.contains("PREOPS-905/"));
    fails(
        &[
            "import",
            &repo,
            &conformance_data("dp02-mini"),
            "--registry-only",
        ],
        "already exists",
    );

    // transfer-datasets: the reference's count line; refusals in one line.
    let Some(dest) = create(backend, dir.path(), "dest") else {
        return;
    };
    let chain = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905";
    let transfer = |extra: &[&str]| {
        let mut args = vec![
            "transfer-datasets",
            &repo,
            &dest,
            "-d",
            "calexp",
            "--collections",
            chain,
            "--find-first",
        ];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let args = transfer(&[]);
    fails(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        "use --register-dataset-types",
    );
    let args = transfer(&["--register-dataset-types", "-t", "COPY"]);
    let printed = ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(printed.trim(), "Number of datasets transferred: 360");
    ok(&["check", &dest, "--deep"]);

    // export-calibs: the reference's table, sorted by type and data ID; an export
    // that imports elsewhere with its validity ranges; an existing directory refused.
    let calibs = dir.path().join("calibs").display().to_string();
    let table = ok(&["export-calibs", &repo, &calibs, "LSSTCam-imSim/calib"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["calibrationType", "run", "detector", "instrument"]
    );
    assert_eq!(lines.len(), 2 + 36, "{table}");
    let detectors: Vec<i64> = lines[2..]
        .iter()
        .map(|l| l.split_whitespace().nth(2).unwrap().parse().unwrap())
        .collect();
    assert!(detectors.windows(2).all(|w| w[0] <= w[1]), "{table}");
    fails(
        &["export-calibs", &repo, &calibs, "LSSTCam-imSim/calib"],
        "Export directory exists",
    );
    let Some(copy) = create(backend, dir.path(), "calib-copy") else {
        return;
    };
    ok(&["import", &copy, &calibs]);
    let bias_at = |r: &str| {
        ok(&[
            "find-dataset",
            r,
            "bias",
            "--collections",
            "LSSTCam-imSim/calib",
            "--data-id",
            "instrument=LSSTCam-imSim,detector=0",
            "--at",
            "2021-06-02T12:00:00",
        ])
    };
    assert_eq!(bias_at(&copy), bias_at(&repo));
    ok(&["check", &copy, "--deep"]);
}

/// `import` of several export files by globs, given in the worst order (datasets
/// before their RUNs and records), with their files copied: one transaction that
/// gives what the single file gives.
fn import_by_globs(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(repo) = create(backend, dir.path(), "repo") else {
        return;
    };
    let text = std::fs::read_to_string(conformance_data("dp02-mini/export.yaml")).unwrap();
    let header_end = text.find("data:\n").unwrap() + "data:\n".len();
    let collections = text.find("\n- type: collection\n").unwrap() + 1;
    let types = text.find("\n- type: dataset_type\n").unwrap() + 1;
    let parts = dir.path().join("parts");
    std::fs::create_dir_all(&parts).unwrap();
    let header = &text[..header_end];
    for (name, body) in [
        ("c_records.yaml", &text[header_end..collections]),
        ("b_collections.yaml", &text[collections..types]),
        ("a_datasets.yaml", &text[types..]),
    ] {
        std::fs::write(parts.join(name), format!("{header}{body}")).unwrap();
    }
    std::fs::write(parts.join("_files.txt"), "a list, not an export\n").unwrap();
    let files = conformance_data("dp02-mini/files");
    let glob = format!("{}/*", parts.display());
    fails(
        &[
            "import",
            &repo,
            &files,
            "--export-file",
            &glob,
            "--export-file",
            "nothing/*.yaml",
        ],
        "--export-file \"nothing/*.yaml\" matches no export file in",
    );
    ok(&[
        "import",
        &repo,
        &files,
        "--export-file",
        &glob,
        "-t",
        "copy",
    ]);
    ok(&["check", &repo, "--deep"]);
    let datasets = ok(&[
        "query-datasets",
        &repo,
        "*",
        "--collections",
        "*",
        "--format",
        "csv",
    ]);
    let expected = text.matches("  - dataset_id:").count();
    assert_eq!(
        datasets.lines().filter(|l| l.contains(",")).count() - 1,
        expected
    );
}

/// The example ObsCore configuration with `changes` (top-level `key: value` lines)
/// replacing its lines of the same keys; written into `dir`.
fn obscore_config(dir: &Path, name: &str, changes: &[(&str, &str)]) -> String {
    let example = format!(
        "{}/../examples/obscore-dp02.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text: Vec<String> = std::fs::read_to_string(example)
        .unwrap()
        .lines()
        .map(|l| {
            changes
                .iter()
                .find(|(k, _)| l.starts_with(&format!("{k}:")))
                .map_or(l.to_owned(), |(k, v)| format!("{k}: {v}"))
        })
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, text.join("\n")).unwrap();
    path.display().to_string()
}

fn obscore_export_commands(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(repo) = sample_repo(backend, dir.path(), 3, 4) else {
        return;
    };
    let chain = CHAIN;
    let out = |name: &str| dir.path().join(name).display().to_string();
    let sorted_lines = |path: &str| common::sorted_lines(&std::fs::read(path).unwrap());
    let example = obscore_config(dir.path(), "run.yaml", &[]);
    let chained = obscore_config(
        dir.path(),
        "chained.yaml",
        &[
            ("collection_type", "CHAINED"),
            ("collections", &format!("[\"{chain}\"]")),
        ],
    );

    // Parquet by default, as the reference exporter.
    let parquet = out("obscore.parquet");
    ok(&[
        "obscore",
        "export",
        &repo,
        &parquet,
        "-c",
        &example,
        "--collections",
        chain,
    ]);
    assert_eq!(&std::fs::read(&parquet).unwrap()[..4], b"PAR1");

    // Without --collections the configuration's are searched; none at all is an error.
    let searched = out("searched.csv");
    ok(&[
        "obscore", "export", &repo, &searched, "-c", &chained, "--format", "csv",
    ]);
    let csv_of_search = sorted_lines(&searched);
    assert_eq!(csv_of_search.len(), 1 + 2 * 3 * 4);
    let explicit = out("explicit.csv");
    ok(&[
        "obscore",
        "export",
        &repo,
        &explicit,
        "-c",
        &example,
        "--collections",
        chain,
        "--format",
        "csv",
    ]);
    assert_eq!(sorted_lines(&explicit), csv_of_search);
    fails(
        &["obscore", "export", &repo, &out("none.csv"), "-c", &example],
        "no collections to search",
    );
    fails(
        &[
            "obscore",
            "export",
            &repo,
            &out("bad.csv"),
            "-c",
            &example,
            "--collections",
            chain,
            "-d",
            "calexp,deepCoadd",
        ],
        "dataset types deepCoadd are not defined in the ObsCore configuration",
    );
    assert!(!Path::new(&out("bad.csv")).exists());

    // The live table, written as it stands: the chain's find-first rows.
    fails(
        &["obscore", "export", &repo, &out("live.csv"), "--live"],
        "ObsCore is not enabled",
    );
    fails(
        &[
            "obscore",
            "export",
            &repo,
            &out("live.csv"),
            "--live",
            "-c",
            &example,
        ],
        "cannot be used with",
    );
    fails(
        &["obscore", "update-table", &repo, "--dry-run"],
        "ObsCore is not enabled",
    );
    ok(&["obscore", "enable", &repo, &chained]);
    // A table kept current has nothing for a refill to put right; a spoiled row is
    // listed, and stays spoiled until the refill.
    assert_eq!(ok(&["obscore", "update-table", &repo, "--dry-run"]), "");
    {
        let opened = valet::Repo::open(Path::new(&repo)).unwrap();
        let mut c = opened.registry().db.conn().unwrap();
        c.execute(
            "UPDATE obscore SET s_ra = s_ra + 1 WHERE registry_dataset_id IN \
             (SELECT registry_dataset_id FROM obscore ORDER BY registry_dataset_id LIMIT 1)",
            &[],
        )
        .unwrap();
    }
    for _ in 0..2 {
        let listed = ok(&["obscore", "update-table", &repo, "--dry-run"]);
        assert_eq!(listed.lines().count(), 1, "{listed}");
        assert!(
            listed.contains("disagrees with the registry in s_ra"),
            "{listed}"
        );
    }
    ok(&["obscore", "update-table", &repo]);
    assert_eq!(ok(&["obscore", "update-table", &repo, "--dry-run"]), "");
    assert_eq!(
        ok(&["obscore", "set-exposure-regions", &repo, "--check"]),
        "Found 0 records with missing region info for image/lsst.raw\n"
    );
    fails(
        &[
            "obscore",
            "set-exposure-regions",
            &repo,
            "--exposure-column",
            "nope",
        ],
        "column \"nope\" is not in the ObsCore table",
    );
    let live = out("live.csv");
    ok(&[
        "obscore", "export", &repo, &live, "--live", "--format", "csv",
    ]);
    assert_eq!(sorted_lines(&live), csv_of_search);
    let live_parquet = out("live.parquet");
    ok(&["obscore", "export", &repo, &live_parquet, "--live"]);
    assert_eq!(&std::fs::read(&live_parquet).unwrap()[..4], b"PAR1");
}

/// Inputs a parser must refuse cleanly: deep `--where` nesting (which once overflowed
/// the stack) in every command that takes it, invisible characters in collection
/// names, leap seconds in TAI and reversed timespans.
fn parsing_limits(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(repo) = sample_repo(backend, dir.path(), 2, 2) else {
        return;
    };
    let chain = CHAIN;
    let parens = format!("{}visit = 1{}", "(".repeat(10_000), ")".repeat(10_000));
    let nots = format!("{}visit = 1", "NOT ".repeat(30_000));
    let config = format!(
        "{}/../examples/obscore-dp02.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = dir.path().join("out").display().to_string();
    for (deep, column) in [(&parens, 201), (&nots, 801)] {
        let expected = format!("expression nested more than 200 levels deep at column {column}");
        let commands: [&[&str]; 6] = [
            &["query-dimension-records", &repo, "visit"],
            &["query-datasets", &repo, "calexp", "--collections", chain],
            &["query-data-ids", &repo, "--datasets", "calexp", "-c", chain],
            &["prune-datasets", &repo, chain, "--unstore", "--dry-run"],
            &["export", &repo, &out],
            &[
                "obscore",
                "export",
                "-c",
                &config,
                "--collections",
                chain,
                &repo,
                &out,
            ],
        ];
        for command in commands {
            let mut args = command.to_vec();
            args.extend(["--where", deep.as_str()]);
            fails(&args, &expected);
        }
    }
    // Long flat chains are fine: they cost no nesting, nor SQL depth.
    let chain_of_ands = vec!["visit > 0"; 5_000].join(" AND ");
    let visits = |expr: &str| {
        ok(&[
            "query-dimension-records",
            &repo,
            "visit",
            "--where",
            expr,
            "--format",
            "csv",
        ])
    };
    assert_eq!(visits(&chain_of_ands), visits("visit > 0"));

    // Collection names with invisible characters, wherever a name comes in.
    fails(
        &[
            "register-collection",
            &repo,
            "u/me/\u{200B}run",
            "--collection-type",
            "RUN",
        ],
        "invalid collection name \"u/me/\\u{200b}run\": it contains U+200B",
    );
    fails(
        &["collection-chain", &repo, "u/me/\u{202E}chain", chain],
        "it contains U+202E",
    );
    fails(
        &["collection-chain", &repo, "u/me/chain", "u/me/\u{2066}x"],
        "it contains U+2066",
    );
    let export = dir.path().join("bad-name.yaml");
    std::fs::write(
        &export,
        "description: x\nversion: 1.0.2\ndata:\n- type: collection\n  collection_type: RUN\n  name: \"u/me/\\uFEFFrun\"\n",
    )
    .unwrap();
    let export = export.display().to_string();
    fails(
        &[
            "import",
            &repo,
            dir.path().to_str().unwrap(),
            "--export-file",
            &export,
            "--registry-only",
        ],
        "it contains U+FEFF",
    );
    assert!(!ok(&["query-collections", &repo, "u/*", "--format", "csv"]).contains("run"));

    // Times: TAI has no leap seconds, and a range must not run backwards.
    let find = |timespan: [&str; 2]| {
        fails(
            &[
                "find-dataset",
                &repo,
                "calexp",
                "-c",
                chain,
                "-d",
                "instrument=LSSTCam-imSim,detector=1,visit=1",
                "--timespan",
                timespan[0],
                timespan[1],
            ],
            if timespan[0].contains(":60") {
                "TAI has none"
            } else {
                "--timespan 2021-01-02 2021-01-01: timespan begins at 2021-01-02 00:00:00.000000000 TAI, after it ends at 2021-01-01 00:00:00.000000000 TAI"
            },
        )
    };
    find(["2016-12-31 23:59:60", "2017-01-02"]);
    find(["2021-01-02", "2021-01-01"]);
}

/// `query-datasets --limit` and `--order-by` as the reference: 0 is no limit, a
/// negative limit is a cap that warns, the limit counts every dataset type and is
/// taken after sorting; choices are case-insensitive.
fn limits_order_and_choices(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(repo) = with_dp02_mini_registry(backend, dir.path(), "repo") else {
        return;
    };
    let query = |extra: &[&str]| {
        let mut args = vec![
            "query-datasets",
            &repo,
            "--collections",
            "*",
            "--format",
            "csv",
        ];
        args.extend_from_slice(extra);
        let out = run(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .skip(1)
            .map(str::to_owned)
            .collect();
        (rows, String::from_utf8(out.stderr).unwrap())
    };
    let (all, warning) = query(&["--limit", "0"]);
    assert!(all.len() > 700, "{}", all.len());
    assert!(warning.is_empty(), "{warning}");
    // The default cap (20,000) is far above the fixture: everything, no warning.
    assert_eq!(query(&[]), (all.clone(), String::new()));

    let (capped, warning) = query(&["--limit", "-5"]);
    assert_eq!(capped.len(), 5);
    assert_eq!(
        warning.trim_end(),
        "valet: warning: Requested limit of 5 hit for number of datasets returned. Use --limit to increase this limit."
    );
    let (cut, warning) = query(&["--limit", "5"]);
    assert_eq!((cut.len(), warning.as_str()), (5, ""));
    // A limit over several dataset types counts all of them.
    let (two_types, _) = query(&["bias", "raw", "--limit", "7"]);
    assert_eq!(two_types.len(), 7);
    let (all_of_exact, warning) = query(&["--limit", &format!("-{}", all.len())]);
    assert_eq!((all_of_exact.len(), warning.as_str()), (all.len(), ""));

    // The limit is taken after sorting; `-visit` needs no `=`.
    let header = ok(&[
        "query-datasets",
        &repo,
        "calexp",
        "--collections",
        "*",
        "--format",
        "csv",
    ]);
    let column = header
        .lines()
        .next()
        .unwrap()
        .split(',')
        .position(|c| c == "visit")
        .expect("a visit column");
    let visits = |rows: &[String]| -> Vec<i64> {
        rows.iter()
            .map(|r| r.split(',').nth(column).unwrap().parse().unwrap())
            .collect()
    };
    let (top, _) = query(&["calexp", "--order-by", "-visit", "--limit", "3"]);
    let (every, _) = query(&["calexp", "--order-by=visit", "--limit", "0"]);
    let mut want = visits(&every);
    want.reverse();
    assert_eq!(visits(&top), want[..3].to_vec());
    assert!(want[0] > want[want.len() - 1]);

    // Without --collections, every collection (unless finding first).
    let (no_collections, _) = {
        let out = ok(&["query-datasets", &repo, "--limit", "0", "--format", "csv"]);
        (out.lines().count() - 1, ())
    };
    assert_eq!(no_collections, all.len());
    fails(
        &["query-datasets", &repo, "calexp", "--find-first"],
        "no collections given",
    );
    // A text value against a number is an error, not an empty answer.
    fails(
        &[
            "query-datasets",
            &repo,
            "calexp",
            "--where",
            "visit = 'abc'",
        ],
        "visit holds numbers and cannot be compared with the text \"abc\"",
    );
    fails(
        &["query-datasets", &repo, "calexp", "--where", "band = r"],
        "if 'r' is a value, quote it: 'r'",
    );
    // A calibration looked up without a time: say that a time is needed.
    fails(
        &[
            "find-dataset",
            &repo,
            "bias",
            "-c",
            "LSSTCam-imSim/calib",
            "-d",
            "instrument=LSSTCam-imSim,detector=1",
        ],
        "needs a time (--at or --timespan)",
    );
    // An implied value that contradicts the records is an error, not a miss.
    let find = |band: &str| {
        run(&[
            "find-dataset",
            &repo,
            "calexp",
            "-c",
            "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905",
            "-d",
            &format!("instrument=LSSTCam-imSim,detector=1,visit=2,band={band}"),
        ])
    };
    assert!(find("r").status.success());
    support::refused(
        find("u"),
        "data ID band=u contradicts the dimension records, which give band=r",
    );

    // Choices are case-insensitive.
    ok(&[
        "query-collections",
        &repo,
        "--chains",
        "table",
        "--format",
        "JSON",
    ]);
    fails(&["query-datasets", &repo, "--format", "xml"], "xml");
}

/// The main job from raw files: generate-sample --raws, register-instrument,
/// ingest-raws (again: a no-op; a bad file: reported, non-zero exit), define-visits.
fn raws_from_files(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(repo) = create(backend, dir.path(), "repo") else {
        return;
    };
    let sample = dir.path().join("sample").display().to_string();
    let gen = run(&[
        "generate-sample",
        &sample,
        "--raws",
        "--visits",
        "3",
        "--detectors",
        "4",
        "--runs",
        "1",
    ]);
    assert!(gen.status.success());
    for name in ["LSSTCam-imSim", "DECam", "HSC"] {
        ok(&["register-instrument", &repo, name]);
    }
    let again = run(&["register-instrument", &repo, "HSC"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing changed"));
    fails(
        &["register-instrument", &repo, "NoSuchCam"],
        "neither a definition file",
    );

    let raws = format!("{sample}/raws");
    let first = run(&["ingest-raws", &repo, &raws, "-j", "2"]);
    let err = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{err}");
    assert!(err.contains("ingested 36 raw(s) from 27 file(s)"), "{err}");
    let second = run(&["ingest-raws", &repo, &raws]);
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("nothing to ingest"));

    let bad = dir.path().join("bad.fits");
    std::fs::write(&bad, b"SIMPLE  =  not a FITS file").unwrap();
    let out = run(&["ingest-raws", &repo, bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.fits: byte 0") && err.contains("1 failed"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    for name in ["LSSTCam-imSim", "DECam", "HSC"] {
        ok(&["define-visits", &repo, name]);
    }
    let visits = ok(&["query-dimension-records", &repo, "visit", "--format", "csv"]);
    assert_eq!(visits.lines().count(), 1 + 9);
    let regions = ok(&[
        "query-dimension-records",
        &repo,
        "visit_detector_region",
        "--where",
        "instrument = 'DECam'",
        "--format",
        "csv",
    ]);
    assert_eq!(regions.lines().count(), 1 + 3 * 4);
    assert!(regions.contains("POLYGON ICRS"), "{regions}");
}

/// `config-dump` (whole, a part, a part by another delimiter, an unknown key) and
/// `config-validate`: clean on the fixture; a template that cannot tell two
/// calexps apart is reported and exits non-zero; `--ignore` and `-d` narrow it.
fn config_commands(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(repo) = with_dp02_mini_registry(backend, dir.path(), "repo") else {
        return;
    };
    let dump = ok(&["config-dump", &repo]);
    let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(&dump).unwrap();
    assert_eq!(parsed["universe"]["version"].as_u64(), Some(8));
    assert!(parsed["templates"]["default"]
        .as_str()
        .unwrap()
        .starts_with("{run:/}"));
    assert_eq!(
        ok(&["config-dump", &repo, "--subset", ".universe.version"]),
        ".universe.version: 8\n"
    );
    assert_eq!(
        ok(&["config-dump", &repo, "-s", ":universe"]),
        "namespace: daf_butler\nversion: 8\n"
    );
    fails(&["config-dump", &repo, "-s", "nope"], "nope not found");
    let out = dir.path().join("dump.yaml");
    ok(&["config-dump", &repo, "--file", &out.display().to_string()]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), dump);

    assert_eq!(
        ok(&["config-validate", &repo]),
        "No problems encountered with configuration.\n"
    );
    let config = std::path::Path::new(&repo).join("valet.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{text}templates:\n  calexp: '{{run}}/{{datasetType}}/{{visit}}'\n"),
    )
    .unwrap();
    let refused = run(&["config-validate", &repo]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("dataset type calexp") && err.contains("detector"),
        "{err}"
    );
    let quiet = run(&["config-validate", &repo, "-q"]);
    assert!(!quiet.status.success());
    assert_eq!(String::from_utf8_lossy(&quiet.stderr).lines().count(), 1);
    ok(&["config-validate", &repo, "--ignore", "calexp"]);
    ok(&["config-validate", &repo, "-d", "bias,raw"]);
    fails(
        &["config-validate", &repo, "-d", "nothing"],
        "not registered",
    );
}

/// What the recorded reference answers do not cover: `--offset` (which the
/// reference no longer takes), JSON rows from records alone, the limit's warning,
/// and the refusals.
fn record_and_data_id_options(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(repo) = with_dp02_mini_registry(backend, dir.path(), "repo") else {
        return;
    };
    let visits = |extra: &[&str]| -> Vec<i64> {
        let mut args = vec!["query-data-ids", &repo, "visit", "--format", "json"];
        args.extend_from_slice(extra);
        let json: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
        json.as_array()
            .unwrap()
            .iter()
            .map(|r| r["visit"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(visits(&[]).len(), 30);
    assert_eq!(
        visits(&["--order-by", "-visit", "--offset", "2", "--limit", "3"]),
        [27, 26, 25]
    );
    assert_eq!(
        visits(&[
            "--datasets",
            "calexp",
            "--where",
            "visit.exposure_time > 20 AND visit < 3"
        ]),
        [0, 1, 2]
    );
    let capped = run(&["query-data-ids", &repo, "visit", "--limit", "-5"]);
    assert!(String::from_utf8_lossy(&capped.stderr).contains("request limit of 5"));
    assert_eq!(
        String::from_utf8_lossy(&capped.stdout).lines().count(),
        2 + 5
    );
    let records = ok(&[
        "query-dimension-records",
        &repo,
        "detector",
        "--order-by",
        "-detector",
        "--offset",
        "1",
        "--limit",
        "2",
        "--format",
        "csv",
    ]);
    let ids: Vec<&str> = records
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(ids, ["10", "9"]);
    fails(
        &["query-data-ids", &repo, "visit", "-c", "x"],
        "only be used with --datasets",
    );
    fails(
        &["query-dimension-records", &repo, "visit", "-c", "x"],
        "only be used with --datasets",
    );
    fails(
        &["query-data-ids", &repo, "visit", "--order-by", "detector"],
        "is not one of",
    );
    fails(
        &[
            "query-dimension-records",
            &repo,
            "visit",
            "--order-by",
            "nope",
        ],
        "no field \"nope\"",
    );
    fails(&["query-data-ids", &repo, "htm7"], "no records");
}

/// `ingest-files` as the reference: relative names under the working directory by
/// default, `--formatter` recorded, `--no-track-file-attrs` taken (what it records is
/// checked in `tests/datastore.rs`).
fn ingest_files_options(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(repo) = with_dp02_mini_registry(backend, dir.path(), "repo") else {
        return;
    };
    let data = dir.path().join("data");
    let tables = dir.path().join("tables");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&tables).unwrap();
    for k in 0..2 {
        std::fs::write(data.join(format!("f{k}.fits")), format!("{k}")).unwrap();
    }
    let table = tables.join("t.csv");
    std::fs::write(&table, "file,detector,exposure\nf0.fits,0,0\nf1.fits,1,0\n").unwrap();
    let table = table.display().to_string();
    let ingest = |run: &str, extra: &[&str]| {
        let mut args = vec![
            "ingest-files",
            &repo,
            "raw",
            run,
            &table,
            "--data-id",
            "instrument=LSSTCam-imSim",
            "-t",
            "copy",
        ];
        args.extend_from_slice(extra);
        args.iter().map(|a| a.to_string()).collect::<Vec<String>>()
    };
    let out = support::valet()
        .current_dir(&data)
        .args(ingest(
            "u/me/ingest",
            &[
                "--formatter",
                "my.pkg.RawFormatter",
                "--no-track-file-attrs",
            ],
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The table's directory is not where relative names are looked for.
    let out = support::valet()
        .current_dir(&tables)
        .args(ingest("u/me/other", &[]))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("f0.fits"));
    let prefix = data.display().to_string();
    let args = ingest("u/me/prefixed", &["--prefix", &prefix]);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let args = ingest(
        "u/me/bad",
        &["--prefix", &prefix, "--formatter", "not a class"],
    );
    fails(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        "is not a Python class name",
    );
    let out = dir.path().join("export").display().to_string();
    ok(&["export", &repo, &out, "-c", "u/me/ingest", "-t", "copy"]);
    let export = std::fs::read_to_string(Path::new(&out).join("export.yaml")).unwrap();
    assert_eq!(
        export.matches("formatter: my.pkg.RawFormatter").count(),
        2,
        "{export}"
    );
}

/// `-@/--options-file`: option values by command name from YAML, the command line
/// winning; an unknown option is refused in one line.
fn options_file(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(repo) = with_dp02_mini_registry(backend, dir.path(), "repo") else {
        return;
    };
    let file = dir.path().join("options.yaml");
    std::fs::write(
        &file,
        "query-datasets:\n  collections: 2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905\n  \
         where: visit < 3\n  find-first: true\n  format: csv\n",
    )
    .unwrap();
    let file = file.display().to_string();
    let visits = |out: String| -> Vec<String> {
        let mut v: Vec<String> = out
            .lines()
            .skip(1)
            .filter_map(|l| l.split(',').nth(5).map(str::to_owned))
            .collect();
        v.sort();
        v.dedup();
        v
    };
    assert_eq!(
        visits(ok(&["query-datasets", &repo, "calexp", "-@", &file])),
        ["0", "1", "2"]
    );
    let given = ok(&[
        "query-datasets",
        &repo,
        "calexp",
        &format!("--options-file={file}"),
        "--where",
        "visit = 26",
    ]);
    assert_eq!(visits(given), ["26"]);
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "query-datasets:\n  nope: 1\n").unwrap();
    let out = run(&[
        "query-datasets",
        &repo,
        "calexp",
        "-@",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "valet: error: 'nope' is not a valid option for query-datasets\n"
    );
}

fn as_strs(a: &[String]) -> Vec<&str> {
    a.iter().map(String::as_str).collect()
}

/// `retrieve-artifacts --zip`: one zip named as the reference names it (a UUID5 of its
/// member names), its index first and compressed, each file stored as it is in the
/// datastore; the index lists the query's datasets with their records in the
/// reference's layout; a zip is replaced only with `--clobber`.
fn retrieve_zip(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(repo) = imported(backend, dir.path(), "repo") else {
        return;
    };
    let dest = dir.path().join("zips");
    let chain = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905";
    let args = |where_: &str, extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["retrieve-artifacts", &repo, dest.to_str().unwrap(), "--zip"]
            .map(str::to_owned)
            .into();
        a.extend(
            [
                "-d",
                "calexp",
                "--collections",
                chain,
                "--find-first",
                "--where",
                where_,
            ]
            .map(str::to_owned),
        );
        a.extend(extra.iter().map(|e| e.to_string()));
        a
    };
    let visits = "visit IN (1..2)";
    let written = ok(&as_strs(&args(visits, &[])));
    let path = written
        .trim()
        .strip_prefix("Zip file written to file://")
        .unwrap()
        .to_owned();

    let mut zip = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
    let first = zip.by_index(0).unwrap();
    assert_eq!(first.name(), "_butler_zip_index.json");
    assert_eq!(first.compression(), zip::CompressionMethod::Deflated);
    let index: serde_json::Value = serde_json::from_reader(first).unwrap();
    let mut members = Vec::new();
    for i in 1..zip.len() {
        let mut member = zip.by_index(i).unwrap();
        assert_eq!(member.compression(), zip::CompressionMethod::Stored);
        let info = &index["artifact_map"][member.name()]["info"];
        let stored = Path::new(&repo).join(info["path"].as_str().unwrap());
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut member, &mut bytes).unwrap();
        assert_eq!(bytes, std::fs::read(stored).unwrap(), "{}", member.name());
        assert_eq!(info["file_size"].as_i64(), Some(bytes.len() as i64));
        members.push(member.name().to_owned());
    }
    members.sort();
    let namespace = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_DNS, b"lsst.org");
    let name = uuid::Uuid::new_v5(&namespace, members.join(",").as_bytes());
    assert!(path.ends_with(&format!("/zips/{name}.zip")), "{path}");

    // The index lists exactly the datasets the query finds, each in one member.
    let listed: serde_json::Value = serde_json::from_str(&ok(&[
        "query-datasets",
        &repo,
        "calexp",
        "--collections",
        chain,
        "--find-first",
        "--where",
        visits,
        "--format",
        "json",
    ]))
    .unwrap();
    let mut ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    ids.sort();
    let refs = &index["refs"]["compact_refs"];
    let mut indexed: Vec<&str> = refs
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    indexed.sort();
    assert_eq!(ids, indexed);
    assert_eq!(ids.len(), 24);
    let mut held: Vec<&str> = index["artifact_map"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|m| {
            m["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_str().unwrap())
        })
        .collect();
    held.sort();
    assert_eq!(held, ids);
    let some = &refs[ids[0]];
    assert_eq!(some["dataset_type_name"], "calexp");
    assert!(some["data_id"]["band"].is_string() && some["data_id"]["day_obs"].is_i64());
    assert_eq!(
        index["refs"]["dataset_types"]["calexp"]["dimensions"],
        serde_json::json!(["instrument", "detector", "visit"])
    );
    // Records as the reference lays them out: required dimensions, own key, implied
    // dimensions by name, other keys, metadata, region (hex), timespan.
    let records = &index["refs"]["dimension_records"];
    let visit = &records["visit"][0];
    assert_eq!(visit.as_array().unwrap().len(), 14);
    assert_eq!(visit[0], "LSSTCam-imSim");
    assert!(visit[2].is_i64() && visit[3].is_string() && visit[4].is_string());
    assert!(visit[12]
        .as_str()
        .unwrap()
        .chars()
        .all(|c| c.is_ascii_hexdigit()));
    assert!(visit[13].as_array().unwrap().iter().all(|t| t.is_i64()));
    let region = &records["visit_detector_region"][0];
    assert_eq!(region[0], "LSSTCam-imSim");
    assert_eq!(
        records["visit_detector_region"].as_array().unwrap().len(),
        24
    );
    assert_eq!(records["band"].as_array().unwrap().len(), 2);

    // The same zip again: refused without --clobber, replaced with it.
    let again = run(&as_strs(&args(visits, &[])));
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists (use --clobber"));
    assert_eq!(ok(&as_strs(&args(visits, &["--clobber"]))), written);
    // Nothing found: nothing written.
    assert_eq!(
        ok(&as_strs(&args("visit = 999", &[]))),
        "No datasets matched query.\n"
    );
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 1);

    // Back in, into a new repository: without the records nothing is left; with
    // them, the same datasets, ids and files; again, a conflict.
    let Some(other) = create(backend, dir.path(), "other") else {
        return;
    };
    let ingest = |extra: &[&str]| {
        let mut a = vec!["ingest-zip", other.as_str(), path.as_str()];
        a.extend_from_slice(extra);
        run(&a)
    };
    let refused = ingest(&[]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("instrument record"));
    assert_eq!(
        ok(&["query-dataset-types", &other, "--format", "json"]).trim(),
        "[]"
    );
    assert_eq!(
        ok(&["query-collections", &other, "--format", "json"]).trim(),
        "[]"
    );
    assert!(ok(&[
        "ingest-zip",
        &other,
        &path,
        "--transfer-dimensions",
        "--dry-run"
    ])
    .starts_with("would ingest 24 dataset(s), 24 file(s)"));
    assert_eq!(
        ok(&["query-collections", &other, "--format", "json"]).trim(),
        "[]"
    );
    assert!(ingest(&["--transfer-dimensions"]).status.success());
    let listing = |repo: &str| -> Vec<serde_json::Value> {
        let text = ok(&[
            "query-datasets",
            repo,
            "calexp",
            "--collections",
            "*",
            "--where",
            visits,
            "--show-uri",
            "--format",
            "json",
        ]);
        let mut rows: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        rows.retain(|r| ids.contains(&r["id"].as_str().unwrap()));
        rows.sort_by_key(|r| r["id"].as_str().unwrap().to_owned());
        rows
    };
    let (before, after) = (listing(&repo), listing(&other));
    assert_eq!(before.len(), 24);
    for (b, a) in before.iter().zip(&after) {
        for column in [
            "id",
            "run",
            "detector",
            "visit",
            "band",
            "day_obs",
            "physical_filter",
        ] {
            assert_eq!(b[column], a[column], "{column}");
        }
        let file = |r: &serde_json::Value| {
            std::fs::read(r["URI"].as_str().unwrap().strip_prefix("file://").unwrap()).unwrap()
        };
        assert_eq!(file(b), file(a));
    }
    let out = run(&["check", &other, "--deep"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let again = ingest(&["--transfer-dimensions"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let direct = ingest(&["-t", "direct"]);
    assert!(String::from_utf8_lossy(&direct.stderr).contains("unpacks a zip"));
}

/// The reference's global log options: levels, the long form, log files (text or
/// JSON, appended), no terminal, labels; before or after the command.
fn log_options(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(repo) = create(backend, dir.path(), "repo") else {
        return;
    };
    let stderr = |args: &[&str]| {
        let out = run(args);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // A warning, and a status line that WARNING leaves out.
    let missing = [
        "query-datasets",
        repo.as_str(),
        "nope",
        "--collections",
        "*",
    ];
    let (done, text) = stderr(&missing);
    assert!(done);
    assert_eq!(
        text,
        "valet: warning: Dataset type 'nope' does not exist.\n"
    );
    let quiet = |level: &str| {
        let mut a = vec!["--log-level", level];
        a.extend_from_slice(&missing);
        stderr(&a).1
    };
    assert_eq!(quiet("ERROR"), "");
    assert_eq!(
        quiet("lsst.daf.butler=ERROR"),
        text,
        "another logger's level"
    );
    assert_eq!(quiet(".=WARNING"), text);

    let text_log = dir.path().join("valet.log");
    let json_log = dir.path().join("valet.json");
    let (t, j) = (text_log.to_str().unwrap(), json_log.to_str().unwrap());
    let nowhere = dir.path().join("nowhere");
    let failing = ["query-collections", nowhere.to_str().unwrap()];
    for _ in 0..2 {
        let mut a = vec![
            "--long-log",
            "--log-file",
            t,
            "--log-file",
            j,
            "--log-label",
            "job=7",
        ];
        a.extend_from_slice(&failing);
        let (done, text) = stderr(&a);
        assert!(!done);
        let line = text.lines().next().unwrap();
        assert!(
            line.starts_with("ERROR 20") && line.contains("+00:00 valet - "),
            "{line}"
        );
    }
    let lines: Vec<String> = std::fs::read_to_string(&text_log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 2, "appended");
    assert!(lines.iter().all(|l| l.starts_with("ERROR ")));
    let records: Vec<serde_json::Value> = std::fs::read_to_string(&json_log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["levelname"], "ERROR");
    assert_eq!(records[0]["MDC"]["job"], "7");

    // No terminal: nothing on stderr, the exit code still says it failed; options
    // after the command too.
    let mut a = failing.to_vec();
    a.extend_from_slice(&["--no-log-tty", "--no-progress"]);
    assert_eq!(stderr(&a), (false, String::new()));
    fails(
        &["--log-level", "LOUD", "query-collections", &repo],
        "\"LOUD\" is not a level",
    );
}

/// `create --seed-config`: a Butler seed configuration's `registry.db` (with the
/// reference's driver suffix) chooses the registry; what valet does not take is named
/// in a warning; `--standalone` and `--override` are taken.
fn create_from_seed_config(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.yaml");
    let db = match backend {
        Backend::Sqlite => "sqlite:///elsewhere.sqlite3".to_owned(),
        Backend::Postgres => match common::fresh_pg_database() {
            Some(url) => url.replacen("postgresql://", "postgresql+psycopg2://", 1),
            None => return,
        },
    };
    std::fs::write(
        &seed,
        format!("registry:\n  db: {db}\ndatastore:\n  root: <butlerRoot>\n"),
    )
    .unwrap();
    let repo = dir.path().join("repo");
    let out = run(&[
        "create",
        repo.to_str().unwrap(),
        "--seed-config",
        seed.to_str().unwrap(),
        "--standalone",
        "--override",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stderr);
    let (backend_name, ignored) = match backend {
        Backend::Sqlite => (
            "SQLite",
            "valet does not take registry.db (valet keeps SQLite in the repository), datastore.root",
        ),
        Backend::Postgres => ("PostgreSQL", "valet does not take datastore.root"),
    };
    assert!(said.contains(ignored), "{said}");
    assert!(said.contains(&format!("{backend_name})")), "{said}");
    // The repository works on that backend.
    ok(&[
        "register-collection",
        repo.to_str().unwrap(),
        "r",
        "--collection-type",
        "RUN",
    ]);
    assert!(ok(&[
        "query-collections",
        repo.to_str().unwrap(),
        "--format",
        "csv"
    ])
    .contains("r,RUN"));

    std::fs::write(&seed, "registry: [unclosed\n").unwrap();
    fails(
        &[
            "create",
            dir.path().join("bad").to_str().unwrap(),
            "--seed-config",
            seed.to_str().unwrap(),
        ],
        "seed config",
    );
    assert!(!dir.path().join("bad").exists());
}

on_both_backends!(
    create_from_seed_config,
    log_options,
    retrieve_zip,
    options_file,
    ingest_files_options,
    record_and_data_id_options,
    config_commands,
    import_by_globs,
    limits_order_and_choices,
    parsing_limits,
    dataset_type_commands,
    dimension_record_queries,
    main_job,
    conformance_import_and_export,
    obscore_export_commands,
    raws_from_files,
);

#[test]
fn adopt_refuses_in_one_line_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("v");
    let dest_s = dest.to_str().unwrap();
    let missing = dir.path().join("no-butler");
    fails(
        &["adopt", dest_s, missing.to_str().unwrap()],
        "is not a Butler repository (no butler.yaml)",
    );
    let butler = dir.path().join("butler");
    std::fs::create_dir_all(&butler).unwrap();
    std::fs::write(
        butler.join("butler.yaml"),
        "registry:\n  db: oracle://x/y\n",
    )
    .unwrap();
    fails(
        &["adopt", dest_s, butler.to_str().unwrap()],
        "valet reads SQLite and PostgreSQL registries",
    );
    std::fs::write(
        butler.join("butler.yaml"),
        "datastore:\n  root: <butlerRoot>\n",
    )
    .unwrap();
    fails(
        &["adopt", dest_s, butler.to_str().unwrap()],
        "gen3.sqlite3 does not exist",
    );
    assert!(!dest.exists());
    assert!(
        !run(&["adopt", dest_s, butler.to_str().unwrap(), "-t", "move"])
            .status
            .success()
    );
}
