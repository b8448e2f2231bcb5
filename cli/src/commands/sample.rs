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
    /// Also write raws as FITS files: the sample's (DIRECTORY/raws/LSSTCam-imSim/, one
    /// per exposure and detector) and a few DECam- and HSC-shaped ones
    /// (DIRECTORY/raws/DECam/, DIRECTORY/raws/HSC/), for `register-instrument` and
    /// `ingest-raws`.
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
    crate::info!("wrote {}", path.display());
    if args.raws {
        let dir = args.directory.join("raws");
        let (exposures, detectors) = (args.visits.min(3), args.detectors.min(8));
        let sample = valet::sample_raws::write_raws(&dir.join("LSSTCam-imSim"), &shape)?;
        let decam = valet::sample_raws::write_decam_raws(&dir.join("DECam"), exposures, detectors)?;
        let hsc = valet::sample_raws::write_hsc_raws(&dir.join("HSC"), exposures, detectors)?;
        crate::info!(
            "wrote {} LSSTCam-imSim, {} DECam and {} HSC raw file(s) under {}",
            sample.len(),
            decam.len(),
            hsc.len(),
            dir.display()
        );
    }
    Ok(())
}
