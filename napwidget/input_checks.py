"""Checks of the per-input arguments a widget is built from, run where they enter (the constructors).

Every per-input argument (images, labels, predictions, outputs, groups) must describe the same N inputs as
the activations, and integer labels / predictions must index ``class_names``. A mismatch found later shows
up far from its cause (an IndexError inside a view); found here, it names the argument, its length and N.

Example
-------
>>> check_widget_inputs(3, labels=[0, 1, 1], class_names=["cat", "dog"])
>>> check_widget_inputs(3, images=np.zeros((2, 1, 8, 8)))
Traceback (most recent call last):
...
napwidget.errors.NapInputError: images have 2 entries but there are 3 inputs. Fix: pass one image per input \
(the same inputs, in the same order, as the activations).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from napwidget.errors import NapInputError

__all__ = ["check_class_names", "check_widget_inputs", "input_count", "length_of"]

# argument name -> (what one entry of it is, how its length is counted), for the message
_ONE = {
    "images": ("image", "have {m} entries"),
    "labels": ("label", "have {m} entries"),
    "predictions": ("prediction", "have {m} entries"),
    "outputs": ("row of logits", "have {m} rows"),
    "groups": ("group label", "have {m} entries"),
    "renderer": ("item", "renders {m} items"),
}


def length_of(value: Any) -> int | None:
    """Number of entries of a per-input argument (first axis of arrays and tensors), None when unknown.

    Example
    -------
    >>> length_of(np.zeros((4, 3))), length_of(["a", "b"]), length_of(iter([]))
    (4, 2, None)
    """
    n = getattr(value, "n", None)  # an ItemRenderer
    if hasattr(value, "render") and hasattr(value, "kind"):
        return None if n is None else int(n)
    shape = getattr(value, "shape", None)
    if shape is not None and not callable(shape):
        return int(shape[0]) if len(shape) else None
    try:
        return len(value)
    except TypeError:
        return None


def input_count(inputs: Any) -> int | None:
    """N for model inputs whose size is known without running the model, else None (checked after extraction).

    Arrays and tensors give their first axis, a Dataset its length, a mapping of equally long tensors (a
    tokenizer's output) the length of its first value. DataLoaders count batches, not inputs, and plain
    tuples / lists are ambiguous (one input per entry, or several model arguments): None.

    Example
    -------
    >>> input_count(np.zeros((5, 3))), input_count({"input_ids": np.zeros((4, 7))}), input_count((1, 2))
    (5, 4, None)
    """
    if hasattr(inputs, "batch_size") and hasattr(inputs, "dataset"):
        return None
    if isinstance(inputs, Mapping):
        first = next(iter(inputs.values()), None)
        return None if first is None else length_of(first)
    if isinstance(inputs, (str, bytes, tuple, list)):
        return None
    return length_of(inputs)


def _check_length(name: str, value: Any, n: int) -> None:
    if value is None:
        return
    m = length_of(value)
    if m is not None and m != n:
        one, count = _ONE[name]
        raise NapInputError(
            f"{name} {count.format(m=m)} but there are {n} inputs",
            f"pass one {one} per input (the same inputs, in the same order, as the activations)",
        )


def _as_array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def check_class_names(class_names: Sequence[Any] | None, **per_input: Any) -> None:
    """Integer labels / predictions must index ``class_names`` (``class_names[label]`` is the label's name).

    Example
    -------
    >>> check_class_names(["a", "b"], labels=[0, 2])
    Traceback (most recent call last):
    ...
    napwidget.errors.NapInputError: labels go up to 2 but class_names has 2 names (for 0..1). Fix: pass one \
name per class, class_names[label] being the name of label.
    """
    if class_names is None:
        return
    if isinstance(class_names, (str, bytes)):
        raise NapInputError(
            f"class_names is one string ({class_names!r})",
            "pass a list of names, one per class: ['cat', 'dog']",
        )
    k = len(class_names)
    for name, value in per_input.items():
        if value is None:
            continue
        arr = _as_array(value)
        if arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
            continue  # string labels name themselves
        top = int(arr.max())
        if top >= k:
            raise NapInputError(
                f"{name} go up to {top} but class_names has {k} names (for 0..{k - 1})",
                "pass one name per class, class_names[label] being the name of label",
            )


def check_widget_inputs(
    n: int,
    *,
    images: Any = None,
    renderer: Any = None,
    labels: Any = None,
    predictions: Any = None,
    class_names: Sequence[Any] | None = None,
    outputs: Any = None,
    groups: Any = None,
) -> None:
    """Check every per-input argument of a widget against ``n`` inputs; raise :class:`NapInputError`.

    ``renderer`` is checked when it knows its item count (``renderer.n``).
    """
    for name, value in (
        ("images", images),
        ("renderer", renderer),
        ("labels", labels),
        ("predictions", predictions),
        ("outputs", outputs),
        ("groups", groups),
    ):
        _check_length(name, value, n)
    check_class_names(class_names, labels=labels, predictions=predictions)
