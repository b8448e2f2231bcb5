//! Raw files for the sample (`generate-sample --raws`): one small FITS file per
//! exposure and detector of [`crate::workload`]'s shape, with the headers the
//! sample instrument's translator reads (so the raws' exposure records are the
//! sample's), a TAN WCS on each detector's patch of sky and an 8×8 data unit; and a
//! few DECam- and HSC-shaped raws, so that every shipped translator has files to read.

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
    header_of(cards)
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

/// Cards of a TAN WCS centred on (ra, dec) for an 8×8 image, `scale` degrees a pixel.
fn tan_wcs(ra: f64, dec: f64, scale: f64) -> Vec<(&'static str, Value)> {
    let centre = (PIXELS as f64 + 1.0) / 2.0;
    vec![
        ("CTYPE1", Value::Str("RA---TAN".into())),
        ("CTYPE2", Value::Str("DEC--TAN".into())),
        ("CRVAL1", Value::Float(ra)),
        ("CRVAL2", Value::Float(dec)),
        ("CRPIX1", Value::Float(centre)),
        ("CRPIX2", Value::Float(centre)),
        ("CD1_1", Value::Float(-scale)),
        ("CD1_2", Value::Float(0.0)),
        ("CD2_1", Value::Float(0.0)),
        ("CD2_2", Value::Float(scale)),
    ]
}

fn header_of(cards: Vec<(&str, Value)>) -> Header {
    let mut h = Header::new();
    for (k, v) in cards {
        h.push(k, v);
    }
    h
}

/// Sexagesimal text of an angle in degrees, in hours (`hours`) or degrees.
fn sexagesimal(deg: f64, hours: bool) -> String {
    let x = if hours { deg / 15.0 } else { deg };
    let sign = if x < 0.0 { "-" } else { "" };
    let x = x.abs();
    let (d, rest) = (x.trunc(), x.fract() * 60.0);
    let (m, s) = (rest.trunc(), rest.fract() * 60.0);
    format!("{sign}{:02}:{:02}:{:06.3}", d as i64, m as i64, s)
}

/// DECam-shaped raws: one multi-extension file per exposure, a primary header with
/// the exposure's keys and an image extension per CCD (`CCDNUM` 1…), as DECam writes
/// them (uncompressed). `exposures` files of `ccds` CCDs each.
pub fn write_decam_raws(
    directory: &Path,
    exposures: i64,
    ccds: i64,
) -> Result<Vec<PathBuf>, RepoError> {
    let def = crate::instruments::load_definition("DECam")?;
    std::fs::create_dir_all(directory).map_err(io_err(directory))?;
    let data = vec![0u8; (PIXELS * PIXELS * 2) as usize];
    let filters = [
        "g DECam SDSS c0001 4720.0 1520.0",
        "r DECam SDSS c0002 6415.0 1480.0",
        "i DECam SDSS c0003 7835.0 1470.0",
    ];
    let mut out = Vec::new();
    for k in 0..exposures {
        let expnum = 700_000 + k;
        let (ra, dec) = (150.0 + k as f64 * 0.5, 2.0);
        // 2022-01-02T03:00:00 UTC plus a minute an exposure.
        let begin = 1_641_092_400 + k * 60;
        let utc = |s: i64, frac: &str| {
            let t = format_tai_iso(s * 1_000_000_000);
            format!("{}{frac}", t[..19].replace(' ', "T"))
        };
        let primary = header_of(vec![
            ("SIMPLE", Value::Bool(true)),
            ("BITPIX", Value::Int(8)),
            ("NAXIS", Value::Int(0)),
            ("EXTEND", Value::Bool(true)),
            ("INSTRUME", Value::Str("DECam".into())),
            ("TELESCOP", Value::Str("CTIO 4.0-m telescope".into())),
            (
                "OBSID",
                Value::Str(format!(
                    "ct4m{}",
                    utc(begin, "").replace(['-', ':'], "").to_lowercase()
                )),
            ),
            ("EXPNUM", Value::Int(expnum)),
            ("DATE-OBS", Value::Str(utc(begin, ".250000"))),
            ("TIMESYS", Value::Str("UTC".into())),
            ("DTUTC", Value::Str(utc(begin + 31, ""))),
            ("EXPTIME", Value::Float(30.0)),
            ("DARKTIME", Value::Float(31.0)),
            ("OBSTYPE", Value::Str("object".into())),
            ("PROPID", Value::Str("2022A-0001".into())),
            ("OBJECT", Value::Str(format!("field {k}"))),
            ("FILTER", Value::Str(filters[(k % 3) as usize].into())),
            ("RADESYS", Value::Str("FK5".into())),
            ("EQUINOX", Value::Float(2000.0)),
            ("TELRA", Value::Str(sexagesimal(ra, true))),
            ("TELDEC", Value::Str(sexagesimal(dec, false))),
            ("ZD", Value::Float(35.0)),
            ("AZ", Value::Float(120.0)),
        ]);
        let mut extensions = Vec::new();
        for ccd in 1..=ccds.clamp(1, 62) {
            let name = def
                .detector(ccd)
                .map(|d| d.full_name.clone())
                .unwrap_or_else(|| format!("C{ccd}"));
            let mut cards = vec![
                ("XTENSION", Value::Str("IMAGE".into())),
                ("BITPIX", Value::Int(16)),
                ("NAXIS", Value::Int(2)),
                ("NAXIS1", Value::Int(PIXELS)),
                ("NAXIS2", Value::Int(PIXELS)),
                ("PCOUNT", Value::Int(0)),
                ("GCOUNT", Value::Int(1)),
                ("EXTNAME", Value::Str(name.clone())),
                ("CCDNUM", Value::Int(ccd)),
                ("DETPOS", Value::Str(name)),
                ("INHERIT", Value::Bool(true)),
            ];
            cards.extend(tan_wcs(
                ra + (ccd % 8) as f64 * 0.15,
                dec + (ccd / 8) as f64 * 0.3,
                0.0175,
            ));
            extensions.push(header_of(cards));
        }
        let path = directory.join(format!("c4d_{expnum}_ori.fits"));
        let mut hdus: Vec<(&Header, &[u8])> = vec![(&primary, &[])];
        hdus.extend(extensions.iter().map(|h| (h, data.as_slice())));
        let mut bytes = Vec::new();
        write_hdus(&mut bytes, &hdus).map_err(io_err(&path))?;
        std::fs::write(&path, bytes).map_err(io_err(&path))?;
        out.push(path);
    }
    Ok(out)
}

