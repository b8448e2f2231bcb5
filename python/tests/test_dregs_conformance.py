"""valet.dregs against DESC's data registry (DREGS, the ``dataregistry`` package): the
scenario of ``dregs_scenario`` run on the real package (on SQLite, once) and on
valet (on each registry backend), compared step by step.

The reference run is its own test, which also checks the outcomes that the scenario
records as expected of the real package; another runs the real package on
PostgreSQL (when a server is at hand, as for the other PostgreSQL variants) and finds
the same outcomes, but where SQLite's LIKE departs (the steps' ``intended``). The
valet runs fail while ``valet.dregs`` is missing or differs: they are not skipped.

    scripts/test-python.sh python/tests/test_dregs_conformance.py
"""

from __future__ import annotations

import pprint

import pytest

from conftest import fresh_pg_database
from dregs_impls import ReferenceImpl, ValetImpl
from dregs_scenario import Step, run_scenario, steps


def _replaced_status(outcome: dict) -> dict:
    """DREGS sets the replaced bit on the status it read before deleting the old
    row, losing the deleted bit (9); valet keeps both (11, as DREGS's bits mean)."""

    def fix(v):
        if isinstance(v, list):
            return [fix(x) for x in v]
        return 11 if v == 9 else v

    out = dict(outcome)
    if "status" in out:
        out["status"] = fix(out["status"])
    if "rows" in out:
        out["rows"] = fix(out["rows"])
    return out


def _shared_data_kept(outcome: dict) -> dict:
    """DREGS deletes data that another live entry also describes; valet keeps it."""
    return {**outcome, "disk": {"file": "in place\n"}}


_NO_INVALID_ROWS = (
    "a failed copy leaves no row in valet (DREGS leaves an invalid one that holds the "
    "name until replaced), so the name is free and is registered here"
)

# Where valet departs from DREGS on purpose: step label -> (why, what valet gives
# instead: an outcome, or a function of the reference's outcome).
VALET_DELIBERATE: dict[str, tuple[str, object]] = {
    "symlink_name_held": (
        _NO_INVALID_ROWS,
        {
            "dataset_id": "symlink_name_held",
            "execution_id": "symlink_name_held",
            "name": "linked",
            "version_string": "1.0.0",
            "status": 1,
            "relative_path": "linked/one.txt",
            "replace_iteration": 0,
            "replace_id": None,
            "nfiles": 1,
            "data_org": "file",
            "owner": "alice",
            "owner_type": "user",
            "location_type": "dataregistry",
            "is_overwritable": False,
            "total_disk_space_bytes": 4,
            "path": "user/alice/linked/one.txt",
            "disk": {"file": "one\n"},
        },
    ),
    "symlink_replaced": (
        "with no invalid row to replace, the valid one registered above is not overwritable",
        {"error": "is not overwritable"},
    ),
    "symlink_history": (_NO_INVALID_ROWS, {"rows": [["symlink_name_held", 1, None, 0]]}),
    "production_from_working": (
        "valet has one table; its production area is written by admins only, and the "
        "scenario's user is not one",
        {
            "error": 'unmatched: PermissionError: user "alice" may not write the production area: '
            "only admins do (rule: production-needs-admin)"
        },
    ),
    "ow_v0_after": ("status of a replaced row", _replaced_status),
    "ow_v1_after": ("status of a replaced row", _replaced_status),
    "ow_history": ("status of a replaced row", _replaced_status),
    "owdummy_v0_after": ("status of a replaced row", _replaced_status),
    "delete_replaced_old_row": ("status of a replaced row", _replaced_status),
    "delete_shared": ("data another live dataset describes is kept", _shared_data_kept),
    "shared_survivor": ("data another live dataset describes is kept", _shared_data_kept),
    "keyword_create_again": (
        "valet says what exists rather than raise the database's constraint error",
        {"error": 'unmatched: ValueError: keyword "mytag" already exists'},
    ),
    "resolve_superseded": (
        "an alias resolves through its current row; DREGS takes the first row, ignoring supersession",
        {"dataset": "dir_gen"},
    ),
    "external_again": (
        "valet checks name and version for every location type, before writing anything; "
        "DREGS leaves it to the database's constraint, after writing an execution",
        {"error": "There is already a dataset"},
    ),
    "external_again_execution": (
        "a refused registration writes no execution",
        {"rows": [["for_dataset_ext-1.0.0"]]},
    ),
}


@pytest.fixture(scope="module")
def reference_outcomes(tmp_path_factory) -> list[tuple[str, dict]]:
    return run_scenario(ReferenceImpl, tmp_path_factory.mktemp("dregs-reference"))


def _unmet(step: Step, outcome: dict) -> list[str]:
    """What the scenario expects of the reference that the reference did not do."""
    problems = []
    if step.error is not None:
        if outcome.get("error") != step.error:
            problems.append(f"expected error {step.error!r}, got {outcome!r}")
        return problems
    if "error" in outcome:
        return [f"expected success, got error {outcome['error']!r}"]
    for key, want in step.expect.items():
        if outcome.get(key, "<absent>") != want:
            problems.append(f"{key}: expected {want!r}, got {outcome.get(key, '<absent>')!r}")
    return problems


