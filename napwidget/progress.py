"""Progress bars for long runs (clustering, Mapper): tqdm, shown only when a run is expected to be slow.

``progress=None`` (the default of :func:`~napwidget.find_naps` and :func:`~napwidget.mapper_graph`) shows a
bar when the run's predicted time exceeds :data:`AUTO_SECONDS` (a cost model measured on a 2-core machine;
fast machines see fewer bars), ``True`` always, ``False`` never. The computing code reports progress
through a plain callback ``report(fraction_done, stage)``, so it does not depend on tqdm.

Example
-------
>>> with progress_bar(False, "NAPs") as report:
...     report(0.5, "spanning tree")
"""

from __future__ import annotations

from collections.abc import Callable

AUTO_SECONDS = 2.0
Report = Callable[[float, str], None]


def expected_seconds(kind: str, n: int, d: int) -> float:
    """Predicted run time on a 2-core machine (measured: benchmarks/README.md); only decides on a bar.

    Example
    -------
    >>> expected_seconds("exact", 20_000, 512) > AUTO_SECONDS > expected_seconds("exact", 5_000, 512)
    True
    """
    n2 = float(n) * float(n)
    if kind == "exact":  # blocked GEMM ~ N^2 D, Prim's ~ N^2 (10k x 512: ~1.7 s, 10k x 128: ~1.2 s)
        return n2 * (1.5e-11 * d + 1.0e-8)
    if kind == "hdbscan":  # hdbscan's Prim's / Boruvka (5k x 512: ~9 s; 20k x 64: ~15 s)
        return n2 * d * 6.0e-10
    if kind == "approximate":  # k-NN graph + MST, ~N log N (200k x 512: ~2 min on 2 cores, benchmarks/)
        return float(n) * d * 1.0e-6
    if kind == "mapper":  # eps-neighbour blocks over overlapping intervals (10k x 512: ~2.5 s loaded)
        return n2 * d * 5.0e-11
    return 0.0


class ProgressBar:
    """A ``report(fraction, stage)`` callable drawing a tqdm bar in percent; a no-op when not shown.

    Shown when ``progress`` is True, or when it is None and ``expected`` (seconds) exceeds
    :data:`AUTO_SECONDS`. The bar appears at the first report, so work that turns out to be cached (never
    reports) shows none. Use it as a context manager, or call :meth:`close` when the work is done.
    """

    def __init__(self, progress: bool | None, desc: str, *, expected: float = 0.0) -> None:
        self.enabled = bool(progress) if progress is not None else expected > AUTO_SECONDS
        self.desc = desc
        self._bar = None
        self._stage = ""

    def __call__(self, fraction: float, stage: str) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=100,
                desc=self.desc,
                unit="%",
                bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}",
            )
        if stage != self._stage:
            self._stage = stage
            self._bar.set_postfix_str(stage, refresh=False)
        self._bar.update(min(100, max(self._bar.n, int(round(100 * fraction)))) - self._bar.n)

    def close(self) -> None:
        """Complete and close the bar (if one was drawn)."""
        if self._bar is not None:
            self(1.0, "done")
            self._bar.close()
            self._bar = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bar(progress: bool | None, desc: str, *, expected: float = 0.0) -> ProgressBar:
    """A :class:`ProgressBar` (see there)."""
    return ProgressBar(progress, desc, expected=expected)
