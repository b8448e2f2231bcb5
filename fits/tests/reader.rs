//! The header reader against astropy's reading of the same files
//! (`tests/data/raws/headers.json`, written by `scripts/record-raw-oracles.sh`), and
//! on files it must refuse.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use valet_fits::write::write_hdus;
use valet_fits::{read_headers, Header, Value};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/raws")
        .join(name)
}

fn same(card: &Json, key: &str, value: &Value) -> bool {
    let v = &card["v"];
    match (card["t"].as_str(), value) {
        (Some("str"), Value::Str(s)) => v.as_str() == Some(s),
        (Some("bool"), Value::Bool(b)) => v.as_bool() == Some(*b),
        (Some("int"), Value::Int(i)) => v.as_i64() == Some(*i),
        // astropy's parse of extreme exponents can be an ulp off the correctly rounded
        // value.
        (Some("float"), Value::Float(x)) => v
            .as_f64()
            .is_some_and(|y| y == *x || ((y - x) / x).abs() < 1e-15),
        (Some("complex"), Value::Complex(text)) => {
            let parts: Vec<f64> = text
                .trim_matches(['(', ')'])
                .split(',')
                .filter_map(|p| p.trim().replace('D', "E").parse().ok())
                .collect();
            v.as_array()
                .map(|a| a.iter().filter_map(Json::as_f64).collect::<Vec<_>>())
                == Some(parts)
        }
        (Some("undef"), Value::Undefined) => true,
        _ => {
            eprintln!("{key}: astropy {card} / valet {value:?}");
            false
        }
    }
}

#[test]
fn every_header_matches_astropy() {
    let text = std::fs::read_to_string(data("headers.json")).expect("headers.json");
    let oracle: serde_json::Map<String, Json> = serde_json::from_str(&text).expect("json");
    assert!(oracle.len() >= 5, "the oracle covers the generated files");
    for (file, hdus) in &oracle {
        let ours = read_headers(&data(file)).unwrap_or_else(|e| panic!("{e}"));
        let hdus = hdus.as_array().expect("list of HDUs");
        assert_eq!(ours.len(), hdus.len(), "{file}: number of HDUs");
        for (i, (hdu, cards)) in ours.iter().zip(hdus).enumerate() {
            let theirs = cards.as_array().expect("cards");
            let mine: Vec<(&str, &Value)> = hdu.header.iter().collect();
            let keys: Vec<&str> = theirs.iter().filter_map(|c| c["k"].as_str()).collect();
            let my_keys: Vec<&str> = mine.iter().map(|(k, _)| *k).collect();
            assert_eq!(my_keys, keys, "{file} HDU {i}: keywords");
            for ((k, v), card) in mine.iter().zip(theirs) {
                assert!(same(card, k, v), "{file} HDU {i} {k}: {card} vs {v:?}");
            }
        }
    }
}

#[test]
fn edge_cases_read_as_expected() {
    for name in ["edge-cases.fits", "edge-cases.fits.gz"] {
        let hdus = read_headers(&data(name)).unwrap();
        assert_eq!(hdus.len(), 3, "{name}");
        let h = &hdus[0].header;
        assert!(h.get_str("LONGSTR").unwrap().ends_with("value end"));
        assert_eq!(h.get_str("HIERARCH ESO DET CHIP NAME"), Some("CCD-44"));
        assert_eq!(h.get_str("ESO DET CHIP NAME"), Some("CCD-44"));
        assert_eq!(h.get_f64("DEXP"), Some(1500.0));
        assert_eq!(h.get_i64("DUP"), Some(1), "the first of a repeated keyword");
        assert_eq!(hdus[0].data_size, 128);
        // The table's heap (PCOUNT) is skipped too: the image after it is found.
        assert!(hdus[1].header.get_i64("PCOUNT").unwrap() > 0);
        assert_eq!(
            hdus[2].header.get_str("AFTERKEY"),
            Some("read past the heap")
        );
        assert_eq!(hdus[2].data_size, 3 * 5 * 8);
    }
}

