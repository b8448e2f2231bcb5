#!/usr/bin/env bash
# Load on `valet serve` over loopback, with wrk (Debian's package): find-dataset by
# POST and SIAv2 cones on the live ObsCore table of the DP0.2-shaped sample
# (--visits 2650: about 1M rows, raws and calexps), 64 connections for a fixed
# duration; then a mix of find-dataset, query-datasets and SIAv2 cones from 64
# connections while 4 writers import datasets and edit chains
# (scripts/bench-server-writers.py, which checks that nothing acknowledged was lost).
# wrk prints latency percentiles, throughput and any non-2xx answers. The sample
# repository is cached under target/bench-server/.
#
#   scripts/bench-server.sh [--visits N] [--seconds S]
set -euo pipefail
cd "$(dirname "$0")/.."
visits=2650
seconds=10
while [ $# -gt 0 ]; do
    case "$1" in
        --visits) visits=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        *) echo "bench-server: unknown argument $1" >&2; exit 2 ;;
    esac
done
command -v wrk >/dev/null || { echo "bench-server: needs wrk (apt-get install wrk)" >&2; exit 1; }
cargo build -q --release -p valet-cli
valet=$PWD/target/release/valet
work=target/bench-server/visits-$visits
export VALET_USER=bench
if [ ! -f "$work/.complete" ]; then
    rm -rf "$work"
    "$valet" generate-sample "$work/sample" --visits "$visits" >/dev/null
    "$valet" create "$work/repo" >/dev/null
    "$valet" import "$work/repo" "$work/sample" --registry-only >/dev/null
    "$valet" obscore enable "$work/repo" examples/obscore-dp02.yaml
    rm -rf "$work/sample"
    touch "$work/.complete"
fi
"$valet" serve "$work/repo" --listen 127.0.0.1:18080 --max-streams-per-user 64 2>"$work/serve.log" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q listening "$work/serve.log" 2>/dev/null && break; sleep 0.1; done
base=http://127.0.0.1:18080
cat >"$work/find.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  local body = string.format('{"dataset_type":"calexp","data_id":{"instrument":"LSSTCam-imSim","detector":%d,"visit":%d},"collections":["2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905"]}', n % 189, (n * 7) % VISITS)
  return wrk.format(nil, "/api/v1/find-dataset", nil, body)
end
LUA
sed -i "s/VISITS/$visits/" "$work/find.lua"
echo "$(nproc) cores; $visits visits" >&2
echo "== find-dataset (POST /api/v1/find-dataset), 64 connections, ${seconds}s"
wrk -t2 -c64 -d"${seconds}s" --latency -s "$work/find.lua" "$base" | sed -n '/Latency Distribution/,/Transfer/p'
echo "== SIAv2 cone, radius 0.05 deg (GET /sia/query?POS=CIRCLE …), 64 connections, ${seconds}s"
wrk -t2 -c64 -d"${seconds}s" --latency "$base/sia/query?POS=CIRCLE%2055.0%20-30.0%200.05&MAXREC=1000" | sed -n '/Latency Distribution/,/Transfer/p'
cat >"$work/mix.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  local detector, visit = n % 189, (n * 7) % VISITS
  local kind = n % 3
  if kind == 0 then
    local body = string.format('{"dataset_type":"calexp","data_id":{"instrument":"LSSTCam-imSim","detector":%d,"visit":%d},"collections":["2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905"]}', detector, visit)
    return wrk.format("POST", "/api/v1/find-dataset", {["Content-Type"] = "application/json"}, body)
  elseif kind == 1 then
    local body = string.format('{"dataset_types":["calexp"],"collections":["2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905"],"find_first":true,"where":"visit = %d AND detector IN (%d, %d)"}', visit, detector, (detector + 1) % 189)
    return wrk.format("POST", "/api/v1/query-datasets", {["Content-Type"] = "application/json"}, body)
  else
    return wrk.format("GET", string.format("/sia/query?POS=CIRCLE%%20%.3f%%20-30.0%%200.05&MAXREC=1000", 54.0 + (n % 200) / 100))
  end
end
LUA
sed -i "s/VISITS/$visits/" "$work/mix.lua"
token=$("$valet" token create "$work/repo" bench --scope admin | tail -n 1)
echo "== mixed reads (find-dataset, query-datasets, SIAv2 cone), 64 connections, with 4 writers, ${seconds}s"
python3 scripts/bench-server-writers.py "$base" "$token" --writers 4 --seconds "$seconds" --visits "$visits" &
writers=$!
wrk -t2 -c64 -d"${seconds}s" --latency -s "$work/mix.lua" "$base" | sed -n '/Latency Distribution/,/Transfer/p;/Non-2xx/p'
wait $writers
