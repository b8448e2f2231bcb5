//! `valet obscore export`: the reference exporter's command shape.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use valet::obscore_api::{
    ExposureRegionOptions, ObsCoreConfig, ObsCoreExportOptions, ObsCoreFormat, ObsCoreSource,
    RowsProgress, SiaQuery,
};
use valet::Repo;

use crate::args::split_commas;
use crate::CliResult;

/// ObsCore commands.
#[derive(Debug, Subcommand)]
pub enum ObsCoreCommand {
    /// Export ObsCore rows of a find-first search (or the live table) to a file.
    Export(ExportArgs),
    /// Keep a live ObsCore table in the repository, maintained on every write.
    Enable {
        /// Repository.
        repo: PathBuf,
        /// ObsCore configuration (the reference's format).
        config: PathBuf,
    },
    /// Answer an IVOA SIAv2 query from the live table, as a VOTable file (the
    /// reference's `butler obscore siav2`). Values of one option are ORed, options
    /// ANDed; ranges take -Inf and +Inf.
    Siav2(Box<Siav2Args>),
    /// Give exposure rows (raws) of the live table that have no region the region
    /// of their detector in a visit of their exposure (rows written before their
    /// visits were defined), as the reference's command does.
    SetExposureRegions(SetExposureRegionsArgs),
    /// Write the distinct regions of the datasets of a type in a collection as a
    /// FITS binary table of IVOA STC-S strings (input for TOPCAT/STILTS
    /// `mocshape`), as the reference's command does.
    ExportRegions {
        /// Repository.
        repo: PathBuf,
        /// The dataset type; its most specific spatial dimension gives the regions
        /// (`visit_detector_region` for calexps, `patch` for coadds).
        dataset_type: String,
        /// The collection to search for datasets.
        collection: String,
        /// Output FITS file.
        destination: PathBuf,
        /// Only datasets this expression selects.
        #[arg(long, default_value = "")]
        r#where: String,
    },
    /// Refill the live table from the registry.
    UpdateTable {
        /// Repository.
        repo: PathBuf,
        /// List what the refill would put right (missing, stray and differing rows)
        /// and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Which rows `obscore set-exposure-regions` updates.
#[derive(Debug, Args)]
pub struct SetExposureRegionsArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Only print the count of records with missing regions.
    #[arg(long)]
    pub check: bool,
    /// Find what would change, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Dataproduct type of the exposure rows.
    #[arg(long, default_value = "image")]
    pub dataproduct_type: String,
    /// Dataproduct subtype of the exposure rows.
    #[arg(long, default_value = "lsst.raw")]
    pub dataproduct_subtype: String,
    /// Only rows of this instrument.
    #[arg(long)]
    pub instrument: Option<String>,
    /// The column holding exposure ids.
    #[arg(long, default_value = "lsst_exposure")]
    pub exposure_column: String,
    /// The column holding detector ids.
    #[arg(long, default_value = "lsst_detector")]
    pub detector_column: String,
    /// Columns that must all be NULL for a row to be updated (comma-separated,
    /// repeatable).
    #[arg(long, default_value = "s_region,s_ra,s_dec,s_fov")]
    pub region_columns: Vec<String>,
}

/// File formats of `obscore export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Comma-separated values, NULL as `\N`.
    Csv,
    /// Apache Parquet (snappy-compressed).
    Parquet,
    /// VOTable 1.4, with ObsCore's UCDs, utypes and units (of the live table).
    Votable,
}

