//! `valet import` and `valet export`.

use std::path::PathBuf;

use clap::Args;
use valet::ingest::IngestTableOptions;
use valet::retrieve::RetrieveOptions;
use valet::transfers::{ImportOptions, TransferOptions};
use valet::{IdGenerationMode, Repo, TransferMode};

use crate::args::{split_commas, TRANSFER_MODES};
use crate::CliResult;

/// Import one or more Butler export files.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Directory holding the export file(s) and their files.
    pub directory: PathBuf,
    /// Export file(s) or globs of them, relative to DIRECTORY unless absolute;
    /// repeat to restore a set (`'calexp/_export_*.yaml'` …) in one transaction, in
    /// whatever order the files need. Default: export.yaml.
    #[arg(long)]
    pub export_file: Vec<String>,
    /// Dimension elements whose records are not imported.
    #[arg(long, short = 's')]
    pub skip_dimensions: Vec<String>,
    /// Record datasets only; no files are transferred.
    #[arg(long)]
    pub registry_only: bool,
    /// Transfer mode for the files.
    #[arg(long, short = 't', default_value = "auto", value_parser = TRANSFER_MODES, ignore_case = true)]
    pub transfer: String,
    /// Also read files the export lists outside DIRECTORY (absolute paths, symlinks
    /// leading out); without it they are refused unless `-t direct`.
    #[arg(long)]
    pub allow_outside: bool,
}

/// Run `valet import`.
pub fn import(args: &ImportArgs) -> CliResult {
    let repo = crate::target::Target::open(&args.repo)?;
    let transfer = if args.registry_only {
        None
    } else {
        Some(args.transfer.parse::<TransferMode>()?)
    };
    let bar =
        crate::output::progress_bar("importing {bar:40} {pos}/{len} records and datasets ({eta})");
    let summary = repo.import_directory(
        &args.directory,
        &args.export_file,
        &ImportOptions {
            skip_dimensions: split_commas(&args.skip_dimensions),
            transfer,
            directory: None,
            allow_outside: args.allow_outside,
            progress: crate::output::progress_reports(&bar),
        },
    );
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    crate::info!("imported {}", describe_summary(&summary?));
    Ok(())
}

/// What an import (or an adoption) wrote, for its closing line.
pub fn describe_summary(summary: &valet::transfers::ImportSummary) -> String {
    format!(
        "{} dataset(s), {} file(s), {} collection(s), {} dataset type(s), {} dimension record(s), {} association(s), {} validity range(s)",
        summary.datasets,
        summary.files,
        summary.collections,
        summary.dataset_types,
        summary.dimension_records,
        summary.associations,
        summary.validity_ranges
    )
}

/// Export collections and their datasets as a Butler export file.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Directory to write `export.yaml` into (created if missing).
    pub directory: PathBuf,
    /// Collections (names or globs) to export, with everything their chains reach;
    /// default: all.
    #[arg(long, short = 'c')]
    pub collections: Vec<String>,
    /// Dataset types (names or globs); default: all.
    #[arg(long, short = 'd')]
    pub dataset_type: Vec<String>,
    /// Only datasets matching this expression.
    #[arg(long = "where", default_value = "")]
    pub where_: String,
    /// How files are put into DIRECTORY (copy, link, hardlink, symlink, relsymlink);
    /// without it only `export.yaml` is written.
    #[arg(long, short = 't')]
    pub transfer: Option<String>,
}

/// Run `valet export`.
pub fn export(args: &ExportArgs) -> CliResult {
    let repo = Repo::open(&args.repo)?;
    let mode = args
        .transfer
        .as_deref()
        .map(str::parse::<TransferMode>)
        .transpose()?;
    let summary = repo.export(
        &args.directory,
        &valet::transfers::ExportOptions {
            collections: split_commas(&args.collections),
            dataset_types: split_commas(&args.dataset_type),
            where_: args.where_.clone(),
            ..Default::default()
        },
        mode,
    )?;
    if mode.is_some() {
        crate::info!(
            "wrote {} and {} file(s)",
            summary.export_file.display(),
            summary.files
        );
    } else {
        crate::info!("wrote {}", summary.export_file.display());
    }
    Ok(())
}

