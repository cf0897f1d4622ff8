"""Model -> activations: list a model's layers, extract per-input activation profiles with forward hooks."""

from __future__ import annotations

import contextlib
import difflib
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from napwidget.activation_cache import ActivationCache, fingerprint_inputs, fingerprint_model
from napwidget.batches import (
    _split_xy,
    call_model,
    is_multi_input,
    iterate_batches,
)
from napwidget.errors import NapInputError
from napwidget.forward_workers import check_workers

REDUCTIONS = ("mean", "max", "mean_std", "min_max", "none")


@dataclass(frozen=True)
class LayerInfo:
    """One hookable module: qualified name (as in ``model.named_modules()``), type and per-input output shape.

    Example
    -------
    >>> LayerInfo("fc1", "Linear", (64,)).to_dict()
    {'name': 'fc1', 'type': 'Linear', 'shape': [64]}
    """

    name: str
    type: str
    shape: tuple[int, ...] | None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "shape": list(self.shape) if self.shape else None}


def _first_tensor(output: Any) -> torch.Tensor | None:
    """Modules may return tuples/lists/dicts (RNNs, attention); the first tensor is the activation we use."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        for item in output:
            found = _first_tensor(item)
            if found is not None:
                return found
    if isinstance(output, Mapping):
        for item in output.values():
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def _model_dtype(model: nn.Module) -> torch.dtype:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Put every submodule in eval mode and restore each one's own flag afterwards."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag


def list_layers(model: nn.Module, example_input: Any) -> list[LayerInfo]:
    """List every hookable module of ``model`` in execution order, with type and output shape.

    One forward pass of ``example_input`` (a batch, e.g. ``images[:2]``) records each module's output shape.
    Modules that never run in that pass are listed last with ``shape=None``. A mapping (e.g. a tokenizer's
    ``{"input_ids": ..., "attention_mask": ...}``) is passed as ``model(**example_input)``, a tuple as
    ``model(*example_input)``, as in :func:`extract`.

    Example
    -------
    >>> from napwidget.datasets import DigitsCNN
    >>> [l.name for l in list_layers(DigitsCNN(), torch.zeros(1, 1, 8, 8))][:3]
    ['conv1', 'relu1', 'conv2']
    """
    names = {m: n for n, m in model.named_modules() if n}
    seen: dict[str, LayerInfo] = {}
    handles = []

    def make_hook(name: str, module: nn.Module):
        def hook(_m, _inp, out):
            t = _first_tensor(out)
            if name not in seen:
                seen[name] = LayerInfo(
                    name, type(module).__name__, tuple(t.shape[1:]) if t is not None else None
                )

        return hook

    for module, name in names.items():
        handles.append(module.register_forward_hook(make_hook(name, module)))
    try:
        x = _to_model_input(_as_batch(example_input), model)
        with _eval_mode(model), torch.inference_mode():
            call_model(model, x)
    finally:
        for h in handles:
            h.remove()
    rest = [LayerInfo(n, type(m).__name__, None) for m, n in names.items() if n not in seen]
    return list(seen.values()) + rest


def _as_batch(example_input: Any) -> Any:
    if isinstance(example_input, np.ndarray):
        return torch.from_numpy(example_input)
    if is_multi_input(example_input):
        x, _ = _split_xy(example_input) if isinstance(example_input, Mapping) else (example_input, None)
        return x
    return example_input


def _to_model_input(x: Any, model: nn.Module, device: torch.device | None = None) -> Any:
    """Move a batch to the model's device; floating inputs take the model's dtype, integer ones (ids) stay.

    Mappings and tuples (several model arguments) are moved item by item.
    """
    device = device or _model_device(model)
    if isinstance(x, Mapping):
        return {k: _to_model_input(v, model, device) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return tuple(_to_model_input(v, model, device) for v in x)
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if isinstance(x, torch.Tensor):
        if x.is_floating_point():
            x = x.to(device=device, dtype=_model_dtype(model))
        else:
            x = x.to(device)
    return x


def reduce_activation(t: torch.Tensor, reduce: str, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Reduce one batch of layer outputs to (B, features).

    Conv maps (B, C, H, W[, D]) are aggregated per channel over spatial positions; sequence outputs (B, T, C)
    over tokens; dense outputs (B, C) are never aggregated. ``mean_std`` and ``min_max`` return two blocks
    side by side: [mean | std] and [min | max], each C wide.

    ``mask`` (B, T), e.g. a tokenizer's ``attention_mask``, restricts the reduction of (B, T, C) outputs to
    the real tokens (mask != 0): padding neither dilutes a mean nor sets a max. An input without any real
    token reduces to zeros. A mask whose shape does not match (B, T) is not applied.

    Example
    -------
    >>> t = torch.tensor([[[1.0], [3.0], [100.0]]])
    >>> reduce_activation(t, "mean", mask=torch.tensor([[1, 1, 0]])).tolist()
    [[2.0]]
    """
    if reduce not in REDUCTIONS:
        raise NapInputError(f"unknown reduce={reduce!r}", f"use one of {', '.join(map(repr, REDUCTIONS))}")
    t = t.detach()
    if t.dim() <= 2 or reduce == "none":
        return t.reshape(t.shape[0], -1) if t.dim() != 2 else t
    if t.dim() == 3 and mask is not None and tuple(mask.shape) == tuple(t.shape[:2]):
        return _masked_token_reduce(t, mask.to(t.device) != 0, reduce)
    if t.dim() == 3:  # (B, T, C): transformer-style token sequence, reduce over tokens
        flat = t
        dim = 1
    else:  # (B, C, *spatial)
        flat = t.reshape(t.shape[0], t.shape[1], -1)
        dim = 2
    if reduce == "mean":
        return flat.mean(dim=dim)
    if reduce == "max":
        return flat.amax(dim=dim)
    if reduce == "mean_std":
        return torch.cat([flat.mean(dim=dim), flat.std(dim=dim, unbiased=False)], dim=1)
    return torch.cat([flat.amin(dim=dim), flat.amax(dim=dim)], dim=1)


