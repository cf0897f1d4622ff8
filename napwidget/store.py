"""A zarr store of activations, written one chunk (= one batch of inputs) at a time.

Layout of ``acts.zarr/``::

    zarr.json            group; attrs["napwidget"] = the manifest (model and input fingerprints, layers,
                         reduction, rows, rows per chunk, layer output shapes)
    layers/<layer>       (N, F) float32, one zarr chunk per batch
    outputs              (N, K) float32 model outputs (logits), same chunking
    targets              (N,) labels a DataLoader yielded, when numeric
    checksums            (n_chunks, n_arrays) uint64: CRC-32 of each array's rows of each chunk, written after
                         those rows; 0 = chunk not finished

A chunk counts as finished only when its checksum row is present and matches the data, so a run that stopped
in the middle of a write (KeyboardInterrupt, killed worker, full disk), or a chunk file that was altered
later, is recomputed by the next run instead of being read.
"""

from __future__ import annotations

import errno
import os
import sys
import zlib
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from napwidget.errors import NapInputError

FORMAT = "napwidget-activations"
VERSION = 1
_PRESENT = np.uint64(1 << 32)  # set in every finished entry, so a CRC of 0 still reads as "finished"
_ABSENT = np.uint64(1 << 33)  # this chunk has no such array (e.g. no targets)
_IDENTITY = ("format", "version", "model", "inputs", "layers", "reduce", "n", "chunk_rows", "autocast")


def _zarr():
    try:
        import zarr
    except ImportError:  # pragma: no cover - depends on the install
        raise NapInputError(
            "extract(store=...) and open_activations need the zarr package",
            "pip install 'napwidget[scale]'",
        ) from None
    return zarr


def crc(block: np.ndarray) -> np.uint64:
    """Finished-entry checksum of one array's rows of one chunk."""
    return np.uint64(zlib.crc32(memoryview(np.ascontiguousarray(block)).cast("B"))) | _PRESENT


def array_names(layers: Iterable[str]) -> list[str]:
    """Store paths of every array a chunk writes, in checksum-column order."""
    return [f"layers/{name}" for name in layers] + ["outputs", "targets"]


