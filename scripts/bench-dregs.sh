#!/usr/bin/env bash
# Benchmark valet.dregs beside DESC's data registry (the dataregistry package from
# PyPI, on SQLite): N small file datasets registered (copied in from tiny source
# files), then queries by name pattern, by keyword and by exact name, timed in the
# same run and printed as a table. valet runs on a new SQLite repository, from a
# release build of the package (not built for --impl reference).
#
#   scripts/bench-dregs.sh [--n 100000] [--impl reference|valet|both] [--runs 7]
#
# The reference registers ~150 datasets/s at N=2000 and ~90/s at N=10000 on 2
# shared cores, fewer as N grows (several commits per dataset, and look-ups that
# scan the dataset table), so the default N takes it an hour or more: --n 2000 is a
# quick look.
set -euo pipefail
cd "$(dirname "$0")/.."
impl=both
args=("$@")
while [ $# -gt 0 ]; do
    case "$1" in
        --impl) impl=$2; shift 2 ;;
        --impl=*) impl=${1#--impl=}; shift ;;
        *) shift ;;
    esac
done
venv=$(scripts/python-env.sh)
if [ "$impl" != reference ]; then
    (cd python && VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" maturin develop -q --release >&2)
fi
exec "$venv/bin/python" python/benches/bench_dregs.py "${args[@]}"
