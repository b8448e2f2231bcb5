//! Printing query results as a table, JSON or CSV (`--format table|json|csv`).

use std::io::Write;

use clap::ValueEnum;
use serde_json::{Map, Value as Json};
use valet::queries::value_json;
use valet::registry::region::Region;
use valet::registry::timespan::format_tai_iso;
use valet::Value;

/// Write text to stdout. A closed pipe (`valet … | head -1`) comes back as an error,
/// which `main` takes for a normal end, instead of the panic `print!` gives.
pub fn stdout_text(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Write one line to stdout (see [`stdout_text`]).
pub fn stdout_line(line: &str) -> std::io::Result<()> {
    stdout_text(&format!("{line}\n"))
}

/// `println!` that returns a closed pipe as an error (see [`stdout_text`]).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::stdout_line(&format!($($arg)*))?
    };
}

/// Output format of every query command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// A JSON array of objects.
    Json,
    /// Comma-separated values with a header row.
    Csv,
}

/// A result table: named columns and rows of JSON values.
#[derive(Debug, Default)]
pub struct Table {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, one value per column.
    pub rows: Vec<Vec<Json>>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Table {
        Table {
            columns: columns.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Print in the chosen format to stdout.
    pub fn print(&self, format: Format) -> std::io::Result<()> {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        match format {
            Format::Table => self.write_table(&mut out)?,
            Format::Json => self.write_json(&mut out)?,
            Format::Csv => self.write_csv(&mut out)?,
        }
        out.flush()
    }

    fn write_table(&self, out: &mut impl Write) -> std::io::Result<()> {
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(plain).collect())
            .collect();
        let mut widths: Vec<usize> = self.columns.iter().map(|c| c.chars().count()).collect();
        for row in &cells {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |vals: &[String]| -> String {
            vals.iter()
                .zip(&widths)
                .map(|(v, w)| format!("{v:<w$}"))
                .collect::<Vec<_>>()
                .join(" ")
                .trim_end()
                .to_owned()
        };
        writeln!(out, "{}", line(&self.columns))?;
        let dashes: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        writeln!(out, "{}", line(&dashes))?;
        for row in &cells {
            writeln!(out, "{}", line(row))?;
        }
        Ok(())
    }

    fn write_json(&self, out: &mut impl Write) -> std::io::Result<()> {
        let arr: Vec<Json> = self
            .rows
            .iter()
            .map(|r| {
                let mut m = Map::new();
                for (c, v) in self.columns.iter().zip(r) {
                    m.insert(c.clone(), v.clone());
                }
                Json::Object(m)
            })
            .collect();
        serde_json::to_writer_pretty(&mut *out, &arr)?;
        writeln!(out)
    }

    fn write_csv(&self, out: &mut impl Write) -> std::io::Result<()> {
        let header: Vec<String> = self.columns.iter().map(|c| csv_field(c)).collect();
        writeln!(out, "{}", header.join(","))?;
        for r in &self.rows {
            let fields: Vec<String> = r.iter().map(|v| csv_field(&plain(v))).collect();
            writeln!(out, "{}", fields.join(","))?;
        }
        Ok(())
    }
}

/// A JSON value as plain text (no quotes around strings, empty for null).
fn plain(v: &Json) -> String {
    match v {
        Json::Null => String::new(),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Convert a registry value to JSON for output; `column` decides how timespans and
/// regions are shown (TAI ISO times; ADQL-style polygons).
pub fn to_json(column: &str, value: &Value) -> Json {
    match value {
        Value::Int(i) if column.starts_with("timespan_") => Json::String(format_tai_iso(*i)),
        Value::Bytes(b) if column == "region" => Json::String(region_text(b)),
        other => value_json(other),
    }
}

fn region_text(bytes: &[u8]) -> String {
    Region::decode(bytes)
        .adql_polygon()
        .unwrap_or_else(|| bytes.iter().map(|x| format!("{x:02x}")).collect())
}

/// A progress bar on stderr with this template, only when a person is watching.
pub fn progress_bar(template: &str) -> Option<indicatif::ProgressBar> {
    std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    })
}

/// The progress reports that move a bar, if there is one.
pub fn progress_reports(
    bar: &Option<indicatif::ProgressBar>,
) -> Option<valet::transfers::import::ProgressFn> {
    bar.as_ref().map(|b| {
        let b = b.clone();
        let report: valet::transfers::import::ProgressFn =
            std::sync::Arc::new(move |done, total| {
                b.set_length(total);
                b.set_position(done);
            });
        report
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn values_render() {
        assert_eq!(
            to_json("timespan_begin", &Value::Int(0)),
            Json::String("1970-01-01 00:00:00.000000000".into())
        );
        assert_eq!(to_json("id", &Value::Int(3)), Json::from(3));
        assert_eq!(to_json("x", &Value::Null), Json::Null);
    }
}
