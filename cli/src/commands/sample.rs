//! `valet generate-sample`: write a DP0.2-shaped Butler export to try valet on.

use std::io::BufWriter;
use std::path::PathBuf;

use clap::Args;
use valet::workload::{generate, Shape};

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
    let model = generate(&Shape {
        detectors: args.detectors,
        visits: args.visits,
        runs: args.runs,
        reprocessed_percent: args.reprocessed_percent,
    });
    std::fs::create_dir_all(&args.directory)
        .map_err(|e| format!("{}: {e}", args.directory.display()))?;
    let path = args.directory.join("export.yaml");
    let file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = BufWriter::new(file);
    valet::transfers::write_export(&model, &mut out)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    std::io::Write::flush(&mut out).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
