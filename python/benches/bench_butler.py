"""valet's Python package beside the reference Butler, on the DP0.2-shaped sample
(valet generate-sample): the same calls, timed in the same run.

    scripts/bench-python.sh [--visits 500]

Reported: find-first of every calexp through the processing chain as DatasetRefs
(and, for valet, as an Arrow table), single find_dataset look-ups through the chain,
and calibration look-ups at a time.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

CHAIN = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905"
CALIB = "LSSTCam-imSim/calib"


def timed(call, repeat: int) -> tuple[float, object]:
    """The best wall time of ``repeat`` calls, and the last answer."""
    best, answer = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        answer = call()
        best = min(best, time.perf_counter() - start)
    return best, answer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--valet-repo", required=True)
    parser.add_argument("--reference-repo")
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--reference-lookups", type=int, default=100)
    args = parser.parse_args()

    import valet
    from astropy.time import Time

    impls = {"valet": (valet, valet.Butler(args.valet_repo))}
    if args.reference_repo:
        import lsst.daf.butler as reference

        impls["reference"] = (reference, reference.Butler.from_config(args.reference_repo))

    results: dict[str, dict[str, float]] = {name: {} for name in impls}
    data_ids = None
    for name, (mod, butler) in impls.items():
        seconds, refs = timed(
            lambda: butler.query_datasets("calexp", collections=CHAIN, limit=None), 5 if name == "valet" else 1
        )
        results[name]["find-first as DatasetRefs (s)"] = seconds
        results[name]["calexps found"] = len(refs)
        if data_ids is None:
            rng = random.Random(7)
            data_ids = [dict(r.dataId.required) for r in rng.sample(refs, min(args.lookups, len(refs)))]
        if name == "valet":
            seconds, table = timed(
                lambda: butler.query_datasets("calexp", collections=CHAIN, limit=None, as_arrow=True), 5
            )
            results[name]["find-first as Arrow (s)"] = seconds
            assert table.num_rows == len(refs)
        count = len(data_ids) if name == "valet" else min(args.reference_lookups, len(data_ids))
        start = time.perf_counter()
        for d in data_ids[:count]:
            assert butler.find_dataset("calexp", d, collections=CHAIN) is not None
        results[name]["find_dataset, each (ms)"] = (time.perf_counter() - start) / count * 1e3
        detectors = sorted({d["detector"] for d in data_ids})[:20]
        times = [Time(f"2021-0{m}-15T00:00:00", scale="tai") for m in (6, 7, 9)] + [
            Time("2022-01-05T00:00:00", scale="tai")
        ]
        # Timespans are made first: converting astropy times is not the look-up.
        lookups = [(det, mod.Timespan(t, t)) for det in detectors for t in times]

        def look_up(det, span):
            return butler.find_dataset(
                "bias", instrument="LSSTCam-imSim", detector=det, collections=CALIB, timespan=span
            )

        # One look-up first, so that both butlers have read the calibration
        # collection's structure: the figure is the steady cost of a look-up.
        look_up(*lookups[0])
        rounds = 10 if name == "valet" else 1
        start = time.perf_counter()
        for _ in range(rounds):
            for det, span in lookups:
                look_up(det, span)
        each = (time.perf_counter() - start) / (rounds * len(lookups))
        results[name]["calibration look-up, each (ms)"] = each * 1e3

    keys = list(results["valet"])
    print(f"{'':36} " + " ".join(f"{n:>12}" for n in impls) + ("   ratio" if len(impls) > 1 else ""))
    for k in keys:
        row = [results[n].get(k) for n in impls]
        shown = " ".join(f"{v:12.4f}" if isinstance(v, float) else f"{v!s:>12}" for v in row)
        ratio = ""
        if len(row) == 2 and all(isinstance(v, float) for v in row) and row[0]:
            ratio = f"  {row[1] / row[0]:7.0f}x"
        print(f"{k:36} {shown}{ratio}")


if __name__ == "__main__":
    main()
