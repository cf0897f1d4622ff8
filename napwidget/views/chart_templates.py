"""The Vega-Lite templates of the widget's charts, shipped as JSON so that showing a widget needs no Altair.

Why: ``import altair`` takes ~2 s on this machine, and building and validating the scatter's template
another ~0.3 s; both were part of every fresh kernel's first widget (and the template part of every new
label/prediction combination). The templates are plain data that only change with this module's code, so
they are built with Altair once, by the developers, and shipped in ``chart_templates.json``:

    python -m napwidget.views.chart_templates      # after changing a builder below

``tests/test_chart_templates.py`` checks that the shipped file equals what the builders make (with the
Altair version that wrote it) and that every template is valid Vega-Lite. Where the file lacks a template
(an edited builder not yet shipped), it is built with Altair at run time, as before.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

from napwidget.explorer import NO_LABEL_COLOR

SHIPPED = Path(__file__).with_name("chart_templates.json")
# The scatter's default plot size; a call with another size patches the two top-level keys.
SCATTER_SIZE = (340, 250)


def scatter_key(has_labels: bool, has_predictions: bool) -> str:
    """Name of the scatter template for the columns a result has.

    Example
    -------
    >>> scatter_key(True, False)
    'scatter/labels'
    """
    if not has_labels:
        return "scatter/plain"
    return "scatter/labels+predictions" if has_predictions else "scatter/labels"


def template(name: str) -> dict:
    """A fresh (deep) copy of the template ``name``: "stats", "hist", "bars" or a :func:`scatter_key`.

    Example
    -------
    >>> sorted(template("hist")["encoding"])[:3]
    ['color', 'order', 'tooltip']
    """
    shipped = _shipped()
    spec = shipped.get(name)
    if spec is None:
        spec = _built(name)
    return copy.deepcopy(spec)


def scatter_template(has_labels: bool, has_predictions: bool, width: int, height: int) -> dict:
    """The scatter's template for these columns and plot size (a fresh copy)."""
    spec = template(scatter_key(has_labels, has_predictions))
    spec["width"], spec["height"] = int(width), int(height)
    return spec


@functools.cache
def _shipped() -> dict[str, Any]:
    try:
        return json.loads(SHIPPED.read_text())["templates"]
    except (OSError, ValueError, KeyError):  # a source checkout without the file: build instead
        return {}


@functools.cache
def _built(name: str) -> dict:
    return BUILDERS[name]()


def build_all() -> dict[str, dict]:
    """Every template, built with Altair (what ``chart_templates.json`` holds)."""
    return {name: build() for name, build in BUILDERS.items()}


def write(path: Path = SHIPPED) -> Path:
    """Build every template with Altair and write them (and the Altair version) to ``path``."""
    import altair as alt

    doc = {"altair": alt.__version__, "templates": build_all()}
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return path


# ------------------------------------------------------------------------------------------- builders
def nap_color(alt: Any, has_labels: bool) -> Any:
    """A NAP point's colour: its dominant label (domain and range filled in per result), else one colour.

    The legend is drawn in HTML by the front end (clickable, and the only SVG symbols are the NAPs).
    """
    if not has_labels:
        return alt.value(NO_LABEL_COLOR)
    return alt.Color(
        "dominant:N", title="dominant label", scale=alt.Scale(domain=["a"], range=["#000000"]), legend=None
    )


def highlight(alt: Any, lit: str, shown: str, stroke_dim: float) -> dict[str, Any]:
    """Encodings of NAP points that the selection and hover light up (``lit``) or dim (not ``shown``).

    The outline is ``currentColor``, the theme's text colour (set by the front end's CSS): visible on light
    and dark themes. Shared by the scatter and the persistence diagram (views/topology.py).
    """
    return {
        "opacity": alt.condition(shown, alt.value(0.95), alt.value(0.28)),
        "stroke": alt.value("currentColor"),
        "strokeOpacity": alt.condition(lit, alt.value(1.0), alt.value(stroke_dim)),
        "strokeWidth": alt.condition(lit, alt.value(2.2), alt.value(0.6)),
    }


