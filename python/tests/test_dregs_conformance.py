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


def _differences(reference_outcomes, outcomes, name: str) -> list[str]:
    """Steps whose outcome is not the reference's (or the step's ``intended``)."""
    assert [label for label, _ in outcomes] == [label for label, _ in reference_outcomes]
    scenario = {s.label: s for s in steps()}
    differing = []
    for (label, ref), (_, got) in zip(reference_outcomes, outcomes):
        want = scenario[label].intended if scenario[label].intended is not None else ref
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
    differing = _differences(reference_outcomes, outcomes, "valet")
    assert not differing, f"{len(differing)} of {len(outcomes)} steps differ on {backend}:\n" + "\n".join(differing)
