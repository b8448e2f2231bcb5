"""The two implementations of DESC's data registry (DREGS) API that the conformance
scenario (``dregs_scenario``) and the benchmark (``python/benches/bench_dregs.py``)
drive: the real ``dataregistry`` package (PyPI ``lsstdesc-dataregistry``) on a fresh
SQLite database, and ``valet.dregs`` on a fresh valet repository.

Each is wrapped in a small adapter with the same surface: ``datareg`` (the object with
``Registrar`` and ``Query``), ``root`` (the directory that the registry's absolute
paths live under), ``get_keywords(dataset_id)`` (the one call whose name differs) and
``close()``.

Creating a DREGS registry
-------------------------
The package ships no schema-creation entry point: the repository's
``scripts/create_registry_schema.py`` is not in the wheel, and the package's own
``dataregistry.db_basic._insert_provenance`` needs GitPython, which the package does
not depend on. ``create_reference_registry`` therefore does on SQLite what that
script does, from the package's own schema description:

* tables, columns, foreign keys, unique constraints and indexes from
  ``dataregistry.schema.load_schema()`` (``schema.yaml``), with the script's type
  vocabulary (String, StringShort = varchar(20), StringLong = varchar(250), Integer,
  DateTime, Boolean, Float);
* ``dependency.input_production_id`` left out, as the script does when there is no
  production schema (always the case on SQLite);
* the script's index spelling kept: it builds ``Index(*index_list)``, so the YAML's
  ``dataset_index: [relative_path, owner, owner_type]`` becomes an index *named*
  ``relative_path`` on (owner, owner_type);
* one provenance row (code version = ``dataregistry.__version__``, DB version and
  comment from ``dataregistry.schema.schema_version``, update_method ``CREATE``,
  associated_production ``<namespace>_production`` as the script passes), written
  without the git information;
* the system keywords of ``dataregistry.schema.load_preset_keywords()``
  (``keywords.yaml``), lower-case, ``system`` true, with their descriptions.

The configuration file is YAML with ``sqlalchemy.url: sqlite:///<abs path>``, passed
as ``config_file=``; the root directory is passed as ``root_dir=`` (DREGS insists on
one with SQLite). With SQLite the registry's paths are
``<root_dir>/<owner_type>/<owner>/<relative_path>`` (no schema component).

``create_reference_registry_pg`` does the same on PostgreSQL for the default
namespace, as the script's ``--create_both`` does (production schema first, then the
working schema paired with it); there the paths are
``<root_dir>/lsst_desc_working/<owner_type>/<owner>/<relative_path>``, so the
adapter's ``root`` is ``<root_dir>/lsst_desc_working``.
"""

from __future__ import annotations

import datetime
import logging
import os
import pathlib
from typing import Any


class ReferenceImpl:
    """The real ``dataregistry`` package on SQLite, or (``db``: the URL of an empty
    PostgreSQL database) on PostgreSQL in the default namespace, working schema."""

    name = "reference"

    def __init__(
        self,
        workdir: str | os.PathLike,
        db: str | None = None,
        owner: str | None = None,
        owner_type: str | None = None,
    ):
        from dataregistry import DataRegistry

        workdir = pathlib.Path(workdir).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        root_dir = workdir / "root"
        root_dir.mkdir(exist_ok=True)
        if db is None:
            self.config_file = create_reference_registry(workdir / "registry.db", workdir / "config.yaml")
            self.root = str(root_dir)
        else:
            self.config_file = create_reference_registry_pg(db, workdir / "config.yaml")
            # Paths carry the working schema's name there.
            self.root = str(root_dir / _pg_schemas()[0])
        self.datareg = DataRegistry(
            owner=owner,
            owner_type=owner_type,
            config_file=str(self.config_file),
            root_dir=str(root_dir),
            logging_level=logging.WARNING,
        )

    def get_keywords(self, dataset_id: int) -> list[str]:
        return self.datareg.Registrar.keyword.get_keywords_from_dataset(dataset_id)

    def close(self) -> None:
        self.datareg.db_connection.engine.dispose()


ADMIN = "descdr"


class ValetImpl:
    """``valet.dregs`` on a new valet repository (``db``: a PostgreSQL URL, or None
    for SQLite). Fails, as a test should, when ``valet.dregs`` is missing."""

    name = "valet"

    def __init__(
        self,
        workdir: str | os.PathLike,
        db: str | None = None,
        owner: str | None = None,
        owner_type: str | None = None,
    ):
        import valet
        from valet.dregs import DataRegistry

        repo = pathlib.Path(workdir).resolve() / "repo"
        config = {"registry": {"db": db}} if db else None
        # The repository's creator is its admin; the scenario's user is not, as no
        # DREGS user may write the production schema.
        acting = os.environ.pop("VALET_USER", None)
        os.environ["VALET_USER"] = ADMIN
        try:
            valet.Butler.makeRepo(str(repo), config=config)
        finally:
            os.environ.pop("VALET_USER")
            if acting is not None:
                os.environ["VALET_USER"] = acting
        self.datareg = DataRegistry(owner=owner, owner_type=owner_type, repo=str(repo))
        # A valet repository's datastore root is the repository itself, unless the
        # registry says otherwise.
        self.root = str(getattr(self.datareg, "root_dir", None) or repo)

    def get_keywords(self, dataset_id: int) -> list[str]:
        return self.datareg.Registrar.keyword.get_keywords_from_dataset(dataset_id)

    def close(self) -> None:
        close = getattr(self.datareg, "close", None)
        if close is not None:
            close()


