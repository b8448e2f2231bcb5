//! The shipped translators against `astro_metadata_translator` (the reference's
//! header translation) on the DECam- and HSC-shaped raws of `tests/data/raws`: every
//! property an exposure record needs must agree. `translated.json` is written by
//! `scripts/record-raw-oracles.sh`.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use valet::raws::translate::{raw_headers, recognises, translate, ObservationInfo};
use valet::registry::timespan::parse_tai_iso;
use valet::InstrumentDefinition;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/raws")
        .join(name)
}

fn shipped() -> Vec<InstrumentDefinition> {
    ["DECam", "HSC", "LSSTCam-imSim"]
        .iter()
        .map(|n| InstrumentDefinition::shipped(n).unwrap().unwrap())
        .collect()
}

/// Translate every raw of a file with the shipped definition that recognises it.
fn translate_file(path: &Path) -> Vec<ObservationInfo> {
    let hdus = valet_fits::read_headers(path).unwrap();
    let defs = shipped();
    let matching: Vec<&InstrumentDefinition> = defs
        .iter()
        .filter(|d| recognises(d, &hdus[0].header))
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "{}: one instrument recognises it",
        path.display()
    );
    raw_headers(matching[0], &hdus)
        .iter()
        .map(|(_, h)| translate(matching[0], h).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

fn check(file: &str, ours: &ObservationInfo, theirs: &Json) {
    let s = |k: &str| theirs[k].as_str().map(str::to_owned);
    let f = |k: &str| theirs[k].as_f64();
    let i = |k: &str| theirs[k].as_i64();
    let ctx = |k: &str| format!("{file} detector {}: {k}", ours.detector);
    assert_eq!(
        Some(ours.instrument.clone()),
        s("instrument"),
        "{}",
        ctx("instrument")
    );
    assert_eq!(
        Some(ours.detector),
        i("detector_num"),
        "{}",
        ctx("detector")
    );
    assert_eq!(
        Some(ours.detector_name.clone()),
        s("detector_name"),
        "{}",
        ctx("detector_name")
    );
    assert_eq!(
        Some(ours.detector_unique_name.clone()),
        s("detector_unique_name"),
        "{}",
        ctx("detector_unique_name")
    );
    assert_eq!(
        Some(ours.physical_filter.clone()),
        s("physical_filter"),
        "{}",
        ctx("physical_filter")
    );
    assert_eq!(
        Some(ours.exposure_id),
        i("exposure_id"),
        "{}",
        ctx("exposure_id")
    );
    assert_eq!(
        Some(ours.observation_id.clone()),
        s("observation_id"),
        "{}",
        ctx("observation_id")
    );
    for (k, ns) in [
        ("datetime_begin", ours.datetime_begin),
        ("datetime_end", ours.datetime_end),
    ] {
        let t = parse_tai_iso(&s(k).unwrap()).unwrap();
        assert!((t - ns).abs() <= 1_000, "{}: {t} vs {ns}", ctx(k));
    }
    assert!(
        close(ours.exposure_time, f("exposure_time").unwrap(), 1e-9),
        "{}",
        ctx("exposure_time")
    );
    assert!(
        close(ours.dark_time.unwrap(), f("dark_time").unwrap(), 1e-9),
        "{}",
        ctx("dark_time")
    );
    assert_eq!(
        ours.observation_type,
        s("observation_type"),
        "{}",
        ctx("observation_type")
    );
    assert_eq!(
        ours.observation_reason,
        s("observation_reason"),
        "{}",
        ctx("observation_reason")
    );
    assert_eq!(
        ours.science_program,
        s("science_program"),
        "{}",
        ctx("science_program")
    );
    assert_eq!(ours.object, s("object"), "{}", ctx("object"));
    // 1e-7 degrees is 0.36 milliarcseconds.
    for (k, v) in [
        ("tracking_ra", ours.tracking_ra),
        ("tracking_dec", ours.tracking_dec),
        ("altitude", ours.altitude),
        ("azimuth", ours.azimuth),
        ("zenith_angle", ours.zenith_angle),
        ("boresight_rotation_angle", ours.boresight_rotation_angle),
    ] {
        match (v, f(k)) {
            (Some(a), Some(b)) => assert!(close(a, b, 1e-7), "{}: {a} vs {b}", ctx(k)),
            (a, b) => assert_eq!(a, b, "{}", ctx(k)),
        }
    }
    assert_eq!(
        ours.boresight_rotation_coord,
        s("boresight_rotation_coord"),
        "{}",
        ctx("boresight_rotation_coord")
    );
    assert_eq!(
        Some(ours.observing_day),
        i("observing_day"),
        "{}",
        ctx("observing_day")
    );
    assert_eq!(
        ours.observation_counter,
        i("observation_counter"),
        "{}",
        ctx("observation_counter")
    );
    assert_eq!(
        Some(ours.group.clone()),
        s("exposure_group"),
        "{}",
        ctx("exposure_group")
    );
    assert_eq!(
        ours.can_see_sky,
        theirs["can_see_sky"].as_bool(),
        "{}",
        ctx("can_see_sky")
    );
    assert_eq!(
        Some(ours.has_simulated_content),
        theirs["has_simulated_content"].as_bool(),
        "{}",
        ctx("has_simulated_content")
    );
}

#[test]
fn decam_and_hsc_match_astro_metadata_translator() {
    let text = std::fs::read_to_string(data("translated.json")).unwrap();
    let oracle: Json = serde_json::from_str(&text).unwrap();
    let files = oracle["files"].as_object().unwrap();
    let mut checked = 0;
    for (file, infos) in files {
        let ours = translate_file(&data(file));
        let theirs = infos.as_array().unwrap();
        assert_eq!(ours.len(), theirs.len(), "{file}: raws");
        for (o, t) in ours.iter().zip(theirs) {
            check(file, o, t);
            checked += 1;
        }
    }
    // Two DECam detector HDUs (the guide CCD left out), a DECam bias (its filter
    // replaced) and four HSC raws (one with a misnumbered commissioning focus CCD).
    assert_eq!(checked, 7);
}

#[test]
fn untranslatable_headers_say_why() {
    let hdus = valet_fits::read_headers(&data("hsc-raw-HSCA90402512.fits")).unwrap();
    let hsc = InstrumentDefinition::shipped("HSC").unwrap().unwrap();
    let mut h = hdus[0].header.clone();
    h.set("EXP-ID", valet_fits::Value::Str("garbage".into()));
    let e = translate(&hsc, &h).unwrap_err();
    assert!(e.contains("EXP-ID") && e.contains("garbage"), "{e}");
    let mut h = hdus[0].header.clone();
    h.set("DET-ID", valet_fits::Value::Int(150));
    let e = translate(&hsc, &h).unwrap_err();
    assert!(e.contains("detector 150"), "{e}");
    let mut h = hdus[0].header.clone();
    h.set("EXPTIME", valet_fits::Value::Undefined);
    let e = translate(&hsc, &h).unwrap_err();
    assert!(e.contains("exposure_time") && e.contains("EXPTIME"), "{e}");
}
