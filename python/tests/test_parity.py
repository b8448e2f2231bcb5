"""The same calls on the reference Butler and on valet give the same answers: ids,
runs, data IDs, collections, chain edits, calibration look-ups, and the exceptions
raised for the same bad calls."""

from __future__ import annotations

import pytest
from astropy.time import Time

from conftest import IMPLEMENTATIONS, api

CHAIN = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905"
DEFAULTS = "LSSTCam-imSim/defaults"
CALIB = "LSSTCam-imSim/calib"


def same(butlers, call):
    """``call(butler, api)`` on every implementation; the answers must be equal."""
    answers = {impl: call(butlers[impl], api(impl)) for impl in IMPLEMENTATIONS}
    assert answers["valet"] == answers["reference"]
    return answers["reference"]


def same_error(butlers, call):
    """``call`` must raise on every implementation, exceptions of the same name."""
    names = {}
    for impl in IMPLEMENTATIONS:
        with pytest.raises(Exception) as info:
            call(butlers[impl], api(impl))
        names[impl] = type(info.value).__name__
    assert names["valet"] == names["reference"], names
    return names["reference"]


def refs(found):
    """Refs as comparable values: id, run, type and required data ID."""
    return sorted(
        (str(r.id), r.run, r.datasetType.name, tuple(sorted(r.dataId.required.items())))
        for r in found
    )


def ref(found):
    return None if found is None else refs([found])[0]


# Reads of dp02-mini.


def test_collections(dp02):
    same(dp02, lambda b, m: sorted(b.registry.queryCollections()))
    same(dp02, lambda b, m: sorted(b.collections.query("*")))
    same(dp02, lambda b, m: sorted(b.collections.query("*", m.CollectionType.RUN)))
    same(dp02, lambda b, m: sorted(b.registry.queryCollections("LSSTCam-imSim/*")))
    same(dp02, lambda b, m: list(b.registry.getCollectionChain(CHAIN)))
    same(dp02, lambda b, m: list(b.registry.getCollectionChain(DEFAULTS)))
    for name in [CHAIN, CALIB, "LSSTCam-imSim/raw/DM-12345", "LSSTCam-imSim/calib/DM-30694"]:
        same(dp02, lambda b, m: b.registry.getCollectionType(name).name)
        same(
            dp02,
            lambda b, m: (lambda i: (i.name, i.type.name, i.children, sorted(i.parents)))(
                b.collections.get_info(name, include_parents=True)
            ),
        )
    same(dp02, lambda b, m: sorted(b.collections.get_info(DEFAULTS, include_summary=True).dataset_types))
    same(dp02, lambda b, m: b.collections.query(DEFAULTS, flatten_chains=True))


def test_dataset_types(dp02):
    same(
        dp02,
        lambda b, m: sorted(
            (t.name, sorted(t.dimensions.names), t.storageClass_name, t.isCalibration())
            for t in b.registry.queryDatasetTypes()
        ),
    )
    same(dp02, lambda b, m: b.get_dataset_type("calexp").name)
    assert same_error(dp02, lambda b, m: b.get_dataset_type("no_such_type")) == "MissingDatasetTypeError"


def test_find_first_through_chains(dp02):
    for chain in [CHAIN, DEFAULTS, "u/someone/DM-99999"]:
        same(dp02, lambda b, m: refs(b.query_datasets("calexp", collections=chain, limit=None, explain=False)))
    same(dp02, lambda b, m: refs(b.query_datasets("raw", collections=DEFAULTS, limit=None)))
    same(
        dp02,
        lambda b, m: refs(b.query_datasets("calexp", collections="2.2i/runs/DP0.2/*", find_first=False, limit=None)),
    )
    same(dp02, lambda b, m: refs(b.registry.queryDatasets("calexp", collections=CHAIN, findFirst=True)))
    # No collections and no defaults is an error, finding first or not.
    assert same_error(dp02, lambda b, m: b.registry.queryDatasets("calexp")) == "NoDefaultCollectionError"


