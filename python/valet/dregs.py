"""DESC's data registry ("DREGS") API on a valet repository.

A script written for ``dataregistry`` runs here by changing its import::

    from valet.dregs import DataRegistry
    datareg = DataRegistry(owner="alice", repo="REPO")
    dataset_id, execution_id = datareg.Registrar.dataset.register(
        "my_catalog", "1.0.0", old_location="/data/catalog.parquet")
    f = datareg.Query.gen_filter("dataset.name", "~=", "my_*")
    datareg.Query.find_datasets(["dataset.dataset_id", "dataset.version_string"], [f])

Datasets, executions, aliases and keywords live in the repository's registry beside
its Butler datasets; files live below the datastore root at
``dregs/<owner_type>/<owner>/<relative_path>``. Refusals raise ``ValueError`` with
valet's one-line message (permission refusals ``PermissionError``).
"""

from __future__ import annotations

import datetime
import os
from collections import namedtuple
from typing import Any, Iterable, Sequence

from . import _valet

__all__ = ["DataRegistry", "Filter", "Query", "Registrar"]

Filter = namedtuple("Filter", ["property_name", "bin_op", "value"])
"""One query filter: ``(property_name, bin_op, value)``."""

_OWNER_TYPES = ("user", "group", "project", "production")


def _text_date(value: Any) -> str | None:
    """A date argument (datetime, date or text) as the text valet parses."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def _file_text(path: str | None, max_length: int | None = None) -> str | None:
    """The text of a configuration file (DESC stores contents, not paths)."""
    if path is None:
        return None
    with open(path) as f:
        text = f.read()
    limit = max_length if max_length is not None else 10000
    return text[:limit]


def _split_inputs(ids: Iterable[Any]) -> tuple[list[int], list[str]]:
    """Named dataset ids (ints) and Butler dataset ids (UUIDs) apart."""
    named: list[int] = []
    butler: list[str] = []
    for i in ids or []:
        if isinstance(i, int):
            named.append(i)
        else:
            butler.append(str(i))
    return named, butler


class _Table:
    def __init__(self, db: _valet.Dregs, owner: str | None, owner_type: str | None):
        self._db = db
        self._owner = owner
        self._owner_type = owner_type

    def get_modifiable_columns(self) -> list[str]:
        """The columns ``modify`` may change."""
        return _valet.Dregs.modifiable_columns(self._table)

    _table = ""


class DatasetTable(_Table):
    """``Registrar.dataset``: register, replace, modify, delete datasets."""

    _table = "dataset"

    def _write(self, name: str, version: str, replace: bool, **kw: Any) -> tuple[int, int]:
        named, butler = _split_inputs(kw.pop("input_datasets", []))
        named_prod, butler_prod = _split_inputs(kw.pop("input_production_datasets", []))
        max_len = kw.pop("max_config_length", None)
        kw.pop("test_production", None)
        owner = kw.pop("owner", None) or self._owner
        owner_type = kw.pop("owner_type", None) or self._owner_type
        if kw.get("old_location") is not None:
            kw["old_location"] = os.fspath(kw["old_location"])
        return self._db.register(
            name,
            version,
            replace=replace,
            owner=owner,
            owner_type=owner_type,
            creation_date=_text_date(kw.pop("creation_date", None)),
            execution_start=_text_date(kw.pop("execution_start", None)),
            access_api_configuration=_file_text(kw.pop("access_api_configuration", None), max_len),
            execution_configuration=_file_text(kw.pop("execution_configuration", None), max_len),
            input_datasets=named + named_prod,
            input_butler_datasets=butler + butler_prod,
            keywords=_keyword_list(kw.pop("keywords", None)),
            **kw,
        )

    def register(self, name: str, version: str, **kwargs: Any) -> tuple[int, int]:
        """Register a dataset; returns ``(dataset_id, execution_id)``."""
        return self._write(name, version, False, **kwargs)

    def replace(self, name: str, version: str, **kwargs: Any) -> tuple[int, int]:
        """Replace the latest iteration of an overwritable dataset."""
        if "relative_path" in kwargs:
            raise ValueError("replace keeps the relative path of the dataset it replaces")
        return self._write(name, version, True, **kwargs)

    def modify(self, entry_id: int, modify_fields: dict) -> None:
        """Change modifiable columns of dataset ``entry_id``."""
        if not isinstance(modify_fields, dict):
            raise ValueError("modify_fields must be a dict of column: value")
        for column, value in modify_fields.items():
            if isinstance(value, (datetime.date, datetime.datetime)):
                value = _text_date(value)
            elif value is not None:
                value = str(value)
            self._db.modify(self._table, entry_id, column, value)

    def delete(self, name: str, version_string: str, owner: str, owner_type: str, confirm: bool = False) -> None:
        """Delete the latest iteration of ``name`` ``version_string`` of this owner."""
        self._delete_by_id(self._db.find_by_name(name, version_string, owner, owner_type), confirm)

    def _delete_by_id(self, dataset_id: int, confirm: bool = False) -> None:
        if confirm:
            answer = input(f"Delete dataset {dataset_id}? (y/n) ")
            if answer.strip().lower() not in ("y", "yes"):
                return
        self._db.delete(dataset_id)

    def find_entry(self, entry_id: int, raise_if_not_found: bool = False) -> dict | None:
        """Dataset ``entry_id`` as a dict of its columns."""
        found = self._db.dataset(entry_id)
        if found is None and raise_if_not_found:
            raise ValueError(f"Dataset ID {entry_id} not found in the registry")
        return found

    def add_keywords(self, dataset_id: int, keywords: Sequence[str]) -> None:
        """Tag a dataset with registered keywords."""
        _check_keyword_list(keywords)
        self._db.add_keywords(dataset_id, list(keywords))

    def get_keywords(self, dataset_id: int) -> list[str]:
        """The keywords of a dataset."""
        return self._db.dataset_keywords(dataset_id)


def _keyword_list(keywords: Any) -> list[str]:
    if keywords is None:
        return []
    _check_keyword_list(keywords)
    return list(keywords)


def _check_keyword_list(keywords: Any) -> None:
    if not isinstance(keywords, (list, tuple)):
        raise ValueError(f"Passed keywords object must be a list, not {keywords!r}")
    for k in keywords:
        if not isinstance(k, str):
            raise ValueError(f"{k!r} is not a valid keyword string")


class ExecutionTable(_Table):
    """``Registrar.execution``: record pipeline stages and what they read."""

    _table = "execution"

    def register(
        self,
        name: str,
        description: str | None = None,
        execution_start: Any = None,
        site: str | None = None,
        configuration: str | None = None,
        input_datasets: Sequence[Any] = (),
        input_production_datasets: Sequence[Any] = (),
        max_config_length: int | None = None,
    ) -> int:
        """Record an execution; returns its id."""
        named, butler = _split_inputs(list(input_datasets) + list(input_production_datasets))
        return self._db.register_execution(
            name,
            description=description,
            execution_start=_text_date(execution_start),
            site=site,
            configuration=_file_text(configuration, max_config_length),
            input_datasets=named,
            input_butler_datasets=butler,
        )

    def modify(self, entry_id: int, modify_fields: dict) -> None:
        """Change the description of an execution."""
        for column, value in modify_fields.items():
            self._db.modify(self._table, entry_id, column, None if value is None else str(value))


class DatasetAliasTable(_Table):
    """``Registrar.dataset_alias``: names for datasets and for other aliases."""

    _table = "dataset_alias"

    def register(
        self,
        aliasname: str,
        dataset_id: int | None = None,
        ref_alias_id: int | None = None,
        access_api: str | None = None,
        access_api_configuration: str | None = None,
        supersede: bool = False,
    ) -> int | None:
        """Register an alias; ``None`` if the name is in use and not ``supersede``."""
        made = self._db.alias(aliasname, dataset_id, ref_alias_id, supersede)
        if made is not None:
            for column, value in (("access_api", access_api), ("access_api_configuration", access_api_configuration)):
                if value is not None:
                    self._db.modify(self._table, made, column, value)
        return made


class KeywordTable(_Table):
    """``Registrar.keyword``: the keyword vocabulary."""

    _table = "keyword"

    def create_keywords(self, keywords: Sequence[str], owner_type: str = "user", system: bool = False, commit: bool = True) -> None:
        """Register new keywords (stored lower-case)."""
        _check_keyword_list(keywords)
        self._db.create_keywords(list(keywords))

    def add_keywords_to_dataset(self, dataset_id: int, keywords: Sequence[str]) -> None:
        """Tag a dataset with registered keywords."""
        _check_keyword_list(keywords)
        self._db.add_keywords(dataset_id, list(keywords))

    def get_keywords_from_dataset(self, dataset_id: int) -> list[str]:
        """The keywords of a dataset."""
        return self._db.dataset_keywords(dataset_id)


class Registrar:
    """The write side: ``dataset``, ``execution``, ``dataset_alias``, ``keyword``."""

    def __init__(self, db: _valet.Dregs, owner: str | None = None, owner_type: str | None = None):
        self.dataset = DatasetTable(db, owner, owner_type)
        self.execution = ExecutionTable(db, owner, owner_type)
        self.dataset_alias = DatasetAliasTable(db, owner, owner_type)
        self.keyword = KeywordTable(db, owner, owner_type)

    @staticmethod
    def get_owner_types() -> set[str]:
        """The owner types."""
        return set(_OWNER_TYPES)


class Query:
    """The read side: ``find_datasets`` with DESC's filters, aliases, paths."""

    def __init__(self, db: _valet.Dregs):
        self._db = db

    @staticmethod
    def gen_filter(property_name: str, bin_op: str, value: Any) -> Filter:
        """One filter."""
        return Filter(property_name, bin_op, value)

    def find_datasets(
        self,
        property_names: Sequence[str] | None = None,
        filters: Sequence[Any] = (),
        return_format: str = "property_dict",
        strip_table_names: bool = False,
        where: str | None = None,
        limit: int | None = None,
        status: str = "valid",
    ) -> Any:
        """Columns ``table.column`` of the datasets the filters select, as a dict of
        lists (``property_dict``) or a pandas DataFrame (``dataframe``); ``status``
        (``valid``, ``invalid``, ``all``) selects by the valid bit, as DESC's."""
        parsed = []
        for f in filters or []:
            name, op, value = tuple(f)
            if isinstance(value, (datetime.date, datetime.datetime)):
                value = _text_date(value)
            parsed.append((name, op, value))
        columns, kinds, rows = self._db.find(
            list(property_names) if property_names else None, parsed, where, limit, status
        )
        if strip_table_names:
            if len({c.split(".")[0] for c in columns}) > 1:
                raise ValueError("strip_table_names needs columns of one table")
            columns = [c.split(".", 1)[1] for c in columns]
        result = {c: [] for c in columns}
        for row in rows:
            for c, k, v in zip(columns, kinds, row):
                if k == "date" and v is not None:
                    v = datetime.datetime.fromisoformat(v)
                result[c].append(v)
        if return_format == "dataframe":
            import pandas

            return pandas.DataFrame(result, columns=columns)
        if return_format != "property_dict":
            raise ValueError(f"return_format must be property_dict or dataframe, not {return_format!r}")
        return result if rows else {}

    def resolve_alias(self, alias: str | int) -> tuple[int | None, str | None]:
        """``(id, "dataset"|"alias")`` that an alias names."""
        if isinstance(alias, int):
            return alias, "dataset"
        found = self._db.resolve_alias(alias)
        if found is None:
            return None, None
        _, kind, target = found
        return target, kind

    def resolve_alias_fully(self, alias: str | int) -> int | None:
        """The dataset an alias (a name, or an alias id) finally names."""
        if isinstance(alias, int):
            return self._db.follow_alias(alias)
        return self._db.resolve_alias_fully(alias)

    def get_dataset_absolute_path(self, dataset_id: int, schema: str | None = None, silent: bool = True) -> str | None:
        """Where a dataset's data is; ``None`` for external and meta-only datasets."""
        path = self._db.path(dataset_id)
        return None if path is None else os.fspath(path)

    def get_keyword_list(self, query_mode: str | None = None) -> list[str]:
        """The active keywords."""
        return [k for k, _, active in self._db.keywords() if active]


