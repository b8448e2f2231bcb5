#!/usr/bin/env bash
# Check that the reference Butler reads what valet exports and answers as valet does:
# valet imports dp02-mini (with its files) and exports it; the reference Butler
# (lsst-daf-butler from PyPI, in a throw-away virtualenv) imports that export; then
# both resolve every calexp find-first through the DP0.2 chain and the answers
# (dataset ids and runs) are compared. Run by hand; it needs network access to PyPI.
#
#   scripts/check-with-reference-butler.sh [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d /tmp/valet-reference.XXXXXX)}
chain=2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905
cargo build --release -q -p valet-cli
valet=$PWD/target/release/valet

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q lsst-daf-butler
butler="$work/venv/bin/butler"

"$valet" create "$work/valet-repo"
"$valet" import "$work/valet-repo" tests/data/conformance/dp02-mini/files --export-file ../export.yaml -t copy
"$valet" export "$work/valet-repo" "$work/export" -t copy
"$valet" query-datasets "$work/valet-repo" calexp --collections "$chain" --find-first --format json > "$work/valet.json"

"$butler" create "$work/butler-repo"
"$butler" import "$work/butler-repo" "$work/export" -t copy
"$work/venv/bin/python" - "$work" "$chain" <<'PY'
import json, sys
from lsst.daf.butler import Butler
work, chain = sys.argv[1], sys.argv[2]
butler = Butler(f"{work}/butler-repo")
refs = butler.query_datasets("calexp", collections=[chain], find_first=True, limit=None)
theirs = sorted((str(r.id), r.run) for r in refs)
ours = sorted((d["id"], d["run"]) for d in json.load(open(f"{work}/valet.json")))
print(f"reference: {len(theirs)} calexps; valet: {len(ours)}")
if theirs != ours:
    sys.exit("MISMATCH between the reference Butler and valet")
print("the reference Butler imported valet's export and answers as valet does")
PY
