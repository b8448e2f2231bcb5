"""One scenario of DESC data registry (DREGS) calls, neutral as to implementation: the
same steps run on the real ``dataregistry`` package and on ``valet.dregs``
(``dregs_impls``), and each step's outcome is reduced to plain data so that the two
runs compare step by step (``test_dregs_conformance.py``).

A step has a label. Datasets, executions and aliases are named in later steps by the
label of the step that made them (``D("label")``, ``E("label")``, ``A("label")``),
and source files by their name under the scenario's source directory (``S("one.txt")``).

Outcomes
--------
* A dataset written or re-read: ``dataset_id`` and ``execution_id`` (the integers
  the implementation gave: valet means to give the same ones), the row's
  ``name, version_string, status, relative_path, replace_iteration, replace_id`` (as
  the label of the replacing step), ``nfiles, total_disk_space_bytes`` (DREGS stores
  megabytes), ``data_org, owner, owner_type, location_type, is_overwritable``, the
  absolute path relative to the implementation's root (``path``) and what is there
  on disk (``disk``: a file's text, a directory's sorted file list, or None).
* A failure: ``{"error": fragment}``, the first of ``FRAGMENTS`` found in the
  exception's message, or ``"unmatched: <type>: <message>"``.
* A query: ``rows``, the sorted rows of the requested columns, with dataset ids as
  the labels of the steps that made them.

Expectations (``expect=``, ``error=``) are checked on the reference only
(``test_reference_scenario_runs``): they record what the real package does, as read
in its source (version 1.10.0) and verified by running it.

Reference error messages, per case (``dataregistry`` 1.10.0, exact text; ``{…}`` are
the values filled in, and a literal ``{dest}`` is the package's own missing f-prefix):

=============================================  ====================================================================
case                                           message (exception type)
=============================================  ====================================================================
illegal character in a name                    ``Illegal character {c} in name string`` (ValueError)
relative path of a live dataset, copying       ``Relative path {dest} is taken by datasetid={id}`` (ValueError)
relative path under .gen_paths                 ``Can't start relative path with '.gen_paths', this is reserved for
                                               auto-generated `relative_paths`` (ValueError)
relative path starting with /                  ``Relative path cannot start with a '/'`` (ValueError)
illegal character in a relative path           ``Cannot have character {c} in relative path`` (ValueError)
no relative path and no old_location           ``A `relative_path` must be passed when `old_location` is None i.e.,
                                               the data is assumed to be already within the `root_dir``` (ValueError)
something already at the destination           ``Found a bad state in the `root_dir`: data already exists at {dest},
                                               it should not`` (DataRegistryRootDirBadState; the row stays, status 0)
old_location is a symlink                      ``dataregistry does not support symlinks`` (ValueError; the row
                                               stays, status 0)
data not at its place (no old_location)        ``Dataset {path} not found`` (FileNotFoundError; the row stays)
same name/version/owner/owner_type             ``There is already a dataset with combination name,version_string,
                                               owner, owner_type`` (ValueError)
replace of a valid, not overwritable one       ``Dataset name: {name} v: {version}'s latest iteration ({n}) is not
                                               overwritable`` (ValueError)
replace of a deleted one                       ``Dataset name: {name} v: {version} is deleted, cannot replace``
                                               (ValueError)
replace of an unknown one                      ``Dataset name: {name} v: {version} does not exist`` (ValueError)
replace with major/minor/patch                 ``Invalid version string for replace, no bumping`` (ValueError)
replace of external/meta_only                  ``Can only currently replace dataregistry or dummy type entires``
                                               (NotImplementedError)
delete of a deleted one (by id or name)        ``Dataset {id} previously deleted`` (ValueError)
delete/modify of an unknown id                 ``Entry {id} not found in dataset`` (ValueError)
delete of an unknown name/version              ``No datasets found with combination {name} {version} {owner}
                                               {owner_type}`` (ValueError)
modify of a column not modifiable              ``The column {col} is not modifiable`` (ValueError)
modify of an unknown column                    ``The column {col} does not exist in the schema`` (ValueError)
external without url and contact_email         ``External datasets require either a url or contact_email``
                                               (ValueError)
a keyword not registered (or repeated)         ``Not all keywords selected are registered`` (ValueError)
a keyword not a string (register, add)         ``{kw} is not a valid keyword string`` (ValueError)
a keyword not a string (create_keywords)       ``Keyword {kw} is not a valid keyword string.`` (ValueError)
add_keywords given no list                     ``Passed keywords object must be a list`` (ValueError)
production owner_type, overwritable            ``Cannot overwrite production entries`` (ValueError)
production owner_type in a working schema      ``To write to production, entry schema must be production`` (ValueError)
owner_type not user/group/project/production   ``Invalid owner_type {t}`` (ValueError)
version not three parts                        ``Version string must have 3 components`` (ValueError)
version part not a canonical integer           ``Version component {c} is not non-negative int`` (ValueError)
alias to nothing                               ``DatasetAliasTable.register: one of dataset_id,\\n ... ref_alias_id
                                               must have a value`` (ValueError)
ordering operator on a string column           ``check_filter: Cannot apply "{op}" to "{col}"`` (ValueError)
unknown operator                               ``check_filter: "{op}" is not a supported operator`` (ValueError)
~= on a column not in ILIKE_ALLOWED            ``Can only perform ~= search on [...]`` (ValueError)
bare column name that is nowhere               ``No such column as {c}.`` (DataRegistryNoColumn)
bare column name in several tables             ``More than one table has column {c}.\\nInclude table name in
                                               specification.`` (DataRegistryColumnSpec)
DB unique constraint (external duplicate,      SQLAlchemy IntegrityError, ``UNIQUE constraint failed: …`` on
keyword created twice)                         SQLite (``duplicate key value violates unique constraint`` on
                                               PostgreSQL); normalised here to ``unique constraint``
=============================================  ====================================================================
"""

from __future__ import annotations

import contextlib
import datetime
import math
import os
import pathlib
import shutil
from dataclasses import dataclass, field
from typing import Any, Callable

USER = "alice"

