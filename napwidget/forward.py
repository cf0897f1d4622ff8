"""One hooked forward pass per call: the batch step of every extraction path (in memory, store, Ray).

Hooks, eval mode, device and memory format are set up once for many calls and restored afterwards; each
call runs one batch (a chunk, possibly in another process) and returns its reduced activations, so the
in-memory and the chunked engines compute the same numbers the same way.
"""

from __future__ import annotations

import contextlib
import functools
import types
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils._pytree import tree_map

from napwidget.activations import (
    _eval_mode,
    _first_tensor,
    _has_conv2d,
    _model_device,
    _to_model_input,
    reduce_activation,
)
from napwidget.batches import attention_mask, call_model, describe_batch
from napwidget.bn_fold import NORMS, probe
from napwidget.conv_plan import ConvPlan, FoldBroken, conv_layout
from napwidget.errors import NapInputError
from napwidget.forward_workers import CpuWorkers, check_workers


class HookedForward(contextlib.AbstractContextManager):
    """Context manager; inside it, ``step(x)`` runs ``model`` on one batch, returns the reduced activations.

    ``device``, ``channels_last``, ``autocast`` (a reduced-precision dtype or None), ``compile``,
    ``workers`` and ``fold_batchnorm`` are :func:`~napwidget.extract`'s arguments of those names.

    Example
    -------
    >>> from napwidget.datasets import DigitsCNN
    >>> with HookedForward(DigitsCNN(), ["fc1"], "mean") as step:
    ...     layers, outputs = step(torch.zeros(3, 1, 8, 8))
    >>> layers["fc1"].shape, outputs.shape
    ((3, 64), (3, 10))
    """

    def __init__(
        self,
        model: nn.Module,
        names: list[str],
        reduce: str,
        device: str | torch.device | None = None,
        channels_last: bool | None = None,
        autocast: torch.dtype | None = None,
        compile: bool = False,
        workers: int = 1,
        fold_batchnorm: bool = True,
    ) -> None:
        self.model = model
        self.autocast = autocast
        self.compile = compile
        self._compiled: Any = None  # torch.compile(model), made on entry when asked for
        self._compiled_rows: int | None = None  # the batch size it was compiled for
        self.names = list(names)
        self.reduce = reduce
        self.device = torch.device(device) if device is not None else _model_device(model)
        if autocast is torch.bfloat16 and self.device.type == "cpu" and not cpu_has_bf16():
            warnings.warn(slow_bf16_message(), UserWarning, stacklevel=3)
        self.channels_last = channels_last
        self.workers = check_workers(workers, compile)
        self._workers: CpuWorkers | None = None  # made on entry when sub-batches run side by side
        # compiled models get their own fusions and layouts from inductor; eager ones get a conv plan
        # (folded BatchNorms, contiguous tiny convs: napwidget/conv_plan.py) on the first batch
        self.fold_batchnorm = bool(fold_batchnorm)
        self._plan_pending = not compile
        self._plan: ConvPlan | None = None
        self.folded = 0  # (conv, BatchNorm) pairs folded for this extraction
        self.nchw_convs = 0  # convs run contiguous inside a channels-last model
        self.unfolded_batches = 0  # batches that took another path than the probe, so ran unfolded
        self.shapes: dict[str, tuple[int, ...]] = {}
        # this batch's (reduced activation, per-input shape) per layer; a fresh dict per batch, written only
        # by the hooks (so a compiled model sees the same state on every call and is not recompiled)
        self._collected: dict[str, tuple[torch.Tensor, tuple[int, ...]]] = {}
        self._stack = contextlib.ExitStack()
        self._use_cl: bool | None = None
        self._mask: torch.Tensor | None = None  # the running batch's attention_mask, read by the hooks

    def __enter__(self) -> HookedForward:
        modules = dict(self.model.named_modules())
        stack = self._stack
        if self.workers > 1 and self.device.type == "cpu":  # a GPU is the parallel part itself
            self._workers = CpuWorkers(self.workers)
        for name in self.names:
            handle = modules[name].register_forward_hook(self._make_hook(name))
            stack.callback(handle.remove)
        original = _model_device(self.model)
        if self.device != original:
            self.model.to(self.device)
            stack.callback(self.model.to, original)
        stack.enter_context(_eval_mode(self.model))
        if self.compile:
            # No weight freezing: frozen weights would survive later in-place updates of the model.
            # Compiled through a napwidget function, not model.forward: dynamo caches compiled code per code
            # object and does not guard on module hooks, so a graph the user compiled earlier for the same
            # model class (without our hooks) would otherwise run in place of ours and skip the hooks.
            entry = torch.compile(_entry_for(type(self.model)), dynamic=False)
            self._compiled = functools.partial(entry, self.model)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _convert_model(self) -> None:
        """Channels-last for the model itself, until exit: for compiled models (inductor reads the weights'
        layout) and when no conv plan could give the convs channels-last weights of their own."""
        self.model.to(memory_format=torch.channels_last)
        self._stack.callback(functools.partial(self.model.to, memory_format=torch.contiguous_format))

    def _make_hook(self, name: str):
        def hook(_m, _inp, out):
            t = _first_tensor(out)
            if t is None:
                raise NapInputError(
                    f"layer {name!r} returned no tensor", "choose a module that outputs a tensor"
                )
            reduced = reduce_activation(t, self.reduce, self._mask).float().cpu()
            sink = self._collected if self._workers is None else self._workers.sink(self._collected)
            sink[name] = (reduced, tuple(t.shape[1:]))

        return hook

    def __call__(self, x: Any) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """Reduced activations ``{layer: (B, F) float32}`` and the flattened outputs (B, K), or None."""
        x = _to_model_input(x, self.model, self.device)
        if self._use_cl is None:  # decided on the first batch, as extract() does
            self._use_cl = bool(
                _has_conv2d(self.model)
                and isinstance(x, torch.Tensor)
                and x.dim() == 4
                and self.channels_last is not False
            )
            if self._use_cl and not self._plan_pending:
                self._convert_model()
        if self._use_cl:
            x = x.contiguous(memory_format=torch.channels_last)
        if self._plan_pending:
            self._plan_pending = False
            self._plan_convs(x)
        self._collected = {}
        self._mask = attention_mask(x)
        with torch.inference_mode(), self._autocast():
            try:
                out = self._guarded_forward(x)
            except NapInputError:
                raise
            except Exception as exc:
                if _from_compiler(exc):
                    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    raise NapInputError(
                        f"torch.compile failed on a batch of shape {describe_batch(x)}: {first}",
                        "extract without compile=True (which also shows the model's own error, if any); "
                        "compile needs a C++ compiler on CPU and a model torch.compile supports",
                    ) from exc
                raise RuntimeError(
                    f"the model raised on a batch of shape {describe_batch(x)}: {exc}. "
                    "Fix: pass inputs the model accepts (check shape, dtype and channel order, "
                    "e.g. (N, C, H, W) float for image models; a dict is passed as model(**batch), "
                    "a tuple as model(*batch))"
                ) from exc
            outputs = self._outputs(out)
        missing = [n for n in self.names if n not in self._collected]
        if missing:
            raise NapInputError(
                f"layers {missing} never ran in the forward pass",
                "pick modules that the model's forward() calls (see napwidget.list_layers)",
            )
        for n in self.names:
            self.shapes.setdefault(n, self._collected[n][1])
        return {n: self._collected[n][0].numpy() for n in self.names}, outputs

    def _plan_convs(self, x: Any) -> None:
        """Fold the BatchNorms that a probe pass on the batch's first two inputs shows are safe to fold (and
        only them), and on a CPU run the tiny convs of a channels-last model contiguous, until exit.

        Two inputs, not the batch: every batch, the first included, then runs the same plan, so a resumed
        store equals an uninterrupted one bit for bit. Two, not one: models that special-case a batch of
        one (``squeeze()``) would show the probe another path."""
        fold = self.fold_batchnorm and any(type(m) in NORMS for m in self.model.modules())  # as the probe
        if not (fold or self._use_cl):
            return  # nothing to plan: no probe pass (the user's hooks would see it)
        # contiguous: until the plan exists the convs hold the model's own (NCHW) weights, and a channels-last
        # input would make oneDNN reorder every weight in the probe pass (ResNet-18: 35 ms instead of 13)
        head = tree_map(lambda v: v.contiguous() if isinstance(v, torch.Tensor) else v, _first_rows(x, 2))

        def run() -> Any:
            with torch.inference_mode(), self._autocast():
                return call_model(self.model, head)

        modules = dict(self.model.named_modules())
        try:
            found = probe(self.model, run, [modules[n] for n in self.names])
        except Exception:  # the model's own error shows on the real batch; here: no plan
            found = None
        layouts = {}
        if found is not None and self._use_cl:
            cpu = self.device.type == "cpu"
            layouts = {c: f for c, hw in found.conv_hw.items() if (f := conv_layout(c, hw, cpu)) is not None}
        if self._use_cl and not layouts:
            self._convert_model()
        pairs = found.pairs if found is not None and fold else []
        if pairs or layouts:
            self._plan = ConvPlan(pairs, layouts)
            self._plan.install(self._stack)
        self.folded = len(pairs)
        self.nchw_convs = sum(f is torch.contiguous_format for f in layouts.values())

    def _guarded_forward(self, x: Any) -> Any:
        """The forward pass, folded where the probe allowed; a batch that took another path through the
        model (it branches on the batch) runs again as written, with a warning the first time."""
        plan = self._plan
        if plan is None:
            return self._forward(x)
        try:
            with plan.checked():
                return self._forward(x)
        except FoldBroken as exc:
            if not self.unfolded_batches:
                warnings.warn(
                    f"fold_batchnorm: a batch of shape {describe_batch(x)} took another path through the "
                    f"model than the probe input ({exc}); such batches run without folding. Pass "
                    "fold_batchnorm=False to run every batch as written",
                    RuntimeWarning,
                    stacklevel=2,
                )
            self.unfolded_batches += 1
            self._collected = {}  # what the hooks saw of the broken pass
            with plan.suspended():
                return self._forward(x)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast)

    def _forward(self, x: Any) -> Any:
        """The model's output on ``x``: one pass, or sub-batches side by side (tensor batches, workers)."""
        workers = self._workers
        if workers is None or not isinstance(x, torch.Tensor) or x.dim() == 0 or len(x) < workers.n:
            return call_model(self._runner(x), x)

        def part(rows: torch.Tensor) -> torch.Tensor | None:
            # grad mode and autocast are per thread: enter them again in the worker
            with torch.inference_mode(), self._autocast():
                return _first_tensor(self.model(rows))

        out, sinks = workers.run(part, x)
        for name in self.names:
            if all(name in sink for sink in sinks):
                reduced = torch.cat([sink[name][0] for sink in sinks])
                self._collected[name] = (reduced, sinks[0][name][1])
        return out

    def _runner(self, x: Any) -> Any:
        """The compiled model for batches of the size it was compiled for, else the model itself: the last,
        shorter batch would otherwise cost a second compilation."""
        if self._compiled is None:
            return self.model
        rows = _rows(x)
        if self._compiled_rows is None:
            self._compiled_rows = rows
        return self._compiled if rows == self._compiled_rows else self.model

    def _outputs(self, out: Any) -> np.ndarray | None:
        o = _first_tensor(out)
        if o is None:
            return None
        if o.dim() == 3:  # token-level output (a bare encoder): its masked token mean, not T*C values
            o = reduce_activation(o, "mean", self._mask)
        return o.detach().float().reshape(o.shape[0], -1).cpu().numpy()