class ActivationStore:
    """Open or create a store; write chunks; tell which chunks are finished and valid.

    Example
    -------
    >>> import tempfile
    >>> m = {"model": "m", "inputs": None, "layers": ["fc1"], "reduce": "mean", "n": 3, "chunk_rows": 2}
    >>> st = ActivationStore.create_or_open(tempfile.mkdtemp() + "/a.zarr", m)
    >>> st.write_chunk(0, {"fc1": np.ones((2, 4), np.float32)}, None, None)
    >>> st.finished()
    [0]
    """

    def __init__(self, path: str | os.PathLike, group: Any, manifest: dict[str, Any]) -> None:
        self.path = Path(path)
        self.group = group
        self.manifest = manifest
        self.layers: list[str] = list(manifest["layers"])
        self.n = int(manifest["n"])
        self.chunk_rows = int(manifest["chunk_rows"])
        self.n_chunks = -(-self.n // self.chunk_rows)
        self.arrays = array_names(self.layers)
        self._handles: dict[str, Any] = {}

    # -- opening ---------------------------------------------------------------------------------------------
    @classmethod
    def create_or_open(cls, path: str | os.PathLike, manifest: Mapping[str, Any]) -> ActivationStore:
        """The store at ``path`` for this manifest: created when absent, checked against it when present."""
        zarr = _zarr()
        want = {
            "format": FORMAT,
            "version": VERSION,
            **manifest,
            "shapes": dict(manifest.get("shapes") or {}),
        }
        path = Path(path)
        if (path / "zarr.json").exists():
            store = cls.open(path)
            _check_same(store.manifest, want, path)
            return store
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise NapInputError(
                f"{path} exists and is not a napwidget activation store",
                "pass a new path (e.g. 'acts.zarr') or an empty directory",
            )
        try:
            path.mkdir(parents=True, exist_ok=True)
            group = zarr.open_group(str(path), mode="w")
            group.attrs["napwidget"] = want
            n_chunks = -(-int(want["n"]) // int(want["chunk_rows"]))
            n_arrays = len(array_names(want["layers"]))
            group.create_array(
                "checksums",
                shape=(n_chunks, n_arrays),
                chunks=(1, n_arrays),
                dtype="uint64",
                fill_value=0,
                compressors=None,
            )
        except OSError as exc:
            raise NapInputError(
                f"cannot create the activation store at {path}: {exc.strerror or exc}",
                "pass a path in a writable directory with free space",
            ) from exc
        return cls(path, group, want)

    @classmethod
    def open(cls, path: str | os.PathLike) -> ActivationStore:
        """An existing store (read or resume)."""
        zarr = _zarr()
        path = Path(path)
        if not (path / "zarr.json").exists():
            raise NapInputError(
                f"no activation store at {path}",
                "write one with napwidget.extract(model, inputs, layers, store=path)",
            )
        group = zarr.open_group(str(path), mode="r+" if os.access(path, os.W_OK) else "r")
        manifest = dict(group.attrs.get("napwidget") or {})
        if manifest.get("format") != FORMAT:
            raise NapInputError(
                f"{path} is a zarr store but not one written by napwidget.extract (no manifest)",
                "open a store written by napwidget.extract(..., store=path)",
            )
        if manifest.get("version") != VERSION:
            raise NapInputError(
                f"{path} has store format version {manifest.get('version')}, this napwidget reads {VERSION}",
                "re-extract into a new path with this napwidget version",
            )
        return cls(path, group, manifest)

    # -- chunk bookkeeping -----------------------------------------------------------------------------------
    def rows(self, i: int) -> tuple[int, int]:
        return i * self.chunk_rows, min((i + 1) * self.chunk_rows, self.n)

    def has(self, name: str) -> bool:
        """Whether array ``name`` exists yet (created with the first chunk that has it)."""
        return self.array(name) is not None

    def array(self, name: str) -> Any:
        """The zarr array ``name``, or None; handles are kept (each lookup otherwise re-reads metadata)."""
        if name not in self._handles:
            if name not in self.group:
                return None
            self._handles[name] = self.group[name]
        return self._handles[name]

    def _checksums(self) -> np.ndarray:
        """(n_chunks, n_arrays) checksum table; a row that is missing or damaged reads as 0 (unfinished)."""
        arr = self.array("checksums")
        out = np.zeros((self.n_chunks, len(self.arrays)), np.uint64)
        raw = _raw_chunk_reader(arr)
        if raw is None:
            try:
                return np.asarray(arr[:])
            except Exception:  # noqa: BLE001 - a damaged checksum file: treat every chunk as unfinished
                return out
        for i in range(self.n_chunks):  # one tiny file per chunk: zarr's per-chunk overhead would dominate
            if not raw(i, out[i : i + 1]):
                out[i] = 0
        return out

    def finished(self, verify: bool = False) -> list[int]:
        """Indices of finished chunks; with ``verify``, only those whose data still match their checksums."""
        sums = self._checksums()
        done = [i for i in range(self.n_chunks) if np.all(sums[i] != 0)]
        if not verify or not done:
            return done
        bad = set(self.corrupt_chunks(done, sums))
        return [i for i in done if i not in bad]

    def corrupt_chunks(self, chunks: list[int], sums: np.ndarray | None = None) -> list[int]:
        """Of ``chunks``, those whose stored rows do not match their checksums (or cannot be read)."""
        sums = self._checksums() if sums is None else sums
        bad: set[int] = set()
        for col, name in enumerate(self.arrays):
            arr = self.array(name)
            if arr is None:
                bad.update(i for i in chunks if sums[i, col] != _ABSENT)
                continue
            for i in chunks:
                if i in bad:
                    continue
                if sums[i, col] == _ABSENT:
                    continue  # the array exists for other chunks; this chunk wrote nothing there
                a, b = self.rows(i)
                try:
                    ok = crc(np.asarray(arr[a:b])) == sums[i, col]
                except Exception:  # noqa: BLE001 - undecodable chunk bytes: recompute the chunk
                    ok = False
                if not ok:
                    bad.add(i)
        return sorted(bad)

    def missing(self) -> list[int]:
        """Chunks still to compute: never finished, or finished but corrupt since (checked with the CRCs)."""
        done = set(self.finished(verify=True))
        return [i for i in range(self.n_chunks) if i not in done]

    # -- writing ---------------------------------------------------------------------------------------------
    def write_chunk(
        self,
        i: int,
        layers: Mapping[str, np.ndarray],
        outputs: np.ndarray | None,
        targets: np.ndarray | None,
        shapes: Mapping[str, tuple[int, ...]] | None = None,
    ) -> None:
        """Write chunk ``i``'s rows of every array, then its checksums (the chunk counts only after those)."""
        a, b = self.rows(i)
        blocks: dict[str, np.ndarray | None] = {
            f"layers/{k}": np.asarray(v, np.float32) for k, v in layers.items()
        }
        blocks["outputs"] = None if outputs is None else np.asarray(outputs, np.float32)
        blocks["targets"] = None if targets is None else np.asarray(targets)
        sums = np.empty(len(self.arrays), np.uint64)
        try:
            for col, name in enumerate(self.arrays):
                block = blocks.get(name)
                if block is None:
                    sums[col] = _ABSENT
                    continue
                self._check_rows(name, block, i, b - a)
                self._array_for(name, block)[a:b] = block
                sums[col] = crc(block)
            if shapes and not self.manifest.get("shapes"):
                self.manifest["shapes"] = {k: list(v) for k, v in shapes.items()}
                self.group.attrs["napwidget"] = self.manifest
            self.array("checksums")[i : i + 1] = sums[None]
        except OSError as exc:
            raise self._write_error(i, exc) from exc

    def _check_rows(self, name: str, block: np.ndarray, i: int, rows: int) -> None:
        if block.shape[0] != rows:
            raise NapInputError(
                f"chunk {i} of {name!r} has {block.shape[0]} rows, expected {rows}",
                "yield batches of the store's chunk size "
                "(a DataLoader with a fixed batch_size, shuffle=False)",
            )
        if self.has(name):
            have = self.array(name).shape[1:]
            if tuple(block.shape[1:]) != tuple(have):
                raise NapInputError(
                    f"chunk {i} of {name!r} has per-input shape {tuple(block.shape[1:])} but earlier chunks "
                    f"have {tuple(have)}",
                    "give every input the same shape (pad or resize them), "
                    "or use reduce='mean' for conv maps",
                )

    def _array_for(self, name: str, block: np.ndarray) -> Any:
        if self.has(name):
            return self.array(name)
        dtype = np.dtype(np.float32) if name != "targets" else block.dtype
        if dtype.kind not in "biuf":
            raise NapInputError(f"targets of dtype {dtype} cannot be stored", "yield numeric targets")
        # Uncompressed: activations are dense floats that compress poorly, and raw chunks read back at disk
        # speed.
        self._handles[name] = self.group.create_array(
            name,
            shape=(self.n, *block.shape[1:]),
            chunks=(self.chunk_rows, *block.shape[1:]),
            dtype=dtype,
            fill_value=0,
            compressors=None,
        )
        return self._handles[name]

    def _write_error(self, i: int, exc: OSError) -> OSError:
        done = len(self.finished())
        reason = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        return OSError(
            exc.errno,
            f"could not write chunk {i} of the activation store {self.path}: {reason}. {done} of "
            f"{self.n_chunks} chunks are finished and kept. Fix: free disk space (or make the path writable) "
            "and rerun the same extract(..., store=...) call: it resumes from the finished chunks",
        )

    # -- reading ---------------------------------------------------------------------------------------------
    def read(self, name: str, verify: bool = True) -> np.ndarray | None:
        """The whole array ``name`` (a store path from :func:`array_names`), checked chunk by chunk."""
        arr = self.array(name)
        if arr is None:
            return None
        out = np.empty(arr.shape, arr.dtype)
        sums = self._checksums()[:, self.arrays.index(name)]
        raw = _raw_chunk_reader(arr)

        def load(i: int) -> None:
            a, b = self.rows(i)
            intact = True
            if raw is None:
                out[a:b] = arr[a:b]
            else:
                intact = raw(i, out[a:b])
            if verify:
                self._verify_block(name, i, out[a:b], sums[i], intact)

        # Reading, CRC and NaN checks release the GIL: a few threads keep the disk and the cores busy.
        with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) + 2)) as pool:
            list(pool.map(load, range(self.n_chunks)))
        return out

    def _verify_block(self, name: str, i: int, block: np.ndarray, expected: np.uint64, intact: bool) -> None:
        """Raise if chunk ``i`` of ``name`` is unwritten, fails its checksum, or holds NaN/inf."""
        a, b = self.rows(i)
        if expected == _ABSENT:
            return
        if expected == 0 or not intact or crc(block) != expected:
            raise NapInputError(
                f"chunk {i} (rows {a}-{b - 1}) of {name!r} in {self.path} is "
                + ("not written yet" if expected == 0 else "corrupt (its checksum does not match)"),
                "rerun the extract(..., store=...) call that wrote the store: it recomputes that chunk",
            )
        if block.dtype.kind == "f" and not np.isfinite(block).all():
            rows = a + np.flatnonzero(~np.isfinite(block.reshape(len(block), -1)).all(axis=1))
            raise NapInputError(
                f"chunk {i} of {name!r} in {self.path} holds NaN/inf in {len(rows)} rows (first: row "
                f"{int(rows[0])})",
                "check the model and those inputs (e.g. un-normalised inputs or float16 overflow), then "
                "extract again into a new store",
            )