def test_reference_scenario_runs(reference_outcomes):
    """The real package does what the scenario says it does."""
    scenario = {s.label: s for s in steps()}
    assert len(scenario) == len(steps()), "step labels must be unique"
    problems = {}
    for label, outcome in reference_outcomes:
        unmet = _unmet(scenario[label], outcome)
        if str(outcome.get("error", "")).startswith("unmatched"):
            unmet.append(f"an error no fragment names: {outcome['error']}")
        if unmet:
            problems[label] = unmet
    assert not problems, "reference steps not as the scenario expects:\n" + pprint.pformat(problems, width=110)

    # Ids are sequential: every dataset and execution row written takes the next
    # integer of its table, also the rows that a failed step leaves behind.
    expected_ids = {"dataset": 1, "execution": 1}
    for label, outcome in reference_outcomes:
        step = scenario[label]
        written = step.leaves if "error" in outcome else step.makes
        for table in written:
            if "error" not in outcome:
                got = outcome.get(f"{table}_id")
                assert got == expected_ids[table], f"step {label!r}: {table} id {got}, expected {expected_ids[table]}"
            expected_ids[table] += 1


def _by_maker(outcomes, leaves_rows: bool, name: str) -> list[tuple[str, dict]]:
    """The outcomes with every dataset and execution id replaced by the label of the
    step that made that row, checking on the way that ids are sequential: each row a
    step writes takes the next integer of its table. With ``leaves_rows`` a failed
    step still writes the rows the scenario says it leaves (DREGS's invalid rows);
    without, it writes none (valet)."""
    scenario = {s.label: s for s in steps()}
    next_id = {"dataset": 1, "execution": 1}
    maker: dict[str, dict[int, str]] = {"dataset": {}, "execution": {}}
    for label, outcome in outcomes:
        step = scenario[label]
        written = (step.leaves if leaves_rows else ()) if "error" in outcome else step.makes
        for table in written:
            if "error" not in outcome:
                got = outcome.get(f"{table}_id")
                assert got == next_id[table], f"{name}, step {label!r}: {table} id {got}, expected {next_id[table]}"
            maker[table][next_id[table]] = label if "error" not in outcome else f"left by {label}"
            next_id[table] += 1
    out = []
    for label, outcome in outcomes:
        outcome = dict(outcome)
        for table in ("dataset", "execution"):
            key = f"{table}_id"
            if isinstance(outcome.get(key), int):
                outcome[key] = maker[table].get(outcome[key], f"unknown {table} {outcome[key]}")
        out.append((label, outcome))
    return out


def _differences(reference_outcomes, outcomes, name: str, deliberate: dict | None = None) -> list[str]:
    """Steps whose outcome is not the reference's (or the step's ``intended``, or,
    for valet, what ``deliberate`` says valet does instead and why)."""
    assert [label for label, _ in outcomes] == [label for label, _ in reference_outcomes]
    scenario = {s.label: s for s in steps()}
    deliberate = deliberate or {}
    differing = []
    for (label, ref), (_, got) in zip(reference_outcomes, outcomes):
        want = scenario[label].intended if scenario[label].intended is not None else ref
        if label in deliberate:
            _, change = deliberate[label]
            want = change(want) if callable(change) else change
        if got != want:
            differing.append(f"step {label!r}:\n  reference: {want!r}\n  {name + ':':10} {got!r}")
    return differing


def test_reference_on_postgresql(reference_outcomes, tmp_path):
    """The real package on PostgreSQL (its production backend; default namespace,
    working schema) gives the SQLite run's outcomes, but for the steps whose
    ``intended`` outcome says how SQLite's LIKE departs: there it gives those."""
    db = fresh_pg_database()
    outcomes = run_scenario(lambda workdir: ReferenceImpl(workdir, db=db), tmp_path)
    differing = _differences(reference_outcomes, outcomes, "postgres")
    assert not differing, f"{len(differing)} of {len(outcomes)} steps differ:\n" + "\n".join(differing)


def test_valet_matches_reference(backend, reference_outcomes, tmp_path):
    """valet.dregs gives the reference's outcome at every step (or, where the
    reference on SQLite departs from DREGS on PostgreSQL through SQLite itself, the
    step's ``intended`` outcome)."""
    db = fresh_pg_database() if backend == "postgresql" else None
    outcomes = run_scenario(lambda workdir: ValetImpl(workdir, db=db), tmp_path)
    differing = _differences(
        _by_maker(reference_outcomes, True, "reference"),
        _by_maker(outcomes, False, "valet"),
        "valet",
        VALET_DELIBERATE,
    )
    assert not differing, f"{len(differing)} of {len(outcomes)} steps differ on {backend}:\n" + "\n".join(differing)
