#!/usr/bin/env python3
"""Writers for scripts/bench-server.sh: N threads, each for a fixed time, importing a
one-dataset export file into a new RUN of its own and prepending that RUN to its own
chain. Afterwards every acknowledged write is read back (nothing lost), and any 5xx
answer fails the run. Prints one summary line: writes, p50/p99 latency, failures.

    bench-server-writers.py BASE TOKEN --writers 4 --seconds 10 --visits N
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

# Names unique to this run, so runs against a kept repository do not collide.
SESSION = uuid.uuid4().hex[:8]
CHAIN_ROOT = f"u/bench/{SESSION}/chain"
EXPORT = """description: Butler Data Repository Export
version: 1.0.2
universe_version: 8
universe_namespace: daf_butler
data:
- type: collection
  collection_type: RUN
  name: {run}
  host: null
  timespan_begin: null
  timespan_end: null
- type: dataset
  dataset_type: calexp
  run: {run}
  records:
  - dataset_id:
    - !uuid '{id}'
    data_id:
    - instrument: LSSTCam-imSim
      detector: {detector}
      visit: {visit}
    path: calexp_{id}.fits
    formatter: lsst.obs.base.formatters.fitsExposure.FitsExposureFormatter
"""


def request(base, token, method, path, body=None, raw=None):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def writer(k, args, deadline, results):
    chain = f"{CHAIN_ROOT}{k}"
    request(args.base, args.token, "POST", "/api/v1/collections", {"name": chain, "type": "CHAINED"})
    n = 0
    while time.monotonic() < deadline:
        run = f"u/bench/{SESSION}/w{k}/{n}"
        dataset = str(uuid.uuid4())
        export = EXPORT.format(run=run, id=dataset, detector=n % 189, visit=(n * 13 + k) % args.visits)
        started = time.monotonic()
        status, body = request(args.base, args.token, "POST", "/api/v1/import", raw=export.encode())
        results["latency"].append(time.monotonic() - started)
        if status != 200:
            results["failed"].append((status, body[:200]))
            n += 1
            continue
        started = time.monotonic()
        status, body = request(args.base, args.token, "PUT", f"/api/v1/chains/{chain}",
                               {"children": [run], "mode": "prepend"})
        results["latency"].append(time.monotonic() - started)
        if status != 200:
            results["failed"].append((status, body[:200]))
        else:
            results["written"].append((chain, run, dataset))
        n += 1


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("token")
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--visits", type=int, default=2650)
    args = parser.parse_args()
    results = {"latency": [], "failed": [], "written": []}
    deadline = time.monotonic() + args.seconds
    threads = [threading.Thread(target=writer, args=(k, args, deadline, results)) for k in range(args.writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Nothing acknowledged is lost: every chain holds its runs, newest first, and
    # each run its dataset.
    lost = 0
    for k in range(args.writers):
        mine = [w for w in results["written"] if w[0] == f"{CHAIN_ROOT}{k}"]
        status, body = request(args.base, args.token, "GET", f"/api/v1/chains/{CHAIN_ROOT}{k}")
        children = json.loads(body)["children"] if status == 200 else []
        if children != [run for _, run, _ in reversed(mine)]:
            lost += 1
    for chain, run, dataset in results["written"]:
        status, body = request(args.base, args.token, "POST", "/api/v1/query-datasets",
                               {"dataset_types": ["calexp"], "collections": [run]})
        if status != 200 or dataset not in body.decode():
            lost += 1
    latency = sorted(results["latency"])
    pct = lambda q: 1000 * latency[min(len(latency) - 1, int(q * len(latency)))] if latency else float("nan")
    server_errors = [f for f in results["failed"] if f[0] >= 500]
    print(f"writers: {args.writers}, writes {len(latency)} ({len(latency) / args.seconds:.0f}/s), "
          f"p50 {pct(0.5):.1f} ms, p99 {pct(0.99):.1f} ms, refused {len(results['failed'])}, "
          f"5xx {len(server_errors)}, lost {lost}")
    for f in results["failed"][:3]:
        print(f"  refused: {f[0]} {f[1]!r}", file=sys.stderr)
    return 1 if server_errors or lost else 0


if __name__ == "__main__":
    sys.exit(main())
