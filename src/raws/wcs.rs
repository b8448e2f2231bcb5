//! A raw's celestial WCS (FITS WCS papers I and II): the gnomonic (`TAN`) projection
//! with a `CD` matrix or `PC` and `CDELT`, SIP distortion (`-SIP`, `A_p_q`/`B_p_q`) and
//! the `TPV` polynomial (`PVi_k`, as DECam writes it) when present; enough to put a
//! detector's boundary on the sky.

use valet_fits::Header;

/// SIP distortion polynomials: `(p, q, coefficient)` of `A` and `B`.
#[derive(Debug, Clone, Default, PartialEq)]
struct Sip {
    a: Vec<(i32, i32, f64)>,
    b: Vec<(i32, i32, f64)>,
}

/// A celestial WCS that maps FITS pixel coordinates (1-based) to ICRS degrees.
#[derive(Debug, Clone, PartialEq)]
pub struct Wcs {
    crpix: [f64; 2],
    crval: [f64; 2],
    cd: [[f64; 2]; 2],
    lonpole: f64,
    sip: Option<Sip>,
    /// TPV coefficients (`PV1_k`, `PV2_k`, k < 40).
    tpv: Option<[[f64; 40]; 2]>,
}

/// The TPV polynomial's terms of (x, y), in `PVi_k` order: by degree, `x^d … y^d`,
/// with `r^d` after each odd degree.
fn tpv_terms(x: f64, y: f64) -> [f64; 40] {
    let r = x.hypot(y);
    let mut out = [0.0; 40];
    let mut k = 0;
    for d in 0..=7 {
        for j in 0..=d {
            out[k] = x.powi(d - j) * y.powi(j);
            k += 1;
        }
        if d % 2 == 1 {
            out[k] = r.powi(d);
            k += 1;
        }
    }
    out
}

impl Wcs {
    /// The WCS a header describes (`TAN`, `TAN-SIP` or `TPV`); other projections are
    /// refused.
    pub fn from_header(h: &Header) -> Result<Wcs, String> {
        let ctype = |i: usize| {
            h.get_str(&format!("CTYPE{i}"))
                .unwrap_or("")
                .trim()
                .to_owned()
        };
        let (c1, c2) = (ctype(1), ctype(2));
        if !c1.starts_with("RA--") || !c2.starts_with("DEC-") {
            return Err(format!(
                "the WCS axes are {c1:?} and {c2:?}, not RA and DEC (in that order)"
            ));
        }
        let projection = |c: &str| c.get(5..).unwrap_or("").to_owned();
        let p = projection(&c1);
        if !matches!(p.as_str(), "TAN" | "TAN-SIP" | "TPV") || projection(&c2) != p {
            return Err(format!(
                "WCS projection {p:?} is not supported (TAN, TAN-SIP, TPV)"
            ));
        }
        let num = |k: &str| h.get_f64(k);
        let need = |k: &str| num(k).ok_or_else(|| format!("the WCS has no {k}"));
        let crpix = [need("CRPIX1")?, need("CRPIX2")?];
        let crval = [need("CRVAL1")?, need("CRVAL2")?];
        let has_cd = ["CD1_1", "CD1_2", "CD2_1", "CD2_2"]
            .iter()
            .any(|k| h.has(k));
        let cd = if has_cd {
            let c = |k: &str| num(k).unwrap_or(0.0);
            [[c("CD1_1"), c("CD1_2")], [c("CD2_1"), c("CD2_2")]]
        } else {
            let pc = |i: usize, j: usize| {
                num(&format!("PC{i}_{j}")).unwrap_or(if i == j { 1.0 } else { 0.0 })
            };
            let (d1, d2) = (num("CDELT1").unwrap_or(1.0), num("CDELT2").unwrap_or(1.0));
            [
                [d1 * pc(1, 1), d1 * pc(1, 2)],
                [d2 * pc(2, 1), d2 * pc(2, 2)],
            ]
        };
        if cd[0][0] * cd[1][1] - cd[0][1] * cd[1][0] == 0.0 {
            return Err("the WCS matrix is singular".into());
        }
        let sip = (p == "TAN-SIP").then(|| {
            let terms = |name: &str| -> Vec<(i32, i32, f64)> {
                let order = h.get_i64(&format!("{name}_ORDER")).unwrap_or(0).clamp(0, 9) as i32;
                let mut out = Vec::new();
                for i in 0..=order {
                    for j in 0..=(order - i) {
                        if let Some(c) = num(&format!("{name}_{i}_{j}")) {
                            out.push((i, j, c));
                        }
                    }
                }
                out
            };
            Sip {
                a: terms("A"),
                b: terms("B"),
            }
        });
        let tpv = (p == "TPV").then(|| {
            let mut c = [[0.0; 40]; 2];
            for (i, row) in c.iter_mut().enumerate() {
                for (k, cell) in row.iter_mut().enumerate() {
                    *cell =
                        num(&format!("PV{}_{k}", i + 1)).unwrap_or(if k == 1 { 1.0 } else { 0.0 });
                }
            }
            c
        });
        Ok(Wcs {
            crpix,
            crval,
            cd,
            lonpole: num("LONPOLE").unwrap_or(180.0),
            sip,
            tpv,
        })
    }

