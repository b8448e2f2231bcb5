//! Collection commands: `query-collections`, `collection-chain`, `chain-history`,
//! `register-collection`, `remove-collections`, `remove-runs`, `lint-collections`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde_json::{json, Value as Json};
use valet::collection_queries::{ChainsView, QueryCollectionsOptions, Severity};
use valet::collection_writes::RegisterCollectionOptions;
use valet::registry::timespan::format_tai_iso;
use valet::{ChainMode, CollectionType, RegistryError, Repo};

use crate::args::{as_of, confirm, split_commas, ConfirmArgs};
use crate::output::{Align, Format, Table};
use crate::CliResult;

/// How `query-collections` shows chains (the reference's `--chains`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
#[value(rename_all = "UPPER")]
pub enum ChainsMode {
    /// Chains with their children indented below them.
    #[default]
    Tree,
    /// One row per collection, children listed beside chains.
    Table,
    /// Collections with the chains that list them indented below.
    #[value(name = "INVERSE-TREE")]
    InverseTree,
    /// One row per collection, parents listed beside it.
    #[value(name = "INVERSE-TABLE")]
    InverseTable,
    /// Chains replaced by their non-chain leaves.
    Flatten,
    /// No children.
    #[value(name = "NO-CHILDREN")]
    NoChildren,
}

impl From<ChainsMode> for ChainsView {
    fn from(mode: ChainsMode) -> ChainsView {
        match mode {
            ChainsMode::Tree => ChainsView::Tree,
            ChainsMode::Table => ChainsView::Table,
            ChainsMode::InverseTree => ChainsView::InverseTree,
            ChainsMode::InverseTable => ChainsView::InverseTable,
            ChainsMode::Flatten => ChainsView::Flatten,
            ChainsMode::NoChildren => ChainsView::NoChildren,
        }
    }
}

/// List collections.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Names or globs (default: all).
    pub glob: Vec<String>,
    /// Only these collection types.
    #[arg(long = "collection-type", value_parser = parse_type)]
    pub collection_type: Vec<CollectionType>,
    /// How to show chains.
    #[arg(long, value_enum, default_value_t, ignore_case = true)]
    pub chains: ChainsMode,
    /// Treat the patterns as regular expressions.
    #[arg(long)]
    pub regex: bool,
    /// Resolve chains as they were at this UTC time (ISO).
    #[arg(long)]
    pub as_of: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t, ignore_case = true)]
    pub format: Format,
}

fn parse_type(s: &str) -> Result<CollectionType, String> {
    s.parse().map_err(|e: RegistryError| e.to_string())
}

/// Run `valet query-collections`.
pub fn query(args: &QueryArgs) -> CliResult {
    let repo = crate::target::Target::open(&args.repo)?;
    let rows = repo.query_collections(&QueryCollectionsOptions {
        patterns: args.glob.clone(),
        regex: args.regex,
        types: args.collection_type.clone(),
        chains: args.chains.into(),
        as_of: as_of(&args.as_of)?,
    })?;
    let mut table;
    let inverse = matches!(args.chains, ChainsMode::InverseTable);
    // In table form every view is laid out as the reference's, under its names.
    let headers: &[&str] = match args.chains {
        ChainsMode::Table => &["Name", "Type", "Children"],
        ChainsMode::InverseTable => &["Name", "Type", "Parents"],
        _ => &["Name", "Type"],
    };
    match args.chains {
        ChainsMode::Tree | ChainsMode::InverseTree => {
            // People see the tree as indentation; machines get a depth column.
            let indent = args.format == Format::Table;
            table = if indent {
                Table::new(["name", "type"])
            } else {
                Table::new(["name", "type", "depth"])
            };
            for r in rows {
                let (c, depth) = (r.record, r.depth);
                if indent {
                    let name = format!("{}{}", "  ".repeat(depth), c.name);
                    table.rows.push(vec![json!(name), json!(c.kind.name())]);
                } else {
                    table
                        .rows
                        .push(vec![json!(c.name), json!(c.kind.name()), json!(depth)]);
                }
            }
        }
        ChainsMode::Table | ChainsMode::InverseTable if args.format == Format::Table => {
            // The reference gives each child (or parent) a line of its own.
            table = Table::new(["name", "type", "related"]);
            for r in rows {
                let mut related = r.related.iter();
                let first = related.next().cloned().unwrap_or_default();
                table.rows.push(vec![
                    json!(r.record.name),
                    json!(r.record.kind.name()),
                    json!(first),
                ]);
                for more in related {
                    table.rows.push(vec![json!(""), json!(""), json!(more)]);
                }
            }
        }
        ChainsMode::Table | ChainsMode::InverseTable => {
            table = Table::new(["name", "type", if inverse { "parents" } else { "children" }]);
            for r in rows {
                let shown = if args.format == Format::Json {
                    json!(r.related)
                } else {
                    json!(r.related.join(", "))
                };
                table.rows.push(vec![
                    json!(r.record.name),
                    json!(r.record.kind.name()),
                    shown,
                ]);
            }
        }
        ChainsMode::Flatten | ChainsMode::NoChildren => {
            table = Table::new(["name", "type"]);
            for r in rows {
                table
                    .rows
                    .push(vec![json!(r.record.name), json!(r.record.kind.name())]);
            }
        }
    }
    table.print_as_reference(args.format, headers, Align::Left)?;
    Ok(())
}

