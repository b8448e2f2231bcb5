//! `adopt` of a DP0.2-shaped reference Butler repository at three sizes, beside the
//! reference's own `butler import` of the same export. The reference repositories
//! are built once (valet's sample export with a formatter the reference ships named
//! on every file, each listed file written, `butler import -t direct`) and cached under
//! `target/adopt-bench/`, keyed by the shape; building them is the slow part.
//!
//!     cargo run --release --example adopt_at_scale [VISITS...]   # default: 50 150 530
//!
//! Each size runs in a child process so that its peak RSS is its own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use valet::adopt::AdoptOptions;
use valet::workload::{write_sample, Shape};
use valet::Repo;

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn venv() -> Result<PathBuf, Box<dyn std::error::Error>> {
    let out = Command::new(workspace().join("scripts/python-env.sh")).output()?;
    Ok(PathBuf::from(String::from_utf8(out.stdout)?.trim()))
}

/// The cached reference repository for `visits`, built if missing; returns its root
/// and the seconds `butler import` took (when it was built now).
fn reference(visits: i64) -> Result<(PathBuf, Option<f64>), Box<dyn std::error::Error>> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let base = target.join(format!("adopt-bench/dp02-189x{visits}x286"));
    let root = base.join("butler");
    if root.join("butler.yaml").exists() {
        return Ok((root, None));
    }
    let _ = std::fs::remove_dir_all(&base);
    let export_dir = base.join("export");
    let shape = Shape {
        visits,
        ..Shape::default()
    };
    let export = write_sample(&export_dir, &shape)?;
    // The sample names no formatter, and the reference's defaults for its storage
    // classes live in packages it does not ship: name one it does, on every file.
    let text = std::fs::read_to_string(&export)?;
    let text = regex::Regex::new(r"(?m)^(\s*)path: (\S+)$")?.replace_all(
        &text,
        "${1}path: ${2}\n${1}formatter: lsst.daf.butler.formatters.json.JsonFormatter",
    );
    std::fs::write(&export, text.as_bytes())?;
    for line in text.lines() {
        if let Some(p) = line.trim().strip_prefix("path: ") {
            let f = export_dir.join(p);
            std::fs::create_dir_all(f.parent().unwrap_or(Path::new(".")))?;
            std::fs::write(f, b"{}")?;
        }
    }
    let butler = venv()?.join("bin/butler");
    let ok = Command::new(&butler).arg("create").arg(&root).status()?;
    assert!(ok.success(), "butler create");
    let t = Instant::now();
    let ok = Command::new(&butler)
        .arg("import")
        .arg(&root)
        .arg(&export_dir)
        .arg("--export-file")
        .arg(&export)
        .args(["-t", "direct"])
        .status()?;
    assert!(ok.success(), "butler import");
    Ok((root, Some(t.elapsed().as_secs_f64())))
}

fn one(visits: i64) -> Result<(), Box<dyn std::error::Error>> {
    let (root, import_s) = reference(visits)?;
    let dir = tempfile::tempdir()?;
    let rss_before = peak_rss_mib().unwrap_or(0.0);
    let t = Instant::now();
    let (_, summary) = Repo::adopt(&dir.path().join("v"), &root, &AdoptOptions::default())?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "visits {visits}: adopted {} datasets, {} records, {} collections in {secs:.2} s ({:.0} datasets/s); peak RSS {:.0} MiB (before: {rss_before:.0} MiB){}",
        summary.datasets,
        summary.dimension_records,
        summary.collections,
        summary.datasets as f64 / secs,
        peak_rss_mib().unwrap_or(0.0),
        import_s
            .map(|s| format!("; the reference's butler import of the same export: {s:.1} s"))
            .unwrap_or_default()
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sizes: Vec<i64> = std::env::args()
        .skip(1)
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    if sizes.len() == 1 {
        return one(sizes[0]);
    }
    let sizes = if sizes.is_empty() {
        vec![50, 150, 530]
    } else {
        sizes
    };
    for v in sizes {
        let ok = Command::new(std::env::current_exe()?)
            .arg(v.to_string())
            .status()?;
        assert!(ok.success(), "size {v} failed");
    }
    Ok(())
}
