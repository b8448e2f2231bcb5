//! `valet register-instrument`, `valet ingest-raws` and `valet define-visits`.

use std::path::PathBuf;

use clap::Args;
use valet::Repo;

use crate::output::stdout_line;
use crate::CliResult;

/// Register an instrument from a definition.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// Repository.
    pub repo: PathBuf,
    /// A shipped instrument (DECam, HSC, LSSTCam-imSim) or a definition YAML file.
    #[arg(value_name = "NAME_OR_FILE")]
    pub instrument: String,
    /// Replace the records of an instrument registered with another definition.
    #[arg(long)]
    pub update: bool,
}

/// Run `valet register-instrument`.
pub fn register(args: &RegisterArgs) -> CliResult {
    let s = Repo::open(&args.repo)?.register_instrument_from(&args.instrument, args.update)?;
    if s.is_no_op() {
        stdout_line(&format!(
            "instrument {} is already registered with this definition; nothing changed",
            s.instrument
        ))?;
    } else {
        stdout_line(&format!(
            "instrument {}: {} records inserted, {} updated, {} unchanged",
            s.instrument, s.inserted, s.updated, s.unchanged
        ))?;
    }
    Ok(())
}

/// Ingest raw files: records from their headers, then the raws, then the files.
#[derive(Debug, Args)]
pub struct IngestRawsArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Raw files, or directories to walk for them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The RUN for the raws (default: <instrument>/raw/all).
    #[arg(long)]
    pub output_run: Option<String>,
    /// Transfer mode.
    #[arg(long, short = 't', default_value = "auto")]
    pub transfer: String,
    /// Threads reading headers (default: the number of cores).
    #[arg(long, short = 'j', default_value_t = 0)]
    pub processes: usize,
    /// Which files of a directory are raws.
    #[arg(long, default_value = valet::raws::ingest::DEFAULT_REGEX)]
    pub regex: String,
    /// Stop at the first file that cannot be ingested, writing nothing.
    #[arg(long)]
    pub fail_fast: bool,
    /// Record each file's checksum as well as its size (the default).
    #[arg(long, overrides_with = "no_track_file_attrs")]
    pub track_file_attrs: bool,
    /// Record only each file's size: files are not read again to store them.
    #[arg(long)]
    pub no_track_file_attrs: bool,
}

/// Run `valet ingest-raws`.
pub fn ingest_raws(args: &IngestRawsArgs) -> CliResult {
    let repo = Repo::open(&args.repo)?;
    let bar = crate::output::progress_bar("reading headers {bar:40} {pos}/{len} files ({eta})");
    let summary = repo.ingest_raws(
        &args.paths,
        &valet::raws::IngestRawsOptions {
            run: args.output_run.clone(),
            transfer: args.transfer.parse()?,
            threads: args.processes,
            regex: Some(args.regex.clone()),
            fail_fast: args.fail_fast,
            progress: crate::output::progress_reports(&bar),
            track_file_attrs: !args.no_track_file_attrs,
        },
    );
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let s = summary?;
    for (file, reason) in &s.failed {
        crate::warning!("{file}: {reason}");
    }
    if s.ingested_files == 0 && s.failed.is_empty() && s.skipped > 0 {
        crate::info!(
            "nothing to ingest: the {} raw file(s) were all ingested before",
            s.skipped
        );
    } else {
        crate::info!(
            "{} file(s): ingested {} raw(s) from {} file(s) into {}, {} new exposure(s); {} skipped (ingested before), {} failed",
            s.files,
            s.raws,
            s.ingested_files,
            if s.runs.is_empty() { "no RUN".to_owned() } else { s.runs.join(", ") },
            s.exposures,
            s.skipped,
            s.failed.len()
        );
    }
    if !s.failed.is_empty() {
        return Err(format!("{} file(s) could not be ingested", s.failed.len()).into());
    }
    Ok(())
}

/// Define visits from the exposures of an instrument's raws.
#[derive(Debug, Args)]
pub struct DefineVisitsArgs {
    /// Repository.
    pub repo: PathBuf,
    /// The instrument.
    pub instrument: String,
    /// Collections searched for raws (default: <instrument>/raw/all).
    #[arg(long)]
    pub collections: Vec<String>,
    /// Only raws whose data IDs match this expression.
    #[arg(long = "where", default_value = "")]
    pub where_: String,
    /// Replace visits defined differently before (and their detector regions).
    #[arg(long)]
    pub update_records: bool,
}

/// Run `valet define-visits`.
pub fn define_visits(args: &DefineVisitsArgs) -> CliResult {
    let s = Repo::open(&args.repo)?.define_visits(
        &args.instrument,
        &valet::raws::visits::DefineVisitsOptions {
            collections: crate::args::split_commas(&args.collections),
            where_: args.where_.clone(),
            update_records: args.update_records,
        },
    )?;
    crate::info!(
        "{} exposure(s) ({} not on the sky): {} visit(s) defined, {} already defined, {} updated{}",
        s.exposures,
        s.not_on_sky,
        s.inserted,
        s.unchanged,
        s.updated,
        match s.obscore_rows {
            Some(n) => format!("; the live ObsCore table refilled ({n} rows)"),
            None => String::new(),
        }
    );
    Ok(())
}
