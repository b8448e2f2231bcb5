"""The reference Butler's API (``lsst.daf.butler.Butler``, its ``registry`` and
``collections``) on valet's engine. Every method converts its arguments, makes one
call into ``valet._valet.Repo`` (which releases the GIL while Rust works) and
returns the reference's types."""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Iterator

from . import _valet
from ._exceptions import (
    CollectionTypeError,
    EmptyQueryResultError,
    MissingCollectionError,
    NoDefaultCollectionError,
)
from ._formatters import formatter_for
from ._types import CollectionInfo, CollectionType, FileDataset, ResourcePath, Timespan

__all__ = ["Butler", "ButlerCollections", "DatasetIdGenEnum", "Registry"]

DatasetType = _valet.DatasetType
DatasetRef = _valet.DatasetRef
DataCoordinate = _valet.DataCoordinate


class DatasetIdGenEnum:
    """How new dataset ids are made (the reference's names)."""

    UNIQUE = "UNIQUE"
    DATAID_TYPE = "DATAID_TYPE"
    DATAID_TYPE_RUN = "DATAID_TYPE_RUN"


def _id_mode(mode: Any) -> str:
    return getattr(mode, "name", None) or str(mode)


def _names(value: str | Iterable[str] | None) -> list[str]:
    """A list of names from one name, several, or None."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if value is ...:
        return ["*"]
    return [str(v) for v in value]


def _type_name(dataset_type: Any) -> str:
    return dataset_type if isinstance(dataset_type, str) else dataset_type.name


def _data_id(data_id: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dictionary of dimension values from a data ID and keyword values."""
    out: dict[str, Any] = {}
    if data_id is not None:
        out.update(data_id.mapping if isinstance(data_id, DataCoordinate) else data_id)
    out.update(kwargs)
    return out


def _timespan(timespan: Timespan | None) -> tuple[int | None, int | None] | None:
    return None if timespan is None else timespan.nsec


def _constrained(where: str, bind: Mapping[str, Any] | None, data_id: Mapping[str, Any]):
    """A where expression and binds with a data ID's values added as constraints."""
    bind = dict(bind or {})
    terms = [f"({where})"] if where.strip() else []
    for key, value in data_id.items():
        name = "valet_data_id_" + key.replace(".", "_")
        bind[name] = value
        terms.append(f"{key} = {name}")
    return " AND ".join(terms), bind


def _limited(items: list, limit: int | None, what: str) -> list:
    """Apply the reference's limit: None or 0 is none; negative caps with a warning."""
    if not limit:
        return items
    if len(items) > abs(limit):
        if limit < 0:
            warnings.warn(
                f"More {what} are available than the requested limit of {abs(limit)}; "
                "some were not returned",
                stacklevel=3,
            )
        return items[: abs(limit)]
    return items


class DimensionUniverse:
    """The dimension universe a repository uses (names only)."""

    def __init__(self, repo: "_valet.Repo"):
        self._repo = repo

    def conform(self, names: Iterable[str]) -> list[str]:
        """The names given (valet completes groups when registering)."""
        return list(names)


