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

    /// Print in the chosen format; a table as the reference lays it out, under
    /// these column names (JSON and CSV keep the table's own).
    pub fn print_as_reference(
        &self,
        format: Format,
        headers: &[&str],
        align: Align,
    ) -> std::io::Result<()> {
        if format != Format::Table {
            return self.print(format);
        }
        let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(plain).collect())
            .collect();
        stdout_text(&reference_table(&headers, &cells, align))
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
        write_cells(
            out,
            Format::Csv,
            &self.columns,
            self.rows.len(),
            &|r, c, buf| {
                buf.push_str(&self.rows[r].get(c).map(plain).unwrap_or_default());
                CellKind::Text
            },
        )
    }
}

/// How [`reference_table`] aligns values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Padded on the left (astropy's default, as `query-datasets` prints).
    Right,
    /// Padded on the right (as `query-collections` and `query-dataset-types` print).
    Left,
}

/// Lay out a table as the reference's tools print one (astropy's `pprint_all`):
/// each column as wide as its widest cell or name, names centered, values aligned
/// as asked and padded to the column's width, a line of dashes under the names, one
/// space between columns.
pub fn reference_table(columns: &[String], rows: &[Vec<String>], align: Align) -> String {
    let mut out = Vec::new();
    // Writing into memory cannot fail.
    let _ = write_reference_table(
        &mut out,
        columns,
        rows.len(),
        &|r, c, buf| buf.push_str(&rows[r][c]),
        align,
    );
    String::from_utf8_lossy(&out).into_owned()
}

/// [`reference_table`] for `rows` rows whose cells `cell(row, column, buffer)`
/// writes, streamed to `out`: each cell is formatted twice (once to measure, once to
/// write) instead of being kept, so memory does not grow with the rows; both passes
/// run on every core.
pub fn write_reference_table(
    out: &mut dyn Write,
    columns: &[String],
    rows: usize,
    cell: &(dyn Fn(usize, usize, &mut String) + Sync),
    align: Align,
) -> std::io::Result<()> {
    // astropy makes no column narrower than three characters.
    let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count().max(3)).collect();
    // Measured on every core: each thread its share of the rows.
    let share = rows.div_ceil(formatting_threads()).max(CHUNK_ROWS);
    let measure = |range: std::ops::Range<usize>| {
        let mut widths = vec![0; columns.len()];
        let mut buf = String::new();
        for r in range {
            for (c, w) in widths.iter_mut().enumerate() {
                buf.clear();
                cell(r, c, &mut buf);
                *w = (*w).max(buf.chars().count());
            }
        }
        widths
    };
    let measured: Vec<Vec<usize>> = if rows <= share {
        vec![measure(0..rows)]
    } else {
        std::thread::scope(|scope| {
            let parts: Vec<_> = (0..rows)
                .step_by(share)
                .map(|start| {
                    let measure = &measure;
                    scope.spawn(move || measure(start..(start + share).min(rows)))
                })
                .collect();
            parts.into_iter().filter_map(|p| p.join().ok()).collect()
        })
    };
    for part in measured {
        for (w, m) in widths.iter_mut().zip(part) {
            *w = (*w).max(m);
        }
    }
    let mut line = String::new();
    for (i, (c, w)) in columns.iter().zip(&widths).enumerate() {
        if i > 0 {
            line.push(' ');
        }
        line.push_str(&centered(c, *w));
    }
    line.push('\n');
    for (i, w) in widths.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        line.extend(std::iter::repeat_n('-', *w));
    }
    line.push('\n');
    out.write_all(line.as_bytes())?;
    let widths = &widths;
    write_rows(out, rows, &|range, text| {
        let mut buf = String::new();
        let mut line = String::new();
        for r in range {
            line.clear();
            for (c, w) in widths.iter().enumerate() {
                if c > 0 {
                    line.push(' ');
                }
                buf.clear();
                cell(r, c, &mut buf);
                let pad = w.saturating_sub(buf.chars().count());
                if align == Align::Right {
                    line.extend(std::iter::repeat_n(' ', pad));
                }
                line.push_str(&buf);
                if align == Align::Left {
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            line.push('\n');
            text.extend_from_slice(line.as_bytes());
        }
    })
}

/// How a cell's text goes into JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    /// No value: `null` (an empty CSV field).
    Null,
    /// A string, quoted in JSON.
    Text,
    /// A number or boolean, written as it is.
    Literal,
}