def _call_module(module: nn.Module, *args: Any, **kwargs: Any) -> Any:
    """``module(*args, **kwargs)``: the frame ``compile=True`` compiles (see ``HookedForward.__enter__``)."""
    return module(*args, **kwargs)


_ENTRIES: dict[type, Any] = {}


def _entry_for(cls: type) -> Any:
    """A copy of :func:`_call_module` with its own code object for each model class: dynamo's cache and its
    recompilation limit (8 graphs) belong to a code object, so each class keeps its own, as with
    ``torch.compile(model)``, and no graph compiled outside napwidget is ever reused."""
    if cls not in _ENTRIES:
        code = _call_module.__code__.replace(co_name=f"_call_{cls.__name__}")
        _ENTRIES[cls] = types.FunctionType(code, _call_module.__globals__, code.co_name)
    return _ENTRIES[cls]


def _rows(x: Any) -> int | None:
    """Batch size of a tensor, or of the first tensor in a dict/tuple batch."""
    if isinstance(x, torch.Tensor):
        return int(x.shape[0]) if x.dim() else None
    values = x.values() if isinstance(x, dict) else x if isinstance(x, (tuple, list)) else ()
    return next((r for r in map(_rows, values) if r is not None), None)


def _first_rows(x: Any, n: int) -> Any:
    """The batch cut to its first ``n`` inputs: tensors with the batch's rows sliced, the rest as is."""
    rows = _rows(x)

    def head(v: Any) -> Any:
        return v[:n] if isinstance(v, torch.Tensor) and v.dim() and v.shape[0] == rows else v

    return head(x) if isinstance(x, torch.Tensor) else tree_map(head, x)


