"""SIAv2 from the live ObsCore table (`valet obscore siav2`): every answer is a valid
VOTable (astropy, verify='exception') and holds exactly the rows a brute-force
filter of the whole table keeps, footprint overlaps decided by lsst.sphgeom."""

from __future__ import annotations

import csv
import io
import math
import os
import subprocess

import pytest
from astropy.io.votable import parse_single_table
from lsst.sphgeom import Angle, Circle, ConvexPolygon, LonLat, UnitVector3d

from conftest import DP02_MINI, REPO_ROOT, fresh_pg_database

VALET = REPO_ROOT / "target" / "debug" / "valet"


def valet(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VALET), *args], capture_output=True, text=True, check=False)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(request, tmp_path_factory):
    """dp02-mini with a live ObsCore table (and its spatial index: an R*Tree on
    SQLite, GiST over boxes on PostgreSQL), and every row of it."""
    if not VALET.exists():
        pytest.fail(f"{VALET} is missing: run cargo build first")
    root = tmp_path_factory.mktemp(f"sia-{request.param}")
    repo = str(root / "repo")
    create = ["create", repo] + (["--db", fresh_pg_database()] if request.param == "postgresql" else [])
    for args in (
        create,
        ["import", repo, str(DP02_MINI / "files"), "--export-file", "../export.yaml", "-t", "copy"],
        ["obscore", "enable", repo, str(REPO_ROOT / "examples" / "obscore-dp02.yaml")],
        ["obscore", "export", repo, str(root / "all.xml"), "--live", "--format", "votable"],
    ):
        done = valet(*args)
        assert done.returncode == 0, done.stderr
    table = parse_single_table(str(root / "all.xml"), verify="exception").to_table()
    return repo, root, [dict(zip(table.colnames, row)) for row in table]


def unit(ra: float, dec: float) -> UnitVector3d:
    return UnitVector3d(LonLat.fromDegrees(ra, dec))


def footprint(row) -> ConvexPolygon | None:
    words = str(row["s_region"]).split()
    if not words or words[0] != "POLYGON":
        return None
    xs = [float(w) for w in words[2:]]
    return ConvexPolygon([unit(xs[i], xs[i + 1]) for i in range(0, len(xs), 2)])


def in_range(poly: ConvexPolygon, ra: tuple, dec: tuple) -> bool:
    """A footprint meets a range if a point of its edges or a corner of the range is
    shared: edges sampled densely."""
    vs = list(poly.getVertices())
    for a, b in zip(vs, vs[1:] + vs[:1]):
        for k in range(201):
            t = k / 200
            p = UnitVector3d(a.x() * (1 - t) + b.x() * t, a.y() * (1 - t) + b.y() * t, a.z() * (1 - t) + b.z() * t)
            ll = LonLat(p)
            if ra[0] <= ll.getLon().asDegrees() <= ra[1] and dec[0] <= ll.getLat().asDegrees() <= dec[1]:
                return True
    corners = [unit(r, d) for r in ra for d in dec]
    return any(poly.contains(c) for c in corners)


def run(live, *options: str) -> tuple[set[str], str]:
    repo, root, _ = live
    out = root / "answer.xml"
    done = valet("obscore", "siav2", repo, str(out), *options)
    assert done.returncode == 0, done.stderr
    votable = parse_single_table(str(out), verify="exception")
    status = out.read_text().split('name="QUERY_STATUS" value="')[1].split('"')[0]
    return {str(r["obs_publisher_did"]) for r in votable.to_table()}, status


def expect(rows, keep) -> set[str]:
    return {str(r["obs_publisher_did"]) for r in rows if keep(r)}


