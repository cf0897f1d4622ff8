"""The selection, owned by the kernel: which NAPs and which inputs are selected, under the label / prediction
filters (``filters``, :mod:`napwidget.views.detail`).

One state, kept here: the selected NAP ids and the selection's inputs before filtering (the NAPs' members,
most typical first, or inputs picked directly: a brush, Mapper nodes, a flow band, Python). The synced traits
are its outputs: ``selected_naps`` and ``selected_indices`` (the inputs that pass the filters). The front end
never writes them: it sends intents and renders what the kernel publishes.

Intents (custom messages from the front end, each answered ``{"type", "req"}`` once the traits changed, or
``{"type", "req", "error"}``):

- ``{"type": "select", "naps": [ids], "mode": "replace" | "add" | "toggle"}``: select NAPs (their members
  follow);
- ``{"type": "select", "count": n}`` with one binary buffer of n int32 input indices (or
  ``"indices": [...]``): select those inputs (the NAP selection is cleared);
- ``{"type": "filter", "filters": {"labels": [...], "predictions": [...]}}``: set the filters (the selection
  is re-filtered from its unfiltered inputs, so removing a filter brings inputs back).

From Python, assigning a trait is the same intent (``w.selected_naps = [3]``, ``w.selected_indices = [...]``);
so are :meth:`SelectionOwner.select_naps` and :meth:`SelectionOwner.select_inputs`. Ids that do not exist are
dropped, with the problem and its fix in ``error``; values that are not integer ids raise a ``TraitError``.
Large selections travel as int32 buffers (:mod:`napwidget.views.wire`); Python always sees lists.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import traitlets

from napwidget.errors import NapInputError
from napwidget.views.wire import ids_from_json, ids_to_json

SELECT_MODES = ("replace", "add", "toggle")


class IdList(traitlets.TraitType):
    """A list of integer ids; accepts any sequence of integers or a 1-D integer array (stored as a list)."""

    info_text = "a list of integer ids (a sequence of ints or a 1-D integer array)"

    def make_dynamic_default(self) -> list[int]:
        return []

    def validate(self, obj: Any, value: Any) -> list[int]:
        if isinstance(value, np.ndarray):
            if value.ndim == 1 and (value.dtype.kind in "iu" or value.size == 0):
                return value.astype(np.int64).tolist()
            self.error(obj, value, info=f"an array of dtype {value.dtype} and shape {value.shape}")
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
            self.error(obj, value)
        out = []
        for v in value:
            if isinstance(v, bool) or isinstance(v, float):
                self.error(obj, value, info=f"a sequence holding {v!r}")
            try:
                out.append(operator.index(v))
            except TypeError:
                self.error(obj, value, info=f"a sequence holding {v!r}")
        return out

    def error(self, obj: Any, value: Any, error: Any = None, info: str | None = None) -> None:
        name = self.name or "ids"
        got = info or f"{type(value).__name__} {value!r}"[:80]
        raise traitlets.TraitError(
            f"{name} must be a list of integer ids, got {got}. Fix: pass ints, e.g. [0, 5, 17] or a 1-D "
            "integer numpy array."
        )


class SelectionOwner(traitlets.HasTraits):
    """The selection traits and the one state behind them; mixed into NapWidget (call ``_init_selection()``
    before the views that observe the selection)."""

    selected_naps = IdList().tag(
        sync=True, view="core", state=True, to_json=ids_to_json, from_json=ids_from_json
    )
    selected_indices = IdList().tag(
        sync=True, view="core", state=True, to_json=ids_to_json, from_json=ids_from_json
    )

    def _init_selection(self) -> None:
        # the widget's lock when it has one (comm messages arrive in another thread than cells)
        self._lock = getattr(self, "_lock", None) or threading.RLock()
        self._sel_naps: list[int] = []
        self._sel_base: list[int] = []  # the selection's inputs before filtering (order kept)
        self._sel_shown: list[int] = []  # what selected_indices says: _sel_base under the filters
        self.observe(self._sel_on_naps, names=["selected_naps"])
        self.observe(self._sel_on_indices, names=["selected_indices"])

    # ---------------------------------------------------------------------------- python API
    def select_naps(self, naps: Iterable[int], mode: str = "replace") -> list[int]:
        """Select NAPs (``mode``: ``"replace"``, ``"add"`` or ``"toggle"`` them); their members, most typical
        first and filtered, become :attr:`selected_indices`. Returns the selected NAP ids.

        Example
        -------
        >>> w.select_naps([2]); w.select_naps([5], mode="add")  # doctest: +SKIP
        [2, 5]
        """
        if mode not in SELECT_MODES:
            raise NapInputError(f"unknown selection mode {mode!r}", f"use one of {', '.join(SELECT_MODES)}")
        asked = IdList().validate(None, naps)
        with self._lock:
            ids = self._sel_valid_naps(asked)
            current = self._sel_naps
            if mode == "add":
                ids = list(dict.fromkeys([*current, *ids]))
            elif mode == "toggle":
                flip = set(ids)
                ids = [i for i in current if i not in flip] + [i for i in ids if i not in set(current)]
            self._sel_naps = ids
            self._sel_base = self._explorer.members_of(ids)
            self._sel_publish()
            return list(self._sel_naps)

    def select_inputs(self, indices: Iterable[int]) -> list[int]:
        """Select inputs directly (the NAP selection is cleared); :attr:`selected_indices` becomes those
        that pass the filters, in the given order. Returns it.

        Example
        -------
        >>> w.select_inputs(np.flatnonzero(w.naps.outlier_scores > 0.9))  # doctest: +SKIP
        """
        asked = IdList().validate(None, indices)
        with self._lock:
            self._sel_naps = []
            self._sel_base = self._sel_valid_indices(asked)
            self._sel_publish()
            return list(self._sel_shown)

    def clear_selection(self) -> None:
        """Select nothing."""
        self.select_naps([])

    # ---------------------------------------------------------------------------- hooks for the widget
    def _selection_new_result(self) -> None:
        """A recompute: NAP ids mean other NAPs now, so the NAP selection is cleared; the selected inputs stay
        (they are followed across layers and parameters)."""
        with self._lock:
            self._sel_naps = []
            self._sel_publish()

    def _selection_refilter(self) -> None:
        """The filters changed: the selection's inputs are filtered again from the unfiltered ones."""
        with self._lock:
            self._sel_publish()

    def _selection_intent(self, content: Mapping[str, Any], buffers: Sequence[Any]) -> None:
        """Apply one intent of the front end (see the module docstring); raises NapInputError when bad."""
        kind = content.get("type")
        if kind == "filter":
            self.filters = dict(content.get("filters") or {})
        elif "naps" in content:
            self.select_naps(content.get("naps") or [], str(content.get("mode", "replace")))
        elif buffers:
            count = int(content.get("count", -1))
            data = np.frombuffer(bytes(buffers[0]), dtype="<i4")
            if count != len(data):
                raise NapInputError(
                    f"a selection of {count} inputs arrived with {len(data)}", "select again; report this"
                )
            self.select_inputs(data)
        else:
            self.select_inputs(content.get("indices") or [])

    # ---------------------------------------------------------------------------- internals
    def _sel_valid_naps(self, ids: list[int]) -> list[int]:
        k = self._explorer.naps.n_naps
        uniq = list(dict.fromkeys(ids))
        valid = [i for i in uniq if 0 <= i < k]
        if len(valid) < len(uniq):
            bad = sorted(set(uniq) - set(valid))
            fix = f"pick ids 0..{k - 1}" if k else "there are no NAPs at these settings"
            self.error = f"NAP(s) {bad[:10]} do not exist. Fix: {fix}."
        return valid

    def _sel_valid_indices(self, ids: list[int]) -> list[int]:
        n = self._explorer.n
        arr = np.asarray(ids, dtype=np.int64)
        ok = (arr >= 0) & (arr < n)
        if not ok.all():
            self.error = f"input indices outside 0..{n - 1} were dropped. Fix: select existing inputs."
            arr = arr[ok]
        _, first = np.unique(arr, return_index=True)  # duplicates: the first occurrence stays
        return arr[np.sort(first)].tolist() if len(first) < len(arr) else arr.tolist()

    def _sel_publish(self) -> None:
        """Write the state to the traits (one message): the observers below see their own state and stop."""
        self._sel_shown = self.filtered(self._sel_base)
        with self.hold_sync():
            self.selected_naps = list(self._sel_naps)
            self.selected_indices = self._sel_shown

    def _sel_on_naps(self, change: Any) -> None:
        with self._lock:
            if change["new"] != self._sel_naps:  # an assignment from Python (or an old front end): an intent
                self.select_naps(change["new"])

    def _sel_on_indices(self, change: Any) -> None:
        with self._lock:
            if change["new"] != self._sel_shown:
                self.select_inputs(change["new"])