class Butler:
    """A connection to a valet repository with the reference Butler's API.

    A ``Butler`` may be used from several threads: the engine's methods release the
    GIL and take connections from a pool.
    """

    def __init__(
        self,
        config: Any = None,
        *,
        collections: str | Iterable[str] | None = None,
        run: str | None = None,
        writeable: bool | None = None,
        butler: "Butler | None" = None,
        **kwargs: Any,
    ):
        if butler is not None:
            self._repo = butler._repo
        elif isinstance(config, Butler):
            self._repo = config._repo
        elif config is None:
            raise ValueError("Butler needs a repository path")
        else:
            self._repo = _valet.Repo(os.fspath(config))
        self._writeable = writeable if writeable is not None else run is not None
        self._run = run
        defaults = _names(collections)
        if not defaults and run is not None:
            defaults = [run]
        if run is not None:
            self._repo.register_collection(run, int(CollectionType.RUN))
        self._collections = ButlerCollections(self, defaults)
        self._registry = Registry(self)
        self._closed = False

    @classmethod
    def from_config(
        cls,
        config: Any = None,
        *,
        collections: str | Iterable[str] | None = None,
        run: str | None = None,
        writeable: bool | None = None,
        **kwargs: Any,
    ) -> "Butler":
        """Open a repository (the same as the constructor)."""
        return cls(config, collections=collections, run=run, writeable=writeable, **kwargs)

    @staticmethod
    def makeRepo(
        root: str | os.PathLike,
        config: Any = None,
        dimensionConfig: str | os.PathLike | None = None,
        standalone: bool = False,
        searchPaths: Any = None,
        forceConfigRoot: bool = True,
        outfile: Any = None,
        overwrite: bool = False,
    ) -> dict[str, str]:
        """Create an empty repository at ``root``; returns its configuration.

        ``config`` may be a mapping with ``registry: {db: URL}`` for a PostgreSQL
        registry.
        """
        db = None
        if isinstance(config, Mapping):
            db = config.get("registry", {}).get("db")
        dims = os.fspath(dimensionConfig) if dimensionConfig is not None else None
        _valet.Repo.create(os.fspath(root), db, dims)
        return {"root": os.fspath(root), "registry.db": db or "sqlite"}

    # Life cycle.

    def close(self) -> None:
        """Release the repository (connections close when the last handle goes)."""
        self._closed = True

    def __enter__(self) -> "Butler":
        return self

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Make every call this thread makes in the block one transaction: an
        exception leaving it rolls back the registry and the files stored in it.
        Nested blocks are savepoints."""
        self._repo.begin_transaction()
        try:
            yield
        except BaseException:
            self._repo.end_transaction(False)
            raise
        self._repo.end_transaction(True)

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Butler(collections={list(self.collections.defaults)}, run={self._run!r}, root={self._repo.root!r})"

    # Properties.

    @property
    def run(self) -> str | None:
        """The default RUN for new datasets."""
        return self._run

    @property
    def collections(self) -> "ButlerCollections":
        """Collection operations, and the default search path."""
        return self._collections

    @property
    def registry(self) -> "Registry":
        """The registry interface."""
        return self._registry

    @property
    def dimensions(self) -> DimensionUniverse:
        """The dimension universe."""
        return DimensionUniverse(self._repo)

    def isWriteable(self) -> bool:
        """Whether this butler was opened for writing."""
        return self._writeable

    # Helpers.

    def _search_path(self, collections: Any) -> list[str]:
        names = _names(collections) if collections is not None else list(self.collections.defaults)
        if not names:
            raise NoDefaultCollectionError(
                "no collections given and the butler has no default collections"
            )
        return names

    def _run_for(self, run: str | None) -> str:
        run = run or self._run
        if run is None:
            raise TypeError("no RUN given and the butler has no default run")
        return run

    # Datasets.

    def get_dataset_type(self, name: str) -> DatasetType:
        """The registered dataset type of this name."""
        return self._repo.dataset_type(name)

    def get_dataset(
        self,
        id: Any,
        *,
        storage_class: Any = None,
        dimension_records: bool = False,
        datastore_records: bool = False,
    ) -> DatasetRef | None:
        """The dataset with this id, or None."""
        try:
            found = self._repo.get_datasets([str(id)])[0]
        except LookupError:
            return None
        return self._repo.expand_refs([found])[0] if dimension_records else found

    def find_dataset(
        self,
        dataset_type: Any,
        data_id: Any = None,
        *,
        collections: Any = None,
        timespan: Timespan | None = None,
        storage_class: Any = None,
        dimension_records: bool = False,
        datastore_records: bool = False,
        as_of: int | None = None,
        **kwargs: Any,
    ) -> DatasetRef | None:
        """The first dataset of this type and data ID in the collections, in order;
        for a calibration, the one valid over ``timespan``."""
        found = self._repo.find_dataset(
            _type_name(dataset_type),
            _data_id(data_id, kwargs),
            self._search_path(collections),
            _timespan(timespan),
            as_of,
        )
        if found is None:
            return None
        return self._repo.expand_refs([found[0]])[0] if dimension_records else found[0]

    def query_datasets(
        self,
        dataset_type: Any,
        collections: Any = None,
        *,
        find_first: bool = True,
        data_id: Any = None,
        where: str = "",
        bind: Mapping[str, Any] | None = None,
        with_dimension_records: bool = False,
        order_by: Any = None,
        limit: int | None = -20_000,
        explain: bool = True,
        as_arrow: bool = False,
        as_of: int | None = None,
        timespan: Timespan | None = None,
        **kwargs: Any,
    ) -> Any:
        """The datasets of a type in the collections (find-first by default), as
        ``DatasetRef``s, or with ``as_arrow=True`` as a ``pyarrow.Table`` built
        without a Python object per row."""
        if collections is None:
            search = self._search_path(None)
        else:
            search = _names(collections)
        if find_first and any("*" in c for c in search):
            raise TypeError("find_first=True needs collections in order, not a pattern")
        where, bind = _constrained(where, bind, _data_id(data_id, kwargs))
        name = _type_name(dataset_type)
        if as_arrow:
            import pyarrow

            capsule = self._repo.query_datasets_arrow(
                name, search, find_first, where, bind, _timespan(timespan), as_of
            )
            table = pyarrow.table(_ArrowStream(capsule))
            if limit:
                table = table.slice(0, abs(limit))
            return table
        refs = self._repo.query_datasets(
            [name], search, find_first, where, bind, _timespan(timespan), as_of
        )
        if order_by:
            refs = _ordered(refs, _names(order_by))
        if explain and not refs:
            raise EmptyQueryResultError([f"no {name} datasets in {search} match"])
        refs = _limited(refs, limit, "datasets")
        return self._repo.expand_refs(refs) if with_dimension_records else refs

    def query_dimension_records(
        self,
        element: str,
        *,
        data_id: Any = None,
        where: str = "",
        bind: Mapping[str, Any] | None = None,
        with_dimension_records: bool = False,
        order_by: Any = None,
        limit: int | None = -20_000,
        explain: bool = True,
        **kwargs: Any,
    ) -> list[Any]:
        """The records of a dimension element matching the constraints, by key."""
        where, bind = _constrained(where, bind, _data_id(data_id, kwargs))
        records = [
            _DimensionRecord(element, r) for r in self._repo.dimension_records(element, where, bind)
        ]
        if explain and not records:
            raise EmptyQueryResultError([f"no {element} records match"])
        return _limited(records, limit, "records")

    def query_data_ids(
        self,
        dimensions: str | Iterable[str],
        *,
        data_id: Any = None,
        where: str = "",
        bind: Mapping[str, Any] | None = None,
        with_dimension_records: bool = False,
        order_by: Any = None,
        limit: int | None = -20_000,
        explain: bool = True,
        **kwargs: Any,
    ) -> list[DataCoordinate]:
        """The data IDs of these dimensions (with the dimensions they require and
        imply) that the dimension records make, matching the constraints."""
        where, bind = _constrained(where, bind, _data_id(data_id, kwargs))
        cap = None if not limit else abs(limit) + 1
        found = self._repo.data_ids(_names(dimensions), [], [], where, bind, _names(order_by), cap)
        if explain and not found:
            raise EmptyQueryResultError([f"no data IDs of {_names(dimensions)} match"])
        found = _limited(found, limit, "data IDs")
        if with_dimension_records and found:
            names = list(found[0].dimensions.required)
            return self._repo.expand_data_ids(names, [d.required for d in found])
        return found

    def getURI(self, dataset_ref_or_type: Any, dataId: Any = None, *, collections: Any = None, run: str | None = None, **kwargs: Any) -> ResourcePath:
        """Where a dataset's file is."""
        ref = self._resolve(dataset_ref_or_type, dataId, collections, kwargs)
        return ResourcePath(self._repo.file_path(str(ref.id)))

    def _resolve(self, ref_or_type: Any, data_id: Any, collections: Any, kwargs: Mapping) -> DatasetRef:
        if isinstance(ref_or_type, DatasetRef):
            return ref_or_type
        ref = self.find_dataset(ref_or_type, data_id, collections=collections, **kwargs)
        if ref is None:
            from ._exceptions import DatasetNotFoundError

            raise DatasetNotFoundError(
                f"no {_type_name(ref_or_type)} dataset with data ID {_data_id(data_id, kwargs)} "
                f"in {self._search_path(collections)}"
            )
        return ref

    def get(self, dataset_ref_or_type: Any, dataId: Any = None, *, collections: Any = None, **kwargs: Any) -> Any:
        """The in-memory object of a dataset (JSON, YAML, pickle, text, bytes or
        Parquet storage)."""
        ref = self._resolve(dataset_ref_or_type, dataId, collections, kwargs)
        formatter = formatter_for(ref.datasetType.storageClass_name)
        return formatter.read(self._repo.file_bytes(str(ref.id)))

    def put(self, obj: Any, datasetRefOrType: Any, /, dataId: Any = None, *, run: str | None = None, **kwargs: Any) -> DatasetRef:
        """Store an object as a new dataset in a RUN."""
        if isinstance(datasetRefOrType, DatasetRef):
            ref = datasetRefOrType
            name, data_id, run = ref.datasetType.name, dict(ref.dataId.required), ref.run
        else:
            name, data_id = _type_name(datasetRefOrType), _data_id(dataId, kwargs)
        run = self._run_for(run)
        formatter = formatter_for(self._repo.dataset_type(name).storageClass_name)
        return self._repo.put(formatter.write(obj), name, data_id, run, formatter.extension)

    def ingest(
        self,
        *datasets: FileDataset,
        transfer: str | None = "auto",
        run: str | None = None,
        idGenerationMode: Any = None,
        record_validation_info: bool = True,
        skip_existing: bool = False,
    ) -> None:
        """Ingest files, each holding one dataset (a ``DatasetRef`` of its type, data
        ID, RUN and id), all in one transaction. valet's additions: ``run`` overrides
        the refs' RUN and ``idGenerationMode`` makes new ids instead of the refs'."""
        groups: dict[tuple[str, str], list] = {}
        for d in datasets:
            for ref in d.refs:
                target = run or ref.run or self._run
                if target is None:
                    raise TypeError("no RUN given and the butler has no default run")
                key = (ref.datasetType.name, target)
                keep = None if idGenerationMode is not None else str(ref.id)
                groups.setdefault(key, []).append((os.fspath(d.path), dict(ref.dataId.required), keep))
        mode = _id_mode(idGenerationMode or DatasetIdGenEnum.UNIQUE)
        with self.transaction():
            for (name, target), files in groups.items():
                self._repo.register_collection(target, int(CollectionType.RUN))
                self._repo.ingest(name, target, files, transfer or "direct", mode)

    def removeRuns(self, names: Iterable[str], unstore: bool = True, *, unlink_from_chains: bool = False) -> None:
        """Remove RUN collections with their datasets (and files)."""
        self._repo.remove_runs(_names(names), unlink_from_chains)

    def pruneDatasets(
        self,
        refs: Iterable[DatasetRef],
        *,
        disassociate: bool = True,
        unstore: bool = False,
        tags: Iterable[str] = (),
        purge: bool = False,
    ) -> None:
        """Remove datasets from TAGGED collections, delete their files, or purge them."""
        refs = list(refs)
        ids = [str(r.id) for r in refs]
        if purge:
            runs = {r.run for r in refs}
            for run in sorted(runs):
                self._repo.prune([str(r.id) for r in refs if r.run == run], [], False, run)
            return
        self._repo.prune(ids, list(tags) if disassociate else [], unstore, None)

    def retrieve_artifacts_zip(
        self,
        refs: Iterable[DatasetRef],
        destination: str | os.PathLike,
        overwrite: bool = True,
    ) -> ResourcePath:
        """Put the files of ``refs`` into one zip in ``destination``, with the index
        ``ingest_zip`` (the reference's or valet's) reads; the zip is named as the
        reference names it (a UUID5 of its member names)."""
        ids = [str(ref.id) for ref in refs]
        path = self._repo.retrieve_artifacts_zip(ids, os.fspath(destination), overwrite) if ids else None
        if path is None:
            raise ValueError("Requested Zip file with no contents.")
        return ResourcePath(path)

    def ingest_zip(
        self,
        zip_file: str | os.PathLike,
        transfer: str = "auto",
        *,
        transfer_dimensions: bool = False,
        dry_run: bool = False,
    ) -> None:
        """Ingest a zip that ``retrieve_artifacts_zip`` or ``retrieve-artifacts --zip``
        wrote (the reference's or valet's): its datasets with their ids, RUNs and
        dataset types, and with ``transfer_dimensions`` its dimension records, in one
        transaction. The files are unpacked into the datastore; ``transfer`` is taken
        for the reference's signature (``direct`` is refused)."""
        if transfer == "direct":
            raise ValueError("ingest_zip: valet unpacks a zip into the datastore; transfer='direct' cannot be kept")
        self._repo.ingest_zip(os.fspath(zip_file), transfer_dimensions, dry_run)

    def import_(
        self,
        *,
        directory: str | os.PathLike | None = None,
        filename: str | os.PathLike | None = None,
        format: str | None = None,
        transfer: str | None = None,
        skip_dimensions: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """Import an export file (the reference's YAML format), with its files."""
        if filename is None:
            raise TypeError("import_ needs filename")
        path = os.fspath(filename)
        if directory is not None and not os.path.isabs(path):
            path = os.path.join(os.fspath(directory), path)
        self._repo.import_files(
            [path],
            None if directory is None else os.fspath(directory),
            transfer,
            list(skip_dimensions or []),
        )

    @contextmanager
    def export(
        self,
        *,
        directory: str | os.PathLike | None = None,
        filename: str | os.PathLike | None = None,
        format: str | None = None,
        transfer: str | None = None,
    ) -> Iterator["RepoExportContext"]:
        """Export what the block saves (``saveDatasets``, ``saveCollection``) to an
        export file in the reference's YAML format, with the files when
        ``transfer`` is given. Nothing is written if the block raises."""
        if directory is None and transfer is not None:
            raise TypeError("Cannot transfer without providing a directory.")
        if format not in (None, "yaml"):
            raise ValueError(f"export format {format!r} is not supported; use yaml")
        name = os.fspath(filename) if filename is not None else "export.yaml"
        path = os.path.join(os.fspath(directory), name) if directory is not None else name
        context = RepoExportContext()
        yield context
        target = os.path.dirname(os.path.abspath(path))
        written = self._repo.export(
            target,
            sorted(context.collections),
            sorted(context.dataset_types),
            "",
            transfer,
            sorted(context.ids),
        )
        if os.path.abspath(written) != os.path.abspath(path):
            os.replace(written, path)

    def transfer_from(
        self,
        source_butler: "Butler",
        source_refs: Iterable[DatasetRef],
        transfer: str = "auto",
        skip_missing: bool = True,
        register_dataset_types: bool = False,
        transfer_dimensions: bool = False,
        dry_run: bool = False,
    ) -> list[DatasetRef]:
        """Copy datasets of another valet repository into this one, ids kept, with
        their files, RUNs and (with ``transfer_dimensions``) dimension records, in one
        transaction. Datasets without a file are left out, as the reference's
        ``skip_missing`` does; ones already here are not copied again. Returns the
        refs transferred; with ``dry_run`` the ones that would be, nothing changed
        (the transfer runs, with links for files, in a transaction rolled back)."""
        if not isinstance(source_butler, Butler):
            raise TypeError("transfer_from needs a valet Butler as its source")
        if not skip_missing:
            raise ValueError(
                "transfer_from: skip_missing=False is not supported (datasets without a file are never transferred)"
            )
        refs = list(source_refs)
        ids = [str(r.id) for r in refs]
        if dry_run:
            self._repo.begin_transaction()
            try:
                moved = set(
                    self._repo.transfer_from(
                        source_butler._repo, ids, "symlink", register_dataset_types, transfer_dimensions
                    )
                )
            finally:
                self._repo.end_transaction(False)
        else:
            moved = set(
                self._repo.transfer_from(
                    source_butler._repo, ids, transfer or "auto", register_dataset_types, transfer_dimensions
                )
            )
        return [r for r in refs if str(r.id) in moved]

    # valet's additions.

    def lineage(self, dataset: Any, *, up: bool = True, depth: int = 100) -> dict[str, Any]:
        """What produced a dataset (``up``) or what was built from it: ``{"nodes":
        [...], "edges": [[from, to], ...]}`` as ``valet lineage --format json``
        prints it. ``dataset`` is a ref, a dataset id, or a named dataset's id."""
        import json

        key = dataset.id if isinstance(dataset, DatasetRef) else dataset
        return json.loads(self._repo.lineage(str(key), up, depth))

    def chain_history(self, name: str) -> list[tuple[int, str, list[str]]]:
        """Every edit of a chain, oldest first: (UTC ns, user, children after)."""
        return self._repo.chain_history(name)


class RepoExportContext:
    """What an ``export()`` block saves: datasets (with their RUNs and types) and
    whole collections. Every dimension record is exported, so
    ``saveDimensionData`` need not be called."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.collections: set[str] = set()
        self.dataset_types: set[str] = set()

    def saveDatasets(self, refs: Iterable[DatasetRef], *, elements: Any = None, rewrite: Any = None) -> None:
        """Export these datasets, their RUNs and their dataset types."""
        for ref in refs:
            self.ids.add(str(ref.id))
            self.collections.add(ref.run)
            self.dataset_types.add(ref.datasetType.name)

    def saveCollection(self, name: str) -> None:
        """Export a collection (its saved datasets' memberships, a chain's links)."""
        self.collections.add(name)

    def saveDimensionData(self, element: Any, records: Iterable[Any]) -> None:
        """Accepted for the reference's API: every dimension record is exported."""


class _ArrowStream:
    """Hands an Arrow C stream capsule to pyarrow."""

    def __init__(self, capsule: Any):
        self._capsule = capsule

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self._capsule


def _ordered(refs: list, keys: list[str]) -> list:
    """Refs sorted by dimension names (``-name`` descending), or run/id."""

    def value(ref: DatasetRef, key: str) -> Any:
        if key in ("run", "collection"):
            return ref.run
        if key == "id":
            return str(ref.id)
        return ref.dataId[key]

    for key in reversed(keys):
        descending = key.startswith("-")
        name = key.lstrip("-")
        refs = sorted(refs, key=lambda r: value(r, name), reverse=descending)
    return refs


class _DimensionRecord:
    """A dimension record: its fields as attributes."""

    __slots__ = ("_element", "_fields")

    def __init__(self, element: str, fields: dict[str, Any]):
        self._element = element
        self._fields = fields

    def __getattr__(self, name: str) -> Any:
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(f"{self._element} record has no field {name!r}") from None

    @property
    def definition(self) -> str:
        """The element's name."""
        return self._element

    def toDict(self) -> dict[str, Any]:
        """The fields."""
        return dict(self._fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _DimensionRecord) and (self._element, self._fields) == (
            other._element,
            other._fields,
        )

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self._fields.items())
        return f"{self._element}.RecordClass({fields})"


