//! Collection commands: `query-collections`, `collection-chain`, `chain-history`,
//! `register-collection`, `remove-collections`, `remove-runs`, `lint-collections`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde_json::{json, Value as Json};
use valet::collections::chains::{
    chain_history, children_as_of, children_of, parents_of, ChainMode,
};
use valet::collections::naming::{lint, Severity};
use valet::collections::removal::remove_runs;
use valet::collections::{query_collections, CollectionQuery};
use valet::registry::timespan::format_tai_iso;
use valet::registry::{CollectionRecord, CollectionType, Conn, RegistryError};
use valet::Repo;

use crate::args::{as_of, split_commas};
use crate::output::{Format, Table};
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
    #[arg(long, value_enum, default_value_t)]
    pub chains: ChainsMode,
    /// Treat the patterns as regular expressions.
    #[arg(long)]
    pub regex: bool,
    /// Resolve chains as they were at this UTC time (ISO).
    #[arg(long)]
    pub as_of: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

fn parse_type(s: &str) -> Result<CollectionType, String> {
    s.parse().map_err(|e: RegistryError| e.to_string())
}

fn kids(
    conn: &mut Conn,
    c: &CollectionRecord,
    at: Option<i64>,
) -> Result<Vec<CollectionRecord>, RegistryError> {
    match at {
        Some(t) => children_as_of(conn, &c.name, t),
        None => children_of(conn, c.id),
    }
}

fn tree_rows(
    conn: &mut Conn,
    c: &CollectionRecord,
    depth: usize,
    at: Option<i64>,
    inverse: bool,
    rows: &mut Vec<(usize, CollectionRecord)>,
) -> Result<(), RegistryError> {
    rows.push((depth, c.clone()));
    if depth > 64 {
        return Ok(());
    }
    let next = if inverse {
        parents_of(conn, &c.name)?
    } else if c.kind == CollectionType::Chained {
        kids(conn, c, at)?
    } else {
        vec![]
    };
    for n in next {
        tree_rows(conn, &n, depth + 1, at, inverse, rows)?;
    }
    Ok(())
}

