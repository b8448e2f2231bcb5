"""What valet's package adds to the reference's API: Arrow results, chain history,
resolution as of a time, and use from several threads at once."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from test_parity import CHAIN, refs


def test_arrow_matches_refs(dp02):
    butler = dp02["valet"]
    found = butler.query_datasets("calexp", collections=CHAIN, limit=None)
    table = butler.query_datasets("calexp", collections=CHAIN, limit=None, as_arrow=True)
    assert table.column_names == ["id", "run", "instrument", "detector", "visit"]
    rows = sorted(
        (i, r, "calexp", (("detector", d), ("instrument", n), ("visit", v)))
        for i, r, n, d, v in zip(*(table.column(c).to_pylist() for c in table.column_names))
    )
    assert rows == refs(found)
    where = "instrument = 'LSSTCam-imSim' AND visit = 2"
    assert butler.query_datasets("calexp", collections=CHAIN, where=where, as_arrow=True).num_rows == len(
        butler.query_datasets("calexp", collections=CHAIN, where=where)
    )


def test_threads_share_a_butler(dp02):
    butler = dp02["valet"]
    found = butler.query_datasets("calexp", collections=CHAIN, limit=None)
    data_ids = [dict(r.dataId.required) for r in found]
    expected = [str(r.id) for r in found]

    def look_up(chunk):
        return [str(butler.find_dataset("calexp", d, collections=CHAIN).id) for d in chunk]

    chunks = [data_ids[i::4] for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(look_up, chunks))
    assert sorted(sum(answers, [])) == sorted(expected)


def test_chain_history_and_as_of(empty):
    import valet

    butler = empty["valet"]
    for run in ["r1", "r2"]:
        butler.registry.registerRun(run)
    butler.registry.registerCollection("chain", valet.CollectionType.CHAINED)
    butler.collections.redefine_chain("chain", ["r1"])
    time.sleep(0.01)
    between = time.time_ns()
    time.sleep(0.01)
    butler.collections.prepend_chain("chain", ["r2"])
    history = butler.chain_history("chain")
    assert [children for _, _, children in history] == [["r1"], ["r2", "r1"]]
    butler.registry.insertDimensionData(
        "instrument", {"name": "Cam", "visit_max": 10, "exposure_max": 10, "detector_max": 4}
    )
    butler.registry.insertDimensionData("detector", {"instrument": "Cam", "id": 1, "full_name": "d1"})
    butler.registry.registerDatasetType(
        valet.DatasetType("flat", ["instrument", "detector"], "StructuredDataDict")
    )
    for run in ["r1", "r2"]:
        butler.registry.insertDatasets("flat", [{"instrument": "Cam", "detector": 1}], run=run)
    now = butler.find_dataset("flat", instrument="Cam", detector=1, collections="chain")
    then = butler.find_dataset("flat", instrument="Cam", detector=1, collections="chain", as_of=between)
    assert (now.run, then.run) == ("r2", "r1")


def test_unsupported_storage_class_is_named(empty):
    import valet

    butler = empty["valet"]
    butler.registry.registerRun("r")
    butler.registry.insertDimensionData(
        "instrument", {"name": "Cam", "visit_max": 10, "exposure_max": 10, "detector_max": 4}
    )
    butler.registry.registerDatasetType(valet.DatasetType("img", ["instrument"], "ExposureF"))
    with pytest.raises(NotImplementedError, match="FitsExposureFormatter"):
        butler.put(object(), "img", instrument="Cam", run="r")
