"""Activation extraction: hooks, reductions, input kinds, cache and bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from napwidget import Activations, extract, list_layers
from napwidget.datasets import DigitsCNN
from napwidget.errors import NapInputError


def _hooks_left(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


@pytest.fixture
def model():
    torch.manual_seed(0)
    return DigitsCNN().eval()


@pytest.fixture
def x():
    return torch.rand(37, 1, 8, 8, generator=torch.Generator().manual_seed(1))


def test_list_layers_in_execution_order_with_shapes(model, x):
    layers = list_layers(model, x[:2])
    names = [l.name for l in layers]
    assert names[:4] == ["conv1", "relu1", "conv2", "relu2"]
    info = {l.name: l for l in layers}
    assert info["conv3"].shape == (64, 4, 4) and info["conv3"].type == "Conv2d"
    assert info["fc2"].shape == (10,)
    assert _hooks_left(model) == 0


def test_extract_matches_manual_forward(model, x):
    acts = extract(model, x, ["conv3", "fc1"], batch_size=8)
    with torch.no_grad():
        h = model.relu2(model.conv2(model.relu1(model.conv1(x))))
        conv3 = model.conv3(model.pool(h))
        fc1 = model.fc1(model.flatten(model.relu3(conv3)))
        logits = model(x)
    np.testing.assert_allclose(acts["conv3"], conv3.mean(dim=(2, 3)).numpy(), atol=1e-5)
    np.testing.assert_allclose(acts["fc1"], fc1.numpy(), atol=1e-5)
    np.testing.assert_allclose(acts.outputs, logits.numpy(), atol=1e-5)
    assert acts.layers == ["conv3", "fc1"] and acts["conv3"].dtype == np.float32
    assert acts.shapes["conv3"] == (64, 4, 4)
    assert _hooks_left(model) == 0
    # channels_last was used and undone: the user's parameters keep their layout
    assert model.conv1.weight.is_contiguous()


@pytest.mark.parametrize("reduce,width", [("max", 64), ("mean_std", 128), ("min_max", 128), ("none", 64 * 16)])
def test_reductions(model, x, reduce, width):
    acts = extract(model, x, ["conv3"], reduce=reduce)
    assert acts["conv3"].shape == (len(x), width)
    with torch.no_grad():
        conv3 = model.conv3(model.pool(model.relu2(model.conv2(model.relu1(model.conv1(x))))))
    if reduce == "max":
        np.testing.assert_allclose(acts["conv3"], conv3.amax(dim=(2, 3)).numpy(), atol=1e-5)


def test_token_sequences_reduce_over_tokens():
    class Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(20, 6)
            self.head = nn.Linear(6, 2)

        def forward(self, ids):
            return self.head(self.emb(ids).mean(1))

    torch.manual_seed(0)
    m = Seq()
    ids = torch.randint(0, 20, (9, 5))
    acts = extract(m, ids, ["emb"], reduce="max")
    np.testing.assert_allclose(acts["emb"], m.emb(ids).amax(1).detach().numpy(), atol=1e-6)


def test_dataloader_with_targets_and_numpy_and_dataset(model, x):
    y = torch.arange(len(x)) % 3
    loader = DataLoader(TensorDataset(x, y), batch_size=10)
    a1 = extract(model, loader, "fc1")
    a2 = extract(model, x.numpy().astype(np.float64), "fc1")  # float64 is cast to the model's dtype
    a3 = extract(model, TensorDataset(x, y), "fc1", batch_size=7)
    np.testing.assert_allclose(a1["fc1"], a2["fc1"], atol=1e-5)
    np.testing.assert_allclose(a1["fc1"], a3["fc1"], atol=1e-5)
    assert a1.targets.tolist() == y.tolist()


def test_train_mode_restored_and_tuple_outputs(x):
    class TupleOut(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = DigitsCNN()
            self.drop = nn.Dropout(0.5)

        def forward(self, inp):
            z = self.drop(self.body(inp))
            return z, {"aux": z * 2}

    m = TupleOut().train()
    a = extract(m, x, ["drop"])
    b = extract(m, x, ["drop"])
    np.testing.assert_allclose(a["drop"], b["drop"])  # eval mode: dropout off, deterministic
    assert a.outputs.shape == (len(x), 10)
    assert m.training and m.drop.training


def test_unknown_layer_lists_close_matches(model, x):
    with pytest.raises(KeyError, match="did you mean 'conv3'"):
        extract(model, x, ["conv33"])
    assert _hooks_left(model) == 0


def test_model_error_names_shape_and_removes_hooks(model):
    with pytest.raises(RuntimeError, match=r"shape \(4, 3, 8, 8\).*Fix"):
        extract(model, torch.rand(4, 3, 8, 8), ["conv1"])
    assert _hooks_left(model) == 0


def test_keyboard_interrupt_removes_hooks(x):
    class Boom(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(64, 2)

        def forward(self, inp):
            self.lin(inp.flatten(1))
            raise KeyboardInterrupt

    m = Boom()
    with pytest.raises(KeyboardInterrupt):
        extract(m, x, ["lin"])
    assert _hooks_left(m) == 0


@pytest.mark.parametrize(
    "bad,match",
    [
        (torch.zeros(0, 1, 8, 8), "no samples"),
        (np.array(["a", "b"]), "not numbers"),
        (["some text", "more"], "strings"),
        (42, "not supported"),
    ],
)
def test_bad_inputs(model, bad, match):
    with pytest.raises(NapInputError, match=match):
        extract(model, bad, ["fc1"])
    assert _hooks_left(model) == 0


def test_cache_round_trip_and_corruption(model, x, tmp_path, monkeypatch):
    a = extract(model, x, ["conv3", "fc1"], cache=tmp_path)
    calls = []
    orig = model.forward
    monkeypatch.setattr(model, "forward", lambda inp: calls.append(1) or orig(inp))
    b = extract(model, x, ["fc1", "conv3"], cache=tmp_path)
    assert calls == []  # loaded, not recomputed
    np.testing.assert_array_equal(a["fc1"], b["fc1"])
    np.testing.assert_array_equal(a.outputs, b.outputs)
    assert b.shapes["conv3"] == (64, 4, 4)
    # corrupt one entry: it must be detected and recomputed, never returned
    files = sorted(tmp_path.rglob("*.npy"))
    arr = np.load(files[0])
    np.save(files[0], arr + 1)
    c = extract(model, x, ["conv3", "fc1"], cache=tmp_path)
    assert calls, "a corrupt cache entry was returned instead of recomputed"
    np.testing.assert_allclose(c["fc1"], a["fc1"], atol=1e-6)
    # new weights = new key
    with torch.no_grad():
        model.fc1.weight.add_(1.0)
    d = extract(model, x, ["fc1"], cache=tmp_path)
    assert not np.allclose(d["fc1"], a["fc1"])


def test_activations_validation():
    with pytest.raises(NapInputError, match="rows"):
        Activations({"a": np.zeros((3, 2)), "b": np.zeros((4, 2))})
    acts = Activations({"fc1": np.zeros((3, 2))})
    with pytest.raises(KeyError, match="fc1"):
        acts["fc"]
