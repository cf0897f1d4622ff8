"""Euclidean distances: a fast float32 lower-bound matrix plus exact float64 distances where they decide.

Why two precisions: BLAS computes all N^2 squared distances quickly in float32 (``|x|^2 + |y|^2 - 2 x.y``),
but those values are neither exact nor bitwise equal to hdbscan's (which sums ``(x_k - y_k)^2`` one feature
after the other in float64). So the float32 matrix is shifted down by a rigorous error bound and only used
as a *filter*: every decision (core distances, Prim's updates) is re-made on exact float64 distances computed
the same way hdbscan does, for the few pairs the filter cannot rule out. The results are therefore bitwise
equal to hdbscan's and do not depend on the BLAS, the thread count or the block size.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from napwidget.clustering.buffers import prefaulted_empty

_UNIT_ROUNDOFF32 = 2.0**-24
# Rows per GEMM block: large enough for BLAS efficiency, small enough that a block stays cheap in memory.
_BLOCK_ROWS = 1024


def error_slope(n_features: int) -> float:
    """Slope ``c`` of the float32 error bound ``|d2_32 - d2| <= c * (|x|^2 + |y|^2)``.

    Worst case of a D-term float32 dot product (gamma_D), the two float32 norms, the rounding of the input to
    float32 and the final additions; doubled for headroom. Typical errors are ~sqrt(D) times smaller.

    Example
    -------
    >>> round(error_slope(512) * 1e5, 2)
    6.2
    """
    return 2.0 * (n_features + 8) * _UNIT_ROUNDOFF32


def available_memory_bytes() -> int | None:
    """Memory the OS can still hand out (``MemAvailable``), or None where it cannot be read."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def required_memory_bytes(n_samples: int, n_features: int) -> int:
    """Peak memory of :func:`napwidget.clustering.build_tree`: the N x N float32 matrix dominates.

    Example
    -------
    >>> required_memory_bytes(50_000, 512) / 2**30 > 9.3
    True
    """
    matrix = 4 * n_samples * n_samples
    copies = n_samples * n_features * (8 + 8 + 4)  # float64 input, its transpose, the float32 copy
    block = 2 * 4 * _BLOCK_ROWS * n_samples
    return matrix + copies + block + 64 * n_samples * 8


def check_memory(n_samples: int, n_features: int) -> None:
    """Raise MemoryError (naming the fix) when the dense matrix will not fit in the available memory."""
    need = required_memory_bytes(n_samples, n_features)
    have = available_memory_bytes()
    if have is not None and need > have:
        raise MemoryError(
            f"exact HDBSCAN on {n_samples} samples needs ~{need / 2**30:.1f} GiB (an N x N float32 distance "
            f"matrix) but only {have / 2**30:.1f} GiB are available. Fix: cluster a subsample "
            f"(about {int(n_samples * (have / need) ** 0.5 * 0.9)} samples fit), free memory, or use a "
            f"machine with more RAM"
        )


def check_lean_memory(n_samples: int, n_features: int) -> None:
    """Raise MemoryError (naming the fix) when not even the row-at-a-time exact path fits."""
    from napwidget.clustering.lean import lean_memory_bytes

    need = lean_memory_bytes(n_samples, n_features)
    have = available_memory_bytes()
    if have is not None and need > have:
        raise MemoryError(
            f"exact HDBSCAN on {n_samples} x {n_features} needs ~{need / 2**30:.1f} GiB even row by row, "
            f"but only {have / 2**30:.1f} GiB are available. Fix: cluster a subsample, free memory, or use "
            f"find_naps(..., algorithm='approximate')"
        )


def centred_float32(x: np.ndarray) -> torch.Tensor:
    """``x`` minus its column mean, in float32: the input of the bound GEMMs.

    Distances do not change under a shift, but the float32 error bound grows with ``|x|^2 + |y|^2``.
    Activations are non-negative and far from the origin: centred, the ResNet-18 layer4 activations of the
    widget benchmark have 6.2x smaller squared norms, the bound intervals narrow as much, and fewer decisions
    need exact distances (10k x 512: Prim's 0.68-0.75 s -> 0.50-0.59 s, core distances 0.085 -> 0.055 s, the
    tree bitwise the same). The float64 subtraction rounds at 2^-53, far inside the bound's 2x headroom. Built
    block by block: no float64 copy of ``x``.

    Example
    -------
    >>> centred_float32(np.array([[1.0, 2.0], [3.0, 6.0]])).tolist()
    [[-1.0, -2.0], [1.0, 2.0]]
    """
    mean = x.mean(axis=0)
    out = np.empty(x.shape, dtype=np.float32)
    for start in range(0, x.shape[0], 8192):
        out[start : start + 8192] = x[start : start + 8192] - mean
    return torch.from_numpy(out)


