"""valet.dregs beside DESC's data registry (the ``dataregistry`` package on SQLite):
the same registrations and queries, timed in the same run.

    scripts/bench-dregs.sh [--n 100000] [--impl reference|valet|both]

Each implementation registers N small file datasets, each copied in from a tiny
source file (``old_location``), every tenth tagged with the keyword "simulation";
then it answers, several times each (the median is reported):

* a name pattern (``dataset.name ~= "BENCH0001*"``-style, case-insensitive, about
  a hundred matches at the default N),
* a keyword (``keyword.keyword == "simulation"``, N/10 matches),
* one exact name (``dataset.name == ...``, one match).

The adapters are the conformance test's (``python/tests/dregs_impls.py``); valet runs
on a new SQLite repository.
"""

from __future__ import annotations

import argparse
import logging
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time
import warnings

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))

from dregs_impls import ReferenceImpl, ValetImpl  # noqa: E402
from dregs_scenario import as_user  # noqa: E402

# No '_' in names: DREGS escapes it in '~=' patterns, which SQLite's LIKE then
# takes literally (see the conformance scenario), so a pattern with '_' finds
# nothing on the reference.
PREFIX = "bench"
POOL = 1000


def name_of(i: int, width: int) -> str:
    return f"{PREFIX}{i:0{width}d}"


def median_time(call, runs: int) -> tuple[float, object]:
    times, answer = [], None
    for _ in range(runs):
        start = time.perf_counter()
        answer = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), answer


def rows(found) -> int:
    return len(next(iter(found.values()))) if found else 0


def bench(impl_name: str, n: int, runs: int, workdir: pathlib.Path) -> dict[str, object]:
    source = workdir / "src"
    source.mkdir(parents=True)
    pool = min(n, POOL)
    for i in range(pool):
        (source / f"f{i}.txt").write_text(f"{i}\n")
    width = max(7, len(str(n)))
    results: dict[str, object] = {}
    with as_user():
        impl = ReferenceImpl(workdir / "impl") if impl_name == "reference" else ValetImpl(workdir / "impl")
        try:
            register = impl.datareg.Registrar.dataset.register
            query = impl.datareg.Query
            step = max(1, n // 10)
            start = time.perf_counter()
            for i in range(n):
                register(
                    name_of(i, width),
                    "1.0.0",
                    old_location=str(source / f"f{i % pool}.txt"),
                    keywords=["simulation"] if i % 10 == 0 else [],
                )
                if (i + 1) % step == 0:
                    rate = (i + 1) / (time.perf_counter() - start)
                    print(f"bench-dregs: {impl_name}: {i + 1}/{n} registered ({rate:.0f}/s)", file=sys.stderr)
            seconds = time.perf_counter() - start
            results["register, datasets/s"] = n / seconds
            results["register, total (s)"] = seconds

            # A prefix matching about a hundred names (all of them below N=100).
            middle = name_of(n // 2, width)
            prefix = middle[: len(middle) - 2] if n >= 100 else PREFIX
            pattern = prefix.upper() + "*"
            by_pattern = [query.gen_filter("dataset.name", "~=", pattern)]
            t, found = median_time(
                lambda: query.find_datasets(property_names=["dataset.dataset_id", "dataset.name"], filters=by_pattern),
                runs,
            )
            results["name ~= pattern, p50 (ms)"] = t * 1e3
            results["  matches"] = rows(found)

            by_keyword = [query.gen_filter("keyword.keyword", "==", "simulation")]
            t, found = median_time(
                lambda: query.find_datasets(property_names=["dataset.dataset_id", "dataset.name"], filters=by_keyword),
                runs,
            )
            results["keyword ==, p50 (ms)"] = t * 1e3
            results["  matches "] = rows(found)

            by_name = [query.gen_filter("dataset.name", "==", middle)]
            t, found = median_time(
                lambda: query.find_datasets(property_names=["dataset.dataset_id", "dataset.name"], filters=by_name),
                runs,
            )
            results["name ==, p50 (ms)"] = t * 1e3
            results["  matches  "] = rows(found)
        finally:
            impl.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100000, help="datasets to register (default 100000)")
    parser.add_argument("--impl", choices=["reference", "valet", "both"], default="both")
    parser.add_argument("--runs", type=int, default=7, help="runs of each query (median reported)")
    parser.add_argument("--workdir", help="where the registries and files go (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()

    logging.getLogger("dataregistry").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    impls = ["reference", "valet"] if args.impl == "both" else [args.impl]
    base = pathlib.Path(args.workdir or tempfile.mkdtemp(prefix="bench-dregs-"))
    base.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, object]] = {}
    try:
        for name in impls:
            workdir = base / name
            if workdir.exists():
                shutil.rmtree(workdir)
            workdir.mkdir()
            results[name] = bench(name, args.n, args.runs, workdir)
            if not args.keep:
                shutil.rmtree(workdir)
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(base, ignore_errors=True)

    print(f"{os.cpu_count()} cores; N = {args.n} file datasets, queries: median of {args.runs}")
    keys = list(results[impls[0]])
    ratio = len(impls) == 2
    print(f"{'':30} " + " ".join(f"{n:>12}" for n in impls) + ("   valet/ref" if ratio else ""))
    for k in keys:
        row = [results[n].get(k) for n in impls]
        shown = " ".join(f"{v:12.2f}" if isinstance(v, float) else f"{v!s:>12}" for v in row)
        extra = ""
        if ratio and all(isinstance(v, float) for v in row) and row[0]:
            extra = f"  {row[1] / row[0]:9.2f}x"
        print(f"{k:30} {shown}{extra}")


if __name__ == "__main__":
    main()
