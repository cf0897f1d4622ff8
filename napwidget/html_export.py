"""``NapWidget.save_html``: a standalone HTML file that shows the widget's current state without a kernel.

The file inlines the same front-end bundle the notebook uses (base64, loaded as an ES module from a Blob
URL, so nothing in it can end the ``<script>`` early) and the widget state as JSON. A static model shim in
the bundle (``renderStatic``) answers the views' requests from data embedded here: thumbnails and
activation profiles of as many inputs as fit in ``max_bytes`` (the selected ones first, then NAP members,
most typical first). Selection, sorting, hovering and paging keep working; so do min_cluster_size and the
selection method, re-selected in the page from the shipped single-linkage tree (napwidget.reselect_export);
the other parameters are fixed.
No network: no script is loaded from a URL.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from napwidget.errors import NapInputError
from napwidget.views import exported_traits

if TYPE_CHECKING:  # pragma: no cover
    from napwidget.widget import NapWidget

_STATIC = Path(__file__).parent / "static"


def _b64(data: bytes) -> dict[str, str]:
    return {"__b64__": base64.b64encode(bytes(data)).decode("ascii")}


def _priority_indices(widget: NapWidget) -> list[int]:
    """Inputs to embed, most useful first: selected, then each NAP's members (most typical first), noise."""
    ex = widget.explorer
    seen: dict[int, None] = dict.fromkeys(int(i) for i in widget.selected_indices)
    per_nap = [ex.members_of([i]) for i in range(ex.naps.n_naps)]
    # Round-robin over NAPs so that every NAP's first page is there before any NAP's tail.
    depth = 0
    while any(depth < len(m) for m in per_nap):
        chunk = 48
        for m in per_nap:
            for i in m[depth : depth + chunk]:
                seen.setdefault(int(i), None)
        depth += chunk
    for i in np.flatnonzero(np.asarray(ex.naps.labels) < 0):
        seen.setdefault(int(i), None)
    return list(seen)


