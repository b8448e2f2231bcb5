//! `ingest-raws` of the sample's FITS raws (DETECTORS × EXPOSURES; 189 × 53 = 10,017
//! by default) with `-t direct` and `-t copy`, each into a fresh repository: headers
//! read and translated, exposure records, datasets and files written. Prints files
//! per second, the header-reading share on its own, and the time `define-visits`
//! takes for all the exposures (regions from every raw's WCS).
//!
//!     cargo run --release --example ingest_raws_at_scale [EXPOSURES] [DETECTORS] [THREADS]

use std::time::Instant;

use valet::raws::IngestRawsOptions;
use valet::workload::Shape;
use valet::{CreateOptions, Repo, TransferMode};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let exposures: i64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(53);
    let detectors: i64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(189);
    let threads: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(0);
    let work = tempfile::tempdir()?;
    let raws = work.path().join("raws");
    let shape = Shape {
        detectors,
        visits: exposures,
        runs: 1,
        reprocessed_percent: 0,
    };
    let start = Instant::now();
    let files = valet::sample_raws::write_raws(&raws, &shape)?;
    println!(
        "wrote {} raws in {:.2} s",
        files.len(),
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    for f in &files {
        valet_fits::read_headers(f)?;
    }
    let read = start.elapsed().as_secs_f64();
    println!(
        "headers alone, one thread: {:.0} files/s",
        files.len() as f64 / read
    );
    for mode in [TransferMode::Direct, TransferMode::Copy] {
        let root = work.path().join(format!("repo-{mode:?}"));
        let repo = Repo::create(&root, &CreateOptions::default())?;
        repo.register_instrument_from("LSSTCam-imSim", false)?;
        let options = IngestRawsOptions {
            transfer: mode,
            threads,
            ..Default::default()
        };
        let start = Instant::now();
        let s = repo.ingest_raws(std::slice::from_ref(&raws), &options)?;
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(s.raws, files.len());
        println!(
            "ingest-raws -t {mode:?}: {} raws, {} exposures in {secs:.2} s: {:.0} files/s",
            s.raws,
            s.exposures,
            files.len() as f64 / secs
        );
        let start = Instant::now();
        let again = repo.ingest_raws(std::slice::from_ref(&raws), &options)?;
        assert_eq!(again.skipped, files.len());
        println!("  again (a no-op): {:.2} s", start.elapsed().as_secs_f64());
        if mode == TransferMode::Direct {
            let start = Instant::now();
            let v = repo.define_visits("LSSTCam-imSim", &Default::default())?;
            let secs = start.elapsed().as_secs_f64();
            println!(
                "define-visits: {} visits from {} exposures in {secs:.2} s: {:.0} exposures/s",
                v.inserted,
                v.exposures,
                v.exposures as f64 / secs
            );
        }
    }
    Ok(())
}
