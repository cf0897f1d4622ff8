"""Turn any supported input (Tensor, array, dict / tuple of them, Dataset, DataLoader) into (x, y) batches.

``x`` is what the model is called with (:func:`call_model`): a tensor (``model(x)``), a mapping of keyword
arguments (``model(**x)``, e.g. what a Hugging Face tokenizer returns) or a tuple of positional arguments
(``model(*x)``). A background thread prepares the next batch while the model runs on the current one, so data
loading overlaps with compute (torch releases the GIL inside ops).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from napwidget.errors import NapInputError


class _Batches:
    """Re-iterable batches with a length, so progress bars know the total."""

    def __init__(self, make_iter, length: int | None) -> None:
        self._make_iter = make_iter
        self._length = length

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        return _prefetch(self._make_iter())

    def __len__(self) -> int:
        return self._length or 0


#: keys of a mapping batch that hold targets, not model arguments: they go to ``acts.targets`` (a model
#: given ``labels`` would also compute a loss, and a loss is not an activation)
TARGET_KEYS = ("labels", "label")


def _split_mapping(batch: Mapping) -> tuple[dict[str, Any], Any]:
    x = {str(k): v for k, v in batch.items() if k not in TARGET_KEYS}
    y = next((batch[k] for k in TARGET_KEYS if k in batch), None)
    return x, y


def _split_xy(batch: Any) -> tuple[Any, Any]:
    """A DataLoader item: a mapping (model kwargs, ``labels`` popped as y), ``(x, y, ...)`` or ``x``."""
    if isinstance(batch, Mapping):
        return _split_mapping(batch)
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return batch[0], batch[1]
    if isinstance(batch, (tuple, list)) and len(batch) == 1:
        return batch[0], None
    return batch, None


def _as_tensor(name: str, value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    try:
        arr = np.asarray(value)
    except ValueError:  # ragged nested lists
        arr = np.empty(0, dtype=object)
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise NapInputError(
            f"input {name} is not a numeric array (dtype {arr.dtype}, e.g. ragged token lists or strings)",
            "pad and convert it first, e.g. tokenizer(texts, padding=True, return_tensors='pt')",
        )
    return torch.from_numpy(np.ascontiguousarray(arr))


class MultiInput:
    """A dict or tuple of equally long tensors/arrays (model arguments), cut into rows together.

    A mapping's ``labels``/``label`` entry is kept apart as the targets. Checked once here: numeric values,
    equal lengths, at least one row.

    Example
    -------
    >>> cols = MultiInput({"input_ids": np.zeros((3, 4)), "labels": np.arange(3)})
    >>> x, y = cols.rows(1, 3)
    >>> cols.n, sorted(x), y.tolist()
    (3, ['input_ids'], [1, 2])
    """

    def __init__(self, inputs: Mapping | tuple) -> None:
        self.mapping = isinstance(inputs, Mapping)
        if self.mapping:
            x_all, y_all = _split_mapping(inputs)
            named = {k: _as_tensor(repr(k), v) for k, v in x_all.items()}
        else:
            y_all = None
            named = {f"#{i}": _as_tensor(f"#{i}", v) for i, v in enumerate(inputs)}
        if not named:
            raise NapInputError(
                "the input mapping/tuple is empty", "pass e.g. {'input_ids': ids, 'attention_mask': mask}"
            )
        lengths = {k: (int(v.shape[0]) if v.dim() else 0) for k, v in named.items()}
        if len(set(lengths.values())) != 1:
            raise NapInputError(
                f"the inputs have different lengths {lengths}",
                "pass tensors/arrays with one row per input each",
            )
        self.n = next(iter(lengths.values()))
        if self.n == 0:
            raise NapInputError(f"inputs have lengths {lengths} (no samples)", "pass at least one input")
        self.keys = list(named)
        self.values: list[Any] = list(named.values())
        self.y: Any = None if y_all is None else _as_tensor("labels", y_all)

    def rows(self, a: int, b: int) -> tuple[Any, Any]:
        """``(x, y)`` of rows ``a:b``: x a dict (mapping inputs) or a tuple of tensors; y targets or None."""
        parts = [_rows(v, a, b) for v in self.values]
        x = dict(zip(self.keys, parts)) if self.mapping else tuple(parts)
        return x, None if self.y is None else _rows(self.y, a, b)

    def portable(self) -> MultiInput:
        """A copy holding numpy arrays (zero-copy in Ray's object store); ``rows`` still gives tensors."""
        out = object.__new__(MultiInput)
        out.__dict__.update(self.__dict__)
        out.values = [_to_numpy(v) for v in self.values]
        out.y = None if self.y is None else _to_numpy(self.y)
        return out


def _rows(v: Any, a: int, b: int) -> torch.Tensor:
    return torch.from_numpy(np.array(v[a:b])) if isinstance(v, np.ndarray) else v[a:b]


def _to_numpy(v: Any) -> Any:
    if not isinstance(v, torch.Tensor):
        return v
    v = v.detach().cpu()
    return v if v.dtype == torch.bfloat16 else v.numpy()  # numpy has no bfloat16


def _multi_batches(inputs: Mapping | tuple, batch_size: int) -> _Batches:
    """A dict or tuple of equally long tensors/arrays, sliced together: for ``model(**x)``/``model(*x)``."""
    cols = MultiInput(inputs)
    return _Batches(
        lambda: (cols.rows(i, i + batch_size) for i in range(0, cols.n, batch_size)),
        -(-cols.n // batch_size),
    )


def is_multi_input(inputs: Any) -> bool:
    """A mapping (dict, ``BatchEncoding``) or tuple of per-input tensors/arrays: several model arguments."""
    if isinstance(inputs, Mapping):
        return True
    return (
        isinstance(inputs, tuple)
        and len(inputs) > 0
        and all(isinstance(v, (torch.Tensor, np.ndarray)) for v in inputs)
    )


def call_model(model: Any, x: Any) -> Any:
    """``model(**x)`` for a mapping, ``model(*x)`` for a tuple/list, else ``model(x)``.

    Example
    -------
    >>> call_model(lambda a, b: a + b, (1, 2)), call_model(lambda a, b=0: a - b, {"a": 5, "b": 2})
    (3, 3)
    """
    if isinstance(x, Mapping):
        return model(**x)
    if isinstance(x, (tuple, list)):
        return model(*x)
    return model(x)


def attention_mask(x: Any) -> torch.Tensor | None:
    """The (B, T) ``attention_mask`` (1 = real token, 0 = padding) when ``x`` is a mapping holding one."""
    if isinstance(x, Mapping):
        m = x.get("attention_mask")
        if isinstance(m, torch.Tensor) and m.dim() == 2:
            return m
    return None


def describe_batch(x: Any) -> Any:
    """Shapes of a batch for error messages: a shape, ``{key: shape}`` or a tuple of shapes."""
    if isinstance(x, torch.Tensor):
        return tuple(x.shape)
    if isinstance(x, Mapping):
        return {k: describe_batch(v) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return tuple(describe_batch(v) for v in x)
    return type(x).__name__


def iterate_batches(inputs: Any, batch_size: int) -> _Batches:
    """Batches of ``(x, y)``; ``y`` is None when the inputs carry no targets.

    ``inputs`` may be a tensor or array, a mapping or tuple of equally long tensors/arrays (sliced together;
    a mapping's ``labels``/``label`` become ``y``), a Dataset or a DataLoader. A DataLoader's items are
    ``x``, ``(x, y, ...)`` (x itself may be a dict or tuple) or a dict of model arguments (``labels`` -> y).

    Example
    -------
    >>> [x.shape[0] for x, _ in iterate_batches(np.zeros((5, 2), np.float32), 2)]
    [2, 2, 1]
    >>> enc = {"input_ids": np.zeros((3, 4)), "attention_mask": np.ones((3, 4))}
    >>> [sorted(x) for x, _ in iterate_batches(enc, 2)]
    [['attention_mask', 'input_ids'], ['attention_mask', 'input_ids']]
    """
    if is_multi_input(inputs):
        return _multi_batches(inputs, batch_size)
    if isinstance(inputs, np.ndarray):
        if inputs.dtype == object or inputs.dtype.kind in "USV":
            raise NapInputError(
                f"inputs are a numpy array of dtype {inputs.dtype}, not numbers",
                "tokenise/encode the data into a numeric array or tensor first",
            )
        inputs = torch.from_numpy(np.ascontiguousarray(inputs))
    if isinstance(inputs, torch.Tensor):
        if inputs.dim() == 0 or inputs.shape[0] == 0:
            raise NapInputError(
                f"inputs have shape {tuple(inputs.shape)} (no samples)", "pass at least one input"
            )
        n = inputs.shape[0]
        return _Batches(
            lambda: ((inputs[i : i + batch_size], None) for i in range(0, n, batch_size)), -(-n // batch_size)
        )
    if isinstance(inputs, DataLoader):
        try:
            length = len(inputs)
        except TypeError:
            length = None
        if length == 0:
            raise NapInputError("the DataLoader is empty", "pass a DataLoader over at least one input")
        return _Batches(lambda: (_split_xy(b) for b in inputs), length)
    if isinstance(inputs, Dataset):
        try:
            n = len(inputs)  # type: ignore[arg-type]
        except TypeError:
            n = None
        if n == 0:
            raise NapInputError("the Dataset is empty", "pass a Dataset with at least one item")
        loader = DataLoader(inputs, batch_size=batch_size, shuffle=False)
        return _Batches(lambda: (_split_xy(b) for b in loader), len(loader) if n is not None else None)
    if isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], str):
        raise NapInputError(
            "inputs are strings", "tokenise them first and pass token ids (a tensor or a DataLoader)"
        )
    raise NapInputError(
        f"inputs of type {type(inputs).__name__} are not supported",
        "pass a torch Tensor, a numpy array, a dict or tuple of them, a torch Dataset or a DataLoader",
    )


_END = object()


def _prefetch(source: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """Yield from ``source`` while a thread fetches up to ``depth`` items ahead; errors are re-raised here."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def worker() -> None:
        try:
            for item in source:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_END)
        except BaseException as exc:  # surface loader errors in the caller's thread
            q.put(exc)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
