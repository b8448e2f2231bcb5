//! Regions in the reference's (sphgeom) encoding. A `ConvexPolygon` is the byte 0x70
//! followed by three little-endian f64 unit-vector components per vertex; other kinds
//! are kept as opaque bytes.

/// The sphgeom type byte of a `ConvexPolygon`.
pub const CONVEX_POLYGON_TAG: u8 = 0x70;

/// A decoded region.
#[derive(Debug, Clone, PartialEq)]
pub enum Region {
    /// A convex polygon given by unit vectors.
    ConvexPolygon(Vec<[f64; 3]>),
    /// Any other encoding, kept as it came.
    Opaque(Vec<u8>),
}

impl Region {
    /// Decode the reference's encoding.
    pub fn decode(bytes: &[u8]) -> Region {
        if bytes.first() == Some(&CONVEX_POLYGON_TAG) && (bytes.len() - 1).is_multiple_of(24) {
            let vertices = bytes[1..]
                .chunks_exact(24)
                .map(|c| {
                    let f = |i: usize| {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(&c[i * 8..i * 8 + 8]);
                        f64::from_le_bytes(b)
                    };
                    [f(0), f(1), f(2)]
                })
                .collect();
            Region::ConvexPolygon(vertices)
        } else {
            Region::Opaque(bytes.to_vec())
        }
    }

    /// Encode back to the reference's bytes.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Region::ConvexPolygon(vs) => {
                let mut out = Vec::with_capacity(1 + vs.len() * 24);
                out.push(CONVEX_POLYGON_TAG);
                for v in vs {
                    for x in v {
                        out.extend_from_slice(&x.to_le_bytes());
                    }
                }
                out
            }
            Region::Opaque(b) => b.clone(),
        }
    }

    /// The ADQL form ObsCore uses: `POLYGON ICRS lon lat …`, six decimals.
    pub fn adql_polygon(&self) -> Option<String> {
        let mut out = String::with_capacity(128);
        self.write_adql_polygon(&mut out).then_some(out)
    }

    /// Append [`Self::adql_polygon`] to `out`; `false` (nothing written) for regions
    /// that are not polygons. Writing into a caller's buffer lets bulk exports format
    /// millions of regions without an allocation each.
    pub fn write_adql_polygon(&self, out: &mut String) -> bool {
        let Region::ConvexPolygon(vs) = self else {
            return false;
        };
        out.push_str("POLYGON ICRS");
        for v in vs {
            let (lon, lat) = lon_lat_degrees(*v);
            out.push(' ');
            push_fixed6(out, lon);
            out.push(' ');
            push_fixed6(out, lat);
        }
        true
    }
}

/// Append `x` with six decimals, exactly as `format!("{x:.6}")` (correctly rounded,
/// sign kept for negative values that round to zero). The common case scales to an
/// integer, which is several times faster than the formatter; values whose seventh
/// decimal sits too close to a rounding tie for the scaled product to decide, and
/// values too large for the fast path, go through the formatter.
pub fn push_fixed6(out: &mut String, x: f64) {
    use std::fmt::Write;
    let scaled = x.abs() * 1e6;
    let rounded = scaled.round();
    // Below 1e12 the product's rounding error is under 1e-4 units, so outside a 1e-3
    // margin around a tie it rounds the same way as the exact decimal.
    if !x.is_finite() || scaled >= 1e12 || ((scaled - scaled.floor()) - 0.5).abs() < 1e-3 {
        let _ = write!(out, "{x:.6}");
        return;
    }
    let units = rounded as u64;
    if x.is_sign_negative() {
        out.push('-');
    }
    let whole = units / 1_000_000;
    let frac = units % 1_000_000;
    let _ = write!(out, "{whole}.");
    let mut digits = [b'0'; 6];
    let mut rest = frac;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out.extend(digits.iter().map(|&d| d as char));
}

/// A unit vector as (longitude, latitude) in degrees, longitude in [0, 360).
pub fn lon_lat_degrees([x, y, z]: [f64; 3]) -> (f64, f64) {
    let lon = y.atan2(x).to_degrees().rem_euclid(360.0);
    let lat = z.atan2((x * x + y * y).sqrt()).to_degrees();
    (lon, lat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_six_decimals_match_the_formatter() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut samples = vec![
            0.0,
            -0.0,
            0.5e-6,
            -0.5e-6,
            1.5e-6,
            2.5e-6,
            359.9999995,
            -89.9999995,
            1e-7,
            -1e-7,
            123.4564995,
            0.0000005,
            999_999.9999995,
            2e12,
            -3e15,
            1e300,
        ];
        for _ in 0..200_000 {
            let bits = next();
            let f = (bits >> 11) as f64 / (1u64 << 53) as f64;
            samples.push(f * 720.0 - 360.0);
            // Exact ties and near-ties at the seventh decimal.
            samples.push(((bits % 360_000_000) as f64 + 0.5) / 1e6);
        }
        for x in samples {
            let mut fast = String::new();
            push_fixed6(&mut fast, x);
            assert_eq!(fast, format!("{x:.6}"), "for {x:e}");
        }
    }

    #[test]
    fn convex_polygon_round_trip() {
        let hex = "70f1986359cafee13f60880c9481b3e43f13dffd20317be0bf52cafab30843e13f3bcdba710d51e53f13dffd20317be0bf1d548d0c029de13facf3f94129c0e53feda0efed1e07dfbfac61b156965ce23f3d835f36681fe53feda0efed1e07dfbf";
        let bytes = hex::decode(hex).unwrap();
        let r = Region::decode(&bytes);
        let Region::ConvexPolygon(vs) = &r else {
            panic!("not decoded as a polygon")
        };
        assert_eq!(vs.len(), 4);
        for v in vs {
            let norm = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
            assert!((norm - 1.0).abs() < 1e-12);
        }
        assert_eq!(r.encode(), bytes);
        assert!(vs
            .iter()
            .map(|v| lon_lat_degrees(*v))
            .all(|(lon, lat)| (45.0..55.0).contains(&lon) && (-35.0..-25.0).contains(&lat)));
        assert_eq!(Region::decode(&[1, 2, 3]), Region::Opaque(vec![1, 2, 3]));
    }
}
