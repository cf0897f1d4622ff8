"""Mid-range view of the widget without a browser: lazy view model, band -> gallery selection and band-NAPs,
class / layer changes, validation errors, curation and its CSV / JSON export."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from napwidget.errors import NapInputError
from napwidget.midrange import band_naps, logit_bands
from napwidget.views.midrange import band_order, curation_csv, default_band, midrange_view
from napwidget.widget import NapWidget

EVIL = "<img src=x onerror=alert(1)>"


def data(n_per=40, k=4, dim=12, seed=0):
    """Four blobs; logit k is high on blob k, half-way on blobs k+1 and k+2 (its "associations"), low on
    k+3."""
    rng = np.random.default_rng(seed)
    centers = rng.uniform(0, 3, size=(k, dim)) * (rng.uniform(size=(k, dim)) < 0.5)
    X = np.maximum(np.concatenate([c + rng.normal(scale=0.1, size=(n_per, dim)) for c in centers]), 0).astype(
        np.float32
    )
    y = np.repeat(np.arange(k), n_per)
    Z = rng.normal(scale=0.3, size=(len(y), k))
    Z[np.arange(len(y)), y] += 6.0
    Z[np.arange(len(y)), (y - 1) % k] += 3.0  # blobs k+1 and k+2 half-fire logit k
    Z[np.arange(len(y)), (y - 2) % k] += 3.0
    groups = np.where(np.arange(len(y)) % 2 == 0, "red", "green")
    return {"early": X[:, :6] * 2.0, "mid": X}, y, Z, groups


@pytest.fixture(scope="module")
def parts():
    return data()


@pytest.fixture
def w(parts):
    acts, y, Z, groups = parts
    return NapWidget.from_activations(
        acts,
        labels=y,
        class_names=[EVIL, "one", "two", "three"],
        outputs=Z,
        groups=groups,
        min_cluster_size=8,
    )


def test_lazy_and_default_band(w, parts):
    _, _, Z, _ = parts
    assert w.midrange == {} and w.midrange_open is False  # nothing computed before the panel opens
    w.midrange_open = True
    vm = w.midrange
    assert vm["class"] == 0 and vm["layer"] == "mid" and vm["outputs"][0] == EVIL  # names go out as data
    lo, hi = default_band(Z[:, 0])
    assert w.midrange_band == pytest.approx([lo, hi], abs=1e-5)
    want = logit_bands(Z, 0, bands=(lo, hi), mode="value")["mid"]
    assert sorted(vm["band_indices"]) == want.tolist() and vm["count"] == len(want)
    assert w.selected_indices == vm["band_indices"]  # the gallery shows the band
    assert len(vm["logits"]) == 160 and vm["groups"] is not None and vm["group_names"] == ["green", "red"]
    json.dumps(vm)
    w.midrange_open = False
    assert w.midrange == {}


def test_band_change_moves_gallery_and_band_naps(w, parts):
    acts, _, Z, _ = parts
    w.midrange_open = True
    w.midrange_band = [2.0, 4.5]  # blobs 1 and 2 (the logit's "associations") sit here
    vm = w.midrange
    inside = np.flatnonzero((Z[:, 0] >= 2.0) & (Z[:, 0] < 4.5))
    assert sorted(w.selected_indices) == inside.tolist() and vm["count"] == len(inside)
    assert len(vm["naps"]) >= 2, "each associated blob forms a band-NAP"
    bn = band_naps(
        acts,
        "mid",
        inside,
        min_cluster_size=8,
        min_samples=5,
        cluster_selection_method="leaf",
        normalize="unit",
    )
    assert [r["all_members"] for r in vm["naps"]] == [bn.members(i).tolist() for i in range(bn.n_naps)]
    # gallery order: the most typical input of each band-NAP first, then the second, ..., then noise
    noise = inside[np.asarray(bn.naps.labels) < 0]
    assert w.selected_indices == band_order([bn.members(i) for i in range(bn.n_naps)], noise, Z[:, 0])
    assert w.selected_indices[: len(vm["naps"])] == [r["all_members"][0] for r in vm["naps"]]
    assert all(set(r["all_members"]) <= set(inside.tolist()) for r in vm["naps"])
    assert {r["dominant"] for r in vm["naps"]} == {1, 2}  # the band-NAPs are the associations of logit 0
    # another band: everything follows
    w.midrange_band = [5.0, 9.0]
    assert sorted(w.selected_indices) == np.flatnonzero((Z[:, 0] >= 5.0) & (Z[:, 0] < 9.0)).tolist()
    assert w.error == ""


def test_class_and_layer_changes(w, parts):
    _, _, Z, _ = parts
    w.midrange_open = True
    w.midrange_band = [2.0, 4.5]
    w.midrange_class = 2
    assert w.midrange["class"] == 2
    assert w.midrange_band == pytest.approx(
        default_band(Z[:, 2]), abs=1e-5
    )  # a new class starts from its default band
    w.midrange_layer = "early"
    assert w.midrange["layer"] == "early" and w.error == ""
    w.min_cluster_size = 6  # new clustering parameters: the band-NAPs follow
    assert w.midrange["params"]["min_cluster_size"] == 6


def test_lazy_band_changes_compute_nothing(w):
    w.midrange_band = [1.0, 2.0]
    w.midrange_class = 1
    assert w.midrange == {} and w.selected_indices == []
    w.midrange_open = True
    assert w.midrange["class"] == 1 and w.selected_indices == w.midrange["band_indices"]


@pytest.mark.parametrize(
    "trait, value, needle",
    [
        ("midrange_band", [3.0, 1.0], "lo < hi"),
        ("midrange_class", 9, "out of range"),
        ("midrange_layer", "nope", "unknown layer"),
    ],
)
def test_bad_values_are_reverted_with_a_message(w, trait, value, needle):
    w.midrange_open = True
    before = (w.midrange_band, w.midrange_class, w.midrange_layer)
    setattr(w, trait, value)
    assert needle in w.error and "Fix:" in w.error
    assert (w.midrange_band, w.midrange_class, w.midrange_layer) == before


def test_no_outputs_is_a_clear_error(parts):
    acts, y, _, _ = parts
    w = NapWidget.from_activations(acts, labels=y)
    w.midrange_open = True
    assert "needs the model's outputs" in w.error and "outputs=" in w.error
    assert w.midrange == {}
    with pytest.raises(NapInputError, match="outputs"):
        w.midrange_view()
    with pytest.raises(NapInputError, match="rows"):
        NapWidget.from_activations(acts, outputs=np.zeros((3, 4)))


def test_curate_and_export(w, parts, tmp_path):
    _, y, Z, groups = parts
    w.midrange_open = True
    w.midrange_band = [2.0, 4.5]
    w.curated_indices = list(w.selected_indices[:5]) + [w.selected_indices[0]]
    cur = sorted(set(w.selected_indices[:5]))
    assert w.curated_indices == cur
    recs = w.midrange["curation"]
    assert [r["index"] for r in recs] == cur
    i = cur[0]
    assert recs[0] == {
        "index": i,
        "label": [EVIL, "one", "two", "three"][y[i]],
        "prediction": [EVIL, "one", "two", "three"][Z[i].argmax()],
        "group": str(groups[i]),
        "curated_for": EVIL,
        "logit": round(float(Z[i, 0]), 4),
        "weight": 1.0,
    }
    w.curated_indices = [*cur, 10_000]
    assert w.curated_indices == cur and "dropped" in w.error

    p = w.export_curation(tmp_path / "cur.csv")
    text = p.read_text()
    assert text == curation_csv(recs)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [int(r["index"]) for r in rows] == cur and rows[0]["label"] == recs[0]["label"]  # quoted safely
    assert float(rows[0]["logit"]) == pytest.approx(Z[i, 0], abs=1e-4)
    doc = json.loads(w.export_curation(tmp_path / "cur.json").read_text())
    assert doc["format"] == "napwidget-curation" and doc["indices"] == cur and doc["n_inputs"] == 160
    assert doc["records"] == recs
    with pytest.raises(NapInputError, match="format"):
        w.export_curation(tmp_path / "cur.txt")


def test_export_carries_the_weights_of_a_weighted_curation(w, parts, tmp_path):
    from napwidget.midrange import curate, retrain_last_layer

    _, y, Z, _ = parts
    w.midrange_open = True
    cur = curate(Z, y, strategy="midrange_weighted", bands=(0, 0.1), upweight=4)
    w.set_curation(cur)
    assert w.curated_indices == cur.indices.tolist()
    doc = json.loads(w.export_curation(tmp_path / "w.json").read_text())
    assert doc["indices"] == cur.indices.tolist()
    assert np.allclose(doc["weights"], cur.weights, atol=1e-6) and len(set(np.round(doc["weights"], 4))) > 1
    up = cur.source_class >= 0  # up-weighted inputs keep the class whose band picked them, the rest have none
    recs = {r["index"]: r for r in doc["records"]}
    assert all((recs[int(i)]["curated_for"] != "") == bool(u) for i, u in zip(cur.indices, up))
    rows = list(csv.DictReader(io.StringIO(w.export_curation(tmp_path / "w.csv").read_text())))
    assert np.allclose([float(r["weight"]) for r in rows], cur.weights, atol=1e-6)
    # The exported file is enough to retrain with the same weights.
    feats = np.random.default_rng(0).random((len(y), 64), dtype=np.float32)
    from napwidget.datasets.digits import DigitsCNN
    from napwidget.midrange import Curation, head_predict

    again = Curation(
        np.array(doc["indices"]), np.array(doc["weights"], np.float32), "file", np.full(len(cur), -1)
    )
    a = head_predict(retrain_last_layer(DigitsCNN(), feats, y, cur, l2=0.1), feats)  # well-conditioned
    b = head_predict(retrain_last_layer(DigitsCNN(), feats, y, again, l2=0.1), feats)
    assert np.allclose(a, b, atol=1e-3)
    # Inputs curated by hand afterwards weigh 1; inputs dropped lose their weight.
    w.curated_indices = w.curated_indices[:3]
    assert [r["weight"] for r in w.curation_records()] == [round(float(v), 6) for v in cur.weights[:3]]
    with pytest.raises(NapInputError, match="Curation"):
        w.set_curation([1, 2])


def test_view_builder_and_model_path():
    torch = pytest.importorskip("torch")
    from napwidget.datasets.digits import DigitsCNN

    torch.manual_seed(0)
    model = DigitsCNN(in_channels=3)
    x = np.random.default_rng(0).random((60, 3, 8, 8), dtype=np.float32)
    w = NapWidget(
        model, x, layers=["fc1", "relu4", "fc2"], cache=None, groups=np.arange(60) % 3, min_cluster_size=5
    )
    w.midrange_open = True
    assert w.error == "" and w.midrange["layer"] == "relu4"  # the layer before the output
    vm = midrange_view(w.explorer, None, 3, [-100.0, 100.0], "fc1")
    assert vm["count"] == 60 and len(vm["band_indices"]) == 60 and vm["layer"] == "fc1"
    assert w.midrange["group_names"] == ["0", "1", "2"] and len(w.midrange["outputs"]) == 10