def _from_compiler(exc: BaseException) -> bool:
    """Whether an error came out of torch.compile (dynamo/inductor) rather than the model's own code."""
    return type(exc).__module__.startswith(("torch._dynamo", "torch._inductor"))


AUTOCAST_DTYPES = {
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def cpu_has_bf16() -> bool:
    """Whether this CPU has bfloat16 instructions (AVX512-BF16 or AMX) that make bf16 autocast pay."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private torch.cpu probes
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def slow_bf16_message() -> str:
    return (
        f"autocast=bf16 on a CPU without bfloat16 instructions ({torch.backends.cpu.get_cpu_capability()}) "
        "emulates them: several times slower than float32 (0.17x measured on such a CPU). Fix: leave "
        "autocast=None here; bf16 pays on GPUs and on CPUs with AVX512-BF16 or AMX."
    )


def resolve_autocast(value: torch.dtype | str | None) -> torch.dtype | None:
    """``extract``'s ``autocast`` argument as a dtype (bfloat16 or float16), or None; anything else raises.

    Example
    -------
    >>> resolve_autocast("bf16"), resolve_autocast(None)
    (torch.bfloat16, None)
    """
    if value is None or value is False:
        return None
    dtype = AUTOCAST_DTYPES.get(value) if isinstance(value, str) else value
    if dtype not in (torch.bfloat16, torch.float16):
        raise NapInputError(
            f"autocast={value!r} is not a reduced-precision dtype extract can run in",
            "pass autocast=torch.bfloat16 (or 'bf16'; float16 on GPUs), or leave it None for float32",
        )
    return dtype
