#!/usr/bin/env bash
# Run the whole test suite against SQLite and a real, temporary PostgreSQL server.
set -euo pipefail
cd "$(dirname "$0")/.."
export VALET_REQUIRE_PG=1
exec scripts/with-postgres.sh cargo test --workspace --all-targets "$@"
