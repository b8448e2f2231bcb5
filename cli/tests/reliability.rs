//! Ways to lose files, act as someone else, or crash, each tried through the binary
//! on SQLite and PostgreSQL: repair racing an import, copies onto their own sources,
//! symlinks leading out, borrowed identities, closed pipes, and failures that leave
//! debris.

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{conformance_data, dp02_mini_import, fresh_pg_database, Backend};
use support::{count_datasets, create, imported, ok, refused, run, valet, with_dp02_mini_registry};

fn clean(repo: &str) {
    let out = run(&["check", repo, "--deep"]);
    assert!(
        out.status.success(),
        "check: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Every file below `dir`, relative to it, skipping valet's control files.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(listing) = std::fs::read_dir(dir) else {
            return;
        };
        for e in listing.flatten() {
            let p = e.path();
            if e.file_name() == ".valet" {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Directories below `dir` that hold no file at any depth.
fn empty_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() && e.file_name() != ".valet" {
            if files_below(&e.path()).is_empty() {
                out.push(e.path());
            } else {
                out.extend(empty_dirs(&e.path()));
            }
        }
    }
    out
}

/// Item 1: a repair started while an import copies its files waits for it, and
/// deletes none of them; repair is an admin's.
fn repair_during_import(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(probe) = create(backend, dir.path(), "probe") else {
        return;
    };
    let start = Instant::now();
    let args = dp02_mini_import(&probe);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let full = start.elapsed();
    let mut waited = 0;
    for (i, fraction) in [0.2, 0.5, 0.8].into_iter().enumerate() {
        let repo = create(backend, dir.path(), &format!("r{i}")).unwrap();
        let args = dp02_mini_import(&repo);
        let mut import = valet()
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full.mul_f64(fraction));
        let repair = run(&["check", &repo, "--repair"]);
        if String::from_utf8_lossy(&repair.stderr).contains("waiting for the writes") {
            waited += 1;
        }
        assert!(import.wait().unwrap().success(), "the import failed");
        clean(&repo);
        assert_eq!(count_datasets(&repo, "*"), 799);
    }
    assert!(
        waited > 0,
        "no repair overlapped an import: the test proves nothing"
    );
    refused(
        valet()
            .args(["check", &probe, "--repair"])
            .env("VALET_USER", "mallory")
            .output()
            .unwrap(),
        "may not repair the repository",
    );
}