# Searched in this order: the first one found in an exception's message names the
# failure (so the longer of two overlapping fragments comes first).
FRAGMENTS = [
    "Illegal character",
    "is taken by",
    "Can't start relative path with '.gen_paths'",
    "Relative path cannot start with a '/'",
    "in relative path",
    "must be passed when `old_location` is None",
    "data already exists at",
    "does not support symlinks",
    "There is already a dataset",
    "is not overwritable",
    "is deleted, cannot replace",
    "Invalid version string for replace, no bumping",
    "Can only currently replace dataregistry or dummy",
    "previously deleted",
    "not found in",
    "No datasets found with combination",
    "not modifiable",
    "not exist in the schema",
    "require either a url or contact_email",
    "Not all keywords",
    "not a valid keyword string",
    "Passed keywords object must be a list",
    "Cannot overwrite production entries",
    "entry schema must be production",
    " for prod datasets must be 'production'",
    "Invalid owner_type",
    "Version string must have 3 components",
    "is not non-negative int",
    "must have a value",
    "check_filter: Cannot apply",
    "is not a supported operator",
    "Can only perform ~= search on",
    "No such column as",
    "More than one table has column",
    "does not exist",
    "not found",
]

# The same database error, as SQLite and PostgreSQL word it.
UNIQUE_VIOLATIONS = ("UNIQUE constraint failed", "duplicate key value violates unique constraint")

ROW_FIELDS = [
    "name",
    "version_string",
    "status",
    "relative_path",
    "replace_iteration",
    "replace_id",
    "nfiles",
    "total_disk_space",
    "data_org",
    "owner",
    "owner_type",
    "location_type",
    "is_overwritable",
]

# Query columns whose values are dataset ids, shown as labels.
DATASET_ID_COLUMNS = {"dataset.dataset_id", "dataset.replace_id", "dependency.input_id", "dataset_alias.dataset_id"}


# --- References to things made by earlier steps ------------------------------------


@dataclass(frozen=True)
class D:
    """The dataset id made by the step ``label``."""

    label: str


@dataclass(frozen=True)
class E:
    """The execution id made (or used) by the step ``label``."""

    label: str


@dataclass(frozen=True)
class A:
    """The alias id made by the step ``label``."""

    label: str


@dataclass(frozen=True)
class S:
    """A path under the scenario's source directory."""

    name: str


@dataclass
class Step:
    label: str
    run: Callable[["Context"], dict]
    expect: dict = field(default_factory=dict)
    error: str | None = None
    # What a successful step writes ("dataset", "execution"), and what a failed one
    # leaves written all the same: each takes the next integer id of its table.
    makes: tuple[str, ...] = ()
    leaves: tuple[str, ...] = ()
    # Where the reference on SQLite departs from DREGS on PostgreSQL, its production
    # backend, only through SQLite itself (its LIKE): what DREGS does there, which is
    # what valet is held to.
    intended: dict | None = None


# --- Normalisation -------------------------------------------------------------------


def classify(exc: BaseException) -> str:
    message = str(exc)
    if any(u in message for u in UNIQUE_VIOLATIONS):
        return "unique constraint"
    for fragment in FRAGMENTS:
        if fragment in message:
            return fragment
    return f"unmatched: {type(exc).__name__}: {message}"


