#!/usr/bin/env bash
# valet's main job on the embedded default (SQLite): generate a DP0.2-shaped sample,
# create a repository, import the sample, resolve the processing chain find-first,
# and export the ObsCore table.
#
#   scripts/demo.sh [WORK_DIR]      (default: a new temporary directory)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p valet-cli
valet=target/release/valet
work=${1:-$(mktemp -d /tmp/valet-demo.XXXXXX)}
chain=2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905

set -x
"$valet" generate-sample "$work/sample" --visits 50 --runs 286
"$valet" create "$work/repo"
"$valet" import "$work/repo" "$work/sample" --registry-only
"$valet" query-collections "$work/repo" "$chain" --chains TABLE --format csv | cut -c1-160 | head -3
"$valet" find-dataset "$work/repo" calexp --collections "$chain" --data-id instrument=LSSTCam-imSim,detector=42,visit=7
"$valet" query-datasets "$work/repo" calexp --collections "$chain" --find-first --where "visit IN (7..8) AND detector < 3"
"$valet" obscore export "$work/repo" "$work/obscore.csv" -c examples/obscore-dp02.yaml --collections "$chain" --format csv
set +x
echo "ObsCore rows: $(($(wc -l < "$work/obscore.csv") - 1)) in $work/obscore.csv"
