//! ObsCore export on both backends: the reference exporter's CSV for dp02-mini,
//! reproduced row for row (floats to 1e-9 relative, `\N` for NULL).

mod common;

use std::path::PathBuf;

use common::{new_repo, Backend};
use valet::obscore::ObsCoreConfig;
use valet::obscore_api::{ObsCoreExportOptions, ObsCoreFormat, ObsCoreSource};
use valet::transfers::ImportOptions;

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/conformance")
        .join(path)
}

/// dp02-mini's ObsCore configuration in CHAINED mode, for `chain`.
fn chained_config(chain: &str) -> String {
    std::fs::read_to_string(data("dp02-mini/obscore.yaml"))
        .unwrap()
        .replace("collection_type: RUN", "collection_type: CHAINED")
        .replace("collections: []", &format!("collections: [\"{chain}\"]"))
}

/// Split one CSV line (quoted fields may hold commas).
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn same(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()),
        _ => false,
    }
}

fn dp02_mini_csv(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    t.repo
        .import_files(&[data("dp02-mini/export.yaml")], &ImportOptions::default())
        .unwrap();
    let config =
        ObsCoreConfig::from_yaml(&std::fs::read_to_string(data("dp02-mini/obscore.yaml")).unwrap())
            .unwrap();
    let mut out = Vec::new();
    let n = t
        .repo
        .write_obscore(
            &mut out,
            ObsCoreFormat::Csv,
            &ObsCoreSource::search(
                &config,
                &ObsCoreExportOptions {
                    collections: vec!["2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905".into()],
                    ..Default::default()
                },
            ),
        )
        .unwrap();
    let got = String::from_utf8(out).unwrap();
    let want = std::fs::read_to_string(data("dp02-mini/expected-obscore.csv")).unwrap();
    let (got, want): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
    assert_eq!(n as usize, want.len() - 1);
    assert_eq!(got.len(), want.len());
    assert_eq!(got[0], want[0], "header");
    let header = fields(want[0]);
    for (i, (g, w)) in got.iter().zip(want.iter()).enumerate().skip(1) {
        let (gf, wf) = (fields(g), fields(w));
        assert_eq!(gf.len(), wf.len(), "row {i}");
        for (k, (a, b)) in gf.iter().zip(wf.iter()).enumerate() {
            assert!(
                same(a, b),
                "row {i} column {}: got {a:?}, want {b:?}",
                header[k]
            );
        }
    }
}

