//! Find-first resolution on DP0.2-shaped repositories (see `valet::workload`):
//! bulk find-first of ~100k calexps through 286 RUNs, a single warm look-up through
//! the same chain, a calibration look-up at a time, and single look-ups through chains
//! of 10 to 1,000 RUNs (the answer always in the last RUN searched). SQLite always;
//! PostgreSQL too when `VALET_TEST_PG` names a server.

mod common;

use std::hint::black_box;
use std::time::Duration;

use common::{backends, repo_with};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use valet::collections::chains::{collection_chain, ChainMode};
use valet::collections::{DatasetQuery, FindRequest};
use valet::registry::{DataId, Timespan, Value};
use valet::workload::{run_name, Shape, CHAIN, INSTRUMENT};

fn did(pairs: &[(&str, i64)]) -> DataId {
    let mut d: DataId = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Value::Int(*v)))
        .collect();
    d.insert("instrument".into(), Value::from(INSTRUMENT));
    d
}

fn dp02(c: &mut Criterion) {
    for (backend, db) in backends("valet_bench_dp02") {
        let (_dir, repo) = repo_with(Shape::default(), db);
        let u = repo.registry().universe.clone();
        let chain = vec![CHAIN.to_owned()];
        let mut n = 0u64;
        {
            let mut conn = repo.registry().db.conn().unwrap();
            repo.resolver()
                .query_datasets(
                    &mut conn,
                    &u,
                    &DatasetQuery {
                        dataset_type: "calexp".into(),
                        collections: chain.clone(),
                        find_first: true,
                        ..Default::default()
                    },
                    &mut |_| {
                        n += 1;
                        Ok(true)
                    },
                )
                .unwrap();
        }
        let mut g = c.benchmark_group(format!("find_first/{backend}"));
        g.sample_size(10).measurement_time(Duration::from_secs(10));
        g.throughput(Throughput::Elements(n));
        g.bench_function(format!("bulk_{n}_calexps_286_runs"), |b| {
            let mut conn = repo.registry().db.conn().unwrap();
            b.iter(|| {
                let mut k = 0u64;
                repo.resolver()
                    .query_datasets(
                        &mut conn,
                        &u,
                        &DatasetQuery {
                            dataset_type: "calexp".into(),
                            collections: chain.clone(),
                            find_first: true,
                            ..Default::default()
                        },
                        &mut |f| {
                            black_box(&f);
                            k += 1;
                            Ok(true)
                        },
                    )
                    .unwrap();
                assert_eq!(k, n);
            })
        });
        g.finish();

        let mut g = c.benchmark_group(format!("find_dataset/{backend}"));
        g.sample_size(50).measurement_time(Duration::from_secs(5));
        let calexp = did(&[("detector", 100), ("visit", 3)]);
        g.bench_function("calexp_286_runs_warm", |b| {
            let mut conn = repo.registry().db.conn().unwrap();
            b.iter(|| {
                let f = repo
                    .resolver()
                    .find_dataset(
                        &mut conn,
                        &u,
                        &FindRequest {
                            dataset_type: "calexp",
                            data_id: &calexp,
                            collections: &chain,
                            timespan: None,
                            as_of: None,
                        },
                    )
                    .unwrap();
                assert!(f.is_some());
            })
        });
        let bias = did(&[("detector", 7)]);
        let calib = vec!["LSSTCam-imSim/calib".to_owned()];
        let at = 1_640_995_200_000_000_000 + 3_600_000_000_000;
        g.bench_function("bias_at_time_warm", |b| {
            let mut conn = repo.registry().db.conn().unwrap();
            b.iter(|| {
                let f = repo
                    .resolver()
                    .find_dataset(
                        &mut conn,
                        &u,
                        &FindRequest {
                            dataset_type: "bias",
                            data_id: &bias,
                            collections: &calib,
                            timespan: Some(Timespan::new(Some(at), Some(at))),
                            as_of: None,
                        },
                    )
                    .unwrap();
                assert!(f.is_some());
            })
        });
        g.finish();
    }
}

fn chain_length(c: &mut Criterion) {
    for (backend, db) in backends("valet_bench_chains") {
        // 1,000 RUNs of one visit each; chain N lists the N oldest, newest first, so
        // the visit-0 calexp is always found in the last RUN searched.
        let shape = Shape {
            detectors: 2,
            visits: 1000,
            runs: 1000,
            reprocessed_percent: 0,
        };
        let (_dir, repo) = repo_with(shape, db);
        let u = repo.registry().universe.clone();
        let lengths = [10i64, 100, 286, 1000];
        for &len in &lengths {
            let kids: Vec<String> = (0..len).rev().map(run_name).collect();
            repo.registry()
                .transaction(|conn, _| {
                    collection_chain(
                        conn,
                        &format!("curve/{len}"),
                        ChainMode::Redefine,
                        &kids,
                        false,
                        None,
                    )
                })
                .unwrap();
        }
        let target = did(&[("detector", 1), ("visit", 0)]);
        let mut g = c.benchmark_group(format!("find_dataset_chain_length/{backend}"));
        g.sample_size(50).measurement_time(Duration::from_secs(4));
        for &len in &lengths {
            let chain = vec![format!("curve/{len}")];
            g.bench_with_input(BenchmarkId::from_parameter(len), &len, |b, _| {
                let mut conn = repo.registry().db.conn().unwrap();
                b.iter(|| {
                    let f = repo
                        .resolver()
                        .find_dataset(
                            &mut conn,
                            &u,
                            &FindRequest {
                                dataset_type: "calexp",
                                data_id: &target,
                                collections: &chain,
                                timespan: None,
                                as_of: None,
                            },
                        )
                        .unwrap()
                        .expect("found");
                    assert_eq!(f.dataset.run, run_name(0));
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, dp02, chain_length);
criterion_main!(benches);
