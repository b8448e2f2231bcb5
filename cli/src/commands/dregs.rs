//! `valet dregs …`: DESC's data registry verbs (`register`, `replace`, `modify`,
//! `delete`, `ls`, `alias`, `show keywords`, `path`, `tag`) on a valet repository.
//! Options take DESC's spellings with hyphens or underscores.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use valet::dregs::aliases::AliasTarget;
use valet::dregs::model::LocationType;
use valet::dregs::query::{Filter, FilterValue, LsOptions, QueryResult};
use valet::dregs::register::Registration;
use valet::provenance::ExecutionSpec;
use valet::Repo;

use crate::args::{confirm, dataset_keys, file_text, ConfirmArgs};
use crate::output::{Format, Table};
use crate::CliResult;

/// DESC's data registry.
#[derive(Debug, Subcommand)]
pub enum DregsCommand {
    /// Register a dataset, an execution or keywords.
    #[command(subcommand)]
    Register(RegisterCommand),
    /// Replace an overwritable dataset with a new iteration.
    #[command(subcommand)]
    Replace(ReplaceCommand),
    /// Change a modifiable column of a dataset or an execution.
    #[command(subcommand)]
    Modify(ModifyCommand),
    /// Delete a dataset (its row is kept, marked deleted; its files go).
    #[command(subcommand)]
    Delete(DeleteCommand),
    /// List datasets of the working and production areas.
    Ls(LsArgs),
    /// Name a dataset (or another alias).
    Alias(AliasArgs),
    /// Show the keywords.
    #[command(subcommand)]
    Show(ShowCommand),
    /// Print the absolute path of a dataset's data.
    Path(PathArgs),
    /// Tag a dataset with registered keywords.
    Tag(TagArgs),
}

/// `register …`.
#[derive(Debug, Subcommand)]
pub enum RegisterCommand {
    /// Register a dataset by name and version.
    Dataset(Box<DatasetArgs>),
    /// Register an execution (a pipeline stage) and what it read.
    Execution(ExecutionArgs),
    /// Register new keywords.
    Keywords(KeywordsArgs),
}

/// `replace …`.
#[derive(Debug, Subcommand)]
pub enum ReplaceCommand {
    /// Replace a dataset.
    Dataset(Box<DatasetArgs>),
}

/// Options of `register dataset` and `replace dataset`.
#[derive(Debug, Args)]
pub struct DatasetArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Dataset name.
    pub name: String,
    /// MAJOR.MINOR.PATCH, or major, minor or patch to bump the highest existing.
    #[arg(id = "dataset_version", value_name = "VERSION")]
    pub version: String,
    /// Copy the data in from this file or directory.
    #[arg(long, alias = "old_location")]
    pub old_location: Option<PathBuf>,
    /// Path below the owner's area (generated when omitted; not for replace).
    #[arg(long, alias = "relative_path")]
    pub relative_path: Option<String>,
    /// Owner (default: you; production for the production area).
    #[arg(long)]
    pub owner: Option<String>,
    /// user, group, project or production.
    #[arg(long, alias = "owner_type")]
    pub owner_type: Option<String>,
    /// dataregistry, external, meta_only or dummy.
    #[arg(long, alias = "location_type", default_value = "dataregistry")]
    pub location_type: String,
    /// Allow a later replace.
    #[arg(long, alias = "is_overwritable")]
    pub is_overwritable: bool,
    /// Description.
    #[arg(long)]
    pub description: Option<String>,
    /// Software that reads it.
    #[arg(long, alias = "access_api")]
    pub access_api: Option<String>,
    /// A file whose text is that software's configuration.
    #[arg(long, alias = "access_api_configuration")]
    pub access_api_configuration: Option<PathBuf>,
    /// URL of external data.
    #[arg(long)]
    pub url: Option<String>,
    /// Contact for external data.
    #[arg(long, alias = "contact_email")]
    pub contact_email: Option<String>,
    /// When the data was made (YYYY-MM-DD or ISO 8601, UTC).
    #[arg(long, alias = "creation_date")]
    pub creation_date: Option<String>,
    /// The execution that produced it (default: a new one).
    #[arg(long, alias = "execution_id")]
    pub execution_id: Option<i64>,
    /// Name of the new execution.
    #[arg(long, alias = "execution_name")]
    pub execution_name: Option<String>,
    /// Description of the new execution.
    #[arg(long, alias = "execution_description")]
    pub execution_description: Option<String>,
    /// Site of the new execution.
    #[arg(long, alias = "execution_site")]
    pub execution_site: Option<String>,
    /// A file whose text is the new execution's configuration.
    #[arg(long, alias = "execution_configuration")]
    pub execution_configuration: Option<PathBuf>,
    /// What the new execution read: integers name named datasets, UUIDs Butler ones.
    #[arg(long, alias = "input_datasets", num_args = 1..)]
    pub input_datasets: Vec<String>,
    /// Keywords to tag it with.
    #[arg(long, num_args = 1..)]
    pub keywords: Vec<String>,
}

