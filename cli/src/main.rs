//! The `valet` command: `valet <command>` mirrors `butler <command>`.

mod args;
mod commands;
mod log;
mod options_file;
mod output;
mod target;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use commands::{
    admin, adopt, check, collections, config, dataset_types, datasets, dimensions, dregs,
    instruments, obscore, provenance, repo, sample, serve, transfers,
};

/// What every command returns; errors are printed as one line by `main`.
pub type CliResult = Result<(), Box<dyn std::error::Error>>;

/// valet: a data registry engine in the style of the LSST Butler.
#[derive(Debug, Parser)]
#[command(name = "valet", version, about, propagate_version = true)]
struct Cli {
    /// Act as this user (default: $VALET_USER, else the login name).
    #[arg(long = "user", id = "acting_user", value_name = "USER", global = true)]
    user: Option<String>,
    /// YAML file of option values by command name (`query-datasets: {where: …}`);
    /// options on the command line win.
    #[arg(short = '@', long = "options-file", value_name = "FILE", global = true)]
    #[allow(dead_code)]
    options_file: Option<std::path::PathBuf>,
    /// Run the command against `valet serve` at this URL (token from $VALET_TOKEN)
    /// instead of a local repository; the URL takes REPO's place.
    #[arg(long = "server", value_name = "URL", global = true)]
    #[allow(dead_code)]
    server: Option<String>,
    #[command(flatten)]
    log: log::LogArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create an empty repository.
    Create(repo::CreateArgs),
    /// Print the repository's configuration, or a part of it.
    ConfigDump(config::DumpArgs),
    /// Check that the file templates suit every registered dataset type.
    ConfigValidate(config::ValidateArgs),
    /// Register a dataset type.
    RegisterDatasetType(dataset_types::RegisterArgs),
    /// List dataset types.
    QueryDatasetTypes(dataset_types::QueryArgs),
    /// Remove dataset types (refused while datasets of them exist).
    RemoveDatasetType(dataset_types::RemoveArgs),
    /// List the records of a dimension element.
    QueryDimensionRecords(dimensions::QueryRecordsArgs),
    /// Register an instrument: its records and how its raw headers read.
    RegisterInstrument(instruments::RegisterArgs),
    /// Ingest raw files: exposure records from their headers, then the raws.
    IngestRaws(instruments::IngestRawsArgs),
    /// Define visits (and their regions) from the exposures of raws.
    DefineVisits(instruments::DefineVisitsArgs),
    /// Insert dimension records from a YAML, JSON or CSV file.
    InsertDimensionRecords(dimensions::InsertRecordsArgs),
    /// Import Butler export files.
    Import(transfers::ImportArgs),
    /// Create a repository from an existing Butler repository's registry.
    Adopt(adopt::AdoptArgs),
    /// Export collections and their datasets as a Butler export file.
    Export(transfers::ExportArgs),
    /// Ingest files listed in a table as new datasets.
    IngestFiles(transfers::IngestArgs),
    /// Copy the files of datasets out of the repository.
    RetrieveArtifacts(transfers::RetrieveArgs),
    /// Ingest a zip of datasets that retrieve-artifacts --zip wrote.
    IngestZip(transfers::IngestZipArgs),
    /// Export calibrations, their collections and validity ranges, for import elsewhere.
    ExportCalibs(transfers::ExportCalibsArgs),
    /// Copy datasets, their files, RUNs and dimension records into another repository.
    TransferDatasets(transfers::TransferArgs),
    /// List collections.
    QueryCollections(collections::QueryArgs),
    /// Define or edit a CHAINED collection.
    CollectionChain(collections::ChainArgs),
    /// Show every recorded edit of a chain.
    ChainHistory(collections::HistoryArgs),
    /// Register a collection.
    RegisterCollection(collections::RegisterArgs),
    /// Remove TAGGED, CALIBRATION and CHAINED collections.
    RemoveCollections(collections::RemoveCollectionsArgs),
    /// Remove RUN collections and their datasets.
    RemoveRuns(collections::RemoveRunsArgs),
    /// Report collections that break the naming conventions.
    LintCollections(collections::LintArgs),
    /// List datasets.
    QueryDatasets(datasets::QueryArgs),
    /// Find one dataset by type and data ID.
    FindDataset(datasets::FindArgs),
    /// List the distinct data IDs of datasets.
    QueryDataIds(datasets::DataIdsArgs),
    /// Add datasets to a TAGGED collection.
    Associate(datasets::AssociateArgs),
    /// Certify calibrations into a CALIBRATION collection.
    CertifyCalibrations(datasets::CertifyArgs),
    /// Remove datasets from TAGGED collections, unstore them, or purge them.
    PruneDatasets(datasets::PruneArgs),
    /// Remove a time range from calibration validity ranges.
    DecertifyCalibrations(datasets::DecertifyArgs),
    /// Write a DP0.2-shaped sample export to try valet on.
    GenerateSample(sample::SampleArgs),
    /// Record a pipeline stage: its inputs and the RUNs holding its outputs.
    RegisterExecution(provenance::RegisterArgs),
    /// Show what produced a dataset, or what was built from it.
    Lineage(provenance::LineageArgs),
    /// Repository admins: add, remove, list.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Serve the repository over HTTP: its API behind bearer tokens, and SIAv2.
    Serve(serve::ServeArgs),
    /// Bearer tokens for `valet serve`: create, list, revoke.
    #[command(subcommand)]
    Token(serve::TokenCommand),
    /// Compare the registry with the datastore's files; --repair fixes what is safe.
    Check(check::CheckArgs),
    /// DESC's data registry: named, versioned datasets, aliases, keywords.
    #[command(subcommand)]
    Dregs(dregs::DregsCommand),
    /// ObsCore: export the table of a search.
    #[command(subcommand)]
    Obscore(obscore::ObsCoreCommand),
}