class ButlerCollections(Sequence):
    """Collection operations of a butler; as a sequence, its default collections."""

    def __init__(self, butler: Butler, defaults: list[str]):
        self._butler = butler
        self._repo = butler._repo
        self._defaults = tuple(defaults)

    @property
    def defaults(self) -> Sequence[str]:
        """The default search path."""
        return self._defaults

    def __getitem__(self, index: Any) -> Any:
        return self._defaults[index]

    def __len__(self) -> int:
        return len(self._defaults)

    def __str__(self) -> str:
        return str(list(self._defaults))

    def register(self, name: str, type: CollectionType = CollectionType.RUN, doc: str | None = None) -> bool:
        """Register a collection; False when it exists with this type."""
        return self._repo.register_collection(name, int(type), doc)

    def x_remove(self, name: str) -> None:
        """Remove a collection (not a RUN holding datasets)."""
        self._repo.remove_collections([name], False)

    def redefine_chain(self, parent_collection_name: str, child_collection_names: str | Iterable[str]) -> None:
        """Replace a chain's children."""
        self._edit(parent_collection_name, "redefine", child_collection_names)

    def prepend_chain(self, parent_collection_name: str, child_collection_names: str | Iterable[str]) -> None:
        """Put children at the front of a chain (moving those already there)."""
        self._edit(parent_collection_name, "prepend", child_collection_names)

    def extend_chain(self, parent_collection_name: str, child_collection_names: str | Iterable[str]) -> None:
        """Put children at the end of a chain (moving those already there)."""
        self._edit(parent_collection_name, "extend", child_collection_names)

    def remove_from_chain(self, parent_collection_name: str, child_collection_names: str | Iterable[str]) -> None:
        """Remove children from a chain."""
        self._edit(parent_collection_name, "remove", child_collection_names)

    def _edit(self, parent: str, mode: str, children: str | Iterable[str]) -> None:
        if self._repo.collection_info(parent)[1] != int(CollectionType.CHAINED):
            raise CollectionTypeError(f"collection {parent!r} is not CHAINED")
        self._repo.edit_chain(parent, mode, _names(children))

    def query(
        self,
        expression: str | Iterable[str],
        collection_types: Any = None,
        flatten_chains: bool = False,
        include_chains: bool | None = None,
    ) -> list[str]:
        """The names of the collections an expression (names, globs) means."""
        return [info.name for info in self.query_info(expression, collection_types, flatten_chains, include_chains)]

    def query_info(
        self,
        expression: str | Iterable[str],
        collection_types: Any = None,
        flatten_chains: bool = False,
        include_chains: bool | None = None,
        include_parents: bool = False,
        include_summary: bool = False,
        include_doc: bool = False,
        summary_datasets: Any = None,
    ) -> list[CollectionInfo]:
        """What the collections an expression means are."""
        if isinstance(collection_types, CollectionType):
            collection_types = {collection_types}
        types = sorted(int(t) for t in collection_types or ())
        if include_chains is None:
            include_chains = not flatten_chains
        found = self._repo.query_collections(_names(expression), types, flatten_chains, include_chains)
        return [
            self._info(name, include_parents, include_summary, include_doc)
            for name, _ in found
        ]

    def get_info(self, name: str, include_parents: bool = False, include_summary: bool = False) -> CollectionInfo:
        """What one collection is."""
        return self._info(name, include_parents, include_summary, True)

    def _info(self, name: str, parents: bool, summary: bool, doc: bool) -> CollectionInfo:
        name, code, text = self._repo.collection_info(name)
        kind = CollectionType(code)
        return CollectionInfo(
            name=name,
            type=kind,
            doc=text if doc else "",
            children=tuple(self._repo.chain_children(name)) if kind is CollectionType.CHAINED else (),
            parents=frozenset(self._repo.chain_parents(name)) if parents else None,
            dataset_types=frozenset(self._repo.collection_dataset_types(name)) if summary else None,
        )