def _build_scatter(has_labels: bool, has_predictions: bool) -> dict:
    """The scatter's Vega-Lite structure: the points, then their NAP ids as text; data and scales are filled
    in per result (:meth:`napwidget.explorer.Explorer.scatter_spec`). One template serves every NAP count (a
    result with many NAPs drops the text layer), so crossing that count never compiles a second one in an
    update (~0.3 s)."""
    import altair as alt

    napsel = alt.param(name="napsel", value=[])
    hover = alt.param(name="napHover", value=-1)
    napfilt = alt.param(name="napfilt", value=[])  # NAPs with inputs passing the filters ([] = no filter)
    passes = "(length(napfilt) == 0 || indexof(napfilt, datum.nap) >= 0)"
    brush = alt.selection_interval(name="brush", encodings=["x", "y"], clear="dblclick", empty=False)
    is_sel = "indexof(napsel, datum.nap) >= 0"
    any_sel = "length(napsel) > 0"
    color = nap_color(alt, has_labels)
    tooltip = [
        alt.Tooltip("nap:Q", title="NAP"),
        alt.Tooltip("size:Q", title="members"),
        alt.Tooltip("persistence:Q", title="persistence", format=".3f"),
    ]
    if has_labels:
        tooltip += [
            alt.Tooltip("dominant:N", title="dominant label"),
            alt.Tooltip("purity:Q", title="purity", format=".0%"),
        ]
        if has_predictions:
            tooltip.append(alt.Tooltip("accuracy:Q", title="accuracy", format=".0%"))
    base = alt.Chart(alt.Data(values=[{"nap": 0, "size": 1, "persistence": 0.0}])).encode(
        x=alt.X(
            "size:Q", title="members (log scale)", scale=alt.Scale(type="log", domain=[1, 2], nice=False)
        ),
        y=alt.Y("persistence:Q", title="persistence", scale=alt.Scale(zero=False, nice=True)),
    )
    lit = f"{is_sel} || datum.nap == napHover"
    points = (
        base.mark_point(filled=True, size=110)
        .encode(
            color=color,
            tooltip=tooltip,
            **highlight(alt, lit, f"({lit} || !({any_sel})) && {passes}", stroke_dim=0.25),
        )
        .add_params(napsel, hover, brush, napfilt)
    )
    text = base.mark_text(align="left", dx=7, dy=-6, fontSize=10).encode(
        text=alt.Text("nap:Q"),
        opacity=alt.condition(f"({is_sel} || !({any_sel})) && {passes}", alt.value(0.85), alt.value(0.3)),
    )
    layers = [points, text]
    chart = (
        alt.layer(*layers)
        .properties(width=SCATTER_SIZE[0], height=SCATTER_SIZE[1])
        .configure_view(stroke=None)
        .configure(background="transparent")
        .configure_axis(
            grid=True, gridOpacity=0.35, labelFontSize=10, titleFontSize=11, titleFontWeight="normal"
        )
    )
    spec = chart.to_dict()
    spec.pop("$schema", None)  # no URLs in the state (offline; save_html)
    return spec


def _finish(chart: Any) -> dict:
    spec = (
        chart.configure_view(strokeWidth=0)
        .configure(background="transparent")
        .configure_axis(
            grid=True, gridOpacity=0.3, labelFontSize=10, titleFontSize=11, titleFontWeight="normal"
        )
        .to_dict()
    )
    spec.pop("$schema", None)  # no URLs in the state (offline; save_html)
    spec.pop("datasets", None)
    return spec


