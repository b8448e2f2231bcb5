//! Many `valet` processes on one repository at once, on SQLite and PostgreSQL: eight
//! writers (the same dataset type registered by all of them, chain edits racing the
//! removal of member runs, two imports of one export) and eight readers throughout.
//! Every command either succeeds or is refused in one line of valet's own words; no
//! edit is lost; the repository checks clean afterwards.

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use common::{dp02_mini_import, fresh_pg_database, Backend};
use serde_json::Value as Json;
use support::{count_datasets, ok};

const WRITERS: usize = 8;
const READERS: usize = 8;
/// Member runs the chain edits and removals fight over.
const RUNS: usize = 24;
const CHAINS: [&str; 2] = ["shared/chainA", "shared/chainB"];
/// What the imports carry: runs exported from the seeded repository, then removed
/// from it so that importing them is new again.
const EXPORTED_RUNS: &str = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905/*";

/// Words of the backends' own error messages, which must never reach the user.
const RAW: [&str; 9] = [
    "duplicate key",
    "deadlock",
    "database is locked",
    "SQLSTATE",
    "violates",
    "constraint failed",
    "database error",
    "could not serialize",
    "panicked",
];

/// The refusals a racing command may meet, as valet words them.
const REFUSALS: [&str; 3] = ["does not exist", "already exists", "already registered"];

/// One command and what it did.
struct Outcome {
    writer: Option<usize>,
    args: Vec<String>,
    ok: bool,
    stdout: String,
    stderr: String,
}

fn valet(args: &[String]) -> (bool, String, String) {
    let out = support::valet().args(args).output().expect("run valet");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn run_name(j: usize) -> String {
    format!("shared/run{j:02}")
}

/// The runs the two last writers remove (the others survive).
fn removed_by(writer: usize, j: usize) -> bool {
    (writer == 6 && j % 4 == 1) || (writer == 7 && j % 4 == 3)
}

/// A writer's commands, in order. All writers step through the runs together, so an
/// edit and a removal of the same run tend to meet.
fn writer_commands(repo: &str, export: &str, w: usize) -> Vec<Vec<String>> {
    let mut cmds = vec![strings(&[
        "register-dataset-type",
        repo,
        "postISRCCD",
        "ExposureF",
        "instrument,exposure,detector",
    ])];
    if w < 2 {
        cmds.push(strings(&["import", repo, export, "-t", "copy"]));
    }
    let (chain, mode) = [
        (CHAINS[0], "extend"),
        (CHAINS[1], "prepend"),
        (CHAINS[0], "prepend"),
        (CHAINS[1], "extend"),
        (CHAINS[0], "remove"),
        (CHAINS[1], "remove"),
        (CHAINS[0], "extend"),
        (CHAINS[1], "prepend"),
    ][w];
    for j in 0..RUNS {
        let run = run_name(j);
        cmds.push(if removed_by(w, j) {
            strings(&["remove-runs", repo, &run, "--no-confirm", "--force"])
        } else {
            strings(&["collection-chain", repo, chain, "--mode", mode, &run])
        });
    }
    cmds
}

/// The readers' commands, taken in turn.
fn reader_commands(repo: &str) -> Vec<Vec<String>> {
    vec![
        strings(&["query-collections", repo]),
        strings(&[
            "query-datasets",
            repo,
            "raw",
            "--collections",
            "LSSTCam-imSim/raw/all",
        ]),
        strings(&[
            "find-dataset",
            repo,
            "raw",
            "--collections",
            "LSSTCam-imSim/defaults",
            "--data-id",
            "instrument=LSSTCam-imSim,detector=0,exposure=0",
        ]),
        strings(&["query-datasets", repo, "--collections", CHAINS[0]]),
        strings(&["query-collections", repo, "shared/*", "--chains", "TREE"]),
        strings(&["chain-history", repo, CHAINS[1]]),
        strings(&["query-datasets", repo, "--collections", CHAINS[1]]),
    ]
}

/// Why a command failed, if it was one of the refusals a race may bring.
fn refusal(o: &Outcome) -> Option<&'static str> {
    let line = o.stderr.trim_end();
    if line.lines().count() != 1 || !line.starts_with("valet: error: ") {
        return None;
    }
    REFUSALS.into_iter().find(|r| line.contains(r))
}

/// The children of a chain now.
fn children(repo: &str, chain: &str) -> Vec<String> {
    let out = ok(&[
        "query-collections",
        repo,
        chain,
        "--chains",
        "TABLE",
        "--format",
        "json",
    ]);
    let rows: Json = serde_json::from_str(&out).expect("JSON collections");
    names(&rows[0]["children"])
}

fn names(v: &Json) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `[a, b]` as `collection-chain` prints the new children.
fn printed_children(stdout: &str) -> Vec<String> {
    let inner = stdout.trim().trim_start_matches('[').trim_end_matches(']');
    inner
        .split(", ")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// No edit was lost: the recorded edits follow one another (each starts from what the
/// one before left), the last one left the chain as it is, and every successful edit
/// of each writer is among them, in that writer's order.
fn check_chain_history(repo: &str, chain: &str, outcomes: &[Outcome]) {
    let history: Json =
        serde_json::from_str(&ok(&["chain-history", repo, chain, "--format", "json"])).unwrap();
    let edits: Vec<(Vec<String>, Vec<String>)> = history
        .as_array()
        .expect("history rows")
        .iter()
        .map(|e| (names(&e["old_children"]), names(&e["new_children"])))
        .collect();
    for pair in edits.windows(2) {
        assert_eq!(
            pair[1].0, pair[0].1,
            "{chain}: an edit started from a state the one before did not leave (a lost edit)"
        );
    }
    let last = edits.last().map(|e| e.1.clone()).unwrap_or_default();
    assert_eq!(
        last,
        children(repo, chain),
        "{chain}: history and chain differ"
    );
    for w in 0..WRITERS {
        let mut pos = 0;
        for o in outcomes.iter().filter(|o| {
            o.writer == Some(w) && o.ok && o.args[0] == "collection-chain" && o.args[2] == chain
        }) {
            let want = printed_children(&o.stdout);
            let found = edits[pos..].iter().position(|e| e.1 == want);
            let Some(k) = found else {
                panic!(
                    "{chain}: the edit {:?} by writer {w} (result {want:?}) is not in the history",
                    o.args
                );
            };
            pos += k + 1;
        }
    }
}

fn concurrent_writers_and_readers(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo").display().to_string();
    match backend {
        Backend::Sqlite => ok(&["create", &repo]),
        Backend::Postgres => {
            let Some(db) = fresh_pg_database() else {
                return;
            };
            ok(&["create", &repo, "--db", &db])
        }
    };
    // Seed: the DP0.2-shaped fixture with its files; its processing runs are exported
    // and removed again, for the two imports to bring back.
    let (seeded, _, stderr) = valet(&dp02_mini_import(&repo));
    assert!(seeded, "seeding import: {stderr}");
    let export = dir.path().join("export").display().to_string();
    ok(&["export", &repo, &export, "-c", EXPORTED_RUNS, "-t", "copy"]);
    let exported = count_datasets(&repo, EXPORTED_RUNS);
    assert!(exported > 100, "{exported} datasets exported");
    ok(&[
        "remove-runs",
        &repo,
        EXPORTED_RUNS,
        "--no-confirm",
        "--force",
    ]);
    for j in 0..RUNS {
        ok(&[
            "register-collection",
            &repo,
            &run_name(j),
            "--collection-type",
            "RUN",
        ]);
    }
    for chain in CHAINS {
        ok(&["collection-chain", &repo, chain]);
    }

    let outcomes = Mutex::new(Vec::new());
    let writers_done = AtomicBool::new(false);
    let start = Barrier::new(WRITERS + READERS);
    let record = |writer: Option<usize>, args: Vec<String>| {
        let (ok, stdout, stderr) = valet(&args);
        outcomes.lock().unwrap().push(Outcome {
            writer,
            args,
            ok,
            stdout,
            stderr,
        });
    };
    let began = Instant::now();
    std::thread::scope(|s| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let cmds = writer_commands(&repo, &export, w);
                let (start, record) = (&start, &record);
                s.spawn(move || {
                    start.wait();
                    for args in cmds {
                        record(Some(w), args);
                    }
                })
            })
            .collect();
        for r in 0..READERS {
            let cmds = reader_commands(&repo);
            let (start, record, writers_done) = (&start, &record, &writers_done);
            s.spawn(move || {
                start.wait();
                let mut k = r;
                while !writers_done.load(Ordering::SeqCst) {
                    record(None, cmds[k % cmds.len()].clone());
                    k += 1;
                }
            });
        }
        for h in writers {
            h.join().unwrap();
        }
        writers_done.store(true, Ordering::SeqCst);
    });
    let elapsed = began.elapsed();
    let outcomes = outcomes.into_inner().unwrap();

    // What reached the user.
    let mut refused: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for o in &outcomes {
        if let Some(word) = RAW
            .iter()
            .find(|w| o.stderr.contains(*w) || o.stdout.contains(*w))
        {
            failures.push(format!("{:?} showed {word:?}: {}", o.args, o.stderr.trim()));
        } else if !o.ok {
            match (o.writer, refusal(o)) {
                (Some(_), Some(why)) => *refused.entry(why).or_default() += 1,
                _ => failures.push(format!("{:?}: {}", o.args, o.stderr.trim())),
            }
        }
    }
    let reads = outcomes.iter().filter(|o| o.writer.is_none()).count();
    let summary: Vec<String> = refused.iter().map(|(k, n)| format!("{n} {k}")).collect();
    println!(
        "{backend:?}: {} commands ({} writes, {reads} reads) in {:.1} s; {} refusals ({}); {} failures",
        outcomes.len(),
        outcomes.len() - reads,
        elapsed.as_secs_f64(),
        refused.values().sum::<usize>(),
        summary.join(", "),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let of = |cmd: &'static str| outcomes.iter().filter(move |o| o.args[0] == cmd);
    // Registering one definition eight times at once: all succeed.
    assert!(of("register-dataset-type").all(|o| o.ok));
    let types = ok(&["query-dataset-types", &repo, "postISRCCD"]);
    assert_eq!(types.matches("postISRCCD").count(), 1, "{types}");
    // One import wins, the other is refused; the runs are back with all their files.
    let imports: Vec<&Outcome> = of("import").collect();
    assert_eq!(
        imports.iter().filter(|o| o.ok).count(),
        1,
        "one import wins"
    );
    assert_eq!(
        count_datasets(&repo, EXPORTED_RUNS),
        exported,
        "the winning import brought every dataset back"
    );
    // Every removal succeeded (no one else removes those runs); what was removed is
    // gone and listed by no chain; every other run is still there.
    assert!(of("remove-runs").all(|o| o.ok));
    let listed: Vec<String> = CHAINS.iter().flat_map(|c| children(&repo, c)).collect();
    let present = ok(&["query-collections", &repo, "shared/run*"]);
    for j in 0..RUNS {
        let run = run_name(j);
        let removed = (6..WRITERS).any(|w| removed_by(w, j));
        assert_eq!(present.contains(&run), !removed, "{run}");
        if removed {
            assert!(
                !listed.contains(&run),
                "{run} was removed but a chain lists it"
            );
        }
    }
    for chain in CHAINS {
        check_chain_history(&repo, chain, &outcomes);
    }
    let check = ok(&["check", &repo]);
    assert_eq!(check.trim(), "ok", "{check}");
    assert!(
        elapsed < Duration::from_secs(60),
        "the contention run took {elapsed:?}"
    );
}

on_both_backends!(concurrent_writers_and_readers);
