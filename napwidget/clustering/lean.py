"""Exact HDBSCAN without the N x N matrix: the same bounds, computed one row at a time (O(N * D) memory).

The exact engine's Prim's loop reads one row of the float32 lower-bound matrix per step, and the core
distances read each row's few smallest entries. Both can be produced on demand: the candidates by blocked
GEMMs (one block of rows at a time), the Prim's row by one matrix-vector product per step. The bound
``key_ij <= d_ij^2`` holds whatever order the float32 dot product sums in (its error slope is the worst case),
and every decision is still re-made on exact float64 distances, so the tree is bit for bit the one
:func:`~napwidget.clustering.build_tree` (and hdbscan) builds. The price is time: N matrix-vector products
instead of one GEMM (memory-bound), so use it where the matrix does not fit.
"""

from __future__ import annotations

import numpy as np
import torch

from napwidget.clustering.distances import bound_terms, core_distances

_BLOCK_BYTES = 256 * 2**20


class LazyKey:
    """Stands in for the (N, N) lower-bound matrix: rows computed on demand, candidate entries precomputed.

    Supports exactly the reads of :func:`~napwidget.clustering.mst.prim_mst` (``key[i]``, ``key[i, cols]``)
    and of :func:`~napwidget.clustering.distances.core_distances` (``key[rows[:, None], candidates]``, and
    ``key[rows]`` for an index array: whole rows, one GEMM).

    Example
    -------
    >>> x = np.array([[0.0], [1.0], [3.0]])
    >>> key = LazyKey(x, 2)
    >>> bool(key[0][2] <= 9.0), key.candidates[:, 0].tolist()
    (True, [0, 1, 2])
    """

    def __init__(self, x: np.ndarray, n_candidates: int) -> None:
        n = x.shape[0]
        self.shape = (n, n)
        self.xt, self.shifted, self.width = bound_terms(x)  # the dense matrix's bounds, a row at a time
        self._row_of, self._row = -1, None
        self.candidates, self.candidate_keys = self._candidates(n_candidates)

    def _block(self, rows: slice | np.ndarray) -> torch.Tensor:
        """Bounds of rows ``rows`` (a slice or an index array) against all points: one GEMM."""
        idx = torch.arange(rows.start, rows.stop) if isinstance(rows, slice) else torch.from_numpy(rows)
        block = torch.addmm(self.shifted.unsqueeze(0), self.xt[idx], self.xt.T, beta=1.0, alpha=-2.0)
        block.add_(self.shifted[idx].unsqueeze(1))
        # each point is its own first candidate, as in the dense matrix
        block[torch.arange(len(idx)), idx] = -3.0e38
        return block

    def _candidates(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        n = self.shape[0]
        step = max(1, min(1024, _BLOCK_BYTES // (4 * n)))
        cand = np.empty((n, m), dtype=np.int64)
        keys = np.empty((n, m), dtype=np.float32)
        for start in range(0, n, step):
            val, ind = torch.topk(self._block(slice(start, min(n, start + step))), m, dim=1, largest=False)
            cand[start : start + step], keys[start : start + step] = ind.numpy(), val.numpy()
        return cand, keys

    def row(self, i: int) -> np.ndarray:
        """Lower bounds of the squared distances from point ``i`` to all points (float32)."""
        if i != self._row_of:
            self._row = self._block(slice(i, i + 1))[0].numpy()
            self._row_of = i
        return self._row

    def __getitem__(self, item):
        if isinstance(item, (int, np.integer)):
            return self.row(int(item))
        if isinstance(item, np.ndarray):  # whole rows (core distances of rows the candidates cannot settle)
            return self._block(item.astype(np.int64, copy=False)).numpy()
        rows, cols = item
        if isinstance(rows, (int, np.integer)):
            return self.row(int(rows))[cols]
        if cols is self.candidates:
            return self.candidate_keys
        raise IndexError("LazyKey serves key[i], key[i, cols], key[rows, candidates] and key[index array]")


def lean_core_distances(x64: np.ndarray, key: LazyKey, min_samples: int) -> np.ndarray:
    """Exact core distances from the lazily computed candidates (same values as the dense path)."""
    return core_distances(x64, key, key.candidates, key.width, min_samples)


def lean_memory_bytes(n_samples: int, n_features: int, n_candidates: int = 14) -> int:
    """Peak memory of the lean exact path: the data (float64 + float32), candidates and one GEMM block.

    Example
    -------
    >>> lean_memory_bytes(100_000, 512) / 2**30 < 1.5
    True
    """
    block = min(_BLOCK_BYTES, 4 * n_samples * min(n_samples, 1024))
    return n_samples * (n_features * 12 + n_candidates * 12 + 200) + block