def bound_terms(x: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """What every bound GEMM needs: the centred float32 data, the squared norms shifted down by the error
    bound, and the per-point half-widths (float64) of the bound interval.

    ``key_ij = shifted_i + shifted_j - 2 x_i.x_j`` (``key = sq_i + sq_j - 2 x_i.x_j - c (sq_i + sq_j)``: the
    bound folded into the norms, so one ``addmm`` gives it) is a lower bound of ``d_ij^2``, and
    ``key_ij + width_i + width_j`` an upper bound, with ``width = 2 c |x - mean|^2``.

    Example
    -------
    >>> xt, shifted, width = bound_terms(np.array([[0.0], [2.0]]))
    >>> xt.tolist(), bool((shifted <= 1.0).all()), bool((width > 0).all())
    ([[-1.0], [1.0]], True, True)
    """
    c = error_slope(x.shape[1])
    xt = centred_float32(x)
    sq = (xt * xt).sum(dim=1)
    return xt, sq * np.float32(1.0 - c), 2.0 * c * sq.numpy().astype(np.float64) * (1.0 + 1e-6)


def lower_bound_matrix(x: np.ndarray, n_candidates: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float32 lower bounds of all squared distances, and each row's ``n_candidates`` smallest.

    ``key[i, j] <= |x_i - x_j|^2 <= key[i, j] + width[i] + width[j]`` holds for every pair, with
    ``width = 2 c |x - mean|^2`` (float32 value minus / plus its error bound; see :func:`centred_float32`);
    the diagonal is a large negative number so that each point is its own first candidate neighbour.

    Parameters
    ----------
    x : (N, D) float64 array.
    n_candidates : how many nearest-neighbour candidates (by lower bound) to return per row.

    Returns
    -------
    key : (N, N) float32 array of lower bounds.
    candidates : (N, n_candidates) int64 column indices, sorted by lower bound.
    width : (N,) float64 per-point half-widths of the bound interval (``2 c |x - mean|^2``).

    Example
    -------
    >>> key, cand, _ = lower_bound_matrix(np.eye(3), 2)
    >>> bool((key <= np.array([[0, 2, 2], [2, 0, 2], [2, 2, 0]])).all()), cand[:, 0].tolist()
    (True, [0, 1, 2])
    """
    n = x.shape[0]
    xt, shifted, width = bound_terms(x)
    key = prefaulted_empty((n, n), np.float32)
    key_t = torch.from_numpy(key)
    candidates = np.empty((n, n_candidates), dtype=np.int64)
    for start in range(0, n, _BLOCK_ROWS):
        stop = min(n, start + _BLOCK_ROWS)
        # The matrix is symmetric: compute columns >= start only and mirror them below the diagonal; the
        # columns < start of these rows were mirrored in by the earlier blocks. Halves the GEMM work.
        block = key_t[start:stop, start:]
        torch.addmm(
            shifted[start:].unsqueeze(0), xt[start:stop], xt[start:].T, beta=1.0, alpha=-2.0, out=block
        )
        block.add_(shifted[start:stop].unsqueeze(1))
        block.diagonal().fill_(-3.0e38)
        if stop < n:
            key_t[stop:, start:stop].copy_(block[:, stop - start :].T)
        # Sorted so that ties between lower bounds resolve the same way on every run.
        candidates[start:stop] = torch.topk(
            key_t[start:stop], n_candidates, dim=1, largest=False, sorted=True
        )[1].numpy()
    return key, candidates, width


def exact_distances(x64: np.ndarray, rows: np.ndarray | int, cols: np.ndarray) -> np.ndarray:
    """Exact euclidean distances between pairs ``(rows[p], cols[p])``, bitwise equal to hdbscan's.

    hdbscan (and scikit-learn's KDTree) sum ``(x_k - y_k)^2`` sequentially over k in float64 and take the
    square root. A cumulative sum along the feature axis is sequential by definition, so its last entry has
    the same bits (``np.sum`` uses pairwise summation and differs in the last bits).

    Parameters
    ----------
    x64 : (N, D) float64 data.
    rows : (P,) int array of point indices, or one index for all pairs.
    cols : (P,) int array of point indices.

    Example
    -------
    >>> x = np.array([[0.0, 0.0], [3.0, 4.0]])
    >>> exact_distances(x, 0, np.array([0, 1])).tolist()
    [0.0, 5.0]
    """
    if cols.size == 0:
        return np.zeros(0)
    if cols.size < _PAIR_BLOCK:
        diff = x64[cols]
        diff -= x64[rows] if isinstance(rows, np.ndarray) else x64[rows : rows + 1]
        diff *= diff
        np.cumsum(diff, axis=1, out=diff)
        return np.sqrt(diff[:, -1])
    return np.sqrt(squared_distances(x64, rows, cols))


# Pairs per block of exact distances: two (block, D) float64 buffers stay in cache and are reused. One big
# (P, D) temporary instead is fresh memory on every call, and its page faults cost more than the arithmetic on
# a virtual machine (measured 0.2-0.7 s vs 0.09 s for 25k pairs at D = 512).
_PAIR_BLOCK = 128


def squared_distances(x: np.ndarray, rows: np.ndarray | int, cols: np.ndarray) -> np.ndarray:
    """Squared distances of pairs ``(rows[p], cols[p])``, each summed feature after feature in float64.

    The values of :func:`exact_distances` (squared), for float64 or float32 ``x`` (converted a block at a
    time, never as a whole): the exact engine and the approximate one's k-NN distances share them, so their
    core distances and edge weights, and hence their ties, are bitwise the same.

    Example
    -------
    >>> squared_distances(np.array([[0.0, 0.0], [3.0, 4.0]], np.float32), np.array([0]), np.array([1]))
    array([25.])
    """
    total = np.empty(cols.size)
    width = min(_PAIR_BLOCK, cols.size)
    diff_buf = np.empty((width, x.shape[1]))
    other_buf = np.empty_like(diff_buf)
    for start in range(0, cols.size, _PAIR_BLOCK):
        stop = min(cols.size, start + _PAIR_BLOCK)
        diff = diff_buf[: stop - start]
        diff[...] = x[cols[start:stop]]
        if isinstance(rows, np.ndarray):
            other = other_buf[: stop - start]
            other[...] = x[rows[start:stop]]
            diff -= other
        else:
            diff -= x[rows : rows + 1]
        diff *= diff
        np.cumsum(diff, axis=1, out=diff)  # sequential along the features, as hdbscan sums
        total[start:stop] = diff[:, -1]
    return total


def core_distances(
    x64: np.ndarray, key: np.ndarray, candidates: np.ndarray, width: np.ndarray, min_samples: int
) -> np.ndarray:
    """Distance of each point to its ``min_samples``-th nearest other point, exactly as hdbscan computes it.

    hdbscan queries a KDTree with ``k = min_samples + 1`` (the point itself included) and keeps the last
    column, so the core distance is entry ``min_samples`` of the sorted row (entry 0 is the point itself).
    Fast path (most rows): when the bound intervals show which candidate is the k-th, one exact distance is
    enough. Otherwise all candidates are evaluated exactly, and a row whose exact k-th distance is not below
    the largest candidate bound (so a non-candidate might be closer) is recomputed against all points.

    Example
    -------
    >>> x = np.array([[0.0], [1.0], [3.0]])
    >>> key, cand, width = lower_bound_matrix(x, 3)
    >>> core_distances(x, key, cand, width, 1).tolist()
    [1.0, 1.0, 2.0]
    """
    n, m = candidates.shape
    k = min_samples
    rows = np.arange(n)
    lo = key[rows[:, None], candidates].astype(np.float64)
    hi = lo + width[:, None] + width[candidates]
    kth = candidates[:, k]
    # Certain rank k: every closer-ranked upper bound is below its lower bound, every later lower bound above.
    certain = hi[:, :k].max(axis=1) < lo[:, k]
    if k + 1 < m:
        certain &= hi[:, k] < lo[:, k + 1]
    else:
        certain &= m == n
    result = np.empty(n)
    sure = np.flatnonzero(certain)
    result[sure] = exact_distances(x64, sure, kth[sure])
    unsure = np.flatnonzero(~certain)
    chunk = max(1, 4_000_000 // max(1, m * x64.shape[1]))
    redo = []
    for start in range(0, unsure.size, chunk):
        part = unsure[start : start + chunk]
        dist = _candidate_distances(x64, candidates[part], part, lo[part], hi[part], k)
        result[part] = dist[:, k]
        if m < n:
            # Safe when every non-candidate's bound (>= the largest candidate bound) is >= the k-th distance;
            # 1e-12: headroom for the rounding of the square root.
            redo.append(part[result[part] ** 2 * (1.0 + 1e-12) > lo[part, -1]])
    if redo and sum(r.size for r in redo):
        full = np.concatenate(redo)
        result[full] = full_row_core_distances(x64, key, width, full, k)
    return result


def _candidate_distances(
    x64: np.ndarray, cand: np.ndarray, part: np.ndarray, lo: np.ndarray, hi: np.ndarray, k: int
) -> np.ndarray:
    """Rows' candidate distances, sorted, exact up to entry ``k`` (later entries may be +inf).

    At least k + 1 candidates lie within ``t``, the (k+1)-th smallest upper bound of the row, so a candidate
    whose lower bound exceeds ``t`` ranks after entry k: it needs no exact distance (about half of them at
    D = 512). 1e-12: headroom for float64 rounding.
    """
    t = np.partition(hi, k, axis=1)[:, k : k + 1] * (1.0 + 1e-12)
    r_idx, c_idx = np.nonzero(lo <= t)
    dist = np.full(cand.shape, np.inf)
    dist[r_idx, c_idx] = exact_distances(x64, part[r_idx], cand[r_idx, c_idx])
    dist.sort(axis=1)
    return dist


def full_row_core_distances(
    x64: np.ndarray, key: np.ndarray, width: np.ndarray, rows: np.ndarray, k: int
) -> np.ndarray:
    """Entry ``k`` of the sorted exact distances from each of ``rows`` to all points, many rows at a time.

    For rows whose few candidates cannot settle the k-th neighbour (diffuse points in high dimensions, where
    many points lie at nearly the same distance). Per block of rows: the float32 bounds of the whole rows
    (``key[rows]``: a slice of the dense matrix, or one GEMM of :class:`~napwidget.clustering.lean.LazyKey`)
    give ``t``, the (k+1)-th smallest upper bound of each row; at least k+1 points (the point itself
    included) are then within ``t``, so no point whose lower bound exceeds ``t`` can change entry k. Only the
    rest get exact float64 distances (hdbscan's sequential order): the same value as sorting all N.

    Example
    -------
    >>> x = np.array([[0.0], [1.0], [3.0], [7.0]])
    >>> key, _, width = lower_bound_matrix(x, 4)
    >>> full_row_core_distances(x, key, width, np.array([0, 3]), 2).tolist()
    [3.0, 6.0]
    """
    n, d = x64.shape
    out = np.empty(rows.size)
    w = torch.from_numpy(np.ascontiguousarray(width, dtype=np.float64))
    # Relative headroom for the float64 rounding of the exact squared distances (<= D ulps) and their sqrt.
    slack = 1.0 + 1e-9 + d * 2.0**-50
    step = max(1, 4_000_000 // n)  # rows per block: a few float64 (rows, N) arrays of ~32 MB
    for start in range(0, rows.size, step):
        part = rows[start : start + step]
        lo = torch.from_numpy(np.asarray(key[part])).double()
        hi = lo + w[part].unsqueeze(1) + w.unsqueeze(0)
        t = torch.kthvalue(hi, k + 1, dim=1).values.clamp_min(0.0) * slack
        r_idx, c_idx = (lo <= t.unsqueeze(1)).nonzero(as_tuple=True)  # row-major: grouped by row
        del lo, hi
        r_idx, c_idx = r_idx.numpy(), c_idx.numpy()
        pairs = max(1, 4_000_000 // max(1, d))  # per exact_distances call: a (pairs, D) float64 buffer
        dist = np.concatenate(
            [
                exact_distances(x64, part[r_idx[a : a + pairs]], c_idx[a : a + pairs])
                for a in range(0, r_idx.size, pairs)
            ]
        )
        order = np.lexsort((dist, r_idx))
        first = np.searchsorted(r_idx, np.arange(part.size))
        out[start : start + part.size] = dist[order[first + k]]
    return out
