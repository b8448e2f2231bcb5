#!/usr/bin/env bash
# Make (or reuse) the Python environment the Python-side tests run in, and print its
# path: target/py-venv, with the reference Butler (lsst-daf-butler from PyPI), its
# PostgreSQL driver, DESC's data registry, pytest and maturin. It is rebuilt when the requirements files
# changes, so a warm run costs nothing.
#
#   venv=$(scripts/python-env.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/py-venv
requirements=python/requirements-test.txt
nodeps=python/requirements-nodeps.txt
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/python" ] || ! cat "$requirements" "$nodeps" | cmp -s - "$stamp"; then
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --no-cache-dir --disable-pip-version-check -r "$requirements" >&2
    "$venv/bin/pip" install -q --no-cache-dir --disable-pip-version-check --no-deps -r "$nodeps" >&2
    cat "$requirements" "$nodeps" >"$stamp"
fi
echo "$PWD/$venv"
