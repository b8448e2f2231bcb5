"""Build reference Butler repositories for valet's adopt tests, and record the
reference's own answers about them.

    python reference.py ROOT ANSWERS.json [--db URL] [--universe N]

Without --universe: the dp02-mini conformance export imported (files copied), then a
calibration validity range decertified in the middle (splitting ranges), a chain of
chains, a shared chain listing a personal collection, and raws with exposure-only data IDs. With --universe N: a small repository
made with that older dimension universe. --db puts the registry in PostgreSQL.
"""

import argparse
import json
import os

from lsst.daf.butler import Butler, CollectionType, Config, DatasetType, Timespan
from lsst.daf.butler.time_utils import TimeConverter
import astropy.time

HERE = os.path.dirname(os.path.abspath(__file__))
DP02 = os.path.join(HERE, "..", "data", "conformance", "dp02-mini")


def make(root, db, universe):
    config = Config()
    if db:
        config["registry"] = {"db": db}
    kwargs = {}
    if universe:
        import lsst.daf.butler

        kwargs["dimensionConfig"] = os.path.join(
            os.path.dirname(lsst.daf.butler.__file__),
            "configs",
            "old_dimensions",
            f"daf_butler_universe{universe}.yaml",
        )
    Butler.makeRepo(root, config=config, **kwargs)
    return Butler.from_config(root, writeable=True)


def fill_dp02(butler):
    butler.import_(
        directory=os.path.join(DP02, "files"),
        filename=os.path.join(DP02, "export.yaml"),
        transfer="copy",
    )
    reg = butler.registry
    calib = "LSSTCam-imSim/calib/DM-30694"
    ranges = [
        r.timespan
        for r in reg.queryDatasetAssociations("bias", collections=[calib])
        if r.timespan.begin is not None and r.timespan.end is not None
    ]
    if ranges:
        # Cut a hole in the middle of the first bounded range: one range becomes two.
        t = ranges[0]
        mid = t.begin + (t.end - t.begin) / 2
        reg.decertify(calib, "bias", Timespan(mid, mid + (t.end - t.begin) / 10))
    reg.registerCollection("u/someone/deep", CollectionType.CHAINED, doc="a chain of chains")
    reg.setCollectionChain("u/someone/deep", ["u/someone/DM-99999", "LSSTCam-imSim/defaults"])
    # Real repositories have shared chains that list personal collections.
    reg.registerCollection("LSSTCam-imSim/with-personal", CollectionType.CHAINED,
                           doc="a shared chain listing a personal one")
    reg.setCollectionChain("LSSTCam-imSim/with-personal",
                           ["u/someone/DM-99999", "LSSTCam-imSim/defaults"])
    raw_exp = DatasetType("raw_exp", ["instrument", "exposure"], "StructuredDataDict",
                          universe=butler.dimensions)
    reg.registerDatasetType(raw_exp)
    reg.registerRun("exposures/run", doc="raws by exposure only")
    exposures = {(r.instrument, r.id) for r in reg.queryDimensionRecords("exposure")}
    reg.insertDatasets(raw_exp, [{"instrument": i, "exposure": e} for i, e in sorted(exposures)],
                       run="exposures/run")


