//! Seeded fuzzing on stable Rust, bounded in cases and time so it runs with the other
//! tests: the export reader (mutated conformance exports, imported on both backends),
//! the `--where` parser (token soups and deep structures, compiled and run on both
//! backends), file templates, and the ObsCore configuration reader.
//!
//! Every target asserts that nothing panics and that each case ends in bounded time;
//! the export reader also asserts that a failed import leaves the repository as it
//! was. Each target prints one summary line. `VALET_FUZZ_SEED` picks another seed,
//! `VALET_FUZZ_SECONDS` and `VALET_FUZZ_CASES` change the bounds, and
//! `VALET_FUZZ_CASE=N` replays case N alone (as a failure report says).

mod common;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{new_repo, Backend, Rng, TestRepo};
use valet::datastore_crate::{FileTemplate, TemplateContext};
use valet::obscore::{CsvLine, DatasetContext, ObsCoreConfig, RowPlan};
use valet::registry::region::Region;
use valet::registry::{dimensions, expr, Record, Timespan, Value};
use valet::transfers::{import_export, read_export, ImportOptions};
use valet::Repo;

// ---------------------------------------------------------------------------------
// The generator and the bounded loop.

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// How one case ended, when it did not panic.
enum Outcome {
    /// The input was taken.
    Accepted,
    /// The input was refused with an error (what most mutations should get), by the
    /// named stage.
    Refused(&'static str),
    /// A property the target checks does not hold.
    Broken(String),
}

/// Run `case` on fresh generators until the case or time budget is spent, counting
/// outcomes and catching panics; print one summary line, then fail on any panic or
/// broken property, naming the case to replay.
fn fuzz(target: &str, default_seconds: u64, mut case: impl FnMut(&mut Rng) -> Outcome) {
    let seed = env_number("VALET_FUZZ_SEED").unwrap_or(0x7661_6c65_7466_757a);
    let seconds = env_number("VALET_FUZZ_SECONDS").unwrap_or(default_seconds);
    let max_cases = env_number("VALET_FUZZ_CASES").unwrap_or(1_000_000);
    let only = env_number("VALET_FUZZ_CASE");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let (mut cases, mut accepted) = (0u64, 0u64);
    let mut refused: BTreeMap<&str, u64> = BTreeMap::new();
    let mut failures: Vec<String> = Vec::new();
    let mut panics = 0u64;
    let mut slowest = Duration::ZERO;
    let indices: Box<dyn Iterator<Item = u64>> = match only {
        Some(i) => Box::new(std::iter::once(i)),
        None => Box::new(0..max_cases),
    };
    for index in indices {
        if only.is_none() && Instant::now() >= deadline {
            break;
        }
        let mut rng = Rng::new(seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let t = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| case(&mut rng)));
        slowest = slowest.max(t.elapsed());
        cases += 1;
        match outcome {
            Ok(Outcome::Accepted) => accepted += 1,
            Ok(Outcome::Refused(stage)) => *refused.entry(stage).or_default() += 1,
            Ok(Outcome::Broken(why)) => failures.push(format!("case {index}: {why}")),
            Err(p) => {
                panics += 1;
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("case {index}: panicked: {msg}"));
            }
        }
    }
    let refused: Vec<String> = refused
        .iter()
        .map(|(stage, n)| format!("{n} refused by the {stage}"))
        .collect();
    println!(
        "fuzz {target}: {cases} cases in {:.1} s ({accepted} accepted, {}), \
         slowest {:.0} ms, {panics} panics, {} broken properties",
        started.elapsed().as_secs_f64(),
        refused.join(", "),
        slowest.as_secs_f64() * 1e3,
        failures.len() as u64 - panics,
    );
    assert!(
        failures.is_empty(),
        "fuzz {target} (VALET_FUZZ_SEED={seed}, replay with VALET_FUZZ_CASE=N):\n{}",
        failures
            .iter()
            .take(10)
            .map(|f| f.chars().take(2000).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Apply a few of `ops` (each changes the text one way) to `text`.
fn mutate(rng: &mut Rng, text: &str, ops: &[fn(&mut Rng, &mut String)]) -> String {
    let mut out = text.to_owned();
    // Mostly one change, so that what it breaks is what gets tested.
    let n = *rng.pick(&[1, 1, 1, 1, 1, 2, 2, 2, 3, 3]);
    for _ in 0..n {
        rng.pick(ops)(rng, &mut out);
    }
    out
}

/// The start of a random line of `text` and the line's length (without newline).
fn random_line(rng: &mut Rng, text: &str) -> (usize, usize) {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .filter(|&i| i < text.len())
        .collect();
    if starts.is_empty() {
        return (0, 0);
    }
    let start = *rng.pick(&starts);
    let len = text[start..].find('\n').unwrap_or(text.len() - start);
    (start, len)
}

/// A random char boundary of `text`.
fn boundary(rng: &mut Rng, text: &str) -> usize {
    let mut i = rng.below(text.len() + 1);
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn flip_byte(rng: &mut Rng, text: &mut String) {
    if text.is_empty() {
        return;
    }
    const BYTES: &[u8] = b":- \n'\"{}[]!&*#|>%@,0129.xe\t\\";
    let mut bytes = std::mem::take(text).into_bytes();
    let i = rng.below(bytes.len());
    bytes[i] = if rng.chance(70) {
        *rng.pick(BYTES)
    } else {
        bytes[i] ^ (1 << rng.below(8))
    };
    *text = String::from_utf8_lossy(&bytes).into_owned();
}

fn truncate(rng: &mut Rng, text: &mut String) {
    let i = boundary(rng, text);
    text.truncate(i);
}

fn delete_lines(rng: &mut Rng, text: &mut String) {
    let (start, _) = random_line(rng, text);
    let mut end = start;
    for _ in 0..1 + rng.below(4) {
        end = text[end..].find('\n').map_or(text.len(), |i| end + i + 1);
    }
    text.replace_range(start..end, "");
}

fn duplicate_lines(rng: &mut Rng, text: &mut String) {
    let (start, len) = random_line(rng, text);
    let line = format!("{}\n", &text[start..start + len]);
    let (at, _) = random_line(rng, text);
    text.insert_str(at, &line);
}

fn swap_lines(rng: &mut Rng, text: &mut String) {
    let mut lines: Vec<&str> = text.lines().collect();
    if lines.len() < 2 {
        return;
    }
    let (a, b) = (rng.below(lines.len()), rng.below(lines.len()));
    lines.swap(a, b);
    *text = lines.join("\n") + "\n";
}

/// The byte ranges of the export's entries (`- type: …` blocks, or the old format's
/// `  -` ones).
fn entries(text: &str) -> Vec<(usize, usize)> {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .filter(|&i| {
            let line = &text[i..text[i..].find('\n').map_or(text.len(), |e| i + e)];
            line.starts_with("- type:") || line == "  -"
        })
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(k, &a)| (a, starts.get(k + 1).copied().unwrap_or(text.len())))
        .collect()
}

fn duplicate_entry(rng: &mut Rng, text: &mut String) {
    let all = entries(text);
    if all.is_empty() {
        return duplicate_lines(rng, text);
    }
    let (a, b) = *rng.pick(&all);
    let (at, _) = *rng.pick(&all);
    let entry = text[a..b].to_owned();
    text.insert_str(at, &entry);
}

fn move_entry(rng: &mut Rng, text: &mut String) {
    let all = entries(text);
    if all.len() < 2 {
        return swap_lines(rng, text);
    }
    let (a, b) = *rng.pick(&all);
    let entry = text[a..b].to_owned();
    text.replace_range(a..b, "");
    let (at, _) = *rng.pick(&entries(text));
    text.insert_str(at, &entry);
}

/// Give a random `key: value` line the value of another line: names turn up where
/// other names were, chains list themselves, and so on.
fn transplant_value(rng: &mut Rng, text: &mut String) {
    let values: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(_, v)| v.to_owned()))
        .collect();
    if values.is_empty() {
        return;
    }
    let value = rng.pick(&values).clone();
    replace_value(rng, text, &[&value]);
}

