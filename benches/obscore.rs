//! ObsCore export from a find-first search of the DP0.2-shaped sample (raws and
//! calexps through 286 RUNs, each with its detector region): Parquet and CSV, rows
//! per second. SQLite always; PostgreSQL too when `VALET_TEST_PG` names a server.
//! `examples/obscore_at_scale.rs` runs the same at a million rows.

mod common;

use std::time::Duration;

use common::{backends, repo_with};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use valet::obscore::ObsCoreConfig;
use valet::obscore_api::{ObsCoreExportOptions, ObsCoreFormat, ObsCoreSource};
use valet::workload::{Shape, CHAIN};

fn obscore(c: &mut Criterion) {
    let config = ObsCoreConfig::from_yaml(include_str!("../examples/obscore-dp02.yaml"))
        .expect("example configuration");
    let options = ObsCoreExportOptions {
        collections: vec![CHAIN.to_owned()],
        ..Default::default()
    };
    for (backend, db) in backends("valet_bench_obscore") {
        let (_dir, repo) = repo_with(Shape::default(), db);
        let rows = repo
            .write_obscore(
                &mut std::io::sink(),
                ObsCoreFormat::Csv,
                &ObsCoreSource::search(&config, &options),
            )
            .expect("export");
        let mut group = c.benchmark_group("obscore_export");
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(10));
        group.throughput(Throughput::Elements(rows));
        group.bench_function(format!("{backend}/parquet"), |b| {
            b.iter(|| {
                let n = repo
                    .write_obscore(
                        &mut std::io::sink(),
                        ObsCoreFormat::Parquet,
                        &ObsCoreSource::search(&config, &options),
                    )
                    .expect("export");
                assert_eq!(n, rows);
            })
        });
        group.bench_function(format!("{backend}/csv"), |b| {
            b.iter(|| {
                let n = repo
                    .write_obscore(
                        &mut std::io::sink(),
                        ObsCoreFormat::Csv,
                        &ObsCoreSource::search(&config, &options),
                    )
                    .expect("export");
                assert_eq!(n, rows);
            })
        });
        group.finish();
    }
}

criterion_group!(benches, obscore);
criterion_main!(benches);