def static_payload(widget: NapWidget, max_bytes: int = 12_000_000) -> dict[str, Any]:
    """The data the static shim needs to answer the views' requests (thumbnails, profiles)."""
    ex = widget.explorer
    naps = ex.naps
    feats = np.asarray(naps.features, dtype="<f4")
    f = feats.shape[1]
    order = _priority_indices(widget)
    r = ex.renderer
    kind = r.kind if r is not None else "index"
    per_item = 4 * f
    header: dict[str, Any] = {"kind": kind}
    if kind == "image":
        d = r.describe()
        per_item += d["h"] * d["w"] * d["c"]
    elif kind == "text":
        per_item += int(getattr(r, "max_chars", 160)) + 40  # one snippet (at most max_chars)
    # Per-NAP statistics for the profile chart (k x F x 3) come first: they are needed for every profile.
    stats: dict[str, Any] = {}
    if naps.n_naps:
        st = naps.stats
        for key in ("mean", "q1", "q3"):
            stats[key] = _b64(np.asarray(st[key], dtype="<f4").tobytes())
    overall = {
        "mean": _b64(feats.mean(axis=0).astype("<f4").tobytes()),
        "q1": _b64(np.quantile(feats, 0.25, axis=0).astype("<f4").tobytes()),
        "q3": _b64(np.quantile(feats, 0.75, axis=0).astype("<f4").tobytes()),
    }
    used = 3 * 4 * f * (naps.n_naps + 1)
    count = int(max(0, max_bytes - used) // max(per_item, 1))
    chosen = order[:count]
    thumbs: dict[str, Any] = {"kind": kind, "indices": chosen}
    if chosen and kind == "image":
        head, bufs = r.render(chosen)
        thumbs.update({k: head[k] for k in ("h", "w", "c")}, data=_b64(bufs[0]))
    elif chosen and kind == "text":
        head, _ = r.render(chosen)
        thumbs["texts"] = head.get("texts", [])
    header = {
        "thumbs": thumbs,
        "profiles": {
            "indices": chosen,
            "n_features": int(f),
            "values": _b64(feats[chosen].tobytes()) if chosen else _b64(b""),
            "probabilities": [round(float(p), 4) for p in np.asarray(naps.probabilities)[chosen]],
            "stats": stats,
            "overall": overall,
            "layer": ex.params["layer"],
        },
        "complete": len(chosen) == ex.n,
        "n_embedded": len(chosen),
    }
    return header


# Panels never opened before saving are computed for the file when that is cheap: the Mapper graph (auto eps)
# and the mid-range view grow ~N^2; at this many inputs (x 512 features) they took 18 s on a 2-core machine
# loaded ~10x (a few seconds quiet; benchmarks/README.md, "Static export"), at 2,100 inputs 8 s. Larger
# widgets show the "not part of this export" note in those panels instead.
STATIC_COMPUTE_MAX_INPUTS = 5_000


def unopened_panels(widget: NapWidget, max_inputs: int | None = None) -> dict[str, Any]:
    """View models of the Mapper and mid-range panels that were never opened, computed now (without opening
    them in the live widget) when the widget has at most ``max_inputs`` inputs."""
    limit = STATIC_COMPUTE_MAX_INPUTS if max_inputs is None else max_inputs
    if widget.explorer.n > limit:
        return {}
    out: dict[str, Any] = {}
    try:
        if not widget.mapper:
            out["mapper"] = widget.mapper_graph_view()
        if not widget.midrange and widget.midrange_outputs is not None:
            out["midrange"] = widget.midrange_view()
    except NapInputError:  # a panel that cannot be computed keeps its note in the file
        pass
    return out


def widget_state(widget: NapWidget) -> dict[str, Any]:
    """The synced state as JSON (bytes traits as ``{"__b64__": ...}``), marked static."""
    state: dict[str, Any] = {}
    for name in exported_traits(widget):
        value = getattr(widget, name)
        state[name] = _b64(value) if isinstance(value, (bytes, bytearray, memoryview)) else value
    state["busy"] = False
    state["static"] = True
    return state


def _json_for_script(obj: Any) -> str:
    """JSON safe inside a <script> element: '<', '>' and '&' are escaped as unicode escapes."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="napwidget">
<title>{title}</title>
<style>
body {{ margin: 0; padding: 16px; background: var(--jp-layout-color0, #ffffff); }}
@media (prefers-color-scheme: dark) {{ body {{ background: #111; }} }}
{css}
</style>
</head>
<body>
<div id="napw-app"></div>
<noscript>This napwidget export needs JavaScript.</noscript>
<script type="application/json" id="napw-state">{state}</script>
<script type="text/plain" id="napw-esm">{esm}</script>
<script type="module">
const text = document.getElementById("napw-esm").textContent.trim();
const bin = atob(text);
const bytes = new Uint8Array(bin.length);
for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
const url = URL.createObjectURL(new Blob([bytes], {{ type: "text/javascript" }}));
const mod = await import(url);
const payload = JSON.parse(document.getElementById("napw-state").textContent);
await mod.renderStatic(document.getElementById("napw-app"), payload);
document.body.dataset.ready = "1";
</script>
</body>
</html>
"""


def render_html(widget: NapWidget, *, title: str | None = None, max_bytes: int = 12_000_000) -> str:
    """The standalone HTML document as a string (see :func:`save_html`)."""
    js_path, css_path = _STATIC / "widget.js", _STATIC / "widget.css"
    if not js_path.exists():
        raise NapInputError(
            "the napwidget front-end bundle (napwidget/static/widget.js) is missing",
            "build it with `cd js && npm install && npm run build`, or install napwidget from a wheel",
        )
    esm = base64.b64encode(js_path.read_bytes()).decode("ascii")
    css = css_path.read_text(encoding="utf-8") if css_path.exists() else ""
    css = css.replace("</", "<\\/")  # cannot end the <style> element early
    state = {**widget_state(widget), **unopened_panels(widget)}
    payload = {"state": state, "static": static_payload(widget, max_bytes=max_bytes)}
    # the view state, for NapWidget.set_state_dict(state_from_html(path))
    if hasattr(widget, "get_state_dict"):
        payload["view_state"] = widget.get_state_dict()
    title = title or f"napwidget \u00b7 {widget.layer}"
    return _TEMPLATE.format(title=html.escape(title), css=css, state=_json_for_script(payload), esm=esm)


def save_html(
    widget: NapWidget, path: str | Path, *, title: str | None = None, max_bytes: int = 12_000_000
) -> Path:
    """Write the widget's current state as a standalone HTML file; return its path.

    Example
    -------
    >>> w.save_html("naps.html")  # doctest: +SKIP
    """
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        path = path.with_suffix(".html")
    text = render_html(widget, title=title, max_bytes=max_bytes)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