fn reindent(rng: &mut Rng, text: &mut String) {
    let (start, len) = random_line(rng, text);
    if rng.chance(50) {
        text.insert_str(start, "  ");
    } else if text[start..start + len].starts_with("  ") {
        text.replace_range(start..start + 2, "");
    }
}

/// Replace the value after the `: ` of a random line with one of `values`.
fn replace_value(rng: &mut Rng, text: &mut String, values: &[&str]) {
    for _ in 0..8 {
        let (start, len) = random_line(rng, text);
        if let Some(i) = text[start..start + len].find(": ") {
            let value = *rng.pick(values);
            text.replace_range(start + i + 2..start + len, value);
            return;
        }
    }
}

// ---------------------------------------------------------------------------------
// The export reader.

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/conformance")
        .join(path)
}

/// The reference's exports the mutations start from (base.yaml is also what each
/// repository holds before a case).
const EXPORTS: [&str; 7] = [
    "base.yaml",
    "datasets.yaml",
    "spatial.yaml",
    "ci_hsc-subset.yaml",
    "ci_hsc-subset-skymap.yaml",
    "hsc-rc2-subset-v0.yaml",
    "lsstcam-subset.yaml",
];

const TAGS: &[&str] = &[
    "!uuid",
    "!uuidx",
    "!UUID",
    "!lsst.daf.butler.Timespan",
    "!butler_time/tai/iso",
    "!butler_time/tai/nsec",
    "!butler_time/utc/iso",
    "!<lsst.sphgeom.ConvexPolygon>",
    "!<lsst.sphgeom.Circle>",
    "!<lsst.sphgeom.Box>",
    "!<lsst.sphgeom.Ellipse>",
    "!<lsst.sphgeom.UnionRegion>",
    "!<lsst.sphgeom.Torus>",
    "!<tag:yaml.org,2002:str>",
    "!<uuid>",
    "!!binary",
    "!!str",
    "!!int",
    "!!python/object:x",
    "!",
    "",
];

