"""The shipped Vega-Lite templates: the builders' output, valid Vega-Lite, and no Altair to show a widget."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from napwidget.views import chart_templates as ct

alt = pytest.importorskip("altair")

REGENERATE = "run `python -m napwidget.views.chart_templates` and commit napwidget/views/chart_templates.json"


def shipped() -> dict:
    return json.loads(ct.SHIPPED.read_text())


def test_shipped_templates_are_what_the_builders_make() -> None:
    doc = shipped()
    assert set(doc["templates"]) == set(ct.BUILDERS), REGENERATE
    if doc["altair"].split(".")[:2] != alt.__version__.split(".")[:2]:
        pytest.skip(f"written with Altair {doc['altair']}, {alt.__version__} here: validity is checked below")
    built = json.loads(json.dumps(ct.build_all()))  # the JSON round trip of what write() stores
    for name, spec in built.items():
        assert doc["templates"][name] == spec, f"template {name!r} is stale: {REGENERATE}"


@pytest.mark.parametrize("name", sorted(ct.BUILDERS))
def test_shipped_templates_are_valid_vega_lite(name: str) -> None:
    spec = shipped()["templates"][name]
    kind = alt.LayerChart if "layer" in spec else alt.Chart
    kind.from_dict(spec, validate=True)  # raises on a spec that is not valid Vega-Lite


def test_scatter_template_sizes_and_copies() -> None:
    a = ct.scatter_template(True, True, 500, 300)
    b = ct.scatter_template(True, True, 340, 250)
    assert (a["width"], a["height"], b["width"], b["height"]) == (500, 300, 340, 250)
    a["layer"].clear()  # a caller's edits never reach the shipped template
    assert ct.scatter_template(True, True, 340, 250) == b
    tooltips = [t["title"] for t in b["layer"][0]["encoding"]["tooltip"]]
    assert "accuracy" in tooltips
    plain = ct.scatter_template(False, False, 340, 250)
    assert "accuracy" not in [t["title"] for t in plain["layer"][0]["encoding"]["tooltip"]]


def test_showing_a_widget_imports_no_altair() -> None:
    code = (
        "import sys, numpy as np\n"
        "from napwidget import NapWidget\n"
        "rng = np.random.default_rng(0)\n"
        "w = NapWidget.from_activations({'fc': rng.random((300, 32)).astype(np.float32)},\n"
        "    labels=rng.integers(0, 3, 300), images=rng.random((300, 8, 8)))\n"
        "w.selected_naps = [0]\n"
        "assert w.view['scatter']['layer'] and w.nap_detail['specs']['stats']\n"
        "print('altair' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