    /// The sky position (RA, Dec in degrees) of a pixel position (FITS, 1-based).
    pub fn pixel_to_sky(&self, px: f64, py: f64) -> (f64, f64) {
        let (mut u, mut v) = (px - self.crpix[0], py - self.crpix[1]);
        if let Some(sip) = &self.sip {
            let poly = |terms: &[(i32, i32, f64)]| -> f64 {
                terms
                    .iter()
                    .map(|(p, q, c)| c * u.powi(*p) * v.powi(*q))
                    .sum()
            };
            let (du, dv) = (poly(&sip.a), poly(&sip.b));
            u += du;
            v += dv;
        }
        let mut x = self.cd[0][0] * u + self.cd[0][1] * v;
        let mut y = self.cd[1][0] * u + self.cd[1][1] * v;
        if let Some([pv1, pv2]) = &self.tpv {
            // ξ is a polynomial in (x, y), η the same polynomial form in (y, x).
            let (tx, ty) = (tpv_terms(x, y), tpv_terms(y, x));
            let xi: f64 = pv1.iter().zip(tx).map(|(c, t)| c * t).sum();
            let eta: f64 = pv2.iter().zip(ty).map(|(c, t)| c * t).sum();
            (x, y) = (xi, eta);
        }
        // Native spherical coordinates of the gnomonic projection.
        let r = x.hypot(y);
        let phi = x.atan2(-y);
        let theta = (180.0 / std::f64::consts::PI).atan2(r);
        // Rotated to the celestial sphere (the reference point is the native pole).
        let (a0, d0) = (self.crval[0].to_radians(), self.crval[1].to_radians());
        let dphi = phi - self.lonpole.to_radians();
        let (st, ct) = theta.sin_cos();
        let ra = a0 + (-ct * dphi.sin()).atan2(st * d0.cos() - ct * d0.sin() * dphi.cos());
        let dec = (st * d0.sin() + ct * d0.cos() * dphi.cos())
            .clamp(-1.0, 1.0)
            .asin();
        (ra.to_degrees().rem_euclid(360.0), dec.to_degrees())
    }
}

/// The image size (NAXIS1, NAXIS2) a header describes; a tile-compressed image's
/// own size (ZNAXISn).
pub fn image_size(h: &Header) -> Option<(f64, f64)> {
    let (k1, k2) = if h.get_bool("ZIMAGE") == Some(true) {
        ("ZNAXIS1", "ZNAXIS2")
    } else {
        ("NAXIS1", "NAXIS2")
    };
    Some((h.get_i64(k1)? as f64, h.get_i64(k2)? as f64))
}

/// The pixel positions of an image's boundary: its four corners and the middles of
/// its edges (pixel edges, so 0.5 and N + 0.5 in FITS coordinates), counter-clockwise.
pub fn boundary_pixels(nx: f64, ny: f64) -> [(f64, f64); 8] {
    let (x0, x1, y0, y1) = (0.5, nx + 0.5, 0.5, ny + 0.5);
    let (xm, ym) = (nx / 2.0 + 0.5, ny / 2.0 + 0.5);
    [
        (x0, y0),
        (xm, y0),
        (x1, y0),
        (x1, ym),
        (x1, y1),
        (xm, y1),
        (x0, y1),
        (x0, ym),
    ]
}

