"""Folding eval-mode BatchNorm into the convolution before it, for the duration of an extraction.

Why: in eval mode a BatchNorm is a per-channel affine map, so ``bn(conv(x))`` is one convolution with scaled
weights and a shifted bias. Dropping the BatchNorm pass saves a full read and write of every conv output:
with it, ResNet-18 on 2 CPU cores ran 1.40-1.47x -> 1.75-1.84x a plain ``no_grad`` loop at 224x224
(benchmarks/README.md, "Extraction"). Activations agree with the unfolded model to float32 rounding, as
with any change of summation order.

Folding must never change what anything else sees, so a pair is folded only when a probe pass proves it safe
(:func:`probe`): the conv's output goes into that BatchNorm and nowhere else (no other op, no
returned output), each module runs once per pass, neither is a hooked layer, and nobody else hooks the conv
or the BatchNorm's input. Modules are never replaced: the folded conv and the identity BatchNorm are
instance-level ``forward`` overrides (``conv_plan.py`` installs them, with a per-batch guard), removed again
on exit, so module names, hooks and weights stay the user's own.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)

# Calls that read a tensor's metadata, not its values: a conv output that BatchNorm checks with .dim() is
# still consumed by the BatchNorm alone.
_METADATA_CALLS = {
    "dim", "size", "stride", "numel", "nelement", "ndimension", "is_contiguous", "is_floating_point",
    "is_complex", "element_size", "data_ptr", "get_device", "storage_offset", "__len__",
}  # fmt: skip
_METADATA_PROPERTIES = {
    "shape", "ndim", "dtype", "device", "requires_grad", "is_cuda", "layout", "names", "is_sparse",
    "is_quantized", "is_meta", "is_mkldnn", "grad_fn", "is_leaf", "is_nested",
}  # fmt: skip


def _reads_values(func: Callable) -> bool:
    if getattr(func, "__name__", None) == "__get__":  # a property getter, e.g. Tensor.shape
        return getattr(getattr(func, "__self__", None), "__name__", None) not in _METADATA_PROPERTIES
    return getattr(func, "__name__", None) not in _METADATA_CALLS


class _Uses(TorchFunctionMode):
    """Records every torch call that reads the values of a watched tensor (by identity)."""

    def __init__(self) -> None:
        super().__init__()
        self.watched: dict[int, torch.Tensor] = {}  # kept alive, so an id is never reused mid-probe
        self.uses: dict[int, list[Callable]] = defaultdict(list)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.watched and _reads_values(func):
            for leaf in tree_leaves((args, kwargs)):
                if isinstance(leaf, torch.Tensor) and self.watched.get(id(leaf)) is leaf:
                    self.uses[id(leaf)].append(func)
        return func(*args, **kwargs)


class _Probe(contextlib.AbstractContextManager):
    """Hooks on every candidate conv and BatchNorm plus the call recorder, for one forward pass."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.uses = _Uses()
        self.calls: dict[nn.Module, int] = defaultdict(int)
        self.conv_out: dict[nn.Module, int] = {}  # conv -> id of its output
        self.conv_hw: dict[nn.Module, int] = {}  # Conv2d -> its largest output's height x width
        self.bn_in: dict[nn.Module, int] = {}  # BatchNorm -> id of its input
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> _Probe:
        for m in self.model.modules():
            if type(m) in CONVS:
                self._stack.callback(m.register_forward_hook(self._on_conv).remove)
            elif type(m) in NORMS:
                self._stack.callback(m.register_forward_pre_hook(self._on_norm).remove)
        self._stack.enter_context(self.uses)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _on_conv(self, module: nn.Module, _inp: Any, out: torch.Tensor) -> None:
        self.calls[module] += 1
        self.conv_out[module] = id(out)
        if isinstance(out, torch.Tensor) and out.dim() == 4:
            self.conv_hw[module] = max(self.conv_hw.get(module, 0), out.shape[-2] * out.shape[-1])
        self.uses.watched[id(out)] = out

    def _on_norm(self, module: nn.Module, inp: tuple) -> None:
        self.calls[module] += 1
        if inp and isinstance(inp[0], torch.Tensor):
            self.bn_in[module] = id(inp[0])

    def pairs(self, output: Any) -> list[tuple[nn.Module, nn.Module]]:
        """The (conv, BatchNorm) pairs whose conv output only fed that BatchNorm in the pass."""
        returned = {id(t) for t in tree_leaves(output) if isinstance(t, torch.Tensor)}
        by_input = {tid: bn for bn, tid in self.bn_in.items()}
        found = []
        for conv, tid in self.conv_out.items():
            bn = by_input.get(tid)
            if bn is None or tid in returned or self.calls[conv] != 1 or self.calls[bn] != 1:
                continue
            uses = self.uses.uses.get(tid, [])
            if len(uses) == 1 and getattr(uses[0], "__name__", None) == "batch_norm":
                found.append((conv, bn))
        return found


