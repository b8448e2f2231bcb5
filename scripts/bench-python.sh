#!/usr/bin/env bash
# Benchmark valet's Python package beside the reference Butler on the DP0.2-shaped
# sample: a release build of the package, the sample (--visits V; 500 gives DP0.2's
# 94.5k calexps through 286 RUNs) imported into valet and, once (cached under
# target/bench-python/, it takes minutes), into the reference.
#
#   scripts/bench-python.sh [--visits V] [--no-reference]
set -euo pipefail
cd "$(dirname "$0")/.."
visits=500
reference=1
while [ $# -gt 0 ]; do
    case "$1" in
        --visits) visits=$2; shift 2 ;;
        --no-reference) reference=0; shift ;;
        *) echo "bench-python: unknown argument $1" >&2; exit 2 ;;
    esac
done
venv=$(scripts/python-env.sh)
(cd python && VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" maturin develop -q --release >&2)
cargo build -q --release -p valet-cli
valet=$PWD/target/release/valet
work=target/bench-python/visits-$visits
if [ ! -f "$work/sample/export.yaml" ]; then
    rm -rf "$work/sample"
    "$valet" generate-sample "$work/sample" --visits "$visits" >/dev/null
    # The sample lists a file per dataset; both butlers ingest them in place.
    "$venv/bin/python" - "$work/sample" <<'PY'
import pathlib, sys
root = pathlib.Path(sys.argv[1])
for line in (root / "export.yaml").read_text().splitlines():
    line = line.strip()
    if line.startswith("path: "):
        f = root / line[len("path: "):]
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("{}\n")
PY
fi
rm -rf "$work/valet-repo"
"$valet" create "$work/valet-repo" >/dev/null
"$valet" import "$work/valet-repo" "$work/sample" -t direct >/dev/null
args=(--valet-repo "$work/valet-repo")
if [ "$reference" = 1 ]; then
    if [ ! -f "$work/reference-repo/.complete" ]; then
        rm -rf "$work/reference-repo"
        "$venv/bin/butler" create "$work/reference-repo" >/dev/null
        echo "bench-python: importing the sample into the reference (slow, once)" >&2
        "$venv/bin/butler" import "$work/reference-repo" "$work/sample" -t direct >/dev/null
        touch "$work/reference-repo/.complete"
    fi
    args+=(--reference-repo "$work/reference-repo")
fi
echo "$(nproc) cores; sample: $visits visits" >&2
exec "$venv/bin/python" python/benches/bench_butler.py "${args[@]}"
