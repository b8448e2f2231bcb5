//! Bulk dataset insertion: 100k raws (189 detectors × 530 exposures) into a fresh RUN
//! per iteration, on SQLite and, when `VALET_TEST_PG` names a server, PostgreSQL.

mod common;

use std::time::{Duration, Instant};

use common::{backends, empty_repo};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use valet::registry::{CollectionType, DataId, IdGenerationMode, NewDataset, Value};
use valet::workload::{insert_dimension_records, Shape};
use valet::Repo;

const DETECTORS: i64 = 189;
const EXPOSURES: i64 = 530;

fn setup(db: Option<String>) -> (tempfile::TempDir, Repo, Vec<NewDataset>) {
    let (dir, repo) = empty_repo(db);
    let r = repo.registry();
    let shape = Shape {
        detectors: DETECTORS,
        visits: EXPOSURES,
        runs: 1,
        reprocessed_percent: 0,
    };
    insert_dimension_records(&repo, &shape, false).unwrap();
    r.register_dataset_type(
        "raw",
        "Exposure",
        &["instrument".into(), "exposure".into(), "detector".into()],
        false,
    )
    .unwrap();
    let items: Vec<NewDataset> = (0..EXPOSURES)
        .flat_map(|e| {
            (0..DETECTORS).map(move |d| NewDataset {
                id: None,
                data_id: DataId::from([
                    ("instrument".to_string(), Value::from("LSSTCam-imSim")),
                    ("exposure".to_string(), Value::Int(e)),
                    ("detector".to_string(), Value::Int(d)),
                ]),
            })
        })
        .collect();
    (dir, repo, items)
}

fn bench_backend(c: &mut Criterion, name: &str, db: Option<String>) {
    let (_dir, repo, items) = setup(db);
    let mut group = c.benchmark_group("insert_datasets");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(items.len() as u64));
    let mut n = 0;
    group.bench_function(format!("{name}/100k_raws"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                let run = format!("LSSTCam-imSim/raw/bench{n}");
                repo.registry()
                    .register_collection(&run, CollectionType::Run, None)
                    .unwrap();
                let start = Instant::now();
                repo.registry()
                    .insert_datasets("raw", &run, &items, IdGenerationMode::Unique)
                    .unwrap();
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
}

fn insert(c: &mut Criterion) {
    for (backend, db) in backends("valet_bench_insert") {
        bench_backend(c, backend, db);
    }
}

criterion_group!(benches, insert);
criterion_main!(benches);