def plain(value: Any) -> Any:
    """A query value as plain Python: NaN (pandas' null in numeric columns) as None,
    integral floats (pandas' integers beside a null) as ints, numpy scalars as
    Python ones, times as ISO strings."""
    if value is None or type(value).__name__ == "NaTType":
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, TypeError):
            pass
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return int(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    return value


def disk_facts(path: str | None) -> Any:
    if path is None or not os.path.lexists(path):
        return None
    if os.path.isfile(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            return {"file": f.read()}
    if os.path.isdir(path):
        files = sorted(
            str(pathlib.Path(dirpath, name).relative_to(path))
            for dirpath, _, names in os.walk(path)
            for name in names
        )
        return {"dir": files}
    return {"other": True}


# --- The running context -------------------------------------------------------------


class Context:
    """One implementation as the scenario sees it, with what the steps made."""

    def __init__(self, impl, source: pathlib.Path):
        self.impl = impl
        self.reg = impl.datareg.Registrar
        self.query = impl.datareg.Query
        self.root = impl.root
        self.source = source
        self.datasets: dict[str, int] = {}
        self.executions: dict[str, int] = {}
        self.aliases: dict[str, int | None] = {}

    def resolve(self, value: Any) -> Any:
        if isinstance(value, D):
            return self.datasets[value.label]
        if isinstance(value, E):
            return self.executions[value.label]
        if isinstance(value, A):
            return self.aliases[value.label]
        if isinstance(value, S):
            return str(self.source / value.name)
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.resolve(v) for v in value)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        return value

    def label_of(self, dataset_id: Any) -> Any:
        if dataset_id is None:
            return None
        for label, i in self.datasets.items():
            if i == dataset_id:
                return label
        return f"id {dataset_id}"

    def dataset(self, dataset_id: int, extra: tuple[str, ...] = ()) -> dict:
        """A dataset's row (as found by find_datasets) and what is on disk."""
        columns = [f"dataset.{c}" for c in ("dataset_id", "execution_id", *ROW_FIELDS, *extra)]
        found = self.query.find_datasets(
            property_names=columns, filters=[self.query.gen_filter("dataset.dataset_id", "==", dataset_id)]
        )
        n = len(found.get("dataset.dataset_id", [])) if found else 0
        if n != 1:
            return {"found": n}
        row = {c.split(".", 1)[1]: plain(found[c][0]) for c in columns}
        row["replace_id"] = self.label_of(row["replace_id"])
        size = row.pop("total_disk_space")
        row["total_disk_space_bytes"] = None if size is None else round(size * 1024 * 1024)
        # A failing path look-up is part of the outcome, not the step's failure.
        try:
            path = self.query.get_dataset_absolute_path(dataset_id)
        except Exception as exc:  # noqa: BLE001
            row["path"] = {"error": classify(exc)}
            return row
        row["path"] = None if path is None else pathlib.PurePath(os.path.relpath(path, self.root)).as_posix()
        row["disk"] = disk_facts(path)
        return row


# --- Step builders -------------------------------------------------------------------


def _step(label, run, expect=None, error=None, makes=(), leaves=()) -> Step:
    return Step(label, run, expect or {}, error, tuple(makes), tuple(leaves))


def _makes(kwargs) -> tuple[str, ...]:
    """A registration writes a dataset, and an execution unless given one."""
    return ("dataset",) if kwargs.get("execution_id") is not None else ("dataset", "execution")


def register(label, name, version, *, expect=None, error=None, leaves=(), **kwargs) -> Step:
    def run(ctx: Context) -> dict:
        dataset_id, execution_id = ctx.reg.dataset.register(name, version, **ctx.resolve(kwargs))
        ctx.datasets[label] = dataset_id
        ctx.executions[label] = execution_id
        out = ctx.dataset(dataset_id)
        if out.get("execution_id") != execution_id:
            out["returned_execution_id"] = execution_id
        return out

    return _step(label, run, expect, error, _makes(kwargs), leaves)


def replace(label, name, version, *, expect=None, error=None, **kwargs) -> Step:
    def run(ctx: Context) -> dict:
        dataset_id, execution_id = ctx.reg.dataset.replace(name, version, **ctx.resolve(kwargs))
        ctx.datasets[label] = dataset_id
        ctx.executions[label] = execution_id
        return ctx.dataset(dataset_id)

    return _step(label, run, expect, error, _makes(kwargs))


def show(label, target: str, *, extra=(), expect=None) -> Step:
    """Re-read the dataset made by the step ``target``."""

    def run(ctx: Context) -> dict:
        return ctx.dataset(ctx.datasets[target], tuple(extra))

    return _step(label, run, expect)


def delete(label, name, version, owner=USER, owner_type="user", *, then_show=None, expect=None, error=None) -> Step:
    def run(ctx: Context) -> dict:
        ctx.reg.dataset.delete(name, version, owner, owner_type)
        return ctx.dataset(ctx.datasets[then_show]) if then_show else {"ok": True}

    return _step(label, run, expect, error)


def delete_by_id(label, target, *, expect=None, error=None) -> Step:
    def run(ctx: Context) -> dict:
        dataset_id = ctx.resolve(target)
        ctx.reg.dataset._delete_by_id(dataset_id)
        return ctx.dataset(dataset_id)

    return _step(label, run, expect, error)


def modify(label, target, fields: dict, *, show_extra=(), expect=None, error=None) -> Step:
    def run(ctx: Context) -> dict:
        dataset_id = ctx.resolve(target)
        ctx.reg.dataset.modify(dataset_id, fields)
        return ctx.dataset(dataset_id, tuple(show_extra))

    return _step(label, run, expect, error)


def create_keywords(label, keywords, *, expect=None, error=None) -> Step:
    def run(ctx: Context) -> dict:
        ctx.reg.keyword.create_keywords(keywords)
        return {"ok": True}

    return _step(label, run, expect, error)


def add_keywords(label, target, keywords, *, expect=None, error=None) -> Step:
    def run(ctx: Context) -> dict:
        dataset_id = ctx.resolve(target)
        ctx.reg.dataset.add_keywords(dataset_id, keywords)
        return {"keywords": sorted(ctx.impl.get_keywords(dataset_id))}

    return _step(label, run, expect, error)


def keywords_of(label, target, *, expect=None) -> Step:
    def run(ctx: Context) -> dict:
        return {"keywords": sorted(ctx.impl.get_keywords(ctx.resolve(target)))}

    return _step(label, run, expect)


def register_execution(label, name, *, expect=None, error=None, **kwargs) -> Step:
    def run(ctx: Context) -> dict:
        execution_id = ctx.reg.execution.register(name, **ctx.resolve(kwargs))
        ctx.executions[label] = execution_id
        return {"execution_id": execution_id}

    return _step(label, run, expect, error, ("execution",))


def alias(label, aliasname, target, *, expect=None, error=None, **kwargs) -> Step:
    def run(ctx: Context) -> dict:
        alias_id = ctx.reg.dataset_alias.register(aliasname, ctx.resolve(target), **ctx.resolve(kwargs))
        ctx.aliases[label] = alias_id
        return {"alias_id": alias_id}

    return _step(label, run, expect, error)


def resolve(label, alias_name, *, expect=None, error=None) -> Step:
    def run(ctx: Context) -> dict:
        return {"dataset": ctx.label_of(ctx.query.resolve_alias_fully(ctx.resolve(alias_name)))}

    return _step(label, run, expect, error)


def find(label, properties, filters=(), *, expect=None, error=None, intended=None) -> Step:
    """find_datasets with ``filters`` as (property, op, value) triples."""

    def run(ctx: Context) -> dict:
        made = [ctx.query.gen_filter(p, op, ctx.resolve(v)) for p, op, v in filters]
        found = ctx.query.find_datasets(property_names=properties, filters=made)
        if found is None:
            return {"rows": None}
        if not properties:
            # Every dataset column: which columns, and how many rows (their values
            # hold dates and absolute paths).
            n = len(next(iter(found.values()))) if found else 0
            return {"columns": sorted(found), "count": n}
        # Results are keyed "table.column", also for a bare column name asked for.
        keys = [c if c in found or "." in c else next((k for k in found if k.endswith("." + c)), c) for c in properties]
        n = len(found[keys[0]]) if found else 0
        rows = []
        for i in range(n):
            row = []
            for k in keys:
                v = plain(found[k][i])
                row.append(ctx.label_of(v) if k in DATASET_ID_COLUMNS else v)
            rows.append(row)
        return {"rows": sorted(rows, key=repr)}

    step = _step(label, run, expect, error)
    step.intended = intended
    return step


def absolute_path(label, target, *, expect=None, error=None) -> Step:
    def run(ctx: Context) -> dict:
        path = ctx.query.get_dataset_absolute_path(ctx.resolve(target))
        if path is None:
            return {"path": None}
        return {"path": pathlib.PurePath(os.path.relpath(path, ctx.root)).as_posix()}

    return _step(label, run, expect, error)


def put_file(label, relative, text) -> Step:
    """Place data in the registry's root by hand (data registered where it lies)."""

    def run(ctx: Context) -> dict:
        path = pathlib.Path(ctx.root, relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return {"ok": True}

    return _step(label, run)


# --- The scenario --------------------------------------------------------------------

ONE = "one\n"
TWO = "two, a longer one\n"
TREE = ["a.txt", "sub/b.txt", "sub/c.txt"]
TREE2 = ["x.txt", "y.txt"]


def make_sources(source: pathlib.Path) -> None:
    """The files the scenario copies in: single files, two trees, a symlink and an
    execution configuration."""
    source.mkdir(parents=True, exist_ok=True)
    (source / "one.txt").write_text(ONE)
    (source / "two.txt").write_text(TWO)
    for name in TREE:
        p = source / "tree" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"{name}\n")
    for name in TREE2:
        p = source / "tree2" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"{name}\n")
    os.symlink(source / "one.txt", source / "link.txt")
    (source / "config.yaml").write_text("stage: 1\nthreshold: 0.5\n")


