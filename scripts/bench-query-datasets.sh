#!/usr/bin/env bash
# `valet query-datasets` as a whole process on the DP0.2-shaped sample (--visits 500:
# 94.5k find-first calexps through 286 RUNs), in each output format: wall time (min,
# median, max of --runs) and peak RSS, the release binary, SQLite.
#
#   scripts/bench-query-datasets.sh [--visits V] [--runs N]
set -euo pipefail
cd "$(dirname "$0")/.."
visits=500
runs=10
while [ $# -gt 0 ]; do
    case "$1" in
        --visits) visits=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        *) echo "bench-query-datasets: unknown argument $1" >&2; exit 2 ;;
    esac
done
cargo build -q --release -p valet-cli
valet=$PWD/target/release/valet
work=target/bench-query-datasets/visits-$visits
if [ ! -f "$work/repo/.complete" ]; then
    rm -rf "$work"
    "$valet" generate-sample "$work/sample" --visits "$visits" >/dev/null
    "$valet" create "$work/repo" >/dev/null
    "$valet" import "$work/repo" "$work/sample" --registry-only >/dev/null 2>&1
    touch "$work/repo/.complete"
fi
chain=2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905
echo "$(nproc) cores; sample: $visits visits; $runs runs each"
for format in table csv json; do
    for _ in $(seq "$runs"); do
        /usr/bin/time -f "%e %M" "$valet" query-datasets "$work/repo" calexp \
            --collections "$chain" --find-first --limit 0 --format "$format" 2>&1 >/dev/null
    done | sort -n | awk -v f="$format" -v n="$runs" '
        { t[NR] = $1; if ($2 > rss) rss = $2 }
        END { printf "%-5s  min %.2f s  median %.2f s  max %.2f s  peak RSS %d MB\n",
              f, t[1], t[int((n + 1) / 2)], t[n], rss / 1024 }'
done