pub use valet_registry::region::unit_vector;

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// The convex hull of points on the sphere (all within a hemisphere), as the vertices
/// of an sphgeom `ConvexPolygon`: counter-clockwise seen from outside, so that each
/// edge's great circle has the polygon on its left. Points on an edge are dropped.
pub fn convex_hull(points: &[[f64; 3]]) -> Result<Vec<[f64; 3]>, String> {
    let mut centre = [0.0; 3];
    for p in points {
        for i in 0..3 {
            centre[i] += p[i];
        }
    }
    let norm = dot(centre, centre).sqrt();
    if points.len() < 3 || norm == 0.0 {
        return Err("a region needs at least three points in one hemisphere".into());
    }
    let c = centre.map(|x| x / norm);
    // A tangent-plane basis at the centre; the gnomonic projection keeps great
    // circles straight, so the planar hull is the spherical one.
    let seed = if c[2].abs() < 0.9 {
        [0.0, 0.0, 1.0]
    } else {
        [1.0, 0.0, 0.0]
    };
    let e1 = {
        let t = cross(seed, c);
        let n = dot(t, t).sqrt();
        t.map(|x| x / n)
    };
    let e2 = cross(c, e1);
    let mut planar: Vec<(f64, f64, [f64; 3])> = Vec::with_capacity(points.len());
    for p in points {
        let z = dot(*p, c);
        if z <= 1e-12 {
            return Err("the points do not fit in one hemisphere".into());
        }
        planar.push((dot(*p, e1) / z, dot(*p, e2) / z, *p));
    }
    planar.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    planar.dedup_by(|a, b| (a.0 - b.0).abs() < 1e-15 && (a.1 - b.1).abs() < 1e-15);
    let turn = |o: &(f64, f64, [f64; 3]), a: &(f64, f64, [f64; 3]), b: &(f64, f64, [f64; 3])| {
        (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
    };
    // Andrew's monotone chain, counter-clockwise in the (e1, e2) plane.
    let mut hull: Vec<(f64, f64, [f64; 3])> = Vec::new();
    for pass in 0..2 {
        let start = hull.len();
        let items: Vec<_> = if pass == 0 {
            planar.clone()
        } else {
            planar.iter().rev().cloned().collect()
        };
        for p in items {
            while hull.len() >= start + 2
                && turn(&hull[hull.len() - 2], &hull[hull.len() - 1], &p) <= 1e-18
            {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    if hull.len() < 3 {
        return Err("the points lie on one great circle".into());
    }
    let mut vertices: Vec<[f64; 3]> = hull.into_iter().map(|(_, _, p)| p).collect();
    // e1 × e2 = c points outward: counter-clockwise in the plane is counter-clockwise
    // seen from outside. Check, and flip if not.
    if dot(cross(vertices[0], vertices[1]), c) < 0.0 {
        vertices.reverse();
    }
    Ok(vertices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hull_of_a_square_with_midpoints_is_its_corners() {
        let pts: Vec<[f64; 3]> = [
            (10.0, 0.0),
            (10.5, 0.0),
            (11.0, 0.0),
            (11.0, 1.0),
            (10.0, 1.0),
            (10.5, 0.5),
        ]
        .iter()
        .map(|(r, d)| unit_vector(*r, *d))
        .collect();
        let hull = convex_hull(&pts).unwrap();
        // The midpoint of the lower edge lies (nearly) on its great circle.
        assert!(hull.len() == 4 || hull.len() == 5, "{hull:?}");
        for w in 0..hull.len() {
            let (a, b) = (hull[w], hull[(w + 1) % hull.len()]);
            let n = cross(a, b);
            for p in &pts {
                assert!(dot(n, *p) >= -1e-12, "every point is left of every edge");
            }
        }
        assert!(convex_hull(&pts[..2]).is_err());
    }

    #[test]
    fn tan_reference_pixel_is_the_reference_value() {
        let mut h = Header::new();
        for (k, v) in [("CTYPE1", "RA---TAN"), ("CTYPE2", "DEC--TAN")] {
            h.push(k, valet_fits::Value::Str(v.into()));
        }
        for (k, v) in [
            ("CRPIX1", 5.0),
            ("CRPIX2", 6.0),
            ("CRVAL1", 30.0),
            ("CRVAL2", -20.0),
        ] {
            h.push(k, valet_fits::Value::Float(v));
        }
        h.push("CDELT1", valet_fits::Value::Float(-0.001));
        h.push("CDELT2", valet_fits::Value::Float(0.001));
        let w = Wcs::from_header(&h).unwrap();
        let (ra, dec) = w.pixel_to_sky(5.0, 6.0);
        assert!((ra - 30.0).abs() < 1e-12 && (dec + 20.0).abs() < 1e-12);
        // North is up, east to the left.
        let (ra2, dec2) = w.pixel_to_sky(4.0, 7.0);
        assert!(ra2 > 30.0 && dec2 > -20.0);
        let mut bad = h.clone();
        bad.set("CTYPE1", valet_fits::Value::Str("RA---SIN".into()));
        bad.set("CTYPE2", valet_fits::Value::Str("DEC--SIN".into()));
        assert!(Wcs::from_header(&bad).unwrap_err().contains("SIN"));
    }
}