/// A SIAv2 query.
#[derive(Debug, Args)]
pub struct Siav2Args {
    /// Repository.
    pub repo: PathBuf,
    /// Output VOTable file.
    pub destination: PathBuf,
    /// Footprints overlapping: `CIRCLE ra dec radius`, `RANGE ra1 ra2 dec1 dec2` or
    /// `POLYGON ra1 dec1 ra2 dec2 ra3 dec3 ...` (degrees).
    #[arg(long)]
    pub pos: Vec<String>,
    /// Observed during: MJD (UTC), one value or `START END`.
    #[arg(long, allow_hyphen_values = true)]
    pub time: Vec<String>,
    /// Wavelength range in metres: one value or `LOW HIGH`.
    #[arg(long, allow_hyphen_values = true)]
    pub band: Vec<String>,
    /// Exposure time range in seconds.
    #[arg(long, allow_hyphen_values = true)]
    pub exptime: Vec<String>,
    /// Field of view range (diameter, degrees).
    #[arg(long, allow_hyphen_values = true)]
    pub fov: Vec<String>,
    /// Calibration level: 0, 1, 2 or 3.
    #[arg(long)]
    pub calib: Vec<String>,
    /// Data product type (`image`, `cube`).
    #[arg(long)]
    pub dptype: Vec<String>,
    /// Data product subtype.
    #[arg(long)]
    pub dpsubtype: Vec<String>,
    /// `obs_publisher_did` of a dataset.
    #[arg(long)]
    pub id: Vec<String>,
    /// Instrument name.
    #[arg(long)]
    pub instrument: Vec<String>,
    /// Facility name.
    #[arg(long)]
    pub facility: Vec<String>,
    /// ObsCore collection (`obs_collection`).
    #[arg(long = "obs-collection")]
    pub collection: Vec<String>,
    /// Target name.
    #[arg(long)]
    pub target: Vec<String>,
    /// At most this many rows; 0 writes the columns only.
    #[arg(long)]
    pub maxrec: Option<usize>,
}

impl Siav2Args {
    /// The options as SIAv2 parameters.
    fn query(&self) -> Result<SiaQuery, String> {
        let mut q = SiaQuery::default();
        let given: [(&str, &Vec<String>); 13] = [
            ("POS", &self.pos),
            ("TIME", &self.time),
            ("BAND", &self.band),
            ("EXPTIME", &self.exptime),
            ("FOV", &self.fov),
            ("CALIB", &self.calib),
            ("DPTYPE", &self.dptype),
            ("DPSUBTYPE", &self.dpsubtype),
            ("ID", &self.id),
            ("INSTRUMENT", &self.instrument),
            ("FACILITY", &self.facility),
            ("COLLECTION", &self.collection),
            ("TARGET", &self.target),
        ];
        for (name, values) in given {
            for v in values {
                q.add(name, v).map_err(|e| e.to_string())?;
            }
        }
        q.maxrec = self.maxrec;
        Ok(q)
    }
}

/// Export ObsCore rows.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Output file.
    pub destination: PathBuf,
    /// ObsCore configuration (the reference's format).
    #[arg(long, short = 'c', required_unless_present = "live")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "parquet", ignore_case = true)]
    pub format: ExportFormat,
    /// Collections searched find-first, in order (default: the configuration's
    /// `collections`).
    #[arg(long)]
    pub collections: Vec<String>,
    /// Only these dataset types, each defined in the configuration (default: every
    /// configured one).
    #[arg(long, short = 'd')]
    pub dataset_type: Vec<String>,
    /// Only datasets matching this expression (default: the configuration's `where`).
    #[arg(long = "where", default_value = "")]
    pub where_: String,
    /// Write the repository's live ObsCore table as it stands instead of searching.
    #[arg(long, conflicts_with_all = ["config", "collections", "dataset_type", "where_"])]
    pub live: bool,
}

/// A running count of ObsCore rows on stderr, only when a person is watching.
fn row_counter(doing: &str) -> Option<indicatif::ProgressBar> {
    std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template(&format!(
                "{doing} ObsCore rows {{spinner}} {{human_pos}} ({{elapsed}})"
            ))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b
    })
}

/// Progress reports that move `counter`.
fn reporter(counter: &Option<indicatif::ProgressBar>) -> Option<RowsProgress> {
    counter.as_ref().map(|b| {
        let b = b.clone();
        let report: RowsProgress = std::sync::Arc::new(move |rows| b.set_position(rows));
        report
    })
}