#[test]
fn compressed_images_keep_their_z_keys() {
    let hdus = read_headers(&data("decam-raw.fits.fz")).unwrap();
    assert_eq!(hdus.len(), 4);
    assert!(!hdus[0].is_compressed_image());
    for hdu in &hdus[1..] {
        assert!(hdu.is_compressed_image());
        assert_eq!(hdu.header.get_i64("ZNAXIS1"), Some(8));
        assert_eq!(hdu.header.get_str("ZCMPTYPE"), Some("RICE_1"));
        assert!(hdu.header.get_i64("CCDNUM").is_some());
    }
    let merged = hdus[1].header.merged_over(&hdus[0].header);
    assert_eq!(merged.get_str("DETPOS"), Some("S1"));
    assert_eq!(merged.get_i64("EXPNUM"), Some(177764));
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn simple(extra: &[(&str, Value)]) -> Header {
    let mut h = Header::new();
    h.push("SIMPLE", Value::Bool(true));
    h.push("BITPIX", Value::Int(8));
    h.push("NAXIS", Value::Int(1));
    h.push("NAXIS1", Value::Int(10));
    for (k, v) in extra {
        h.push(*k, v.clone());
    }
    h
}

#[test]
fn written_headers_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let long = "x'y ".repeat(60);
    let h = simple(&[
        ("OBJECT", Value::Str(long.trim_end().to_owned())),
        ("ESO DET CHIP", Value::Str("A".into())),
        ("EXPTIME", Value::Float(15.0)),
        ("TINY", Value::Float(1e-30)),
        ("COUNT", Value::Int(-7)),
        ("UNDEF", Value::Undefined),
    ]);
    let mut bytes = Vec::new();
    write_hdus(&mut bytes, &[(&h, &[1u8; 10])]).unwrap();
    let p = write(dir.path(), "w.fits", &bytes);
    let back = read_headers(&p).unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].header, h);
}

#[test]
fn bad_input_is_one_line_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let h = simple(&[("OBJECT", Value::Str("x".into()))]);
    let mut good = Vec::new();
    write_hdus(&mut good, &[(&h, &[0u8; 10])]).unwrap();

    let short = write(dir.path(), "short.fits", &good[..100]);
    let e = read_headers(&short).unwrap_err().to_string();
    assert!(
        e.contains("short.fits: byte 0") && e.contains("not a FITS file"),
        "{e}"
    );

    let mut no_end = good.clone();
    no_end.truncate(2880);
    let end_at = no_end.windows(8).position(|w| w == b"END     ").unwrap();
    no_end[end_at..end_at + 3].copy_from_slice(b"XND");
    let p = write(dir.path(), "noend.fits", &no_end);
    let e = read_headers(&p).unwrap_err().to_string();
    assert!(
        e.contains("noend.fits: byte 2880") && e.contains("END"),
        "{e}"
    );

    let mut bad_card = good.clone();
    let at = 4 * 80;
    bad_card[at..at + 80].copy_from_slice(format!("{:<80}", "OBJECT  = 'open").as_bytes());
    let p = write(dir.path(), "badcard.fits", &bad_card);
    let e = read_headers(&p).unwrap_err().to_string();
    assert!(
        e.contains("byte 320 (card OBJECT)") && e.contains("closing quote"),
        "{e}"
    );

    let truncated = write(dir.path(), "trunc.fits", &good[..2885]);
    let e = read_headers(&truncated).unwrap_err().to_string();
    assert!(
        e.contains("trunc.fits: byte 2880") && e.contains("truncated"),
        "{e}"
    );

    let mut naxis = good.clone();
    let at = 2 * 80;
    naxis[at + 10..at + 30].copy_from_slice(format!("{:>20}", "'two'").as_bytes());
    let p = write(dir.path(), "naxis.fits", &naxis);
    let e = read_headers(&p).unwrap_err().to_string();
    assert!(e.contains("NAXIS must be an integer"), "{e}");

    let mut not_fits = good.clone();
    not_fits[..6].copy_from_slice(b"SIMPLX");
    let p = write(dir.path(), "notfits.fits", &not_fits);
    let e = read_headers(&p).unwrap_err().to_string();
    assert!(e.contains("expected a SIMPLE card"), "{e}");

    let e = read_headers(&dir.path().join("missing.fits"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.fits"), "{e}");
    assert!(!e.contains('\n'));

    // A gzip stream cut short is an error too, not a panic.
    let gz = std::fs::read(data("edge-cases.fits.gz")).unwrap();
    let p = write(dir.path(), "cut.fits.gz", &gz[..gz.len() / 2]);
    assert!(read_headers(&p).is_err());
}
