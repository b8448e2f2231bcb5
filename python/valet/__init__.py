"""valet: a Butler-style data registry engine, with the reference Butler's Python API.

>>> from valet import Butler
>>> butler = Butler("REPO", collections=["HSC/defaults"])
>>> ref = butler.find_dataset("calexp", instrument="HSC", visit=1228, detector=40)
"""

from ._butler import Butler, ButlerCollections, DatasetIdGenEnum, Registry
from ._exceptions import *  # noqa: F401,F403
from ._exceptions import __all__ as _exception_names
from ._types import CollectionInfo, CollectionType, FileDataset, ResourcePath, Timespan
from ._valet import DataCoordinate, DatasetRef, DatasetType, DimensionGroup

__all__ = [
    "Butler",
    "ButlerCollections",
    "CollectionInfo",
    "CollectionType",
    "DataCoordinate",
    "DatasetIdGenEnum",
    "DatasetRef",
    "DatasetType",
    "DimensionGroup",
    "FileDataset",
    "Registry",
    "ResourcePath",
    "Timespan",
    *_exception_names,
]