class DataRegistry:
    """DESC's ``DataRegistry`` on a valet repository.

    The repository is ``repo``, else ``root_dir`` (DESC's root of the registry's
    data; here the repository, whose datastore holds it), else ``$VALET_REPO``.
    ``owner`` and ``owner_type`` are the defaults for registrations (the acting user
    and ``user`` when not given). The production area is the rows owned by
    ``production``; only admins write it. DESC's connection arguments
    (``config_file``, ``schema``, ``namespace``, ``entry_mode``, ``query_mode``,
    ``site``) have no meaning here and are ignored.
    """

    def __init__(
        self,
        owner: str | None = None,
        owner_type: str | None = None,
        config_file: str | None = None,
        root_dir: str | os.PathLike | None = None,
        *,
        repo: str | os.PathLike | None = None,
        **ignored: Any,
    ):
        if owner_type is not None and owner_type not in _OWNER_TYPES:
            raise ValueError(f"Invalid owner_type {owner_type}")
        where = repo if repo is not None else root_dir if root_dir is not None else os.environ.get("VALET_REPO")
        if where is None:
            raise ValueError("DataRegistry needs a repository: pass repo= (or root_dir=), or set VALET_REPO")
        self._db = _valet.Dregs(os.fspath(where))
        self.root_dir = os.fspath(self._db.root_dir)
        self.Registrar = self.registrar = Registrar(self._db, owner, owner_type)
        self.Query = self.query = Query(self._db)

    def register_dataset(self, name: str, version: str, **kwargs: Any) -> tuple[int, int]:
        return self.Registrar.dataset.register(name, version, **kwargs)

    def replace_dataset(self, name: str, version: str, **kwargs: Any) -> tuple[int, int]:
        return self.Registrar.dataset.replace(name, version, **kwargs)

    def modify_dataset(self, dataset_id: int, modify_fields: dict) -> None:
        self.Registrar.dataset.modify(dataset_id, modify_fields)

    def delete_dataset(self, name: str, version_string: str, owner: str, owner_type: str, confirm: bool = False) -> None:
        self.Registrar.dataset.delete(name, version_string, owner, owner_type, confirm)

    def register_execution(self, name: str, **kwargs: Any) -> int:
        return self.Registrar.execution.register(name, **kwargs)

    def add_keywords_to_dataset(self, dataset_id: int, keywords: Sequence[str]) -> None:
        self.Registrar.dataset.add_keywords(dataset_id, keywords)

    def create_keywords(self, keywords: Sequence[str], **ignored: Any) -> None:
        self.Registrar.keyword.create_keywords(keywords)

    def find_datasets(self, **kwargs: Any) -> Any:
        return self.Query.find_datasets(**kwargs)

    def get_dataset_absolute_path(self, dataset_id: int, schema: str | None = None, silent: bool = True) -> str:
        return self.Query.get_dataset_absolute_path(dataset_id, schema, silent)

    def get_keyword_list(self, query_mode: str | None = None) -> list[str]:
        return self.Query.get_keyword_list(query_mode)