def create_reference_registry(db_path: str | os.PathLike, config_path: str | os.PathLike) -> pathlib.Path:
    """Create a new DREGS registry database on SQLite at ``db_path`` and its
    configuration file at ``config_path`` (returned); see the module docstring."""
    import sqlalchemy as sa

    db_path = pathlib.Path(db_path).resolve()
    if db_path.exists():
        raise FileExistsError(db_path)
    url = f"sqlite:///{db_path}"
    config_path = _write_config(url, config_path)
    engine = sa.create_engine(url)
    try:
        _create_schema(engine, None, None)
    finally:
        engine.dispose()
    return config_path


def _pg_schemas() -> tuple[str, str]:
    from dataregistry.schema import DEFAULT_NAMESPACE

    return f"{DEFAULT_NAMESPACE}_working", f"{DEFAULT_NAMESPACE}_production"


def create_reference_registry_pg(url: str, config_path: str | os.PathLike) -> pathlib.Path:
    """Create the default namespace of a DREGS registry in the empty PostgreSQL
    database ``url``, as the repository's script does with ``--create_both``: the
    production schema, then the working schema paired with it (its provenance
    naming the production schema, its ``dependency.input_production_id`` pointing
    there), unique constraints with NULLS NOT DISTINCT; no role grants."""
    import sqlalchemy as sa

    working, production = _pg_schemas()
    config_path = _write_config(url, config_path)
    engine = sa.create_engine(url)
    try:
        for schema in (production, working):
            with engine.begin() as conn:
                conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
            _create_schema(engine, schema, production)
    finally:
        engine.dispose()
    return config_path


def _write_config(url: str, config_path: str | os.PathLike) -> pathlib.Path:
    import yaml

    config_path = pathlib.Path(config_path)
    config_path.write_text(yaml.safe_dump({"sqlalchemy.url": url}))
    config_path.chmod(0o600)
    return config_path


def _create_schema(engine, schema: str | None, production: str | None) -> None:
    """Tables, provenance row and system keywords of one DREGS schema (``schema``
    None: SQLite, where there are no schemas and no production schema)."""
    import sqlalchemy as sa
    from dataregistry import __version__
    from dataregistry.schema import DEFAULT_NAMESPACE, load_preset_keywords, load_schema
    from dataregistry.schema import schema_version

    types: dict[str, Any] = {
        "String": sa.String,
        "Integer": sa.Integer,
        "DateTime": sa.DateTime,
        "StringShort": sa.String(20),
        "StringLong": sa.String(250),
        "Boolean": sa.Boolean,
        "Float": sa.Float,
    }
    tables = load_schema()["tables"]
    metadata = sa.MetaData(schema=schema)
    prefix = f"{schema}." if schema else ""
    for table_name, spec in tables.items():
        items: list[Any] = []
        for col_name, col in spec["column_definitions"].items():
            if table_name == "dependency" and col_name == "input_production_id" and production is None:
                continue  # no production schema on SQLite
            args: list[Any] = [col_name, types[col["type"]]]
            if col["foreign_key"]:
                target = f"{col['foreign_key_table']}.{col['foreign_key_column']}"
                if col["foreign_key_schema"] == "production":
                    target = f"{production}.{target}"
                elif col["foreign_key_schema"] == "self":
                    target = prefix + target
                else:
                    raise ValueError(f"{table_name}.{col_name}: foreign key schema {col['foreign_key_schema']}")
                args.append(sa.ForeignKey(target))
            items.append(sa.Column(*args, primary_key=col["primary_key"], nullable=col["nullable"]))
        for index in (spec.get("indexs") or spec.get("indexes") or {}).values():
            items.append(sa.Index(*index["index_list"]))
        for uq_name, uq in (spec.get("unique_constraints") or {}).items():
            items.append(sa.UniqueConstraint(*uq["unique_list"], name=uq_name, postgresql_nulls_not_distinct=True))
        sa.Table(table_name, metadata, *items)

    if schema is not None and production is not None and schema != production:
        # The working schema's foreign keys into the production schema.
        metadata.reflect(engine, schema=production)
    metadata.create_all(engine)
    code = [int(x) for x in __version__.split(".")[:3]]
    now = datetime.datetime.now()
    user = os.getenv("USER") or "unknown"
    with engine.begin() as conn:
        conn.execute(
            sa.insert(metadata.tables[prefix + "provenance"]),
            [
                {
                    "code_version_major": code[0],
                    "code_version_minor": code[1],
                    "code_version_patch": code[2],
                    "db_version_major": schema_version._DB_VERSION_MAJOR,
                    "db_version_minor": schema_version._DB_VERSION_MINOR,
                    "db_version_patch": schema_version._DB_VERSION_PATCH,
                    "schema_enabled_date": now,
                    "creator_uid": user,
                    "update_method": "CREATE",
                    "comment": schema_version._DB_VERSION_COMMENT,
                    "associated_production": production or f"{DEFAULT_NAMESPACE}_production",
                }
            ],
        )
        keywords = load_preset_keywords()["dataset"]
        # keywords.yaml maps each keyword to its description (a plain list in
        # older releases).
        descriptions = keywords if isinstance(keywords, dict) else dict.fromkeys(keywords)
        keyword_table = metadata.tables[prefix + "keyword"]
        has_description = "description" in keyword_table.c
        for keyword, description in descriptions.items():
            row = {
                "keyword": keyword.lower(),
                "system": True,
                "active": True,
                "creator_uid": user,
                "creation_date": now,
            }
            if has_description and description:
                row["description"] = description
            conn.execute(sa.insert(keyword_table), [row])
