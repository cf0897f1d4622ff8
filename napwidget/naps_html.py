"""``NAPs._repr_html_``: a compact HTML summary of a layer's NAPs for notebooks (all text escaped)."""

from __future__ import annotations

import html
import math
from typing import Any

_STYLE = "border-collapse:collapse;font-size:12px"
_CELL = "padding:2px 8px;text-align:right"


def _cell(value: Any, tag: str = "td") -> str:
    if isinstance(value, float):
        text = "" if math.isnan(value) else f"{value:.3g}"
    else:
        text = "" if value is None else str(value)
    return f'<{tag} style="{_CELL}">{html.escape(text)}</{tag}>'


def naps_html(naps: Any, max_rows: int = 10) -> str:
    """Header line (layer, NAP count, inputs, noise, engine, parameters) and the first ``max_rows`` NAPs.

    Example
    -------
    >>> import numpy as np
    >>> from napwidget import find_naps
    >>> x = np.random.default_rng(0).normal(size=(60, 4)) + np.repeat(np.eye(4)[:3] * 8, 20, axis=0)
    >>> "<table" in naps_html(find_naps(x, min_cluster_size=10))
    True
    """
    n = naps.n_samples
    noise = float((naps.labels < 0).mean()) if n else 0.0
    params = ", ".join(f"{k}={v}" for k, v in naps.params.items() if k not in ("algorithm",))
    layer = html.escape(str(naps.layer))
    head = (
        f"<b>NAPs</b> of layer <code>{layer}</code>: <b>{naps.n_naps}</b> NAPs over "
        f"{n:,} inputs, {noise:.0%} noise &middot; {html.escape(naps.algorithm)} engine"
        f"<br><span style='opacity:.7'>{html.escape(params)}</span>"
    )
    rows = naps.summary()[:max_rows]
    cols = ["nap", "size", "persistence", "purity", "dominant"]
    body = "".join("<tr>" + "".join(_cell(r[c]) for c in cols) + "</tr>" for r in rows)
    more = naps.n_naps - len(rows)
    tail = (
        (
            f"<div style='opacity:.7'>&hellip; {more} more: "
            "<code>naps.summary(as_frame=True)</code> lists all</div>"
        )
        if more > 0
        else ""
    )
    table = (
        (
            f"<table style='{_STYLE}'><thead><tr>"
            + "".join(_cell(c, "th") for c in cols)
            + f"</tr></thead><tbody>{body}</tbody></table>"
        )
        if rows
        else ""
    )
    return f"<div class='napw-naps-repr'>{head}{table}{tail}</div>"
