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


def test_list_layers_in_execution_order_with_shapes(model, x):
    layers = list_layers(model, x[:2])
    names = [layer.name for layer in layers]
    assert names[:4] == ["conv1", "relu1", "conv2", "relu2"]
    info = {layer.name: layer for layer in layers}
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


@pytest.mark.parametrize(
    "reduce,width", [("max", 64), ("mean_std", 128), ("min_max", 128), ("none", 64 * 16)]
)
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


# ------------------------------------------------------------------ dict / tuple inputs (transformer-style)
TEXT_LAYERS = ["tok", "attn", "norm2", "head"]


def _manual_masked(
    model: nn.Module, batch: dict, layers: list[str], batch_size: int
) -> dict[str, np.ndarray]:
    """A hand-written loop: model(**batch) per slice, mean over the real tokens of (B, T, C) outputs."""
    modules = dict(model.named_modules())
    got: dict[str, list[np.ndarray]] = {n: [] for n in layers}
    n = len(batch["input_ids"])
    for i in range(0, n, batch_size):
        part = {k: v[i : i + batch_size] for k, v in batch.items()}
        seen = {}
        handles = [
            modules[name].register_forward_hook(
                lambda _m, _i, out, name=name, seen=seen: seen.__setitem__(
                    name, out[0] if isinstance(out, tuple) else out
                )
            )
            for name in layers
        ]
        try:
            with torch.inference_mode():
                model(**part)
        finally:
            for h in handles:
                h.remove()
        m = part["attention_mask"].float()[:, :, None]
        for name in layers:
            t = seen[name].float()
            got[name].append(((t * m).sum(1) / m.sum(1) if t.dim() == 3 else t).numpy())
    return {k: np.concatenate(v) for k, v in got.items()}


@pytest.fixture
def text_model():
    from tiny_text import TinyEncoder

    return TinyEncoder().eval()


@pytest.fixture
def tokens():
    from tiny_text import token_batch

    return token_batch(n=30)


def test_dict_inputs_are_model_kwargs_with_a_mask_aware_token_mean(text_model, tokens):
    batch, _ = tokens
    acts = extract(text_model, batch, TEXT_LAYERS, batch_size=7)
    want = _manual_masked(text_model, batch, TEXT_LAYERS, 7)
    for name in TEXT_LAYERS:
        np.testing.assert_allclose(acts[name], want[name], rtol=1e-5, atol=1e-5)
    assert acts.shapes["tok"] == (12, 16) and acts["tok"].shape == (30, 16)
    np.testing.assert_allclose(acts.outputs, want["head"], rtol=1e-5, atol=1e-5)
    assert _hooks_left(text_model) == 0


def test_padding_does_not_dilute_the_token_mean(text_model, tokens):
    batch, _ = tokens
    longer = {k: torch.cat([v, torch.zeros(len(v), 9, dtype=v.dtype)], dim=1) for k, v in batch.items()}
    a = extract(text_model, batch, ["tok", "norm2"])
    b = extract(text_model, longer, ["tok", "norm2"])
    for name in ("tok", "norm2"):
        np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-5)
    # without the mask, the padded positions would be averaged in (the reduction the mask prevents)
    plain = extract(text_model, (longer["input_ids"],), ["tok"])  # a tuple: model(*batch), no mask
    assert not np.allclose(plain["tok"], a["tok"], atol=1e-3)


def test_a_dataloader_of_dicts_gives_the_same_activations_and_targets(text_model, tokens):
    batch, _ = tokens
    y = np.arange(30) % 3

    class Items(torch.utils.data.Dataset):
        def __len__(self):
            return 30

        def __getitem__(self, i):
            return {
                "input_ids": batch["input_ids"][i],
                "attention_mask": batch["attention_mask"][i],
                "labels": int(y[i]),
            }

    direct = extract(text_model, batch, TEXT_LAYERS)
    for inputs in (DataLoader(Items(), batch_size=8), Items()):
        acts = extract(text_model, inputs, TEXT_LAYERS, batch_size=8)
        for name in TEXT_LAYERS:
            np.testing.assert_allclose(acts[name], direct[name], rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(acts.targets, y)  # "labels" is a target, never passed to the model


def test_tuples_are_positional_arguments(text_model, tokens):
    batch, _ = tokens
    by_name = extract(text_model, batch, ["head"])
    by_position = extract(
        text_model, (batch["input_ids"], batch["attention_mask"].numpy()), ["head"], batch_size=4
    )
    np.testing.assert_allclose(by_position["head"], by_name["head"], rtol=1e-5, atol=1e-5)
    pairs = TensorDataset(batch["input_ids"], batch["attention_mask"], torch.arange(30))
    loader = DataLoader([((i, m), y) for i, m, y in pairs], batch_size=8)  # ((ids, mask), y): model(*x)
    acts = extract(text_model, loader, ["head"])
    np.testing.assert_allclose(acts["head"], by_name["head"], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(acts.targets, np.arange(30))


def test_a_labels_entry_is_a_target_not_a_model_argument(text_model, tokens):
    batch, _ = tokens
    y = np.arange(30) % 4
    with_labels = extract(
        text_model, dict(batch, labels=y), ["norm2"], batch_size=8
    )  # the model takes no labels=
    np.testing.assert_array_equal(with_labels.targets, y)
    np.testing.assert_allclose(
        with_labels["norm2"], extract(text_model, batch, ["norm2"])["norm2"], atol=1e-5
    )


def test_list_layers_on_a_dict_example(text_model, tokens):
    batch, _ = tokens
    example = {k: v[:2] for k, v in batch.items()}
    info = {layer.name: layer for layer in list_layers(text_model, example)}
    assert info["tok"].shape == (12, 16) and info["attn"].type == "MultiheadAttention"
    assert info["head"].shape == (24,)
    assert _hooks_left(text_model) == 0


def test_dict_inputs_are_cached_by_their_content(text_model, tokens, tmp_path):
    from napwidget.activation_cache import fingerprint_inputs

    batch, _ = tokens
    reordered = {"attention_mask": batch["attention_mask"], "input_ids": batch["input_ids"].numpy()}
    assert fingerprint_inputs(reordered) == fingerprint_inputs(batch)  # keyword order does not matter
    other = dict(batch, attention_mask=torch.ones_like(batch["attention_mask"]))
    assert fingerprint_inputs(other) != fingerprint_inputs(batch)
    assert fingerprint_inputs((batch["input_ids"],)) != fingerprint_inputs(batch["input_ids"])
    first = extract(text_model, batch, ["norm2"], cache=str(tmp_path))
    entries = sorted(p.name for p in tmp_path.iterdir())
    again = extract(text_model, reordered, ["norm2"], cache=str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == entries and len(entries) == 1  # a hit, no new entry
    np.testing.assert_array_equal(again["norm2"], first["norm2"])
    extract(text_model, other, ["norm2"], cache=str(tmp_path))
    assert len(list(tmp_path.iterdir())) == 2


def test_bad_dict_inputs_name_the_problem(text_model, tokens):
    batch, _ = tokens
    with pytest.raises(NapInputError, match="different lengths"):
        extract(text_model, {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"][:5]})
    with pytest.raises(NapInputError, match="not a numeric array"):
        extract(text_model, {"input_ids": [[1, 2, 3], [4, 5]]})
    with pytest.raises(RuntimeError, match=r"model\(\*\*batch\)"):
        extract(text_model, {"token_ids": batch["input_ids"]})  # a keyword the model does not take
