//! Raw WCSs (TAN with CD, PC+CDELT, SIP and TPV; compressed-image headers) against
//! astropy.wcs on the files of `tests/data/raws` (`wcs.json`, written by
//! `scripts/record-raw-oracles.sh`): every boundary point within 0.01 arcsec.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use valet::raws::wcs::{boundary_pixels, image_size, Wcs};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/raws")
        .join(name)
}

/// Angular distance in arcseconds.
fn separation(a: (f64, f64), b: (f64, f64)) -> f64 {
    let v = |(ra, dec): (f64, f64)| valet::raws::wcs::unit_vector(ra, dec);
    let (p, q) = (v(a), v(b));
    let c = [
        p[1] * q[2] - p[2] * q[1],
        p[2] * q[0] - p[0] * q[2],
        p[0] * q[1] - p[1] * q[0],
    ];
    let sin = (c[0] * c[0] + c[1] * c[1] + c[2] * c[2]).sqrt();
    let cos = p[0] * q[0] + p[1] * q[1] + p[2] * q[2];
    sin.atan2(cos).to_degrees() * 3600.0
}

#[test]
fn boundaries_match_astropy() {
    let text = std::fs::read_to_string(data("wcs.json")).unwrap();
    let oracle: serde_json::Map<String, Json> = serde_json::from_str(&text).unwrap();
    let mut points = 0;
    for (file, hdus) in &oracle {
        let ours = valet_fits::read_headers(&data(file)).unwrap();
        for entry in hdus.as_array().unwrap() {
            let i = entry["hdu"].as_u64().unwrap() as usize;
            let h = &ours[i].header;
            let wcs = Wcs::from_header(h).unwrap_or_else(|e| panic!("{file} HDU {i}: {e}"));
            let (nx, ny) = image_size(h).unwrap();
            let boundary = boundary_pixels(nx, ny);
            for p in entry["points"].as_array().unwrap() {
                let p: Vec<f64> = p
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(Json::as_f64)
                    .collect();
                let (x, y) = (p[0], p[1]);
                assert!(
                    boundary.contains(&(x, y)) || (x, y) == (nx / 2.0 + 0.5, ny / 2.0 + 0.5),
                    "{file}: the oracle's point ({x}, {y}) is one of ours"
                );
                let sep = separation(wcs.pixel_to_sky(x, y), (p[2], p[3]));
                assert!(
                    sep < 0.01,
                    "{file} HDU {i} pixel ({x}, {y}): {sep} arcsec off"
                );
                points += 1;
            }
        }
    }
    // Four DECam CCDs, four HSC raws, the SIP and the TPV image, nine points each.
    assert_eq!(points, 10 * 9);
}
