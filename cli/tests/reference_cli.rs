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

on_both_backends!(answers_as_the_reference);
