#!/usr/bin/env bash
# Build valet's Python package (debug profile, sharing target/ with cargo) into the
# test environment of scripts/python-env.sh, and print the environment's path.
#
#   venv=$(scripts/python-develop.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(scripts/python-env.sh)
(cd python && VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" maturin develop -q >&2)
echo "$venv"
