//! Log lines, as the reference's global log options set them: `--log-level`,
//! `--long-log`, `--log-file`, `--log-tty/--no-log-tty`, `--log-label`, and
//! `--progress/--no-progress` for progress bars.
//!
//! By default a command's status lines (INFO) and warnings go to stderr as valet has
//! always written them (`imported …`, `valet: warning: …`); `--long-log` adds the level
//! and the time; each `--log-file` gets every line in the long form, or as JSON
//! records when its name ends in `.json`, appended.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use clap::Args;

/// The reference's log options, taken by every command.
#[derive(Debug, Args, Default)]
pub struct LogArgs {
    /// The logging level, LEVEL or COMPONENT=LEVEL (CRITICAL, ERROR, WARNING, INFO,
    /// VERBOSE, DEBUG, TRACE); valet's lines follow the root level (`.`, `lsst`,
    /// `valet` or no component).
    #[arg(long, value_name = "LEVEL|COMPONENT=LEVEL", global = true)]
    pub log_level: Vec<String>,
    /// Log lines in the long form: level, time, logger, message.
    #[arg(long, global = true)]
    pub long_log: bool,
    /// Files to append log lines to (JSON records when the name ends in `.json`).
    #[arg(long, value_name = "FILE", global = true)]
    pub log_file: Vec<PathBuf>,
    /// Log to the terminal (the default).
    #[arg(long, overrides_with = "no_log_tty", global = true)]
    pub log_tty: bool,
    /// Do not log to the terminal.
    #[arg(long, overrides_with = "log_tty", global = true)]
    pub no_log_tty: bool,
    /// KEY=VALUE pairs added to every record written to a JSON log file.
    #[arg(long, value_name = "KEY=VALUE", global = true)]
    pub log_label: Vec<String>,
    /// Show progress bars for slow work (when stderr is a terminal; the default).
    #[arg(long, overrides_with = "no_progress", global = true)]
    pub progress: bool,
    /// Never show progress bars.
    #[arg(long, overrides_with = "progress", global = true)]
    pub no_progress: bool,
}

/// How much a line matters, as the reference's levels rank them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// TRACE.
    Trace,
    /// DEBUG.
    Debug,
    /// VERBOSE.
    Verbose,
    /// INFO: what a command did.
    Info,
    /// WARNING.
    Warning,
    /// ERROR: why a command failed.
    Error,
    /// CRITICAL.
    Critical,
}

impl Level {
    fn parse(text: &str) -> Option<Level> {
        Some(match text.to_ascii_uppercase().as_str() {
            "TRACE" => Level::Trace,
            "DEBUG" => Level::Debug,
            "VERBOSE" => Level::Verbose,
            "INFO" => Level::Info,
            "WARNING" | "WARN" => Level::Warning,
            "ERROR" => Level::Error,
            "CRITICAL" | "FATAL" => Level::Critical,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Verbose => "VERBOSE",
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
            Level::Critical => "CRITICAL",
        }
    }
}

/// Where log lines go, set once from [`LogArgs`].
struct Settings {
    level: Level,
    long: bool,
    tty: bool,
    progress: bool,
    labels: serde_json::Map<String, serde_json::Value>,
    files: Mutex<Vec<(std::fs::File, bool)>>,
}

impl Default for Settings {
    /// Status lines and warnings on stderr in the short form; progress bars shown.
    fn default() -> Settings {
        Settings {
            level: Level::Info,
            long: false,
            tty: true,
            progress: true,
            labels: serde_json::Map::new(),
            files: Mutex::new(Vec::new()),
        }
    }
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

fn settings() -> &'static Settings {
    SETTINGS.get_or_init(Settings::default)
}

/// Set up logging from the options; an unknown level or an unwritable file is an
/// error naming it.
pub fn configure(args: &LogArgs) -> Result<(), String> {
    let mut level = Level::Info;
    for spec in &args.log_level {
        let (component, name) = match spec.split_once('=') {
            Some((c, l)) => (c.trim(), l.trim()),
            None => ("", spec.trim()),
        };
        let parsed = Level::parse(name).ok_or_else(|| {
            format!(
                "--log-level {spec}: {name:?} is not a level (CRITICAL, ERROR, WARNING, INFO, VERBOSE, DEBUG, TRACE)"
            )
        })?;
        if matches!(component, "" | "." | "lsst" | "valet") {
            level = parsed;
        }
    }
    let mut labels = serde_json::Map::new();
    for label in &args.log_label {
        let (k, v) = label
            .split_once('=')
            .ok_or_else(|| format!("--log-label {label}: expected KEY=VALUE"))?;
        labels.insert(k.trim().to_owned(), v.trim().into());
    }
    let mut files = Vec::new();
    for path in &args.log_file {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("--log-file {}: {e}", path.display()))?;
        let json = path.extension().is_some_and(|e| e == "json");
        files.push((file, json));
    }
    let _ = SETTINGS.set(Settings {
        level,
        long: args.long_log,
        tty: !args.no_log_tty,
        progress: !args.no_progress,
        labels,
        files: Mutex::new(files),
    });
    Ok(())
}

/// Whether progress bars may be shown (`--no-progress` says not).
pub fn progress_allowed() -> bool {
    settings().progress
}

/// Log one line at `level` (a message on one line; the short form prefixes warnings
/// and errors with `valet: warning:` / `valet: error:`).
pub fn emit(level: Level, message: &str) {
    let settings = settings();
    if level < settings.level {
        return;
    }
    let now = valet::registry::identity::now_utc_ns();
    let time = format!("{}+00:00", valet::registry::timespan::format_utc_iso(now));
    let long = format!("{} {time} valet - {message}", level.name());
    if settings.tty {
        let line = if settings.long {
            long.clone()
        } else {
            match level {
                Level::Warning => format!("valet: warning: {message}"),
                Level::Error | Level::Critical => format!("valet: error: {message}"),
                _ => message.to_owned(),
            }
        };
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
    let mut files = settings.files.lock().unwrap_or_else(|p| p.into_inner());
    for (file, json) in files.iter_mut() {
        let line = if *json {
            serde_json::json!({
                "name": "valet",
                "levelname": level.name(),
                "message": message,
                "asctime": time,
                "MDC": settings.labels,
            })
            .to_string()
        } else {
            long.clone()
        };
        let _ = writeln!(file, "{line}");
    }
}

/// Log a status line (INFO): what a command did.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => {
        $crate::log::emit($crate::log::Level::Info, &format!($($arg)*))
    };
}

/// Log a warning.
#[macro_export]
macro_rules! warning {
    ($($arg:tt)*) => {
        $crate::log::emit($crate::log::Level::Warning, &format!($($arg)*))
    };
}
