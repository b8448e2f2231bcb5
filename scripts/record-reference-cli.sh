#!/usr/bin/env bash
# Record the reference Butler's answers to the commands in
# tests/data/reference-cli/commands.json, run on a repository that imported the
# dp02-mini fixture, into tests/data/reference-cli/NN.out (stdout) and NN.code (exit
# code). cli/tests/reference_cli.rs runs the same commands on valet and compares,
# without Python. `butler obscore export-regions` writes FITS; the STC-S strings of
# each case in tests/data/reference-cli/regions.json go to regions-NN.txt, one a
# line. The reference (lsst-daf-butler and lsst-dax-obscore from PyPI) goes into a
# virtualenv cached under target/.
#
#   scripts/record-reference-cli.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/reference-venv
if [ ! -x "$venv/bin/butler" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q lsst-daf-butler
fi
"$venv/bin/python" -c "import lsst.dax.obscore" 2>/dev/null || "$venv/bin/pip" install -q lsst-dax-obscore
work=$(mktemp -d /tmp/valet-reference-cli.XXXXXX)
trap 'rm -rf "$work"' EXIT
fixture=tests/data/conformance/dp02-mini
"$venv/bin/butler" create "$work/repo" >/dev/null
"$venv/bin/butler" import "$work/repo" "$fixture/files" --export-file "$fixture/export.yaml" -t copy >/dev/null
"$venv/bin/python" - "$work/repo" "$venv/bin/butler" tests/data/reference-cli <<'PY'
import json, pathlib, subprocess, sys
repo, butler, out = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
commands = json.loads((out / "commands.json").read_text())
for old in out.glob("*.out"):
    old.unlink()
for old in out.glob("*.code"):
    old.unlink()
for i, command in enumerate(commands):
    args = [repo if a == "REPO" else a for a in command]
    done = subprocess.run([butler, *args], capture_output=True, text=True)
    (out / f"{i:02}.out").write_text(done.stdout)
    (out / f"{i:02}.code").write_text(f"{done.returncode}\n")
    print(f"{i:02} exit {done.returncode}: butler {' '.join(command)}")
PY
"$venv/bin/python" - "$work/repo" "$venv/bin/butler" tests/data/reference-cli "$work" <<'PY'
import json, pathlib, subprocess, sys
from astropy.io import fits
repo, butler, out, work = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3]), pathlib.Path(sys.argv[4])
for old in out.glob("regions-*.txt"):
    old.unlink()
for i, case in enumerate(json.loads((out / "regions.json").read_text())):
    dest = work / f"regions-{i:02}.fits"
    args = [butler, "obscore", "export-regions", repo, case["dataset_type"], case["collection"], str(dest)]
    if case.get("where"):
        args += ["--where", case["where"]]
    subprocess.run(args, check=True, capture_output=True)
    with fits.open(dest) as f:
        rows = [str(s) for s in f["REGIONS"].data["s_region"]]
    (out / f"regions-{i:02}.txt").write_text("".join(r + "\n" for r in rows))
    print(f"regions-{i:02}: {len(rows)} regions: {case}")
PY