def test_pos_circle_polygon_range(live):
    rows = live[2]
    centres = [(50.76, -30.98), (50.2, -31.4), (51.5, -30.0), (52.0, -33.0)]
    for ra, dec in centres:
        for radius in (0.01, 0.1, 0.3, 1.0):
            circle = Circle(unit(ra, dec), Angle.fromDegrees(radius))
            want = expect(rows, lambda r: (p := footprint(r)) is not None and p.overlaps(circle))
            got, _ = run(live, "--pos", f"CIRCLE {ra} {dec} {radius}")
            assert got == want, (ra, dec, radius)
    # Off the footprints' 0.14-degree grid: shapes that only touch a footprint along an
    # edge are a matter of rounding.
    for ra, dec, half in [(50.763, -30.977, 0.05), (50.503, -31.203, 0.3), (60.0, 0.0, 1.0)]:
        points = [(ra - half, dec - half), (ra + half, dec - half), (ra + half, dec + half), (ra - half, dec + half)]
        poly = ConvexPolygon([unit(*p) for p in points])
        want = expect(rows, lambda r: (p := footprint(r)) is not None and p.overlaps(poly))
        got, _ = run(live, "--pos", "POLYGON " + " ".join(f"{x} {y}" for x, y in points))
        assert got == want and (want or ra == 60.0)
    for ra, dec in [((50.7, 50.8), (-31.0, -30.9)), ((0, 360), (-30.95, -30.94)), ((50.0, 50.72), (-90, 90))]:
        want = expect(rows, lambda r: (p := footprint(r)) is not None and in_range(p, ra, dec))
        got, _ = run(live, "--pos", f"RANGE {ra[0]} {ra[1]} {dec[0]} {dec[1]}")
        assert got == want, (ra, dec)
    # Values of one parameter are ORed.
    a, _ = run(live, "--pos", "CIRCLE 50.76 -30.98 0.05")
    b, _ = run(live, "--pos", "CIRCLE 51.23 -30.97 0.05")
    both, _ = run(live, "--pos", "CIRCLE 50.76 -30.98 0.05", "--pos", "CIRCLE 51.23 -30.97 0.05")
    assert both == a | b and a and b


def test_scalar_constraints_and_maxrec(live):
    rows = live[2]
    got, _ = run(live, "--band", "5.5e-7 6e-7")
    assert got == expect(rows, lambda r: r["em_min"] <= 6e-7 and r["em_max"] >= 5.5e-7)
    got, _ = run(live, "--band", "-Inf 4e-7", "--band", "9e-7 +Inf")
    assert got == expect(rows, lambda r: r["em_min"] <= 4e-7 or r["em_max"] >= 9e-7)
    t = sorted(float(r["t_min"]) for r in rows if not math.isnan(r["t_min"]))[len(rows) // 2]
    got, _ = run(live, "--time", f"{t} {t + 0.01}", "--calib", "1")
    assert got == expect(
        rows, lambda r: r["calib_level"] == 1 and r["t_min"] <= t + 0.01 and r["t_max"] >= t
    )
    got, _ = run(live, "--dpsubtype", "lsst.calexp", "--exptime", "20 40")
    assert got == expect(rows, lambda r: r["dataproduct_subtype"] == "lsst.calexp" and 20 <= r["t_exptime"] <= 40)
    first = sorted(str(r["obs_publisher_did"]) for r in rows)[0]
    assert run(live, "--id", first)[0] == {first}
    got, status = run(live, "--maxrec", "7")
    assert len(got) == 7 and status == "OVERFLOW"
    got, status = run(live, "--maxrec", "0")
    assert got == set() and status == "OVERFLOW"
    got, status = run(live, "--maxrec", str(len(rows)))
    assert len(got) == len(rows) and status == "OK"


def test_obscore_1_1_columns(live):
    """The file's size in kB (from the datastore's record) and the polarization
    states (none) come with every answer, as ObsCore 1.1 asks."""
    repo, root, rows = live
    run(live, "--maxrec", "50")
    table = parse_single_table(str(root / "answer.xml"), verify="exception").to_table()
    assert {"access_estsize", "pol_states"} <= set(table.colnames)
    listed = valet("query-datasets", repo, "calexp", "raw", "--collections", "*", "--show-uri",
                   "--format", "csv", "--limit", "0").stdout
    sizes = {
        d["id"]: -(-os.path.getsize(d["URI"].removeprefix("file://")) // 1024)
        for d in csv.DictReader(io.StringIO(listed))
    }
    checked = 0
    for row in table:
        dataset = str(row["obs_publisher_did"]).rsplit("id=", 1)[-1]
        if dataset in sizes:
            assert int(row["access_estsize"]) == sizes[dataset]
            checked += 1
        assert row["pol_states"] is None or str(row["pol_states"]) in ("", "--")
    assert checked > 0


def test_bad_parameters_are_one_line(live):
    repo, root, _ = live
    for option, value in [("--pos", "CIRCLE 1 2"), ("--band", "2 1"), ("--calib", "7"), ("--pos", "POLYGON 0 0 2 0 1 0.2 2 1 0 1")]:
        done = valet("obscore", "siav2", repo, str(root / "bad.xml"), option, value)
        assert done.returncode != 0
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert not (root / "bad.xml").exists()
