"""How each convolution runs during an extraction: folded with its BatchNorm (``bn_fold.py`` finds the
pairs), and in which memory layout. The one owner of the ``forward`` overrides napwidget puts on a model's
convs and BatchNorms: installed for the extraction, removed when its stack closes, so module names, hooks
and weights stay the user's own.

Layout: ``extract`` runs conv models channels-last (on CPU 1.2-2.5x faster per conv at 8x8 and larger
feature maps) by giving each conv a channels-last copy of its weight (folded or not), never by converting the
model. oneDNN's channels-last kernels lose on tiny maps, though: a 3x3 conv of 256-512 channels with a 2x2
output ran 1.6-1.7x slower channels-last than contiguous (NCHW) on this project's AVX-512 benchmark VM, and
slower too on an AVX2 one (benchmarks/README.md, "Extraction"), so on a CPU such convs get a contiguous
weight and input instead.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterable, Mapping

import torch
from torch import nn

from napwidget.bn_fold import folded_weights

NCHW_MAX_HW = 4  # output at most 2x2 (height x width) ...
NCHW_MIN_CHANNELS = 256  # ... and this many input channels: where channels-last measured slower


def conv_layout(conv: nn.Module, out_hw: int, cpu: bool) -> torch.memory_format | None:
    """The memory format ``conv`` runs in within a channels-last extraction, given its output size
    (``out_hw`` = height x width): contiguous for tiny maps on a CPU, else channels-last; None for a conv
    that keeps its own weight (not a plain ``Conv2d``, or its ``forward`` is not ours to replace).

    Example
    -------
    >>> conv_layout(nn.Conv2d(512, 512, 3), 4, cpu=True), conv_layout(nn.Conv2d(512, 512, 3), 49, cpu=True)
    (torch.contiguous_format, torch.channels_last)
    """
    if (
        type(conv) is not nn.Conv2d
        or "forward" in vars(conv)
        or torch.nn.utils.parametrize.is_parametrized(conv)
    ):
        return None
    # measured on dense convs only (groups=1); depthwise kernels have crossovers of their own
    if cpu and out_hw <= NCHW_MAX_HW and conv.in_channels >= NCHW_MIN_CHANNELS and conv.groups == 1:
        return torch.contiguous_format
    return torch.channels_last


class FoldBroken(RuntimeError):
    """A pass took a path the probe did not see: a folded conv's output did not go straight into its
    BatchNorm (the BatchNorm got another tensor, was skipped, or the conv ran again first)."""


class ConvPlan:
    """Folded (conv, BatchNorm) pairs and contiguous-layout convs, as ``forward`` overrides.

    The probe proved each pair on two inputs; a model whose forward branches on the batch could take another
    path on a full batch. So every pass under :meth:`checked` also checks, cheaply, that each folded conv's
    output went into its own BatchNorm and nowhere else first, else raises :class:`FoldBroken`, and the
    caller reruns that batch as written (:meth:`suspended`). A use of the conv's output *after* its
    BatchNorm would not show here; only the probe rules that out.

    Example
    -------
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4)).eval()
    >>> x = torch.rand(2, 1, 5, 5)
    >>> before = net(x)
    >>> with contextlib.ExitStack() as stack:
    ...     plan = ConvPlan([(net[0], net[1])])
    ...     plan.install(stack)
    ...     with plan.checked():
    ...         after = net(x)
    ...     plan.folded, torch.allclose(after, before, atol=1e-5)
    (1, True)
    >>> "forward" in vars(net[0])  # removed again
    False
    """

    def __init__(
        self,
        pairs: Iterable[tuple[nn.Module, nn.Module]],
        layouts: Mapping[nn.Module, torch.memory_format] | None = None,
    ) -> None:
        norms, layouts = dict(pairs), dict(layouts or {})
        self.folded = len(norms)
        self._entries = []  # (conv, its folded BatchNorm or None, weight, bias, make the input contiguous?)
        for conv in dict.fromkeys([*norms, *layouts]):
            bn, fmt = norms.get(conv), layouts.get(conv, torch.preserve_format)
            if bn is not None:  # the weight written once, folded and in its layout
                weight, bias = folded_weights(conv, bn, fmt)
            else:
                # a fresh tensor, as Module.to(memory_format=) makes: .contiguous() would keep the strides of
                # a weight that is already "contiguous" both ways (one input channel), and oneDNN reads them
                weight = torch.empty_like(conv.weight, memory_format=fmt).copy_(conv.weight.detach())
                bias = conv.bias
            self._entries.append((conv, bn, weight, bias, fmt is torch.contiguous_format))
        self._lock = threading.Lock()  # workers=2 runs the model in two threads at once
        self._local = threading.local()  # each thread's conv outputs waiting for their BatchNorm
        self._pass = 0
        self._waiting = 0

    def install(self, stack: contextlib.ExitStack | None = None) -> None:
        """Put the overrides on the modules (until ``stack`` closes, if given)."""
        for conv, bn, weight, bias, contiguous in self._entries:
            conv.forward = functools.partial(self._conv, conv, bn is not None, weight, bias, contiguous)
            if bn is not None:
                bn.forward = functools.partial(self._norm, conv)
        if stack is not None:
            stack.callback(self.remove)

    def remove(self) -> None:
        for conv, bn, *_ in self._entries:
            vars(conv).pop("forward", None)
            if bn is not None:
                vars(bn).pop("forward", None)

    @contextlib.contextmanager
    def checked(self):
        """One forward pass (its threads included) under the guard; FoldBroken if the path differed."""
        with self._lock:
            self._pass += 1  # outputs a failed pass left waiting are stale from now on
            self._waiting = 0
        yield
        if self._waiting:
            raise FoldBroken("a folded convolution ran but its BatchNorm did not take its output")

    @contextlib.contextmanager
    def suspended(self):
        """The model as written, for one pass."""
        self.remove()
        try:
            yield
        finally:
            self.install()

    def _outputs(self) -> dict[nn.Module, torch.Tensor]:
        local = self._local
        if getattr(local, "pass_", None) != self._pass:
            local.pass_, local.outputs = self._pass, {}
        return local.outputs

    def _conv(self, conv: nn.Module, folded: bool, weight, bias, contiguous: bool, x: torch.Tensor):
        out = conv._conv_forward(x.contiguous() if contiguous else x, weight, bias)
        if not folded:
            return out
        waiting = self._outputs()
        if conv in waiting:
            raise FoldBroken("a folded convolution ran again before its BatchNorm took its output")
        waiting[conv] = out
        with self._lock:
            self._waiting += 1
        return out

    def _norm(self, conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self._outputs().pop(conv, None) is not x:
            raise FoldBroken("a folded BatchNorm got a tensor other than its convolution's output")
        with self._lock:
            self._waiting -= 1
        return x
