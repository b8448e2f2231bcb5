//! The `valet` command answers as the reference's `butler` command, byte for byte on
//! stdout and in success or failure, for the commands in
//! `tests/data/reference-cli/commands.json` on the dp02-mini fixture. The reference's
//! answers were recorded by `scripts/record-reference-cli.sh`; no Python is needed here.

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "support/mod.rs"]
mod support;

use common::Backend;
use support::{run, with_dp02_mini_registry};

fn recorded(name: &str) -> String {
    let path = format!(
        "{}/../tests/data/reference-cli/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn answers_as_the_reference(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(repo) = with_dp02_mini_registry(backend, dir.path(), "repo") else {
        return;
    };
    let commands: Vec<Vec<String>> =
        serde_json::from_str(&recorded("commands.json")).expect("commands.json");
    assert!(!commands.is_empty());
    let mut differences = Vec::new();
    for (i, command) in commands.iter().enumerate() {
        let args: Vec<&str> = command
            .iter()
            .map(|a| {
                if a == "REPO" {
                    repo.as_str()
                } else {
                    a.as_str()
                }
            })
            .collect();
        let out = run(&args);
        let want_stdout = recorded(&format!("{i:02}.out"));
        let want_success = recorded(&format!("{i:02}.code")).trim() == "0";
        let got_stdout = String::from_utf8_lossy(&out.stdout);
        if got_stdout != want_stdout || out.status.success() != want_success {
            differences.push(format!(
                "command {i:02} ({}): exit {:?} (reference {}), stdout:\n{got_stdout}\nreference:\n{want_stdout}\nstderr: {}",
                command.join(" "),
                out.status.code(),
                if want_success { "0" } else { "non-zero" },
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n\n"));
}

/// The STC-S strings of a region file `valet obscore export-regions` wrote.
fn regions_in(path: &std::path::Path) -> Vec<String> {
    let hdus = valet_fits::read_headers(path).unwrap();
    let table = hdus
        .iter()
        .find(|h| h.header.get_str("EXTNAME") == Some("REGIONS"))
        .expect("a REGIONS table");
    assert_eq!(table.header.get_str("TTYPE1"), Some("s_region"));
    let width = table.header.get_i64("NAXIS1").unwrap() as usize;
    let bytes = std::fs::read(path).unwrap();
    let start = table.data_offset as usize;
    bytes[start..start + table.data_size as usize]
        .chunks(width)
        .map(|row| {
            let end = row.iter().position(|&b| b == 0).unwrap_or(row.len());
            String::from_utf8(row[..end].to_vec()).unwrap()
        })
        .collect()
}

/// `obscore export-regions` writes the regions the reference writes, text for text
/// (the reference's order is its database's; valet's is the data IDs').
fn regions_as_the_reference(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(repo) = with_dp02_mini_registry(backend, dir.path(), "repo") else {
        return;
    };
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(&recorded("regions.json")).expect("regions.json");
    assert!(!cases.is_empty());
    for (i, case) in cases.iter().enumerate() {
        let dest = dir.path().join(format!("regions-{i:02}.fits"));
        let text = |k: &str| case[k].as_str().unwrap_or_default().to_owned();
        let (dataset_type, collection, where_) =
            (text("dataset_type"), text("collection"), text("where"));
        let out = run(&[
            "obscore",
            "export-regions",
            &repo,
            &dataset_type,
            &collection,
            dest.to_str().unwrap(),
            "--where",
            &where_,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut got = regions_in(&dest);
        let mut want: Vec<String> = recorded(&format!("regions-{i:02}.txt"))
            .lines()
            .map(str::to_owned)
            .collect();
        assert!(!want.is_empty());
        got.sort();
        want.sort();
        assert_eq!(got, want, "case {i:02}: {case}");
    }
    // A type without a single spatial dimension is refused, and nothing is written.
    let dest = dir.path().join("raw.fits");
    let out = run(&[
        "obscore",
        "export-regions",
        &repo,
        "raw",
        "LSSTCam-imSim/raw/all",
        dest.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no single unambiguous spatial region"));
    assert!(!dest.exists());
}

on_both_backends!(answers_as_the_reference, regions_as_the_reference);
