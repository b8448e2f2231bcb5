#!/usr/bin/env bash
# Run the whole test suite against SQLite and a real, temporary PostgreSQL server:
# the Rust tests (arguments go to cargo test), then the Python package's suite beside
# the reference Butler.
set -euo pipefail
cd "$(dirname "$0")/.."
export VALET_REQUIRE_PG=1
exec scripts/with-postgres.sh bash -c 'cargo test --workspace --all-targets "$@" && scripts/test-python.sh' test "$@"
