"""Exact HDBSCAN without the N x N matrix: the same bounds, computed one row at a time (O(N * D) memory).

The exact engine's Prim's loop reads one row of the float32 lower-bound matrix per step, and the core
distances read each row's few smallest entries. Both can be produced on demand: the candidates by blocked
GEMMs (one block of rows at a time), Prim's rows by GEMMs over a few rows at a time (below). The bound
``key_ij <= d_ij^2`` holds whatever order the float32 dot product sums in (its error slope is the worst case),
and every decision is still re-made on exact float64 distances, so the tree is bit for bit the one
:func:`~napwidget.clustering.build_tree` (and hdbscan) builds. The price is time: the bounds are computed
twice (for the candidates, then for Prim's), in smaller GEMMs (3.5x the N x N engine's time at 30k x 512), so
use it where the matrix does not fit.

Why rows are computed in batches: one matrix-vector product per Prim's step reads all N x D features for one
row (memory-bound: ~18 ms per row at 100k x 512 here, 30 min for the tree). Prim's next points are mostly the
frontier points with the smallest current distance and the new point's nearest candidates, so on a miss
:class:`LazyKey` computes that row together with up to ``_BATCH - 1`` such likely rows in one GEMM
(compute-bound) and keeps them in a bounded cache. Prim's tells the key its frontier through
:meth:`LazyKey.follow`; without it the key falls back to one row per miss.
"""

from __future__ import annotations

import numpy as np
import torch

from napwidget.clustering.distances import available_memory_bytes, bound_terms, core_distances

_BLOCK_BYTES = 256 * 2**20
# Rows per batched miss and bytes of the row cache. Measured on real activations (512 features): 64 rows per
# miss (up to half the new point's candidates, the rest the smallest current distances) missed 314 of 10k and
# of 20k rows, computing each row about once (1.4x at 30k, where the cache evicts); 10k: 3.5 s against 18.5 s
# with one row per step. 32 rows was 5 % slower at 20k, 128 computed 1.4x the rows.
_BATCH = 64
# The row cache takes a quarter of the memory available when the tree starts, within these bounds: at 50k
# x 512, 512 MiB (2,684 rows) recomputed 2.2x the rows (92.9 s), 1.5 GiB (8,053 rows) 1.3x (73.7 s).
_CACHE_MIN_BYTES = 512 * 2**20
_CACHE_MAX_BYTES = 4 * 2**30


def cache_bytes() -> int:
    """Bytes for the prefetched-row cache: a quarter of the available memory, 512 MiB to 4 GiB."""
    have = available_memory_bytes()
    if have is None:
        return _CACHE_MIN_BYTES
    return int(min(_CACHE_MAX_BYTES, max(_CACHE_MIN_BYTES, have // 4)))


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
        self._lo: np.ndarray | None = None  # Prim's frontier (see follow); None: no prefetching
        self._joined: np.ndarray | None = None
        self._slots = min(n, max(_BATCH, cache_bytes() // (4 * n)))
        self._cache: np.ndarray | None = None  # (slots, N) float32 rows, allocated on the first batched miss
        self._slot_of: dict[int, int] = {}  # cached row -> slot, oldest first
        self._free: list[int] = []
        self.rows_computed = 0  # rows produced by GEMMs (prefetched ones included): the cost, for benchmarks
        self.misses = 0

    def follow(self, lo: np.ndarray, joined: np.ndarray) -> None:
        """Let row misses prefetch Prim's likely next rows.

        ``lo`` (float64, N) and ``joined`` (bool, N) are Prim's live arrays, read (never written) on each
        miss: lower bounds of each point's current distance to the tree (inf: none yet) and tree membership.
        """
        self._lo, self._joined = lo, joined
        self._cache = None
        self._slot_of.clear()
        self._free = list(range(self._slots))

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
        """Lower bounds of the squared distances from point ``i`` to all points (float32).

        The returned array stays valid until another row is asked for (it may be a cache slot).
        """
        if i == self._row_of:
            return self._row
        slot = self._slot_of.pop(i, None)
        if slot is not None:
            self._free.append(slot)  # reused only by a later miss, after the caller moved on to another row
            self._row = self._cache[slot]
        elif self._lo is None:
            self._row = self._block(slice(i, i + 1))[0].numpy()
            self.rows_computed += 1
            self.misses += 1
        else:
            self._row = self._batched_miss(i)
        self._row_of = i
        return self._row

    def _likely_next(self, i: int) -> np.ndarray:
        """Up to ``_BATCH - 1`` points Prim's will probably join soon: ``i``'s candidates, then the front."""
        skip = self._joined.copy()
        skip[i] = True
        skip[list(self._slot_of)] = True
        near = [int(j) for j in self.candidates[i] if not skip[j]][: _BATCH // 2]
        skip[near] = True
        lo = np.where(skip, np.inf, self._lo)
        want = _BATCH - 1 - len(near)
        front = np.argpartition(lo, want)[:want] if want < len(lo) else np.arange(len(lo))
        front = front[np.isfinite(lo[front])]
        return np.concatenate([np.asarray(near, dtype=np.int64), front.astype(np.int64)])

    def _batched_miss(self, i: int) -> np.ndarray:
        """Row ``i`` and its likely successors in one GEMM; the successors go to the cache."""
        extra = self._likely_next(i)[: self._slots - 1]
        block = self._block(np.concatenate([[i], extra]).astype(np.int64)).numpy()
        self.rows_computed += len(block)
        self.misses += 1
        if self._cache is None:
            self._cache = np.empty((self._slots, self.shape[0]), dtype=np.float32)
        self._evict(len(extra) - len(self._free))
        for j, values in zip(extra.tolist(), block[1:]):
            slot = self._free.pop()
            self._cache[slot] = values
            self._slot_of[j] = slot
        return block[0]

    def _evict(self, count: int) -> None:
        """Free ``count`` slots: the cached rows of the points farthest from the tree now (Prim's reaches
        them last), the oldest first among equals (points not reached yet)."""
        if count <= 0:
            return
        rows = np.fromiter(self._slot_of, dtype=np.int64, count=len(self._slot_of))  # oldest first
        for j in rows[np.argsort(-self._lo[rows], kind="stable")[:count]].tolist():
            self._free.append(self._slot_of.pop(j))

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
    cache = 4 * n_samples * min(n_samples, max(_BATCH, _CACHE_MIN_BYTES // (4 * n_samples)))
    return n_samples * (n_features * 12 + n_candidates * 12 + 200) + block + cache