/// Define or edit a CHAINED collection.
#[derive(Debug, Args)]
pub struct ChainArgs {
    /// Repository.
    pub repo: PathBuf,
    /// The chain.
    pub parent: String,
    /// Children (comma-separated or repeated); positions for `--mode pop`
    /// (negative positions after `--`).
    pub children: Vec<String>,
    /// How to change the chain.
    #[arg(long, default_value = "redefine", value_parser = ["redefine", "extend", "prepend", "remove", "pop"], ignore_case = true)]
    pub mode: String,
    /// Replace chains among the children by their non-chain leaves.
    #[arg(long)]
    pub flatten: bool,
    /// Documentation for a chain that is created.
    #[arg(long)]
    pub doc: Option<String>,
}

/// Run `valet collection-chain`; prints the resulting chain as `[a, b]`.
pub fn chain(args: &ChainArgs) -> CliResult {
    let repo = crate::target::Target::open(&args.repo)?;
    let mode: ChainMode = args.mode.parse()?;
    let children = split_commas(&args.children);
    let result = repo.collection_chain(
        &args.parent,
        mode,
        &children,
        args.flatten,
        args.doc.as_deref(),
    )?;
    let names: Vec<&str> = result.iter().map(|c| c.name.as_str()).collect();
    crate::out!("[{}]", names.join(", "));
    Ok(())
}

/// Show the recorded edits of a chain.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Repository.
    pub repo: PathBuf,
    /// The chain.
    pub chain: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t, ignore_case = true)]
    pub format: Format,
}

/// Run `valet chain-history`.
pub fn history(args: &HistoryArgs) -> CliResult {
    let repo = crate::target::Target::open(&args.repo)?;
    let edits = repo.chain_history(&args.chain)?;
    let mut table = Table::new(["edited_at", "edited_by", "old_children", "new_children"]);
    for e in edits {
        let list = |v: &[String]| {
            if args.format == Format::Json {
                json!(v)
            } else {
                json!(format!("[{}]", v.join(", ")))
            }
        };
        table.rows.push(vec![
            json!(format!("{}Z", format_tai_iso(e.edited_at))),
            json!(e.edited_by),
            list(&e.old_children),
            list(&e.new_children),
        ]);
    }
    table.print(args.format)?;
    Ok(())
}

/// Register a RUN, TAGGED, CALIBRATION or (empty) CHAINED collection.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Collection name.
    pub name: String,
    /// Collection type.
    #[arg(long = "collection-type", value_parser = parse_type, default_value = "TAGGED")]
    pub collection_type: CollectionType,
    /// Documentation.
    #[arg(long)]
    pub doc: Option<String>,
    /// Owner type: user, group, project or production (default: user for u/…
    /// names, project otherwise).
    #[arg(long, value_parser = ["user", "group", "project", "production"], ignore_case = true)]
    pub owner_type: Option<String>,
}

