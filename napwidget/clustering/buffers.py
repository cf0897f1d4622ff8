"""Large work buffers whose pages are mapped in one system call instead of one page fault at a time.

Why: the exact engine's N x N float32 matrix is 400 MB at N = 10,000. A plain ``np.empty`` maps its pages
lazily, and on a virtual machine (a cloud VM, a Colab runtime, this project's CI) the first write to each 4
KiB page traps to the hypervisor as well: measured ~1.0-1.1 s for 400 MB in a fresh process, about a third of
the whole 10k x 512 clustering. ``MAP_POPULATE`` asks Linux to map and zero all pages while creating the
mapping, which took ~0.2 s for the same 400 MB (``benchmarks/README.md``). Elsewhere (macOS, Windows, or a
Python without the flag) the buffer is a plain ``np.empty``.
"""

from __future__ import annotations

import mmap

import numpy as np

# Below this size the page faults cost less than a system call and a mapping of its own.
PREFAULT_MIN_BYTES = 64 * 2**20


def prefaulted_empty(shape: tuple[int, ...], dtype: np.dtype | type = np.float32) -> np.ndarray:
    """An uninitialised writable array like ``np.empty``, its pages mapped up front where Linux allows it.

    The memory is released when the array (and every view of it) is garbage collected.

    Example
    -------
    >>> a = prefaulted_empty((3, 4))
    >>> a.shape, a.dtype, a.flags.writeable
    ((3, 4), dtype('float32'), True)
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    populate = getattr(mmap, "MAP_POPULATE", None)
    if populate is None or nbytes < PREFAULT_MIN_BYTES:
        return np.empty(shape, dtype=dtype)
    try:
        buffer = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | populate)
    except (OSError, ValueError):  # e.g. a locked-down kernel or an address-space limit: lazy pages instead
        return np.empty(shape, dtype=dtype)
    return np.frombuffer(buffer, dtype=dtype).reshape(shape)