const EXPORT_VALUES: &[&str] = &[
    "null",
    "~",
    "''",
    "-1",
    "0",
    "9223372036854775808",
    "-9223372036854775809",
    "1e999",
    ".nan",
    "[]",
    "{}",
    "[[[[",
    "{a: {b: {c: [d]}}}",
    "&anchor x",
    "*anchor",
    "!uuid 'not-a-uuid'",
    "!uuid 5",
    "!butler_time/tai/iso '2016-12-31 23:59:60.000000000'",
    "!butler_time/tai/iso '2021-13-45 25:61:61'",
    "!butler_time/tai/nsec 9223372036854775807",
    "!lsst.daf.butler.Timespan {begin: null, end: null}",
    "!lsst.daf.butler.Timespan {begin: !butler_time/tai/iso '2022-01-01', end: !butler_time/tai/iso '2021-01-01'}",
    "\"u/me/\\u200Bhidden\"",
    "\"a\\u202Eb\"",
    "'x/../y'",
    "RUN",
    "CHAINED",
    "CALIBRATION",
    "TAGGED",
    "spaceship",
    "[imported_g, imported_r]",
    "[[imported_g, [bias]]]",
    "!!binary AAAA",
];

/// A region encoding: of any kind, well-formed or slightly wrong.
fn region_bytes(rng: &mut Rng) -> Vec<u8> {
    let v = |rng: &mut Rng| [rng.next() as f64 / u64::MAX as f64, 0.5, -0.25];
    let region = match rng.below(6) {
        0 => Region::ConvexPolygon((0..rng.below(6)).map(|_| v(rng)).collect()),
        1 => Region::Circle {
            center: v(rng),
            squared_chord_length: 0.1,
            opening_angle: 0.3,
        },
        2 => Region::Box {
            lon: [0.1, 6.0],
            lat: [-0.2, 0.2],
        },
        3 => Region::Union(
            (0..rng.below(3))
                .map(|_| Region::ConvexPolygon(vec![v(rng), v(rng), v(rng)]))
                .collect(),
        ),
        4 => Region::Intersection(vec![Region::Union(vec![])]),
        _ => Region::Opaque((0..rng.below(40)).map(|_| rng.next() as u8).collect()),
    };
    let mut bytes = region.encode();
    if rng.chance(30) && !bytes.is_empty() {
        let n = rng.below(bytes.len());
        bytes.truncate(n);
    } else if rng.chance(20) && !bytes.is_empty() {
        bytes[0] = *rng.pick(b"pbceuix\0");
    }
    bytes
}

fn swap_tag(rng: &mut Rng, text: &mut String) {
    let at: Vec<usize> = text.match_indices('!').map(|(i, _)| i).collect();
    if at.is_empty() {
        return;
    }
    let start = *rng.pick(&at);
    let len = text[start..]
        .find([' ', '\n', '{', '\''])
        .unwrap_or(text.len() - start);
    let tag = *rng.pick(TAGS);
    text.replace_range(start..start + len, tag);
}

fn replace_export_value(rng: &mut Rng, text: &mut String) {
    replace_value(rng, text, EXPORT_VALUES);
}

fn replace_region(rng: &mut Rng, text: &mut String) {
    let at: Vec<usize> = text
        .match_indices("encoded: ")
        .map(|(i, _)| i + 9)
        .collect();
    if at.is_empty() {
        return swap_tag(rng, text);
    }
    let start = *rng.pick(&at);
    let len = text[start..]
        .find(['\n', '}'])
        .unwrap_or(text.len() - start);
    let hex = hex::encode(region_bytes(rng));
    text.replace_range(start..start + len, &format!("'{hex}'"));
}

