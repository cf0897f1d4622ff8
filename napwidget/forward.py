"""One hooked forward pass per call: the batch step of every extraction path (in memory, store, Ray).

Hooks, eval mode, device and memory format are set up once for many calls and restored afterwards; each
call runs one batch (a chunk, possibly in another process) and returns its reduced activations, so the
in-memory and the chunked engines compute the same numbers the same way.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch
from torch import nn

from napwidget.activations import (
    _eval_mode,
    _first_tensor,
    _has_conv2d,
    _model_device,
    _to_model_input,
    reduce_activation,
)
from napwidget.batches import attention_mask, call_model, describe_batch
from napwidget.errors import NapInputError


class HookedForward(contextlib.AbstractContextManager):
    """Context manager; inside it, ``step(x)`` runs ``model`` on one batch, returns the reduced activations.

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
    ) -> None:
        self.model = model
        self.names = list(names)
        self.reduce = reduce
        self.device = torch.device(device) if device is not None else _model_device(model)
        self.channels_last = channels_last
        self.shapes: dict[str, tuple[int, ...]] = {}
        self._collected: dict[str, torch.Tensor] = {}
        self._stack = contextlib.ExitStack()
        self._use_cl: bool | None = None
        self._mask: torch.Tensor | None = None  # the running batch's attention_mask, read by the hooks

    def __enter__(self) -> HookedForward:
        modules = dict(self.model.named_modules())
        stack = self._stack
        for name in self.names:
            handle = modules[name].register_forward_hook(self._make_hook(name))
            stack.callback(handle.remove)
        original = _model_device(self.model)
        if self.device != original:
            self.model.to(self.device)
            stack.callback(self.model.to, original)
        stack.enter_context(_eval_mode(self.model))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._use_cl:
            self.model.to(memory_format=torch.contiguous_format)
        self._stack.close()

    def _make_hook(self, name: str):
        def hook(_m, _inp, out):
            t = _first_tensor(out)
            if t is None:
                raise NapInputError(
                    f"layer {name!r} returned no tensor", "choose a module that outputs a tensor"
                )
            self.shapes.setdefault(name, tuple(t.shape[1:]))
            self._collected[name] = reduce_activation(t, self.reduce, self._mask).float().cpu()

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
            if self._use_cl:
                self.model.to(memory_format=torch.channels_last)
        if self._use_cl:
            x = x.contiguous(memory_format=torch.channels_last)
        self._collected = {}
        self._mask = attention_mask(x)
        with torch.inference_mode():
            try:
                out = call_model(self.model, x)
            except NapInputError:
                raise
            except Exception as exc:
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
        return {n: self._collected[n].numpy() for n in self.names}, outputs

    def _outputs(self, out: Any) -> np.ndarray | None:
        o = _first_tensor(out)
        if o is None:
            return None
        if o.dim() == 3:  # token-level output (a bare encoder): its masked token mean, not T*C values
            o = reduce_activation(o, "mean", self._mask)
        return o.detach().float().reshape(o.shape[0], -1).cpu().numpy()
