"""Exact DBSCAN of the Mapper intervals in memory O(N*D/2 + interval + block), never O(eps-pairs).

scikit-learn's DBSCAN (KeplerMapper's clusterer) needs three things: which points have at least
``min_samples`` eps-neighbours (core points), the connected components of the core points, and for each
non-core point its core neighbours. None of them needs the list of all eps-pairs, which in a dense cluster of
k points holds k^2 / 2 pairs (hundreds of millions at TopoAct's 300k inputs). So an interval's points are cut
into tiles of nearby points (each point goes to its nearest of a few random pivots), the tile pairs are
visited as float32 GEMM blocks -- diagonal blocks first, then the others nearest first -- and:

* a tile pair that the triangle inequality over the pivots puts beyond eps is never computed;
* a point is *confirmed* core as soon as its running neighbour count reaches ``min_samples`` (counts only
  grow, so this is final);
* a pair of confirmed points is merged into the components at once and dropped; any other pair is kept, and
  there are at most ``min_samples - 2`` of those per point (its neighbours while it was unconfirmed), so the
  kept pairs are O(interval size);
* a block whose points are all confirmed and already in one component can change nothing and is skipped:
  once the tiles of a dense cluster are joined, its remaining blocks cost nothing.

Every eps decision is the float64 one: a pair whose float32 value lies within the GEMM's rounding-error bound
of eps is decided again in float64 from the caller's rows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

# Points per tile: 512 x 512 x D GEMM blocks keep BLAS efficient while a skipped block saves a lot.
_TILE = 512
# Pivots per interval at most: the (interval x pivots) distance matrix stays ~100 MiB at 100k points.
_MAX_PIVOTS = 256
# Rows per chunk when preparing rows and when measuring pivot / k-NN distances (bounded temporaries).
_CHUNK = 8192
# Pairs decided again in float64 per chunk (row gathers of 16k x D float64 stay ~64 MiB at D = 512).
_REFINE_CHUNK = 16384
_BIG = np.iinfo(np.int64).max


class Geometry:
    """Rows prepared once: float32 centred (euclidean) or unit (cosine) rows for the GEMMs, float64 norms.

    The caller's array is kept by reference; float64 rows are rebuilt from it only for the few pairs whose
    float32 distance is too close to eps to decide, with the same arithmetic as a float64 copy would use.
    """

    def __init__(self, x: np.ndarray, metric: str) -> None:
        n, d = x.shape
        self.x, self.metric, self.d = x, metric, d
        self.xs = np.empty((n, d), dtype=np.float32)
        self.sq = np.empty(n)  # |row|^2 of the prepared float64 rows
        self.norms = np.ones(n)
        self.shift = np.zeros(d)
        if metric == "euclidean":
            # Distances do not change under translation; centring shrinks |x|^2 and so the cancellation
            # error of |x|^2 + |y|^2 - 2<x, y>.
            total = np.zeros(d)
            for a in range(0, n, _CHUNK):
                total += x[a : a + _CHUNK].astype(np.float64).sum(axis=0)
            self.shift = total / n
        else:
            for a in range(0, n, _CHUNK):
                self.norms[a : a + _CHUNK] = np.linalg.norm(x[a : a + _CHUNK].astype(np.float64), axis=1)
        # scikit-learn's normalize(): zero rows stay zero, so their cosine distance to anything is 1 -- to
        # themselves too, as KeplerMapper's DBSCAN sees it (its rows are a copy, so scikit-learn does not zero
        # the diagonal): with eps < 1 a zero row is in no neighbourhood, not even its own.
        self.zero = (self.norms == 0) if metric == "cosine" else np.zeros(n, dtype=bool)
        for a in range(0, n, _CHUNK):
            rows = self.rows64(np.arange(a, min(n, a + _CHUNK)))
            self.xs[a : a + len(rows)] = rows
            self.sq[a : a + len(rows)] = np.einsum("ij,ij->i", rows, rows)
        self.sq32 = self.sq.astype(np.float32)
        # Rounding-error bound of a float32 block value, relative to |x|^2 + |y|^2 (+ eps): the dot product's
        # D terms, the float32 rounding of the inputs and the additions of |x|^2 and |y|^2, with a margin.
        self.bound = (d + 8) * 2.0**-24 * 1.25

    def rows64(self, idx: np.ndarray) -> np.ndarray:
        """Prepared float64 rows (centred, or unit length with zero rows kept zero)."""
        rows = self.x[idx].astype(np.float64)
        if self.metric == "cosine":
            return rows / np.where(self.zero[idx], 1.0, self.norms[idx])[:, None]
        return rows - self.shift

    def block(self, xa: np.ndarray, xb: np.ndarray, sqa: np.ndarray, sqb: np.ndarray) -> np.ndarray:
        """float32 (len(xa), len(xb)) squared euclidean distances, or cosine distances."""
        if self.metric == "cosine":
            g = xa @ xb.T
            return np.subtract(np.float32(1.0), g, out=g)
        return _sqeuclid(xa, xb, sqa, sqb)

    def prune_radius(self, eps: float) -> float:
        """Euclidean radius of the prepared rows that contains every eps-neighbour (used for pruning only).

        Cosine: 1 - <u, v> = |u - v|^2 / 2 for unit rows; a zero row is at euclidean distance <= 1 from any
        row and is an eps-neighbour only when eps >= 1, when the radius sqrt(2 eps) > 1 keeps it.
        """
        r = np.sqrt(2.0 * eps) if self.metric == "cosine" else eps
        return r * (1 + 1e-6) + 1e-12

    def kth_distance(self, query: np.ndarray, k: int) -> np.ndarray:
        """Distance from each query row to its k-th nearest row (the row itself counts, as in DBSCAN).

        Float32 BLAS in (1024 x 8192) blocks with a running k-smallest: this feeds a heuristic (the eps
        elbow), not a membership test.
        """
        n = len(self.xs)
        out = np.empty(len(query))
        for a in range(0, len(query), 1024):
            q = query[a : a + 1024]
            best = np.full((len(q), 0), np.inf, dtype=np.float32)
            for c in range(0, n, _CHUNK):
                cols = slice(c, min(n, c + _CHUNK))
                d = self.block(self.xs[q], self.xs[cols], self.sq32[q], self.sq32[cols])
                if self.metric == "cosine":
                    np.clip(d, 0.0, 2.0, out=d)
                own = (q >= c) & (q < cols.stop)
                d[np.flatnonzero(own), q[own] - c] = 0.0
                both = np.concatenate([best, d], axis=1)
                best = np.partition(both, k - 1, axis=1)[:, :k] if both.shape[1] > k else both
            kth = np.sort(best, axis=1)[:, k - 1].astype(np.float64)
            out[a : a + len(q)] = kth if self.metric == "cosine" else np.sqrt(np.maximum(kth, 0.0))
        return out


def _sqeuclid(xa: np.ndarray, xb: np.ndarray, sqa: np.ndarray, sqb: np.ndarray) -> np.ndarray:
    """float32 |a|^2 + |b|^2 - 2<a, b>: one GEMM and two broadcast passes."""
    g = xa @ xb.T
    g *= np.float32(-2.0)
    g += sqa[:, None]
    g += sqb[None, :]
    return g


class _Run:
    """An interval's rows gathered once in tile order: float32 rows for GEMMs, ids for float64 checks."""

    def __init__(self, geom: Geometry, gidx: np.ndarray) -> None:
        self.geom, self.gidx = geom, gidx
        self.x = geom.xs[gidx]
        self.sq = geom.sq[gidx]
        self.sq32 = geom.sq32[gidx]

    def pairs(
        self, rows: np.ndarray, cols: np.ndarray, eps: float, diagonal: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Block positions (i, j) of the pairs within eps between run rows ``rows`` and ``cols``.

        With ``diagonal`` (rows is cols) each unordered pair once, j < i. The float32 screen keeps every pair
        within its error bound of eps; those near the threshold are decided again in float64: the direct sum
        of squared differences for euclidean (what a KD-tree compares), 1 - <u, v> clipped to [0, 2] for
        cosine (scikit-learn's ``cosine_distances``).
        """
        g = self.geom
        dist = g.block(self.x[rows], self.x[cols], self.sq32[rows], self.sq32[cols])
        cosine = g.metric == "cosine"
        thr = eps if cosine else eps * eps
        sq_r = np.ones(len(rows)) if cosine else self.sq[rows]
        sq_c_max = 1.0 if cosine else float(self.sq[cols].max(initial=0.0))
        tol_r = g.bound * (sq_r + sq_c_max + thr) + 1e-30  # per row, for the largest column norm of the block
        i, j = np.nonzero(dist <= (thr + tol_r).astype(np.float32)[:, None])
        if diagonal:
            keep = j < i
            i, j = i[keep], j[keep]
        amb = np.flatnonzero(dist[i, j] >= thr - tol_r[i])
        del dist
        if amb.size:
            ok = np.ones(len(i), dtype=bool)
            for a in range(0, len(amb), _REFINE_CHUNK):  # bounded memory for the row gathers
                sel = amb[a : a + _REFINE_CHUNK]
                xi = g.rows64(self.gidx[rows[i[sel]]])
                xj = g.rows64(self.gidx[cols[j[sel]]])
                if cosine:
                    ok[sel] = np.clip(1.0 - np.einsum("ij,ij->i", xi, xj), 0.0, 2.0) <= eps
                else:
                    diff = xi - xj
                    ok[sel] = np.einsum("ij,ij->i", diff, diff) <= eps * eps
            i, j = i[ok], j[ok]
        return i, j


# ------------------------------------------------------------------------------------------------- tiling
def _tiling(geom: Geometry, gidx: np.ndarray, eps: float) -> tuple[np.ndarray, list[slice], np.ndarray]:
    """The run's ids in tile order, the tiles (slices of that order) and the tile pairs (a, b), a < b, that
    may hold eps-pairs, nearest pivots first.

    Each point joins its nearest of k seeded random pivots; a pivot's points are split into tiles of at most
    ``_TILE``. For tiles A and B, max over pivots c of the gap between {d(p, c) : p in A} and {d(q, c) : q
    in B} is a lower bound of every d(p, q) (triangle inequality); float32 errors widen each range by its
    bound, so a pair is dropped only when no eps-pair can exist.
    """
    m = len(gidx)
    if m <= _TILE:
        return gidx, [slice(0, m)], np.zeros((0, 2), dtype=np.int64)
    k = min(_MAX_PIVOTS, -(-m // _TILE))
    piv = np.sort(np.random.default_rng(m).choice(m, size=k, replace=False))
    px, psq = geom.xs[gidx[piv]], geom.sq32[gidx[piv]]
    d2 = np.empty((m, k), dtype=np.float32)
    for a in range(0, m, _CHUNK):
        ids = gidx[a : a + _CHUNK]
        d2[a : a + len(ids)] = _sqeuclid(geom.xs[ids], px, geom.sq32[ids], psq)
    group = np.argmin(d2, axis=1)
    perm = np.argsort(group, kind="stable")  # pivot groups, lens order within a group
    sizes = np.bincount(group, minlength=k)
    bounds = [0]
    for size in sizes[sizes > 0].tolist():
        pieces = -(-size // _TILE)
        bounds.extend(bounds[-1] + (size * np.arange(1, pieces + 1)) // pieces)
    tiles = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    tile_group = group[perm[bounds[:-1]]]

    lo = np.empty((len(tiles), k))
    hi = np.empty((len(tiles), k))
    for t, sl in enumerate(tiles):
        rows = perm[sl]
        block = d2[rows].astype(np.float64)
        tol = geom.bound * (geom.sq[gidx[rows]].max() + geom.sq[gidx[piv]])  # per pivot
        lo[t] = np.sqrt(np.maximum(block.min(axis=0) - tol, 0.0))
        hi[t] = np.sqrt(block.max(axis=0) + tol)
    radius = geom.prune_radius(eps)
    pairs = []
    for a in range(len(tiles) - 1):
        gap = np.maximum(lo[a + 1 :] - hi[a], lo[a] - hi[a + 1 :]).max(axis=1)
        b = np.flatnonzero(gap <= radius) + a + 1
        pairs.append(np.stack([np.full(len(b), a), b], axis=1))
    pairs = np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64)
    near = d2[piv[tile_group[pairs[:, 0]]], tile_group[pairs[:, 1]]]  # distance between the tiles' pivots
    return gidx[perm], tiles, pairs[np.argsort(near, kind="stable")]


# --------------------------------------------------------------------------------------------- components
class _Components:
    """Running DBSCAN state of one run: neighbour counts, confirmed cores, core components, kept pairs."""

    def __init__(self, need: np.ndarray) -> None:
        m = len(need)
        self.need = need
        self.deg = np.zeros(m, dtype=np.int64)
        self.conf = need <= 0
        self.comp = np.arange(m)
        self.lut = np.zeros(m, dtype=np.int64)  # scratch for relabelling touched components
        self.kept_i: list[np.ndarray] = []
        self.kept_j: list[np.ndarray] = []

    def visit(self, run: _Run, ta: slice, tb: slice, eps: float) -> None:
        """Blocks of tiles ta x tb that can still matter: a pair of confirmed points already in one
        component can change nothing."""
        ra, rb = np.arange(ta.start, ta.stop), np.arange(tb.start, tb.stop)
        ca, cb = self.conf[ta].copy(), self.conf[tb].copy()  # the state at the visit's start, not views
        one_b = _single(self.comp[tb][cb])
        if one_b is not None:
            hot = ~ca | (self.comp[ta] != one_b)
            self._block(run, ra[hot], rb, eps)
            self._block(run, ra[~hot], rb[~cb], eps)
            return
        one_a = _single(self.comp[ta][ca])
        if one_a is not None:
            hot = ~cb | (self.comp[tb] != one_a)
            self._block(run, ra, rb[hot], eps)
            self._block(run, ra[~ca], rb[~hot], eps)
            return
        self._block(run, ra, rb, eps)

    def diagonal(self, run: _Run, t: slice, eps: float) -> None:
        rows = np.arange(t.start, t.stop)
        self._block(run, rows, rows, eps, diagonal=True)

    def _block(
        self, run: _Run, rows: np.ndarray, cols: np.ndarray, eps: float, diagonal: bool = False
    ) -> None:
        if not (len(rows) and len(cols)):
            return
        i, j = run.pairs(rows, cols, eps, diagonal)
        if not i.size:
            return
        self.deg[rows] += np.bincount(i, minlength=len(rows))
        self.deg[cols] += np.bincount(j, minlength=len(cols))
        for ids in (rows, cols):
            self.conf[ids] |= self.deg[ids] >= self.need[ids]
        i, j = rows[i], cols[j]
        both = self.conf[i] & self.conf[j]
        self.union(i[both], j[both])
        if not both.all():  # an end not yet confirmed: at most need - 1 such pairs per point
            self.kept_i.append(i[~both])
            self.kept_j.append(j[~both])

    def union(self, i: np.ndarray, j: np.ndarray) -> None:
        """Merge the components of the core pairs (i, j); every point keeps its component's smallest id."""
        ci, cj = self.comp[i], self.comp[j]
        diff = ci != cj
        if not diff.any():
            return
        ci, cj = ci[diff], cj[diff]
        touched = np.zeros(len(self.comp), dtype=bool)
        touched[ci] = touched[cj] = True
        u = np.flatnonzero(touched)
        self.lut[u] = np.arange(len(u))
        graph = sparse.csr_matrix(
            (np.ones(len(ci), dtype=bool), (self.lut[ci], self.lut[cj])), shape=(len(u), len(u))
        )
        _, lab = connected_components(graph, directed=False)
        rep = np.full(lab.max() + 1, _BIG, dtype=np.int64)
        np.minimum.at(rep, lab, u)
        lut = np.arange(len(self.comp))
        lut[u] = rep[lab]
        self.comp = lut[self.comp]

    def labels(self, key: np.ndarray) -> np.ndarray:
        i = np.concatenate(self.kept_i) if self.kept_i else np.zeros(0, dtype=np.int64)
        j = np.concatenate(self.kept_j) if self.kept_j else np.zeros(0, dtype=np.int64)
        both = self.conf[i] & self.conf[j]
        self.union(i[both], j[both])
        return finish_labels(self.conf, self.comp, i, j, key)


def _single(values: np.ndarray) -> int | None:
    """The one value of ``values`` (-1 when empty: matches no component), None when there are several."""
    if not values.size:
        return -1
    first = values[0]
    return int(first) if (values == first).all() else None


# ------------------------------------------------------------------------------------------------- labels
def finish_labels(
    core: np.ndarray, comp: np.ndarray, i: np.ndarray, j: np.ndarray, key: np.ndarray
) -> np.ndarray:
    """scikit-learn's DBSCAN labels from the core mask, the core points' component ids and pairs (i, j)
    that include every (non-core, core) eps-pair.

    Components are numbered by their lowest core ``key`` (the order in which ``dbscan_inner`` meets them); a
    border point takes the smallest label among its core neighbours (the first cluster that reaches it).
    """
    n = len(core)
    labels = np.full(n, -1, dtype=np.int64)
    core_idx = np.flatnonzero(core)
    if not core_idx.size:
        return labels
    comp_core = comp[core_idx]
    first = np.full(int(comp_core.max()) + 1, _BIG, dtype=np.int64)
    np.minimum.at(first, comp_core, key[core_idx])
    present = np.flatnonzero(first != _BIG)
    rank = np.full(len(first), -1, dtype=np.int64)
    rank[present[np.argsort(first[present], kind="stable")]] = np.arange(len(present))
    labels[core_idx] = rank[comp_core]
    border_best = np.full(n, _BIG, dtype=np.int64)
    for src, dst in ((i, j), (j, i)):
        hit = ~core[src] & core[dst]
        np.minimum.at(border_best, src[hit], labels[dst[hit]])
    nb = ~core & (border_best != _BIG)
    labels[nb] = border_best[nb]
    return labels


def labels_from_pairs(
    n: int, i: np.ndarray, j: np.ndarray, min_samples: int, key: np.ndarray, self_count: int = 1
) -> np.ndarray:
    """DBSCAN labels from all unordered eps-pairs (i, j), i != j, each listed once; ``key`` = visiting
    order; ``self_count`` = 1 where a point is in its own neighbourhood."""
    degree = np.bincount(i, minlength=n) + np.bincount(j, minlength=n)
    core = degree + self_count >= min_samples
    both = core[i] & core[j]
    graph = sparse.csr_matrix((np.ones(int(both.sum()), dtype=bool), (i[both], j[both])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    return finish_labels(core, comp, i, j, key)


# --------------------------------------------------------------------------------------------- intervals
def dbscan_run(
    geom: Geometry, gidx: np.ndarray, eps: float, min_samples: int
) -> tuple[np.ndarray, np.ndarray]:
    """DBSCAN of the rows ``gidx`` as scikit-learn labels them in ascending-id order: (ids ascending,
    labels)."""
    gidx, tiles, cross = _tiling(geom, gidx, eps)
    run = _Run(geom, gidx)
    self_count = np.where(geom.zero[gidx] & (eps < 1.0), 0, 1)
    state = _Components(min_samples - self_count)
    for t in tiles:
        state.diagonal(run, t, eps)
    for a, b in cross.tolist():
        state.visit(run, tiles[a], tiles[b], eps)
    labels = state.labels(gidx)
    back = np.argsort(gidx, kind="stable")
    return gidx[back], labels[back]


def cluster_intervals(
    geom: Geometry,
    order: np.ndarray,
    starts: np.ndarray,
    stops: np.ndarray,
    eps: float,
    min_samples: int,
    min_pts: int,
    report: Callable[[float, str], None] = lambda fraction, stage: None,
) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """DBSCAN labels per interval [(original ids ascending, labels)], None for an interval KeplerMapper
    skips (fewer than ``min_pts`` points). ``order`` sorts the rows by lens, so interval k is
    ``order[starts[k]:stops[k]]``."""
    out: list[tuple[np.ndarray, np.ndarray] | None] = []
    for k, (s, e) in enumerate(zip(starts.tolist(), stops.tolist())):
        report(k / len(starts), "intervals")
        if e - s == 0 or e - s < min_pts:
            out.append(None)
            continue
        out.append(dbscan_run(geom, order[s:e], eps, min_samples))
    return out
