//! Collection semantics on both backends: chains (modes, dedupe, cycles, history,
//! as-of, concurrent edits), TAGGED conflicts, CALIBRATION overlap and decertify, and
//! removal rules; every refusal leaves the repository unchanged.

mod common;

use std::path::PathBuf;

use common::{new_repo, Backend};
use valet::collections::calibration::{certify, decertify, validity_ranges};
use valet::collections::chains::{chain_history, collection_chain, get_chain, ChainMode};
use valet::collections::removal::{remove_collections, remove_runs};
use valet::collections::tagged::{associate, disassociate};
use valet::collections::{flatten, query_collections, CollectionQuery, FindRequest};
use valet::registry::timespan::parse_tai_iso;
use valet::registry::{CollectionType, DataId, Timespan, Value};
use valet::transfers::ImportOptions;
use valet::Repo;

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/conformance")
        .join(path)
}

/// A repository with dp02-mini imported.
fn dp02(backend: Backend) -> Option<common::TestRepo> {
    let t = new_repo(backend)?;
    t.repo
        .import_files(&[data("dp02-mini/export.yaml")], &ImportOptions::default())
        .unwrap();
    Some(t)
}

fn chain_names(repo: &Repo, parent: &str) -> Vec<String> {
    let mut c = repo.registry().db.conn().unwrap();
    get_chain(&mut c, parent)
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect()
}

fn edit(
    repo: &Repo,
    parent: &str,
    mode: ChainMode,
    kids: &[&str],
    flatten: bool,
) -> Result<Vec<String>, String> {
    let kids: Vec<String> = kids.iter().map(|s| s.to_string()).collect();
    repo.registry()
        .transaction(|c, _| collection_chain(c, parent, mode, &kids, flatten, None))
        .map(|v| v.into_iter().map(|r| r.name).collect())
        .map_err(|e| e.to_string())
}

fn reg(repo: &Repo, name: &str, kind: CollectionType) {
    repo.registry()
        .register_collection(name, kind, None)
        .unwrap();
}

fn chain_modes(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    for r in ["r1", "r2", "r3"] {
        reg(repo, r, CollectionType::Run);
    }
    reg(repo, "tag1", CollectionType::Tagged);
    // Duplicates dropped keeping the first; the chain is created by redefine.
    assert_eq!(
        edit(repo, "c", ChainMode::Redefine, &["r1", "r2", "r1"], false).unwrap(),
        ["r1", "r2"]
    );
    assert_eq!(
        edit(repo, "c", ChainMode::Prepend, &["r3", "r2"], false).unwrap(),
        ["r3", "r2", "r1"]
    );
    assert_eq!(
        edit(repo, "c", ChainMode::Extend, &["r3"], false).unwrap(),
        ["r2", "r1", "r3"]
    );
    assert_eq!(
        edit(repo, "c", ChainMode::Remove, &["r1"], false).unwrap(),
        ["r2", "r3"]
    );
    assert_eq!(
        edit(repo, "c", ChainMode::Pop, &["-1"], false).unwrap(),
        ["r2"]
    );
    assert_eq!(
        edit(repo, "c", ChainMode::Pop, &[], false).unwrap(),
        Vec::<String>::new()
    );
    // The reference's flattening example: chain2 = [run2, chain1], chain1 = [tag1, run2].
    edit(repo, "chain1", ChainMode::Redefine, &["tag1", "r2"], false).unwrap();
    edit(
        repo,
        "chain2",
        ChainMode::Redefine,
        &["r2", "chain1"],
        false,
    )
    .unwrap();
    let mut c = repo.registry().db.conn().unwrap();
    let flat: Vec<String> = flatten(&mut c, &["chain2".into()], None)
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(flat, ["r2", "tag1"]);
    let q = |patterns: &[&str], flatten: bool, include: Option<bool>| -> Vec<String> {
        let mut c = repo.registry().db.conn().unwrap();
        query_collections(
            &mut c,
            &CollectionQuery {
                patterns: patterns.iter().map(|s| s.to_string()).collect(),
                flatten_chains: flatten,
                include_chains: include,
                ..Default::default()
            },
        )
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect()
    };
    assert_eq!(
        q(&["chain2"], true, Some(true)),
        ["chain2", "r2", "chain1", "tag1"]
    );
    assert_eq!(q(&["cha*2"], true, None), ["r2", "tag1"]);
    // --flatten stores leaves.
    assert_eq!(
        edit(repo, "c", ChainMode::Redefine, &["chain2", "r3"], true).unwrap(),
        ["r2", "tag1", "r3"]
    );

    // Refusals change nothing.
    let before = chain_names(repo, "chain1");
    let err = edit(repo, "chain1", ChainMode::Extend, &["chain2"], false).unwrap_err();
    assert!(err.contains("would create a cycle"), "{err}");
    let err = edit(repo, "chain1", ChainMode::Extend, &["chain1"], false).unwrap_err();
    assert!(err.contains("would create a cycle"), "{err}");
    let err = edit(repo, "chain1", ChainMode::Extend, &["nope"], false).unwrap_err();
    assert!(err.contains("\"nope\" does not exist"), "{err}");
    let err = edit(repo, "chain1", ChainMode::Pop, &["7"], false).unwrap_err();
    assert!(err.contains("out of range"), "{err}");
    let err = edit(repo, "r1", ChainMode::Extend, &["r2"], false).unwrap_err();
    assert!(err.contains("is RUN, not CHAINED"), "{err}");
    assert_eq!(chain_names(repo, "chain1"), before);

    // Every edit is in the history, with old and new children.
    let hist = chain_history(&mut c, "c").unwrap();
    assert_eq!(hist.len(), 7);
    assert_eq!(hist[1].old_children, ["r1", "r2"]);
    assert_eq!(hist[1].new_children, ["r3", "r2", "r1"]);
}