/// Append a registry value as plain text (as [`to_json`] then [`plain`] would show
/// it), without going through JSON for the common kinds; say how JSON writes it.
pub fn push_plain(buf: &mut String, column: &str, value: &Value) -> CellKind {
    use std::fmt::Write as _;
    match value {
        Value::Null => CellKind::Null,
        Value::Int(i) if !column.starts_with("timespan_") => {
            buf.push_str(itoa::Buffer::new().format(*i));
            CellKind::Literal
        }
        Value::Text(t) => {
            buf.push_str(t);
            CellKind::Text
        }
        Value::Uuid(u) => {
            buf.push_str(
                u.hyphenated()
                    .encode_lower(&mut uuid::Uuid::encode_buffer()),
            );
            CellKind::Text
        }
        other => match to_json(column, other) {
            Json::Null => CellKind::Null,
            Json::String(s) => {
                buf.push_str(&s);
                CellKind::Text
            }
            literal => {
                let _ = write!(buf, "{literal}");
                CellKind::Literal
            }
        },
    }
}

/// Threads that format rows: one per core, at most eight.
fn formatting_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
}

/// Rows a thread formats at a time in [`write_rows`].
const CHUNK_ROWS: usize = 4096;

/// Write `rows` rows whose text `format(range, buf)` appends to `buf`, formatted on
/// every core: the rows go in chunks to the threads in turn and come out in order,
/// a couple of chunks per thread in flight, so memory stays bounded by the chunks,
/// not the rows.
pub fn write_rows(
    out: &mut dyn Write,
    rows: usize,
    format: &(dyn Fn(std::ops::Range<usize>, &mut Vec<u8>) + Sync),
) -> std::io::Result<()> {
    let chunk = |k: usize| k * CHUNK_ROWS..((k + 1) * CHUNK_ROWS).min(rows);
    let chunks = rows.div_ceil(CHUNK_ROWS);
    let threads = formatting_threads().min(chunks.max(1));
    let mut buf = Vec::new();
    if threads < 2 {
        for k in 0..chunks {
            buf.clear();
            format(chunk(k), &mut buf);
            out.write_all(&buf)?;
        }
        return Ok(());
    }
    std::thread::scope(|scope| {
        // Thread t (1..threads) formats chunks t, t + threads, …; this one the rest.
        let receivers: Vec<_> = (1..threads)
            .map(|t| {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
                scope.spawn(move || {
                    for k in (t..chunks).step_by(threads) {
                        let mut text = Vec::new();
                        format(chunk(k), &mut text);
                        // The writer stopped (a failed write): so do we.
                        if tx.send(text).is_err() {
                            break;
                        }
                    }
                });
                rx
            })
            .collect();
        for k in 0..chunks {
            match k % threads {
                0 => {
                    buf.clear();
                    format(chunk(k), &mut buf);
                    out.write_all(&buf)?;
                }
                t => {
                    let text = receivers[t - 1]
                        .recv()
                        .map_err(|_| std::io::Error::other("a formatting thread failed"))?;
                    out.write_all(&text)?;
                }
            }
        }
        Ok(())
    })
}

/// Write rows as CSV (a header row, then a line per row) or JSON (an array of
/// objects, pretty-printed): `cell(row, column, buf)` appends a cell's text to `buf`
/// and says how JSON writes it, so no row is ever held as values; rows are
/// formatted on every core ([`write_rows`]).
pub fn write_cells(
    out: &mut dyn Write,
    format: Format,
    columns: &[String],
    rows: usize,
    cell: &(dyn Fn(usize, usize, &mut String) -> CellKind + Sync),
) -> std::io::Result<()> {
    if format == Format::Csv {
        let header: Vec<String> = columns.iter().map(|c| csv_field(c)).collect();
        writeln!(out, "{}", header.join(","))?;
        return write_rows(out, rows, &|range, text| {
            let mut buf = String::new();
            let mut line = String::new();
            for r in range {
                line.clear();
                for c in 0..columns.len() {
                    if c > 0 {
                        line.push(',');
                    }
                    buf.clear();
                    cell(r, c, &mut buf);
                    if buf
                        .bytes()
                        .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
                    {
                        line.push_str(&csv_field(&buf));
                    } else {
                        line.push_str(&buf);
                    }
                }
                line.push('\n');
                text.extend_from_slice(line.as_bytes());
            }
        });
    }
    if rows == 0 {
        return out.write_all(b"[]\n");
    }
    // Keys are quoted once, not once per row.
    let keys: Vec<String> = columns
        .iter()
        .map(|c| format!("    {}: ", Json::String(c.clone())))
        .collect();
    write_rows(out, rows, &|range, text| {
        let mut buf = String::new();
        let mut line = String::new();
        for r in range {
            line.clear();
            line.push_str(if r > 0 { ",\n  {\n" } else { "[\n  {\n" });
            for (c, key) in keys.iter().enumerate() {
                line.push_str(key);
                buf.clear();
                match cell(r, c, &mut buf) {
                    CellKind::Null => line.push_str("null"),
                    CellKind::Literal => line.push_str(&buf),
                    CellKind::Text => push_json_string(&mut line, &buf),
                }
                line.push_str(if c + 1 < keys.len() { ",\n" } else { "\n" });
            }
            line.push_str("  }");
            text.extend_from_slice(line.as_bytes());
        }
    })?;
    out.write_all(b"\n]\n")
}