/// Items 2 and 7: retrieve-artifacts never writes into the datastore, never opens a file
/// it replaces, and never writes through a symlink.
fn retrieve_is_safe(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(repo) = imported(backend, dir.path(), "repo") else {
        return;
    };
    let raws = [
        "-d",
        "raw",
        "--collections",
        "LSSTCam-imSim/raw/all",
        "--preserve-path",
    ];
    let into = |dest: &str, extra: &[&str]| {
        let mut a = vec!["retrieve-artifacts", &repo, dest];
        a.extend_from_slice(&raws);
        a.extend_from_slice(extra);
        run(&a)
    };
    refused(
        into(&repo, &["--clobber"]),
        "is inside the repository's datastore",
    );
    refused(
        into(&format!("{repo}/LSSTCam-imSim/raw"), &["--clobber"]),
        "is inside the repository's datastore",
    );
    clean(&repo);

    // A destination file that is a symlink to a file outside: replaced, not written
    // through.
    let dest = dir.path().join("out");
    let done = into(dest.to_str().unwrap(), &[]);
    assert!(done.status.success());
    assert_eq!(
        String::from_utf8_lossy(&done.stdout),
        format!(
            "Number of artifacts retrieved into destination {}: 360\n",
            dest.display()
        )
    );
    let retrieved = files_below(&dest);
    assert_eq!(retrieved.len(), 360);
    // The reference's answers for no match, and its refusal to move files out.
    let none = into(dest.to_str().unwrap(), &["--where", "detector = 999"]);
    assert!(none.status.success());
    assert_eq!(
        String::from_utf8_lossy(&none.stdout),
        "No datasets matched query.\n"
    );
    refused(
        into(&format!("{}-moved", dest.display()), &["-t", "move"]),
        "cannot use move mode",
    );
    // Without the layout, file names only; linked where asked.
    let flat = dir.path().join("flat");
    let done = into(
        flat.to_str().unwrap(),
        &[
            "--no-preserve-path",
            "-t",
            "hardlink",
            "--limit",
            "3",
            "--order-by",
            "-exposure",
        ],
    );
    assert!(done.status.success());
    let names = files_below(&flat);
    assert_eq!(names.len(), 3);
    assert!(
        names.iter().all(|n| n.components().count() == 1),
        "{names:?}"
    );
    use std::os::unix::fs::MetadataExt;
    assert!(std::fs::metadata(flat.join(&names[0])).unwrap().nlink() > 1);
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, b"keep me").unwrap();
    let first = dest.join(&retrieved[0]);
    std::fs::remove_file(&first).unwrap();
    std::os::unix::fs::symlink(&victim, &first).unwrap();
    refused(into(dest.to_str().unwrap(), &[]), "already exists");
    assert!(into(dest.to_str().unwrap(), &["--clobber"])
        .status
        .success());
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
    assert!(!std::fs::symlink_metadata(&first)
        .unwrap()
        .file_type()
        .is_symlink());

    // A directory below the destination that is a symlink leading out.
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let dest2 = dir.path().join("out2");
    std::fs::create_dir_all(&dest2).unwrap();
    std::os::unix::fs::symlink(&outside, dest2.join("LSSTCam-imSim")).unwrap();
    refused(
        into(dest2.to_str().unwrap(), &["--clobber"]),
        "is a symbolic link; refusing to write through it",
    );
    assert!(files_below(&outside).is_empty());
}

/// Items 3 and 4: The user an admin command names is not the one who acts; user names are
/// one path segment.
fn identities(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(repo) = create(backend, dir.path(), "repo") else {
        return;
    };
    // alice created it; adding bob is alice's act, not bob's.
    ok(&["admin", "add", &repo, "bob"]);
    assert_eq!(ok(&["admin", "list", &repo]), "alice\nbob\n");
    refused(
        valet()
            .args(["admin", "remove", &repo, "alice"])
            .env("VALET_USER", "mallory")
            .output()
            .unwrap(),
        "user \"mallory\" may not remove admins",
    );
    refused(
        valet()
            .args(["admin", "add", &repo, "mallory", "--user", "mallory"])
            .output()
            .unwrap(),
        "may not add admins",
    );
    assert_eq!(ok(&["admin", "list", &repo]), "alice\nbob\n");
    refused(
        run(&["admin", "add", &repo, "someone/DM-99999"]),
        "user name \"someone/DM-99999\" is not valid: it contains the character '/'",
    );
    refused(
        run(&[
            "register-collection",
            &repo,
            "u/someone/DM-99999/x",
            "--collection-type",
            "RUN",
            "--user",
            "someone/DM-99999",
        ]),
        "is not valid",
    );
    for bad in ["unknown", "a b", "x\u{200B}"] {
        refused(
            valet()
                .args([
                    "register-collection",
                    &repo,
                    "u/x/y",
                    "--collection-type",
                    "RUN",
                ])
                .env("VALET_USER", bad)
                .output()
                .unwrap(),
            "is not valid",
        );
    }
    // Item 10: no variable names a user: the operating system's account does.
    let account = valet()
        .args([
            "register-collection",
            &repo,
            "x",
            "--collection-type",
            "RUN",
        ])
        .env_remove("VALET_USER")
        .env_remove("USER")
        .env_remove("LOGNAME")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&account.stderr);
    let me = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    assert!(
        err.contains(&format!("user {:?} may not write", me.trim())),
        "{err}"
    );
}