def _raw_chunk_reader(arr: Any) -> Any:
    """For an uncompressed array in a local directory store: ``read(i, block) -> intact`` that reads chunk
    ``i`` straight from its file into a preallocated block, bypassing zarr's per-chunk machinery (several
    times faster for thousands of small chunks). None for any other layout; then zarr reads it."""
    try:
        from zarr.codecs import BytesCodec
        from zarr.storage import LocalStore

        plain = not arr.compressors and not arr.filters and isinstance(arr.serializer, BytesCodec)
        little = arr.dtype.itemsize == 1 or str(getattr(arr.serializer.endian, "value", "")) == sys.byteorder
        if not (plain and little and isinstance(arr.store, LocalStore)):
            return None
        root = Path(arr.store.root) / arr.path
    except (AttributeError, ImportError, TypeError):
        return None
    tail = (0,) * (arr.ndim - 1)

    def read_chunk(i: int, block: np.ndarray) -> bool:
        # A chunk file holds the whole chunk (zarr pads the last one), so it is at least as long as the block.
        path = root / arr.metadata.encode_chunk_key((i, *tail))
        try:
            with open(path, "rb") as f:
                return f.readinto(memoryview(block).cast("B")) == block.nbytes
        except FileNotFoundError:  # zarr does not store chunks equal to the fill value (all zeros)
            block[...] = 0
            return True

    return read_chunk


