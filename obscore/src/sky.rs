//! Sky geometry for ObsCore: the bounding circle of a convex polygon as sphgeom
//! computes it (centroid and the farthest vertex), and the ADQL polygon text.

use valet_registry::region::{lon_lat_degrees, Region};

/// sphgeom pads a bounding circle's squared chord length by twice its maximum
/// squared-chord-length error, so the circle reliably contains the polygon.
const MAX_SCL_ERROR: f64 = 2.5e-15;

/// A vector in three dimensions.
pub type V3 = [f64; 3];

fn add(a: V3, b: V3) -> V3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}
fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
/// The cross product.
pub(crate) fn cross(a: V3, b: V3) -> V3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}
/// The dot product.
pub(crate) fn dot(a: V3, b: V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
fn norm(a: V3) -> f64 {
    dot(a, a).sqrt()
}

/// The centroid of a spherical polygon (sum of edge normals weighted by edge length).
fn centroid(vs: &[V3]) -> Option<V3> {
    let mut cm = [0.0; 3];
    for (k, &j) in vs.iter().enumerate() {
        let i = vs[(k + vs.len() - 1) % vs.len()];
        // sphgeom's robust cross product of the edge's ends.
        let v = cross(add(i, j), sub(i, j));
        let n = norm(v);
        if n == 0.0 {
            continue;
        }
        let s = 0.5 * n;
        let c = dot(i, j);
        let a = s.atan2(c);
        cm = add(cm, [v[0] / n * a, v[1] / n * a, v[2] / n * a]);
    }
    let n = norm(cm);
    if n == 0.0 {
        return None;
    }
    let mut u = [cm[0] / n, cm[1] / n, cm[2] / n];
    if dot(u, vs[0]) < 0.0 {
        u = [-u[0], -u[1], -u[2]];
    }
    Some(u)
}

/// The bounding circle of a convex polygon as sphgeom computes it: its centroid
/// and the opening angle (radians) reaching the farthest vertex, padded so the
/// circle reliably contains the polygon.
pub fn bounding_circle(vs: &[V3]) -> Option<(V3, f64)> {
    let c = centroid(vs)?;
    let cl2 = vs
        .iter()
        .map(|&v| {
            let d = sub(v, c);
            dot(d, d)
        })
        .fold(0.0, f64::max)
        + 2.0 * MAX_SCL_ERROR;
    Some((c, 2.0 * (0.5 * cl2.sqrt()).asin()))
}

/// `s_ra`, `s_dec` and `s_fov` (degrees) of a region, with `s_region` appended to
/// `s_region`; `None` (nothing appended) for regions that are not convex polygons.
pub fn spatial_columns(region: &Region, s_region: &mut String) -> Option<(f64, f64, f64)> {
    let Region::ConvexPolygon(vs) = region else {
        return None;
    };
    if vs.is_empty() {
        return None;
    }
    let (c, opening) = bounding_circle(vs)?;
    let (ra, dec) = lon_lat_degrees(c);
    region
        .write_adql_polygon(s_region)
        .then_some((ra, dec, 2.0 * opening.to_degrees()))
}