/// Item 6: Output into a closed pipe ends the command quietly, whatever the command.
fn closed_pipes(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(repo) = imported(backend, dir.path(), "repo") else {
        return;
    };
    let id = ok(&[
        "query-datasets",
        &repo,
        "calexp",
        "--collections",
        "*",
        "--format",
        "csv",
    ])
    .lines()
    .nth(1)
    .and_then(|l| l.split(',').find(|c| c.len() == 36).map(str::to_owned))
    .expect("a calexp id");
    for args in [
        vec!["check", &repo],
        vec!["admin", "list", &repo],
        vec!["lineage", &repo, &id, "--up"],
        vec!["query-collections", &repo],
        vec![
            "collection-chain",
            &repo,
            "u/alice/chain",
            "LSSTCam-imSim/raw/all",
        ],
    ] {
        let mut child = valet()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_ne!(out.status.code(), Some(101), "{args:?}: {err}");
    }
}

/// Item 7: reads outside the import's directory or the ingest prefix are refused
/// unless named.
fn reads_stay_inside(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(repo) = with_dp02_mini_registry(backend, dir.path(), "repo") else {
        return;
    };
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, b"outside").unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let export = |path: &str| {
        format!(
            "version: 1.0.2\nuniverse_version: 8\nuniverse_namespace: daf_butler\ndata:\n\
- type: collection\n  collection_type: RUN\n  name: u/alice/r\n\
- type: dataset\n  dataset_type: raw\n  run: u/alice/r\n  records:\n  \
- dataset_id: [!uuid '01a203b0-c267-7733-8854-d5f0208e32f8']\n    \
data_id: [{{instrument: LSSTCam-imSim, detector: 1, exposure: 0}}]\n    path: {path}\n"
        )
    };
    let import = |extra: &[&str]| {
        let mut a = vec!["import", &repo, src.to_str().unwrap(), "-t", "copy"];
        a.extend_from_slice(extra);
        run(&a)
    };
    let before = files_below(Path::new(&repo));
    // An absolute path in the export.
    std::fs::write(src.join("export.yaml"), export(secret.to_str().unwrap())).unwrap();
    refused(import(&[]), "is outside");
    // A symlink in the source directory.
    std::os::unix::fs::symlink(&secret, src.join("link.fits")).unwrap();
    std::fs::write(src.join("export.yaml"), export("link.fits")).unwrap();
    refused(import(&[]), "is outside");
    assert_eq!(files_below(Path::new(&repo)), before);
    assert!(empty_dirs(Path::new(&repo)).is_empty());
    // Named by the user: allowed.
    assert!(import(&["--allow-outside"]).status.success());
    clean(&repo);
    // An ingest table climbing out of its prefix.
    let table = src.join("table.csv");
    std::fs::write(&table, "file,detector,exposure\n../secret.txt,2,0\n").unwrap();
    refused(
        run(&[
            "ingest-files",
            &repo,
            "raw",
            "u/alice/ingest",
            table.to_str().unwrap(),
            "--prefix",
            src.to_str().unwrap(),
            "--data-id",
            "instrument=LSSTCam-imSim",
            "-t",
            "copy",
        ]),
        "is outside",
    );
}