/// `register execution`.
#[derive(Debug, Args)]
pub struct ExecutionArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Execution (stage) name.
    pub name: String,
    /// Description.
    #[arg(long)]
    pub description: Option<String>,
    /// Where it ran.
    #[arg(long)]
    pub site: Option<String>,
    /// A file whose text is its configuration.
    #[arg(long)]
    pub configuration: Option<PathBuf>,
    /// What it read: integers name named datasets, UUIDs Butler ones.
    #[arg(long, alias = "input_datasets", num_args = 1..)]
    pub input_datasets: Vec<String>,
}

/// `register keywords`.
#[derive(Debug, Args)]
pub struct KeywordsArgs {
    /// Repository.
    pub repo: PathBuf,
    /// The new keywords.
    #[arg(required = true)]
    pub keywords: Vec<String>,
}

/// `modify …`.
#[derive(Debug, Subcommand)]
pub enum ModifyCommand {
    /// Change a dataset's column.
    Dataset(ModifyArgs),
    /// Change an execution's column.
    Execution(ModifyArgs),
}

/// `modify dataset|execution ID COLUMN VALUE`.
#[derive(Debug, Args)]
pub struct ModifyArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Row id.
    pub id: i64,
    /// Column.
    pub column: String,
    /// New value.
    pub value: String,
}

/// `delete …`.
#[derive(Debug, Subcommand)]
pub enum DeleteCommand {
    /// Delete the latest iteration of NAME VERSION in OWNER's area.
    Dataset(DeleteByNameArgs),
    /// Delete a dataset by id.
    #[command(name = "dataset-by-id", alias = "dataset_by_id")]
    DatasetById(DeleteByIdArgs),
}

/// `delete dataset NAME VERSION OWNER OWNER_TYPE`.
#[derive(Debug, Args)]
pub struct DeleteByNameArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Name.
    pub name: String,
    /// Version.
    #[arg(id = "dataset_version", value_name = "VERSION")]
    pub version: String,
    /// Owner.
    pub owner: String,
    /// Owner type.
    pub owner_type: String,
    #[command(flatten)]
    confirm: ConfirmArgs,
}

/// `delete dataset-by-id ID`.
#[derive(Debug, Args)]
pub struct DeleteByIdArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Dataset id.
    pub id: i64,
    #[command(flatten)]
    confirm: ConfirmArgs,
}

/// `ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Only this owner (default: you; `none` for every owner).
    #[arg(long)]
    pub owner: Option<String>,
    /// Only this owner type.
    #[arg(long, alias = "owner_type")]
    pub owner_type: Option<String>,
    /// Names matching this pattern (`*` is a wildcard; any case).
    #[arg(long)]
    pub name: Option<String>,
    /// Only datasets with this keyword.
    #[arg(long)]
    pub keyword: Option<String>,
    /// working, production or both.
    #[arg(long, default_value = "both")]
    pub area: String,
    /// Columns to show (dataset columns, or table.column).
    #[arg(long, alias = "return_cols", num_args = 1..)]
    pub return_cols: Vec<String>,
    /// DESC filters, each `COLUMN OP VALUE` (`dataset.nfiles >= 2`).
    #[arg(long)]
    pub filter: Vec<String>,
    /// A valet expression over the same columns.
    #[arg(long)]
    pub r#where: Option<String>,
    /// At most this many rows.
    #[arg(long, alias = "max_rows", default_value_t = 500)]
    pub max_rows: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t, ignore_case = true)]
    pub format: Format,
}

/// `alias`.
#[derive(Debug, Args)]
pub struct AliasArgs {
    /// Repository.
    pub repo: PathBuf,
    /// The alias.
    pub alias: String,
    /// The dataset it names.
    #[arg(
        long,
        required_unless_present = "ref_alias",
        conflicts_with = "ref_alias"
    )]
    pub dataset_id: Option<i64>,
    /// The alias it names.
    #[arg(long)]
    pub ref_alias: Option<String>,
    /// Make it the current meaning of an alias already in use.
    #[arg(long)]
    pub supersede: bool,
}

