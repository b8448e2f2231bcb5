//! Crash safety: `valet import`, `ingest-files`, `remove-runs`, `prune-datasets`,
//! chain edits and named-dataset registrations killed with SIGKILL at many moments, with a concurrent `check --repair`
//! in every other run; afterwards `check --repair` must leave a repository in which
//! nothing is lost or orphaned, and every write is either wholly there or wholly not.

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "support/mod.rs"]
mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{conformance_data, dp02_mini_import, Backend, Rng};
use support::{count_datasets, create, ok, valet, with_dp02_mini_registry};

/// Kills and repairs, for the closing figures.
static KILLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static RACING_REPAIRS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Run a command, kill it after `delay` (if it has not finished), and say whether it
/// finished on its own. With `repair_beside`, a `check --repair` of `repo` starts
/// half-way to the kill and runs beside the command (waiting for its lease).
fn run_and_kill(args: &[&str], delay: Duration, repair_beside: Option<&str>) -> bool {
    let mut child = valet()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut repair = None;
    let mut finished = None;
    while start.elapsed() < delay {
        if let Some(status) = child.try_wait().unwrap() {
            finished = Some(status.success());
            break;
        }
        if repair.is_none() && start.elapsed() >= delay / 2 {
            if let Some(repo) = repair_beside {
                repair = Some(
                    valet()
                        .args(["check", repo, "--repair"])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .unwrap(),
                );
                RACING_REPAIRS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let done = finished.unwrap_or_else(|| {
        let _ = child.kill();
        KILLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        child.wait().unwrap().success()
    });
    if let Some(mut r) = repair {
        r.wait().unwrap();
    }
    done
}

/// Every other run has a repair racing the command.
fn beside(i: usize, repo: &str) -> Option<&str> {
    (i % 2 == 1).then_some(repo)
}

fn repaired_and_clean(repo: &str) {
    let _ = valet().args(["check", repo, "--repair"]).output().unwrap();
    let out = valet().args(["check", repo, "--deep"]).output().unwrap();
    assert!(
        out.status.success(),
        "after repair: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Deterministic pseudo-random delays spread over `0..max`.
fn delays(max: Duration, n: u32, seed: u64) -> Vec<Duration> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| max.mul_f64(rng.below(1000) as f64 / 1000.0))
        .collect()
}

fn killed_imports_and_removals(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let import = dp02_mini_import;
    // How long a whole import takes, to spread the kills over it.
    let Some(probe) = create(backend, dir.path(), "probe") else {
        return;
    };
    let start = Instant::now();
    let args = import(&probe);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let full = start.elapsed();
    let total = count_datasets(&probe, "*");
    assert_eq!(total, 799);

    let mut killed = 0;
    for (i, delay) in delays(full, 6, 7).into_iter().enumerate() {
        let Some(repo) = create(backend, dir.path(), &format!("import{i}")) else {
            return;
        };
        let args = import(&repo);
        if !run_and_kill(
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            delay,
            beside(i, &repo),
        ) {
            killed += 1;
        }
        repaired_and_clean(&repo);
        let n = count_datasets(&repo, "*");
        assert!(
            n == 0 || n == total,
            "import killed after {delay:?} left {n} datasets"
        );
        if n == 0 {
            // Nothing half-done blocks a retry.
            ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
            assert_eq!(count_datasets(&repo, "*"), total);
        }
    }

    assert!(
        killed > 0,
        "no import was interrupted: the test would prove nothing"
    );

    // remove-runs killed at random moments: the runs are wholly there or wholly gone,
    // and no file is left without its dataset.
    let glob = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905/*";
    let start = Instant::now();
    ok(&["remove-runs", &probe, glob, "--no-confirm", "--force"]);
    let removal = start.elapsed();
    let after = count_datasets(&probe, "*");
    for (i, delay) in delays(removal, 6, 11).into_iter().enumerate() {
        let Some(repo) = create(backend, dir.path(), &format!("remove{i}")) else {
            return;
        };
        let args = import(&repo);
        ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        run_and_kill(
            &["remove-runs", &repo, glob, "--no-confirm", "--force"],
            delay,
            beside(i, &repo),
        );
        repaired_and_clean(&repo);
        let n = count_datasets(&repo, "*");
        assert!(
            n == total || n == after,
            "remove-runs killed after {delay:?} left {n} datasets"
        );
    }

    // ingest-files killed at random moments.
    let table = dir.path().join("table.csv");
    let mut rows = String::from("file,detector,exposure\n");
    for k in 0..40 {
        let f = dir.path().join(format!("in{k}.fits"));
        std::fs::write(&f, format!("{k}")).unwrap();
        rows.push_str(&format!("{},{},{}\n", f.display(), k % 12, k / 12));
    }
    std::fs::write(&table, rows).unwrap();
    let t = table.display().to_string();
    let ingest = |repo: &str| -> Vec<String> {
        vec![
            "ingest-files".into(),
            repo.into(),
            "raw".into(),
            "u/me/DM-1/ingest".into(),
            t.clone(),
            "--data-id".into(),
            "instrument=LSSTCam-imSim".into(),
            "-t".into(),
            "copy".into(),
        ]
    };
    for (i, delay) in delays(Duration::from_millis(150), 4, 5)
        .into_iter()
        .enumerate()
    {
        let Some(repo) = create(backend, dir.path(), &format!("ingest{i}")) else {
            return;
        };
        ok(&[
            "import",
            &repo,
            &conformance_data("dp02-mini"),
            "--registry-only",
        ]);
        let before = count_datasets(&repo, "*");
        let args = ingest(&repo);
        run_and_kill(
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            delay,
            beside(i, &repo),
        );
        repaired_and_clean(&repo);
        let n = count_datasets(&repo, "*");
        assert!(
            n == before || n == before + 40,
            "ingest killed after {delay:?} left {} new datasets",
            n - before
        );
    }

    // prune-datasets --purge killed at random moments: the calexps of the run are
    // wholly there or wholly gone, with their files.
    let run = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905/20211200T000000Z";
    let Some(timing) = create(backend, dir.path(), "prune-probe") else {
        return;
    };
    let args = import(&timing);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let prune = |repo: &str| -> Vec<String> {
        [
            "prune-datasets",
            repo,
            run,
            "--datasets",
            "calexp",
            "--purge",
            run,
            "--no-confirm",
        ]
        .map(String::from)
        .to_vec()
    };
    let start = Instant::now();
    let args = prune(&timing);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let pruning = start.elapsed();
    let pruned = count_datasets(&timing, "*");
    assert!(pruned < total);
    for (i, delay) in delays(pruning, 4, 13).into_iter().enumerate() {
        let Some(repo) = create(backend, dir.path(), &format!("prune{i}")) else {
            return;
        };
        let args = import(&repo);
        ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let args = prune(&repo);
        run_and_kill(
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            delay,
            beside(i, &repo),
        );
        repaired_and_clean(&repo);
        let n = count_datasets(&repo, "*");
        assert!(
            n == total || n == pruned,
            "prune killed after {delay:?} left {n} datasets"
        );
    }

    // Chain edits killed at random moments: the chain is its old or its new self, and
    // its history says which.
    let Some(repo) = with_dp02_mini_registry(backend, dir.path(), "chains") else {
        return;
    };
    let chain = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905";
    let children = |repo: &str| -> String {
        ok(&[
            "query-collections",
            repo,
            chain,
            "--chains",
            "TABLE",
            "--format",
            "json",
        ])
    };
    let edits: [&[&str]; 4] = [
        &["--mode", "pop"],
        &["--mode", "prepend", "LSSTCam-imSim/raw/all"],
        &["--mode", "remove", "LSSTCam-imSim/raw/all"],
        &["--mode", "extend", "LSSTCam-imSim/raw/all"],
    ];
    for (i, (edit, delay)) in edits
        .iter()
        .zip(delays(Duration::from_millis(60), 4, 17))
        .enumerate()
    {
        let history = || ok(&["chain-history", &repo, chain]).lines().count();
        let (before, edits_before) = (children(&repo), history());
        let mut args = vec!["collection-chain", repo.as_str(), chain];
        args.extend_from_slice(edit);
        run_and_kill(&args, delay, beside(i, &repo));
        repaired_and_clean(&repo);
        // Killed or not: a chain that changed has the edit in its history (an edit
        // that changes nothing, such as removing a non-member, may be recorded too).
        assert!(
            children(&repo) == before || history() > edits_before,
            "a chain edit left a chain its history does not explain"
        );
    }
    eprintln!(
        "kill figures ({backend:?}): {} SIGKILLs, {} repairs racing a write, nothing lost",
        KILLS.load(std::sync::atomic::Ordering::Relaxed),
        RACING_REPAIRS.load(std::sync::atomic::Ordering::Relaxed)
    );
}

/// `ingest-raws` killed at random moments: the raws are wholly there or wholly not,
/// no copied file is left without its dataset, and a retry ingests what is missing.
fn killed_raw_ingests(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let sample = dir.path().join("sample");
    let sample_arg = sample.display().to_string();
    ok(&[
        "generate-sample",
        &sample_arg,
        "--raws",
        "--visits",
        "20",
        "--detectors",
        "40",
        "--runs",
        "1",
    ]);
    let raws = sample.join("raws/LSSTCam-imSim").display().to_string();
    let ingest = |repo: &str| -> Vec<String> {
        ["ingest-raws", repo, &raws, "-t", "copy", "-j", "2"]
            .map(str::to_owned)
            .into()
    };
    let Some(probe) = create(backend, dir.path(), "raw-probe") else {
        return;
    };
    ok(&["register-instrument", &probe, "LSSTCam-imSim"]);
    let start = Instant::now();
    let args = ingest(&probe);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let full = start.elapsed();
    assert_eq!(count_datasets(&probe, "*"), 800);
    let mut killed = 0;
    for (i, delay) in delays(full, 6, 23).into_iter().enumerate() {
        let Some(repo) = create(backend, dir.path(), &format!("raws{i}")) else {
            return;
        };
        ok(&["register-instrument", &repo, "LSSTCam-imSim"]);
        let args = ingest(&repo);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        if !run_and_kill(&argv, delay, beside(i, &repo)) {
            killed += 1;
        }
        repaired_and_clean(&repo);
        let n = count_datasets(&repo, "*");
        assert!(
            n == 0 || n == 800,
            "ingest-raws killed after {delay:?} left {n} raws"
        );
        ok(&argv);
        assert_eq!(count_datasets(&repo, "*"), 800);
        repaired_and_clean(&repo);
    }
    assert!(
        killed > 0,
        "no ingest-raws was interrupted: the test would prove nothing"
    );
}

/// Files below a directory, counted.
fn files_below(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| {
                let p = e.path();
                if p.is_dir() {
                    files_below(&p)
                } else {
                    1
                }
            })
            .sum()
    })
}

/// `dregs register dataset --old-location DIR` killed at random moments: the
/// dataset is registered with all its files or not at all, and no copied file
/// survives a repair without its row.
fn killed_named_registrations(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    for i in 0..300 {
        let sub = tree.join(format!("part{}", i % 7));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(format!("f{i}.dat")), vec![b'x'; 8192]).unwrap();
    }
    let tree_arg = tree.display().to_string();
    let register = |repo: &str| -> Vec<String> {
        [
            "dregs",
            "register",
            "dataset",
            repo,
            "tree",
            "1.0.0",
            "--old-location",
            &tree_arg,
            "--relative-path",
            "big/tree",
        ]
        .map(str::to_owned)
        .into()
    };
    let listed = |repo: &str| -> usize {
        let out = ok(&["dregs", "ls", repo, "--format", "json"]);
        serde_json::from_str::<serde_json::Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    };
    let Some(probe) = create(backend, dir.path(), "named-probe") else {
        return;
    };
    let start = Instant::now();
    let args = register(&probe);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let full = start.elapsed();
    let mut killed = 0;
    for (i, delay) in delays(full, 8, 31).into_iter().enumerate() {
        let Some(repo) = create(backend, dir.path(), &format!("named{i}")) else {
            return;
        };
        let args = register(&repo);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        if !run_and_kill(&argv, delay, beside(i, &repo)) {
            killed += 1;
        }
        repaired_and_clean(&repo);
        let area = std::path::Path::new(&repo).join("dregs");
        match listed(&repo) {
            0 => assert_eq!(
                files_below(&area),
                0,
                "killed after {delay:?}: files without a row"
            ),
            1 => assert_eq!(
                files_below(&area),
                300,
                "killed after {delay:?}: a row without its files"
            ),
            n => panic!("killed after {delay:?}: {n} rows"),
        }
        if listed(&repo) == 0 {
            ok(&argv);
        }
        assert_eq!(files_below(&area), 300);
        repaired_and_clean(&repo);
    }
    assert!(
        killed > 0,
        "no registration was interrupted: the test would prove nothing"
    );
}

on_both_backends!(
    killed_imports_and_removals,
    killed_raw_ingests,
    killed_named_registrations
);