/// Run `valet query-collections`.
pub fn query(args: &QueryArgs) -> CliResult {
    let repo = Repo::open(&args.repo)?;
    let at = as_of(&args.as_of)?;
    let mut conn = repo.registry().db.conn()?;
    let flatten = args.chains == ChainsMode::Flatten;
    let found = query_collections(
        &mut conn,
        &CollectionQuery {
            patterns: args.glob.clone(),
            regex: args.regex,
            types: args.collection_type.clone(),
            flatten_chains: flatten,
            include_chains: if flatten { Some(false) } else { None },
            as_of: at,
        },
    )?;
    let mut table;
    match args.chains {
        ChainsMode::Tree | ChainsMode::InverseTree => {
            // People see the tree as indentation; machines get a depth column.
            let indent = args.format == Format::Table;
            table = if indent {
                Table::new(["name", "type"])
            } else {
                Table::new(["name", "type", "depth"])
            };
            let inverse = args.chains == ChainsMode::InverseTree;
            for c in &found {
                let mut rows = Vec::new();
                tree_rows(&mut conn, c, 0, at, inverse, &mut rows)?;
                for (depth, r) in rows {
                    if indent {
                        let name = format!("{}{}", "  ".repeat(depth), r.name);
                        table.rows.push(vec![json!(name), json!(r.kind.name())]);
                    } else {
                        table
                            .rows
                            .push(vec![json!(r.name), json!(r.kind.name()), json!(depth)]);
                    }
                }
            }
        }
        ChainsMode::Table | ChainsMode::InverseTable => {
            let inverse = args.chains == ChainsMode::InverseTable;
            table = Table::new(["name", "type", if inverse { "parents" } else { "children" }]);
            for c in &found {
                let related = if inverse {
                    parents_of(&mut conn, &c.name)?
                } else if c.kind == CollectionType::Chained {
                    kids(&mut conn, c, at)?
                } else {
                    vec![]
                };
                let names: Vec<String> = related.into_iter().map(|r| r.name).collect();
                let shown = if args.format == Format::Json {
                    json!(names)
                } else {
                    json!(names.join(", "))
                };
                table
                    .rows
                    .push(vec![json!(c.name), json!(c.kind.name()), shown]);
            }
        }
        ChainsMode::Flatten | ChainsMode::NoChildren => {
            table = Table::new(["name", "type"]);
            for c in &found {
                table.rows.push(vec![json!(c.name), json!(c.kind.name())]);
            }
        }
    }
    table.print(args.format)?;
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
    #[arg(long, default_value = "redefine", value_parser = ["redefine", "extend", "prepend", "remove", "pop"])]
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
    let repo = Repo::open(&args.repo)?;
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
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Run `valet chain-history`.
pub fn history(args: &HistoryArgs) -> CliResult {
    let repo = Repo::open(&args.repo)?;
    let mut conn = repo.registry().db.conn()?;
    let edits = chain_history(&mut conn, &args.chain)?;
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
    #[arg(long, value_parser = ["user", "group", "project", "production"])]
    pub owner_type: Option<String>,
}

/// Run `valet register-collection`.
pub fn register(args: &RegisterArgs) -> CliResult {
    let repo = Repo::open(&args.repo)?;
    let (_, created) = repo.registry().transaction(|conn, _| {
        valet::registry::collections::register_owned_collection(
            conn,
            &args.name,
            args.collection_type,
            args.doc.as_deref(),
            args.owner_type.as_deref(),
        )
    })?;
    if !created {
        eprintln!("collection {} already exists", args.name);
    }
    Ok(())
}

/// Confirmation options shared by the removal commands.
#[derive(Debug, Args)]
pub struct ConfirmArgs {
    /// Do not ask before removing.
    #[arg(long)]
    pub no_confirm: bool,
}

/// Ask on the terminal; without one, refuse unless `--no-confirm` was given.
fn confirm(what: &str, opts: &ConfirmArgs) -> Result<bool, RegistryError> {
    if opts.no_confirm {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(RegistryError::Invalid(format!(
            "refusing to remove {what} without confirmation; pass --no-confirm to proceed"
        )));
    }
    eprint!("remove {what}? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| RegistryError::Invalid(e.to_string()))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

fn expand(
    conn: &mut Conn,
    patterns: &[String],
    types: Vec<CollectionType>,
) -> Result<Vec<String>, RegistryError> {
    let found = query_collections(
        conn,
        &CollectionQuery {
            patterns: patterns.to_vec(),
            types,
            ..Default::default()
        },
    )?;
    Ok(found.into_iter().map(|c| c.name).collect())
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
    let repo = Repo::open(&args.repo)?;
    let names = {
        let mut conn = repo.registry().db.conn()?;
        expand(
            &mut conn,
            &args.glob,
            vec![
                CollectionType::Tagged,
                CollectionType::Calibration,
                CollectionType::Chained,
            ],
        )?
    };
    if names.is_empty() {
        eprintln!("no TAGGED, CALIBRATION or CHAINED collections match");
        return Ok(());
    }
    if !confirm(
        &format!("{} collection(s): {}", names.len(), names.join(", ")),
        &args.confirm,
    )? {
        eprintln!("nothing removed");
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
    let repo = Repo::open(&args.repo)?;
    let names = {
        let mut conn = repo.registry().db.conn()?;
        expand(&mut conn, &args.glob, vec![CollectionType::Run])?
    };
    if names.is_empty() {
        eprintln!("no RUN collections match");
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
        eprintln!("nothing removed");
        return Ok(());
    }
    let n = repo
        .registry()
        .transaction(|conn, _| remove_runs(conn, &names, args.force))?;
    // The registry change is committed; now the files go (what fails stays in the
    // trash for `valet check --repair`).
    let report = valet::datastore::empty_trash(&repo)?;
    crate::out!(
        "removed {} run(s), {n} dataset(s) and {} file(s)",
        names.len(),
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
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Run `valet lint-collections`; fails while errors or warnings remain.
pub fn lint_collections(args: &LintArgs) -> CliResult {
    let repo = Repo::open(&args.repo)?;
    let mut conn = repo.registry().db.conn()?;
    let findings = lint(&mut conn)?;
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
