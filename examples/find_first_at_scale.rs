//! Bulk find-first at DP0.2 scale: ~2.8M calexps (189 detectors × 15,000 visits) in
//! 286 RUNs chained newest first, ~10% re-processed. Prints the time of a streaming
//! find-first pass and the process's peak memory.
//!
//!     cargo run --release --example find_first_at_scale [VISITS]
//!
//! With `VALET_DB=postgresql://…` (an empty database) the registry is on PostgreSQL.

use std::time::Instant;

use valet::collections::chains::{collection_chain, ChainMode};
use valet::collections::DatasetQuery;
use valet::registry::{CollectionType, DataId, IdGenerationMode, NewDataset, Value};
use valet::workload::{insert_dimension_records, run_name, Shape, CHAIN, INSTRUMENT};
use valet::{CreateOptions, Repo};

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let visits: i64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(15_000);
    let (detectors, runs) = (189i64, 286i64);
    let dir = tempfile::tempdir()?;
    let repo = Repo::create(
        &dir.path().join("repo"),
        &CreateOptions {
            db: std::env::var("VALET_DB").ok(),
            ..Default::default()
        },
    )?;
    let r = repo.registry();
    insert_dimension_records(
        &repo,
        &Shape {
            detectors,
            visits,
            runs,
            reprocessed_percent: 0,
        },
        false,
    )?;
    r.register_dataset_type(
        "calexp",
        "ExposureF",
        &["instrument".into(), "detector".into(), "visit".into()],
        false,
    )?;
    let start = Instant::now();
    let per_run = (visits + runs - 1) / runs;
    let mut total = 0usize;
    for k in 0..runs {
        let run = run_name(k);
        r.register_collection(&run, CollectionType::Run, None)?;
        let mut items = Vec::new();
        for v in (k * per_run)..((k + 1) * per_run).min(visits) {
            for d in 0..detectors {
                items.push(NewDataset {
                    id: None,
                    data_id: data_id(d, v),
                });
            }
        }
        // ~10% of the previous run's data IDs are processed again here.
        if k > 0 {
            for v in ((k - 1) * per_run)..(k * per_run).min(visits) {
                for d in (0..detectors).filter(|d| (v * detectors + d) % 10 == 0) {
                    items.push(NewDataset {
                        id: None,
                        data_id: data_id(d, v),
                    });
                }
            }
        }
        total += items.len();
        r.insert_datasets("calexp", &run, &items, IdGenerationMode::Unique)?;
    }
    let kids: Vec<String> = (0..runs).rev().map(run_name).collect();
    r.transaction(|c, _| collection_chain(c, CHAIN, ChainMode::Redefine, &kids, false, None))?;
    eprintln!(
        "inserted {total} calexps in {runs} runs in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let rss_before = peak_rss_mib();

    let mut conn = r.db.conn()?;
    for pass in 0..3 {
        let start = Instant::now();
        let mut n = 0u64;
        repo.resolver().query_datasets(
            &mut conn,
            &r.universe,
            &DatasetQuery {
                dataset_type: "calexp".into(),
                collections: vec![CHAIN.into()],
                find_first: true,
                ..Default::default()
            },
            &mut |f| {
                std::hint::black_box(&f);
                n += 1;
                Ok(true)
            },
        )?;
        println!(
            "pass {pass}: find-first of {n} calexps through {runs} runs: {:.3} s",
            start.elapsed().as_secs_f64()
        );
    }
    println!(
        "peak RSS: {:.0} MiB (after the inserts: {:.0} MiB)",
        peak_rss_mib().unwrap_or(f64::NAN),
        rss_before.unwrap_or(f64::NAN)
    );
    Ok(())
}

fn data_id(d: i64, v: i64) -> DataId {
    [
        ("instrument".to_owned(), Value::from(INSTRUMENT)),
        ("detector".to_owned(), Value::Int(d)),
        ("visit".to_owned(), Value::Int(v)),
    ]
    .into_iter()
    .collect()
}