def fill_small(butler):
    reg = butler.registry
    reg.insertDimensionData("instrument", {"name": "Cam", "detector_max": 4, "visit_max": 999,
                                           "exposure_max": 999})
    reg.insertDimensionData("physical_filter", {"instrument": "Cam", "name": "r1", "band": "r"})
    for d in range(2):
        reg.insertDimensionData("detector", {"instrument": "Cam", "id": d, "full_name": f"d{d}"})
    t0 = astropy.time.Time("2024-03-01T00:00:00", scale="tai")
    fields = {f.name for f in butler.dimensions["exposure"].metadata} | set(
        butler.dimensions["exposure"].implied.names)
    for e in range(3):
        rec = {"instrument": "Cam", "id": e, "obs_id": f"o{e}", "physical_filter": "r1",
               "timespan": Timespan(t0 + e * astropy.time.TimeDelta(60, format="sec"),
                                    t0 + (e + 1) * astropy.time.TimeDelta(60, format="sec"))}
        if "day_obs" in fields:
            if "day_obs" in butler.dimensions.getStaticDimensions().names:
                reg.insertDimensionData("day_obs", {"instrument": "Cam", "id": 20240301},
                                        skip_existing=True)
            rec["day_obs"] = 20240301
        if "group" in fields:
            if "group" in butler.dimensions.getStaticDimensions().names:
                reg.insertDimensionData("group", {"instrument": "Cam", "name": f"g{e}"},
                                        skip_existing=True)
            rec["group"] = f"g{e}"
        if "group_name" in fields:
            rec["group_name"] = f"g{e}"
        reg.insertDimensionData("exposure", rec)
    raw = DatasetType("raw", ["instrument", "detector", "exposure"], "StructuredDataDict",
                      universe=butler.dimensions)
    reg.registerDatasetType(raw)
    for run in ("Cam/raw/a", "Cam/raw/b"):
        reg.registerRun(run)
        reg.insertDatasets(raw, [{"instrument": "Cam", "detector": d, "exposure": e}
                                 for d in range(2) for e in range(3) if run.endswith("a") or e > 0],
                           run=run)
    reg.registerCollection("Cam/defaults", CollectionType.CHAINED)
    reg.setCollectionChain("Cam/defaults", ["Cam/raw/b", "Cam/raw/a"])


def answers(butler):
    reg = butler.registry
    out = {"collections": {}, "find_first": [], "lookups": [], "calibrations": [], "files": {}}
    names = sorted(reg.queryCollections())
    for c in names:
        kind = reg.getCollectionType(c)
        out["collections"][c] = {
            "type": kind.name,
            "doc": reg.getCollectionDocumentation(c) or None,
            "children": list(reg.getCollectionChain(c)) if kind == CollectionType.CHAINED else [],
        }
    types = sorted(t.name for t in reg.queryDatasetTypes())
    for t in types:
        for c in names:
            try:
                refs = list(reg.queryDatasets(t, collections=[c], findFirst=True))
            except Exception:
                # Calibration collections need a time to find first in.
                continue
            found = sorted([str(r.id), r.run] for r in refs)
            out["find_first"].append({"type": t, "collection": c, "found": found})
            for r in refs[:3]:
                hit = reg.findDataset(t, r.dataId, collections=[c])
                out["lookups"].append({
                    "type": t, "collection": c,
                    "data_id": dict(r.dataId.required),
                    "id": str(hit.id) if hit else None,
                })
    conv = TimeConverter()
    for t in types:
        dt = reg.getDatasetType(t)
        if not dt.isCalibration():
            continue
        assocs = list(reg.queryDatasetAssociations(t, collections=names))
        times = set()
        for a in assocs:
            if a.timespan is None:
                continue
            for edge in (a.timespan.begin, a.timespan.end):
                if edge is not None:
                    n = conv.astropy_to_nsec(edge)
                    times.update({n - 1, n, n + 1})
        data_ids = {tuple(sorted(dict(a.ref.dataId.required).items())) for a in assocs}
        calib_names = [c for c in names if out["collections"][c]["type"] in ("CALIBRATION", "CHAINED")]
        for c in calib_names:
            for d in sorted(data_ids):
                for n in sorted(times):
                    span = Timespan(None, None, _nsec=(n, n + 1))
                    try:
                        hit = reg.findDataset(t, dict(d), collections=[c], timespan=span)
                    except Exception:
                        continue
                    out["calibrations"].append({
                        "type": t, "collection": c, "data_id": dict(d), "time": n,
                        "id": str(hit.id) if hit else None,
                    })
    for t in types:
        for ref in reg.queryDatasets(t, collections=names):
            try:
                uri = butler.getURI(ref)
            except Exception:
                continue
            path = uri.ospath
            out["files"][str(ref.id)] = [path, os.path.getsize(path)]
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("answers")
    p.add_argument("--db")
    p.add_argument("--universe", type=int)
    a = p.parse_args()
    butler = make(a.root, a.db, a.universe)
    if a.universe:
        fill_small(butler)
    else:
        fill_dp02(butler)
    with open(a.answers, "w") as f:
        json.dump(answers(butler), f, indent=1, sort_keys=True, default=str)


if __name__ == "__main__":
    main()
