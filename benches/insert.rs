//! Bulk dataset insertion: 100k raws (189 detectors × 530 exposures) into a fresh RUN
//! per iteration, on SQLite and, when `VALET_TEST_PG` names a server, PostgreSQL.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use valet::registry::{CollectionType, DataId, IdGenerationMode, NewDataset, Record, Value};
use valet::{CreateOptions, Repo};

const DETECTORS: i64 = 189;
const EXPOSURES: i64 = 530;

fn rec(pairs: &[(&str, Value)]) -> Record {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn setup(db: Option<String>) -> (tempfile::TempDir, Repo, Vec<NewDataset>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repo::create(
        &dir.path().join("repo"),
        &CreateOptions {
            db,
            dimension_config: None,
            identity: None,
        },
    )
    .expect("create");
    let r = &repo.registry;
    r.insert_dimension_records(
        "instrument",
        &[rec(&[("name", "LSSTCam-imSim".into())])],
        false,
    )
    .unwrap();
    r.insert_dimension_records(
        "physical_filter",
        &[rec(&[
            ("instrument", "LSSTCam-imSim".into()),
            ("name", "i_sim_1.4".into()),
            ("band", "i".into()),
        ])],
        false,
    )
    .unwrap();
    let detectors: Vec<Record> = (0..DETECTORS)
        .map(|d| {
            rec(&[
                ("instrument", "LSSTCam-imSim".into()),
                ("id", d.into()),
                ("full_name", format!("D{d}").into()),
            ])
        })
        .collect();
    r.insert_dimension_records("detector", &detectors, false)
        .unwrap();
    let exposures: Vec<Record> = (0..EXPOSURES)
        .map(|e| {
            rec(&[
                ("instrument", "LSSTCam-imSim".into()),
                ("id", e.into()),
                ("obs_id", format!("e{e}").into()),
                ("physical_filter", "i_sim_1.4".into()),
            ])
        })
        .collect();
    r.insert_dimension_records("exposure", &exposures, false)
        .unwrap();
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
                repo.registry
                    .register_collection(&run, CollectionType::Run, None)
                    .unwrap();
                let start = Instant::now();
                repo.registry
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
    bench_backend(c, "sqlite", None);
    if let Ok(admin) = std::env::var("VALET_TEST_PG") {
        let mut client = postgres::Client::connect(&admin, postgres::NoTls).expect("connect");
        client
            .batch_execute("DROP DATABASE IF EXISTS valet_bench_insert")
            .unwrap();
        client
            .batch_execute("CREATE DATABASE valet_bench_insert")
            .unwrap();
        let base = admin
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(&admin)
            .to_owned();
        bench_backend(c, "postgres", Some(format!("{base}/valet_bench_insert")));
    }
}

criterion_group!(benches, insert);
criterion_main!(benches);