fn run(cli: &Cli) -> CliResult {
    match &cli.command {
        Command::Create(a) => repo::create(a),
        Command::ConfigDump(a) => config::dump(a),
        Command::ConfigValidate(a) => config::validate(a),
        Command::RegisterDatasetType(a) => dataset_types::register(a),
        Command::QueryDatasetTypes(a) => dataset_types::query(a),
        Command::RemoveDatasetType(a) => dataset_types::remove(a),
        Command::QueryDimensionRecords(a) => dimensions::query_records(a),
        Command::RegisterInstrument(a) => instruments::register(a),
        Command::IngestRaws(a) => instruments::ingest_raws(a),
        Command::DefineVisits(a) => instruments::define_visits(a),
        Command::InsertDimensionRecords(a) => dimensions::insert_records(a),
        Command::Import(a) => transfers::import(a),
        Command::Adopt(a) => adopt::adopt(a),
        Command::Export(a) => transfers::export(a),
        Command::IngestFiles(a) => transfers::ingest(a),
        Command::RetrieveArtifacts(a) => transfers::retrieve(a),
        Command::IngestZip(a) => transfers::ingest_zip(a),
        Command::TransferDatasets(a) => transfers::transfer_datasets(a),
        Command::ExportCalibs(a) => transfers::export_calibs(a),
        Command::QueryCollections(a) => collections::query(a),
        Command::CollectionChain(a) => collections::chain(a),
        Command::ChainHistory(a) => collections::history(a),
        Command::RegisterCollection(a) => collections::register(a),
        Command::RemoveCollections(a) => collections::remove_non_runs(a),
        Command::RemoveRuns(a) => collections::remove_run_collections(a),
        Command::LintCollections(a) => collections::lint_collections(a),
        Command::QueryDatasets(a) => datasets::query(a),
        Command::FindDataset(a) => datasets::find(a),
        Command::QueryDataIds(a) => datasets::data_ids(a),
        Command::Associate(a) => datasets::associate_cmd(a),
        Command::CertifyCalibrations(a) => datasets::certify_cmd(a),
        Command::DecertifyCalibrations(a) => datasets::decertify_cmd(a),
        Command::PruneDatasets(a) => datasets::prune(a),
        Command::GenerateSample(a) => sample::generate_sample(a),
        Command::Obscore(c) => obscore::run(c),
        Command::Dregs(c) => dregs::run(c),
        Command::Check(a) => check::check(a),
        Command::Admin(c) => admin::run(c),
        Command::Serve(a) => serve::serve(a),
        Command::Token(c) => serve::token(c),
        Command::RegisterExecution(a) => provenance::register(a),
        Command::Lineage(a) => provenance::show(a),
    }
}

fn main() -> ExitCode {
    let argv = match options_file::expand(std::env::args_os().collect(), &Cli::command()) {
        Ok(argv) => argv,
        Err(e) => {
            // One line, as every error.
            eprintln!("valet: error: {}", e.replace('\n', " "));
            return ExitCode::from(2);
        }
    };
    let commands: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    let argv = match target::place_server(argv, &commands) {
        Ok(argv) => argv,
        Err(e) => {
            eprintln!("valet: error: {e}");
            return ExitCode::from(2);
        }
    };
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    if let Err(e) = log::configure(&cli.log) {
        eprintln!("valet: error: {e}");
        return ExitCode::from(2);
    }
    if let Some(user) = &cli.user {
        // The registry reads the acting user from the environment.
        std::env::set_var("VALET_USER", user);
    }
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(e.as_ref()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, whatever the error carried.
            let msg = e.to_string().replace('\n', " ");
            log::emit(log::Level::Error, &msg);
            ExitCode::FAILURE
        }
    }
}

/// Help and version go out as clap writes them; a usage error is one line naming
/// what was wrong, with clap's exit code.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    // The message and what it lists (e.g. the missing arguments) come before the
    // first blank line; the usage text after it is left out.
    let text = e.render().to_string();
    let message: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let message = message.join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    eprintln!("valet: error: {message} (see --help)");
    ExitCode::from(e.exit_code().clamp(1, 255) as u8)
}

/// Output piped into `head` closes early; that is not an error.
fn is_broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}