/// `show …`.
#[derive(Debug, Subcommand)]
pub enum ShowCommand {
    /// The keywords.
    Keywords(ShowKeywordsArgs),
}

/// `show keywords`.
#[derive(Debug, Args)]
pub struct ShowKeywordsArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t, ignore_case = true)]
    pub format: Format,
}

/// `path ID`.
#[derive(Debug, Args)]
pub struct PathArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Dataset id.
    pub id: i64,
}

/// `tag ID KEYWORD…`.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Dataset id.
    pub id: i64,
    /// Registered keywords.
    #[arg(required = true)]
    pub keywords: Vec<String>,
}

/// Run a `valet dregs` command.
pub fn run(command: &DregsCommand) -> CliResult {
    match command {
        DregsCommand::Register(RegisterCommand::Dataset(a)) => register(a, false),
        DregsCommand::Replace(ReplaceCommand::Dataset(a)) => register(a, true),
        DregsCommand::Register(RegisterCommand::Execution(a)) => execution(a),
        DregsCommand::Register(RegisterCommand::Keywords(a)) => {
            Repo::open(&a.repo)?.dregs_create_keywords(&a.keywords)?;
            Ok(())
        }
        DregsCommand::Modify(ModifyCommand::Dataset(a)) => modify("dataset", a),
        DregsCommand::Modify(ModifyCommand::Execution(a)) => modify("execution", a),
        DregsCommand::Delete(DeleteCommand::Dataset(a)) => {
            let repo = Repo::open(&a.repo)?;
            let d = repo.dregs_find_by_name(&a.name, &a.version, &a.owner, &a.owner_type)?;
            delete(&repo, d.dataset_id, &a.confirm)
        }
        DregsCommand::Delete(DeleteCommand::DatasetById(a)) => {
            delete(&Repo::open(&a.repo)?, a.id, &a.confirm)
        }
        DregsCommand::Ls(a) => list(a),
        DregsCommand::Alias(a) => alias(a),
        DregsCommand::Show(ShowCommand::Keywords(a)) => {
            let mut table = Table::new(["keyword", "system", "active"]);
            for k in Repo::open(&a.repo)?.dregs_keywords()? {
                table
                    .rows
                    .push(vec![k.keyword.into(), k.system.into(), k.active.into()]);
            }
            table.print(a.format)?;
            Ok(())
        }
        DregsCommand::Path(a) => {
            let p = Repo::open(&a.repo)?.dregs_path(a.id)?;
            crate::out!("{}", p.display());
            Ok(())
        }
        DregsCommand::Tag(a) => {
            Repo::open(&a.repo)?.dregs_add_keywords(a.id, &a.keywords)?;
            Ok(())
        }
    }
}

fn register(a: &DatasetArgs, replacing: bool) -> CliResult {
    if replacing && a.relative_path.is_some() {
        return Err(
            "replace keeps the relative path of the dataset it replaces; drop --relative-path"
                .into(),
        );
    }
    let repo = Repo::open(&a.repo)?;
    let (butler, named) = dataset_keys(&a.input_datasets)?;
    let reg = Registration {
        relative_path: a.relative_path.clone(),
        owner: a.owner.clone(),
        owner_type: a.owner_type.clone(),
        location_type: a.location_type.parse::<LocationType>()?,
        is_overwritable: a.is_overwritable,
        description: a.description.clone(),
        access_api: a.access_api.clone(),
        access_api_configuration: file_text(&a.access_api_configuration)?,
        url: a.url.clone(),
        contact_email: a.contact_email.clone(),
        creation_date: a
            .creation_date
            .as_deref()
            .map(valet::dregs::modify::parse_date)
            .transpose()?,
        execution_id: a.execution_id,
        execution: ExecutionSpec {
            name: a.execution_name.clone().unwrap_or_default(),
            description: a.execution_description.clone(),
            site: a.execution_site.clone(),
            configuration: file_text(&a.execution_configuration)?,
            started_at: None,
            inputs: butler,
            named_inputs: named,
            runs: Vec::new(),
        },
        keywords: a.keywords.clone(),
        ..Registration::new(&a.name, &a.version)
    };
    let made = if replacing {
        repo.dregs_replace(&reg, a.old_location.as_deref())?
    } else {
        repo.dregs_register(&reg, a.old_location.as_deref())?
    };
    crate::out!(
        "Created dataset entry with id {} (execution {})",
        made.dataset_id,
        made.execution_id
    );
    Ok(())
}