/// Item 9: repair removes only what valet wrote; other files are listed, and go only
/// with `--remove-orphans`.
fn repair_keeps_foreign_files(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(repo) = create(backend, dir.path(), "repo") else {
        return;
    };
    let notes = Path::new(&repo).join("NOTES.txt");
    std::fs::write(&notes, b"x").unwrap();
    let out = run(&["check", &repo, "--repair"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("file no dataset knows: NOTES.txt"));
    assert!(notes.exists());
    let dry = ok(&["check", &repo, "--repair", "--remove-orphans", "--dry-run"]);
    assert!(
        dry.contains("would remove file no dataset knows NOTES.txt"),
        "{dry}"
    );
    assert!(notes.exists());
    ok(&["check", &repo, "--repair", "--remove-orphans"]);
    assert!(!notes.exists());
    clean(&repo);
}

/// Items 11 and 12: Failures leave nothing behind.
fn failures_leave_no_debris(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(repo) = imported(backend, dir.path(), "repo") else {
        return;
    };
    // export into the repository itself.
    refused(run(&["export", &repo, &repo]), "is inside the repository");
    assert!(!Path::new(&repo).join("export.yaml").exists());
    // An export whose copy fails part way takes back what it wrote.
    let victim = Path::new(&repo).join(&files_below(Path::new(&repo))[400]);
    std::fs::remove_file(&victim).unwrap();
    let dest = dir.path().join("exported");
    let out = run(&["export", &repo, dest.to_str().unwrap(), "-t", "copy"]);
    assert!(!out.status.success());
    assert!(!dest.exists(), "{:?}", files_below(&dest).len());
    // Into an existing directory: what was there stays, nothing else.
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(dest.join("mine.txt"), b"mine").unwrap();
    assert!(
        !run(&["export", &repo, dest.to_str().unwrap(), "-t", "copy"])
            .status
            .success()
    );
    assert_eq!(files_below(&dest), vec![PathBuf::from("mine.txt")]);
    // A failed import leaves no empty directories.
    let bad = dir.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    let mut text = std::fs::read_to_string(conformance_data("dp02-mini/export.yaml")).unwrap();
    text.push_str(
        "- type: associations\n  collection: u/nobody/tagged\n  collection_type: TAGGED\n  \
         dataset_ids:\n  - !uuid '00000000-0000-4000-8000-000000000001'\n",
    );
    std::fs::write(bad.join("export.yaml"), text).unwrap();
    let fresh = create(backend, dir.path(), "fresh").unwrap();
    let out = run(&[
        "import",
        &fresh,
        &conformance_data("dp02-mini/files"),
        "--export-file",
        bad.join("export.yaml").to_str().unwrap(),
        "-t",
        "copy",
    ]);
    assert!(!out.status.success());
    assert!(files_below(Path::new(&fresh))
        .iter()
        .all(|f| f.starts_with("registry.sqlite3") || f == Path::new("valet.yaml")));
    assert_eq!(empty_dirs(Path::new(&fresh)), Vec::<PathBuf>::new());
    // The ObsCore configuration may name only types the repository has.
    let config = std::fs::read_to_string(conformance_data("dp02-mini/obscore.yaml"))
        .unwrap()
        .replace("calexp:", "calxep:");
    let cfg = dir.path().join("obscore.yaml");
    std::fs::write(&cfg, config).unwrap();
    refused(
        run(&["obscore", "enable", &repo, cfg.to_str().unwrap()]),
        "dataset type \"calxep\"",
    );
}

/// Item 11: a missing SQLite registry is reported, not recreated.
fn missing_registry(backend: Backend) {
    if backend != Backend::Sqlite {
        // A PostgreSQL server that refuses connections fails at once.
        if fresh_pg_database().is_none() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo").display().to_string();
        let start = Instant::now();
        refused(
            run(&[
                "create",
                &repo,
                "--db",
                "postgresql://postgres@127.0.0.1:1/db",
            ]),
            "cannot connect to PostgreSQL",
        );
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(!Path::new(&repo).exists());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = create(backend, dir.path(), "repo").unwrap();
    let db = Path::new(&repo).join("registry.sqlite3");
    std::fs::remove_file(&db).unwrap();
    refused(run(&["query-collections", &repo]), "the registry database");
    assert!(!db.exists());
}

on_both_backends!(
    repair_during_import,
    retrieve_is_safe,
    identities,
    closed_pipes,
    reads_stay_inside,
    repair_keeps_foreign_files,
    failures_leave_no_debris,
    missing_registry,
);