const EXPORT_MUTATIONS: &[fn(&mut Rng, &mut String)] = &[
    flip_byte,
    truncate,
    delete_lines,
    duplicate_lines,
    swap_lines,
    reindent,
    swap_tag,
    replace_export_value,
    replace_region,
    duplicate_entry,
    duplicate_entry,
    move_entry,
    move_entry,
    transplant_value,
    transplant_value,
    transplant_value,
];

/// What a failed import must leave as it was: every table's row count, and the
/// collections, chains and dataset types by name.
fn registry_summary(repo: &Repo) -> Vec<String> {
    let mut c = repo.registry().db.conn().expect("connection");
    let tables_sql = match c.backend() {
        valet::registry::db::Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        }
        valet::registry::db::Backend::Postgres => {
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
        }
    };
    let tables = c.query(tables_sql, &[]).expect("table list");
    let mut out = Vec::new();
    for t in tables {
        let name = t[0].as_str().unwrap_or_default().to_owned();
        let n = c
            .query_opt(
                &format!(
                    "SELECT COUNT(*) FROM {}",
                    valet::registry::db::quote_ident(&name)
                ),
                &[],
            )
            .expect("count")
            .map(|r| r[0].clone());
        out.push(format!("{name}: {n:?}"));
    }
    for sql in [
        "SELECT name, type FROM collection ORDER BY name",
        "SELECT p.name, c.position, k.name FROM collection_chain c \
         JOIN collection p ON p.collection_id = c.parent \
         JOIN collection k ON k.collection_id = c.child ORDER BY p.name, c.position",
        "SELECT name FROM dataset_type ORDER BY name",
    ] {
        for row in c.query(sql, &[]).expect("summary query") {
            out.push(format!("{row:?}"));
        }
    }
    out
}

/// A fresh repository, holding base.yaml when `with_base`.
fn fresh_repo(backend: Backend, with_base: bool) -> Option<TestRepo> {
    let t = new_repo(backend)?;
    if with_base {
        t.repo
            .import_files(
                &[data("butler-fixtures/base.yaml")],
                &ImportOptions::default(),
            )
            .expect("import base.yaml");
    }
    Some(t)
}

/// A repository mutated exports are imported into, and its registry before the case.
struct Target {
    t: TestRepo,
    with_base: bool,
    before: Vec<String>,
    imported: usize,
}

impl Target {
    fn new(backend: Backend, with_base: bool) -> Option<Target> {
        let t = fresh_repo(backend, with_base)?;
        let before = registry_summary(&t.repo);
        Some(Target {
            t,
            with_base,
            before,
            imported: 0,
        })
    }

    /// Import `file`: a failure must leave the registry as it was.
    fn import(&mut self, backend: Backend, file: valet::transfers::ExportFile) -> Outcome {
        let files = [(file, "fuzz.yaml".to_owned())];
        match import_export(&self.t.repo, &files, &ImportOptions::default()) {
            Err(e) => {
                let msg = e.to_string();
                if msg.lines().count() != 1 {
                    return Outcome::Broken(format!("not one line: {msg}"));
                }
                let after = registry_summary(&self.t.repo);
                if after != self.before {
                    return Outcome::Broken(format!(
                        "the failed import ({msg}) changed the registry:\n{}",
                        diff(&self.before, &after)
                    ));
                }
                Outcome::Refused("import")
            }
            Ok(_) => {
                // Start again now and then, so later cases do not all fail on what
                // earlier ones imported.
                self.imported += 1;
                if self.imported.is_multiple_of(8) {
                    if let Some(t) = fresh_repo(backend, self.with_base) {
                        self.t = t;
                    }
                }
                self.before = registry_summary(&self.t.repo);
                Outcome::Accepted
            }
        }
    }
}

fn export_reader(backend: Backend) {
    // Each export with whether it needs base.yaml imported first.
    let mut corpus: Vec<(String, bool)> = EXPORTS
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(data(&format!("butler-fixtures/{f}"))).unwrap();
            (text, ["datasets.yaml", "spatial.yaml"].contains(f))
        })
        .collect();
    // A small sample of the DP0.2 shape adds chains, TAGGED and CALIBRATION
    // collections to what the fixtures hold.
    let sample = valet::workload::generate(&valet::workload::Shape {
        detectors: 2,
        visits: 2,
        runs: 3,
        reprocessed_percent: 50,
    });
    let mut text = Vec::new();
    valet::transfers::write_export(&sample, &mut text).unwrap();
    let sample = String::from_utf8(text).unwrap();
    corpus.extend([(sample.clone(), false), (sample, false)]);
    let (Some(mut empty), Some(mut based)) =
        (Target::new(backend, false), Target::new(backend, true))
    else {
        return;
    };
    let name = format!("export reader ({backend:?})");
    fuzz(&name, 12, |rng| {
        let (seed, with_base) = &corpus[rng.below(corpus.len())];
        let text = mutate(rng, seed, EXPORT_MUTATIONS);
        let Ok(file) = read_export(&text, "fuzz.yaml") else {
            return Outcome::Refused("reader");
        };
        let target = if *with_base { &mut based } else { &mut empty };
        target.import(backend, file)
    });
}

