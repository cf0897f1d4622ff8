"""extract's speed options: the default path is unchanged (bitwise a hand-written hooked loop), autocast=bf16
stays close to float32 and is remembered by caches and stores, compile=True agrees to rounding."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from napwidget import extract
from napwidget.errors import NapInputError

LAYERS = ["conv3", "fc1"]


def _hooks_left(model) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def _hand_written(model, x, batch_size: int, split: int = 1) -> dict[str, np.ndarray]:
    """What the default path computes, written out: channels-last weights and inputs, inference mode, forward
    hooks, spatial means of conv maps; with ``split`` > 1 each batch runs as that many row blocks, one after
    the other on one torch thread each (what extract's CPU workers run side by side)."""
    got: dict[str, list[torch.Tensor]] = {"conv3": [], "fc1": [], "out": []}
    handles = [
        model.conv3.register_forward_hook(lambda _m, _i, o: got["conv3"].append(o.reshape(*o.shape[:2], -1))),
        model.fc1.register_forward_hook(lambda _m, _i, o: got["fc1"].append(o)),
    ]
    threads = torch.get_num_threads()
    model.to(memory_format=torch.channels_last)
    try:
        if split > 1:
            torch.set_num_threads(max(1, threads // split))
        with torch.inference_mode():
            for i in range(0, len(x), batch_size):
                for rows in torch.tensor_split(x[i : i + batch_size], split):
                    got["out"].append(model(rows.contiguous(memory_format=torch.channels_last)))
    finally:
        torch.set_num_threads(threads)
        model.to(memory_format=torch.contiguous_format)
        for h in handles:
            h.remove()
    return {
        "conv3": torch.cat([t.mean(dim=2) for t in got["conv3"]]).numpy(),
        "fc1": torch.cat(got["fc1"]).numpy(),
        "out": torch.cat(got["out"]).numpy(),
    }


def _assert_same(acts, ref) -> None:
    np.testing.assert_array_equal(acts["conv3"], ref["conv3"])
    np.testing.assert_array_equal(acts["fc1"], ref["fc1"])
    np.testing.assert_array_equal(acts.outputs, ref["out"])


def test_one_worker_is_bitwise_the_hand_written_hooked_loop(model, x):
    _assert_same(extract(model, x, LAYERS, batch_size=8, workers=1), _hand_written(model, x, 8))


@pytest.fixture
def two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # two workers, one torch thread each
    yield
    torch.set_num_threads(threads)


def test_two_workers_run_halves_of_each_batch_side_by_side(model, x, two_threads):
    seen: list[tuple[str, int]] = []
    handle = model.fc1.register_forward_hook(
        lambda _m, inp, _o: seen.append((threading.current_thread().name, len(inp[0])))
    )
    try:
        acts = extract(model, x, LAYERS, batch_size=8, workers=2)
    finally:
        handle.remove()
    # two worker threads, each with half of every batch (37 rows: the last batch of 5 splits 3 + 2)
    assert {name.split("_")[0] for name, _ in seen} == {"napwidget-forward"}
    assert len({name for name, _ in seen}) == 2
    assert sorted(rows for _, rows in seen) == sorted([4] * 8 + [3, 2])
    assert torch.get_num_threads() == 2  # given back after the pool's threads ran with one each
    # bit for bit the same halves run one after the other; one pass at a time agrees to float32 rounding
    _assert_same(acts, _hand_written(model, x, 8, split=2))
    single = _hand_written(model, x, 8)
    for name in LAYERS:
        np.testing.assert_allclose(acts[name], single[name], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("bad", [0, -2, 1.5, "2", True])
def test_bad_workers_are_refused_at_the_call(model, x, bad):
    with pytest.raises(NapInputError, match="workers=.*whole number >= 1"):
        extract(model, x, LAYERS, workers=bad)


def test_workers_with_compile_are_refused_at_the_call(model, x):
    # the sub-batches would run the eager model: compile=True would silently do nothing
    with pytest.raises(NapInputError, match="compile=True runs one forward pass at a time.*workers=1"):
        extract(model, x, LAYERS, workers=2, compile=True)


def test_a_failing_model_in_a_worker_raises_and_gives_back_the_threads(model, x, two_threads):
    def boom(_m, _i, _o):
        raise ValueError("broken layer")

    handle = model.conv3.register_forward_hook(boom)
    try:
        with pytest.raises(RuntimeError, match="broken layer"):
            extract(model, x, LAYERS, batch_size=8, workers=2)
    finally:
        handle.remove()
    assert torch.get_num_threads() == 2 and _hooks_left(model) == 0


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


@pytest.mark.slow
def test_compile_runs_its_hooks_after_the_user_compiled_the_same_model_class(model, x):
    # dynamo caches compiled code per code object and skips guards on module hooks: a graph the user compiled
    # for DigitsCNN.forward (no hooks) used to run in place of extract's, and no hook fired
    pytest.importorskip("torch._inductor")
    from napwidget.datasets import DigitsCNN

    other = DigitsCNN().eval().to(memory_format=torch.channels_last)  # as extract prepares a conv model
    with torch.inference_mode():
        torch.compile(other, dynamic=False)(x[:8].contiguous(memory_format=torch.channels_last))
    ref = extract(model, x, LAYERS, batch_size=8)
    acts = extract(model, x, LAYERS, batch_size=8, compile=True)
    for name in LAYERS:
        np.testing.assert_allclose(acts[name], ref[name], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(acts.outputs, ref.outputs, rtol=1e-5, atol=1e-6)