def _live(**fields) -> dict:
    """Expected row of a valid, live dataset of alice's."""
    base = {"status": 1, "owner": USER, "owner_type": "user", "location_type": "dataregistry"}
    base.update(fields)
    return base


def steps() -> list[Step]:
    u = f"user/{USER}"
    return [
        # --- Keywords present from the start --------------------------------------
        find(
            "system_keywords",
            ["keyword.keyword"],
            expect={"rows": [["dc2"], ["deprecated"], ["observation"], ["simulation"]]},
        ),
        # --- Copying data in --------------------------------------------------------
        register(
            "file_gen",
            "file_ds",
            "1.0.0",
            old_location=S("one.txt"),
            description="a file",
            expect=_live(
                dataset_id=1,
                execution_id=1,
                version_string="1.0.0",
                relative_path=".gen_paths/file_ds_1.0.0/one.txt",
                data_org="file",
                nfiles=1,
                total_disk_space_bytes=len(ONE),
                replace_iteration=0,
                replace_id=None,
                is_overwritable=False,
                path=f"{u}/.gen_paths/file_ds_1.0.0/one.txt",
                disk={"file": ONE},
            ),
        ),
        register(
            "dir_gen",
            "dir_ds",
            "patch",
            old_location=S("tree"),
            expect=_live(
                dataset_id=2,
                version_string="0.0.1",
                relative_path=".gen_paths/dir_ds_0.0.1",
                data_org="directory",
                nfiles=3,
                path=f"{u}/.gen_paths/dir_ds_0.0.1",
                disk={"dir": TREE},
            ),
        ),
        register(
            "file_rel",
            "file_rel",
            "1.0.0",
            old_location=S("one.txt"),
            relative_path="mine/one_copy.txt",
            expect=_live(relative_path="mine/one_copy.txt", path=f"{u}/mine/one_copy.txt", disk={"file": ONE}),
        ),
        register(
            "dir_rel",
            "dir_rel",
            "1.0.0",
            old_location=S("tree"),
            relative_path="trees/t1",
            expect=_live(relative_path="trees/t1", data_org="directory", nfiles=3, disk={"dir": TREE}),
        ),
        register(
            "group_file",
            "group_ds",
            "1.0.0",
            old_location=S("two.txt"),
            owner="cosmology",
            owner_type="group",
            expect={
                "owner": "cosmology",
                "owner_type": "group",
                "path": "group/cosmology/.gen_paths/group_ds_1.0.0/two.txt",
                "disk": {"file": TWO},
            },
        ),
        # --- Relative paths refused ---------------------------------------------------
        register(
            "relpath_taken",
            "other",
            "1.0.0",
            old_location=S("one.txt"),
            relative_path="mine/one_copy.txt",
            error="is taken by",
        ),
        register(
            "relpath_gen_paths",
            "other",
            "1.0.0",
            old_location=S("one.txt"),
            relative_path=".gen_paths/mine.txt",
            error="Can't start relative path with '.gen_paths'",
        ),
        register(
            "relpath_absolute",
            "other",
            "1.0.0",
            old_location=S("one.txt"),
            relative_path="/abs/one.txt",
            error="Relative path cannot start with a '/'",
        ),
        register(
            "relpath_space",
            "other",
            "1.0.0",
            old_location=S("one.txt"),
            relative_path="a b/one.txt",
            error="in relative path",
        ),
        register("relpath_missing", "other", "1.0.0", error="must be passed when `old_location` is None"),
        # --- Names refused ------------------------------------------------------------
        register("name_slash", "bad/name", "1.0.0", location_type="dummy", error="Illegal character"),
        register("name_space", "bad name", "1.0.0", location_type="dummy", error="Illegal character"),
        register("name_star", "bad*name", "1.0.0", location_type="dummy", error="Illegal character"),
        # --- Data already in place ----------------------------------------------------
        put_file("inplace_data", f"{u}/inplace/data.txt", "in place\n"),
        register(
            "inplace",
            "inplace",
            "1.0.0",
            relative_path="inplace/data.txt",
            expect=_live(dataset_id=6, data_org="file", nfiles=1, disk={"file": "in place\n"}),
        ),
        # A second entry on the same data: allowed (only a warning) when not copying.
        register(
            "inplace_shared",
            "inplace2",
            "1.0.0",
            relative_path="inplace/data.txt",
            expect=_live(dataset_id=7, relative_path="inplace/data.txt", disk={"file": "in place\n"}),
        ),
        # Data missing from its place: refused after the row is written (it stays,
        # invalid, and takes id 8 and an execution).
        register(
            "inplace_absent",
            "absent",
            "1.0.0",
            relative_path="nothing/here.txt",
            error="not found",
            leaves=("dataset", "execution"),
        ),
        # --- Copy failures that leave an invalid row ----------------------------------
        put_file("occupied_data", f"{u}/occupied/x.txt", "squatter\n"),
        register(
            "dest_occupied",
            "occupied",
            "1.0.0",
            old_location=S("one.txt"),
            relative_path="occupied/x.txt",
            error="data already exists at",
            leaves=("dataset", "execution"),
        ),
        register(
            "symlink",
            "linked",
            "1.0.0",
            old_location=S("link.txt"),
            error="does not support symlinks",
            leaves=("dataset", "execution"),
        ),
        find("invalid_rows_hidden", ["dataset.name"], [("dataset.name", "==", "linked")], expect={"rows": []}),
        # The invalid row still holds its name/version ...
        register(
            "symlink_name_held",
            "linked",
            "1.0.0",
            old_location=S("one.txt"),
            relative_path="linked/one.txt",
            error="There is already a dataset",
        ),
        # ... and, being invalid, may be replaced although not overwritable; the new
        # row inherits its relative path (the symlink's name).
        replace(
            "symlink_replaced",
            "linked",
            "1.0.0",
            old_location=S("one.txt"),
            expect=_live(
                dataset_id=11,
                relative_path=".gen_paths/linked_1.0.0/link.txt",
                replace_iteration=1,
                disk={"file": ONE},
            ),
        ),
        find(
            "symlink_history",
            ["dataset.dataset_id", "dataset.status", "dataset.replace_id", "dataset.replace_iteration"],
            [("dataset.name", "==", "linked")],
            # The invalid row (status 0, then deleted 2, then replaced 8 — but the
            # replaced bit is set on the status read before the delete: 0|8) stays
            # hidden, being invalid.
            expect={"rows": [["symlink_replaced", 1, None, 1]]},
        ),
        # --- External, meta_only, dummy -----------------------------------------------
        register("external_bare", "ext", "1.0.0", location_type="external", error="require either a url or contact_email"),
        register(
            "external_url",
            "ext",
            "1.0.0",
            location_type="external",
            url="https://example.org/ext",
            expect={
                "status": 1,
                "relative_path": None,
                "data_org": "external",
                "nfiles": 0,
                "total_disk_space_bytes": 0,
                "location_type": "external",
                "path": None,
                "disk": None,
            },
        ),
        register(
            "meta",
            "meta",
            "1.0.0",
            location_type="meta_only",
            relative_path="ignored/for/meta",
            expect={"relative_path": None, "data_org": "meta_only", "nfiles": 0, "path": None, "disk": None},
        ),
        absolute_path("meta_path", D("meta"), expect={"path": None}),
        register(
            "dummy",
            "dum",
            "patch",
            location_type="dummy",
            expect={
                "version_string": "0.0.1",
                "relative_path": ".gen_paths/dum_0.0.1",
                "data_org": "dummy",
                "nfiles": 0,
                "location_type": "dummy",
                "path": f"{u}/.gen_paths/dum_0.0.1",
                "disk": None,
            },
        ),
        register("dummy_again", "dum", "0.0.1", location_type="dummy", error="There is already a dataset"),
        register("duplicate", "file_ds", "1.0.0", old_location=S("one.txt"), relative_path="dup/one.txt", error="There is already a dataset"),
        # --- Versions -----------------------------------------------------------------
        register("bump_patch", "bumpy", "patch", location_type="dummy", expect={"version_string": "0.0.1"}),
        register("bump_minor", "bumpy", "minor", location_type="dummy", expect={"version_string": "0.1.0"}),
        register("bump_patch2", "bumpy", "patch", location_type="dummy", expect={"version_string": "0.1.1"}),
        register("bump_major", "bumpy", "major", location_type="dummy", expect={"version_string": "1.0.0"}),
        register("bump_explicit", "bumpy", "2.3.4", location_type="dummy", expect={"version_string": "2.3.4"}),
        register("bump_minor2", "bumpy", "minor", location_type="dummy", expect={"version_string": "2.4.0"}),
        register(
            "bump_major2",
            "bumpy",
            "major",
            location_type="dummy",
            expect={"version_string": "3.0.0", "relative_path": ".gen_paths/bumpy_3.0.0"},
        ),
        # Bumping looks at every row of the name, whoever owns it.
        register(
            "bump_other_owner",
            "bumpy",
            "patch",
            location_type="dummy",
            owner="cosmology",
            owner_type="group",
            expect={"version_string": "3.0.1", "owner": "cosmology", "owner_type": "group"},
        ),
        register("version_two_parts", "vers", "1.0", location_type="dummy", error="Version string must have 3 components"),
        register("version_leading_zero", "vers", "01.0.0", location_type="dummy", error="is not non-negative int"),
        register("version_letters", "vers", "a.b.c", location_type="dummy", error="is not non-negative int"),
        register("version_negative", "vers", "1.-1.0", location_type="dummy", error="is not non-negative int"),
        register("version_four_parts", "vers", "1.0.0.0", location_type="dummy", error="Version string must have 3 components"),
        register("version_zero", "vers", "0.0.0", location_type="dummy", expect={"version_string": "0.0.0"}),
        # --- Owner types ----------------------------------------------------------------
        register("owner_type_bad", "owned", "1.0.0", location_type="dummy", owner_type="team", error="Invalid owner_type"),
        register(
            "production_overwritable",
            "prod",
            "1.0.0",
            location_type="dummy",
            owner="production",
            owner_type="production",
            is_overwritable=True,
            error="Cannot overwrite production entries",
        ),
        register(
            "production_from_working",
            "prod",
            "1.0.0",
            location_type="dummy",
            owner="production",
            owner_type="production",
            error="entry schema must be production",
        ),
        register(
            "project_owner",
            "proj",
            "1.0.0",
            old_location=S("one.txt"),
            owner="desc",
            owner_type="project",
            expect={"owner": "desc", "owner_type": "project", "path": "project/desc/.gen_paths/proj_1.0.0/one.txt"},
        ),
        # --- Replace ----------------------------------------------------------------------
        register(
            "ow_v0",
            "ow",
            "1.0.0",
            old_location=S("one.txt"),
            is_overwritable=True,
            description="first",
            expect=_live(is_overwritable=True, replace_iteration=0, disk={"file": ONE}),
        ),
        replace(
            "ow_v1",
            "ow",
            "1.0.0",
            old_location=S("two.txt"),
            is_overwritable=True,
            description="second",
            expect=_live(
                is_overwritable=True,
                replace_iteration=1,
                replace_id=None,
                relative_path=".gen_paths/ow_1.0.0/one.txt",
                disk={"file": TWO},
            ),
        ),
        # The replaced row: data deleted, row kept. Its status is valid|replaced = 9,
        # not 11: replace sets the replaced bit on the status it read before deleting.
        show(
            "ow_v0_after",
            "ow_v0",
            extra=("description",),
            expect={
                "status": 9,
                "replace_id": "ow_v1",
                "replace_iteration": 0,
                "description": "first",
                "disk": {"file": TWO},
            },
        ),
        replace(
            "ow_v2",
            "ow",
            "1.0.0",
            old_location=S("one.txt"),
            is_overwritable=True,
            expect={"replace_iteration": 2, "disk": {"file": ONE}},
        ),
        show("ow_v1_after", "ow_v1", extra=("description",), expect={"status": 9, "replace_id": "ow_v2", "description": "second"}),
        # Not overwritable from now on (is_overwritable is not inherited).
        replace("ow_v3", "ow", "1.0.0", old_location=S("two.txt"), expect={"replace_iteration": 3, "is_overwritable": False}),
        replace("ow_v4", "ow", "1.0.0", old_location=S("one.txt"), error="is not overwritable"),
        find(
            "ow_history",
            ["dataset.dataset_id", "dataset.replace_iteration", "dataset.status", "dataset.replace_id", "dataset.is_overwritable"],
            [("dataset.name", "==", "ow")],
            expect={
                "rows": [
                    ["ow_v0", 0, 9, "ow_v1", True],
                    ["ow_v1", 1, 9, "ow_v2", True],
                    ["ow_v2", 2, 9, "ow_v3", True],
                    ["ow_v3", 3, 1, None, False],
                ]
            },
        ),
        replace("replace_bump", "ow", "patch", old_location=S("one.txt"), error="Invalid version string for replace, no bumping"),
        replace("replace_unknown", "nope", "1.0.0", old_location=S("one.txt"), error="does not exist"),
        replace("replace_not_overwritable", "file_ds", "1.0.0", old_location=S("one.txt"), error="is not overwritable"),
        replace(
            "replace_external",
            "ext",
            "1.0.0",
            location_type="external",
            url="https://example.org/ext2",
            error="Can only currently replace dataregistry or dummy",
        ),
        register(
            "owdir_v0",
            "owdir",
            "1.0.0",
            old_location=S("tree"),
            is_overwritable=True,
            expect={"nfiles": 3, "disk": {"dir": TREE}},
        ),
        replace(
            "owdir_v1",
            "owdir",
            "1.0.0",
            old_location=S("tree2"),
            expect={"nfiles": 2, "relative_path": ".gen_paths/owdir_1.0.0", "disk": {"dir": TREE2}},
        ),
        register("owdummy_v0", "owdummy", "1.0.0", location_type="dummy", is_overwritable=True),
        replace(
            "owdummy_v1",
            "owdummy",
            "1.0.0",
            location_type="dummy",
            expect={"replace_iteration": 1, "relative_path": ".gen_paths/owdummy_1.0.0", "data_org": "dummy"},
        ),
        show("owdummy_v0_after", "owdummy_v0", expect={"status": 9, "replace_id": "owdummy_v1"}),
        # --- Delete ---------------------------------------------------------------------------
        delete(
            "delete_by_name",
            "file_rel",
            "1.0.0",
            then_show="file_rel",
            expect={"status": 3, "path": f"{u}/mine/one_copy.txt", "disk": None},
        ),
        delete("delete_by_name_again", "file_rel", "1.0.0", error="previously deleted"),
        delete_by_id("delete_by_id", D("dir_rel"), expect={"status": 3, "disk": None}),
        delete_by_id("delete_by_id_again", D("dir_rel"), error="previously deleted"),
        delete_by_id("delete_unknown_id", 99999, error="not found in"),
        delete("delete_unknown_name", "nope", "1.0.0", error="No datasets found with combination"),
        delete("delete_other_owner_type", "file_ds", "1.0.0", owner_type="group", error="No datasets found with combination"),
        # The latest iteration is the one deleted.
        delete("delete_replaced", "ow", "1.0.0", then_show="ow_v3", expect={"status": 3, "disk": None}),
        show("delete_replaced_old_row", "ow_v2", expect={"status": 9}),
        delete_by_id("delete_dummy", D("dummy"), expect={"status": 3, "disk": None}),
        delete_by_id("delete_external", D("external_url"), expect={"status": 3}),
        # Deleting one of two entries sharing data removes the data of both.
        delete_by_id("delete_shared", D("inplace"), expect={"status": 3, "disk": None}),
        show("shared_survivor", "inplace_shared", expect={"status": 1, "disk": None}),
        register("owdel", "owdel", "1.0.0", old_location=S("one.txt"), is_overwritable=True),
        delete("owdel_delete", "owdel", "1.0.0"),
        replace("replace_deleted", "owdel", "1.0.0", old_location=S("one.txt"), error="is deleted, cannot replace"),
        # A deleted dataset's relative path can be used again.
        register(
            "relpath_reused",
            "reuse",
            "1.0.0",
            old_location=S("two.txt"),
            relative_path="mine/one_copy.txt",
            expect={"relative_path": "mine/one_copy.txt", "disk": {"file": TWO}},
        ),
        find(
            "deleted_still_found",
            ["dataset.name", "dataset.status"],
            [("dataset.name", "==", "file_rel")],
            expect={"rows": [["file_rel", 3]]},
        ),
        # --- Modify -------------------------------------------------------------------------------
        modify(
            "modify_description",
            D("file_gen"),
            {"description": "updated"},
            show_extra=("description",),
            expect={"description": "updated"},
        ),
        modify(
            "modify_creation_date",
            D("file_gen"),
            {"creation_date": "2023-05-17"},
            show_extra=("creation_date",),
            expect={"creation_date": "2023-05-17T00:00:00"},
        ),
        modify(
            "modify_url_contact",
            D("external_url"),
            {"url": "https://example.org/moved", "contact_email": "a@example.org"},
            show_extra=("url", "contact_email"),
            expect={"url": "https://example.org/moved", "contact_email": "a@example.org"},
        ),
        modify("modify_not_modifiable", D("file_gen"), {"name": "renamed"}, error="not modifiable"),
        modify("modify_status", D("file_gen"), {"status": 0}, error="not modifiable"),
        modify("modify_unknown_column", D("file_gen"), {"bogus": 1}, error="not exist in the schema"),
        modify("modify_unknown_id", 99999, {"description": "x"}, error="not found in"),
        show("modify_untouched", "file_gen", extra=("description",), expect={"name": "file_ds", "description": "updated"}),
        # --- Keywords -----------------------------------------------------------------------------
        create_keywords("keyword_create", ["MyTag", "other_tag"]),
        find(
            "keyword_list",
            ["keyword.keyword"],
            expect={"rows": [["dc2"], ["deprecated"], ["mytag"], ["observation"], ["other_tag"], ["simulation"]]},
        ),
        create_keywords("keyword_create_again", ["mytag"], error="unique constraint"),
        create_keywords("keyword_create_not_string", [12], error="not a valid keyword string"),
        register(
            "tagged",
            "tagged",
            "1.0.0",
            location_type="dummy",
            keywords=["Simulation", "DC2"],
            expect={"version_string": "1.0.0"},
        ),
        keywords_of("tagged_keywords", D("tagged"), expect={"keywords": ["dc2", "simulation"]}),
        register("tagged_unknown", "tagged2", "1.0.0", location_type="dummy", keywords=["nope"], error="Not all keywords"),
        register("tagged_not_string", "tagged2", "1.0.0", location_type="dummy", keywords=[12], error="not a valid keyword string"),
        # The same keyword twice in one list counts as one known keyword of two.
        register("tagged_repeated", "tagged2", "1.0.0", location_type="dummy", keywords=["dc2", "DC2"], error="Not all keywords"),
        add_keywords("keyword_add", D("file_gen"), ["MYTAG", "simulation"], expect={"keywords": ["mytag", "simulation"]}),
        add_keywords("keyword_add_again", D("file_gen"), ["mytag", "dc2"], expect={"keywords": ["dc2", "mytag", "simulation"]}),
        add_keywords("keyword_add_unknown", D("file_gen"), ["nope"], error="Not all keywords"),
        add_keywords("keyword_add_not_list", D("file_gen"), "mytag", error="Passed keywords object must be a list"),
        keywords_of("keywords_none", D("dir_gen"), expect={"keywords": []}),
        find(
            "keyword_query",
            ["dataset.name", "keyword.keyword"],
            [("keyword.keyword", "==", "simulation")],
            expect={"rows": [["file_ds", "simulation"], ["tagged", "simulation"]]},
        ),
        # One output row per keyword of a dataset.
        find(
            "keyword_join_rows",
            ["dataset.name", "keyword.keyword"],
            [("dataset.name", "==", "file_ds")],
            expect={"rows": [["file_ds", "dc2"], ["file_ds", "mytag"], ["file_ds", "simulation"]]},
        ),
        find(
            "keyword_query_wildcard",
            ["dataset.name"],
            [("keyword.keyword", "~=", "SIM*")],
            expect={"rows": [["file_ds"], ["tagged"]]},
        ),
        # --- Aliases ------------------------------------------------------------------------------
        alias("alias", "best_file", D("file_gen"), expect={"alias_id": 1}),
        alias("alias_taken", "best_file", D("dir_gen"), expect={"alias_id": None}),
        alias("alias_of_alias", "best_best", None, ref_alias_id=A("alias"), expect={"alias_id": 2}),
        alias("alias_superseded", "best_file", D("dir_gen"), supersede=True, expect={"alias_id": 3}),
        alias("alias_to_nothing", "nothing", None, error="must have a value"),
        # resolve_alias takes the first row of the name: supersession is not looked at.
        resolve("resolve_superseded", "best_file", expect={"dataset": "file_gen"}),
        resolve("resolve_chain", "best_best", expect={"dataset": "file_gen"}),
        resolve("resolve_by_id", A("alias_superseded"), expect={"dataset": "dir_gen"}),
        resolve("resolve_unknown", "no_such_alias", expect={"dataset": None}),
        find(
            "alias_query",
            ["dataset.dataset_id", "dataset_alias.alias"],
            [("dataset_alias.alias", "==", "best_file")],
            expect={"rows": [["dir_gen", "best_file"], ["file_gen", "best_file"]]},
        ),
        find(
            "alias_current",
            ["dataset.dataset_id"],
            [("dataset_alias.alias", "==", "best_file"), ("dataset_alias.supersede_date", "==", None)],
            expect={"rows": [["dir_gen"]]},
        ),
        # --- Executions -----------------------------------------------------------------------------
        register_execution(
            "stage1",
            "pipeline_stage1",
            description="stage one",
            site="local",
            configuration=S("config.yaml"),
            input_datasets=[D("file_gen"), D("dir_gen")],
        ),
        register(
            "stage1_out",
            "stage1_out",
            "1.0.0",
            location_type="dummy",
            execution_id=E("stage1"),
        ),
        register(
            "stage2_out",
            "stage2_out",
            "1.0.0",
            location_type="dummy",
            execution_name="pipeline_stage2",
            input_datasets=[D("stage1_out")],
        ),
        find(
            "execution_outputs",
            ["dataset.dataset_id", "execution.name"],
            [("execution.name", "==", "pipeline_stage1")],
            expect={"rows": [["stage1_out", "pipeline_stage1"]]},
        ),
        find(
            "execution_fields",
            ["execution.name", "execution.description", "execution.site", "execution.configuration"],
            [("execution.name", "==", "pipeline_stage1")],
            expect={"rows": [["pipeline_stage1", "stage one", "local", "stage: 1\nthreshold: 0.5\n"]]},
        ),
        find(
            "auto_execution",
            ["execution.name", "execution.description"],
            [("dataset.name", "==", "file_ds")],
            expect={"rows": [["for_dataset_file_ds-1.0.0", "Fabricated execution for dataset"]]},
        ),
        find(
            "stage2_execution",
            ["dataset.dataset_id", "execution.name"],
            [("dataset.name", "==", "stage2_out")],
            expect={"rows": [["stage2_out", "pipeline_stage2"]]},
        ),
        # Dependencies join on dependency.input_id: the dataset columns are the inputs'.
        find(
            "dependency_inputs",
            ["dataset.dataset_id"],
            [("dependency.execution_id", "==", E("stage1"))],
            expect={"rows": [["dir_gen"], ["file_gen"]]},
        ),
        find(
            "dependency_inputs_auto",
            ["dataset.dataset_id"],
            [("dependency.execution_id", "==", E("stage2_out"))],
            expect={"rows": [["stage1_out"]]},
        ),
        # --- Queries ---------------------------------------------------------------------------------
        find(
            "query_eq",
            ["dataset.version_string", "dataset.owner"],
            [("dataset.name", "==", "bumpy")],
            expect={
                "rows": [
                    ["0.0.1", USER],
                    ["0.1.0", USER],
                    ["0.1.1", USER],
                    ["1.0.0", USER],
                    ["2.3.4", USER],
                    ["2.4.0", USER],
                    ["3.0.0", USER],
                    ["3.0.1", "cosmology"],
                ]
            },
        ),
        find(
            "query_ne",
            ["dataset.name", "dataset.owner_type"],
            [("dataset.owner_type", "!=", "user")],
            expect={"rows": [["bumpy", "group"], ["group_ds", "group"], ["proj", "project"]]},
        ),
        find(
            "query_lt",
            ["dataset.version_string"],
            [("dataset.name", "==", "bumpy"), ("dataset.version_major", "<", 1)],
            expect={"rows": [["0.0.1"], ["0.1.0"], ["0.1.1"]]},
        ),
        find(
            "query_ge",
            ["dataset.version_string"],
            [("dataset.name", "==", "bumpy"), ("dataset.version_minor", ">=", 1)],
            expect={"rows": [["0.1.0"], ["0.1.1"], ["2.3.4"], ["2.4.0"]]},
        ),
        find(
            "query_le_gt",
            ["dataset.version_string"],
            [("dataset.name", "=", "bumpy"), ("dataset.version_major", ">", 0), ("dataset.version_major", "<=", 2)],
            expect={"rows": [["1.0.0"], ["2.3.4"], ["2.4.0"]]},
        ),
        find(
            "query_ids",
            ["dataset.dataset_id"],
            [("dataset.dataset_id", ">=", D("bump_major2")), ("dataset.dataset_id", "<", D("version_zero"))],
            expect={"rows": [["bump_major2"], ["bump_other_owner"]]},
        ),
        find(
            "query_wildcard",
            ["dataset.name"],
            [("dataset.name", "~=", "BUM*")],
            expect={"rows": [["bumpy"]] * 8},
        ),
        # "~==" is LIKE, case-sensitive on PostgreSQL but not on SQLite.
        find(
            "query_wildcard_case",
            ["dataset.name"],
            [("dataset.name", "~==", "BUM*")],
            expect={"rows": [["bumpy"]] * 8},
            intended={"rows": []},
        ),
        find("query_wildcard_case_match", ["dataset.name"], [("dataset.name", "~==", "bum*")], expect={"rows": [["bumpy"]] * 8}),
        find(
            "query_wildcard_inner",
            ["dataset.name"],
            [("dataset.name", "~=", "*ow*"), ("dataset.owner", "~=", "ali*")],
            expect={"rows": [["ow"]] * 4 + [["owdel"], ["owdir"], ["owdir"], ["owdummy"], ["owdummy"]]},
        ),
        # '_' is escaped as '\_' (and '%' as '\%'): PostgreSQL's LIKE takes '\' as
        # its escape character, SQLite's has none unless told, so on SQLite a
        # pattern with '_' finds nothing.
        find(
            "query_wildcard_underscore",
            ["dataset.name"],
            [("dataset.name", "~=", "file_*")],
            expect={"rows": []},
            intended={"rows": [["file_ds"], ["file_rel"]]},
        ),
        find(
            "query_owner_relpath",
            ["dataset.relative_path"],
            [("dataset.relative_path", "~=", "trees*")],
            expect={"rows": [["trees/t1"]]},
        ),
        find(
            "query_bare_columns",
            ["relative_path", "version_string"],
            [("owner", "==", "desc")],
            expect={"rows": [[".gen_paths/proj_1.0.0/one.txt", "1.0.0"]]},
        ),
        find("query_all_columns", None, [("dataset.name", "==", "proj")], expect={"count": 1}),
        find("query_ordering_string", ["dataset.name"], [("dataset.name", "<", "m")], error="check_filter: Cannot apply"),
        find("query_bad_operator", ["dataset.name"], [("dataset.name", "like", "x")], error="is not a supported operator"),
        find(
            "query_wildcard_not_allowed",
            ["dataset.name"],
            [("dataset.version_string", "~=", "1*")],
            error="Can only perform ~= search on",
        ),
        find("query_unknown_bare_column", ["bogus"], error="No such column as"),
        find("query_ambiguous_column", ["description"], error="More than one table has column"),
        # --- Paths ---------------------------------------------------------------------------------------
        absolute_path("path_file", D("file_gen"), expect={"path": f"{u}/.gen_paths/file_ds_1.0.0/one.txt"}),
        absolute_path("path_deleted", D("file_rel"), expect={"path": f"{u}/mine/one_copy.txt"}),
        absolute_path("path_group", D("group_file"), expect={"path": "group/cosmology/.gen_paths/group_ds_1.0.0/two.txt"}),
        absolute_path("path_external", D("external_url"), expect={"path": None}),
        # --- Database constraints (last: on PostgreSQL a failed insert still takes a
        # sequence number, which would shift every later dataset id) ------------------
        # External entries skip the name/version check; the database's unique key
        # (name, version, owner, owner_type, replace_iteration) refuses the row
        # after its execution was written.
        register(
            "external_again",
            "ext",
            "1.0.0",
            location_type="external",
            contact_email="someone@example.org",
            error="unique constraint",
            leaves=("execution",),
        ),
        # The execution made for the refused row stays.
        find(
            "external_again_execution",
            ["execution.name"],
            [("execution.name", "==", "for_dataset_ext-1.0.0")],
            expect={"rows": [["for_dataset_ext-1.0.0"], ["for_dataset_ext-1.0.0"]]},
        ),
    ]