fn diff(before: &[String], after: &[String]) -> String {
    let gone = before.iter().filter(|l| !after.contains(l));
    let new = after.iter().filter(|l| !before.contains(l));
    gone.map(|l| format!("- {l}"))
        .chain(new.map(|l| format!("+ {l}")))
        .take(20)
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------------
// The `--where` parser.

const WHERE_NAMES: &[&str] = &[
    "visit",
    "detector",
    "instrument",
    "exposure",
    "band",
    "physical_filter",
    "day_obs",
    "visit.exposure_time",
    "visit.id",
    "visit.visit",
    "visit.name",
    "detector.full_name",
    "detector.purpose",
    "exposure.obs_id",
    "id",
    "name",
    "full_name",
    "exposure_time",
    "timespan_begin",
    "region",
    "v",
    "s",
    "f",
    "bad.field",
    "a.b.c",
    "_x",
];

const WHERE_WORDS: &[&str] = &[
    "AND", "OR", "NOT", "IN", "and", "or", "not", "in", "Not", "GLOB", "glob", "OVERLAPS",
];

const WHERE_SYMBOLS: &[&str] = &[
    "=",
    "!=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "(",
    ")",
    ",",
    "..",
    ":",
    "-",
    "'",
    "\"",
    "!",
    ".",
    "*",
    "==",
    "=<",
    ";",
    "--",
    "/*",
    "é",
    "\u{200B}",
    "\0",
    "\n",
    "+",
    "/",
    "%",
    ":v",
    ":nope",
    "T'2022-01-01'",
    "T'",
    "t'58849.5/tai'",
    "T'2022-99-01'",
];

const WHERE_LITERALS: &[&str] = &[
    "0",
    "1",
    "-1",
    "42",
    "1.5",
    "-0.0",
    "1e308",
    "1e999",
    "-1e999",
    "5.",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "'Cam1'",
    "\"Cam1-G\"",
    "''",
    "'it''s'",
    "'unterminated",
    "1..10",
    "1..10:2",
    "5..1",
    "-9223372036854775807..9223372036854775807:9223372036854775807",
    "0..0:0",
    "1..2:-1",
    "1e",
    "1e+",
    "0x10",
    "1_000",
];

fn where_operand(rng: &mut Rng) -> String {
    if rng.chance(50) {
        rng.pick(WHERE_NAMES).to_string()
    } else {
        rng.pick(WHERE_LITERALS).to_string()
    }
}

/// An expression of the grammar's shapes, up to `depth` levels of nesting.
fn where_expr(rng: &mut Rng, depth: usize) -> String {
    let op = || ["=", "!=", "<>", "<", "<=", ">", ">="];
    match if depth == 0 {
        rng.below(2)
    } else {
        rng.below(7)
    } {
        0 => format!(
            "{} {} {}",
            where_operand(rng),
            rng.pick(&op()),
            where_operand(rng)
        ),
        1 => {
            let items: Vec<String> = (0..1 + rng.below(5)).map(|_| where_operand(rng)).collect();
            let not = if rng.chance(30) { "NOT " } else { "" };
            format!("{} {not}IN ({})", rng.pick(WHERE_NAMES), items.join(", "))
        }
        2 => format!("NOT {}", where_expr(rng, depth - 1)),
        3 => format!("({})", where_expr(rng, depth - 1)),
        4 | 5 => {
            let word = if rng.chance(50) { " AND " } else { " OR " };
            // Long chains of leaves only, so the size stays bounded.
            let n = if depth == 1 && rng.chance(10) {
                500
            } else {
                2 + rng.below(4)
            };
            (0..n)
                .map(|_| where_expr(rng, (depth - 1).min(3)))
                .collect::<Vec<_>>()
                .join(word)
        }
        _ => {
            // Straight down: nesting near and past the limit.
            let n = expr::MAX_DEPTH - 5 + rng.below(10);
            let (open, close) = if rng.chance(50) {
                ("NOT (", ")")
            } else {
                ("(", ")")
            };
            format!(
                "{}{}{}",
                open.repeat(n),
                where_expr(rng, 0),
                close.repeat(n)
            )
        }
    }
}

/// A token soup: words, names, symbols and literals in any order.
fn where_soup(rng: &mut Rng) -> String {
    let n = 1 + rng.below(40);
    (0..n)
        .map(|_| match rng.below(4) {
            0 => rng.pick(WHERE_NAMES).to_string(),
            1 => rng.pick(WHERE_WORDS).to_string(),
            2 => rng.pick(WHERE_SYMBOLS).to_string(),
            _ => rng.pick(WHERE_LITERALS).to_string(),
        })
        .collect::<Vec<_>>()
        .join(if rng.chance(80) { " " } else { "" })
}

fn where_text(rng: &mut Rng) -> String {
    let mut text = match rng.below(10) {
        0..=3 => where_soup(rng),
        4 => {
            // Very deep, one way or the other.
            let n = 1 + rng.below(20_000);
            match rng.below(3) {
                0 => format!("{}visit = 1{}", "(".repeat(n), ")".repeat(n)),
                1 => format!("{}visit = 1", "NOT ".repeat(n)),
                _ => format!("visit IN ({})", "(".repeat(n)),
            }
        }
        _ => {
            let depth = rng.below(6);
            where_expr(rng, depth)
        }
    };
    if rng.chance(30) {
        let ops: &[fn(&mut Rng, &mut String)] = &[flip_byte, truncate];
        text = mutate(rng, &text, ops);
    }
    text
}

/// How deep an operand's arithmetic is.
fn operand_depth(o: &expr::Operand) -> usize {
    match o {
        expr::Operand::Field { .. } | expr::Operand::Literal(_) => 0,
        expr::Operand::Arith { left, right, .. } => {
            1 + operand_depth(left).max(operand_depth(right))
        }
        expr::Operand::Neg(inner) => 1 + operand_depth(inner),
    }
}

/// How deep an expression tree is.
fn tree_depth(e: &expr::Expr) -> usize {
    match e {
        expr::Expr::Cmp(a, _, b) => 1 + operand_depth(a).max(operand_depth(b)),
        expr::Expr::In { operand, .. } | expr::Expr::Glob { operand, .. } => {
            1 + operand_depth(operand)
        }
        expr::Expr::Overlaps { .. } => 1,
        expr::Expr::Not(inner) => 1 + tree_depth(inner),
        expr::Expr::And(terms) | expr::Expr::Or(terms) => {
            1 + terms.iter().map(tree_depth).max().unwrap_or(0)
        }
    }
}

fn where_parser(backend: Backend) {
    let Some(t) = fresh_repo(backend, true) else {
        return;
    };
    for f in ["datasets.yaml", "spatial.yaml"] {
        t.repo
            .import_files(
                &[data(&format!("butler-fixtures/{f}"))],
                &ImportOptions::default(),
            )
            .expect("fixture import");
    }
    let repo = &t.repo;
    let universe = repo.registry().universe.clone();
    let binds = expr::parse_binds(&["v=1".into(), "s=Cam1".into(), "f=1.5".into()]).unwrap();
    let name = format!("where parser ({backend:?})");
    fuzz(&name, 10, |rng| {
        let text = where_text(rng);
        let parsed = match expr::parse(&text, &binds) {
            Ok(e) => e,
            Err(e) => {
                let msg = e.to_string();
                if msg.lines().count() != 1 || msg.len() > 400 {
                    return Outcome::Broken(format!("error not one short line: {msg}"));
                }
                return Outcome::Refused("parser");
            }
        };
        // Nesting is bounded, so nothing walking the tree can run out of stack.
        if tree_depth(&parsed) > 2 * expr::MAX_DEPTH + 2 {
            return Outcome::Broken(format!("tree {} deep", tree_depth(&parsed)));
        }
        let mut params = Vec::new();
        // Every name known, and holding text, so no value is refused for its type.
        let known = |n: &str| {
            Ok(expr::Column {
                sql: format!("\"{n}\""),
                numeric: false,
                uuid: false,
            })
        };
        if let Err(e) = expr::to_sql(&parsed, &text, &known, &mut params, repo.backend()) {
            return Outcome::Broken(format!("compiling with every name known failed: {e}"));
        }
        let mut conn = repo.registry().db.conn().expect("connection");
        let mut accepted = false;
        for element in ["visit", "detector"] {
            if let Ok((sql, params)) =
                dimensions::record_filter(&universe, element, &text, &binds, repo.backend())
            {
                accepted |=
                    dimensions::query_records(&mut conn, &universe, element, Some((&sql, &params)))
                        .is_ok();
            }
        }
        let query = valet::collections::DatasetQuery {
            dataset_type: "flat".into(),
            collections: vec!["imported_g".into(), "imported_r".into()],
            where_: text.clone(),
            bind: binds.clone(),
            ..Default::default()
        };
        accepted |= repo
            .resolver()
            .query_datasets(&mut conn, &universe, &query, &mut |_| Ok(true))
            .is_ok();
        if accepted {
            Outcome::Accepted
        } else {
            Outcome::Refused("registry")
        }
    });
}

// ---------------------------------------------------------------------------------
// File templates.

const TEMPLATE_PIECES: &[&str] = &[
    "{run}",
    "{run:/}",
    "{id}",
    "{datasetType}",
    "{component:?}",
    "{visit}",
    "{visit:?}",
    "{detector}",
    "{visit.day_obs}",
    "{exposure.obs_id|group:?}",
    "{day_obs|visit.day_obs|exposure.day_obs:?}",
    "{physical_filter:?}",
    "{band|missing}",
    "{a|b}",
    "{missing}",
    "{missing:?}",
    "{collection}",
    "{}",
    "{:?}",
    "{|}",
    "{",
    "}",
    "{{",
    "/",
    "//",
    "_",
    ".",
    "..",
    "../",
    "./",
    "#",
    " ",
    ":",
    "é",
    "\u{200B}",
    "x",
    "raw",
];

const TEMPLATE_VALUES: &[&str] = &[
    "",
    ".",
    "..",
    "../..",
    "/",
    "a/b",
    "a/../b",
    "HSC/runs/RC2",
    " ",
    "x.y",
    "#1",
    "é",
    "\0",
];

fn record(pairs: &[(&str, Value)]) -> Record {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn template_value(rng: &mut Rng) -> Value {
    match rng.below(6) {
        0 => Value::Int(rng.next() as i64),
        1 => Value::Float(*rng.pick(&[f64::NAN, f64::INFINITY, -0.0, 1.5, 1e300])),
        2 => Value::Bool(rng.chance(50)),
        3 => Value::Null,
        _ => Value::Text(rng.pick(TEMPLATE_VALUES).to_string()),
    }
}

#[test]
fn file_templates() {
    let dims = [
        "instrument",
        "visit",
        "detector",
        "band",
        "physical_filter",
        "day_obs",
        "exposure",
        "group",
    ];
    fuzz("file templates", 10, |rng| {
        let mut pieces: Vec<&str> = (0..1 + rng.below(12))
            .map(|_| *rng.pick(TEMPLATE_PIECES))
            .collect();
        // Most templates need {run} or {id} to be accepted at all.
        if rng.chance(70) {
            let at = rng.below(pieces.len() + 1);
            pieces.insert(at, if rng.chance(80) { "{run}" } else { "{id}" });
        }
        let text = pieces.concat();
        let template = match FileTemplate::parse(&text) {
            Ok(t) => t,
            Err(_) => return Outcome::Refused("parser"),
        };
        let mut data_id = BTreeMap::new();
        for d in dims {
            if rng.chance(60) {
                data_id.insert(d.to_owned(), template_value(rng));
            }
        }
        let visit = record(&[("day_obs", template_value(rng))]);
        let exposure = record(&[
            ("obs_id", template_value(rng)),
            ("day_obs", template_value(rng)),
        ]);
        let mut records: BTreeMap<String, &Record> = BTreeMap::new();
        if rng.chance(50) {
            records.insert("visit".into(), &visit);
        }
        if rng.chance(50) {
            records.insert("exposure".into(), &exposure);
        }
        let run = rng.pick(TEMPLATE_VALUES).to_string();
        let dataset_type = *rng.pick(&["raw", "calexp", "a.b", "../x"]);
        let ctx = TemplateContext {
            run: &run,
            dataset_type,
            id: uuid::Uuid::from_u64_pair(rng.next(), rng.next()),
            component: rng.pick(&[None, Some("wcs"), Some("")]).as_deref(),
            data_id: &data_id,
            records: &records,
        };
        match template.format(&ctx) {
            Ok(path) => {
                // Whatever the values, the path stays under the datastore root.
                if path.starts_with('/') || path.split('/').any(|s| s == "..") {
                    return Outcome::Broken(format!("{text:?} gave {path:?}"));
                }
                Outcome::Accepted
            }
            Err(_) => Outcome::Refused("formatter"),
        }
    });
}

// ---------------------------------------------------------------------------------
// The ObsCore configuration reader.

const OBSCORE_VALUES: &[&str] = &[
    "{",
    "}",
    "'{records[visit].exposure_time}'",
    "'{records[visit]}'",
    "'{records[].x}'",
    "'{id}'",
    "'{visit}_{detector}'",
    "'{{x}}'",
    "'x}'",
    "'{a.}'",
    "'{a!r:>10}'",
    "[1, 2]",
    "[null, 5.0e-7]",
    "[5.0e-7]",
    "[]",
    "{}",
    "-1",
    "0",
    "9223372036854775808",
    "1e999",
    "RUN",
    "TAGGED",
    "CHAINED",
    "BOGUS",
    "int",
    "float",
    "bool",
    "string",
    "~",
    "null",
    "true",
    "'visit > 1 AND (detector'",
    "'((((((((((((((((((((((((((((((((((((((((((((((((((visit = 1'",
    "[\"2.2i/runs/DP0.2\"]",
    "{template: '{visit}', type: int}",
    "{template: '{missing}', type: float}",
    "{template: 5, type: bool}",
    "&a [*a]",
];

fn replace_obscore_value(rng: &mut Rng, text: &mut String) {
    replace_value(rng, text, OBSCORE_VALUES);
}

/// Weighted towards changes that keep the YAML readable, which reach further.
const OBSCORE_MUTATIONS: &[fn(&mut Rng, &mut String)] = &[
    flip_byte,
    truncate,
    delete_lines,
    delete_lines,
    duplicate_lines,
    swap_lines,
    reindent,
    replace_obscore_value,
    replace_obscore_value,
    replace_obscore_value,
    replace_obscore_value,
];

#[test]
fn obscore_config() {
    let corpus: Vec<String> = [
        format!("{}/examples/obscore-dp02.yaml", env!("CARGO_MANIFEST_DIR")),
        data("dp02-mini/obscore.yaml").display().to_string(),
    ]
    .iter()
    .map(|p| std::fs::read_to_string(p).unwrap())
    .collect();
    let binds = BTreeMap::new();
    fuzz("obscore config", 10, |rng| {
        let start = rng.below(corpus.len());
        let text = mutate(rng, &corpus[start], OBSCORE_MUTATIONS);
        let config = match ObsCoreConfig::from_yaml(&text) {
            Ok(c) => c,
            Err(e) => {
                let msg = e.to_string();
                if msg.lines().count() != 1 {
                    return Outcome::Broken(format!("not one line: {msg}"));
                }
                return Outcome::Refused("reader");
            }
        };
        let _ = valet::obscore::columns(&config);
        if let Some(w) = &config.where_ {
            let _ = expr::parse(w, &binds);
        }
        let data_id: BTreeMap<String, Value> = [
            ("instrument", Value::Text("LSSTCam-imSim".into())),
            ("visit", Value::Int(rng.next() as i64)),
            ("detector", Value::Int(rng.below(200) as i64)),
            ("band", Value::Text("r".into())),
            ("physical_filter", Value::Text("r_sim_1.4".into())),
        ]
        .into_iter()
        .filter(|_| rng.chance(80))
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let visit = record(&[
            ("exposure_time", Value::Float(30.0)),
            ("id", Value::Int(1)),
            ("name", Value::Text("v1".into())),
            ("zenith_angle", Value::Null),
        ]);
        let exposure = record(&[("obs_id", Value::Text("e1".into()))]);
        let detector = record(&[("full_name", template_value(rng))]);
        let records: BTreeMap<String, &Record> = [
            ("visit", &visit),
            ("exposure", &exposure),
            ("detector", &detector),
        ]
        .into_iter()
        .filter(|_| rng.chance(90))
        .map(|(k, r)| (k.to_owned(), r))
        .collect();
        let edge = |rng: &mut Rng| {
            let any = rng.next() as i64;
            *rng.pick(&[
                None,
                Some(0),
                Some(i64::MIN),
                Some(i64::MAX),
                Some(1_640_995_200_000_000_000),
                Some(any),
            ])
        };
        let region = region_bytes(rng);
        let mut taken = false;
        for (name, _) in &config.types {
            let Ok(plan) = RowPlan::new(&config, name) else {
                continue;
            };
            let ctx = DatasetContext {
                dataset_type: name,
                id: uuid::Uuid::from_u64_pair(rng.next(), rng.next()),
                run: "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905/20211200T010000Z",
                data_id: &data_id,
                records: &records,
                timespan: Some(Timespan {
                    begin: edge(rng),
                    end: edge(rng),
                }),
                region: rng.chance(80).then_some(region.as_slice()),
            };
            let mut out = String::new();
            let mut scratch = String::new();
            let mut line = CsvLine::new(&mut out);
            taken |= plan.build(&ctx, &mut line, &mut scratch).is_ok();
        }
        if taken {
            Outcome::Accepted
        } else {
            Outcome::Refused("row builder")
        }
    });
}

on_both_backends!(export_reader, where_parser);
