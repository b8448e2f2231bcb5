//! Exact overlap tests on the sphere between an image footprint (a convex polygon
//! of great-circle edges, as ObsCore's `s_region` gives it) and the shapes a SIAv2
//! `POS` names: a circle, a longitude/latitude range, a convex polygon.

pub use crate::sky::V3;
use crate::sky::{cross, dot};

fn normalized(a: V3) -> Option<V3> {
    let n = dot(a, a).sqrt();
    (n > 0.0).then(|| [a[0] / n, a[1] / n, a[2] / n])
}

pub use valet_registry::region::unit_vector as unit;

/// Angular distance between two unit vectors, in radians.
fn distance(a: V3, b: V3) -> f64 {
    let c = cross(a, b);
    dot(c, c).sqrt().atan2(dot(a, b))
}

use valet_registry::region::lon_lat_degrees as ra_dec;

/// A convex spherical polygon, its vertices counter-clockwise seen from outside.
#[derive(Debug, Clone, PartialEq)]
pub struct Polygon {
    vertices: Vec<V3>,
}

impl Polygon {
    /// A polygon from its vertices (degrees) in either winding; `None` unless it has
    /// three or more distinct vertices and is convex.
    pub fn from_degrees(points: &[(f64, f64)]) -> Option<Polygon> {
        let mut vertices: Vec<V3> = points.iter().map(|&(ra, dec)| unit(ra, dec)).collect();
        vertices.dedup_by(|a, b| distance(*a, *b) < 1e-15);
        if vertices.len() > 2 && distance(vertices[0], vertices[vertices.len() - 1]) < 1e-15 {
            vertices.pop();
        }
        if vertices.len() < 3 {
            return None;
        }
        let turns = |vs: &[V3]| {
            (0..vs.len()).all(|i| {
                let (a, b, c) = (vs[i], vs[(i + 1) % vs.len()], vs[(i + 2) % vs.len()]);
                dot(cross(a, b), c) >= -1e-15
            })
        };
        if turns(&vertices) {
            return Some(Polygon { vertices });
        }
        vertices.reverse();
        turns(&vertices).then_some(Polygon { vertices })
    }

    /// The footprint an ObsCore `s_region` describes (`POLYGON ICRS ra dec …`).
    pub fn from_s_region(text: &str) -> Option<Polygon> {
        let mut words = text.split_whitespace();
        if !words.next()?.eq_ignore_ascii_case("POLYGON") {
            return None;
        }
        let numbers: Vec<f64> = words.filter_map(|w| w.parse().ok()).collect();
        if !numbers.len().is_multiple_of(2) {
            return None;
        }
        let points: Vec<(f64, f64)> = numbers.chunks(2).map(|p| (p[0], p[1])).collect();
        Polygon::from_degrees(&points)
    }

    fn edges(&self) -> impl Iterator<Item = (V3, V3)> + '_ {
        let n = self.vertices.len();
        (0..n).map(move |i| (self.vertices[i], self.vertices[(i + 1) % n]))
    }

    /// Whether a point is inside or on the polygon.
    pub fn contains(&self, p: V3) -> bool {
        self.edges().all(|(a, b)| dot(cross(a, b), p) >= -1e-15)
    }

    /// The vertices.
    pub fn vertices(&self) -> &[V3] {
        &self.vertices
    }

    /// Whether two polygons share a point.
    pub fn overlaps(&self, other: &Polygon) -> bool {
        self.vertices.iter().any(|&v| other.contains(v))
            || other.vertices.iter().any(|&v| self.contains(v))
            || self
                .edges()
                .any(|(a, b)| other.edges().any(|(c, d)| arcs_cross(a, b, c, d)))
    }

    /// Whether the polygon comes within `radius` (radians) of `center`.
    pub fn overlaps_circle(&self, center: V3, radius: f64) -> bool {
        self.contains(center)
            || self
                .edges()
                .any(|(a, b)| arc_distance(a, b, center) <= radius)
    }

    /// Whether the polygon shares a point with a right ascension / declination
    /// range (degrees; `ra.0 <= ra.1`, `dec.0 <= dec.1`).
    pub fn overlaps_range(&self, ra: (f64, f64), dec: (f64, f64)) -> bool {
        let in_range = |v: V3| {
            let (r, d) = ra_dec(v);
            (dec.0..=dec.1).contains(&d) && ((ra.0..=ra.1).contains(&r) || ra.1 - ra.0 >= 360.0)
        };
        if self.vertices.iter().any(|&v| in_range(v)) {
            return true;
        }
        let corners = [
            unit(ra.0, dec.0),
            unit(ra.1, dec.0),
            unit(ra.1, dec.1),
            unit(ra.0, dec.1),
        ];
        if corners.iter().any(|&c| self.contains(c)) {
            return true;
        }
        // An edge crossing one of the range's sides: a meridian arc (in two halves,
        // so that neither is 180 degrees long), or a parallel.
        let full_ra = ra.1 - ra.0 >= 360.0;
        let mid = 0.5 * (dec.0 + dec.1);
        self.edges().any(|(a, b)| {
            (!full_ra
                && [ra.0, ra.1].iter().any(|&r| {
                    arcs_cross(a, b, unit(r, dec.0), unit(r, mid))
                        || arcs_cross(a, b, unit(r, mid), unit(r, dec.1))
                }))
                || [dec.0, dec.1].iter().any(|&d| {
                    parallel_crossings(a, b, d)
                        .into_iter()
                        .flatten()
                        .any(|p| full_ra || (ra.0..=ra.1).contains(&ra_dec(p).0))
                })
        })
    }
}

