#!/usr/bin/env bash
# Regenerate the small FITS raws in tests/data/raws/ and record what the reference's
# Python packages answer for them: astropy's parse of every header, and
# astro_metadata_translator's ObservationInfo for the DECam- and HSC-shaped raws.
# The Rust tests compare with these answers without Python.
#
# The packages go into a virtual environment under target/oracle-venv (override with
# ORACLE_VENV); pins are in the pip line below.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${ORACLE_VENV:-target/oracle-venv}
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "astropy>=7" "astro-metadata-translator>=30"
fi
"$VENV/bin/python" scripts/record_raw_oracles.py tests/data/raws
