"""Reading a NAPs file (:meth:`NAPs.save`'s ``.npz``) defensively: never unpickle, name what is wrong.

A NAPs file is a NumPy ``.npz`` archive of plain arrays plus a JSON ``meta`` string. Anything else (a pickle,
a foreign archive, a truncated download, arrays of Python objects, arrays of the wrong length) raises
:class:`~napwidget.errors.NapInputError` naming the file and what was expected, instead of numpy's or
zipfile's message about its internals.

Example
-------
>>> import tempfile, pathlib
>>> bad = pathlib.Path(tempfile.mkdtemp()) / "notes.npz"
>>> _ = bad.write_text("hello")
>>> read_naps_file(bad)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
napwidget.errors.NapInputError: .../notes.npz is not a NAPs file: it is not a NumPy .npz archive...
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from napwidget.errors import NapInputError

__all__ = ["FORMAT_VERSION", "REQUIRED", "read_naps_file"]

FORMAT_VERSION = 1
REQUIRED = ("meta", "labels", "probabilities", "outlier_scores", "persistence", "stability", "features")
OPTIONAL = ("input_labels", "predictions")
_FIX = "pass a file written by NAPs.save (e.g. find_naps(...).save('naps.npz')), or recompute the NAPs"
# what a damaged archive raises while numpy reads it
_READ_ERRORS = (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


def _fail(path: Path, problem: str) -> NapInputError:
    return NapInputError(f"{path} is not a NAPs file: {problem}", _FIX)


def _open(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"no NAPs file at {path}")
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError:  # numpy refuses pickles, and anything that is neither .npy nor .npz looks like one
        problem = "it is not a NumPy .npz archive (it may be a pickle, which is never loaded)"
        raise _fail(path, problem) from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise _fail(path, f"it cannot be read as a .npz archive ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise _fail(path, "it holds a single array (.npy), not a .npz archive of NAPs")
    return data


def _read_arrays(path: Path, data: Any) -> dict[str, np.ndarray]:
    missing = [k for k in REQUIRED if k not in data.files]
    if missing:
        raise _fail(path, f"it lacks {', '.join(missing)} (it holds {', '.join(data.files) or 'nothing'})")
    arrays = {}
    for key in (*REQUIRED, *(k for k in OPTIONAL if k in data.files)):
        try:
            arrays[key] = data[key]
        except ValueError as exc:
            if "allow_pickle" in str(exc):  # object arrays need pickle, which stays off
                problem = f"its {key!r} entry holds Python objects (pickled data is never loaded)"
                raise _fail(path, problem) from None
            raise _fail(path, f"its {key!r} entry is damaged ({exc})") from None
        except _READ_ERRORS as exc:
            raise _fail(path, f"its {key!r} entry is damaged ({type(exc).__name__}: {exc})") from None
    return arrays


def _read_meta(path: Path, raw: np.ndarray) -> dict[str, Any]:
    try:
        meta = json.loads(str(raw))
    except ValueError:
        raise _fail(path, "its 'meta' entry is not JSON") from None
    if not isinstance(meta, dict):
        raise _fail(path, "its 'meta' entry is not a JSON object")
    version = meta.get("version")
    if version != FORMAT_VERSION:
        raise NapInputError(
            f"{path} is a NAPs file of format version {version!r}; "
            f"this napwidget reads version {FORMAT_VERSION}",
            "load it with the napwidget version that wrote it, or recompute the NAPs",
        )
    return meta


def _check_shapes(path: Path, a: dict[str, np.ndarray]) -> None:
    labels, features = a["labels"], a["features"]
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise _fail(path, f"'labels' should be a 1-D integer array, got {labels.dtype} {labels.shape}")
    if features.ndim != 2 or not np.issubdtype(features.dtype, np.number):
        raise _fail(path, f"'features' should be (N, F) number array, not {features.dtype} {features.shape}")
    n = len(labels)
    for key in ("probabilities", "outlier_scores", "features", *(k for k in OPTIONAL if k in a)):
        if a[key].shape[:1] != (n,):
            rows = a[key].shape[0] if a[key].ndim else 0
            raise _fail(path, f"'{key}' has {rows} rows but 'labels' has {n}")
    k = int(labels.max()) + 1 if n and labels.max() >= 0 else 0
    if a["persistence"].ndim != 1 or len(a["persistence"]) < k:
        raise _fail(path, f"'persistence' has {a['persistence'].size} values for {k} NAPs")


def read_naps_file(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(meta, arrays) of a file written by :meth:`NAPs.save`, checked; never unpickles.

    Raises
    ------
    FileNotFoundError when there is no file; :class:`NapInputError` when it is not a (readable) NAPs file.
    """
    path = Path(path)
    with _open(path) as data:
        arrays = _read_arrays(path, data)
    meta = _read_meta(path, arrays.pop("meta"))
    _check_shapes(path, arrays)
    return meta, arrays
