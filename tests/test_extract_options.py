"""extract's speed options: the default path is unchanged (bitwise a hand-written hooked loop), autocast=bf16
stays close to float32 and is remembered by caches and stores, compile=True agrees to rounding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napwidget import extract
from napwidget.errors import NapInputError

LAYERS = ["conv3", "fc1"]


def _hooks_left(model) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def _hand_written(model, x, batch_size: int) -> dict[str, np.ndarray]:
    """What the default path computes, written out: channels-last weights and inputs, inference mode, forward
    hooks, spatial means of conv maps."""
    got: dict[str, list[torch.Tensor]] = {"conv3": [], "fc1": [], "out": []}
    handles = [
        model.conv3.register_forward_hook(lambda _m, _i, o: got["conv3"].append(o.reshape(*o.shape[:2], -1))),
        model.fc1.register_forward_hook(lambda _m, _i, o: got["fc1"].append(o)),
    ]
    model.to(memory_format=torch.channels_last)
    try:
        with torch.inference_mode():
            for i in range(0, len(x), batch_size):
                got["out"].append(model(x[i : i + batch_size].contiguous(memory_format=torch.channels_last)))
    finally:
        model.to(memory_format=torch.contiguous_format)
        for h in handles:
            h.remove()
    return {
        "conv3": torch.cat([t.mean(dim=2) for t in got["conv3"]]).numpy(),
        "fc1": torch.cat(got["fc1"]).numpy(),
        "out": torch.cat(got["out"]).numpy(),
    }


def test_default_path_is_bitwise_the_hand_written_hooked_loop(model, x):
    ref = _hand_written(model, x, 8)
    acts = extract(model, x, LAYERS, batch_size=8)
    np.testing.assert_array_equal(acts["conv3"], ref["conv3"])
    np.testing.assert_array_equal(acts["fc1"], ref["fc1"])
    np.testing.assert_array_equal(acts.outputs, ref["out"])


def test_bf16_autocast_is_close_to_float32_and_remembered(model, x, tmp_path):
    full = extract(model, x, LAYERS, batch_size=8)
    half = extract(model, x, LAYERS, batch_size=8, autocast="bf16")
    assert half["fc1"].dtype == np.float32 and model.fc1.weight.dtype == torch.float32
    for name in LAYERS:
        scale = np.abs(full[name]).max()
        err = np.abs(half[name] - full[name]).max() / scale
        assert 0 < err < 3e-2, (name, err)  # it did run in bfloat16, within its rounding
    same = extract(model, x, LAYERS, batch_size=8, autocast=torch.bfloat16)
    np.testing.assert_array_equal(same["fc1"], half["fc1"])
    # a cache keeps float32 and bfloat16 results apart
    extract(model, x, LAYERS, batch_size=8, autocast="bf16", cache=tmp_path / "cache")
    cached = extract(model, x, LAYERS, batch_size=8, cache=tmp_path / "cache")
    np.testing.assert_array_equal(cached["fc1"], full["fc1"])
    # a store written in bfloat16 is not resumed in float32
    stored = extract(model, x, LAYERS, batch_size=8, autocast="bf16", store=tmp_path / "a.zarr")
    np.testing.assert_array_equal(stored["fc1"], half["fc1"])
    with pytest.raises(NapInputError, match=r"written with autocast=torch.bfloat16.*autocast=torch.bfloat16"):
        extract(model, x, LAYERS, batch_size=8, store=tmp_path / "a.zarr")
    with pytest.raises(NapInputError, match="autocast='float64'.*torch.bfloat16"):
        extract(model, x, LAYERS, autocast="float64")


def test_bf16_on_a_cpu_without_bf16_instructions_warns_that_it_is_slower(model, x, monkeypatch):
    import warnings

    from napwidget import forward

    monkeypatch.setattr(forward, "cpu_has_bf16", lambda: False)
    with pytest.warns(UserWarning, match="slower than float32.*Fix: leave autocast=None"):
        extract(model, x, LAYERS, batch_size=8, autocast="bf16")
    monkeypatch.setattr(forward, "cpu_has_bf16", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        extract(model, x, LAYERS, batch_size=8, autocast="bf16")
        extract(model, x, LAYERS, batch_size=8)  # float32: nothing to say either


@pytest.mark.slow
def test_compile_agrees_with_the_default_path(model, x):
    pytest.importorskip("torch._inductor")
    from torch._dynamo.utils import counters

    ref = extract(model, x, LAYERS, batch_size=8)
    graphs = counters["stats"]["unique_graphs"]
    acts = extract(model, x, LAYERS, batch_size=8, compile=True)  # 4 compiled batches, the short 5th eager
    assert counters["stats"]["unique_graphs"] == graphs + 1  # compiled once: no graph break, no recompile
    for name in LAYERS:
        np.testing.assert_allclose(acts[name], ref[name], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(acts.outputs, ref.outputs, rtol=1e-5, atol=1e-6)
    assert _hooks_left(model) == 0 and model.conv1.weight.is_contiguous()
