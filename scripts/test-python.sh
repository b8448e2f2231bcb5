#!/usr/bin/env bash
# Build valet's Python package into the test environment and run the Python suite:
# the same calls on the reference Butler and on valet, compared (python/tests).
# PostgreSQL variants need VALET_TEST_PG (scripts/with-postgres.sh sets it).
#
#   scripts/test-python.sh [PYTEST_ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(scripts/python-develop.sh)
exec "$venv/bin/python" -m pytest -q python/tests "$@"
