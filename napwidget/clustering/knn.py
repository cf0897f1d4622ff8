"""k-nearest neighbours for the approximate engine: blocked brute force (exact) or an HNSW index (faiss).

Brute force computes ``|q|^2 + |x|^2 - 2 q.x`` one block of query rows at a time (torch GEMM, on CUDA when
present), so memory stays O(N * k) plus one block; its time grows as N^2 D. Beyond a few tens of thousands of
points an HNSW graph (faiss ``IndexHNSWFlat``) answers in roughly N log N. Either way the distances of the
returned pairs are recomputed in float64 from the data, so ties and core distances do not depend on the
device, the BLAS or the index, and rows are sorted by (distance, index).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from napwidget.clustering.distances import squared_distances
from napwidget.torch_threads import run_blocks

log = logging.getLogger("napwidget")

# Above this many points "auto" uses the IVF index. Brute force grows as N^2; below this, exact neighbours
# are worth their cost (the k-NN restriction of the tree is then the approximate engine's only
# approximation). Measured at 30k x 512 the tuned IVF index was as fast on real activations and 3.5x faster
# on a mixture, with the same NAPs (benchmarks/README.md): a lower threshold wants measuring at 10k-60k.
BRUTE_FORCE_MAX = 60_000
KNN_METHODS = ("auto", "brute", "ivf", "hnsw")
# Scratch memory for one block of the query x data distance matrix (float32).
_BLOCK_BYTES = 256 * 2**20
_PAIR_CHUNK = 1 << 16


def torch_device() -> torch.device:
    """CUDA when torch sees a GPU (the GEMMs run there), else CPU."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def faiss_available() -> bool:
    """Whether faiss (the ``faiss-cpu`` package, in the ``napwidget[scale]`` extra) imports."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def pair_distances(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Euclidean distances of pairs ``(rows[p], cols[p])`` in float64, in blocks (memory O(block * D)).

    The exact engine's own sums (:func:`napwidget.clustering.distances.squared_distances`, feature after
    feature as hdbscan adds them), so its core distances and edge weights, and hence its ties, are bitwise the
    same (a pairwise sum such as ``einsum`` differs in the last bits; measured 1.5x faster).

    Example
    -------
    >>> pair_distances(np.array([[0.0, 0.0], [3.0, 4.0]], np.float32), np.array([0]), np.array([1])).tolist()
    [5.0]
    """
    return np.sqrt(squared_distances(x, rows, cols))