/// Ingest files listed in a table as new datasets.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Dataset type of the new datasets.
    pub dataset_type: String,
    /// RUN to put them in (registered if missing).
    pub run: String,
    /// CSV or ECSV table: the file, then dimension columns.
    pub table_file: PathBuf,
    /// Dimension values shared by every row, as DIMENSION=VALUE.
    #[arg(long)]
    pub data_id: Vec<String>,
    /// Directory that relative file names are under (default: the working directory).
    #[arg(long)]
    pub prefix: Option<PathBuf>,
    /// Formatter to record for the files (a Python class name), instead of the one
    /// their storage class implies.
    #[arg(long)]
    pub formatter: Option<String>,
    /// Record each file's checksum as well as its size (the default).
    #[arg(long, overrides_with = "no_track_file_attrs")]
    pub track_file_attrs: bool,
    /// Record only each file's size: files are not read again to store them.
    #[arg(long)]
    pub no_track_file_attrs: bool,
    /// Transfer mode.
    #[arg(long, short = 't', default_value = "auto")]
    pub transfer: String,
    /// Let relative file names lead outside the prefix (`..`, symlinks); without it
    /// they are refused.
    #[arg(long)]
    pub allow_outside: bool,
    /// How dataset ids are made.
    #[arg(long, default_value = "UNIQUE", value_parser = ["UNIQUE", "DATAID_TYPE", "DATAID_TYPE_RUN"], ignore_case = true)]
    pub id_generation_mode: String,
}

/// Run `valet ingest-files`.
pub fn ingest(args: &IngestArgs) -> CliResult {
    let repo = crate::target::Target::open(&args.repo)?;
    let options = IngestTableOptions {
        dataset_type: args.dataset_type.clone(),
        run: args.run.clone(),
        data_id: crate::args::parse_data_id(&args.data_id)?,
        prefix: args.prefix.clone(),
        allow_outside: args.allow_outside,
        transfer: args.transfer.parse()?,
        id_generation: args.id_generation_mode.parse::<IdGenerationMode>()?,
        formatter: args.formatter.clone(),
        track_file_attrs: !args.no_track_file_attrs,
    };
    let refs = repo.ingest_table(&args.table_file, &options)?;
    crate::info!("ingested {} file(s) into {}", refs.len(), args.run);
    Ok(())
}

/// Which datasets a command that moves files takes: the reference's query options
/// (`-d`, `--collections`, `--where`, `--find-first`).
#[derive(Debug, Args)]
pub struct DatasetOptions {
    /// Dataset types or globs (default: all).
    #[arg(long, short = 'd')]
    pub dataset_type: Vec<String>,
    #[command(flatten)]
    pub search: crate::commands::datasets::SearchArgs,
    /// Only the first dataset of each data ID, in collection order.
    #[arg(long)]
    pub find_first: bool,
}

impl DatasetOptions {
    /// The search these options describe.
    fn to_search(&self) -> Result<valet::queries::DatasetSearch, valet::RegistryError> {
        self.search.to_search(&self.dataset_type, self.find_first)
    }
}

/// Copy the files of datasets out of the repository.
#[derive(Debug, Args)]
pub struct RetrieveArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Destination directory.
    pub destination: PathBuf,
    #[command(flatten)]
    pub datasets: DatasetOptions,
    /// At most this many datasets; 0 all, a negative value a cap that warns.
    #[arg(long, default_value_t = -20_000, allow_negative_numbers = true)]
    pub limit: i64,
    /// Sort by these columns (prefix with '-' for descending), before the limit.
    #[arg(long, allow_hyphen_values = true)]
    pub order_by: Vec<String>,
    /// Transfer mode for the files (`auto` copies).
    #[arg(long, short = 't', default_value = "auto", value_parser = TRANSFER_MODES, ignore_case = true)]
    pub transfer: String,
    /// Keep the datastore's directory layout (the default).
    #[arg(long, overrides_with = "no_preserve_path")]
    pub preserve_path: bool,
    /// File names only.
    #[arg(long, overrides_with = "preserve_path")]
    pub no_preserve_path: bool,
    /// Overwrite files already at the destination.
    #[arg(long, overrides_with = "no_clobber")]
    pub clobber: bool,
    /// Refuse to overwrite files already there (the default).
    #[arg(long, overrides_with = "clobber")]
    pub no_clobber: bool,
    /// List every file retrieved.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Put the files in one zip with the index `butler ingest-zip` reads (`-t` and
    /// `--preserve-path` are then ignored, as in the reference).
    #[arg(long, overrides_with = "no_zip")]
    pub zip: bool,
    /// Files side by side (the default).
    #[arg(long, overrides_with = "zip")]
    pub no_zip: bool,
}

