//! Import with the live ObsCore table enabled against import without it: a
//! DP0.2-shaped export (189 detectors × VISITS visits, raws and calexps through 286
//! RUNs, one chain) imported registry-only into two fresh repositories; prints both
//! times and their ratio. SQLite always; PostgreSQL too when `VALET_TEST_PG` names a
//! server.
//!
//!     cargo run --release --example import_obscore_at_scale [VISITS]

#[path = "../benches/common/mod.rs"]
mod common;

use std::time::Instant;

use valet::transfers::{write_export, ImportOptions};
use valet::workload::{generate, Shape};
use valet::{CreateOptions, Repo};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let visits: i64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(530);
    let dir = tempfile::tempdir()?;
    let export = dir.path().join("export.yaml");
    let model = generate(&Shape {
        detectors: 189,
        visits,
        runs: 286,
        reprocessed_percent: 10,
    });
    let mut out = std::io::BufWriter::new(std::fs::File::create(&export)?);
    write_export(&model, &mut out)?;
    std::io::Write::flush(&mut out)?;
    drop(out);
    let megabytes = std::fs::metadata(&export)?.len() as f64 / 1e6;

    let import = |name: &str,
                  db: Option<String>,
                  obscore: bool|
     -> Result<(f64, u64), Box<dyn std::error::Error>> {
        let repo = Repo::create(
            &dir.path().join(name),
            &CreateOptions {
                db,
                ..Default::default()
            },
        )?;
        if obscore {
            // The live table's types are registered first, as enabling requires.
            let types = (model.dataset_types_only(), "types".to_string());
            valet::transfers::import_export(&repo, &[types], &ImportOptions::default())?;
            repo.enable_obscore(include_str!("obscore-dp02.yaml"), None)?;
        }
        let start = Instant::now();
        let summary =
            repo.import_files(std::slice::from_ref(&export), &ImportOptions::default())?;
        let secs = start.elapsed().as_secs_f64();
        let rows = if obscore {
            repo.check_obscore_table()?
                .is_empty()
                .then_some(summary.datasets as u64)
                .ok_or("the live table disagrees with the registry")?
        } else {
            0
        };
        Ok((secs, rows))
    };
    for (backend, _) in common::backends("valet_example_plain") {
        let db = |name: &str| {
            (backend == "postgres")
                .then(|| common::pg_database(name))
                .flatten()
        };
        let (plain, _) = import(
            &format!("{backend}-plain"),
            db("valet_example_plain"),
            false,
        )?;
        let (live, rows) = import(&format!("{backend}-live"), db("valet_example_live"), true)?;
        println!(
            "{backend}: import of a {megabytes:.0} MB export: {plain:.2} s without ObsCore, \
             {live:.2} s with the live table ({rows} rows checked) = {:.2}x",
            live / plain
        );
    }
    Ok(())
}