def pair_distances_to(x: np.ndarray, points: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """float64 distances from each new point ``points[i]`` to ``x[idx[i, j]]``: an (M, k) array.

    Example
    -------
    >>> pair_distances_to(np.array([[3.0, 4.0]], np.float32), np.zeros((1, 2), np.float32), np.array([[0]]))
    array([[5.]])
    """
    m, k = idx.shape
    out = np.empty((m, k))
    step = max(1, _PAIR_CHUNK // max(k, 1))
    for start in range(0, m, step):
        part = idx[start : start + step]
        diff = x[part].astype(np.float64)  # (b, k, D)
        diff -= points[start : start + step, None, :]
        out[start : start + step] = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    return out


def _sort_rows(idx: np.ndarray, dist: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row by (distance, index), the row's own point ``rows[i]`` first among equal distances:
    deterministic order whatever produced the candidates."""
    # by index first (the point itself as -1), then a stable sort by distance
    key = np.argsort(np.where(idx == rows[:, None], -1, idx), axis=1, kind="stable")
    idx = np.take_along_axis(idx, key, axis=1)
    dist = np.take_along_axis(dist, key, axis=1)
    key = np.argsort(dist, axis=1, kind="stable")
    return np.take_along_axis(idx, key, axis=1), np.take_along_axis(dist, key, axis=1)


@dataclass
class BruteForceIndex:
    """Exact neighbours by blocked GEMM against all points (torch; CUDA when present).

    Example
    -------
    >>> x = np.array([[0.0], [1.0], [3.0]], np.float32)
    >>> BruteForceIndex(x).search(np.array([2]), 2)[0].tolist()
    [[2, 1]]
    """

    x: np.ndarray

    def __post_init__(self) -> None:
        self.device = torch_device()
        self.xt = torch.from_numpy(self.x).to(self.device)
        self.sq = (self.xt * self.xt).sum(dim=1)

    def search(
        self, queries: np.ndarray, k: int, exclude: np.ndarray | None = None, floor: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Indices and float32 squared distances of the ``k`` nearest points to rows ``queries``.

        ``exclude`` (optional, (N,) int group ids): only points of another group than the query's count.
        ``floor`` (optional, (N,)): rank by ``max(d_qj, floor_j)`` instead (mutual reachability with core
        distances as the floor: the query's own core distance does not change the order).
        """
        n = self.x.shape[0]
        k = min(k, n)
        block = max(1, min(2048, _BLOCK_BYTES // (8 * n)))  # scratch per thread: half the budget
        idx = np.empty((queries.shape[0], k), dtype=np.int64)
        d2 = np.empty((queries.shape[0], k), dtype=np.float32)
        groups = None if exclude is None else torch.from_numpy(exclude).to(self.device)
        floor2 = (
            None if floor is None else torch.from_numpy((floor * floor).astype(np.float32)).to(self.device)
        )

        def one_block(start: int) -> None:  # disjoint rows of idx/d2: safe from threads
            q = torch.from_numpy(queries[start : start + block]).to(self.device)
            dist = torch.addmm(self.sq.unsqueeze(0), self.xt[q], self.xt.T, beta=1.0, alpha=-2.0)
            dist.add_(self.sq[q].unsqueeze(1)).clamp_(min=0.0)
            if floor2 is not None:
                torch.maximum(dist, floor2.unsqueeze(0), out=dist)
            if groups is not None:
                dist[groups[q].unsqueeze(1) == groups.unsqueeze(0)] = float("inf")
            val, ind = torch.topk(dist, k, dim=1, largest=False, sorted=True)
            idx[start : start + block] = ind.cpu().numpy()
            d2[start : start + block] = val.cpu().numpy()

        run_blocks(one_block, range(0, queries.shape[0], block), self.device)
        return idx, d2

    def search_vectors(self, points: np.ndarray, k: int) -> np.ndarray:
        """Indices of the ``k`` nearest points of ``x`` to each row of ``points`` (new vectors), (M, k)."""
        n = self.x.shape[0]
        k = min(k, n)
        block = max(1, min(4096, _BLOCK_BYTES // (4 * n)))
        out = np.empty((points.shape[0], k), dtype=np.int64)
        for start in range(0, points.shape[0], block):
            q = torch.from_numpy(np.ascontiguousarray(points[start : start + block], dtype=np.float32))
            q = q.to(self.device)
            dist = torch.addmm(self.sq.unsqueeze(0), q, self.xt.T, beta=1.0, alpha=-2.0)
            dist.add_((q * q).sum(dim=1, keepdim=True))
            out[start : start + block] = torch.topk(dist, k, dim=1, largest=False)[1].cpu().numpy()
        return out


@dataclass
class HNSWIndex:
    """Approximate neighbours from a faiss HNSW graph (M=32, efConstruction=80, efSearch >= 2k).

    Example
    -------
    >>> x = np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32)  # doctest: +SKIP
    >>> HNSWIndex(x).search(np.arange(3), 1)[0].ravel().tolist()                 # doctest: +SKIP
    [0, 1, 2]
    """

    x: np.ndarray
    m: int = 32
    ef_construction: int = 80

    def __post_init__(self) -> None:
        import faiss

        self.index = faiss.IndexHNSWFlat(self.x.shape[1], self.m)
        self.index.hnsw.efConstruction = self.ef_construction
        self.index.add(self.x)

    def search(
        self, queries: np.ndarray, k: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Indices and squared distances of (about) the ``k`` nearest points; -1 where fewer were found."""
        k = min(k, self.x.shape[0])
        self.index.hnsw.efSearch = max(64, 2 * k)
        d2, idx = self.index.search(self.x[queries], k)
        return idx.astype(np.int64), d2

    def search_vectors(self, points: np.ndarray, k: int) -> np.ndarray:
        """Indices of (about) the ``k`` nearest points to each row of ``points``; -1 where fewer found."""
        k = min(k, self.x.shape[0])
        self.index.hnsw.efSearch = max(64, 2 * k)
        return self.index.search(np.ascontiguousarray(points, dtype=np.float32), k)[1].astype(np.int64)


def kmeans_centroids(xt: torch.Tensor, n_cells: int, *, iters: int = 6, seed: int = 0) -> torch.Tensor:
    """Lloyd's k-means on a seeded sample of ``32 * n_cells`` rows: cells for :class:`IVFIndex`.

    The cells only decide which points are compared, so a few iterations on a sample suffice (the neighbour
    distances themselves are exact); an empty cell keeps its previous centre.
    """
    n = xt.shape[0]
    rng = np.random.default_rng(seed)
    sample = xt[torch.from_numpy(np.sort(rng.choice(n, min(n, 32 * n_cells), replace=False))).to(xt.device)]
    centres = sample[torch.from_numpy(rng.choice(sample.shape[0], n_cells, replace=False)).to(xt.device)]
    for _ in range(iters):
        cell = nearest_centre(sample, centres)
        sums = torch.zeros_like(centres).index_add_(0, cell, sample)
        count = torch.bincount(cell, minlength=n_cells).to(sample.dtype)
        centres = torch.where((count > 0)[:, None], sums / count.clamp(min=1)[:, None], centres)
    return centres


def nearest_centre(xt: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centre of each row (blocked GEMM, O(block * cells) scratch per thread)."""
    csq = (centres * centres).sum(dim=1)
    block = max(1, min(4096, _BLOCK_BYTES // (8 * centres.shape[0])))
    out = torch.empty(xt.shape[0], dtype=torch.int64, device=xt.device)

    def assign(start: int) -> None:
        d = torch.addmm(csq.unsqueeze(0), xt[start : start + block], centres.T, beta=1.0, alpha=-2.0)
        out[start : start + block] = d.argmin(dim=1)

    run_blocks(assign, range(0, xt.shape[0], block), xt.device)
    return out


class IVFIndex:
    """Approximate neighbours from inverted lists searched by GEMM (torch; CUDA when present).

    The points are split into ``n_cells`` k-means cells (default ``sqrt(N)``) and stored sorted by cell. The
    points of one cell are compared, in one matrix product, with the points of their own cell and of the
    ``n_probe - 1`` cells whose centres are nearest to it. Per query this is what an IVF-Flat index (faiss)
    does, but batched per cell, so the work runs at GEMM speed (benchmarks/README.md, "Choosing the k-NN
    backend").

    How many cells to probe depends on the data: 8 of 447 cells find 99.7 % of the 16 nearest neighbours of a
    clustered 200k mixture, but only 86 % on real ResNet activations (30k, 173 cells), which need 32-64. So by
    default (``n_probe=None``) the index measures its recall@``k`` on a seeded sample of its own points
    against exact neighbours and picks the fewest probes (to within an eighth) that reach
    ``target_recall``; ``recall`` and ``n_probe`` record the outcome.

    Example
    -------
    >>> x = np.random.default_rng(0).normal(size=(400, 8)).astype(np.float32)
    >>> idx, _ = IVFIndex(x, n_cells=4, n_probe=4).search(np.arange(3), 1)  # all cells probed: exact
    >>> idx.ravel().tolist()
    [0, 1, 2]
    """

    def __init__(
        self,
        x: np.ndarray,
        n_cells: int | None = None,
        n_probe: int | None = None,
        *,
        target_recall: float = 0.98,
        k: int = 16,
        seed: int = 0,
    ) -> None:
        n = x.shape[0]
        self.x = x
        self.n_cells = int(min(n, n_cells or max(1, round(np.sqrt(n)))))
        self.device = torch_device()
        xt = torch.from_numpy(x).to(self.device)
        self.centres = kmeans_centroids(xt, self.n_cells, seed=seed)
        cell = nearest_centre(xt, self.centres).cpu().numpy()
        self.cell = cell
        self.order = np.argsort(cell, kind="stable")  # point ids sorted by cell: each cell a contiguous run
        self.starts = np.searchsorted(cell[self.order], np.arange(self.n_cells + 1))
        # Sorted copy: a probed cell is a contiguous slice, no gather per query block.
        self.sorted = xt[torch.from_numpy(self.order).to(self.device)]
        self.sq = (self.sorted * self.sorted).sum(dim=1)
        self._by_gap = (
            torch.topk(torch.cdist(self.centres, self.centres), self.n_cells, dim=1, largest=False)
            .indices.cpu()
            .numpy()
        )  # each cell's cells, nearest centre first (itself)
        self.recall: float | None = None
        self._set_probe(8 if n_probe is None else n_probe)
        if n_probe is None:
            self._tune(target_recall, min(k, n), seed)

    def _set_probe(self, n_probe: int) -> None:
        self.n_probe = int(min(self.n_cells, max(1, n_probe)))
        self.probes = self._by_gap[:, : self.n_probe]

    def _tune(self, target: float, k: int, seed: int, n_sample: int = 256) -> None:
        """Fewest probes whose recall@k on a sample reaches ``target``: doubling from 8, then bisecting
        between the last miss and the first hit to within an eighth (search time grows with the probes, and
        doubling can overshoot: at 1M, 7.1 min with 0.998 recall where less would have done)."""
        rng = np.random.default_rng(seed)
        self._sample = np.sort(rng.choice(self.x.shape[0], min(n_sample, self.x.shape[0]), replace=False))
        self._truth, _ = BruteForceIndex(self.x).search(self._sample, k)
        probe, missed = min(8, self.n_cells), 0
        recall = self.recall_at(probe)
        while recall < target and probe < self.n_cells:
            missed, probe = probe, min(self.n_cells, 2 * probe)
            recall = self.recall_at(probe)
        # recall only grows with the probes (each probe list extends the shorter ones), so bisection is sound
        while recall >= target and missed and probe - missed > max(1, probe // 8):
            mid = (missed + probe) // 2
            got = self.recall_at(mid)
            if got >= target:
                probe, recall = mid, got
            else:
                missed = mid
        self._set_probe(probe)
        self.recall = recall
        log.info(
            "napwidget: IVF k-NN probes %d of %d cells (recall@%d %.3f on %d sampled points)",
            self.n_probe,
            self.n_cells,
            k,
            self.recall,
            len(self._sample),
        )

    def recall_at(self, n_probe: int) -> float:
        """Recall@k with ``n_probe`` probes on the sample the index tuned itself on, against exact
        neighbours (the index keeps its own ``n_probe``). Needs an index built with ``n_probe=None``.

        Example
        -------
        >>> x = np.random.default_rng(0).normal(size=(500, 8)).astype(np.float32)
        >>> index = IVFIndex(x, n_cells=10)
        >>> index.recall_at(10)  # every cell probed: exact
        1.0
        """
        if not hasattr(self, "_truth"):
            raise ValueError("recall_at needs the tuning sample: build the index with n_probe=None")
        kept = self.n_probe
        self._set_probe(n_probe)
        found, _ = self.search(self._sample, self._truth.shape[1])
        self._set_probe(kept)
        hits = [np.intersect1d(a, b).size for a, b in zip(found, self._truth, strict=True)]
        return float(np.mean(hits) / self._truth.shape[1])

    def search(
        self, queries: np.ndarray, k: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Indices and float32 squared distances of (about) the ``k`` nearest points to rows ``queries``;
        -1 where the probed cells hold fewer than ``k`` points. ``exclude`` is not supported (as HNSW)."""
        return self._search_cells(self.cell[queries], self.x[queries], k)

    def search_vectors(self, points: np.ndarray, k: int) -> np.ndarray:
        """Indices of (about) the ``k`` nearest points to each row of ``points`` (new vectors); -1 padded."""
        pts = np.ascontiguousarray(points, dtype=np.float32)
        cell = nearest_centre(torch.from_numpy(pts).to(self.device), self.centres).cpu().numpy()
        return self._search_cells(cell, pts, k)[0]

    def _search_cells(self, cells: np.ndarray, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        m = cells.shape[0]
        k = min(k, self.x.shape[0])
        idx = np.full((m, k), -1, dtype=np.int64)
        d2 = np.full((m, k), np.inf, dtype=np.float32)
        by_cell = np.argsort(cells, kind="stable")
        bounds = np.flatnonzero(np.r_[True, cells[by_cell][1:] != cells[by_cell][:-1], True])

        def one_cell(rows: np.ndarray) -> None:  # writes disjoint rows of idx/d2: safe from threads
            q = torch.from_numpy(vectors[rows]).to(self.device)
            ids, val = self._nearest_in_probes(q, int(cells[rows[0]]), k)
            idx[rows, : ids.shape[1]] = ids
            d2[rows, : ids.shape[1]] = val

        groups = [by_cell[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        run_blocks(one_cell, groups, self.device)
        return idx, d2

    def _nearest_in_probes(self, q: torch.Tensor, cell: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """k nearest among the probed cells of ``cell`` for query block ``q``: one GEMM over their points.

        Ranks by ``|c|^2 - 2 q.c`` and adds ``|q|^2`` to the k kept values only (constant per row).
        """
        spans = [(int(self.starts[c]), int(self.starts[c + 1])) for c in self.probes[cell]]
        spans = [(lo, hi) for lo, hi in spans if hi > lo]
        cand = torch.cat([self.sorted[lo:hi] for lo, hi in spans])
        csq = torch.cat([self.sq[lo:hi] for lo, hi in spans])
        dist = torch.addmm(csq.unsqueeze(0), q, cand.T, beta=1.0, alpha=-2.0)
        val, pos = torch.topk(dist, min(k, dist.shape[1]), dim=1, largest=False, sorted=True)
        val.add_((q * q).sum(dim=1, keepdim=True)).clamp_(min=0.0)
        ids = np.concatenate([self.order[lo:hi] for lo, hi in spans])
        return ids[pos.cpu().numpy()], val.cpu().numpy()


def make_index(x: np.ndarray, method: str = "auto") -> BruteForceIndex | HNSWIndex | IVFIndex:
    """The neighbour index for ``x`` (float32): brute force up to :data:`BRUTE_FORCE_MAX` points, IVF beyond.

    ``"hnsw"`` (faiss, ``napwidget[scale]``) stays available; it is slower than the IVF index here at lower
    recall, so "auto" no longer picks it.

    Example
    -------
    >>> type(make_index(np.zeros((10, 2), np.float32))).__name__
    'BruteForceIndex'
    """
    if method not in KNN_METHODS:
        raise ValueError(f"unknown knn method {method!r}. Fix: use one of {KNN_METHODS}.")
    if method == "auto":
        method = "ivf" if x.shape[0] > BRUTE_FORCE_MAX else "brute"
    if method == "hnsw":
        if not faiss_available():
            raise ImportError(
                "knn='hnsw' needs faiss. Fix: pip install 'napwidget[scale]', or use knn='ivf'."
            )
        return HNSWIndex(x)
    return IVFIndex(x) if method == "ivf" else BruteForceIndex(x)


def knn_graph(
    x: np.ndarray, k: int, index: BruteForceIndex | HNSWIndex | IVFIndex
) -> tuple[np.ndarray, np.ndarray]:
    """Each point's ``k`` nearest points, the point itself first: (N, k) indices and float64 distances.

    Rows are sorted by (distance, index) after recomputing distances in float64, the point itself first (also
    among duplicates of it); a point the index did not return among its own neighbours (HNSW can miss it, and
    any index when more than ``k`` points coincide) is put in front.

    Example
    -------
    >>> x = np.array([[0.0], [1.0], [3.0]], np.float32)
    >>> idx, dist = knn_graph(x, 2, BruteForceIndex(x))
    >>> idx.tolist(), dist.tolist()
    ([[0, 1], [1, 0], [2, 1]], [[0.0, 1.0], [0.0, 1.0], [0.0, 2.0]])
    """
    n = x.shape[0]
    k = min(k, n)
    idx, _ = index.search(np.arange(n), k)
    rows = np.arange(n)
    self_missing = ~(idx == rows[:, None]).any(axis=1)
    if self_missing.any():
        idx[self_missing] = np.concatenate([rows[self_missing, None], idx[self_missing, :-1]], axis=1)
    idx = np.where(
        idx < 0, rows[:, None], idx
    )  # HNSW pads with -1 when it finds too few: harmless self-pairs
    dist = pair_distances(x, np.repeat(rows, k), idx.ravel()).reshape(n, k)
    # Self-pairs beyond the first (padding) must not count as neighbours at distance 0. The first may be in
    # any column: the index returns a point's duplicates (distance 0) and the point itself in any order.
    is_self = idx == rows[:, None]
    dist[is_self & (np.cumsum(is_self, axis=1) > 1)] = np.inf
    idx, dist = _sort_rows(idx, dist, rows)
    return idx, dist
