//! `valet generate-sample`: write a DP0.2-shaped Butler export to try valet on.

use std::path::PathBuf;

use clap::Args;
use valet::workload::{write_sample, Shape};

use crate::CliResult;

/// Write a DP0.2-shaped sample export (`DIRECTORY/export.yaml`).
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// Directory to write `export.yaml` into (created if missing).
    pub directory: PathBuf,
    /// Number of detectors.
    #[arg(long, default_value_t = 189)]
    pub detectors: i64,
    /// Number of visits (one exposure each).
    #[arg(long, default_value_t = 50)]
    pub visits: i64,
    /// Number of processing RUNs in the chain.
    #[arg(long, default_value_t = 286)]
    pub runs: i64,
    /// Percentage of calexp data IDs processed again in a later RUN.
    #[arg(long, default_value_t = 10)]
    pub reprocessed_percent: i64,
    /// Also write the raws as FITS files (DIRECTORY/raws/), one per exposure and
    /// detector, for `register-instrument LSSTCam-imSim` and `ingest-raws`.
    #[arg(long)]
    pub raws: bool,
}

/// Run `valet generate-sample`.
pub fn generate_sample(args: &SampleArgs) -> CliResult {
    if args.detectors < 1
        || args.visits < 1
        || args.runs < 1
        || !(0..=100).contains(&args.reprocessed_percent)
    {
        return Err(
            "--detectors, --visits and --runs must be at least 1, --reprocessed-percent 0 to 100"
                .into(),
        );
    }
    let shape = Shape {
        detectors: args.detectors,
        visits: args.visits,
        runs: args.runs,
        reprocessed_percent: args.reprocessed_percent,
    };
    let path = write_sample(&args.directory, &shape)?;
    eprintln!("wrote {}", path.display());
    if args.raws {
        let dir = args.directory.join("raws");
        let files = valet::sample_raws::write_raws(&dir, &shape)?;
        eprintln!("wrote {} raw file(s) under {}", files.len(), dir.display());
    }
    Ok(())
}
