"""Zips of datasets both ways: written by ``valet retrieve-artifacts --zip`` and read by
the reference's ``ingest_zip``, written by the reference's ``retrieve_artifacts_zip``
and read by ``valet ingest-zip``: the same datasets, ids, data IDs and files, and
dimension records equal to those the reference imports itself from the export."""

from __future__ import annotations

import os
import pathlib
import json
import subprocess
import zipfile

import pytest

from conftest import DP02_MINI, REPO_ROOT, api, make_butler

CHAIN = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905"
WHERE = "visit IN (1..2)"


def valet(*args: str) -> str:
    """Run the valet binary (``VALET_BIN``, else the debug build) and return stdout."""
    binary = pathlib.Path(os.environ.get("VALET_BIN", REPO_ROOT / "target" / "debug" / "valet"))
    if not binary.exists():
        pytest.fail(f"{binary} is not built: run `cargo build -p valet-cli` (scripts/test.sh does)")
    done = subprocess.run([str(binary), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_reference_ingests_valet_zip(dp02, backend, tmp_path):
    repo = tmp_path / "valet-repo"
    valet("create", str(repo))
    valet(
        "import",
        str(repo),
        str(DP02_MINI / "files"),
        "--export-file",
        "../export.yaml",
        "-t",
        "copy",
    )
    written = valet(
        "retrieve-artifacts",
        str(repo),
        str(tmp_path / "zips"),
        "--zip",
        "-d",
        "calexp",
        "--collections",
        CHAIN,
        "--find-first",
        "--where",
        WHERE,
    )
    zip_path = written.strip().removeprefix("Zip file written to file://")

    # Into an empty reference repository, records and all.
    target = make_butler("reference", backend, tmp_path / "reference")
    target.ingest_zip(zip_path, transfer_dimensions=True)

    source = dp02["reference"]
    where = WHERE + " AND instrument = 'LSSTCam-imSim'"
    expected = source.query_datasets("calexp", CHAIN, where=where, find_first=True)
    got = target.query_datasets("calexp", "*", where=where, find_first=False)
    assert len(expected) == 24
    assert sorted((r.id, r.run, r.dataId.required) for r in got) == sorted(
        (r.id, r.run, r.dataId.required) for r in expected
    )
    # The files came through the zip unchanged.
    for ref in got:
        archive, member = str(target.getURI(ref)).removeprefix("file://").split("#zip-path=")
        with zipfile.ZipFile(archive) as z:
            assert z.read(member) == source.getURI(ref).read()
    # The records valet wrote are the ones the reference imported itself.
    for element in ("visit", "detector", "physical_filter", "day_obs", "visit_detector_region"):
        mine = {r.dataId.required_values: r.toDict() for r in target.query_dimension_records(element)}
        theirs = {
            r.dataId.required_values: r.toDict()
            for r in source.query_dimension_records(element)
            if r.dataId.required_values in mine
        }
        assert mine and mine == theirs, element


def test_valet_ingests_reference_zip(dp02, backend, tmp_path):
    source = dp02["reference"]
    where = WHERE + " AND instrument = 'LSSTCam-imSim'"
    refs = source.query_datasets(
        "calexp", CHAIN, where=where, find_first=True, with_dimension_records=True
    )
    zip_path = source.retrieve_artifacts_zip(refs, destination=str(tmp_path / "zips"))

    target = make_butler("valet", backend, tmp_path / "valet")
    root = str(tmp_path / "valet")
    target.close()
    assert valet("ingest-zip", root, zip_path.ospath, "--transfer-dimensions").startswith(
        "ingested 24 dataset(s)"
    )
    target = api("valet").Butler.from_config(root)
    got = target.query_datasets("calexp", "*", where=where, find_first=False)
    assert sorted((r.id, r.run, r.dataId.required) for r in got) == sorted(
        (r.id, r.run, r.dataId.required) for r in refs
    )
    by_id = {r.id: r for r in refs}
    for ref in got:
        mine = pathlib.Path(str(target.getURI(ref)).removeprefix("file://"))
        assert mine.read_bytes() == source.getURI(by_id[ref.id]).read()
    visits = {r.id: r for r in target.query_dimension_records("visit", where=WHERE, instrument="LSSTCam-imSim")}
    theirs = {r.id: r for r in source.query_dimension_records("visit", where=WHERE, instrument="LSSTCam-imSim")}
    assert sorted(visits) == sorted(theirs) == [1, 2]
    for v, mine in visits.items():
        for field in ("name", "exposure_time", "science_program", "day_obs", "physical_filter"):
            assert getattr(mine, field) == getattr(theirs[v], field), field


@pytest.mark.parametrize("implementation", ["reference", "valet"])
def test_ingest_zip_api(dp02, backend, tmp_path, implementation):
    """``Butler.ingest_zip`` of the reference's zip, the same call on both: without
    records it fails and leaves no dataset; with them, the datasets come in."""
    source = dp02["reference"]
    where = WHERE + " AND instrument = 'LSSTCam-imSim'"
    refs = source.query_datasets(
        "calexp", CHAIN, where=where, find_first=True, with_dimension_records=True
    )
    zip_path = source.retrieve_artifacts_zip(refs, destination=str(tmp_path / "zips")).ospath
    butler = make_butler(implementation, backend, tmp_path / implementation)

    def calexps():
        try:
            return butler.query_datasets("calexp", "*", find_first=False, explain=False)
        except api(implementation).MissingDatasetTypeError:
            return []

    with pytest.raises(Exception, match="(?i)instrument|constraint"):
        butler.ingest_zip(zip_path)
    assert calexps() == []
    butler.ingest_zip(zip_path, transfer_dimensions=True)
    got = butler.query_datasets("calexp", "*", where=where, find_first=False)
    assert sorted(str(r.id) for r in got) == sorted(str(r.id) for r in refs)


def test_retrieve_artifacts_zip_as_reference(dp02, tmp_path):
    """The same refs zipped by both: the same zip name, members and index (records
    compared as sets: their order is the writer's own)."""
    where = WHERE + " AND instrument = 'LSSTCam-imSim'"
    zips = {}
    for impl, butler in dp02.items():
        refs = butler.query_datasets(
            "calexp", CHAIN, where=where, find_first=True, with_dimension_records=True
        )
        path = butler.retrieve_artifacts_zip(refs, destination=str(tmp_path / impl))
        with zipfile.ZipFile(path.ospath) as z:
            index = json.loads(z.read("_butler_zip_index.json"))
            members = {n: z.read(n) for n in z.namelist()[1:]}
            first = z.namelist()[0]
        zips[impl] = (pathlib.Path(path.ospath).name, first, members, index)
    (ref_name, ref_first, ref_members, ref_index), (name, first, members, index) = (
        zips["reference"],
        zips["valet"],
    )
    assert name == ref_name and first == ref_first == "_butler_zip_index.json"
    assert members == ref_members
    assert index["refs"]["compact_refs"] == ref_index["refs"]["compact_refs"]
    assert index["refs"]["dataset_types"] == ref_index["refs"]["dataset_types"]
    assert {m: sorted(e["ids"]) for m, e in index["artifact_map"].items()} == {
        m: sorted(e["ids"]) for m, e in ref_index["artifact_map"].items()
    }
    records = lambda ix: {  # noqa: E731
        element: sorted(json.dumps(r) for r in rows)
        for element, rows in (ix["refs"]["dimension_records"] or {}).items()
    }
    assert records(ref_index) and records(index) == records(ref_index)
