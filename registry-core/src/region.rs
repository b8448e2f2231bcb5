//! Regions in the reference's (sphgeom) encoding: a type byte, then little-endian
//! fields. `ConvexPolygon` (`p`) is three f64 unit-vector components per vertex (at
//! least three vertices); `Box` (`b`) is longitude then latitude bounds, in radians;
//! `Circle` (`c`) is a unit-vector center, its squared chord length and its opening
//! angle; `Ellipse` (`e`) is a 3x3 transform, alpha, beta, gamma and the tangents of
//! alpha and beta; `UnionRegion` (`u`) and `IntersectionRegion` (`i`) are their
//! operands, each as a little-endian u64 byte count and its own encoding.
//!
//! [`Region::parse`] decodes strictly (what an import must check);
//! [`Region::decode`] keeps bytes it cannot read as [`Region::Opaque`]. Encoding a
//! decoded region gives back the same bytes.

use std::fmt;

/// The sphgeom type byte of a `ConvexPolygon`.
pub const CONVEX_POLYGON_TAG: u8 = b'p';
/// The sphgeom type byte of a `Box`.
pub const BOX_TAG: u8 = b'b';
/// The sphgeom type byte of a `Circle`.
pub const CIRCLE_TAG: u8 = b'c';
/// The sphgeom type byte of an `Ellipse`.
pub const ELLIPSE_TAG: u8 = b'e';
/// The sphgeom type byte of a `UnionRegion`.
pub const UNION_TAG: u8 = b'u';
/// The sphgeom type byte of an `IntersectionRegion`.
pub const INTERSECTION_TAG: u8 = b'i';

/// How deeply unions and intersections may nest in an encoding this decodes.
pub const MAX_COMPOUND_DEPTH: usize = 32;

/// The sphgeom class names, as the reference's YAML tags spell them
/// (`!<lsst.sphgeom.NAME>`), with their type bytes.
pub const REGION_KINDS: [(&str, u8); 6] = [
    ("ConvexPolygon", CONVEX_POLYGON_TAG),
    ("Box", BOX_TAG),
    ("Circle", CIRCLE_TAG),
    ("Ellipse", ELLIPSE_TAG),
    ("UnionRegion", UNION_TAG),
    ("IntersectionRegion", INTERSECTION_TAG),
];

/// An `Ellipse`'s fields as sphgeom stores them.
#[derive(Debug, Clone, PartialEq)]
pub struct Ellipse {
    /// The rotation taking the ellipse's center to the z axis (row-major).
    pub transform: [[f64; 3]; 3],
    /// Semi-axis angle alpha (radians).
    pub alpha: f64,
    /// Semi-axis angle beta (radians).
    pub beta: f64,
    /// Orientation angle gamma (radians).
    pub gamma: f64,
    /// tan(alpha).
    pub tan_alpha: f64,
    /// tan(beta).
    pub tan_beta: f64,
}

/// A decoded region.
#[derive(Debug, Clone, PartialEq)]
pub enum Region {
    /// A convex polygon given by unit vectors.
    ConvexPolygon(Vec<[f64; 3]>),
    /// A longitude/latitude box, in radians.
    Box {
        /// Longitude interval `[a, b]` (it wraps when `a > b`).
        lon: [f64; 2],
        /// Latitude interval `[a, b]`.
        lat: [f64; 2],
    },
    /// A circle on the sphere.
    Circle {
        /// The center, a unit vector.
        center: [f64; 3],
        /// Squared length of the chord from the center to the edge.
        squared_chord_length: f64,
        /// Opening angle (radians).
        opening_angle: f64,
    },
    /// An ellipse on the sphere.
    Ellipse(Box<Ellipse>),
    /// The union of its operands.
    Union(Vec<Region>),
    /// The intersection of its operands.
    Intersection(Vec<Region>),
    /// Bytes that are not a region encoding this reads, kept as they came.
    Opaque(Vec<u8>),
}

/// Why bytes are not a region encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionError(
    /// What is wrong, in one line.
    pub String,
);

impl fmt::Display for RegionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RegionError {}

/// The sphgeom class a type byte names.
pub fn kind_of_type_byte(byte: u8) -> Option<&'static str> {
    REGION_KINDS
        .iter()
        .find(|(_, b)| *b == byte)
        .map(|(name, _)| *name)
}

fn f64_at(bytes: &[u8], i: usize) -> f64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
    f64::from_le_bytes(b)
}