/// Run `valet register-collection`.
pub fn register(args: &RegisterArgs) -> CliResult {
    let repo = crate::target::Target::open(&args.repo)?;
    let created = repo.register_collection(
        &args.name,
        args.collection_type,
        &RegisterCollectionOptions {
            doc: args.doc.clone(),
            owner_type: args.owner_type.as_deref().map(str::to_ascii_lowercase),
        },
    )?;
    if !created {
        crate::info!("collection {} already exists", args.name);
    }
    Ok(())
}

/// Remove TAGGED, CALIBRATION and CHAINED collections.
#[derive(Debug, Args)]
pub struct RemoveCollectionsArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Names or globs.
    #[arg(required = true)]
    pub glob: Vec<String>,
    /// Remove them from the chains that list them first.
    #[arg(long)]
    pub remove_from_parents: bool,
    #[command(flatten)]
    pub confirm: ConfirmArgs,
}

/// Run `valet remove-collections`.
pub fn remove_non_runs(args: &RemoveCollectionsArgs) -> CliResult {
    let repo = crate::target::Target::open(&args.repo)?;
    let names = repo.matching_collections(
        &args.glob,
        &[
            CollectionType::Tagged,
            CollectionType::Calibration,
            CollectionType::Chained,
        ],
    )?;
    if names.is_empty() {
        crate::info!("no TAGGED, CALIBRATION or CHAINED collections match");
        return Ok(());
    }
    if !confirm(
        &format!("{} collection(s): {}", names.len(), names.join(", ")),
        &args.confirm,
    )? {
        crate::info!("nothing removed");
        return Ok(());
    }
    repo.remove_collections(&names, args.remove_from_parents)?;
    crate::out!("removed {} collection(s)", names.len());
    Ok(())
}

/// Remove RUN collections and their datasets.
#[derive(Debug, Args)]
pub struct RemoveRunsArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Names or globs.
    #[arg(required = true)]
    pub glob: Vec<String>,
    /// Remove the runs from the chains that list them.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub confirm: ConfirmArgs,
}

/// Run `valet remove-runs`.
pub fn remove_run_collections(args: &RemoveRunsArgs) -> CliResult {
    let repo = crate::target::Target::open(&args.repo)?;
    let names = repo.matching_collections(&args.glob, &[CollectionType::Run])?;
    if names.is_empty() {
        crate::info!("no RUN collections match");
        return Ok(());
    }
    if !confirm(
        &format!(
            "{} run(s) and their datasets: {}",
            names.len(),
            names.join(", ")
        ),
        &args.confirm,
    )? {
        crate::info!("nothing removed");
        return Ok(());
    }
    let removed = repo.remove_runs(&names, args.force)?;
    let report = &removed.files;
    crate::out!(
        "removed {} run(s), {} dataset(s) and {} file(s)",
        names.len(),
        removed.datasets,
        report.deleted
    );
    if !report.failed.is_empty() {
        return Err(format!(
            "{} file(s) could not be deleted yet (kept in the trash): {}",
            report.failed.len(),
            report.failed.join("; ")
        )
        .into());
    }
    Ok(())
}

/// Report collections that break the naming conventions.
#[derive(Debug, Args)]
pub struct LintArgs {
    /// Repository.
    pub repo: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t, ignore_case = true)]
    pub format: Format,
}

/// Run `valet lint-collections`; fails while errors or warnings remain.
pub fn lint_collections(args: &LintArgs) -> CliResult {
    let repo = Repo::open(&args.repo)?;
    let findings = repo.lint_collections()?;
    let mut table = Table::new(["collection", "severity", "rule", "message"]);
    for f in &findings {
        let sev = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        table.rows.push(vec![
            json!(f.collection),
            json!(sev),
            json!(f.rule),
            Json::String(f.message.clone()),
        ]);
    }
    table.print(args.format)?;
    let failing = findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .count();
    if failing > 0 {
        return Err(format!("{failing} collection naming problem(s) found").into());
    }
    Ok(())
}