def _masked_token_reduce(t: torch.Tensor, valid: torch.Tensor, reduce: str) -> torch.Tensor:
    """``reduce`` over the tokens of (B, T, C) ``t`` where ``valid`` (B, T) is True."""
    m = valid.unsqueeze(-1)  # (B, T, 1)
    count = m.sum(dim=1).clamp_min(1).to(t.dtype)  # (B, 1)
    any_valid = m.any(dim=1)  # (B, 1)
    mean = torch.where(m, t, torch.zeros((), dtype=t.dtype, device=t.device)).sum(dim=1) / count

    def extreme(fill: float, op) -> torch.Tensor:
        val = op(torch.where(m, t, torch.full((), fill, dtype=t.dtype, device=t.device)), dim=1)
        return torch.where(any_valid, val, torch.zeros_like(val))

    if reduce == "mean":
        return mean
    if reduce == "max":
        return extreme(float("-inf"), torch.amax)
    if reduce == "mean_std":
        sq = torch.where(m, (t - mean.unsqueeze(1)) ** 2, torch.zeros((), dtype=t.dtype, device=t.device))
        return torch.cat([mean, (sq.sum(dim=1) / count).sqrt()], dim=1)
    return torch.cat([extreme(float("inf"), torch.amin), extreme(float("-inf"), torch.amax)], dim=1)


class Activations(Mapping[str, np.ndarray]):
    """Per-layer activation matrices of N inputs, plus the model's outputs.

    ``acts[layer]`` is a float32 array (N, features) after reduction; ``acts.outputs`` the model outputs
    (logits) for every input, (N, K), or None; ``acts.targets`` the ``y`` a DataLoader yielded, if any.

    Example
    -------
    >>> acts = Activations({"fc1": np.ones((4, 3), np.float32)})
    >>> acts["fc1"].shape
    (4, 3)
    """

    def __init__(
        self,
        layers: Mapping[str, np.ndarray],
        *,
        outputs: np.ndarray | None = None,
        targets: np.ndarray | None = None,
        reduce: str = "mean",
        shapes: Mapping[str, tuple[int, ...]] | None = None,
    ) -> None:
        self._layers: dict[str, np.ndarray] = {}
        n = None
        for name, arr in layers.items():
            arr = np.asarray(arr)
            if arr.ndim == 1:
                arr = arr[:, None]
            if arr.ndim != 2:
                raise NapInputError(
                    f"activations of layer {name!r} have shape {arr.shape}, expected (N, features)",
                    "reduce conv maps first (extract(..., reduce='mean')) or reshape to (N, -1)",
                )
            if n is not None and arr.shape[0] != n:
                raise NapInputError(
                    f"layer {name!r} has {arr.shape[0]} rows but earlier layers have {n}",
                    "pass activations of the same inputs for every layer",
                )
            n = arr.shape[0]
            self._layers[str(name)] = np.ascontiguousarray(arr, dtype=np.float32)
        self.outputs = None if outputs is None else np.asarray(outputs, dtype=np.float32)
        self.targets = None if targets is None else np.asarray(targets)
        self.reduce = reduce
        self.shapes = dict(shapes or {name: (a.shape[1],) for name, a in self._layers.items()})

    @property
    def layers(self) -> list[str]:
        """Layer names in model (execution) order."""
        return list(self._layers)

    @property
    def n_samples(self) -> int:
        for arr in self._layers.values():
            return arr.shape[0]
        return 0 if self.outputs is None else len(self.outputs)

    def __getitem__(self, layer: str) -> np.ndarray:
        try:
            return self._layers[layer]
        except KeyError:
            raise unknown_layer_error(layer, self.layers) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._layers)

    def __len__(self) -> int:
        return len(self._layers)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}: {v.shape[1]}" for k, v in self._layers.items())
        return f"Activations(n={self.n_samples}, reduce={self.reduce!r}, layers={{{inner}}})"