fn execution(a: &ExecutionArgs) -> CliResult {
    let repo = Repo::open(&a.repo)?;
    let (butler, named) = dataset_keys(&a.input_datasets)?;
    let id = repo.register_execution(&ExecutionSpec {
        name: a.name.clone(),
        description: a.description.clone(),
        site: a.site.clone(),
        configuration: file_text(&a.configuration)?,
        started_at: None,
        inputs: butler,
        named_inputs: named,
        runs: Vec::new(),
    })?;
    crate::out!("Created execution entry with id {id}");
    Ok(())
}

fn modify(table: &str, a: &ModifyArgs) -> CliResult {
    Repo::open(&a.repo)?.dregs_modify(table, a.id, &a.column, Some(&a.value))?;
    Ok(())
}

fn delete(repo: &Repo, id: i64, opts: &ConfirmArgs) -> CliResult {
    let d = repo.dregs_dataset(id)?;
    let what = format!(
        "dataset {id} ({} {}, {} {})",
        d.name, d.version, d.owner_type, d.owner
    );
    if !confirm(&what, opts)? {
        return Err("not deleted".into());
    }
    let done = repo.dregs_delete(id)?;
    for f in &done.failed {
        crate::info!("could not remove {f} (check --repair removes it later)");
    }
    crate::out!("Deleted dataset {id}: {} file(s) removed", done.removed);
    Ok(())
}

/// Parse `COLUMN OP VALUE`; numbers stay numbers.
fn parse_filter(text: &str) -> Result<Filter, String> {
    let mut parts = text.trim().splitn(3, char::is_whitespace);
    let (Some(column), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!(
            "--filter {text:?}: give COLUMN OP VALUE, for example 'dataset.nfiles >= 2'"
        ));
    };
    let value = value.trim().trim_matches('\'');
    let value = if let Ok(i) = value.parse::<i64>() {
        FilterValue::Int(i)
    } else if let Ok(x) = value.parse::<f64>() {
        FilterValue::Float(x)
    } else {
        FilterValue::Text(value.to_owned())
    };
    Ok(Filter::new(column, op, value))
}

fn print_result(result: &QueryResult, format: Format) -> CliResult {
    let mut table = Table::new(
        result
            .columns
            .iter()
            .map(|c| c.strip_prefix("dataset.").unwrap_or(c).to_owned()),
    );
    for i in 0..result.rows.len() {
        table.rows.push(result.json_row(i));
    }
    table.print(format)?;
    Ok(())
}

fn list(a: &LsArgs) -> CliResult {
    let repo = Repo::open(&a.repo)?;
    let owner = match a.owner.as_deref() {
        Some("none") => None,
        Some(o) => Some(o.to_owned()),
        None => Some(valet::registry::identity::current_user()?),
    };
    let options = LsOptions {
        owner,
        owner_type: a.owner_type.clone(),
        name: a.name.clone(),
        keyword: a.keyword.clone(),
        area: Some(a.area.clone()),
        filters: a
            .filter
            .iter()
            .map(|f| parse_filter(f))
            .collect::<Result<_, _>>()?,
        where_expr: a.r#where.clone(),
        columns: (!a.return_cols.is_empty()).then(|| a.return_cols.clone()),
        limit: Some(a.max_rows),
    };
    print_result(&repo.dregs_ls(&options)?, a.format)
}

fn alias(a: &AliasArgs) -> CliResult {
    let repo = Repo::open(&a.repo)?;
    let target = match (&a.dataset_id, &a.ref_alias) {
        (Some(d), _) => AliasTarget::Dataset(*d),
        (None, Some(r)) => {
            let (id, _) = repo
                .dregs_alias_row(r)?
                .ok_or_else(|| format!("alias {r:?} does not exist"))?;
            AliasTarget::Alias(id)
        }
        (None, None) => return Err("give --dataset-id or --ref-alias".into()),
    };
    match repo.dregs_alias(&a.alias, target, a.supersede)? {
        Some(id) => {
            crate::out!("Created alias entry with id {id}");
            Ok(())
        }
        None => Err(format!(
            "alias {:?} already exists; --supersede makes this its meaning from now on",
            a.alias
        )
        .into()),
    }
}
