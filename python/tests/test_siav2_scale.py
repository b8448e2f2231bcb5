"""SIAv2 at survey scale, opt-in (VALET_SCALE=1; minutes, and a release build):
pyvo's SIA2Service against `valet serve` over a live ObsCore table of about a million
rows (the DP0.2-shaped sample, 2,650 visits), each answer compared with a brute-force
filter of the whole table as `obscore export --live` writes it, footprint overlaps
decided by lsst.sphgeom.

    cargo build --release -p valet-cli
    VALET_SCALE=1 target/py-venv/bin/python -m pytest python/tests/test_siav2_scale.py

The repository is made once and kept under target/scale-sia/ for later runs."""

from __future__ import annotations

import csv
import math
import os
import random
import subprocess
import sys

import pytest
from lsst.sphgeom import Angle, Circle, ConvexPolygon, LonLat, UnitVector3d

from conftest import REPO_ROOT

VALET = REPO_ROOT / "target" / "release" / "valet"
WORK = REPO_ROOT / "target" / "scale-sia" / "visits-2650"

pytestmark = pytest.mark.skipif(
    os.environ.get("VALET_SCALE") != "1", reason="survey-scale test: set VALET_SCALE=1"
)


def valet(*args: str) -> None:
    done = subprocess.run([str(VALET), *args], capture_output=True, text=True,
                          env={**os.environ, "VALET_USER": "scale"})
    assert done.returncode == 0, done.stderr


def unit(ra: float, dec: float) -> UnitVector3d:
    return UnitVector3d(LonLat.fromDegrees(ra, dec))


@pytest.fixture(scope="module")
def served():
    """The million-row repository, served, and every row of its live table:
    (publisher DID, s_ra, s_dec, s_fov, footprint)."""
    if not VALET.exists():
        pytest.fail(f"{VALET} is missing: cargo build --release -p valet-cli")
    repo, table = WORK / "repo", WORK / "live.csv"
    if not (WORK / ".complete").exists():
        subprocess.run(["rm", "-rf", str(WORK)], check=True)
        valet("generate-sample", str(WORK / "sample"), "--visits", "2650")
        valet("create", str(repo))
        valet("import", str(repo), str(WORK / "sample"), "--registry-only")
        valet("obscore", "enable", str(repo), str(REPO_ROOT / "examples" / "obscore-dp02.yaml"))
        valet("obscore", "export", str(repo), str(table), "--live", "--format", "csv")
        subprocess.run(["rm", "-rf", str(WORK / "sample")], check=True)
        (WORK / ".complete").touch()
    csv.field_size_limit(sys.maxsize)
    rows = []
    with open(table, newline="") as f:
        for r in csv.DictReader(f):
            if r["s_region"] in ("", "\\N"):
                continue
            rows.append((r["obs_publisher_did"], float(r["s_ra"]), float(r["s_dec"]),
                         float(r["s_fov"]), r["s_region"]))
    assert len(rows) > 1_000_000
    proc = subprocess.Popen([str(VALET), "serve", str(repo), "--listen", "127.0.0.1:0"],
                            stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    assert "listening on http://" in line, line
    yield line.strip().split("listening on ")[1], rows
    proc.terminate()
    proc.wait(10)


def footprint(s_region: str) -> ConvexPolygon:
    xs = [float(w) for w in s_region.split()[2:]]
    return ConvexPolygon([unit(xs[i], xs[i + 1]) for i in range(0, len(xs), 2)])


def separation(ra1, dec1, ra2, dec2) -> float:
    """Angle between two directions, in degrees (haversine)."""
    p1, p2 = math.radians(dec1), math.radians(dec2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(ra2 - ra1) / 2) ** 2
    return math.degrees(2 * math.asin(min(1.0, math.sqrt(h))))


def brute_force(rows, region, ra, dec, reach) -> set[str]:
    """Every row whose footprint overlaps `region`: all rows are looked at; those
    whose bounding circle (s_ra, s_dec, s_fov / 2) lies farther than `reach` degrees
    from (ra, dec) cannot overlap and are passed over without building a polygon."""
    return {
        did for did, s_ra, s_dec, s_fov, s_region in rows
        if separation(ra, dec, s_ra, s_dec) <= reach + s_fov / 2 + 1e-9
        and footprint(s_region).overlaps(region)
    }


def test_cones_and_polygons_match_brute_force(served):
    import pyvo

    base, rows = served
    service = pyvo.dal.SIA2Service(base + "/sia")
    rng = random.Random(20)
    centres = [rng.choice(rows)[1:3] for _ in range(6)]
    for (ra, dec), radius in zip(centres, (0.01, 0.05, 0.05, 0.2, 0.5, 1.0)):
        want = brute_force(rows, Circle(unit(ra, dec), Angle.fromDegrees(radius)), ra, dec, radius)
        got = {str(r["obs_publisher_did"]) for r in service.search(pos=(ra, dec, radius), maxrec=100_000)}
        assert got == want, (ra, dec, radius, len(got), len(want))
        assert want
    ra, dec = centres[0]
    half = 0.25
    corners = [(ra - half, dec - half), (ra + half, dec - half), (ra + half, dec + half), (ra - half, dec + half)]
    poly = ConvexPolygon([unit(*c) for c in corners])
    want = brute_force(rows, poly, ra, dec, half * math.sqrt(2) + 1e-6)
    got = {str(r["obs_publisher_did"]) for r in service.search(pos=tuple(c for xy in corners for c in xy),
                                                                 maxrec=100_000)}
    assert got == want and want


def test_maxrec_flags_overflow(served):
    import pyvo

    base, rows = served
    service = pyvo.dal.SIA2Service(base + "/sia")
    ra, dec = rows[0][1:3]
    results = service.search(pos=(ra, dec, 1.0), maxrec=10)
    assert len(results) == 10
    assert results.status[0] == "OVERFLOW"
