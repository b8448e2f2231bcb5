//! Ingest of many small files: 100k raws (189 detectors × 530 exposures) with
//! `-t symlink` and `-t copy`, each into a fresh repository; prints files per second.
//!
//!     cargo run --release --example ingest_at_scale [EXPOSURES]

use std::time::Instant;

use valet::datastore_crate::TransferMode;
use valet::ingest::FileToIngest;
use valet::registry::{IdGenerationMode, Value};
use valet::workload::{insert_dimension_records, Shape, INSTRUMENT};
use valet::{CreateOptions, Repo};

fn repo_with_records(
    dir: &std::path::Path,
    exposures: i64,
    detectors: i64,
) -> Result<Repo, Box<dyn std::error::Error>> {
    let repo = Repo::create(dir, &CreateOptions::default())?;
    let shape = Shape {
        detectors,
        visits: exposures,
        runs: 1,
        reprocessed_percent: 0,
    };
    insert_dimension_records(&repo, &shape, false)?;
    repo.registry().register_dataset_type(
        "raw",
        "Exposure",
        &["instrument".into(), "exposure".into(), "detector".into()],
        false,
    )?;
    Ok(repo)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let exposures: i64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(530);
    let detectors = 189i64;
    let work = tempfile::tempdir()?;
    let source = work.path().join("incoming");
    std::fs::create_dir_all(&source)?;
    let mut files = Vec::new();
    for e in 0..exposures {
        for d in 0..detectors {
            let path = source.join(format!("raw_{e}_{d}.fits"));
            std::fs::write(&path, format!("raw {e} {d}"))?;
            let data_id = [
                ("instrument".to_owned(), Value::from(INSTRUMENT)),
                ("exposure".to_owned(), Value::Int(e)),
                ("detector".to_owned(), Value::Int(d)),
            ]
            .into_iter()
            .collect();
            files.push(FileToIngest {
                path,
                data_id,
                id: None,
            });
        }
    }
    // `direct` writes nothing under the root (it still reads each file for its
    // checksum): the registry and bookkeeping rate without the filesystem's cost of
    // creating links and files.
    for (name, mode) in [
        ("direct", TransferMode::Direct),
        ("symlink", TransferMode::Symlink),
        ("copy", TransferMode::Copy),
    ] {
        let repo = repo_with_records(&work.path().join(name), exposures, detectors)?;
        let start = Instant::now();
        let refs = repo.ingest_files(
            "raw",
            "LSSTCam-imSim/raw/all",
            &files,
            mode,
            IdGenerationMode::DataIdTypeRun,
        )?;
        let secs = start.elapsed().as_secs_f64();
        println!(
            "-t {name}: {} files in {secs:.2} s = {:.0} files/s",
            refs.len(),
            refs.len() as f64 / secs
        );
    }
    Ok(())
}
