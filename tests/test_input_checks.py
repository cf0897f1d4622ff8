"""Per-input arguments of NapWidget are checked against N where they enter (one test per bad input)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napwidget import NapInputError, NapWidget
from napwidget.renderers import TextRenderer

from synthetic import small_blobs

X, Y = small_blobs()  # 172 inputs, 4 classes
N = len(X)
ACTS = {"fc": X}


def test_too_few_images_name_images_their_length_and_n():
    imgs = np.zeros((10, 1, 6, 6), dtype=np.float32)
    with pytest.raises(NapInputError, match=rf"images have 10 entries but there are {N} inputs"):
        NapWidget.from_activations(ACTS, images=imgs)


def test_too_many_text_items():
    with pytest.raises(NapInputError, match=rf"images have {N + 1} entries but there are {N} inputs"):
        NapWidget.from_activations(ACTS, images=["a sentence"] * (N + 1))


def test_a_renderer_for_other_items():
    with pytest.raises(NapInputError, match=rf"renderer renders 3 items but there are {N} inputs"):
        NapWidget.from_activations(ACTS, renderer=TextRenderer(["a", "b", "c"]))


def test_labels_of_other_length():
    with pytest.raises(NapInputError, match=rf"labels have {N - 2} entries but there are {N} inputs"):
        NapWidget.from_activations(ACTS, labels=Y[:-2])


def test_predictions_of_other_length():
    with pytest.raises(NapInputError, match=rf"predictions have 5 entries but there are {N} inputs"):
        NapWidget.from_activations(ACTS, labels=Y, predictions=Y[:5])


def test_groups_of_other_length():
    with pytest.raises(NapInputError, match=rf"groups have 7 entries but there are {N} inputs"):
        NapWidget.from_activations(ACTS, groups=np.zeros(7))


def test_outputs_of_other_length():
    with pytest.raises(NapInputError, match=rf"outputs have 3 rows but there are {N} inputs"):
        NapWidget.from_activations(ACTS, outputs=np.zeros((3, 4)))


def test_class_names_shorter_than_the_labels():
    with pytest.raises(NapInputError, match=r"labels go up to 3 but class_names has 2 names \(for 0\.\.1\)"):
        NapWidget.from_activations(ACTS, labels=Y, class_names=["zero", "one"])


def test_class_names_shorter_than_the_predictions():
    preds = np.full(N, 9)
    with pytest.raises(NapInputError, match=r"predictions go up to 9 but class_names has 4 names"):
        NapWidget.from_activations(ACTS, labels=Y, predictions=preds, class_names=list("abcd"))


def test_class_names_as_one_string():
    with pytest.raises(NapInputError, match="class_names is one string"):
        NapWidget.from_activations(ACTS, labels=Y, class_names="abcd")


def test_string_labels_need_no_class_names_and_good_inputs_still_build():
    w = NapWidget.from_activations(
        ACTS,
        labels=np.array([f"c{v}" for v in Y]),
        class_names=["x"],
        images=np.zeros((N, 1, 6, 6), np.float32),
        min_cluster_size=10,
    )
    assert w.naps.n_samples == N and w.error == ""


def test_model_path_checks_images_before_extracting():
    from napwidget.datasets import DigitsCNN

    calls = []
    model = DigitsCNN()
    model.register_forward_hook(lambda *a: calls.append(1))
    inputs = torch.rand(30, 1, 8, 8)
    with pytest.raises(NapInputError, match="images have 12 entries but there are 30 inputs"):
        NapWidget(model, inputs, layers=["fc1"], images=torch.rand(12, 1, 8, 8), cache=None)
    assert calls == []  # failed before running the model
    with pytest.raises(NapInputError, match="labels have 29 entries but there are 30 inputs"):
        NapWidget(model, inputs, layers=["fc1"], labels=np.zeros(29, int), cache=None)