/// Run `valet retrieve-artifacts`; prints what the reference's prints.
pub fn retrieve(args: &RetrieveArgs) -> CliResult {
    let repo = crate::target::Target::open(&args.repo)?;
    let mut search = args.datasets.to_search()?;
    if search.collections.is_empty() {
        search.collections = vec!["*".into()];
    }
    let query = valet::queries::QueryDatasetsOptions {
        search,
        limit: (args.limit != 0).then_some(args.limit.unsigned_abs() as usize),
        order_by: split_commas(&args.order_by),
        ..Default::default()
    };
    let warn_if_cut = |limited: bool| {
        if limited && args.limit < 0 {
            crate::warning!(
            "Requested limit of {} hit for number of datasets returned. Use --limit to increase this limit.",
                args.limit.unsigned_abs()
            );
        }
    };
    if args.zip {
        let (zip, limited) = repo
            .local("retrieve-artifacts --zip")?
            .retrieve_artifacts_zip(&query, &args.destination, args.clobber)?;
        warn_if_cut(limited);
        match zip {
            Some(path) => println!("Zip file written to file://{}", path.display()),
            None => println!("No datasets matched query."),
        }
        return Ok(());
    }
    let (files, limited) = repo.retrieve_matching(
        &query,
        &args.destination,
        RetrieveOptions {
            preserve_path: !args.no_preserve_path,
            clobber: args.clobber,
            transfer: Some(args.transfer.parse::<TransferMode>()?),
        },
    )?;
    warn_if_cut(limited);
    let destination = args.destination.display();
    if files.is_empty() {
        println!("No datasets matched query.");
        return Ok(());
    }
    if args.verbose {
        println!("Transferred the following to {destination}:");
        for f in &files {
            println!("file://{}", f.display());
        }
        println!();
    }
    println!(
        "Number of artifacts retrieved into destination {destination}: {}",
        files.len()
    );
    Ok(())
}

/// Ingest a zip of datasets (the reference's `ingest-zip`).
#[derive(Debug, Args)]
pub struct IngestZipArgs {
    /// Repository.
    pub repo: PathBuf,
    /// The zip, as `retrieve-artifacts --zip` wrote it (valet's or the reference's).
    pub zip: PathBuf,
    /// Transfer mode, taken for the reference's command line: valet unpacks the zip's
    /// files into the datastore whatever it is, and refuses `direct`.
    #[arg(long, short = 't', default_value = "auto", value_parser = TRANSFER_MODES, ignore_case = true)]
    pub transfer: String,
    /// Insert the dimension records the zip carries (those already there are kept).
    #[arg(long, overrides_with = "no_transfer_dimensions")]
    pub transfer_dimensions: bool,
    /// Leave dimension records to other means (the default).
    #[arg(long, overrides_with = "transfer_dimensions")]
    pub no_transfer_dimensions: bool,
    /// Check the zip and say what would be ingested, changing nothing.
    #[arg(long, overrides_with = "no_dry_run")]
    pub dry_run: bool,
    /// Ingest (the default).
    #[arg(long, overrides_with = "dry_run")]
    pub no_dry_run: bool,
}

/// Run `valet ingest-zip`.
pub fn ingest_zip(args: &IngestZipArgs) -> CliResult {
    if args.transfer.parse::<TransferMode>()? == TransferMode::Direct {
        return Err("ingest-zip -t direct: valet unpacks a zip into the datastore; use another transfer mode".into());
    }
    let repo = crate::target::Target::open(&args.repo)?;
    let done = repo.ingest_zip(
        &args.zip,
        valet::artifact_zip::IngestZipOptions {
            transfer_dimensions: args.transfer_dimensions,
            dry_run: args.dry_run,
        },
    )?;
    let verb = if args.dry_run {
        "would ingest"
    } else {
        "ingested"
    };
    println!(
        "{verb} {} dataset(s), {} file(s) into {} RUN(s) from {}",
        done.datasets,
        done.files,
        done.runs.len(),
        args.zip.display()
    );
    Ok(())
}

