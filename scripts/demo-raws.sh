#!/usr/bin/env bash
# valet's main job from raw files (SQLite): generate FITS raws for the sample
# instrument, DECam and HSC, register the instruments, ingest the raws, define
# visits (regions from the raws' WCSs), chain the raw RUNs, resolve find-first and
# export the ObsCore table with the visits' regions.
#
#   scripts/demo-raws.sh [WORK_DIR]      (default: a new temporary directory)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p valet-cli
valet=target/release/valet
work=${1:-$(mktemp -d /tmp/valet-raws.XXXXXX)}

set -x
"$valet" generate-sample "$work/sample" --raws --visits 20 --detectors 189 --runs 1
"$valet" create "$work/repo"
for instrument in LSSTCam-imSim DECam HSC; do
    "$valet" register-instrument "$work/repo" "$instrument"
done
"$valet" ingest-raws "$work/repo" "$work/sample/raws" -t symlink
"$valet" ingest-raws "$work/repo" "$work/sample/raws" -t symlink
for instrument in LSSTCam-imSim DECam HSC; do
    "$valet" define-visits "$work/repo" "$instrument"
done
"$valet" collection-chain "$work/repo" raw/all LSSTCam-imSim/raw/all DECam/raw/all HSC/raw/all
"$valet" query-datasets "$work/repo" raw --collections raw/all --find-first --where "exposure.day_obs = 20220101 AND detector < 2" --limit 4
"$valet" query-dimension-records "$work/repo" visit --where "instrument = 'DECam'"
"$valet" obscore export "$work/repo" "$work/obscore.csv" -c examples/obscore-dp02.yaml --collections raw/all --format csv
set +x
echo "ObsCore rows: $(($(wc -l < "$work/obscore.csv") - 1)) in $work/obscore.csv," \
    "$(grep -c 'POLYGON ICRS' "$work/obscore.csv") with a region"