fn chain_as_of(backend: Backend) {
    let Some(t) = dp02(backend) else { return };
    let repo = &t.repo;
    let chain = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905";
    let did: DataId = [
        ("instrument", Value::from("LSSTCam-imSim")),
        ("detector", Value::Int(8)),
        ("visit", Value::Int(5)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let find = |as_of: Option<i64>| {
        let mut c = repo.registry().db.conn().unwrap();
        repo.resolver()
            .find_dataset(
                &mut c,
                &repo.registry().universe,
                &FindRequest {
                    dataset_type: "calexp",
                    data_id: &did,
                    collections: &[chain.to_owned()],
                    timespan: None,
                    as_of,
                },
            )
            .unwrap()
            .map(|f| f.dataset.run)
    };
    let before = find(None).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let moment = valet::registry::identity::now_utc_ns();
    std::thread::sleep(std::time::Duration::from_millis(5));
    // A new personal run with a re-processed calexp is prepended.
    reg(
        repo,
        "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905/20211299T000000Z",
        CollectionType::Run,
    );
    repo.registry()
        .insert_datasets(
            "calexp",
            "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905/20211299T000000Z",
            &[valet::registry::NewDataset {
                id: None,
                data_id: did.clone(),
            }],
            valet::registry::IdGenerationMode::Unique,
        )
        .unwrap();
    edit(
        repo,
        chain,
        ChainMode::Prepend,
        &["2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905/20211299T000000Z"],
        false,
    )
    .unwrap();
    assert_eq!(
        find(None).unwrap(),
        "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905/20211299T000000Z"
    );
    // As of before the edit, the chain resolves as it was.
    assert_eq!(find(Some(moment)).unwrap(), before);
    // Before the chain existed at all, nothing is found.
    assert_eq!(find(Some(0)), None);
}

/// The ids of the raws in `LSSTCam-imSim/raw/all` that `where_` selects.
fn raw_ids(repo: &Repo, where_: &str) -> valet::registry::Result<Vec<uuid::Uuid>> {
    let mut c = repo.registry().db.conn()?;
    let mut ids = Vec::new();
    repo.resolver().query_datasets(
        &mut c,
        &repo.registry().universe,
        &valet::collections::DatasetQuery {
            dataset_type: "raw".into(),
            collections: vec!["LSSTCam-imSim/raw/all".into()],
            find_first: true,
            where_: where_.into(),
            ..Default::default()
        },
        &mut |f| {
            ids.push(f.dataset.id);
            Ok(true)
        },
    )?;
    Ok(ids)
}

fn tagged_rules(backend: Backend) {
    let Some(t) = dp02(backend) else { return };
    let repo = &t.repo;
    let raws = raw_ids(repo, "detector = 0 AND exposure IN (0..2)").unwrap();
    assert_eq!(raws.len(), 3);
    reg(repo, "LSSTCam-imSim/raw/DM-1", CollectionType::Tagged);
    let n = repo
        .registry()
        .transaction(|c, u| associate(c, u, "LSSTCam-imSim/raw/DM-1", &raws))
        .unwrap();
    assert_eq!(n, 3);
    // Re-associating members is a no-op.
    let n = repo
        .registry()
        .transaction(|c, u| associate(c, u, "LSSTCam-imSim/raw/DM-1", &raws[..1]))
        .unwrap();
    assert_eq!(n, 0);
    // Associating into a RUN or CALIBRATION is refused.
    let err = repo
        .registry()
        .transaction(|c, u| associate(c, u, "LSSTCam-imSim/raw/all", &raws))
        .unwrap_err();
    assert!(
        err.to_string().contains("only be associated with TAGGED"),
        "{err}"
    );
    // A different dataset with the same data ID conflicts, and nothing of the call lands.
    reg(repo, "u/someone/rerun", CollectionType::Run);
    let did: DataId = [
        ("instrument", Value::from("LSSTCam-imSim")),
        ("detector", Value::Int(0)),
        ("exposure", Value::Int(1)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let other = repo
        .registry()
        .insert_datasets(
            "raw",
            "u/someone/rerun",
            &[valet::registry::NewDataset {
                id: None,
                data_id: did,
            }],
            valet::registry::IdGenerationMode::Unique,
        )
        .unwrap();
    let reg2 = "LSSTCam-imSim/raw/DM-2";
    reg(repo, reg2, CollectionType::Tagged);
    let err = repo
        .registry()
        .transaction(|c, u| associate(c, u, reg2, &[raws[0], raws[1], other[0].id]))
        .unwrap_err();
    assert!(err.to_string().contains("exposure: 1"), "{err}");
    let members = |name: &str| {
        let mut c = repo.registry().db.conn().unwrap();
        let mut n = 0;
        repo.resolver()
            .query_datasets(
                &mut c,
                &repo.registry().universe,
                &valet::collections::DatasetQuery {
                    dataset_type: "raw".into(),
                    collections: vec![name.into()],
                    ..Default::default()
                },
                &mut |_| {
                    n += 1;
                    Ok(true)
                },
            )
            .unwrap();
        n
    };
    assert_eq!(members(reg2), 0);
    let err = repo
        .registry()
        .transaction(|c, u| associate(c, u, "LSSTCam-imSim/raw/DM-1", &[other[0].id]))
        .unwrap_err();
    assert!(err.to_string().contains("already holds raw"), "{err}");
    assert_eq!(members("LSSTCam-imSim/raw/DM-1"), 3);
    let n = repo
        .registry()
        .transaction(|c, _| disassociate(c, "LSSTCam-imSim/raw/DM-1", &raws[..2]))
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(members("LSSTCam-imSim/raw/DM-1"), 1);
}

fn calibration_rules(backend: Backend) {
    let Some(t) = dp02(backend) else { return };
    let repo = &t.repo;
    let calib = "LSSTCam-imSim/calib/DM-30694";
    let ranges = |det: i64| -> Vec<(Option<i64>, Option<i64>)> {
        let mut c = repo.registry().db.conn().unwrap();
        validity_ranges(&mut c, calib, "bias")
            .unwrap()
            .into_iter()
            .filter(|r| r.data_id["detector"] == Value::Int(det))
            .map(|r| (r.timespan.begin, r.timespan.end))
            .collect()
    };
    let ts = |a: &str, b: &str| {
        Timespan::new(
            Some(parse_tai_iso(a).unwrap()),
            Some(parse_tai_iso(b).unwrap()),
        )
    };
    let det1 = ranges(1);
    assert_eq!(det1.len(), 3);
    let bias_ids: Vec<uuid::Uuid> = {
        let mut c = repo.registry().db.conn().unwrap();
        validity_ranges(&mut c, calib, "bias")
            .unwrap()
            .iter()
            .filter(|r| r.data_id["detector"] == Value::Int(1))
            .map(|r| r.dataset_id)
            .collect()
    };
    // Overlapping an existing range is refused; so are two ranges for one data ID in
    // one call; and certifying a non-calibration type or into a non-CALIBRATION one.
    let err = repo
        .registry()
        .transaction(|c, u| certify(c, u, calib, &bias_ids[..1], ts("2021-07-01", "2021-07-02")))
        .unwrap_err();
    assert!(err.to_string().contains("overlaps the range"), "{err}");
    reg(
        repo,
        "LSSTCam-imSim/calib/DM-2",
        CollectionType::Calibration,
    );
    let err = repo
        .registry()
        .transaction(|c, u| {
            certify(
                c,
                u,
                "LSSTCam-imSim/calib/DM-2",
                &bias_ids[..2],
                ts("2021-07-01", "2021-07-02"),
            )
        })
        .unwrap_err();
    assert!(err.to_string().contains("would overlap"), "{err}");
    let err = repo
        .registry()
        .transaction(|c, u| {
            certify(
                c,
                u,
                "LSSTCam-imSim/raw/all",
                &bias_ids[..1],
                ts("2021-07-01", "2021-07-02"),
            )
        })
        .unwrap_err();
    assert!(
        err.to_string().contains("needs a CALIBRATION collection"),
        "{err}"
    );
    assert_eq!(ranges(1), det1);
    // Adjacent ranges are fine (half-open).
    let n = repo
        .registry()
        .transaction(|c, u| {
            certify(
                c,
                u,
                "LSSTCam-imSim/calib/DM-2",
                &bias_ids[..1],
                ts("2021-07-01", "2021-07-02"),
            )
        })
        .unwrap();
    assert_eq!(n, 1);
    repo.registry()
        .transaction(|c, u| {
            certify(
                c,
                u,
                "LSSTCam-imSim/calib/DM-2",
                &bias_ids[1..2],
                ts("2021-07-02", "2021-07-03"),
            )
        })
        .unwrap();
    // Decertify the middle of detector 1's first range: it splits in two, new rows.
    let (b, e) = det1[0];
    let mid = b.unwrap() + (e.unwrap() - b.unwrap()) / 2;
    let cut = Timespan::new(Some(mid), Some(mid + 1_000_000_000));
    let only1: Vec<DataId> = vec![[
        ("instrument", Value::from("LSSTCam-imSim")),
        ("detector", Value::Int(1)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()];
    let n = repo
        .registry()
        .transaction(|c, u| decertify(c, u, calib, "bias", cut, Some(&only1)))
        .unwrap();
    assert_eq!(n, 1);
    let after = ranges(1);
    assert_eq!(after.len(), 4);
    assert_eq!(after[0], (b, Some(mid)));
    assert_eq!(after[1], (Some(mid + 1_000_000_000), e));
    // Other detectors untouched.
    assert_eq!(ranges(2).len(), 3);
    // An unbounded decertify removes everything for the data ID.
    repo.registry()
        .transaction(|c, u| decertify(c, u, calib, "bias", Timespan::new(None, None), Some(&only1)))
        .unwrap();
    assert!(ranges(1).is_empty());
}

fn removal_rules(backend: Backend) {
    let Some(t) = dp02(backend) else { return };
    let repo = &t.repo;
    let count = || -> i64 {
        let mut c = repo.registry().db.conn().unwrap();
        c.query_opt("SELECT COUNT(*) FROM dataset", &[])
            .unwrap()
            .unwrap()[0]
            .as_i64()
            .unwrap()
    };
    let total = count();
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // A TAGGED collection a chain lists is refused, then removed with its parents' links.
    let err = repo
        .registry()
        .transaction(|c, _| remove_collections(c, &names(&["LSSTCam-imSim/raw/DM-12345"]), false))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("still listed by chain(s) LSSTCam-imSim/raw"),
        "{err}"
    );
    let err = repo
        .registry()
        .transaction(|c, _| remove_collections(c, &names(&["LSSTCam-imSim/raw/all"]), true))
        .unwrap_err();
    assert!(err.to_string().contains("remove-runs"), "{err}");
    repo.registry()
        .transaction(|c, _| remove_collections(c, &names(&["LSSTCam-imSim/raw/DM-12345"]), true))
        .unwrap();
    assert!(chain_names(repo, "LSSTCam-imSim/raw").is_empty());
    assert_eq!(
        count(),
        total,
        "removing a TAGGED collection never removes datasets"
    );
    // A RUN in a chain: refused without unlinking; removed with its datasets after.
    let run = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905/20211200T190000Z";
    let err = repo
        .registry()
        .transaction(|c, _| remove_runs(c, &names(&[run]), false))
        .unwrap_err();
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(count(), total);
    let removed = repo
        .registry()
        .transaction(|c, _| remove_runs(c, &names(&[run]), true))
        .unwrap();
    assert!(removed > 0);
    assert_eq!(count(), total - removed as i64);
    assert!(!chain_names(repo, "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905").contains(&run.to_string()));
    // The find-first cache notices the change.
    let mut c = repo.registry().db.conn().unwrap();
    let path = repo
        .resolver()
        .search_path(
            &mut c,
            &["2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905".into()],
            None,
        )
        .unwrap();
    assert!(!path.collections.iter().any(|r| r.name == run));
}

fn concurrent_chain_edits(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    let repo = t.repo.clone();
    const THREADS: usize = 4;
    const EACH: usize = 10;
    for i in 0..THREADS * EACH {
        reg(&repo, &format!("run{i}"), CollectionType::Run);
    }
    edit(&repo, "shared", ChainMode::Redefine, &[], false).unwrap();
    let handles: Vec<_> = (0..THREADS)
        .map(|th| {
            let repo = repo.clone();
            std::thread::spawn(move || {
                for k in 0..EACH {
                    let name = format!("run{}", th * EACH + k);
                    let mut tries = 0;
                    loop {
                        match edit(&repo, "shared", ChainMode::Extend, &[&name], false) {
                            Ok(_) => break,
                            // SQLite may report a busy database under contention; retry.
                            Err(e) if e.contains("locked") || e.contains("busy") => {
                                tries += 1;
                                assert!(tries < 50, "{e}");
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut kids = chain_names(&repo, "shared");
    kids.sort();
    let mut want: Vec<String> = (0..THREADS * EACH).map(|i| format!("run{i}")).collect();
    want.sort();
    assert_eq!(kids, want, "an edit was lost");
    let mut c = repo.registry().db.conn().unwrap();
    assert_eq!(
        chain_history(&mut c, "shared").unwrap().len(),
        THREADS * EACH + 1
    );
}

/// The library refuses deep `--where` nesting and invisible characters in collection
/// names without harm to the repository; long flat chains of terms work.
fn parsing_limits(backend: Backend) {
    let Some(t) = dp02(backend) else { return };
    let repo = &t.repo;
    let query = |where_: String| raw_ids(repo, &where_).map(|ids| ids.len());
    let deep = format!("{}detector = 0{}", "(".repeat(10_000), ")".repeat(10_000));
    let msg = query(deep).unwrap_err().to_string();
    assert!(
        msg.contains("expression nested more than 200 levels deep at column 201"),
        "{msg}"
    );
    let msg = query(format!("{}detector = 0", "NOT ".repeat(30_000)))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("nested more than 200 levels deep"), "{msg}");
    let flat = vec!["detector >= 0"; 2_000].join(" AND ");
    assert_eq!(query(flat).unwrap(), query("detector >= 0".into()).unwrap());
    let either = vec!["detector = 0"; 2_000].join(" OR ");
    assert_eq!(
        query(either).unwrap(),
        query("detector = 0".into()).unwrap()
    );

    let before = query_collections(
        &mut repo.registry().db.conn().unwrap(),
        &CollectionQuery::default(),
    )
    .unwrap()
    .len();
    let refused = |r: valet::registry::Result<Vec<valet::registry::CollectionRecord>>, code| {
        let msg = r.unwrap_err().to_string();
        assert!(msg.contains(code), "{msg}");
    };
    let run = "LSSTCam-imSim/raw/all".to_owned();
    refused(
        repo.registry().transaction(|c, _| {
            collection_chain(
                c,
                "u/me/\u{200D}chain",
                ChainMode::Redefine,
                std::slice::from_ref(&run),
                false,
                None,
            )
        }),
        "U+200D",
    );
    refused(
        repo.registry().transaction(|c, _| {
            collection_chain(
                c,
                "u/me/chain",
                ChainMode::Redefine,
                &["LSSTCam-imSim/raw/all\u{FEFF}".to_owned()],
                false,
                None,
            )
        }),
        "U+FEFF",
    );
    let err = repo
        .registry()
        .register_collection("u/me/\u{202B}run", CollectionType::Run, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("U+202B"), "{err}");
    let after = query_collections(
        &mut repo.registry().db.conn().unwrap(),
        &CollectionQuery::default(),
    )
    .unwrap()
    .len();
    assert_eq!(before, after);
    // A name that came in before the rule (written here behind the registry's back)
    // is what the lint reports.
    let hidden = "u/me/\u{200B}old";
    let mut c = repo.registry().db.conn().unwrap();
    c.execute(
        "INSERT INTO collection (name, type) VALUES (?, ?)",
        &[hidden.into(), (CollectionType::Tagged as i64).into()],
    )
    .unwrap();
    let findings = valet::collections::naming::lint(&mut c).unwrap();
    let f = findings
        .iter()
        .find(|f| f.collection == hidden && f.rule == "invalid-name")
        .expect("an invalid-name finding");
    assert!(f.message.contains("U+200B"), "{}", f.message);
}

/// A single look-up answered from one handle's caches sees a chain edited through
/// another handle (another process, in practice) at once.
fn lookups_see_edits_made_elsewhere(backend: Backend) {
    let Some(t) = dp02(backend) else { return };
    let here = &t.repo;
    let elsewhere = Repo::open(&t.root()).unwrap();
    let data_id: DataId = [
        ("instrument".to_owned(), Value::Text("LSSTCam-imSim".into())),
        ("visit".to_owned(), Value::Int(26)),
        ("detector".to_owned(), Value::Int(1)),
    ]
    .into_iter()
    .collect();
    let find = |collection: &str| {
        here.find_dataset(&valet::queries::FindDatasetOptions {
            dataset_type: "calexp".into(),
            data_id: data_id.clone(),
            collections: vec![collection.into()],
            ..Default::default()
        })
        .unwrap()
        .map(|f| f.found.dataset.run)
    };
    let run = find("2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905").expect("a calexp");
    edit(here, "mine", ChainMode::Redefine, &[&run], false).unwrap();
    // Twice: the second answer comes from the caches.
    assert_eq!(find("mine").as_deref(), Some(run.as_str()));
    assert_eq!(find("mine").as_deref(), Some(run.as_str()));
    edit(
        &elsewhere,
        "mine",
        ChainMode::Redefine,
        &["LSSTCam-imSim/raw/all"],
        false,
    )
    .unwrap();
    assert_eq!(find("mine"), None);
    edit(&elsewhere, "mine", ChainMode::Redefine, &[&run], false).unwrap();
    assert_eq!(find("mine").as_deref(), Some(run.as_str()));
}

on_both_backends!(
    lookups_see_edits_made_elsewhere,
    parsing_limits,
    chain_modes,
    chain_as_of,
    tagged_rules,
    calibration_rules,
    removal_rules,
    concurrent_chain_edits
);