def _build_stats() -> dict:
    """Per unit: whisker rule, IQR bar, mean dot (median in the tooltip); one colour per NAP (``color``
    field).

    Data ``stats``: rows ``{unit, nap, color, min, q1, median, mean, q3, max, iqr, lower_whisker,
    upper_whisker}``.
    """
    import altair as alt

    data = alt.Data(name="stats")
    x = alt.X(
        "unit:O",
        title="unit",
        sort=None,
        axis=alt.Axis(labelOverlap="greedy", labelAngle=0, labelFontSize=9, ticks=False, grid=False),
    )
    off = alt.XOffset("nap:N", sort=None)
    color = alt.Color("color:N", scale=None)
    tip = [
        alt.Tooltip("nap:N", title="NAP"),
        alt.Tooltip("unit:O", title="unit"),
        alt.Tooltip("mean:Q", format=".4f"),
        alt.Tooltip("median:Q", format=".4f"),
        alt.Tooltip("q1:Q", title="q1", format=".4f"),
        alt.Tooltip("q3:Q", title="q3", format=".4f"),
        alt.Tooltip("iqr:Q", title="IQR", format=".4f"),
        alt.Tooltip("lower_whisker:Q", title="lower whisker", format=".4f"),
        alt.Tooltip("upper_whisker:Q", title="upper whisker", format=".4f"),
        alt.Tooltip("min:Q", format=".4f"),
        alt.Tooltip("max:Q", format=".4f"),
    ]
    base = alt.Chart(data).encode(x=x, xOffset=off, color=color, tooltip=tip)
    y = alt.Y("lower_whisker:Q", title="normalised activation", scale=alt.Scale(zero=True, nice=True))
    whisker = base.mark_rule(strokeWidth=1, opacity=0.75).encode(y=y, y2="upper_whisker:Q")
    box = base.mark_bar(opacity=0.38, width={"band": 0.7}).encode(y=alt.Y("q1:Q"), y2="q3:Q")
    mean = base.mark_point(filled=True, size=30, opacity=1, shape="circle").encode(y="mean:Q")
    return _finish(alt.layer(whisker, box, mean).properties(width=600, height=190))


def _build_hist() -> dict:
    """Membership probability histogram; data ``hist``: ``{bin0, bin1, count, nap, color}`` (stacked per
    NAP)."""
    import altair as alt

    chart = (
        alt.Chart(alt.Data(name="hist"))
        .mark_bar(binSpacing=1)
        .encode(
            x=alt.X(
                "bin0:Q",
                title="membership probability",
                scale=alt.Scale(domain=[0, 1], nice=False),
                bin="binned",
            ),
            x2="bin1:Q",
            y=alt.Y("count:Q", title="inputs", stack="zero"),
            color=alt.Color("color:N", scale=None),
            order=alt.Order("pos:Q"),
            tooltip=[
                alt.Tooltip("nap:N", title="NAP"),
                alt.Tooltip("bin0:Q", title="from", format=".2f"),
                alt.Tooltip("bin1:Q", title="to", format=".2f"),
                alt.Tooltip("count:Q", title="inputs"),
            ],
        )
        .properties(width=260, height=110)
    )
    return _finish(chart)


def _build_bars() -> dict:
    """Label (or prediction) counts; data ``bars``: ``{cls, code, count, nap, color, pos, active, dim}``.

    A click on a bar toggles a filter of its class (``datum.code``); active filters are outlined, the other
    classes dimmed.
    """
    import altair as alt

    chart = (
        alt.Chart(alt.Data(name="bars"))
        .mark_bar(cursor="pointer")
        .encode(
            x=alt.X(
                "cls:N",
                title=None,
                sort=alt.EncodingSortField(field="rank", op="min", order="ascending"),
                axis=alt.Axis(labelAngle=-35, labelLimit=90, labelOverlap=False, grid=False),
            ),
            y=alt.Y("count:Q", title="inputs", stack="zero"),
            color=alt.Color("color:N", scale=None),
            order=alt.Order("pos:Q"),
            opacity=alt.condition("datum.dim", alt.value(0.28), alt.value(0.92)),
            stroke=alt.condition("datum.active", alt.value("currentColor"), alt.value(None)),
            strokeWidth=alt.condition("datum.active", alt.value(1.6), alt.value(0)),
            tooltip=[
                alt.Tooltip("cls:N", title="class"),
                alt.Tooltip("nap:N", title="NAP"),
                alt.Tooltip("count:Q", title="inputs"),
            ],
        )
        .properties(width=260, height=120)
    )
    return _finish(chart)


BUILDERS = {
    "scatter/plain": lambda: _build_scatter(False, False),
    "scatter/labels": lambda: _build_scatter(True, False),
    "scatter/labels+predictions": lambda: _build_scatter(True, True),
    "stats": _build_stats,
    "hist": _build_hist,
    "bars": _build_bars,
}


if __name__ == "__main__":
    print(f"wrote {write()}")