/// Whether `p` lies on the minor arc from `a` to `b` (given that it is on their
/// great circle, whose normal is `n`).
fn on_arc(a: V3, b: V3, n: V3, p: V3) -> bool {
    dot(cross(a, p), n) >= -1e-15 && dot(cross(p, b), n) >= -1e-15
}

/// Whether the minor arcs a–b and c–d share a point.
fn arcs_cross(a: V3, b: V3, c: V3, d: V3) -> bool {
    let (n1, n2) = (cross(a, b), cross(c, d));
    let Some(p) = normalized(cross(n1, n2)) else {
        return false;
    };
    [p, [-p[0], -p[1], -p[2]]]
        .iter()
        .any(|&q| on_arc(a, b, n1, q) && on_arc(c, d, n2, q))
}

/// The angular distance (radians) from `p` to the minor arc a–b.
fn arc_distance(a: V3, b: V3, p: V3) -> f64 {
    let ends = distance(a, p).min(distance(b, p));
    let Some(n) = normalized(cross(a, b)) else {
        return ends;
    };
    let s = dot(p, n);
    let foot = [p[0] - s * n[0], p[1] - s * n[1], p[2] - s * n[2]];
    match normalized(foot) {
        Some(f) if on_arc(a, b, n, f) => s.abs().clamp(-1.0, 1.0).asin(),
        _ => ends,
    }
}

/// The points where the minor arc a–b crosses the parallel at `dec_deg`.
fn parallel_crossings(a: V3, b: V3, dec_deg: f64) -> [Option<V3>; 2] {
    let Some(n) = normalized(cross(a, b)) else {
        return [None, None];
    };
    let z = dec_deg.to_radians().sin();
    let rho2 = 1.0 - z * z;
    let h2 = n[0] * n[0] + n[1] * n[1];
    if h2 < 1e-30 {
        return [None, None];
    }
    // Points (x, y, z) with n·(x, y, z) = 0 and x² + y² = rho2.
    let k = -n[2] * z / h2;
    let foot = [k * n[0], k * n[1]];
    let foot2 = foot[0] * foot[0] + foot[1] * foot[1];
    if foot2 > rho2 {
        return [None, None];
    }
    let t = ((rho2 - foot2) / h2).sqrt();
    let points = [
        [foot[0] - t * n[1], foot[1] + t * n[0], z],
        [foot[0] + t * n[1], foot[1] - t * n[0], z],
    ];
    points.map(|p| on_arc(a, b, n, p).then_some(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(ra: f64, dec: f64, half: f64) -> Polygon {
        Polygon::from_degrees(&[
            (ra - half, dec - half),
            (ra + half, dec - half),
            (ra + half, dec + half),
            (ra - half, dec + half),
        ])
        .unwrap()
    }

    #[test]
    fn circles() {
        let p = square(10.0, 0.0, 1.0);
        assert!(p.overlaps_circle(unit(10.0, 0.0), 0.01f64.to_radians()));
        assert!(p.overlaps_circle(unit(11.5, 0.0), 0.6f64.to_radians()));
        assert!(!p.overlaps_circle(unit(11.5, 0.0), 0.4f64.to_radians()));
        assert!(p.overlaps_circle(unit(12.0, 2.0), 1.5f64.to_radians()));
        assert!(!p.overlaps_circle(unit(12.0, 2.0), 1.3f64.to_radians()));
    }

    #[test]
    fn ranges() {
        let p = square(10.0, 0.0, 1.0);
        assert!(p.overlaps_range((0.0, 360.0), (-90.0, 90.0)));
        assert!(p.overlaps_range((10.5, 20.0), (0.5, 5.0)));
        assert!(
            p.overlaps_range((9.5, 10.5), (-0.5, 0.5)),
            "inside the footprint"
        );
        assert!(
            p.overlaps_range((0.0, 20.0), (-0.1, 0.1)),
            "a band across it"
        );
        assert!(!p.overlaps_range((12.0, 20.0), (-5.0, 5.0)));
        assert!(!p.overlaps_range((0.0, 20.0), (1.1, 5.0)));
        assert!(
            p.overlaps_range((0.0, 10.0), (-90.0, 90.0)),
            "a pole-to-pole side"
        );
        assert!(!p.overlaps_range((0.0, 8.9), (-90.0, 90.0)));
    }

    #[test]
    fn polygons() {
        let p = square(10.0, 0.0, 1.0);
        assert!(p.overlaps(&square(11.5, 0.0, 1.0)));
        assert!(p.overlaps(&square(10.0, 0.0, 0.1)));
        assert!(p.overlaps(&square(10.0, 0.0, 5.0)));
        assert!(!p.overlaps(&square(13.0, 0.0, 0.9)));
        // A thin cross: edges cross, no vertex inside the other.
        let wide =
            Polygon::from_degrees(&[(5.0, -0.1), (15.0, -0.1), (15.0, 0.1), (5.0, 0.1)]).unwrap();
        let tall =
            Polygon::from_degrees(&[(9.9, -5.0), (10.1, -5.0), (10.1, 5.0), (9.9, 5.0)]).unwrap();
        assert!(wide.overlaps(&tall));
        assert!(Polygon::from_degrees(&[
            (0.0, 0.0),
            (2.0, 0.0),
            (1.0, 0.2),
            (2.0, 1.0),
            (0.0, 1.0)
        ])
        .is_none());
        let s = Polygon::from_s_region("POLYGON ICRS 9 -1 11 -1 11 1 9 1").unwrap();
        assert!(s.contains(unit(10.0, 0.0)));
    }
}