# --- Running -------------------------------------------------------------------------------


@contextlib.contextmanager
def as_user(user: str = USER):
    """Act as ``user``: DREGS reads ``$USER``, valet ``$VALET_USER`` first."""
    old = {k: os.environ.get(k) for k in ("USER", "VALET_USER")}
    os.environ["USER"] = user
    os.environ["VALET_USER"] = user
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_scenario(make_impl: Callable[[pathlib.Path], Any], workdir: str | os.PathLike) -> list[tuple[str, dict]]:
    """Run every step on the implementation ``make_impl(workdir / "impl")`` makes (as
    user ``alice``), and return each step's label and outcome."""
    workdir = pathlib.Path(workdir)
    source = workdir / "src"
    if source.exists():
        shutil.rmtree(source)
    make_sources(source)
    impl_dir = workdir / "impl"
    impl_dir.mkdir(parents=True, exist_ok=True)
    results: list[tuple[str, dict]] = []
    with as_user():
        impl = make_impl(impl_dir)
        try:
            ctx = Context(impl, source)
            for step in steps():
                try:
                    outcome = step.run(ctx)
                except Exception as exc:  # noqa: BLE001 - every failure is an outcome
                    outcome = {"error": classify(exc)}
                results.append((step.label, outcome))
        finally:
            impl.close()
    return results