def _foldable_modules(conv: nn.Module, bn: nn.Module, hooked: set[int]) -> bool:
    """Whether folding ``bn`` into ``conv`` leaves everything that can observe them unchanged."""
    return (
        id(conv) not in hooked
        and not bn.training
        and bn.track_running_stats
        and bn.running_mean is not None
        and bn.num_features == conv.out_channels
        and conv.weight.is_floating_point()
        and not conv.weight.is_meta
        and not torch.nn.utils.parametrize.is_parametrized(conv)
        and not conv._forward_hooks  # a user's hook on the conv would see the BatchNorm's output
        and not bn._forward_pre_hooks  # ... or on the BatchNorm's input
        and "forward" not in vars(conv)  # already patched by someone: leave it alone
        and "forward" not in vars(bn)
    )


class Probed(NamedTuple):
    """What one probe pass found: the foldable pairs, and each Conv2d's output size (height x width)."""

    pairs: list[tuple[nn.Module, nn.Module]]
    conv_hw: dict[nn.Module, int]


def probe(model: nn.Module, run: Callable[[], Any], hooked: Iterable[nn.Module]) -> Probed:
    """Run ``run()`` (one forward pass of ``model``, e.g. on two inputs) under a probe: the (conv,
    BatchNorm) pairs that can be folded, and the size of every conv's output. ``hooked``: modules whose
    outputs are being collected; a conv among them keeps its own output.

    Example
    -------
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).eval()
    >>> found = probe(net, lambda: net(torch.rand(2, 1, 5, 5)), hooked=[])
    >>> [(type(c).__name__, type(b).__name__) for c, b in found.pairs], list(found.conv_hw.values())
    ([('Conv2d', 'BatchNorm2d')], [9])
    """
    if _global_hooks():  # they would see the probe pass too
        return Probed([], {})
    with torch.no_grad(), _hooks_silenced(model), _Probe(model) as seen:
        output = run()
    ids = {id(m) for m in hooked}
    return Probed([(c, b) for c, b in seen.pairs(output) if _foldable_modules(c, b, ids)], seen.conv_hw)


@contextlib.contextmanager
def _hooks_silenced(model: nn.Module):
    """No module hook of the user's (or of the extraction's own) fires in the probe pass: a hook that records
    what it sees would otherwise get an extra pass of two inputs. Hooks that could change what the probe
    must see (on a conv, or before a BatchNorm) keep their pair from folding anyway."""
    kinds = ("_forward_hooks", "_forward_pre_hooks")
    saved = [(m, k, getattr(m, k)) for m in model.modules() for k in kinds]
    try:
        for m, k, _ in saved:
            setattr(m, k, OrderedDict())
        yield
    finally:
        for m, k, hooks in saved:
            setattr(m, k, hooks)


def _global_hooks() -> bool:
    """Whether module hooks registered for all modules (``register_module_forward_hook``) exist: they
    observe every conv, so nothing can be folded unseen."""
    from torch.nn.modules import module as m

    return bool(m._global_forward_hooks or m._global_forward_pre_hooks)


def folded_weights(
    conv: nn.Module, bn: nn.Module, memory_format: torch.memory_format = torch.preserve_format
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of the convolution equal to ``bn(conv(x))`` in eval mode, the weight in
    ``memory_format`` (written in one pass, however the conv's own weight is laid out).

    Example
    -------
    >>> conv, bn = nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3).eval()
    >>> w, b = folded_weights(conv, bn)
    >>> x = torch.rand(1, 2, 4, 4)
    >>> torch.allclose(conv._conv_forward(x, w, b), bn(conv(x)), atol=1e-6)
    True
    """
    with torch.no_grad():
        scale = torch.rsqrt(bn.running_var + bn.eps)
        if bn.weight is not None:
            scale = scale * bn.weight
        shift = -bn.running_mean * scale
        if bn.bias is not None:
            shift = shift + bn.bias
        bias = shift if conv.bias is None else conv.bias * scale + shift
        weight = torch.empty_like(conv.weight, memory_format=memory_format)
        # computed in float32 for a half / bfloat16 model too (its statistics are float32), rounded once
        torch.mul(conv.weight, scale.reshape(-1, *([1] * (conv.weight.dim() - 1))), out=weight)
    return weight, bias.to(conv.weight.dtype)