/// The `n` little-endian f64s after the type byte of a fixed-size encoding.
fn fixed<const N: usize>(bytes: &[u8], kind: &str) -> Result<[f64; N], RegionError> {
    if bytes.len() != 1 + 8 * N {
        return Err(RegionError(format!(
            "a {kind} encoding is {} bytes, not {}",
            1 + 8 * N,
            bytes.len()
        )));
    }
    let mut out = [0.0; N];
    for (i, x) in out.iter_mut().enumerate() {
        *x = f64_at(&bytes[1..], i);
    }
    Ok(out)
}

fn push_f64s(out: &mut Vec<u8>, xs: &[f64]) {
    for x in xs {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

impl Region {
    /// Decode the reference's encoding, refusing anything that is not one: unknown
    /// type bytes, wrong lengths, polygons of fewer than three vertices, truncated or
    /// too deeply nested compound regions.
    pub fn parse(bytes: &[u8]) -> Result<Region, RegionError> {
        Region::parse_at(bytes, 0)
    }

    fn parse_at(bytes: &[u8], depth: usize) -> Result<Region, RegionError> {
        let Some(&code) = bytes.first() else {
            return Err(RegionError("a region encoding is empty".into()));
        };
        match code {
            CONVEX_POLYGON_TAG => {
                let n = bytes.len() - 1;
                if !n.is_multiple_of(24) || n < 3 * 24 {
                    return Err(RegionError(format!(
                        "a ConvexPolygon encoding is 1 byte and 24 per vertex for at least 3 \
                         vertices, not {} bytes",
                        bytes.len()
                    )));
                }
                let vertices = bytes[1..]
                    .chunks_exact(24)
                    .map(|c| [f64_at(c, 0), f64_at(c, 1), f64_at(c, 2)])
                    .collect();
                Ok(Region::ConvexPolygon(vertices))
            }
            BOX_TAG => {
                let [a, b, c, d] = fixed::<4>(bytes, "Box")?;
                Ok(Region::Box {
                    lon: [a, b],
                    lat: [c, d],
                })
            }
            CIRCLE_TAG => {
                let [x, y, z, scl, angle] = fixed::<5>(bytes, "Circle")?;
                Ok(Region::Circle {
                    center: [x, y, z],
                    squared_chord_length: scl,
                    opening_angle: angle,
                })
            }
            ELLIPSE_TAG => {
                let f = fixed::<14>(bytes, "Ellipse")?;
                Ok(Region::Ellipse(Box::new(Ellipse {
                    transform: [[f[0], f[1], f[2]], [f[3], f[4], f[5]], [f[6], f[7], f[8]]],
                    alpha: f[9],
                    beta: f[10],
                    gamma: f[11],
                    tan_alpha: f[12],
                    tan_beta: f[13],
                })))
            }
            UNION_TAG | INTERSECTION_TAG => {
                let kind = kind_of_type_byte(code).unwrap_or("compound region");
                if depth >= MAX_COMPOUND_DEPTH {
                    return Err(RegionError(format!(
                        "a {kind} nests more than {MAX_COMPOUND_DEPTH} levels deep"
                    )));
                }
                let mut rest = &bytes[1..];
                let mut operands = Vec::new();
                while !rest.is_empty() {
                    let truncated = || RegionError(format!("a {kind} encoding is truncated"));
                    let (len, tail) = rest.split_first_chunk::<8>().ok_or_else(truncated)?;
                    let len = usize::try_from(u64::from_le_bytes(*len))
                        .ok()
                        .filter(|&l| l <= tail.len())
                        .ok_or_else(truncated)?;
                    operands.push(Region::parse_at(&tail[..len], depth + 1)?);
                    rest = &tail[len..];
                }
                Ok(if code == UNION_TAG {
                    Region::Union(operands)
                } else {
                    Region::Intersection(operands)
                })
            }
            other => Err(RegionError(format!(
                "type byte 0x{other:02x} is not a sphgeom region (known: {})",
                REGION_KINDS
                    .iter()
                    .map(|(name, _)| *name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Decode stored bytes; what [`Self::parse`] refuses is kept as
    /// [`Region::Opaque`].
    pub fn decode(bytes: &[u8]) -> Region {
        Region::parse(bytes).unwrap_or_else(|_| Region::Opaque(bytes.to_vec()))
    }

    /// The sphgeom class name (`ConvexPolygon`, `Circle`, …); `None` for opaque bytes.
    pub fn kind(&self) -> Option<&'static str> {
        Some(match self {
            Region::ConvexPolygon(_) => "ConvexPolygon",
            Region::Box { .. } => "Box",
            Region::Circle { .. } => "Circle",
            Region::Ellipse(_) => "Ellipse",
            Region::Union(_) => "UnionRegion",
            Region::Intersection(_) => "IntersectionRegion",
            Region::Opaque(_) => return None,
        })
    }

    /// Encode back to the reference's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Region::ConvexPolygon(vs) => {
                out.reserve(1 + vs.len() * 24);
                out.push(CONVEX_POLYGON_TAG);
                for v in vs {
                    push_f64s(out, v);
                }
            }
            Region::Box { lon, lat } => {
                out.push(BOX_TAG);
                push_f64s(out, lon);
                push_f64s(out, lat);
            }
            Region::Circle {
                center,
                squared_chord_length,
                opening_angle,
            } => {
                out.push(CIRCLE_TAG);
                push_f64s(out, center);
                push_f64s(out, &[*squared_chord_length, *opening_angle]);
            }
            Region::Ellipse(e) => {
                out.push(ELLIPSE_TAG);
                for row in &e.transform {
                    push_f64s(out, row);
                }
                push_f64s(out, &[e.alpha, e.beta, e.gamma, e.tan_alpha, e.tan_beta]);
            }
            Region::Union(ops) | Region::Intersection(ops) => {
                out.push(if matches!(self, Region::Union(_)) {
                    UNION_TAG
                } else {
                    INTERSECTION_TAG
                });
                for op in ops {
                    let bytes = op.encode();
                    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
                    out.extend_from_slice(&bytes);
                }
            }
            Region::Opaque(b) => out.extend_from_slice(b),
        }
    }

    /// The ADQL form ObsCore uses: `POLYGON ICRS lon lat …`, six decimals.
    pub fn adql_polygon(&self) -> Option<String> {
        let mut out = String::with_capacity(128);
        self.write_adql_polygon(&mut out).then_some(out)
    }

    /// Append [`Self::adql_polygon`] to `out`; `false` (nothing written) for regions
    /// that are not polygons (the reference's ObsCore takes only polygons). Writing
    /// into a caller's buffer lets bulk exports format millions of regions without an
    /// allocation each.
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

impl Region {
    /// The IVOA STC-S text of the region, as sphgeom's `to_ivoa_stcs` writes it
    /// (`Polygon ICRS lon lat …`, `Circle ICRS lon lat radius`, degrees, each number
    /// in its shortest exact form); an error naming the kind for regions STC-S
    /// cannot hold here (boxes, ellipses, unions).
    pub fn ivoa_stcs(&self) -> Result<String, String> {
        let mut out = String::new();
        match self {
            Region::ConvexPolygon(vs) => {
                out.push_str("Polygon ICRS");
                for v in vs {
                    let (lon, lat) = lon_lat_degrees(*v);
                    push_shortest(&mut out, lon);
                    push_shortest(&mut out, lat);
                }
            }
            Region::Circle {
                center,
                opening_angle,
                ..
            } => {
                let (lon, lat) = lon_lat_degrees(*center);
                out.push_str("Circle ICRS");
                push_shortest(&mut out, lon);
                push_shortest(&mut out, lat);
                push_shortest(&mut out, opening_angle.to_degrees());
            }
            other => {
                return Err(format!(
                    "a {} region cannot be written as STC-S",
                    other.kind().unwrap_or("unknown")
                ))
            }
        }
        Ok(out)
    }
}

/// Append a space and `x` in its shortest exact form, as C++'s `std::to_chars`
/// writes it: the shorter of the fixed and the exponent forms (fixed on a tie), no
/// `.0` on whole numbers, exponents of at least two digits (`1e-05`).
fn push_shortest(out: &mut String, x: f64) {
    out.push(' ');
    let fixed = format!("{x}");
    let exp = format!("{x:e}");
    let exp = match exp.split_once('e') {
        Some((mantissa, power)) => {
            let (sign, digits) = match power.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', power),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => exp,
    };
    out.push_str(if exp.len() < fixed.len() {
        &exp
    } else {
        &fixed
    });
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

/// The unit vector of a longitude and latitude in degrees (the inverse of
/// [`lon_lat_degrees`]).
pub fn unit_vector(lon: f64, lat: f64) -> [f64; 3] {
    let (a, d) = (lon.to_radians(), lat.to_radians());
    [d.cos() * a.cos(), d.cos() * a.sin(), d.sin()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stcs_numbers_are_shortest_as_sphgeom_writes_them() {
        let shown = |x: f64| {
            let mut out = String::new();
            push_shortest(&mut out, x);
            out
        };
        for (x, want) in [
            (10.0, " 10"),
            (11.000000000000002, " 11.000000000000002"),
            (0.1, " 0.1"),
            (-20.125, " -20.125"),
            (1e-5, " 1e-05"),
            (-1.2e-15, " -1.2e-15"),
            (0.0, " 0"),
            (359.50000000000006, " 359.50000000000006"),
        ] {
            assert_eq!(shown(x), want, "{x}");
        }
        // sphgeom: Circle(UnitVector3d(LonLat.fromDegrees(10.25, -20.125)), 0.1 deg).
        let circle = Region::Circle {
            center: unit_vector(10.25, -20.125),
            squared_chord_length: 0.0,
            opening_angle: 0.1f64.to_radians(),
        };
        assert_eq!(circle.ivoa_stcs().unwrap(), "Circle ICRS 10.25 -20.125 0.1");
        let boxed = Region::Box {
            lon: [0.1, 0.2],
            lat: [0.1, 0.2],
        };
        assert!(boxed
            .ivoa_stcs()
            .unwrap_err()
            .contains("cannot be written as STC-S"));
    }

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

    #[test]
    fn every_sphgeom_kind_round_trips() {
        let polygon =
            Region::ConvexPolygon(vec![[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
        let circle = Region::Circle {
            center: [0.0, 0.0, 1.0],
            squared_chord_length: 0.01,
            opening_angle: 0.1,
        };
        let boxed = Region::Box {
            lon: [6.2, 0.1],
            lat: [-0.5, 0.5],
        };
        let ellipse = Region::Ellipse(Box::new(Ellipse {
            transform: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            alpha: 0.2,
            beta: 0.1,
            gamma: 0.3,
            tan_alpha: 0.2f64.tan(),
            tan_beta: 0.1f64.tan(),
        }));
        let union = Region::Union(vec![polygon.clone(), circle.clone()]);
        let nested = Region::Intersection(vec![union.clone(), boxed.clone(), ellipse.clone()]);
        for (r, kind, len) in [
            (&polygon, "ConvexPolygon", 73),
            (&circle, "Circle", 41),
            (&boxed, "Box", 33),
            (&ellipse, "Ellipse", 113),
            (&union, "UnionRegion", 1 + 8 + 73 + 8 + 41),
            (
                &nested,
                "IntersectionRegion",
                1 + 8 + 131 + 8 + 33 + 8 + 113,
            ),
        ] {
            let bytes = r.encode();
            assert_eq!(bytes.len(), len, "{kind}");
            assert_eq!(kind_of_type_byte(bytes[0]), Some(kind));
            let back = Region::parse(&bytes).unwrap();
            assert_eq!(&back, r);
            assert_eq!(back.kind(), Some(kind));
            assert_eq!(back.encode(), bytes);
            // Only polygons have an ADQL polygon (as the reference's ObsCore).
            assert_eq!(back.adql_polygon().is_some(), kind == "ConvexPolygon");
        }
        // A circle is never read as a polygon, whatever its bytes hold.
        let mut c = circle.encode();
        c.extend_from_slice(&[0; 32]);
        assert!(Region::parse(&c)
            .unwrap_err()
            .to_string()
            .contains("Circle encoding is 41 bytes"));
    }

    #[test]
    fn bad_encodings_are_refused() {
        let refused = |bytes: &[u8], want: &str| {
            let msg = Region::parse(bytes).unwrap_err().to_string();
            assert!(msg.contains(want), "{bytes:02x?}: {msg}");
            assert_eq!(Region::decode(bytes), Region::Opaque(bytes.to_vec()));
        };
        refused(&[], "empty");
        refused(&[b'x', 0, 0], "type byte 0x78 is not a sphgeom region");
        refused(&[b'p'; 49], "at least 3");
        refused(&[b'b'; 30], "Box encoding is 33 bytes, not 30");
        refused(&[b'e'; 10], "Ellipse");
        refused(&[b'u', 1, 0], "UnionRegion encoding is truncated");
        refused(&[b'u', 200, 0, 0, 0, 0, 0, 0, 0, b'c'], "truncated");
        refused(
            &[b'i', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            "truncated",
        );
        // Unions nested past the limit are refused, not followed down the stack.
        let mut bytes = vec![b'u'];
        for _ in 0..1000 {
            let inner = std::mem::take(&mut bytes);
            bytes.push(b'u');
            bytes.extend_from_slice(&(inner.len() as u64).to_le_bytes());
            bytes.extend_from_slice(&inner);
        }
        refused(&bytes, "nests more than 32 levels deep");
        // An empty union is a region (of nothing), as in sphgeom.
        assert_eq!(Region::parse(b"u").unwrap(), Region::Union(vec![]));
    }
}
