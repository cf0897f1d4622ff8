"""The conv plan of an eager CPU extraction (napwidget/conv_plan.py): convs run channels-last through weights
of their own, tiny maps with many channels run contiguous, and the user's model is never converted."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from napwidget import extract
from napwidget.forward import HookedForward


class Deep(nn.Module):
    """A stem at 8x8, then 256 channels down to 2x2 (the case channels-last loses on a CPU), no BatchNorm."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.down = nn.Conv2d(16, 256, 3, stride=4, padding=1)
        self.tiny = nn.Conv2d(256, 256, 3, padding=1)
        self.fc = nn.Linear(256, 4)

    def forward(self, x):
        x = torch.relu(self.down(torch.relu(self.stem(x))))
        return self.fc(torch.relu(self.tiny(x)).mean(dim=(2, 3)))


def _x() -> torch.Tensor:
    return torch.rand(10, 3, 8, 8, generator=torch.Generator().manual_seed(2))


def test_tiny_maps_run_contiguous_the_rest_channels_last_and_the_model_is_never_converted():
    torch.manual_seed(0)
    model = Deep().eval()
    before = {n: (p.data_ptr(), p.stride()) for n, p in model.named_parameters()}
    seen: dict[str, list[tuple[bool, bool]]] = {"stem": [], "tiny": []}
    for name in seen:
        model.get_submodule(name).register_forward_hook(
            lambda m, _i, o, name=name: seen[name].append(
                (o.is_contiguous(), o.is_contiguous(memory_format=torch.channels_last))
            )
        )
    with HookedForward(model, ["tiny"], "mean") as step:
        step(_x())
        assert step.nchw_convs == 1 and step.folded == 0
        during = {n: (p.data_ptr(), p.stride()) for n, p in model.named_parameters()}
    assert seen["stem"] == [(False, True)]  # 8x8 output: channels-last
    assert seen["tiny"] == [(True, False)]  # 2x2 output, 256 channels: contiguous
    assert during == before  # the extraction ran on weights of its own: the model's stayed as they were
    assert {n: (p.data_ptr(), p.stride()) for n, p in model.named_parameters()} == before
    assert all("forward" not in vars(m) for m in model.modules())


def test_the_layout_plan_agrees_with_the_model_as_written():
    torch.manual_seed(0)
    model, x = Deep().eval(), _x()
    acts = extract(model, x, ["down", "tiny"], batch_size=4)
    plain = extract(model, x, ["down", "tiny"], batch_size=4, channels_last=False)
    with torch.no_grad():
        want = model(x).numpy()
    for name in ("down", "tiny"):
        np.testing.assert_allclose(acts[name], plain[name], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(acts.outputs, want, rtol=1e-5, atol=1e-6)


def test_a_conv_whose_forward_someone_replaced_keeps_it():
    torch.manual_seed(0)
    model, x = Deep().eval(), _x()
    calls = []
    original = model.tiny.forward

    def replaced(t):
        calls.append(len(t))
        return original(t)

    model.tiny.forward = replaced
    with HookedForward(model, ["tiny"], "mean") as step:
        step(x)
        assert step.nchw_convs == 0  # not ours to replace
    assert calls[-1] == 10 and model.tiny.forward is replaced  # (the probe pass before it ran 2 rows)


class Separable(nn.Module):
    """MobileNet-style: depthwise 3x3 + BatchNorm, pointwise 1x1 + BatchNorm, at 2x2 with 256 channels."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 256, 3, stride=4, padding=1)
        self.dw, self.bn_dw = nn.Conv2d(256, 256, 3, padding=1, groups=256, bias=False), nn.BatchNorm2d(256)
        self.pw, self.bn_pw = nn.Conv2d(256, 256, 1, bias=False), nn.BatchNorm2d(256)
        self.fc = nn.Linear(256, 3)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        x = torch.relu(self.bn_dw(self.dw(x)))
        x = torch.relu(self.bn_pw(self.pw(x)))
        return self.fc(x.mean(dim=(2, 3)))


def test_depthwise_convs_fold_and_keep_channels_last_only_dense_tiny_convs_go_contiguous():
    torch.manual_seed(0)
    model, x = Separable().eval(), _x()
    for bn in (model.bn_dw, model.bn_pw):  # statistics far from the identity
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.2, 2)
    with HookedForward(model, ["fc"], "mean") as step:
        step(x[:4])
        assert step.folded == 2
        assert step.nchw_convs == 1  # pw (dense, 256 channels, 2x2); dw is depthwise, stem has 3 inputs
    acts = extract(model, x, ["bn_pw", "fc"], batch_size=4)
    plain = extract(model, x, ["bn_pw", "fc"], batch_size=4, fold_batchnorm=False, channels_last=False)
    for name in ("bn_pw", "fc"):
        np.testing.assert_allclose(acts[name], plain[name], rtol=1e-4, atol=1e-5 * np.abs(plain[name]).max())
