"""Text and other non-classifier models: dict inputs into the widget, predictions only from class scores,
an explanatory line otherwise, and mid-range logit bands refused for non-class outputs."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_text import TinyEncoder, token_batch

from napwidget.errors import NapInputError
from napwidget.explorer import Explorer
from napwidget.midrange import logit_bands
from napwidget.widget import NapWidget

N = 45
NAMES = [f"module{k}" for k in range(15)]


@pytest.fixture(scope="module")
def text_data():
    batch, lengths = token_batch(n=N, seed=3)
    y = np.arange(N) % 15
    texts = [f"docstring {i}: " + "word " * int(k) * 8 for i, k in enumerate(lengths)]
    return batch, y, texts


def _widget(model, batch, y, texts, **kw):
    return NapWidget(
        model,
        batch,
        layers=["norm1", "norm2", "head"],
        labels=y,
        class_names=NAMES,
        images=texts,
        cache=None,
        min_cluster_size=3,
        min_samples=2,
        **kw,
    )


def test_an_embedding_model_infers_no_predictions_and_says_why(text_data):
    batch, y, texts = text_data
    w = _widget(TinyEncoder(n_out=24), batch, y, texts)
    vm = w.view
    assert vm["item"]["kind"] == "text" and not vm["has_predictions"]
    assert (
        vm["predictions_note"]
        == "outputs are 24-wide, not scores for 15 classes: pass predictions= to show correctness"
    )
    assert all(r["accuracy"] is None for r in vm["naps"])  # no "0% correct" on any card
    pred = np.frombuffer(w._truth[4 * N :], "<i4")
    assert (pred == -1).all()  # no input carries a prediction, so none is marked misclassified
    assert np.frombuffer(w._truth[: 4 * N], "<i4").tolist() == y.tolist()  # the label make-up stays
    assert vm["card_texts"] and all(t.startswith("docstring ") for t in vm["card_texts"])


def test_class_scores_still_infer_predictions(text_data):
    batch, y, texts = text_data
    w = _widget(TinyEncoder(n_out=15), batch, y, texts)
    assert w.view["has_predictions"] and w.view["predictions_note"] == ""
    z = w.explorer.activations.outputs
    assert w.explorer.pred_codes.tolist() == z.argmax(axis=1).tolist()  # names in class order: code = class
    assert any(r["accuracy"] is not None for r in w.view["naps"])


def test_predictions_false_turns_inference_off_and_an_array_wins(text_data):
    batch, y, texts = text_data
    w = _widget(TinyEncoder(n_out=15), batch, y, texts, predictions=False)
    assert not w.view["has_predictions"] and w.view["predictions_note"] == ""
    given = (y + 1) % 15
    w2 = _widget(TinyEncoder(n_out=24), batch, y, texts, predictions=given)
    assert w2.view["has_predictions"] and w2.view["predictions_note"] == ""
    assert w2.explorer.pred_codes.tolist() == given.tolist()


def test_the_class_count_comes_from_class_names_or_the_label_range():
    from napwidget.activations import Activations

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6)).astype(np.float32)
    y = np.arange(40) % 4
    four, one = rng.normal(size=(40, 4)), rng.normal(size=(40, 1))
    assert Explorer(Activations({"h": X}, outputs=four), labels=y).predictions is not None  # label range 0..3
    regression = Explorer(Activations({"h": X}, outputs=one), labels=y)
    assert (
        regression.predictions is None and "1-wide, not scores for 4 classes" in regression.predictions_note
    )
    names = np.array(["a", "b", "c", "d"])[y]
    unknown = Explorer(Activations({"h": X}, outputs=four), labels=names)  # names without class_names
    assert unknown.predictions is None and "classes are unknown" in unknown.predictions_note
    named = Explorer(Activations({"h": X}, outputs=four), labels=names, class_names=["a", "b", "c", "d"])
    assert named.predictions is not None and named.classes == ["a", "b", "c", "d"]
    assert Explorer(Activations({"h": X}, outputs=four)).predictions is None  # no classes given at all
    with pytest.raises(NapInputError, match="ambiguous"):
        Explorer(Activations({"h": X}, outputs=four), labels=y, predictions=True)


def test_logit_bands_refuse_an_embedding():
    emb = np.random.default_rng(0).normal(size=(50, 384))
    with pytest.raises(NapInputError, match=r"384-wide, not scores for 15 classes"):
        logit_bands(emb, 0, classes=15)
    with pytest.raises(NapInputError, match=r"384-wide, not scores for 15 classes"):
        logit_bands(emb, 0, classes=NAMES)
    logits = emb[:, :15]
    assert sum(len(v) for v in logit_bands(logits, 3, classes=NAMES).values()) == 50


def test_the_midrange_view_refuses_non_class_outputs(text_data):
    batch, y, texts = text_data
    w = _widget(TinyEncoder(n_out=24), batch, y, texts)
    w.midrange_open = True
    assert "24-wide, not scores for 15 classes" in w.error and "mid-range" in w.error
    assert not w.midrange.get("naps")