/// Append `text` as a JSON string, quoted and escaped.
fn push_json_string(line: &mut String, text: &str) {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        line.push('"');
        line.push_str(text);
        line.push('"');
    } else {
        line.push_str(&Json::String(text.to_owned()).to_string());
    }
}

/// `text` centered in `width` columns, the odd space placed as Python's
/// `str.center` places it.
fn centered(text: &str, width: usize) -> String {
    let n = text.chars().count();
    if n >= width {
        return text.to_owned();
    }
    let margin = width - n;
    let left = margin / 2 + (margin & width & 1);
    format!("{}{text}{}", " ".repeat(left), " ".repeat(margin - left))
}

/// A JSON value as plain text (no quotes around strings, empty for null).
pub fn plain(v: &Json) -> String {
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
    let wanted = crate::log::progress_allowed();
    (wanted && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
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

    /// Rows written one at a time come out as serde writes the same objects (JSON) and
    /// with fields quoted where they must be (CSV).
    #[test]
    fn cells_as_whole_documents() {
        let columns = vec!["name".to_owned(), "n".into(), "missing".into()];
        let rows = [("plain", 1), ("with \"quotes\", and\nlines\u{1}", -2)];
        let cell = |r: usize, c: usize, buf: &mut String| match (c, rows[r]) {
            (0, r) => {
                buf.push_str(r.0);
                CellKind::Text
            }
            (1, r) => {
                buf.push_str(&r.1.to_string());
                CellKind::Literal
            }
            _ => CellKind::Null,
        };
        let mut json = Vec::new();
        write_cells(&mut json, Format::Json, &columns, rows.len(), &cell).unwrap();
        let objects: Vec<Json> = rows
            .iter()
            .map(|r| serde_json::json!({"name": r.0, "n": r.1, "missing": null}))
            .collect();
        let expected = format!("{}\n", serde_json::to_string_pretty(&objects).unwrap());
        assert_eq!(String::from_utf8(json).unwrap(), expected);
        let mut empty = Vec::new();
        write_cells(&mut empty, Format::Json, &columns, 0, &cell).unwrap();
        assert_eq!(String::from_utf8(empty).unwrap(), "[]\n");

        let mut csv = Vec::new();
        write_cells(&mut csv, Format::Csv, &columns, rows.len(), &cell).unwrap();
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "name,n,missing\nplain,1,\n\"with \"\"quotes\"\", and\nlines\u{1}\",-2,\n"
        );
    }

    /// Many chunks, formatted on several threads, come out whole and in order.
    #[test]
    fn many_rows_in_order() {
        let rows = 3 * CHUNK_ROWS + 17;
        let columns = vec!["n".to_owned(), "word".into()];
        let cell = |r: usize, c: usize, buf: &mut String| {
            if c == 0 {
                buf.push_str(&r.to_string());
                CellKind::Literal
            } else {
                buf.push_str(if r.is_multiple_of(3) { "a,b" } else { "x" });
                CellKind::Text
            }
        };
        let mut csv = Vec::new();
        write_cells(&mut csv, Format::Csv, &columns, rows, &cell).unwrap();
        let mut want = String::from("n,word\n");
        for r in 0..rows {
            let word = if r.is_multiple_of(3) { "\"a,b\"" } else { "x" };
            want.push_str(&format!("{r},{word}\n"));
        }
        assert_eq!(String::from_utf8(csv).unwrap(), want);

        let mut json = Vec::new();
        write_cells(&mut json, Format::Json, &columns, rows, &cell).unwrap();
        let parsed: Vec<Json> = serde_json::from_slice(&json).unwrap();
        assert_eq!(parsed.len(), rows);
        assert!(parsed
            .iter()
            .enumerate()
            .all(|(r, o)| o["n"] == serde_json::json!(r)));

        let mut table = Vec::new();
        let text_cell = |r: usize, c: usize, buf: &mut String| {
            cell(r, c, buf);
        };
        write_reference_table(&mut table, &columns, rows, &text_cell, Align::Right).unwrap();
        let table = String::from_utf8(table).unwrap();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), rows + 2);
        let width = rows.to_string().len();
        assert_eq!(lines[1], format!("{} ----", "-".repeat(width)));
        for (r, line) in lines[2..].iter().enumerate() {
            assert_eq!(line.split_whitespace().next(), Some(r.to_string().as_str()));
            assert_eq!(line.len(), width + 5);
        }
    }

    #[test]
    fn csv_quotes_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn headers_center_as_python_does() {
        assert_eq!(centered("type", 6), " type ");
        assert_eq!(centered("instrument", 13), "  instrument ");
        assert_eq!(centered("day_obs", 8), "day_obs ");
        assert_eq!(centered("run", 21), "         run         ");
        let t = reference_table(
            &["type".into(), "detector".into()],
            &[vec!["raw".into(), "3".into()]],
            Align::Right,
        );
        assert_eq!(t, "type detector\n---- --------\n raw        3\n");
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