class CollectionSummary:
    """The dataset types a collection has held."""

    def __init__(self, dataset_types: list[Any]):
        self.dataset_types = dataset_types


class Registry:
    """The reference's ``Registry`` interface of a butler."""

    def __init__(self, butler: Butler):
        self._butler = butler
        self._repo = butler._repo
        self._lock = threading.Lock()

    @property
    def defaults(self) -> Any:
        """The butler's default collections and run."""
        return self._butler.collections

    @property
    def dimensions(self) -> DimensionUniverse:
        """The dimension universe."""
        return self._butler.dimensions

    # Collections.

    @contextmanager
    def transaction(self, *, savepoint: bool = False) -> Iterator[None]:
        """The butler's :meth:`Butler.transaction` (nested blocks are always
        savepoints, so ``savepoint`` changes nothing)."""
        with self._butler.transaction():
            yield

    def registerCollection(self, name: str, type: CollectionType = CollectionType.TAGGED, doc: str | None = None) -> bool:
        """Register a collection; False when it exists with this type."""
        return self._repo.register_collection(name, int(type), doc)

    def registerRun(self, name: str, doc: str | None = None) -> bool:
        """Register a RUN collection; False when it exists."""
        return self._repo.register_collection(name, int(CollectionType.RUN), doc)

    def getCollectionType(self, name: str) -> CollectionType:
        """The type of a collection."""
        return CollectionType(self._repo.collection_info(name)[1])

    def getCollectionDocumentation(self, collection: str) -> str | None:
        """A collection's documentation."""
        return self._repo.collection_info(collection)[2] or None

    def getCollectionChain(self, parent: str) -> tuple[str, ...]:
        """A chain's children, in order."""
        if self.getCollectionType(parent) is not CollectionType.CHAINED:
            raise CollectionTypeError(f"collection {parent!r} is not CHAINED")
        return tuple(self._repo.chain_children(parent))

    def setCollectionChain(self, parent: str, children: Any, *, flatten: bool = False) -> None:
        """Replace a chain's children."""
        if self.getCollectionType(parent) is not CollectionType.CHAINED:
            raise CollectionTypeError(f"collection {parent!r} is not CHAINED")
        self._repo.edit_chain(parent, "redefine", _names(children), flatten)

    def getCollectionParentChains(self, collection: str) -> set[str]:
        """The chains listing a collection."""
        return set(self._repo.chain_parents(collection))

    def removeCollection(self, name: str) -> None:
        """Remove a collection (not a RUN holding datasets)."""
        self._repo.remove_collections([name], False)

    def queryCollections(
        self,
        expression: Any = ...,
        datasetType: Any = None,
        collectionTypes: Any = CollectionType.all(),
        flattenChains: bool = False,
        includeChains: bool | None = None,
    ) -> list[str]:
        """The names of the collections an expression means."""
        names = self._butler.collections.query(
            expression if expression is not ... else "*",
            collectionTypes,
            flattenChains,
            includeChains,
        )
        if datasetType is not None:
            wanted = _type_name(datasetType)
            names = [n for n in names if wanted in self._repo.collection_dataset_types(n)]
        return names

    def getCollectionSummary(self, collection: str) -> CollectionSummary:
        """The dataset types a collection has held."""
        names = self._repo.collection_dataset_types(collection)
        return CollectionSummary([self._repo.dataset_type(n) for n in names])

    # Dataset types.

    def registerDatasetType(self, datasetType: DatasetType) -> bool:
        """Register a dataset type; False when an identical one exists."""
        return self._repo.register_dataset_type(
            datasetType.name,
            list(datasetType.dimensions.required),
            datasetType.storageClass_name,
            datasetType.isCalibration(),
        )

    def getDatasetType(self, name: str) -> DatasetType:
        """The registered dataset type of this name."""
        return self._repo.dataset_type(name)

    def queryDatasetTypes(self, expression: Any = ..., *, missing: list[str] | None = None) -> list[DatasetType]:
        """The registered dataset types whose names match (all by default)."""
        globs = [] if expression is ... else _names(expression)
        return self._repo.dataset_types(globs)

    def removeDatasetType(self, name: str | tuple[str, ...]) -> None:
        """Remove dataset types (names or globs) that no dataset uses."""
        self._repo.remove_dataset_types(_names(name))

    # Dimension records.

    def insertDimensionData(self, element: Any, *data: Any, conform: bool = True, replace: bool = False, skip_existing: bool = False) -> None:
        """Insert dimension records (mappings of field values)."""
        name = getattr(element, "name", element)
        rows = [dict(d) if isinstance(d, Mapping) else d.toDict() for d in data]
        mode = "update" if replace else "skip" if skip_existing else "refuse"
        self._repo.insert_dimension_records(name, rows, mode)

    def syncDimensionData(self, element: Any, row: Any, conform: bool = True, update: bool = False) -> bool:
        """Insert a record unless an equal one exists; True when inserted."""
        name = getattr(element, "name", element)
        fields = dict(row) if isinstance(row, Mapping) else row.toDict()
        inserted, updated = self._repo.insert_dimension_records(name, [fields], "update" if update else "skip")
        return bool(inserted or updated)

    def expandDataId(self, dataId: Any = None, *, dimensions: Iterable[str] | None = None, **kwargs: Any) -> DataCoordinate:
        """A data ID completed with implied dimensions and every record."""
        values = _data_id(dataId, kwargs)
        names = list(dimensions) if dimensions is not None else list(values)
        return self._repo.expand_data_id(names, values)

    def queryDimensionRecords(self, element: Any, *, dataId: Any = None, where: str = "", bind: Mapping[str, Any] | None = None, **kwargs: Any) -> list[Any]:
        """The records of an element matching the constraints."""
        name = getattr(element, "name", element)
        return self._butler.query_dimension_records(name, data_id=dataId, where=where, bind=bind, limit=None, explain=False, **kwargs)

    def queryDataIds(
        self,
        dimensions: str | Iterable[str],
        *,
        dataId: Any = None,
        datasets: Any = None,
        collections: Any = None,
        where: str = "",
        bind: Mapping[str, Any] | None = None,
        check: bool = True,
        **kwargs: Any,
    ) -> list[DataCoordinate]:
        """Data IDs of these dimensions: of the datasets of ``datasets`` in
        ``collections`` when given, else of the dimension records."""
        where, bind = _constrained(where, bind, _data_id(dataId, kwargs))
        types = _names(datasets) if datasets is not None else []
        search = self._butler._search_path(collections) if types else []
        return self._repo.data_ids(_names(dimensions), types, search, where, bind, [], None)

    # Datasets.

    def insertDatasets(self, datasetType: Any, dataIds: Iterable[Any], run: str | None = None, expand: bool = True, idGenerationMode: Any = DatasetIdGenEnum.UNIQUE) -> list[DatasetRef]:
        """Register datasets (without files) in a RUN."""
        ids = [_data_id(d, {}) for d in dataIds]
        return self._repo.insert_datasets(
            _type_name(datasetType), self._butler._run_for(run), ids, _id_mode(idGenerationMode)
        )

    def findDataset(self, datasetType: Any, dataId: Any = None, *, collections: Any = None, timespan: Timespan | None = None, **kwargs: Any) -> DatasetRef | None:
        """The first dataset of a type and data ID in the collections."""
        return self._butler.find_dataset(datasetType, dataId, collections=collections, timespan=timespan, **kwargs)

    def getDataset(self, id: Any) -> DatasetRef | None:
        """The dataset with this id, or None."""
        return self._butler.get_dataset(id)

    def queryDatasets(
        self,
        datasetType: Any,
        *,
        collections: Any = None,
        dimensions: Any = None,
        dataId: Any = None,
        where: str = "",
        findFirst: bool = False,
        bind: Mapping[str, Any] | None = None,
        check: bool = True,
        **kwargs: Any,
    ) -> list[DatasetRef]:
        """Datasets of one or more types (names or globs) in the collections."""
        search = self._butler._search_path(collections)
        where, bind = _constrained(where, bind, _data_id(dataId, kwargs))
        return self._repo.query_datasets(_names(datasetType) if datasetType is not ... else [], search, findFirst, where, bind, None, None)

    def associate(self, collection: str, refs: Iterable[DatasetRef]) -> None:
        """Add datasets to a TAGGED collection."""
        self._repo.associate(collection, [str(r.id) for r in refs])

    def disassociate(self, collection: str, refs: Iterable[DatasetRef]) -> None:
        """Remove datasets from a TAGGED collection."""
        self._repo.disassociate(collection, [str(r.id) for r in refs])

    def certify(self, collection: str, refs: Iterable[DatasetRef], timespan: Timespan) -> None:
        """Make calibrations valid over a timespan in a CALIBRATION collection."""
        self._repo.certify(collection, [str(r.id) for r in refs], timespan.nsec)

    def decertify(self, collection: str, datasetType: Any, timespan: Timespan, *, dataIds: Iterable[Any] | None = None) -> None:
        """Remove a time range from the validity ranges of a calibration type."""
        ids = [_data_id(d, {}) for d in dataIds or ()]
        self._repo.decertify(collection, _type_name(datasetType), timespan.nsec, ids)
