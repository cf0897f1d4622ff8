"""BatchNorm folding during extraction (napwidget/bn_fold.py): folded pairs agree with the model as written,
pairs that anything else can observe stay unfolded, and the model comes back exactly as it was, also after an
interruption."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from napwidget import extract
from napwidget.bn_fold import probe
from napwidget.forward import HookedForward


def _random_stats(model: nn.Module) -> nn.Module:
    """Trained-looking BatchNorms: fresh ones (mean 0, var 1, weight 1, bias 0) are nearly the identity, so
    a wrongly folded pair would hide behind them."""
    g = torch.Generator().manual_seed(3)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            c = m.num_features
            m.running_mean.copy_(torch.rand(c, generator=g) * 2 - 1)
            m.running_var.copy_(torch.rand(c, generator=g) * 2 + 0.2)
            m.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(c, generator=g) - 0.5)
    return model.eval()


class ConvNet(nn.Module):
    """conv-BN-ReLU twice (the second with a conv bias), a global pool and a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 16, 3, stride=2), nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc(x.mean(dim=(2, 3)))


class Reuses(ConvNet):
    """conv2's output also enters a residual sum: folding it would change that sum."""

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        y = self.conv2(x)
        return self.fc((self.bn2(y) + y).mean(dim=(2, 3)))


class Shared(ConvNet):
    """conv1 runs twice; only its second output goes through bn1."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.stem = nn.Conv2d(3, 8, 1)

    def forward(self, x):
        x = self.stem(x)
        x = torch.relu(self.bn1(self.conv1(self.conv1(x))))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc(x.mean(dim=(2, 3)))


class Returns(ConvNet):
    """conv2's output is part of what the model returns."""

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        y = self.conv2(x)
        return self.fc(torch.relu(self.bn2(y)).mean(dim=(2, 3))), y