def test_query_constraints(dp02):
    same(
        dp02,
        lambda b, m: refs(b.query_datasets("calexp", collections=CHAIN, where="instrument = 'LSSTCam-imSim' AND visit > 3 AND detector = 1", limit=None)),
    )
    same(
        dp02,
        lambda b, m: refs(
            b.query_datasets("calexp", collections=CHAIN, where="instrument = 'LSSTCam-imSim' AND visit = my_visit", bind={"my_visit": 2}, limit=None)
        ),
    )
    same(dp02, lambda b, m: refs(b.query_datasets("calexp", collections=CHAIN, instrument="LSSTCam-imSim", visit=2, detector=3, limit=None)))
    same(
        dp02,
        lambda b, m: refs(b.query_datasets("calexp", collections=CHAIN, data_id={"instrument": "LSSTCam-imSim", "visit": 1}, limit=None)),
    )


def test_single_lookups(dp02):
    found = dp02["reference"].query_datasets("calexp", collections=CHAIN, limit=None)
    for r in found[:: max(1, len(found) // 25)]:
        data_id = dict(r.dataId.required)
        same(dp02, lambda b, m: ref(b.find_dataset("calexp", data_id, collections=CHAIN)))
        same(dp02, lambda b, m: ref(b.find_dataset("calexp", collections=[CHAIN], **data_id)))
        same(dp02, lambda b, m: ref(b.get_dataset(r.id)))
        same(dp02, lambda b, m: ref(b.registry.findDataset("calexp", data_id, collections=CHAIN)))
    same(
        dp02,
        lambda b, m: ref(b.find_dataset("calexp", instrument="LSSTCam-imSim", visit=999999, detector=0, collections=CHAIN)),
    )


def test_lookup_errors(dp02):
    assert (
        same_error(dp02, lambda b, m: b.find_dataset("calexp", visit=1, detector=1, instrument="LSSTCam-imSim", collections="no/such"))
        == "MissingCollectionError"
    )
    assert (
        same_error(dp02, lambda b, m: b.find_dataset("no_such_type", visit=1, collections=CHAIN))
        == "MissingDatasetTypeError"
    )
    same_error(dp02, lambda b, m: b.find_dataset("calexp", visit=1, detector=1, instrument="LSSTCam-imSim"))
    same_error(dp02, lambda b, m: b.query_datasets("calexp", collections=CHAIN, where="visit >"))
    same_error(dp02, lambda b, m: b.query_datasets("calexp", collections=CHAIN, where="instrument = 'LSSTCam-imSim' AND visit = 99999999"))


def test_calibration_lookups(dp02):
    biases = dp02["reference"].query_datasets("bias", collections=CALIB, find_first=False, limit=None)
    data_ids = {tuple(sorted(r.dataId.required.items())) for r in biases}
    for data_id in sorted(data_ids):
        data_id = dict(data_id)
        for when in ["2021-06-01T00:00:00", "2021-06-02T12:00:00", "2021-06-05T00:00:00", "2030-01-01T00:00:00"]:
            t = Time(when, scale="tai")
            same(
                dp02,
                lambda b, m: ref(b.find_dataset("bias", data_id, collections=CALIB, timespan=m.Timespan(t, t))),
            )
    # Without a time, CALIBRATION collections are passed over.
    for data_id in sorted(data_ids)[:3]:
        same(dp02, lambda b, m: ref(b.find_dataset("bias", dict(data_id), collections=CALIB)))


def test_dimension_records(dp02):
    same(
        dp02,
        lambda b, m: sorted((r.instrument, r.id, r.full_name) for r in b.query_dimension_records("detector")),
    )
    same(
        dp02,
        lambda b, m: sorted((r.id, r.physical_filter) for r in b.query_dimension_records("visit", where="instrument = 'LSSTCam-imSim' AND visit < 3")),
    )
    same(
        dp02,
        lambda b, m: (lambda d: (sorted(d.mapping.items()), d.records["detector"].full_name))(
            b.registry.expandDataId(instrument="LSSTCam-imSim", detector=3)
        ),
    )


def test_ref_value_semantics(dp02):
    truth = {str(r.id): r for r in dp02["reference"].query_datasets("calexp", collections=CHAIN, limit=None)}
    for impl in IMPLEMENTATIONS:
        b = dp02[impl]
        found = b.query_datasets("calexp", collections=CHAIN, limit=None)
        again = b.find_dataset("calexp", found[0].dataId, collections=CHAIN)
        assert again == found[0] and hash(again) == hash(found[0])
        assert len(set(found)) == len(found)
        assert isinstance(found[0].id, __import__("uuid").UUID)
        for r in found[:20]:
            expected = truth[str(r.id)].dataId
            assert (r.dataId["visit"], r.dataId["detector"]) == (expected["visit"], expected["detector"])


# Writes, from an empty repository, call for call.


def _instrument(b, m):
    b.registry.insertDimensionData(
        "instrument",
        {"name": "Cam", "visit_max": 1000, "exposure_max": 1000, "detector_max": 8, "class_name": "x.Cam"},
    )
    b.registry.insertDimensionData(
        "detector", *({"instrument": "Cam", "id": i, "full_name": f"d{i}"} for i in range(4))
    )
    b.registry.registerDatasetType(
        m.DatasetType("bias", ["instrument", "detector"], "StructuredDataDict", universe=b.dimensions, isCalibration=True)
    )


def test_chain_edits(empty):
    def build(b, m):
        for name in ["a", "b", "c", "d"]:
            b.registry.registerRun(name)
        b.registry.registerCollection("chain", m.CollectionType.CHAINED)
        b.registry.registerCollection("outer", m.CollectionType.CHAINED)
        steps = []
        b.collections.redefine_chain("chain", ["a", "b"])
        steps.append(b.registry.getCollectionChain("chain"))
        b.collections.prepend_chain("chain", ["c"])
        steps.append(b.registry.getCollectionChain("chain"))
        b.collections.extend_chain("chain", ["d", "a"])
        steps.append(b.registry.getCollectionChain("chain"))
        b.collections.remove_from_chain("chain", "b")
        steps.append(b.registry.getCollectionChain("chain"))
        b.registry.setCollectionChain("outer", ["chain", "a"])
        steps.append(b.registry.getCollectionChain("outer"))
        steps.append(b.collections.query("outer", flatten_chains=True))
        steps.append(sorted(b.registry.getCollectionParentChains("a")))
        return [list(s) for s in steps]

    same(empty, build)
    same_error(empty, lambda b, m: b.collections.redefine_chain("chain", ["outer"]))
    same_error(empty, lambda b, m: b.collections.redefine_chain("a", ["b"]))
    same_error(empty, lambda b, m: b.registry.setCollectionChain("chain", ["no/such"]))
    same(empty, lambda b, m: list(b.registry.getCollectionChain("chain")))
    same_error(empty, lambda b, m: b.registry.getCollectionChain("a"))
    same(empty, lambda b, m: b.registry.registerRun("a"))
    # Registering an existing name with another type: the reference returns False and
    # keeps the old type; valet says so (docs/python.md), and keeps it too.
    assert empty["reference"].registry.registerCollection("a", api("reference").CollectionType.TAGGED) is False
    with pytest.raises(api("valet").ConflictingDefinitionError, match="already exists as RUN"):
        empty["valet"].registry.registerCollection("a", api("valet").CollectionType.TAGGED)
    same(empty, lambda b, m: b.registry.getCollectionType("a").name)
    same(empty, lambda b, m: sorted(b.registry.queryCollections()))


def test_certify_decertify(empty):
    def build(b, m):
        _instrument(b, m)
        b.registry.registerRun("calib/run")
        b.registry.registerCollection("calib", m.CollectionType.CALIBRATION)
        new = b.registry.insertDatasets(
            "bias",
            [{"instrument": "Cam", "detector": i} for i in range(4)],
            run="calib/run",
            idGenerationMode=m.DatasetIdGenEnum.DATAID_TYPE_RUN,
        )
        t = lambda s: Time(s, scale="tai")
        b.registry.certify("calib", new[:2], m.Timespan(t("2024-01-01T00:00:00"), t("2024-02-01T00:00:00")))
        b.registry.certify("calib", new[2:], m.Timespan(t("2024-01-15T00:00:00"), None))
        b.registry.decertify(
            "calib", "bias", m.Timespan(t("2024-01-10T00:00:00"), t("2024-01-20T00:00:00")),
            dataIds=[{"instrument": "Cam", "detector": 0}, {"instrument": "Cam", "detector": 2}],
        )
        answers = [refs(new)]
        for day in ["2024-01-05", "2024-01-12", "2024-01-25", "2024-03-01"]:
            when = t(day + "T00:00:00")
            for det in range(4):
                answers.append(ref(b.find_dataset("bias", instrument="Cam", detector=det, collections="calib", timespan=m.Timespan(when, when))))
        return answers

    same(empty, build)
    # Overlapping validity ranges for the same data ID are refused.
    same_error(
        empty,
        lambda b, m: b.registry.certify(
            "calib",
            b.query_datasets("bias", collections="calib/run", limit=None)[1:2],
            m.Timespan(Time("2024-01-20T00:00:00", scale="tai"), Time("2024-01-25T00:00:00", scale="tai")),
        ),
    )


def test_tagged(empty):
    def build(b, m):
        _instrument(b, m)
        b.registry.registerRun("r")
        new = b.registry.insertDatasets(
            "bias", [{"instrument": "Cam", "detector": i} for i in range(4)], run="r",
            idGenerationMode=m.DatasetIdGenEnum.DATAID_TYPE_RUN,
        )
        b.registry.registerCollection("tag", m.CollectionType.TAGGED)
        b.registry.associate("tag", new[:3])
        b.registry.disassociate("tag", new[1:2])
        return refs(b.query_datasets("bias", collections="tag", limit=None))

    same(empty, build)
    same(empty, lambda b, m: sorted(b.collections.get_info("tag", include_summary=True).dataset_types))
    same_error(empty, lambda b, m: b.registry.associate("r", b.query_datasets("bias", collections="tag")))


def test_put_get(empty):
    def build(b, m):
        _instrument(b, m)
        b.registry.registerRun("r")
        b.registry.registerDatasetType(
            m.DatasetType("summary", ["instrument", "detector"], "StructuredDataDict", universe=b.dimensions)
        )
        put = b.put({"a": 1, "b": [1, 2]}, "summary", instrument="Cam", detector=1, run="r")
        got = b.get("summary", instrument="Cam", detector=1, collections="r")
        return (put.run, dict(put.dataId.required), got, b.getURI(put).ospath.endswith(".yaml"))

    same(empty, build)


def test_remove(empty):
    def build(b, m):
        _instrument(b, m)
        for run in ["r1", "r2"]:
            b.registry.registerRun(run)
            b.registry.insertDatasets("bias", [{"instrument": "Cam", "detector": 0}], run=run, idGenerationMode=m.DatasetIdGenEnum.DATAID_TYPE_RUN)
        b.registry.registerCollection("c", m.CollectionType.CHAINED)
        b.registry.setCollectionChain("c", ["r1", "r2"])
        b.removeRuns(["r1"], unlink_from_chains=True)
        return (sorted(b.registry.queryCollections()), list(b.registry.getCollectionChain("c")),
                refs(b.query_datasets("bias", collections="c", limit=None)))

    same(empty, build)


def test_export_import_both_ways(dp02, empty, tmp_path):
    """Each implementation exports the same datasets; the other imports them."""
    chosen = dp02["reference"].query_datasets("calexp", collections=CHAIN, limit=None)[::7]
    ids = {str(r.id) for r in chosen}
    for source, dest in [("reference", "valet"), ("valet", "reference")]:
        butler = dp02[source]
        mine = [r for r in butler.query_datasets("calexp", collections=CHAIN, limit=None) if str(r.id) in ids]
        (tmp_path / f"export-{source}").mkdir()
        with butler.export(directory=str(tmp_path / f"export-{source}"), filename="export.yaml", transfer="copy") as ex:
            ex.saveDatasets(mine)
        empty[dest].import_(directory=str(tmp_path / f"export-{source}"), filename="export.yaml", transfer="copy")
    runs = sorted({r.run for r in chosen})
    same(empty, lambda b, m: refs(b.query_datasets("calexp", collections=runs, find_first=False, limit=None)))
    assert len(refs(empty["valet"].query_datasets("calexp", collections=runs, find_first=False, limit=None))) == len(chosen)
    same(empty, lambda b, m: sorted(b.registry.queryCollections()))


def test_ingest_and_prune(empty, tmp_path):
    data = tmp_path / "summary.yaml"
    data.write_text("a: 1\nb: [1, 2]\n")

    def build(b, m):
        _instrument(b, m)
        b.registry.registerDatasetType(
            m.DatasetType("summary", ["instrument", "detector"], "StructuredDataDict", universe=b.dimensions)
        )
        summary = b.registry.getDatasetType("summary")
        files = [
            m.FileDataset(path=str(data), refs=[m.DatasetRef(summary, {"instrument": "Cam", "detector": d}, run="ingested")])
            for d in (1, 2)
        ]
        b.ingest(*files, transfer="copy")
        found = b.query_datasets("summary", collections="ingested", limit=None)
        kept_ids = sorted(str(r.id) for r in found) == sorted(str(f.refs[0].id) for f in files)
        got = b.get("summary", instrument="Cam", detector=2, collections="ingested")
        b.pruneDatasets(found[:1], purge=True, unstore=True)
        left = b.query_datasets("summary", collections="ingested", limit=None, explain=False)
        return (
            kept_ids,
            sorted((r.run, tuple(sorted(r.dataId.required.items()))) for r in found),
            got,
            [tuple(sorted(r.dataId.required.items())) for r in left],
        )

    same(empty, build)


def test_transfer_from(dp02, empty):
    """Each implementation copies the same calexps and a raw, by ref, from its
    dp02-mini into an empty repository: the same refs come back, the same datasets,
    RUNs and visit records land, and a second transfer adds nothing."""
    def chosen(b):
        calexps = b.query_datasets("calexp", collections=CHAIN, find_first=True, limit=None)[::9]
        raws = b.query_datasets("raw", collections="LSSTCam-imSim/raw/all", limit=None)[:2]
        return calexps + raws

    def transfer(b, m):
        impl = "valet" if m.__name__ == "valet" else "reference"
        moved = b.transfer_from(
            dp02[impl], chosen(dp02[impl]), transfer="copy",
            register_dataset_types=True, transfer_dimensions=True,
        )
        return refs(moved)

    def dry(b, m):
        impl = "valet" if m.__name__ == "valet" else "reference"
        would = b.transfer_from(
            dp02[impl], chosen(dp02[impl]), transfer="copy",
            register_dataset_types=True, transfer_dimensions=True, dry_run=True,
        )
        return len(would), sorted(b.registry.queryCollections())

    # A dry run reports every ref and changes nothing.
    assert same(empty, dry) == (42, [])
    moved = same(empty, transfer)
    assert len(moved) == 42
    runs = sorted({r[1] for r in moved})
    same(empty, lambda b, m: refs(b.query_datasets("calexp", collections=runs, find_first=False, limit=None)))
    same(empty, lambda b, m: sorted(b.registry.queryCollections()))
    same(empty, lambda b, m: sorted(r.id for r in b.query_dimension_records("visit", explain=False)))
    same(empty, lambda b, m: sorted(r.id for r in b.query_dimension_records("exposure", explain=False)))
    same(empty, lambda b, m: sorted(r.id for r in b.query_dimension_records("detector", explain=False)))
    same(empty, lambda b, m: sorted(r.name for r in b.query_dimension_records("physical_filter", explain=False)))
    same(empty, lambda b, m: sorted(r.id for r in b.query_dimension_records("day_obs", explain=False)))
    for r in empty["valet"].query_datasets("calexp", collections=runs, find_first=False, limit=None):
        assert empty["valet"].getURI(r).exists()
    assert len(same(empty, transfer)) == 42


def test_data_ids(dp02):
    """Data IDs from dimension records alone and from datasets, as the reference's
    ``query_data_ids`` and ``registry.queryDataIds`` give them."""
    def required(found):
        return sorted(tuple(sorted(d.required.items())) for d in found)

    def full(found):
        return sorted(tuple(sorted(d.mapping.items())) for d in found)

    same(dp02, lambda b, m: full(b.query_data_ids(["visit"], where="visit + 1 < 4", instrument="LSSTCam-imSim")))
    same(dp02, lambda b, m: required(b.query_data_ids("physical_filter", instrument="LSSTCam-imSim")))
    same(
        dp02,
        lambda b, m: required(
            b.registry.queryDataIds(
                ["visit", "detector"], datasets="calexp", collections=CHAIN,
                where="visit > 25 AND detector < 2", instrument="LSSTCam-imSim",
            )
        ),
    )
    same(
        dp02,
        lambda b, m: required(
            b.registry.queryDataIds(["exposure"], where="exposure < 3", instrument="LSSTCam-imSim")
        ),
    )
    same_error(dp02, lambda b, m: b.query_data_ids(["visit"], where="visit > 1000", instrument="LSSTCam-imSim"))


def test_transaction(empty):
    """``butler.transaction()``: an exception rolls back every call in the block,
    files included; a clean exit commits; a nested block is a savepoint."""
    def build(b, m):
        _instrument(b, m)
        b.registry.registerDatasetType(
            m.DatasetType("summary", ["instrument", "detector"], "StructuredDataDict", universe=b.dimensions)
        )
        b.registry.registerRun("kept")
        uris = []
        with pytest.raises(RuntimeError, match="stop"):
            with b.transaction():
                b.registry.registerRun("gone")
                put = b.put({"a": 1}, "summary", instrument="Cam", detector=1, run="gone")
                uris.append(b.getURI(put).ospath)
                b.registry.registerCollection("tag", m.CollectionType.TAGGED)
                b.registry.associate("tag", [put])
                b.registry.insertDatasets("bias", [{"instrument": "Cam", "detector": 2}], run="kept")
                raise RuntimeError("stop")
        with b.transaction():
            b.registry.registerRun("committed")
            b.put({"b": 2}, "summary", instrument="Cam", detector=1, run="committed")
        with b.registry.transaction():
            b.registry.registerRun("outer")
            try:
                with b.registry.transaction(savepoint=True):
                    b.registry.registerRun("inner")
                    raise KeyError("inner only")
            except KeyError:
                pass
        import os

        return (
            sorted(b.registry.queryCollections()),
            refs(b.query_datasets("bias", collections="kept", explain=False, limit=None)),
            [r.run for r in b.query_datasets("summary", collections="committed", limit=None)],
            b.get("summary", instrument="Cam", detector=1, collections="committed"),
            [os.path.exists(u) for u in uris],
        )

    same(empty, build)


def test_dimension_records(dp02):
    """``with_dimension_records`` / ``dimension_records`` expand data IDs as the
    reference does: implied values and the records of every element."""
    def records(ref):
        d = ref.dataId
        return (
            d.hasRecords(),
            sorted(d.mapping.items()),
            sorted(d.records.keys()),
            d.records["visit"].exposure_time,
            d.records["detector"].full_name,
            d.records["physical_filter"].band,
        )

    same(dp02, lambda b, m: sorted(records(r) for r in b.query_datasets(
        "calexp", collections=CHAIN, with_dimension_records=True, where="visit < 30", instrument="LSSTCam-imSim", limit=None)))
    same(dp02, lambda b, m: records(b.find_dataset(
        "calexp", collections=CHAIN, instrument="LSSTCam-imSim", visit=26, detector=1, dimension_records=True)))
    same(dp02, lambda b, m: sorted(
        (tuple(sorted(d.mapping.items())), d.records["visit"].exposure_time)
        for d in b.query_data_ids(["visit"], instrument="LSSTCam-imSim", with_dimension_records=True)))


def test_ref_pickling_and_deterministic_ids(dp02):
    """Refs survive pickling (id, run, type, data ID); ``id_generation_mode`` makes
    the reference's deterministic ids."""
    import pickle

    def roundtrip(b, m):
        found = b.query_datasets("calexp", collections=CHAIN, limit=3, order_by="visit")
        back = [pickle.loads(pickle.dumps(r)) for r in found]
        return refs(back), [a == r for a, r in zip(back, found)]

    same(dp02, roundtrip)

    def deterministic(b, m):
        t = b.get_dataset_type("calexp")
        data_id = {"instrument": "LSSTCam-imSim", "visit": 26, "detector": 1}
        return [
            str(m.DatasetRef(t, data_id, run="r", id_generation_mode=getattr(m.DatasetIdGenEnum, mode)).id)
            for mode in ("DATAID_TYPE", "DATAID_TYPE_RUN")
        ]

    same(dp02, deterministic)
