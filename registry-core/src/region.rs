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

    /// Vertices as (longitude, latitude) in degrees, longitude in [0, 360).
    pub fn lon_lat_degrees(&self) -> Option<Vec<(f64, f64)>> {
        match self {
            Region::ConvexPolygon(vs) => Some(vs.iter().map(|v| lon_lat_degrees(*v)).collect()),
            Region::Opaque(_) => None,
        }
    }

    /// The ADQL form ObsCore uses: `POLYGON ICRS lon lat …`, six decimals.
    pub fn adql_polygon(&self) -> Option<String> {
        let coords: Vec<String> = self
            .lon_lat_degrees()?
            .iter()
            .map(|(lon, lat)| format!("{lon:.6} {lat:.6}"))
            .collect();
        Some(format!("POLYGON ICRS {}", coords.join(" ")))
    }
}

/// A unit vector as (longitude, latitude) in degrees, longitude in [0, 360).
pub fn lon_lat_degrees([x, y, z]: [f64; 3]) -> (f64, f64) {
    let lon = y.atan2(x).to_degrees().rem_euclid(360.0);
    let lat = z.atan2((x * x + y * y).sqrt()).to_degrees();
    (lon, lat)
}

impl Region {}

#[cfg(test)]
mod tests {
    use super::*;

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
        let ll = r.lon_lat_degrees().unwrap();
        assert!(ll
            .iter()
            .all(|(lon, lat)| (45.0..55.0).contains(lon) && (-35.0..-25.0).contains(lat)));
        assert_eq!(Region::decode(&[1, 2, 3]), Region::Opaque(vec![1, 2, 3]));
    }
}