def default_layer(names: Sequence[str], layer: str | None, fix: str) -> str:
    """``layer``, or the only layer of ``names`` when none is given; with several, ask for one (``fix``)."""
    if layer is not None:
        return layer
    if len(names) != 1:
        raise NapInputError(f"the activations hold {len(names)} layers {list(names)[:6]}", fix)
    return names[0]


def unknown_layer_error(layer: str, known: Sequence[str]) -> KeyError:
    close = difflib.get_close_matches(str(layer), list(known), n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(map(repr, close))}?" if close else f"known layers: {', '.join(known)}"
    return KeyError(f"unknown layer {layer!r}: {hint} (list them with napwidget.list_layers(model, x))")


def _resolve_layers(model: nn.Module, layers: str | Sequence[str] | None) -> list[str]:
    modules = dict(model.named_modules())
    modules.pop("", None)
    if layers is None:  # every leaf module: what a user usually means by "all layers"
        return [n for n, m in modules.items() if not any(True for _ in m.children())]
    if isinstance(layers, str):
        layers = [layers]
    layers = list(dict.fromkeys(layers))
    for name in layers:
        if name not in modules:
            raise unknown_layer_error(name, list(modules))
    if not layers:
        raise NapInputError("no layers were given", "pass layer names, e.g. layers=['fc1']")
    return layers


