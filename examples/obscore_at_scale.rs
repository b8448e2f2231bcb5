//! ObsCore export at scale: ~1M calexps (189 detectors × 5,300 visits, each with a
//! detector region), exported to Parquet and CSV from a find-first search; prints
//! rows per second and extrapolates to DP0.2's 8.5M rows.
//!
//!     cargo run --release --example obscore_at_scale [VISITS] [KEEP_REPO_DIR]
//!
//! With KEEP_REPO_DIR the repository is created there and kept, so that
//! `valet obscore export` can be measured on it in a fresh process (this process's
//! peak memory is mostly the set-up's).

use std::time::Instant;

use valet::obscore::ObsCoreConfig;
use valet::obscore_api::{ObsCoreExportOptions, ObsCoreFormat, ObsCoreSource};
use valet::registry::{CollectionType, DataId, IdGenerationMode, NewDataset, Value};
use valet::workload::{insert_dimension_records, Shape, INSTRUMENT};
use valet::{CreateOptions, Repo};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let visits: i64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(5_300);
    let keep = std::env::args().nth(2).map(std::path::PathBuf::from);
    let detectors = 189i64;
    let dir = tempfile::tempdir()?;
    let repo_dir = keep.unwrap_or_else(|| dir.path().join("repo"));
    let repo = Repo::create(&repo_dir, &CreateOptions::default())?;
    let r = repo.registry();
    insert_dimension_records(
        &repo,
        &Shape {
            detectors,
            visits,
            runs: 1,
            reprocessed_percent: 0,
        },
        true,
    )?;
    r.register_dataset_type(
        "calexp",
        "ExposureF",
        &["instrument".into(), "detector".into(), "visit".into()],
        false,
    )?;
    let run = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905/20211200T000000Z";
    r.register_collection(run, CollectionType::Run, None)?;
    let items: Vec<NewDataset> = (0..visits)
        .flat_map(|v| {
            (0..detectors).map(move |d| NewDataset {
                id: None,
                data_id: DataId::from([
                    ("instrument".to_owned(), Value::from(INSTRUMENT)),
                    ("detector".to_owned(), Value::Int(d)),
                    ("visit".to_owned(), Value::Int(v)),
                ]),
            })
        })
        .collect();
    r.insert_datasets("calexp", run, &items, IdGenerationMode::Unique)?;
    let config = ObsCoreConfig::from_yaml(include_str!("obscore-dp02.yaml"))?;
    let options = ObsCoreExportOptions {
        collections: vec![run.to_owned()],
        ..Default::default()
    };

    let start = Instant::now();
    let mut out =
        std::io::BufWriter::new(std::fs::File::create(dir.path().join("obscore.parquet"))?);
    let n = repo.write_obscore(
        &mut out,
        ObsCoreFormat::Parquet,
        &ObsCoreSource::search(&config, &options),
    )?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "Parquet: {n} rows in {secs:.2} s = {:.0} rows/s; 8.5M rows would take ~{:.0} s",
        n as f64 / secs,
        8.5e6 / (n as f64 / secs),
    );
    let start = Instant::now();
    let mut out = std::io::BufWriter::new(std::fs::File::create(dir.path().join("obscore.csv"))?);
    let n = repo.write_obscore(
        &mut out,
        ObsCoreFormat::Csv,
        &ObsCoreSource::search(&config, &options),
    )?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "CSV: {n} rows in {secs:.2} s = {:.0} rows/s",
        n as f64 / secs
    );
    Ok(())
}