/// Copy datasets, with their files, RUNs and dimension records, from one repository
/// into another.
#[derive(Debug, Args)]
pub struct TransferArgs {
    /// The repository the datasets come from.
    pub source: PathBuf,
    /// The repository that receives copies of them.
    pub dest: PathBuf,
    #[command(flatten)]
    pub datasets: DatasetOptions,
    /// Transfer mode for the files (`auto` copies).
    #[arg(long, short = 't', default_value = "auto", value_parser = TRANSFER_MODES, ignore_case = true)]
    pub transfer: String,
    /// Register dataset types the destination lacks.
    #[arg(long)]
    pub register_dataset_types: bool,
    /// Copy the dimension records the datasets need (the default).
    #[arg(long, overrides_with = "no_transfer_dimensions")]
    pub transfer_dimensions: bool,
    /// Do not copy dimension records: they must already be in the destination.
    #[arg(long, overrides_with = "transfer_dimensions")]
    pub no_transfer_dimensions: bool,
}

/// Run `valet transfer-datasets`; prints the reference's count line.
pub fn transfer_datasets(args: &TransferArgs) -> CliResult {
    let source = Repo::open(&args.source)?;
    let dest = Repo::open(&args.dest)?;
    let bar = crate::output::progress_bar(
        "transferring {bar:40} {pos}/{len} records and datasets ({eta})",
    );
    let n = dest.transfer_from(
        &source,
        &TransferOptions {
            search: args.datasets.to_search()?,
            ids: None,
            transfer: args.transfer.parse::<TransferMode>()?,
            register_dataset_types: args.register_dataset_types,
            transfer_dimensions: !args.no_transfer_dimensions,
            progress: crate::output::progress_reports(&bar),
        },
    );
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    println!("Number of datasets transferred: {}", n?.len());
    Ok(())
}

/// Export calibrations, with their collections and validity ranges, for import
/// elsewhere.
#[derive(Debug, Args)]
pub struct ExportCalibsArgs {
    /// Repository.
    pub repo: PathBuf,
    /// The directory to write the export into (it must not exist yet).
    pub directory: PathBuf,
    /// CALIBRATION or CHAINED collections (names or globs) to export calibrations
    /// from; default: all.
    pub collections: Vec<String>,
    /// Calibration dataset types (names or globs); default: all.
    #[arg(long, short = 'd')]
    pub dataset_type: Vec<String>,
    /// Transfer mode for the files (`auto` copies).
    #[arg(long, short = 't', default_value = "auto", value_parser = TRANSFER_MODES, ignore_case = true)]
    pub transfer: String,
}

/// Run `valet export-calibs`: prints the exported calibrations as the reference's
/// table (type, RUN, then each dimension).
pub fn export_calibs(args: &ExportCalibsArgs) -> CliResult {
    let repo = Repo::open(&args.repo)?;
    let datasets = repo.export_calibs(
        &args.directory,
        &split_commas(&args.collections),
        &split_commas(&args.dataset_type),
        Some(args.transfer.parse::<TransferMode>()?),
    )?;
    if datasets.is_empty() {
        return Ok(());
    }
    let dimensions: std::collections::BTreeSet<&String> =
        datasets.iter().flat_map(|d| d.data_id.keys()).collect();
    let mut columns = vec!["calibrationType".to_owned(), "run".to_owned()];
    columns.extend(dimensions.iter().map(|d| d.to_string()));
    let rows: Vec<Vec<String>> = datasets
        .iter()
        .map(|d| {
            let mut row = vec![d.dataset_type.clone(), d.run.clone()];
            row.extend(dimensions.iter().map(|k| {
                d.data_id
                    .get(*k)
                    .map(|v| crate::output::plain(&valet::queries::value_json(v)))
                    .unwrap_or_default()
            }));
            row
        })
        .collect();
    crate::output::stdout_text(&crate::output::reference_table(
        &columns,
        &rows,
        crate::output::Align::Left,
    ))?;
    Ok(())
}
