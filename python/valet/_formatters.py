"""Reading and writing in-memory objects for ``Butler.get`` and ``Butler.put``, with
the reference's general-purpose formatters: JSON, YAML, pickle, plain bytes and
text, and Parquet through pyarrow. Which formatter a storage class uses follows the
reference's default datastore configuration."""

from __future__ import annotations

import io
import json
import pickle
from typing import Any, Callable, NamedTuple

__all__ = ["formatter_for"]


class Formatter(NamedTuple):
    """How objects of a storage class become a file and back."""

    name: str
    extension: str
    write: Callable[[Any], bytes]
    read: Callable[[bytes], Any]


def _yaml_write(obj: Any) -> bytes:
    import yaml

    return yaml.safe_dump(obj, sort_keys=False).encode()


def _yaml_read(data: bytes) -> Any:
    import yaml

    return yaml.safe_load(data)


def _parquet_write(obj: Any) -> bytes:
    import pyarrow
    import pyarrow.parquet

    table = obj if isinstance(obj, pyarrow.Table) else pyarrow.table(obj)
    sink = io.BytesIO()
    pyarrow.parquet.write_table(table, sink)
    return sink.getvalue()


def _parquet_read(data: bytes) -> Any:
    import pyarrow.parquet

    return pyarrow.parquet.read_table(io.BytesIO(data))


def _text_write(obj: Any) -> bytes:
    if not isinstance(obj, str):
        raise TypeError(f"a text dataset takes a str, not {type(obj).__name__}")
    return obj.encode()


def _bytes_write(obj: Any) -> bytes:
    if not isinstance(obj, (bytes, bytearray, memoryview)):
        raise TypeError(f"a bytes dataset takes bytes, not {type(obj).__name__}")
    return bytes(obj)


_JSON = Formatter(
    "lsst.daf.butler.formatters.json.JsonFormatter",
    "json",
    lambda obj: json.dumps(obj).encode(),
    json.loads,
)
_YAML = Formatter("lsst.daf.butler.formatters.yaml.YamlFormatter", "yaml", _yaml_write, _yaml_read)
_PICKLE = Formatter(
    "lsst.daf.butler.formatters.pickle.PickleFormatter", "pickle", pickle.dumps, pickle.loads
)
_PARQUET = Formatter(
    "lsst.daf.butler.formatters.parquet.ParquetFormatter", "parq", _parquet_write, _parquet_read
)
_TEXT = Formatter("valet.formatters.TextFormatter", "txt", _text_write, bytes.decode)
_BYTES = Formatter("valet.formatters.BytesFormatter", "bin", _bytes_write, bytes)

# Storage class -> formatter, as the reference's datastore configuration has them
# for the formatters above.
_BY_STORAGE_CLASS = {
    "int": _JSON,
    "TaskMetadata": _JSON,
    "StructuredDataDict": _YAML,
    "StructuredDataList": _YAML,
    "StructuredData": _YAML,
    "ExposureSummaryStats": _YAML,
    "SkyMap": _PICKLE,
    "NumpyArray": _PICKLE,
    "FocalPlaneBackground": _PICKLE,
    "DataFrame": _PARQUET,
    "ArrowTable": _PARQUET,
    "ArrowAstropy": _PARQUET,
    "ArrowNumpy": _PARQUET,
    "ArrowNumpyDict": _PARQUET,
    "StructuredDataDictJson": _JSON,
    "Json": _JSON,
    "Pickle": _PICKLE,
    "Text": _TEXT,
    "str": _TEXT,
    "Bytes": _BYTES,
    "bytes": _BYTES,
}

# What the reference uses for storage classes it has that valet cannot write.
_REFERENCE_FORMATTERS = {
    "ExposureF": "lsst.obs.base.formatters.fitsExposure.FitsExposureFormatter",
    "Exposure": "lsst.obs.base.formatters.fitsExposure.FitsExposureFormatter",
    "ImageF": "lsst.obs.base.formatters.fitsExposure.FitsImageFormatter",
    "SourceCatalog": "lsst.obs.base.formatters.fitsGeneric.FitsGenericFormatter",
    "Config": "lsst.pipe.base.formatters.pexConfig.PexConfigFormatter",
    "Plot": "lsst.daf.butler.formatters.matplotlib.MatplotlibFormatter",
}


def formatter_for(storage_class: str) -> Formatter:
    """The formatter of a storage class; a clear error when valet has none."""
    try:
        return _BY_STORAGE_CLASS[storage_class]
    except KeyError:
        needed = _REFERENCE_FORMATTERS.get(storage_class, "a formatter valet does not provide")
        raise NotImplementedError(
            f"storage class {storage_class!r} is read and written by {needed}; valet's "
            "Python package reads and writes JSON, YAML, pickle, text, bytes and Parquet only"
        ) from None
