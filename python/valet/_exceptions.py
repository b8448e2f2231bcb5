"""Exceptions with the reference Butler's names and hierarchy, so that code written
against ``lsst.daf.butler`` catches valet's errors the same way."""

from __future__ import annotations

__all__ = [
    "ButlerUserError",
    "CalibrationLookupError",
    "CollectionCycleError",
    "CollectionError",
    "CollectionTypeError",
    "ConflictingDefinitionError",
    "DataIdError",
    "DataIdValueError",
    "DatasetNotFoundError",
    "DatasetTypeError",
    "EmptyQueryResultError",
    "InvalidQueryError",
    "MissingCollectionError",
    "MissingDatasetTypeError",
    "NoDefaultCollectionError",
    "RegistryError",
]


class ButlerUserError(Exception):
    """An error caused by what the caller asked for."""


class RegistryError(Exception):
    """Base of the registry's errors."""


class CollectionError(RegistryError):
    """A problem with a collection."""


class CollectionCycleError(ValueError, ButlerUserError):
    """A chain edit that would make a chain reach itself."""


class DatasetTypeError(RegistryError):
    """A problem with a dataset type."""


class DataIdError(RegistryError):
    """A problem with a data ID."""


class MissingCollectionError(CollectionError, ButlerUserError):
    """A collection that does not exist."""


class NoDefaultCollectionError(CollectionError):
    """A search with no collections given and no defaults."""


class CollectionTypeError(CollectionError, ButlerUserError):
    """A collection of the wrong type for the operation."""


class MissingDatasetTypeError(DatasetTypeError, KeyError, ButlerUserError):
    """A dataset type that is not registered."""

    def __str__(self) -> str:
        # KeyError would quote the message.
        return str(self.args[0]) if self.args else ""


class DataIdValueError(DataIdError, ButlerUserError):
    """A data ID value no dimension record has."""


class DatasetNotFoundError(LookupError, ButlerUserError):
    """A dataset that does not exist."""


class CalibrationLookupError(LookupError, ButlerUserError):
    """A calibration look-up that cannot be answered (no time, several matches)."""


class ConflictingDefinitionError(RegistryError):
    """A definition that conflicts with what the repository holds."""


class InvalidQueryError(ButlerUserError):
    """A query expression that cannot be used."""


class EmptyQueryResultError(Exception):
    """A query that found nothing, with ``explain=True``."""

    def __init__(self, reasons: list[str]):
        self.reasons = reasons
        super().__init__("; ".join(reasons))


# Names valet's engine raises that are Python's own.
LookupError = LookupError
ValueError = ValueError
PermissionError = PermissionError
OSError = OSError
RuntimeError = RuntimeError
