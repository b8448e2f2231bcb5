//! Raw files for the sample (`generate-sample --raws`): one small FITS file per
//! exposure and detector of [`crate::workload`]'s shape, with the headers the
//! sample instrument's translator reads (so the raws' exposure records are the
//! sample's), a TAN WCS on each detector's patch of sky and an 8×8 data unit.

use std::path::{Path, PathBuf};

use valet_fits::write::write_hdus;
use valet_fits::{Header, Value};
use valet_registry::timespan::format_tai_iso;

use crate::repo::io_err;
use crate::workload::{
    detector_center, visit_center, Shape, BANDS, EXPOSURE_NS, INSTRUMENT, START_NS,
};
use crate::RepoError;

/// Pixels on a side of a sample raw.
pub const PIXELS: i64 = 8;
/// Degrees on a side of a detector's patch of sky (the sample's detector spacing).
pub const DETECTOR_DEG: f64 = 0.14;

/// The header of the raw of `visit` (its one exposure) and `detector`.
pub fn raw_header(visit: i64, detector: i64) -> Header {
    let mut h = Header::new();
    let text = |s: String| Value::Str(s);
    let (ra, dec) = visit_center(visit);
    let (dra, ddec) = detector_center(visit, detector);
    let begin = START_NS + visit * 60_000_000_000;
    let cards: Vec<(&str, Value)> = vec![
        ("SIMPLE", Value::Bool(true)),
        ("BITPIX", Value::Int(16)),
        ("NAXIS", Value::Int(2)),
        ("NAXIS1", Value::Int(PIXELS)),
        ("NAXIS2", Value::Int(PIXELS)),
        ("EXTEND", Value::Bool(true)),
        ("TELESCOP", text("LSST".into())),
        ("INSTRUME", text(INSTRUMENT.into())),
        ("DETECTOR", Value::Int(detector)),
        ("RAFTBAY", text(format!("R{:02}", detector / 9))),
        ("CCDSLOT", text(format!("S{:02}", detector % 9))),
        ("EXPID", Value::Int(visit)),
        ("SEQNUM", Value::Int(visit)),
        ("OBSID", text(format!("e{visit}"))),
        ("GROUPID", text(visit.to_string())),
        ("DAYOBS", Value::Int(20220101 + visit / 500)),
        (
            "FILTER",
            text(format!("{}_sim_1.4", BANDS[(visit % 6) as usize])),
        ),
        ("TIMESYS", text("TAI".into())),
        ("DATE-BEG", text(format_tai_iso(begin).replace(' ', "T"))),
        (
            "DATE-END",
            text(format_tai_iso(begin + EXPOSURE_NS).replace(' ', "T")),
        ),
        ("EXPTIME", Value::Float(30.0)),
        ("DARKTIME", Value::Float(30.0)),
        ("IMGTYPE", text("science".into())),
        ("REASON", text("survey".into())),
        ("PROGRAM", text("DP0.2".into())),
        ("OBJECT", text("DC2".into())),
        ("RATEL", Value::Float(ra)),
        ("DECTEL", Value::Float(dec)),
        ("WCSAXES", Value::Int(2)),
        ("CTYPE1", text("RA---TAN".into())),
        ("CTYPE2", text("DEC--TAN".into())),
        ("CUNIT1", text("deg".into())),
        ("CUNIT2", text("deg".into())),
        ("CRVAL1", Value::Float(dra)),
        ("CRVAL2", Value::Float(ddec)),
        ("CRPIX1", Value::Float((PIXELS as f64 + 1.0) / 2.0)),
        ("CRPIX2", Value::Float((PIXELS as f64 + 1.0) / 2.0)),
        ("CD1_1", Value::Float(-DETECTOR_DEG / PIXELS as f64)),
        ("CD1_2", Value::Float(0.0)),
        ("CD2_1", Value::Float(0.0)),
        ("CD2_2", Value::Float(DETECTOR_DEG / PIXELS as f64)),
    ];
    for (k, v) in cards {
        h.push(k, v);
    }
    h
}

/// Write the sample's raws under `directory` (`<visit>/raw_<visit>_<detector>.fits`);
/// returns their paths.
pub fn write_raws(directory: &Path, shape: &Shape) -> Result<Vec<PathBuf>, RepoError> {
    let data = vec![0u8; (PIXELS * PIXELS * 2) as usize];
    let mut out = Vec::new();
    for v in 0..shape.visits {
        let dir = directory.join(format!("{v:06}"));
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        for d in 0..shape.detectors {
            let path = dir.join(format!("raw_{v:06}_{d:03}.fits"));
            let mut bytes = Vec::with_capacity(2880 * 3);
            write_hdus(&mut bytes, &[(&raw_header(v, d), &data)]).map_err(io_err(&path))?;
            std::fs::write(&path, bytes).map_err(io_err(&path))?;
            out.push(path);
        }
    }
    Ok(out)
}