/// HSC-shaped raws: one file per exposure and detector (`DET-ID` 0…), with the
/// header keys HSC writes. `exposures` exposures of `detectors` detectors.
pub fn write_hsc_raws(
    directory: &Path,
    exposures: i64,
    detectors: i64,
) -> Result<Vec<PathBuf>, RepoError> {
    std::fs::create_dir_all(directory).map_err(io_err(directory))?;
    let data = vec![0u8; (PIXELS * PIXELS * 2) as usize];
    let mut out = Vec::new();
    for k in 0..exposures {
        let visit = 100_000 + 2 * k;
        let (ra, dec) = (30.0 + k as f64 * 0.5, -5.0);
        let start = 6 * 3600 + k * 60;
        let hms = |s: i64| format!("{:02}:{:02}:{:02}.500", s / 3600, s / 60 % 60, s % 60);
        for det in 0..detectors.clamp(1, 104) {
            let mut cards = vec![
                ("SIMPLE", Value::Bool(true)),
                ("BITPIX", Value::Int(16)),
                ("NAXIS", Value::Int(2)),
                ("NAXIS1", Value::Int(PIXELS)),
                ("NAXIS2", Value::Int(PIXELS)),
                ("TELESCOP", Value::Str("Subaru".into())),
                ("INSTRUME", Value::Str("Hyper Suprime-Cam".into())),
                ("EXP-ID", Value::Str(format!("HSCA{visit:06}00"))),
                ("FRAMEID", Value::Str(format!("HSCA{visit:06}{det:02}"))),
                ("DET-ID", Value::Int(det)),
                ("DATE-OBS", Value::Str("2022-01-02".into())),
                ("UT-STR", Value::Str(hms(start))),
                ("UT-END", Value::Str(hms(start + 31))),
                ("MJD", Value::Float(59581.25 + k as f64 / 1440.0)),
                ("EXPTIME", Value::Float(30.0)),
                ("DATA-TYP", Value::Str("OBJECT".into())),
                (
                    "FILTER01",
                    Value::Str(if k % 2 == 0 { "HSC-I" } else { "HSC-R2" }.into()),
                ),
                ("PROP-ID", Value::Str("o22001".into())),
                ("OBJECT", Value::Str("SAMPLE".into())),
                ("RA2000", Value::Str(sexagesimal(ra, true))),
                ("DEC2000", Value::Str(sexagesimal(dec, false))),
                ("ALTITUDE", Value::Float(60.0)),
                ("AZIMUTH", Value::Float(200.0)),
                ("INST-PA", Value::Str("90.000".into())),
            ];
            cards.extend(tan_wcs(
                ra + (det % 10) as f64 * 0.15,
                dec + (det / 10) as f64 * 0.15,
                0.0175,
            ));
            let path = directory.join(format!("HSCA{visit:06}{det:02}.fits"));
            let mut bytes = Vec::new();
            write_hdus(&mut bytes, &[(&header_of(cards), &data)]).map_err(io_err(&path))?;
            std::fs::write(&path, bytes).map_err(io_err(&path))?;
            out.push(path);
        }
    }
    Ok(out)
}