class Signal(nn.Module):
    """A 1-D conv net: Conv1d + BatchNorm1d."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn = nn.Conv1d(2, 6, 5), nn.BatchNorm1d(6)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).amax(dim=2))


def _x(n: int = 19) -> torch.Tensor:
    return torch.rand(n, 3, 12, 12, generator=torch.Generator().manual_seed(1))


def _folded(model: nn.Module, x: torch.Tensor, layers: list[str]) -> int:
    with HookedForward(model, layers, "mean") as step:
        step(x[:4])
        return step.folded


def _close(a, b) -> None:
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-4, atol=1e-5 * np.abs(b[name]).max())
    np.testing.assert_allclose(a.outputs, b.outputs, rtol=1e-4, atol=1e-5 * np.abs(b.outputs).max())


def _same(a, b) -> None:
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    np.testing.assert_array_equal(a.outputs, b.outputs)


def test_folded_extraction_agrees_with_the_model_as_written_and_leaves_it_as_it_was():
    torch.manual_seed(0)
    model, x = _random_stats(ConvNet()), _x()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        before = model(x)
    layers = ["bn1", "conv2", "fc"]  # bn1's output is the folded conv's; conv2 is collected, so stays
    assert _folded(model, x, layers) == 1
    acts = extract(model, x, layers, batch_size=8)
    _close(acts, extract(model, x, layers, batch_size=8, fold_batchnorm=False))
    assert not any("forward" in vars(m) for m in model.modules())
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    with torch.no_grad():
        assert torch.equal(model(x), before)


def test_every_pair_folds_when_nothing_else_observes_it():
    torch.manual_seed(0)
    model, x = _random_stats(ConvNet()), _x()
    assert _folded(model, x, ["fc"]) == 2
    _close(extract(model, x, ["bn2", "fc"]), extract(model, x, ["bn2", "fc"], fold_batchnorm=False))


def test_conv1d_with_batchnorm1d_folds():
    torch.manual_seed(0)
    model = _random_stats(Signal())
    x = torch.rand(11, 2, 30, generator=torch.Generator().manual_seed(2))
    pairs = probe(model, lambda: model(x[:1]), hooked=[]).pairs
    assert pairs == [(model.conv, model.bn)]
    _close(extract(model, x, ["bn", "fc"]), extract(model, x, ["bn", "fc"], fold_batchnorm=False))


def _user_hook_on_conv2(model: nn.Module) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    model.conv2.register_forward_hook(lambda _m, _i, out: seen.append(out.clone()))
    return seen


@pytest.mark.parametrize("case", ["reuses", "shared", "returns", "collected", "user_hook", "pre_hook"])
def test_pairs_that_something_else_observes_stay_unfolded(case):
    torch.manual_seed(0)
    cls = {"reuses": Reuses, "shared": Shared, "returns": Returns}.get(case, ConvNet)
    model, x = _random_stats(cls()), _x()
    layers = ["conv2", "fc"] if case == "collected" else ["fc"]
    if case == "user_hook":
        seen = _user_hook_on_conv2(model)
    if case == "pre_hook":
        model.bn2.register_forward_pre_hook(lambda _m, _i: None)
    pairs = probe(model, lambda: model(x[:1]), hooked=[model.get_submodule(n) for n in layers]).pairs
    if case == "shared":
        assert pairs == [(model.conv2, model.bn2)]  # conv1 runs twice
    else:
        assert pairs == [(model.conv1, model.bn1)]
    acts = extract(model, x, layers, batch_size=8, fold_batchnorm=True)
    if case == "user_hook":
        with torch.no_grad():
            expected = model.conv2(torch.relu(model.bn1(model.conv1(x[-3:]))))
        torch.testing.assert_close(seen[-1], expected, rtol=1e-4, atol=1e-5)  # the conv's own output
    _close(acts, extract(model, x, layers, batch_size=8, fold_batchnorm=False))


def test_a_model_that_fails_on_the_probe_inputs_is_not_folded_but_still_extracts():
    class NeedsThree(ConvNet):
        def forward(self, x):
            if len(x) < 3:
                raise ValueError("batch statistics need three inputs")
            return super().forward(x)

    torch.manual_seed(0)
    model, x = _random_stats(NeedsThree()), _x()
    assert _folded(model, x, ["fc"]) == 0
    _same(
        extract(model, x, ["bn2", "fc"], batch_size=8),
        extract(model, x, ["bn2", "fc"], batch_size=8, fold_batchnorm=False),
    )


def test_an_interrupted_extraction_unfolds_the_model():
    torch.manual_seed(0)
    model, x = _random_stats(ConvNet()), _x()
    calls = []

    def stop(_m, _i, _o):
        calls.append(1)
        if len(calls) == 3:  # the probe, batch 1, then batch 2
            raise KeyboardInterrupt

    handle = model.fc.register_forward_hook(stop)
    with pytest.raises(KeyboardInterrupt):
        extract(model, x, ["bn1"], batch_size=4)
    handle.remove()
    assert not any("forward" in vars(m) for m in model.modules())
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0


def test_a_resumed_store_equals_an_uninterrupted_one_with_folding(tmp_path):
    pytest.importorskip("zarr")
    from napwidget import open_activations

    torch.manual_seed(0)
    model, x = _random_stats(ConvNet()), _x(30)
    full = extract(model, x, ["bn2", "fc"], batch_size=8, store=tmp_path / "full.zarr")
    calls = []

    def stop(_m, _i, _o):
        calls.append(1)
        if len(calls) == 4:  # the probe, chunks 0 and 1, then chunk 2
            raise KeyboardInterrupt

    handle = model.fc.register_forward_hook(stop)
    with pytest.raises(KeyboardInterrupt):
        extract(model, x, ["bn2", "fc"], batch_size=8, store=tmp_path / "a.zarr")
    handle.remove()
    resumed = extract(model, x, ["bn2", "fc"], batch_size=8, store=tmp_path / "a.zarr")
    _same(full, resumed)  # chunk 2 onwards ran after a new probe: folded the same way, bit for bit
    _same(full, open_activations(tmp_path / "a.zarr"))


class SkipsBN(ConvNet):
    """On batches of more than two inputs (not the probe's two) bn1 is skipped."""

    def forward(self, x):
        y = self.conv1(x)
        x = torch.relu(y if len(x) > 2 else self.bn1(y))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc(x.mean(dim=(2, 3)))


class OtherInput(ConvNet):
    """On batches of more than two inputs bn1 normalises a scaled copy of conv1's output."""

    def forward(self, x):
        y = self.conv1(x)
        x = torch.relu(self.bn1(y * 2.0 if len(x) > 2 else y))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc(x.mean(dim=(2, 3)))


class Squeezes(ConvNet):
    """A model that special-cases a batch of one (``squeeze()``): a one-input probe would see another path,
    on which conv2's output also enters a sum."""

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        y = self.conv2(x)
        z = self.bn2(y)
        if len(x) > 1:
            z = z + y
        return self.fc(torch.relu(z).mean(dim=(2, 3)))


@pytest.mark.parametrize("cls", [SkipsBN, OtherInput])
@pytest.mark.parametrize("workers", [1, 2])
def test_a_batch_that_leaves_the_probed_path_runs_unfolded_with_a_warning(cls, workers):
    torch.manual_seed(0)
    model, x = _random_stats(cls()), _x()
    with HookedForward(model, ["bn2"], "mean", workers=workers) as step:
        step(x[:2])  # the probe's path: folded, no warning
        assert step.folded == 2 and step.unfolded_batches == 0
        with pytest.warns(RuntimeWarning, match="fold_batchnorm=False"):
            got, _ = step(x[2:10])
        assert step.unfolded_batches == 1
    with HookedForward(model, ["bn2"], "mean", workers=workers, fold_batchnorm=False) as plain:
        want, _ = plain(x[2:10])
    np.testing.assert_array_equal(got["bn2"], want["bn2"])  # the model as written, bit for bit
    kw = {"batch_size": 8, "workers": workers}
    with pytest.warns(RuntimeWarning):
        acts = extract(model, x[:16], ["bn2"], **kw)
    # both batches (and with two workers, both halves) left the probe's path: they ran as written
    _same(acts, extract(model, x[:16], ["bn2"], fold_batchnorm=False, **kw))


def test_a_model_that_special_cases_one_input_is_probed_on_two():
    torch.manual_seed(0)
    model, x = _random_stats(Squeezes()), _x()
    assert _folded(model, x, ["fc"]) == 1  # conv2's output also enters the sum: only conv1-bn1 folds
    _close(
        extract(model, x, ["fc"], batch_size=8), extract(model, x, ["fc"], batch_size=8, fold_batchnorm=False)
    )


def test_the_probe_pass_is_invisible_to_the_users_hooks():
    torch.manual_seed(0)
    model, x = _random_stats(ConvNet()), _x()
    rows: list[int] = []
    handle = model.bn2.register_forward_hook(lambda _m, inp, _o: rows.append(len(inp[0])))
    try:
        acts = extract(model, x, ["fc"], batch_size=8)
    finally:
        handle.remove()
    assert rows == [8, 8, 3]  # the batches, not the probe's two inputs first
    assert acts["fc"].shape == (19, 5)


def test_a_bfloat16_model_folds_with_float32_statistics():
    torch.manual_seed(0)
    model, x = _random_stats(ConvNet()).to(torch.bfloat16), _x().to(torch.bfloat16)
    assert _folded(model, x, ["fc"]) == 2
    got = extract(model, x, ["bn2", "fc"], batch_size=8)
    want = extract(model, x, ["bn2", "fc"], batch_size=8, fold_batchnorm=False)
    for name in ("bn2", "fc"):  # bfloat16 rounding (8 bits of mantissa), not a wrong fold
        np.testing.assert_allclose(got[name], want[name], atol=3e-2 * np.abs(want[name]).max())
