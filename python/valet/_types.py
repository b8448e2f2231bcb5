"""Small value types with the reference's names: collection types, timespans,
files to ingest, collection information, file locations."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from typing import Any

__all__ = ["CollectionInfo", "CollectionType", "FileDataset", "Timespan", "ResourcePath"]


class CollectionType(enum.IntEnum):
    """The four kinds of collection (values as the reference's)."""

    RUN = 1
    TAGGED = 2
    CHAINED = 3
    CALIBRATION = 4

    @classmethod
    def all(cls) -> frozenset["CollectionType"]:
        """Every collection type."""
        return frozenset(cls)

    @classmethod
    def from_name(cls, name: str) -> "CollectionType":
        """The type of this name (any case)."""
        return cls.__members__[name.upper()]


_NSEC_PER_DAY = 86_400 * 1_000_000_000


_EPOCH_JD = 2440587.5  # 1970-01-01T00:00:00 TAI as a Julian date.


def _to_nsec(value: Any) -> int | None:
    """TAI nanoseconds since 1970 for an ``astropy.time.Time``, an int (already TAI
    nanoseconds) or None (unbounded)."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    tai = value.tai
    # The two parts of the Julian date kept apart, so nanoseconds survive.
    days, extra = divmod(tai.jd1 - _EPOCH_JD, 1)
    return int(days) * _NSEC_PER_DAY + int(round((tai.jd2 + extra) * _NSEC_PER_DAY))


def _from_nsec(nsec: int | None) -> Any:
    if nsec is None:
        return None
    try:
        import astropy.time
    except ImportError:
        return nsec
    seconds, rest = divmod(nsec, 1_000_000_000)
    t = astropy.time.Time(float(seconds), rest / 1e9, format="unix_tai", scale="tai", precision=9)
    t.format = "jd"
    return t


class Timespan:
    """A half-open time interval [begin, end); either bound may be None (unbounded).

    Bounds are ``astropy.time.Time`` values (when astropy is installed) or TAI
    nanoseconds since 1970 as ints.
    """

    __slots__ = ("_begin", "_end")

    def __init__(self, begin: Any, end: Any, padInstantaneous: bool = True):
        b, e = _to_nsec(begin), _to_nsec(end)
        if padInstantaneous and b is not None and b == e:
            e = b + 1
        self._begin, self._end = b, e

    @classmethod
    def from_nsec(cls, begin: int | None, end: int | None) -> "Timespan":
        """A timespan from TAI nanosecond bounds."""
        return cls(begin, end, padInstantaneous=False)

    @property
    def begin(self) -> Any:
        """The inclusive start (None: unbounded)."""
        return _from_nsec(self._begin)

    @property
    def end(self) -> Any:
        """The exclusive end (None: unbounded)."""
        return _from_nsec(self._end)

    @property
    def nsec(self) -> tuple[int | None, int | None]:
        """The bounds as TAI nanoseconds since 1970."""
        return (self._begin, self._end)

    def overlaps(self, other: "Timespan") -> bool:
        """Whether the two share an instant."""
        lo = max(x for x in (self._begin, other._begin, -(2**63)) if x is not None)
        ends = [x for x in (self._end, other._end) if x is not None]
        return not ends or lo < min(ends)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Timespan) and self.nsec == other.nsec

    def __hash__(self) -> int:
        return hash(self.nsec)

    def __repr__(self) -> str:
        return f"Timespan(begin={self.begin!r}, end={self.end!r})"


@dataclass
class FileDataset:
    """A file to ingest and the dataset refs (type and data ID) it holds."""

    path: str | os.PathLike
    refs: Any
    formatter: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.refs, (list, tuple)):
            self.refs = [self.refs]


@dataclass(frozen=True)
class CollectionInfo:
    """What a collection is (the reference's ``CollectionInfo``)."""

    name: str
    type: CollectionType
    doc: str = ""
    children: tuple[str, ...] = ()
    parents: frozenset[str] | None = None
    dataset_types: frozenset[str] | None = None

    def __lt__(self, other: "CollectionInfo") -> bool:
        return self.name < other.name


class ResourcePath:
    """Where a dataset's file is: a local path, as the reference's ``ResourcePath``."""

    def __init__(self, path: str | os.PathLike):
        self.ospath = os.fspath(path)

    def geturl(self) -> str:
        """The ``file://`` URL."""
        return "file://" + self.ospath

    @property
    def path(self) -> str:
        """The path part of the URL."""
        return self.ospath

    def exists(self) -> bool:
        """Whether the file exists."""
        return os.path.exists(self.ospath)

    def read(self) -> bytes:
        """The file's bytes."""
        with open(self.ospath, "rb") as f:
            return f.read()

    def __str__(self) -> str:
        return self.geturl()

    def __repr__(self) -> str:
        return f"ResourcePath({self.geturl()!r})"

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))