fn parquet_round_trip(backend: Backend) {
    let Some(t) = new_repo(backend) else { return };
    t.repo
        .import_files(&[data("dp02-mini/export.yaml")], &ImportOptions::default())
        .unwrap();
    let config =
        ObsCoreConfig::from_yaml(&std::fs::read_to_string(data("dp02-mini/obscore.yaml")).unwrap())
            .unwrap();
    let options = ObsCoreExportOptions {
        collections: vec!["2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905".into()],
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("obscore.parquet");
    let n = t
        .repo
        .write_obscore(
            &mut std::fs::File::create(&path).unwrap(),
            ObsCoreFormat::Parquet,
            &ObsCoreSource::search(&config, &options),
        )
        .unwrap();
    assert_eq!(n, 720);
    let want = std::fs::read_to_string(data("dp02-mini/expected-obscore.csv")).unwrap();
    let want: Vec<Vec<String>> = want.lines().map(fields).collect();
    let got = parquet_rows(&path);
    assert_eq!(got[0], want[0], "header");
    assert_eq!(got.len(), want.len());
    for (row, (g, w)) in got.iter().zip(&want).enumerate().skip(1) {
        for (k, name) in want[0].iter().enumerate() {
            assert!(
                same(&g[k], &w[k]),
                "row {row} column {name}: got {:?}, want {:?}",
                g[k],
                w[k]
            );
        }
    }

    // The live table of the same chain, written as it stands, holds the same rows.
    let chain = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905";
    let chained = chained_config(chain);
    t.repo.enable_obscore(&chained, None).unwrap();
    let live_path = dir.path().join("live.parquet");
    let live_n = t
        .repo
        .write_obscore(
            &mut std::fs::File::create(&live_path).unwrap(),
            ObsCoreFormat::Parquet,
            &ObsCoreSource::Live,
        )
        .unwrap();
    assert_eq!(live_n, n);
    let mut live = parquet_rows(&live_path);
    let mut searched = got;
    live.sort();
    searched.sort();
    assert_eq!(live, searched);
}

/// A Parquet file's header and rows, each cell as text (`\N` for NULL).
fn parquet_rows(path: &std::path::Path) -> Vec<Vec<String>> {
    use arrow_array::{Array, Float64Array, Int64Array, StringArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let schema = batch.schema();
        if rows.is_empty() {
            rows.push(schema.fields().iter().map(|f| f.name().clone()).collect());
        }
        for i in 0..batch.num_rows() {
            let row = batch
                .columns()
                .iter()
                .enumerate()
                .map(|(k, col)| {
                    if col.is_null(i) {
                        "\\N".to_owned()
                    } else if let Some(a) = col.as_any().downcast_ref::<StringArray>() {
                        a.value(i).to_owned()
                    } else if let Some(a) = col.as_any().downcast_ref::<Int64Array>() {
                        a.value(i).to_string()
                    } else if let Some(a) = col.as_any().downcast_ref::<Float64Array>() {
                        a.value(i).to_string()
                    } else {
                        panic!("unexpected column type for {}", schema.field(k).name())
                    }
                })
                .collect();
            rows.push(row);
        }
    }
    rows
}

/// The spatial index holds one box per row with a footprint, and each box holds its
/// footprint's center (an R*Tree entry per row on SQLite; a GiST index on
/// PostgreSQL).
fn assert_sky_index_follows(repo: &valet::Repo) {
    let mut c = repo.registry().db.conn().unwrap();
    let count = |c: &mut valet::registry::Conn, sql: &str| {
        c.query_opt(sql, &[]).unwrap().unwrap()[0].as_i64().unwrap()
    };
    let located = count(
        &mut c,
        "SELECT COUNT(*) FROM obscore WHERE s_ra IS NOT NULL",
    );
    assert!(located > 0);
    let boxed = count(
        &mut c,
        "SELECT COUNT(*) FROM obscore WHERE s_dec BETWEEN valet_dec_min AND valet_dec_max \
         AND (s_ra BETWEEN valet_ra_min AND valet_ra_max OR s_ra + 360 BETWEEN valet_ra_min AND valet_ra_max)",
    );
    assert_eq!(boxed, located);
    let indexed = match repo.backend() {
        valet::Backend::Sqlite => count(&mut c, "SELECT COUNT(*) FROM obscore_sky"),
        valet::Backend::Postgres => {
            assert_eq!(
                count(
                    &mut c,
                    "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'obscore_sky'"
                ),
                1
            );
            located
        }
    };
    assert_eq!(indexed, located);
}

fn table_rows(repo: &valet::Repo) -> Vec<Vec<valet::registry::Value>> {
    let mut c = repo.registry().db.conn().unwrap();
    c.query("SELECT * FROM obscore ORDER BY obs_publisher_did", &[])
        .unwrap()
}

fn live_table(backend: Backend) {
    use valet::registry::{DataId, Value};
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    repo.import_files(&[data("dp02-mini/export.yaml")], &ImportOptions::default())
        .unwrap();
    let text = std::fs::read_to_string(data("dp02-mini/obscore.yaml")).unwrap();
    let n = repo.enable_obscore(&text, None).unwrap();
    // RUN mode with no patterns: every raw and calexp of every RUN.
    let mut c = repo.registry().db.conn().unwrap();
    let want = c
        .query_opt(
            "SELECT COUNT(*) FROM dataset d JOIN dataset_type t ON t.id = d.dataset_type_id WHERE t.name IN ('raw', 'calexp')",
            &[],
        )
        .unwrap()
        .unwrap()[0]
        .as_i64()
        .unwrap();
    drop(c);
    assert_eq!(n as i64, want);
    assert_sky_index_follows(repo);
    // The rows of the chain's find-first datasets equal the reference exporter's.
    let expected = std::fs::read_to_string(data("dp02-mini/expected-obscore.csv")).unwrap();
    let expected: Vec<Vec<String>> = expected.lines().map(fields).collect();
    let header = &expected[0];
    let did = header
        .iter()
        .position(|c| c == "obs_publisher_did")
        .unwrap();
    let rows = table_rows(repo);
    let by_did: std::collections::HashMap<String, &Vec<Value>> = rows
        .iter()
        .map(|r| (r[did + 1].as_str().unwrap().to_owned(), r))
        .collect();
    for w in &expected[1..] {
        let got = by_did[&w[did]];
        for (k, cell) in w.iter().enumerate() {
            let g = match &got[k + 1] {
                Value::Null => "\\N".to_owned(),
                Value::Text(s) => s.clone(),
                Value::Int(i) => i.to_string(),
                Value::Float(f) => f.to_string(),
                other => other.to_string(),
            };
            assert!(same(&g, cell), "{}: got {g:?}, want {cell:?}", header[k]);
        }
    }
    // Inserts keep it current, in the same transaction.
    let calexp: DataId = [
        ("instrument", Value::from("LSSTCam-imSim")),
        ("detector", Value::Int(3)),
        ("visit", Value::Int(4)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let r = repo
        .put(b"{}", "calexp", &calexp, "u/someone/DM-99999/extra", "json")
        .unwrap();
    assert_eq!(table_rows(repo).len() as i64, want + 1);
    let mut c = repo.registry().db.conn().unwrap();
    let row = c
        .query_opt(
            "SELECT lsst_run, obs_id FROM obscore WHERE registry_dataset_id = ?",
            &[Value::Uuid(r.id)],
        )
        .unwrap()
        .unwrap();
    assert_eq!(row[0].as_str(), Some("u/someone/DM-99999/extra"));
    assert_eq!(row[1].as_str(), Some("v4-R00_S03"));
    drop(c);
    // A small write reads only its own visits' detector regions (for a raw, through
    // its exposure's visit); its rows equal what a refill from every region gives.
    let raw: DataId = [
        ("instrument", Value::from("LSSTCam-imSim")),
        ("detector", Value::Int(5)),
        ("exposure", Value::Int(6)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let raw_ref = repo
        .put(b"{}", "raw", &raw, "u/someone/DM-99999/extra", "json")
        .unwrap();
    assert_eq!(repo.check_obscore_table().unwrap(), Vec::<String>::new());
    let mut c = repo.registry().db.conn().unwrap();
    let regions = c
        .query(
            "SELECT s_region FROM obscore WHERE registry_dataset_id IN (?, ?)",
            &[Value::Uuid(r.id), Value::Uuid(raw_ref.id)],
        )
        .unwrap();
    assert!(regions
        .iter()
        .all(|row| row[0].as_str().is_some_and(|s| s.starts_with("POLYGON"))));
    drop(c);
    // Removing a run removes its rows.
    repo.registry()
        .transaction(|c, _| {
            valet::collections::removal::remove_runs(
                c,
                &["u/someone/DM-99999/extra".to_owned()],
                true,
            )
        })
        .unwrap();
    valet::datastore::empty_trash(repo).unwrap();
    assert_eq!(table_rows(repo).len() as i64, want);
    // Rows that come and go (a run's removal cascades) keep the index in step.
    assert_sky_index_follows(repo);
    assert_eq!(repo.update_obscore_table(None).unwrap() as i64, want);
    // check sees a row that disagrees with the registry, a missing one and a stray
    // one, and --repair refills the table.
    assert_eq!(
        valet::check::check(repo, false, false).unwrap().problems,
        Vec::<String>::new()
    );
    {
        let mut c = repo.registry().db.conn().unwrap();
        c.execute("UPDATE obscore SET t_exptime = 1.5 WHERE lsst_visit = 3 AND lsst_detector = 2 AND lsst_dataset_type = 'raw'", &[]).unwrap();
        c.execute("DELETE FROM obscore WHERE lsst_visit = 4 AND lsst_detector = 1 AND lsst_dataset_type = 'raw'", &[]).unwrap();
    }
    let problems = valet::check::check(repo, false, false).unwrap().problems;
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems
        .iter()
        .any(|p| p.contains("disagrees with the registry in t_exptime")));
    assert!(problems
        .iter()
        .any(|p| p.contains("no row for raw dataset")));
    let repaired = valet::check::check(repo, false, true).unwrap();
    assert!(repaired.problems.is_empty(), "{repaired:#?}");
    assert_eq!(table_rows(repo).len() as i64, want);

    // TAGGED mode: the curated raws only, following associations and removal.
    let tagged = text
        .replace("collection_type: RUN", "collection_type: TAGGED")
        .replace(
            "collections: []",
            "collections: [\"LSSTCam-imSim/raw/DM-12345\"]",
        );
    let n = repo.enable_obscore(&tagged, None).unwrap();
    assert_eq!(n, 287);
    let raws: Vec<uuid::Uuid> = {
        let mut c = repo.registry().db.conn().unwrap();
        c.query("SELECT registry_dataset_id FROM obscore", &[])
            .unwrap()
            .iter()
            .filter_map(|r| r[0].as_uuid())
            .take(2)
            .collect()
    };

    // The registry's own write functions keep the table current: no bookkeeping here.
    repo.registry()
        .db
        .transaction(|c| {
            valet::collections::tagged::disassociate(c, "LSSTCam-imSim/raw/DM-12345", &raws)
        })
        .unwrap();
    assert_eq!(table_rows(repo).len(), 285);
    repo.associate("LSSTCam-imSim/raw/DM-12345", &raws).unwrap();
    assert_eq!(table_rows(repo).len(), 287);
    repo.remove_collections(&["LSSTCam-imSim/raw/DM-12345".to_string()], true)
        .unwrap();
    assert!(table_rows(repo).is_empty());
}

/// The live table's dataset ids, sorted.
fn table_ids(repo: &valet::Repo) -> Vec<uuid::Uuid> {
    let mut c = repo.registry().db.conn().unwrap();
    let mut v: Vec<uuid::Uuid> = c
        .query("SELECT registry_dataset_id FROM obscore", &[])
        .unwrap()
        .iter()
        .filter_map(|r| r[0].as_uuid())
        .collect();
    v.sort();
    v
}

fn chained_table(backend: Backend) {
    use valet::collections::chains::{collection_chain, ChainMode};
    use valet::registry::{DataId, Value};
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    let chain = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905";
    repo.import_files(&[data("dp02-mini/export.yaml")], &ImportOptions::default())
        .unwrap();
    let text = chained_config(chain);
    // The table is the chain's find-first resolution: exactly the reference's rows.
    assert_eq!(repo.enable_obscore(&text, None).unwrap(), 720);
    let expected = std::fs::read_to_string(data("dp02-mini/expected-obscore.csv")).unwrap();
    let did_col = fields(expected.lines().next().unwrap())
        .iter()
        .position(|c| c == "obs_publisher_did")
        .unwrap();
    let mut want: Vec<uuid::Uuid> = expected
        .lines()
        .skip(1)
        .map(|l| uuid::Uuid::parse_str(fields(l)[did_col].rsplit('=').next().unwrap()).unwrap())
        .collect();
    want.sort();
    assert_eq!(table_ids(repo), want);

    // A new RUN prepended to the chain: its datasets replace the ones they shadow,
    // incrementally, in the edit's transaction.

    let new_run = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905/20211299T000000Z";
    let calexp = |v: i64, d: i64| -> DataId {
        [
            ("instrument", Value::from("LSSTCam-imSim")),
            ("detector", Value::Int(d)),
            ("visit", Value::Int(v)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    };
    let first = repo
        .put(b"{}", "calexp", &calexp(5, 8), new_run, "json")
        .unwrap();
    assert_eq!(
        table_ids(repo),
        want,
        "a RUN outside the chain changes nothing"
    );
    let edit = |mode: ChainMode, kids: &[&str]| {
        let kids: Vec<String> = kids.iter().map(|s| s.to_string()).collect();
        repo.registry()
            .transaction(|c, _| collection_chain(c, chain, mode, &kids, false, None))
            .unwrap();
    };
    edit(ChainMode::Prepend, &[new_run]);
    let ids = table_ids(repo);
    assert_eq!(ids.len(), 720);
    assert!(ids.contains(&first.id));
    assert_eq!(ids.iter().filter(|i| !want.contains(i)).count(), 1);
    // Inserting into a member RUN re-resolves the data ID at once.
    let second = repo
        .put(b"{}", "calexp", &calexp(6, 8), new_run, "json")
        .unwrap();
    let ids = table_ids(repo);
    assert_eq!(ids.len(), 720);
    assert!(ids.contains(&second.id));
    // Taking the RUN out restores the reference's answer exactly.
    edit(ChainMode::Remove, &[new_run]);
    assert_eq!(table_ids(repo), want);
    // A reordering rebuilds, and still agrees with a fresh find-first.
    edit(
        ChainMode::Prepend,
        &["2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905/20211200T000000Z"],
    );
    assert_eq!(
        valet::check::check(repo, false, false).unwrap().problems,
        Vec::<String>::new()
    );
}

/// Batches larger than a chunk are built on worker threads while rows are inserted:
/// an import of 10,000 raws in one entry with the live table on, a refill, and
/// `check` comparing every row with the registry; the search export and the live
/// table's export agree.
fn large_batches(backend: Backend) {
    use valet::transfers::import_export;
    use valet::workload::{generate, Shape};
    let Some(t) = new_repo(backend) else { return };
    let config_text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/obscore-dp02.yaml"),
    )
    .unwrap();
    let shape = Shape {
        detectors: 50,
        visits: 200,
        runs: 3,
        reprocessed_percent: 0,
    };
    let model = generate(&shape);
    // The configuration names types the repository must know before it is enabled.
    let err = t.repo.enable_obscore(&config_text, None).unwrap_err();
    assert!(err.to_string().contains("dataset type \"raw\""), "{err}");
    let types = (model.dataset_types_only(), "types".to_string());
    import_export(&t.repo, &[types], &ImportOptions::default()).unwrap();
    t.repo.enable_obscore(&config_text, None).unwrap();
    let summary = import_export(
        &t.repo,
        &[(model, "sample".into())],
        &ImportOptions::default(),
    )
    .unwrap();
    // Raws and calexps get rows; the sample's calibrations do not.
    let rows = (2 * shape.detectors * shape.visits) as usize;
    assert!(summary.datasets > rows, "{}", summary.datasets);
    let count = |repo: &valet::Repo| {
        let mut c = repo.registry().db.conn().unwrap();
        c.query("SELECT COUNT(*) FROM obscore", &[]).unwrap()[0][0].as_i64()
    };
    assert_eq!(count(&t.repo), Some(rows as i64));
    assert_eq!(t.repo.check_obscore_table().unwrap(), Vec::<String>::new());

    // Spoil one row: check names it; a refill puts every row right again.
    {
        let mut c = t.repo.registry().db.conn().unwrap();
        c.execute(
            "UPDATE obscore SET s_ra = s_ra + 1 WHERE registry_dataset_id IN \
             (SELECT registry_dataset_id FROM obscore ORDER BY registry_dataset_id LIMIT 1)",
            &[],
        )
        .unwrap();
    }
    let problems = t.repo.check_obscore_table().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("in s_ra"), "{problems:?}");
    let refill_reports = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = refill_reports.clone();
    let progress: valet::obscore_api::RowsProgress =
        std::sync::Arc::new(move |n| sink.lock().unwrap().push(n));
    assert_eq!(
        t.repo.update_obscore_table(Some(&progress)).unwrap(),
        rows as u64
    );
    let refill_reports = refill_reports.lock().unwrap().clone();
    assert!(refill_reports.len() > 2, "{refill_reports:?}");
    assert!(refill_reports.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(refill_reports.last().copied(), Some(rows as u64));
    assert_eq!(t.repo.check_obscore_table().unwrap(), Vec::<String>::new());

    // The live table (every RUN) holds the rows a search of every RUN exports.
    let config = ObsCoreConfig::from_yaml(&config_text).unwrap();
    let runs: Vec<String> = (0..shape.runs)
        .map(valet::workload::run_name)
        .chain([valet::workload::RAW_RUN.to_owned()])
        .collect();
    let mut searched = Vec::new();
    let reports = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = reports.clone();
    t.repo
        .write_obscore(
            &mut searched,
            ObsCoreFormat::Csv,
            &ObsCoreSource::search(
                &config,
                &ObsCoreExportOptions {
                    collections: runs,
                    progress: Some(std::sync::Arc::new(move |n| sink.lock().unwrap().push(n))),
                    ..Default::default()
                },
            ),
        )
        .unwrap();
    // Progress comes a chunk at a time, rising to the number of rows.
    let reports = reports.lock().unwrap().clone();
    assert!(reports.len() > 2, "{reports:?}");
    assert!(reports.windows(2).all(|w| w[0] < w[1]), "{reports:?}");
    assert_eq!(reports.last().copied(), Some(rows as u64));
    let mut live = Vec::new();
    t.repo
        .write_obscore(&mut live, ObsCoreFormat::Csv, &ObsCoreSource::Live)
        .unwrap();
    let sorted = |bytes: Vec<u8>| common::sorted_lines(&bytes);
    let live = sorted(live);
    assert_eq!(live.len(), 1 + rows);
    assert_eq!(sorted(searched), live);
}

/// A CHAINED table follows every write that changes the chain's find-first answer,
/// whichever function makes it: removing a member RUN (the datasets it shadowed come
/// back), purging a winner, unlinking a member, and defining a new member chain.
fn chained_follows_every_write(backend: Backend) {
    use valet::collections::removal::remove_runs;
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    let chain = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905";
    repo.import_files(&[data("dp02-mini/export.yaml")], &ImportOptions::default())
        .unwrap();
    let text = chained_config(chain);
    repo.enable_obscore(&text, None).unwrap();
    let clean = |what: &str| {
        assert_eq!(
            repo.check_obscore_table().unwrap(),
            Vec::<String>::new(),
            "{what}"
        )
    };
    clean("enabled");
    // The run of the issue: it shadows calexps of earlier runs.
    let run = format!("{chain}/20211200T190000Z");
    repo.registry()
        .transaction(|c, _| remove_runs(c, std::slice::from_ref(&run), true))
        .unwrap();
    clean("after remove-runs of a member");
    // Purge the winner of a data ID that another run also holds: that run's dataset
    // takes its place.
    let live = table_ids(repo);
    let mut c = repo.registry().db.conn().unwrap();
    let mut all = Vec::new();
    repo.resolver()
        .query_datasets(
            &mut c,
            &repo.registry().universe,
            &valet::collections::DatasetQuery {
                dataset_type: "calexp".into(),
                collections: vec![chain.to_string()],
                ..Default::default()
            },
            &mut |f| {
                all.push(f.dataset);
                Ok(true)
            },
        )
        .unwrap();
    drop(c);
    let r = all
        .iter()
        .find(|w| {
            live.contains(&w.id) && all.iter().any(|o| o.id != w.id && o.data_id == w.data_id)
        })
        .expect("a shadowing calexp")
        .clone();
    let winner = r.id;
    valet::prune::prune(
        repo,
        &[winner],
        &valet::prune::PruneOptions {
            purge: Some(r.run.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    clean("after a purge");
    // Unlink a member (removing a nested chain from the chain, then the chain itself).
    let nested = "2.2i/runs/DP0.2/v23_0_0_rc5/nested".to_string();
    repo.collection_chain(
        &nested,
        valet::collections::chains::ChainMode::Redefine,
        &[format!("{chain}/20211200T010000Z")],
        false,
        None,
    )
    .unwrap();
    repo.collection_chain(
        chain,
        valet::collections::chains::ChainMode::Prepend,
        std::slice::from_ref(&nested),
        false,
        None,
    )
    .unwrap();
    clean("after prepending a nested chain");
    repo.collection_chain(
        &nested,
        valet::collections::chains::ChainMode::Extend,
        &[format!("{chain}/20211200T020000Z")],
        false,
        None,
    )
    .unwrap();
    clean("after editing the nested chain");
    repo.remove_collections(std::slice::from_ref(&nested), true)
        .unwrap();
    clean("after removing the nested chain from its parent");
}

/// Raw rows written before their visits were defined have no region;
/// set-exposure-regions gives them their detector's region in a visit of their
/// exposure, which is what a refill computes, and the spatial index follows.
fn exposure_regions(backend: Backend) {
    use valet::obscore_api::ExposureRegionOptions;
    let Some(t) = new_repo(backend) else { return };
    let repo = &t.repo;
    repo.import_files(&[data("dp02-mini/export.yaml")], &ImportOptions::default())
        .unwrap();
    let text = std::fs::read_to_string(data("dp02-mini/obscore.yaml")).unwrap();
    repo.enable_obscore(&text, None).unwrap();
    let before = table_rows(repo);
    let mut c = repo.registry().db.conn().unwrap();
    let raws = c
        .execute(
            "UPDATE obscore SET s_region = NULL, s_ra = NULL, s_dec = NULL, s_fov = NULL, \
             valet_ra_min = NULL, valet_ra_max = NULL, valet_dec_min = NULL, valet_dec_max = NULL \
             WHERE dataproduct_subtype = 'lsst.raw'",
            &[],
        )
        .unwrap();
    drop(c);
    assert!(raws > 100);
    let options = ExposureRegionOptions {
        dataproduct_type: "image".into(),
        dataproduct_subtype: "lsst.raw".into(),
        instrument: None,
        exposure_column: "lsst_exposure".into(),
        detector_column: "lsst_detector".into(),
        region_columns: ["s_region", "s_ra", "s_dec", "s_fov"]
            .map(String::from)
            .into(),
        dry_run: true,
    };
    assert_eq!(repo.count_missing_exposure_regions(&options).unwrap(), raws);
    assert!(!repo.check_obscore_table().unwrap().is_empty());

    // A dry run finds every row's region and changes nothing.
    let dry = repo.set_exposure_regions(&options).unwrap();
    assert_eq!((dry.missing, dry.found, dry.updated), (raws, raws, 0));
    assert_eq!(repo.count_missing_exposure_regions(&options).unwrap(), raws);

    let done = repo
        .set_exposure_regions(&ExposureRegionOptions {
            dry_run: false,
            ..options.clone()
        })
        .unwrap();
    assert_eq!((done.updated, done.remaining), (raws, 0));
    assert_eq!(done.exposures, 30);
    assert_eq!(table_rows(repo), before);
    assert!(repo.check_obscore_table().unwrap().is_empty());
    assert_sky_index_follows(repo);

    // A column the table lacks is named.
    let err = repo
        .count_missing_exposure_regions(&ExposureRegionOptions {
            exposure_column: "exposure".into(),
            ..options
        })
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"exposure\" is not in the ObsCore table"),
        "{err}"
    );
}

on_both_backends!(
    exposure_regions,
    chained_follows_every_write,
    dp02_mini_csv,
    parquet_round_trip,
    live_table,
    chained_table,
    large_batches
);
