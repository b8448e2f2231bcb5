"""Fixtures for running the same calls on the reference Butler (``lsst.daf.butler``)
and on valet, on SQLite and on PostgreSQL (the server ``VALET_TEST_PG`` names, which
``scripts/with-postgres.sh`` starts)."""

from __future__ import annotations

import importlib
import os
import pathlib
import uuid

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DP02_MINI = REPO_ROOT / "tests" / "data" / "conformance" / "dp02-mini"
IMPLEMENTATIONS = ("reference", "valet")
BACKENDS = ("sqlite", "postgresql")


def api(implementation: str):
    """The package of an implementation: ``lsst.daf.butler`` or ``valet``."""
    return importlib.import_module("lsst.daf.butler" if implementation == "reference" else "valet")


def fresh_pg_database() -> str:
    """The URL of a new, empty PostgreSQL database with ``btree_gist`` (which the
    reference needs); skips (or fails, with ``VALET_REQUIRE_PG``) without a server."""
    admin = os.environ.get("VALET_TEST_PG")
    if not admin:
        if os.environ.get("VALET_REQUIRE_PG"):
            pytest.fail("VALET_REQUIRE_PG is set but VALET_TEST_PG is not: run through scripts/test.sh")
        pytest.skip("VALET_TEST_PG not set: no PostgreSQL server")
    import psycopg2

    name = f"valet_py_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    conn.cursor().execute(f"CREATE DATABASE {name}")
    conn.close()
    url = admin.rsplit("/", 1)[0] + "/" + name
    conn = psycopg2.connect(url)
    conn.autocommit = True
    conn.cursor().execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    conn.close()
    return url


def make_butler(implementation: str, backend: str, root: pathlib.Path, **kwargs):
    """A new, empty repository at ``root`` on ``backend``, opened for writing."""
    mod = api(implementation)
    config = None
    if backend == "postgresql":
        registry = {"registry": {"db": fresh_pg_database()}}
        config = mod.Config(registry) if implementation == "reference" else registry
    mod.Butler.makeRepo(str(root), config=config)
    return mod.Butler.from_config(str(root), writeable=True, **kwargs)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """Each test runs on both registry backends."""
    return request.param


@pytest.fixture
def empty(backend, tmp_path):
    """A new, empty repository of each implementation, by implementation."""
    return {impl: make_butler(impl, backend, tmp_path / impl) for impl in IMPLEMENTATIONS}


@pytest.fixture(scope="session")
def _dp02_cache(tmp_path_factory):
    return {}


@pytest.fixture
def dp02(backend, tmp_path_factory, _dp02_cache):
    """The dp02-mini fixture imported (with its files) into each implementation, by
    implementation; shared by every test of a backend, which only read it."""
    if backend not in _dp02_cache:
        root = tmp_path_factory.mktemp(f"dp02-{backend}")
        butlers = {}
        for impl in IMPLEMENTATIONS:
            butler = make_butler(impl, backend, root / impl)
            butler.import_(
                directory=str(DP02_MINI / "files"),
                filename=str(DP02_MINI / "export.yaml"),
                transfer="copy",
            )
            butlers[impl] = butler
        _dp02_cache[backend] = butlers
    return _dp02_cache[backend]