def _has_conv2d(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def extract(
    model: nn.Module,
    inputs: Any,
    layers: str | Sequence[str] | None = None,
    *,
    reduce: str = "mean",
    batch_size: int = 256,
    device: str | torch.device | None = None,
    cache: str | None = None,
    cache_key: str | None = None,
    channels_last: bool | None = None,
    progress: bool | None = None,
    store: str | os.PathLike | None = None,
    engine: str = "local",
    engine_options: Mapping[str, Any] | None = None,
    autocast: torch.dtype | str | None = None,
    compile: bool = False,
    workers: int = 1,
    fold_batchnorm: bool = True,
) -> Activations:
    """Run ``model`` over ``inputs`` and collect the activations of ``layers`` with forward hooks.

    Parameters
    ----------
    model : any ``nn.Module``. It is put in eval mode and restored; hooks are always removed, also on errors
        and KeyboardInterrupt.
    inputs : a torch Tensor or numpy array (N, ...); a mapping (dict, Hugging Face ``BatchEncoding``) or a
        tuple of equally long tensors/arrays, sliced together and passed as ``model(**batch)`` /
        ``model(*batch)``; a ``Dataset`` or ``DataLoader`` yielding ``x``, ``(x, y)`` (then ``y`` lands in
        ``acts.targets``; ``x`` may itself be a dict or tuple) or dicts of model arguments. A mapping's
        ``labels`` / ``label`` entry is not passed to the model: it becomes ``acts.targets``.
    layers : qualified module names (``model.named_modules()``); None = every leaf module.
    reduce : ``"mean"`` (the NAP reference default) or ``"max"`` over spatial positions of conv maps and over
        tokens of (N, T, C) sequences; ``"mean_std"``/``"min_max"`` keep two statistics per channel;
        ``"none"`` keeps the flattened output. When the batch is a mapping with an ``attention_mask`` (B, T),
        token reductions skip padding tokens (mask 0): a padded input gives the same profile as unpadded.
    batch_size : inputs per forward pass (Tensor/array/Dataset inputs).
    device : where to run; default the model's device.
    cache : a directory for an on-disk cache keyed by weights, inputs, layer and reduction. A repeated call
        loads instead of recomputing; corrupt or stale entries are detected and recomputed.
    cache_key : identifies Dataset/DataLoader inputs for the cache (their content cannot be hashed cheaply).
    channels_last : run conv models in channels-last memory format (faster on CPUs); default: on for
        4-D inputs to models with Conv2d. The convs get channels-last copies of their weights for the
        extraction; the model itself is not converted (with ``compile=True`` it is, and restored afterwards).
        On a CPU, convs of 256+ input channels with outputs of 2x2 or less run contiguous instead:
        channels-last measured 1.6-1.7x slower there.
    progress : show a tqdm progress bar; default when there are more than 20 batches.
    store : a path (e.g. ``"acts.zarr"``): stream each batch into a zarr activation store instead of memory
        and return it opened lazily (see :func:`~napwidget.open_activations`). The same call after an
        interruption computes only the missing (or corrupt) chunks; every kind of ``inputs`` above works,
        chunked by ``batch_size`` (a DataLoader: by its own batch size). Needs ``napwidget[scale]``.
    engine : ``"local"`` (this process) or ``"ray"``: the batches run on Ray Data, an actor pool holding the
        model on the current Ray cluster (a local one is started when none is connected); needs ``store``.
    engine_options : for ``engine="ray"``: ``concurrency`` (actors), ``num_cpus`` / ``num_gpus`` per actor,
        ``threads`` (torch threads per actor; 1 on CPUs), ``chunks_per_task`` (chunks per Ray Data task; by
        default up to 16, at least 4 tasks per actor).
    autocast : ``torch.bfloat16`` (or ``"bf16"``; ``torch.float16`` on GPUs) runs the model under
        ``torch.autocast``: for GPUs and CPUs with bfloat16 instructions (AVX512-BF16, AMX): ResNet-18 on 2
        such cores ran 2.0-2.5x a plain float32 ``no_grad`` loop at 64x64 and 3.2-3.5x at 224x224. **Without
        them it is much slower** (0.17x the float32 speed on an AVX2 CPU; ``extract`` warns), so measure
        before using it on a CPU. Activations stay within bfloat16 rounding (~1e-2 relative) of
        float32, so NAPs may move a few inputs. Returned activations are float32 either way; a store or
        cache remembers the setting. Default None: float32, bitwise the same as without it.
    compile : run the model through ``torch.compile`` (no weight freezing). Its one-off compilation (10 s to
        a minute) pays back on large runs (measured on 2-core CPUs, ResNet-18: 1.54-2.2x a plain
        ``no_grad`` loop at 224x224, 1.15-1.5x at 64x64); activations agree with float32 to rounding
        (~1e-6). Needs a C++ compiler on CPU.
    workers : forward passes that run side by side on a CPU, each on an equal share of the batch and of the
        torch threads (default 1: one pass with all threads). ``workers=2`` pays for large inputs: on 2 cores,
        ResNet-18 at 224x224 ran 1.55-2.04x a plain ``no_grad`` loop against 1.30-1.81x with one pass, while
        at 64x64 it was no faster or up to 13 % slower, so measure first. Activations agree to float32
        rounding (~1e-7 relative): like a change of ``batch_size``, the thread count and batch shape change
        the order in which ops sum. The model then runs in several threads at once, and so do your own hooks
        on it: not for a model whose ``forward`` keeps state on the module, or hooks that need the batches in
        order. Not with ``compile=True``; ignored on GPUs.
    fold_batchnorm : fold each eval-mode BatchNorm into the convolution before it while extracting (default
        True): one convolution with scaled weights replaces two passes over the conv output (ResNet-18 on 2
        CPU cores: 1.38-1.48x -> 1.75-1.84x a plain ``no_grad`` loop at 224x224, 1.02-1.27x -> 1.25-1.48x
        at 64x64; NAPs of ResNet-18 activations agree with the unfolded model's at ARI >= 0.998).
        Activations agree to float32 rounding (~1e-6 relative). A pair is folded only where a probe pass on
        two inputs (the model runs once more on them first; module hooks do not see it) shows nothing else
        can tell: the conv's output feeds that BatchNorm alone, neither module runs twice, the conv is not
        one of ``layers`` and has no hooks of yours. Every batch checks that its conv outputs still go
        straight into their BatchNorms; one that branches off (a forward that depends on the batch) runs
        again as written, with a warning. The model is not modified (its modules, weights and hooks stay as
        they are). ``False`` runs every BatchNorm as written.

    Example
    -------
    >>> from napwidget.datasets import DigitsCNN
    >>> acts = extract(DigitsCNN(), torch.rand(10, 1, 8, 8), ["conv3", "fc1"])
    >>> acts["conv3"].shape, acts.outputs.shape
    ((10, 64), (10, 10))

    A model whose forward takes keyword arguments (here a tiny encoder built on the spot):

    >>> class Enc(nn.Module):
    ...     def __init__(self):
    ...         super().__init__(); self.emb = nn.Embedding(50, 8); self.lin = nn.Linear(8, 4)
    ...     def forward(self, input_ids, attention_mask):
    ...         return self.lin(self.emb(input_ids))[:, 0]
    >>> batch = {"input_ids": torch.randint(0, 50, (6, 5)),
    ...          "attention_mask": torch.ones(6, 5, dtype=torch.long)}
    >>> extract(Enc(), batch, ["emb"])["emb"].shape
    (6, 8)
    """
    if reduce not in REDUCTIONS:
        raise NapInputError(f"unknown reduce={reduce!r}", f"use one of {', '.join(map(repr, REDUCTIONS))}")
    if batch_size < 1:
        raise NapInputError(f"batch_size={batch_size} must be >= 1", "pass e.g. batch_size=256")
    names = _resolve_layers(model, layers)
    from napwidget.forward import resolve_autocast

    # how each batch runs (napwidget.forward.HookedForward), the same for every engine
    forward = {
        "channels_last": channels_last,
        "autocast": resolve_autocast(autocast),
        "compile": bool(compile),
        "workers": check_workers(workers, bool(compile)),
        "fold_batchnorm": bool(fold_batchnorm),
    }
    if store is not None or engine != "local":  # chunked, resumable path (napwidget/store_extract.py)
        from napwidget.store_extract import extract_to_store

        return extract_to_store(
            model,
            inputs,
            names,
            store=store,
            engine=engine,
            engine_options=engine_options,
            reduce=reduce,
            batch_size=batch_size,
            device=device,
            forward=forward,
            progress=progress,
            cache_key=cache_key,
        )
    store = ActivationCache(cache) if cache else None
    key = None
    if store is not None:
        data_key = fingerprint_inputs(inputs) if cache_key is None else f"user:{cache_key}"
        if data_key is not None:
            key = f"{fingerprint_model(model)}-{data_key}"
            if forward["autocast"] is not None:  # other numbers than float32: another cache entry
                key += f"-autocast-{str(forward['autocast']).removeprefix('torch.')}"
            hit = store.load(key, names, reduce)
            if hit is not None:
                return hit
        else:
            import warnings

            warnings.warn(
                "extract(cache=...) cannot fingerprint a Dataset/DataLoader: "
                "pass cache_key='...' to cache it",
                stacklevel=2,
            )
    acts = _run_hooks(model, inputs, names, reduce, batch_size, device, forward, progress)
    if store is not None and key is not None:
        store.save(key, acts)
    return acts


def _run_hooks(
    model: nn.Module,
    inputs: Any,
    names: list[str],
    reduce: str,
    batch_size: int,
    device: str | torch.device | None,
    forward: dict[str, Any],
    progress: bool | None,
) -> Activations:
    from napwidget.forward import HookedForward

    collected: dict[str, list[np.ndarray]] = {n: [] for n in names}
    outputs: list[np.ndarray] = []
    targets: list[Any] = []
    batches = iterate_batches(inputs, batch_size)
    with HookedForward(model, names, reduce, device, **forward) as step:
        for x, y in _with_progress(batches, progress):
            layers, out = step(x)
            for n in names:
                collected[n].append(layers[n])
            if out is not None:
                outputs.append(out)
            if y is not None:
                targets.append(y)
    if not outputs and not any(collected.values()):
        raise NapInputError("the inputs are empty (no batch was produced)", "pass at least one input")
    acts = {n: np.concatenate(collected[n]) for n in names}
    out_arr = np.concatenate(outputs) if outputs else None
    tgt = _concat_targets(targets)
    return Activations(acts, outputs=out_arr, targets=tgt, reduce=reduce, shapes=step.shapes)


def _concat_targets(targets: list[Any]) -> np.ndarray | None:
    if not targets:
        return None
    parts = [t.cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t) for t in targets]
    try:
        return np.concatenate(parts)
    except ValueError:
        return None


def _with_progress(batches: Iterable[Any], progress: bool | None) -> Iterable[Any]:
    total = getattr(batches, "__len__", None)
    n = total() if callable(total) else None
    if progress is None:
        progress = n is not None and n > 20
    if not progress:
        return batches
    from tqdm.auto import tqdm

    return tqdm(batches, total=n, desc="extract", unit="batch")