def _check_same(have: Mapping[str, Any], want: Mapping[str, Any], path: Path) -> None:
    """A resumed store must have been written by the same model, inputs, layers and settings."""
    what = {
        "model": ("another model (different weights or class)", "the model that wrote it"),
        "layers": ("another set of layers", f"layers={list(have.get('layers') or [])}"),
        "inputs": (_other_inputs(have, want), "the same inputs"),
        "reduce": (f"reduce={have.get('reduce')!r}", f"reduce={have.get('reduce')!r}"),
        "n": (f"{have.get('n')} inputs", "the same inputs"),
        "chunk_rows": (f"batch_size={have.get('chunk_rows')}", f"batch_size={have.get('chunk_rows')}"),
        "autocast": (f"autocast={have.get('autocast')}", f"autocast={have.get('autocast')}"),
    }
    for key in _IDENTITY:
        if key in ("format", "version"):
            continue
        if key == "inputs" and (have.get(key) is None or want.get(key) is None):
            # stores written before Datasets were fingerprinted by a sample: the row count is checked instead
            continue
        if have.get(key) != want.get(key):
            problem, same = what[key]
            raise NapInputError(
                f"the store {path} was written with {problem}, not by this call",
                f"pass a new store path, or delete {path} to recompute, "
                f"or call extract with {same} to resume it",
            )


def _other_inputs(have: Mapping[str, Any], want: Mapping[str, Any]) -> str:
    """'other inputs', saying which (the store's and this call's) and, for a Dataset, what was compared."""
    text = "other inputs"
    if have.get("input_kind") and want.get("input_kind"):
        text += f" (the store: {have['input_kind']}; this call: {want['input_kind']})"
    if str(want.get("inputs")).startswith("sample:"):
        text += (
            "; their first and last batches differ (a Dataset whose items change between reads, e.g. random "
            "transforms, needs cache_key='...' to name it)"
        )
    return text