/// Run a `valet obscore` command.
pub fn run(cmd: &ObsCoreCommand) -> CliResult {
    match cmd {
        ObsCoreCommand::Export(args) => export(args),
        ObsCoreCommand::Siav2(args) => {
            let query = args.query()?;
            let repo = Repo::open(&args.repo)?;
            let n = repo.export_siav2(&args.destination, &query)?;
            crate::info!("wrote {n} ObsCore row(s) to {}", args.destination.display());
            Ok(())
        }
        ObsCoreCommand::Enable { repo, config } => {
            let text = std::fs::read_to_string(config)
                .map_err(|e| format!("{}: {e}", config.display()))?;
            let repo = Repo::open(repo)?;
            let counter = row_counter("filling");
            let n = repo.enable_obscore(&text, reporter(&counter).as_ref());
            if let Some(b) = &counter {
                b.finish_and_clear();
            }
            let n = n?;
            crate::info!("ObsCore table enabled with {n} row(s)");
            Ok(())
        }
        ObsCoreCommand::SetExposureRegions(args) => set_exposure_regions(args),
        ObsCoreCommand::ExportRegions {
            repo,
            dataset_type,
            collection,
            destination,
            r#where,
        } => {
            let repo = Repo::open(repo)?;
            let n = repo.export_regions(dataset_type, collection, r#where, destination)?;
            crate::info!("Wrote {n} region(s) to {}", destination.display());
            Ok(())
        }
        ObsCoreCommand::UpdateTable { repo, dry_run } => {
            let repo = Repo::open(repo)?;
            if *dry_run {
                let problems = repo.check_obscore_table()?;
                for p in &problems {
                    crate::out!("{p}");
                }
                crate::info!(
                    "dry run: the refill would put {} row(s) right; nothing changed",
                    problems.len()
                );
                return Ok(());
            }
            let counter = row_counter("refilling");
            let n = repo.update_obscore_table(reporter(&counter).as_ref());
            if let Some(b) = &counter {
                b.finish_and_clear();
            }
            let n = n?;
            crate::info!("ObsCore table refilled with {n} row(s)");
            Ok(())
        }
    }
}

fn set_exposure_regions(args: &SetExposureRegionsArgs) -> CliResult {
    let repo = Repo::open(&args.repo)?;
    let options = ExposureRegionOptions {
        dataproduct_type: args.dataproduct_type.clone(),
        dataproduct_subtype: args.dataproduct_subtype.clone(),
        instrument: args.instrument.clone(),
        exposure_column: args.exposure_column.clone(),
        detector_column: args.detector_column.clone(),
        region_columns: split_commas(&args.region_columns),
        dry_run: args.dry_run,
    };
    if args.check {
        let n = repo.count_missing_exposure_regions(&options)?;
        crate::out!(
            "Found {n} records with missing region info for {}/{}",
            args.dataproduct_type,
            args.dataproduct_subtype
        );
        return Ok(());
    }
    let report = repo.set_exposure_regions(&options)?;
    crate::info!(
        "Found {} records ({} unique exposures) with missing regions",
        report.missing,
        report.exposures
    );
    crate::info!(
        "{} (or more) exposure records will be updated",
        report.found
    );
    if !args.dry_run && report.found > 0 {
        crate::info!("Updated {} obscore records.", report.updated);
        crate::info!(
            "{} records with missing region info remain after update",
            report.remaining
        );
    }
    Ok(())
}

fn export(args: &ExportArgs) -> CliResult {
    let config = match &args.config {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            Some(ObsCoreConfig::from_yaml(&text).map_err(|e| format!("{}: {e}", path.display()))?)
        }
        None => None,
    };
    let repo = Repo::open(&args.repo)?;
    let counter = row_counter("exporting");
    let source = match config {
        Some(config) => ObsCoreSource::Search {
            config: Box::new(config),
            options: ObsCoreExportOptions {
                collections: split_commas(&args.collections),
                dataset_types: split_commas(&args.dataset_type),
                where_: args.where_.clone(),
                progress: reporter(&counter),
            },
        },
        None => ObsCoreSource::Live,
    };
    let format = match args.format {
        ExportFormat::Csv => ObsCoreFormat::Csv,
        ExportFormat::Parquet => ObsCoreFormat::Parquet,
        ExportFormat::Votable => ObsCoreFormat::Votable,
    };
    let written = repo.export_obscore(&args.destination, format, &source);
    if let Some(b) = &counter {
        b.finish_and_clear();
    }
    let n = written?;
    crate::info!("wrote {n} ObsCore row(s) to {}", args.destination.display());
    Ok(())
}
