//! Parsing helpers shared by commands: data IDs, times, collection lists.

use std::io::{BufRead, IsTerminal, Write};
use valet::registry::timespan::{parse_tai_iso, parse_utc_iso};

use clap::Args;
use valet::{DataId, RegistryError, Timespan, Value};

/// Confirmation options shared by the removal commands.
#[derive(Debug, Args)]
pub struct ConfirmArgs {
    /// Do not ask before removing.
    #[arg(long)]
    pub no_confirm: bool,
}

/// Ask before removing `what`: the answer is read from standard input, a terminal
/// or a pipe (`yes | valet …`); no answer at all refuses, naming `--no-confirm`.
pub fn confirm(what: &str, opts: &ConfirmArgs) -> Result<bool, RegistryError> {
    if opts.no_confirm {
        return Ok(true);
    }
    let terminal = std::io::stdin().is_terminal();
    if terminal {
        eprint!("remove {what}? [y/N] ");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    let n = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| RegistryError::Invalid(e.to_string()))?;
    if n == 0 && !terminal {
        return Err(RegistryError::Invalid(format!(
            "refusing to remove {what} without confirmation; answer y on standard input or pass --no-confirm to proceed"
        )));
    }
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

/// Dataset ids as `--input-datasets` takes them (repeated or comma-separated): UUIDs
/// name Butler datasets, integers named ones.
pub fn dataset_keys(values: &[String]) -> Result<(Vec<uuid::Uuid>, Vec<i64>), String> {
    let (mut butler, mut named) = (Vec::new(), Vec::new());
    for s in split_commas(values) {
        match s.parse::<valet::provenance::DatasetKey>() {
            Ok(valet::provenance::DatasetKey::Butler(u)) => butler.push(u),
            Ok(valet::provenance::DatasetKey::Named(n)) => named.push(n),
            Err(e) => return Err(format!("--input-datasets: {e}")),
        }
    }
    Ok((butler, named))
}

/// The text of a file given as an option (configurations are stored as text).
pub fn file_text(path: &Option<std::path::PathBuf>) -> Result<Option<String>, String> {
    path.as_ref()
        .map(|p| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display())))
        .transpose()
}

/// The transfer modes `-t/--transfer` takes, as the reference's commands list them.
pub const TRANSFER_MODES: [&str; 8] = [
    "auto",
    "link",
    "symlink",
    "hardlink",
    "copy",
    "move",
    "relsymlink",
    "direct",
];

/// `--order-by`, `--limit` and `--offset`, as `query-data-ids` and
/// `query-dimension-records` take them.
#[derive(Debug, clap::Args)]
pub struct PageArgs {
    /// Sort by these columns (prefix with '-' for descending).
    #[arg(long, allow_hyphen_values = true)]
    pub order_by: Vec<String>,
    /// Show at most this many rows; 0 shows every one, and a negative value is a cap
    /// that warns when it cuts (the reference's default).
    #[arg(long, default_value_t = -20_000, allow_negative_numbers = true)]
    pub limit: i64,
    /// Leave out this many rows first.
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
}

impl PageArgs {
    /// The limit as the engine takes it (`None`: every row).
    pub fn limit(&self) -> Option<usize> {
        (self.limit != 0).then_some(self.limit.unsigned_abs() as usize)
    }

    /// The sort columns, comma-separated or repeated.
    pub fn order_by(&self) -> Vec<String> {
        split_commas(&self.order_by)
    }

    /// Warn, as the reference does, when a negative limit (a cap) cut the answer.
    pub fn warn_if_capped(&self, limited: bool) {
        if limited && self.limit < 0 {
            crate::warning!(
                "More data IDs are available than the request limit of {}",
                self.limit.unsigned_abs()
            );
        }
    }
}

/// Split repeated and comma-separated values (`-c a,b -c c` → `[a, b, c]`).
pub fn split_commas(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Parse `k=v` pairs into a data ID; numbers become integers.
pub fn parse_data_id(pairs: &[String]) -> Result<DataId, RegistryError> {
    let mut out = DataId::new();
    for p in split_commas(pairs) {
        let (k, v) = p.split_once('=').ok_or_else(|| {
            RegistryError::Invalid(format!("--data-id {p:?}: expected DIMENSION=VALUE"))
        })?;
        let value = match v.trim().parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Text(v.trim().to_owned()),
        };
        out.insert(k.trim().to_owned(), value);
    }
    Ok(out)
}

/// Parse an ISO time in UTC (used for `--as-of`) to nanoseconds since 1970.
pub fn parse_utc(text: &str) -> Result<i64, RegistryError> {
    parse_utc_iso(text.trim_end_matches('Z'))
}

/// `--as-of` as UTC nanoseconds.
pub fn as_of(text: &Option<String>) -> Result<Option<i64>, RegistryError> {
    text.as_deref().map(parse_utc).transpose()
}

/// A validity range from optional ISO TAI begin and end dates; a begin after the end
/// is refused.
pub fn timespan(begin: &Option<String>, end: &Option<String>) -> Result<Timespan, RegistryError> {
    let b = begin.as_deref().map(parse_tai_iso).transpose()?;
    let e = end.as_deref().map(parse_tai_iso).transpose()?;
    Timespan::checked(b, e)
}
