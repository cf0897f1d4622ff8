"""When are a model's outputs class scores? One rule for predictions (explorer) and logit bands (mid-range).

Outputs are read as class scores only when their width equals the number of classes the user gave:
``len(class_names)``, or else the label range ``max(labels) + 1`` for integer labels ``0..K-1``. An
embedding (a sentence encoder's 384-wide vector), a regression head (1 wide) or outputs whose classes are
unknown are never turned into predicted classes or banded as logits.

Example
-------
>>> n_classes(["cat", "dog"], None), n_classes(None, np.array([0, 2, 1]))
(2, 3)
>>> class_score_problem(384, 15)
'outputs are 384-wide, not scores for 15 classes'
>>> class_score_problem(15, 15) is None
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def n_classes(class_names: Sequence[Any] | None, labels: Any = None) -> int | None:
    """The number of classes: ``len(class_names)``, else ``max(labels) + 1`` for labels that are integers
    ``>= 0``; None when neither tells (no class names, and no labels or labels that are names)."""
    if class_names is not None:
        return len(class_names)
    if labels is None:
        return None
    arr = np.asarray(labels).reshape(-1)
    if arr.size == 0 or not np.issubdtype(arr.dtype, np.number) or arr.dtype == bool:
        return None
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)) or arr.min() < 0:
        return None
    return int(arr.max()) + 1


def class_score_problem(width: int, classes: int | None) -> str | None:
    """Why (N, ``width``) outputs are not scores for ``classes`` classes, or None when they are."""
    if classes is None:
        return f"outputs are {width}-wide and the classes are unknown (no class_names, no integer labels)"
    if width != classes or width < 2:
        return f"outputs are {width}-wide, not scores for {classes} classes"
    return None


def check_class_scores(width: int, classes: int | Sequence[Any] | None, what: str) -> None:
    """Raise :class:`NapInputError` when (N, ``width``) outputs are not scores for ``classes`` (a count or the
    class names; None = unknown, not checked). ``what`` names the caller, e.g. ``"logit_bands"``.

    Example
    -------
    >>> try:
    ...     check_class_scores(384, 15, "logit_bands")
    ... except ValueError as e:
    ...     print(e.problem)
    logit_bands reads class logits, but outputs are 384-wide, not scores for 15 classes
    """
    from napwidget.errors import NapInputError

    if classes is None:
        return
    k = classes if isinstance(classes, (int, np.integer)) else len(classes)
    problem = class_score_problem(int(width), int(k))
    if problem is not None:
        raise NapInputError(
            f"{what} reads class logits, but {problem}",
            "pass the classifier's logits (one column per class, e.g. outputs=logits), "
            "or class names matching them; an embedding or regression output has no class logits to band",
        )
