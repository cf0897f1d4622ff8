"""extract(..., store=...) and open_activations: equality with in-memory extraction, resume after an
interruption, corrupt chunks, foreign stores, NaN, shape mismatches, full disk and unwritable paths."""

from __future__ import annotations

import contextlib
import resource
import signal
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

pytest.importorskip("zarr")

from tiny_text import TokenItems

from napwidget import extract, find_naps, mapper_graph, open_activations
from napwidget.datasets import DigitsCNN
from napwidget.errors import NapInputError
from napwidget.store import ActivationStore
from napwidget.widget import NapWidget

LAYERS = ["conv3", "fc1"]


@pytest.fixture
def x():
    return torch.rand(50, 1, 8, 8, generator=torch.Generator().manual_seed(1))


class CountCalls:
    """Counts forward passes; raises KeyboardInterrupt on call number ``stop_at`` (1-based), once."""

    def __init__(self, model: nn.Module, stop_at: int | None = None) -> None:
        self.calls = 0
        self.stop_at = stop_at
        self._lock = threading.Lock()  # CPU workers call the hook from two threads
        self.handle = model.register_forward_pre_hook(self)

    def __call__(self, _module, _inp):
        with self._lock:
            self.calls += 1
            stop = self.calls == self.stop_at
        if stop:
            raise KeyboardInterrupt

    def remove(self) -> None:
        self.handle.remove()


def _assert_same(a, b) -> None:
    assert a.layers == b.layers
    for name in a.layers:
        np.testing.assert_array_equal(a[name], b[name])
    np.testing.assert_array_equal(a.outputs, b.outputs)
    if a.targets is None:
        assert b.targets is None
    else:
        np.testing.assert_array_equal(a.targets, b.targets)


def test_store_equals_in_memory_extraction(model, x, tmp_path):
    ref = extract(model, x, LAYERS, batch_size=8)
    acts = extract(model, x, LAYERS, batch_size=8, store=tmp_path / "a.zarr")
    assert acts.n_samples == 50 and "fc1" in acts and "relu1" not in acts
    _assert_same(ref, acts)
    assert acts.shapes == ref.shapes
    again = open_activations(tmp_path / "a.zarr")
    _assert_same(ref, again)
    assert (
        len(ActivationStore.open(tmp_path / "a.zarr").group["layers/fc1"].metadata.chunk_grid.chunk_shape)
        == 2
    )
    assert ActivationStore.open(tmp_path / "a.zarr").n_chunks == 7  # ceil(50 / 8), one chunk per batch


@pytest.mark.parametrize("kind", ["dataloader", "dataset"])
def test_store_keeps_targets_of_loaders_and_datasets(model, x, tmp_path, kind):
    y = torch.arange(50) % 10
    ds = TensorDataset(x, y)
    inputs = DataLoader(ds, batch_size=16, shuffle=False) if kind == "dataloader" else ds
    ref = extract(model, inputs, LAYERS, batch_size=16)
    acts = extract(model, inputs, LAYERS, batch_size=16, store=tmp_path / "a.zarr")
    _assert_same(ref, acts)
    np.testing.assert_array_equal(acts.targets, y.numpy())


def test_keyboard_interrupt_then_resume_computes_only_missing_chunks(model, x, tmp_path):
    full = extract(model, x, LAYERS, batch_size=8, store=tmp_path / "full.zarr")
    path = tmp_path / "a.zarr"
    counter = CountCalls(model, stop_at=4)
    with pytest.raises(KeyboardInterrupt):
        extract(model, x, LAYERS, batch_size=8, store=path)
    counter.remove()
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0
    assert ActivationStore.open(path).finished(verify=True) == [0, 1, 2]
    with pytest.raises(NapInputError, match="unfinished: 4 of 7"):
        open_activations(path)
    counter = CountCalls(model)
    resumed = extract(model, x, LAYERS, batch_size=8, store=path)
    counter.remove()
    assert counter.calls == 4  # chunks 3-6 only
    _assert_same(full, resumed)
    counter = CountCalls(model)
    extract(model, x, LAYERS, batch_size=8, store=path)
    counter.remove()
    assert counter.calls == 0  # a finished store is only read


def _chunk_file(path: Path, array: str, chunk: int) -> Path:
    return path / array / "c" / str(chunk) / "0"


def test_corrupt_chunk_is_detected_and_recomputed(model, x, tmp_path):
    path = tmp_path / "a.zarr"
    ref = extract(model, x, LAYERS, batch_size=8, store=path)
    ref = {n: ref[n].copy() for n in LAYERS} | {"outputs": ref.outputs.copy()}
    f = _chunk_file(path, "layers/conv3", 2)
    raw = bytearray(f.read_bytes())
    raw[100:108] = b"\x00\x01\x02\x03\x04\x05\x06\x07"  # flip bytes, same length: only the checksum can tell
    f.write_bytes(bytes(raw))
    with pytest.raises(NapInputError, match=r"chunk 2 \(rows 16-23\) of 'layers/conv3'.*corrupt"):
        open_activations(path)["conv3"]
    _chunk_file(path, "outputs", 5).write_bytes(b"truncated")
    assert ActivationStore.open(path).missing() == [2, 5]
    counter = CountCalls(model)
    acts = extract(model, x, LAYERS, batch_size=8, store=path)
    counter.remove()
    assert counter.calls == 2
    for n in LAYERS:
        np.testing.assert_array_equal(acts[n], ref[n])
    np.testing.assert_array_equal(acts.outputs, ref["outputs"])


def test_store_of_another_model_or_layer_set_is_refused(model, x, tmp_path):
    path = tmp_path / "a.zarr"
    extract(model, x, LAYERS, batch_size=8, store=path)
    torch.manual_seed(1)
    with pytest.raises(NapInputError, match="another model"):
        extract(DigitsCNN().eval(), x, LAYERS, batch_size=8, store=path)
    with pytest.raises(NapInputError, match="another set of layers"):
        extract(model, x, ["fc1"], batch_size=8, store=path)
    with pytest.raises(NapInputError, match="batch_size=8"):
        extract(model, x, LAYERS, batch_size=16, store=path)
    with pytest.raises(NapInputError, match="other inputs"):
        extract(model, x + 1, LAYERS, batch_size=8, store=path)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "file.txt").write_text("x")
    with pytest.raises(NapInputError, match="not a napwidget activation store"):
        extract(model, x, LAYERS, store=tmp_path / "other")
    with pytest.raises(NapInputError, match="no activation store"):
        open_activations(tmp_path / "nowhere.zarr")


def test_nan_in_a_chunk_names_the_chunk(tmp_path):
    model = nn.Sequential(nn.Linear(4, 3)).eval()
    x = torch.rand(20, 4)
    x[13, 2] = float("nan")
    acts = extract(model, x, ["0"], batch_size=5, store=tmp_path / "a.zarr")
    with pytest.raises(NapInputError, match=r"chunk 2 of 'layers/0'.*NaN/inf in 1 rows \(first: row 13\)"):
        find_naps(acts, layer="0")


class _Ragged(Dataset):
    """Inputs whose length changes after row 8: batches of different widths."""

    def __len__(self) -> int:
        return 16

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.ones(4 if i < 8 else 6) * i


def test_mismatched_shapes_between_chunks(tmp_path):
    model = nn.Sequential(nn.ReLU())
    with pytest.raises(NapInputError, match=r"chunk 1 of 'layers/0' has per-input shape \(6,\).*\(4,\)"):
        extract(model, _Ragged(), ["0"], batch_size=8, reduce="none", store=tmp_path / "a.zarr")
    assert ActivationStore.open(tmp_path / "a.zarr").finished() == [0]


def test_unwritable_path_is_a_clear_error(model, x, tmp_path):
    (tmp_path / "a_file").write_text("not a directory")
    with pytest.raises(NapInputError, match="cannot create the activation store"):
        extract(model, x, LAYERS, store=tmp_path / "a_file" / "acts.zarr")


@contextlib.contextmanager
def _file_size_limit_from_call(model: nn.Module, call: int, limit: int):
    """From forward pass ``call`` on, the kernel refuses writes that make a file larger than ``limit`` bytes
    (RLIMIT_FSIZE; EFBIG, as a full quota would): a real write failure in the middle of a run."""
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an error instead of killing the process
    calls = [0]

    def pre_hook(_m, _inp):
        calls[0] += 1
        if calls[0] == call:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old_limit[1]))

    handle = model.register_forward_pre_hook(pre_hook)
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
        handle.remove()


def test_failed_write_mid_run_keeps_finished_chunks(model, x, tmp_path):
    path = tmp_path / "a.zarr"
    expected = (
        r"could not write chunk 4 .*: File too large\. 4 of 7 chunks are finished and kept\. Fix: .* rerun"
    )
    # chunk files hold 8 x 64 floats = 2048 bytes: from chunk 4 on, every write fails
    with _file_size_limit_from_call(model, call=5, limit=1000), pytest.raises(OSError, match=expected):
        extract(model, x, LAYERS, batch_size=8, store=path)
    assert ActivationStore.open(path).finished(verify=True) == [0, 1, 2, 3]
    assert not list(path.rglob("*.partial"))  # no half-written chunk files left behind
    acts = extract(model, x, LAYERS, batch_size=8, store=path)
    _assert_same(extract(model, x, LAYERS, batch_size=8), acts)


def test_stored_activations_feed_the_analyses(tmp_path):
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(4, 16)) * 4
    x = torch.from_numpy((centers[rng.integers(0, 4, 400)] + rng.normal(size=(400, 16))).astype(np.float32))
    model = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3)).eval()
    ref = extract(model, x, ["1"], batch_size=64)
    acts = extract(model, x, ["1"], batch_size=64, store=tmp_path / "a.zarr")
    a, b = find_naps(ref, layer="1", min_cluster_size=10), find_naps(acts, layer="1", min_cluster_size=10)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.n_naps >= 2
    g1, g2 = mapper_graph(ref, layer="1"), mapper_graph(acts, layer="1")
    assert len(g1.nodes) == len(g2.nodes) and all(np.array_equal(p, q) for p, q in zip(g1.nodes, g2.nodes))
    w = NapWidget.from_activations(acts, min_cluster_size=10)
    np.testing.assert_array_equal(w.naps.labels, a.labels)


def test_ray_chunk_worker_results_written_by_the_driver_equal_local(model, x, tmp_path):
    """The Ray engine's two halves without a cluster: ChunkWorker (what each actor runs) computes chunks from
    a portable source, the driver writes its pickled results; the store equals the local engine's."""
    from napwidget.chunks import ChunkSource
    from napwidget.ray_engine import ChunkWorker, write_results

    local = extract(model, x, LAYERS, batch_size=8, store=tmp_path / "local.zarr")
    st = ActivationStore.create_or_open(
        tmp_path / "ray.zarr", ActivationStore.open(tmp_path / "local.zarr").manifest
    )
    source = ChunkSource(x, 8).portable()
    assert isinstance(source.inputs, np.ndarray)
    worker = ChunkWorker(model, LAYERS, "mean", None, [source], "cpu", threads=2)
    batches = [worker({"chunk": np.array([i])}) for i in reversed(range(st.n_chunks))]  # any arrival order
    write_results(st, batches)
    _assert_same(local, open_activations(tmp_path / "ray.zarr"))


# -- dict / tuple inputs (model(**batch) / model(*batch)) --------------------------------------------------


class _PairItems(Dataset):
    """``((input_ids, attention_mask), label)`` per item: a DataLoader yields ``(x, y)``, x a tuple."""

    def __init__(self, batch: dict[str, torch.Tensor]) -> None:
        self.batch = batch

    def __len__(self) -> int:
        return len(self.batch["input_ids"])

    def __getitem__(self, i: int):
        return (self.batch["input_ids"][i], self.batch["attention_mask"][i]), i % 3


TEXT_LAYERS = ["tok", "norm1", "ff.2", "head"]


@pytest.fixture
def tokens():
    from tiny_text import token_batch

    batch, _ = token_batch(n=45, seed=5)
    return batch


@pytest.fixture
def encoder():
    from tiny_text import TinyEncoder

    return TinyEncoder(n_out=7, seed=2).eval()


def _text_inputs(kind: str, batch: dict[str, torch.Tensor]):
    if kind == "dict":
        return batch
    if kind == "dict+labels":
        return batch | {"labels": np.arange(len(batch["input_ids"])) % 3}
    if kind == "tuple":
        return (batch["input_ids"].numpy(), batch["attention_mask"])  # an array and a tensor: both are fine
    if kind == "loader-dicts":
        return DataLoader(TokenItems(batch), batch_size=8, shuffle=False)
    if kind == "dataset-dicts":
        return TokenItems(batch)
    return DataLoader(_PairItems(batch), batch_size=8, shuffle=False)  # "loader-tuples"


@pytest.mark.parametrize(
    "kind", ["dict", "dict+labels", "tuple", "loader-dicts", "dataset-dicts", "loader-tuples"]
)
def test_dict_and_tuple_inputs_store_equals_in_memory(encoder, tokens, tmp_path, kind):
    inputs = _text_inputs(kind, tokens)
    ref = extract(encoder, inputs, TEXT_LAYERS, batch_size=8)
    acts = extract(encoder, inputs, TEXT_LAYERS, batch_size=8, store=tmp_path / "a.zarr")
    _assert_same(ref, acts)  # bitwise: layers (masked token means), outputs, targets
    assert acts.n_samples == 45 and ActivationStore.open(tmp_path / "a.zarr").n_chunks == 6
    assert (ref.targets is not None) == (kind not in ("dict", "tuple"))
    if kind == "tuple" or kind == "loader-tuples":
        return  # positional arguments carry no named attention_mask: token means include padding
    # padding is masked out in the stored profiles too: an unpadded copy of input 0 gives the same row
    k = int(tokens["attention_mask"][0].sum())
    alone = {key: v[:1, :k] for key, v in tokens.items()}
    np.testing.assert_allclose(extract(encoder, alone, ["norm1"])["norm1"][0], acts["norm1"][0], atol=1e-5)


def test_dict_inputs_resume_after_interrupt_and_refuse_other_inputs(encoder, tokens, tmp_path):
    path = tmp_path / "a.zarr"
    counter = CountCalls(encoder, stop_at=3)
    with pytest.raises(KeyboardInterrupt):
        extract(encoder, tokens, TEXT_LAYERS, batch_size=8, store=path)
    counter.remove()
    assert ActivationStore.open(path).finished(verify=True) == [0, 1]
    counter = CountCalls(encoder)
    resumed = extract(encoder, tokens, TEXT_LAYERS, batch_size=8, store=path)
    counter.remove()
    assert counter.calls == 4  # chunks 2-5 only
    _assert_same(extract(encoder, tokens, TEXT_LAYERS, batch_size=8), resumed)
    other = dict(tokens, input_ids=tokens["input_ids"].flip(0))
    with pytest.raises(NapInputError, match=r"other inputs \(the store: dict of input_ids \(45, 12\) int64"):
        extract(encoder, other, TEXT_LAYERS, batch_size=8, store=path)
    as_tuple = (tokens["input_ids"], tokens["attention_mask"])
    with pytest.raises(NapInputError, match=r"this call: tuple of #0 \(45, 12\) int64, #1"):
        extract(encoder, as_tuple, TEXT_LAYERS, batch_size=8, store=path)


def test_a_dataset_store_refuses_another_dataset_of_the_same_length(encoder, tokens, tmp_path):
    path = tmp_path / "a.zarr"
    extract(encoder, TokenItems(tokens), TEXT_LAYERS, batch_size=8, store=path)
    swapped = dict(
        tokens, input_ids=tokens["input_ids"].flip(0), attention_mask=tokens["attention_mask"].flip(0)
    )
    with pytest.raises(NapInputError, match="first and last batches differ.*cache_key"):
        extract(encoder, TokenItems(swapped), TEXT_LAYERS, batch_size=8, store=path)
    counter = CountCalls(encoder)
    extract(encoder, TokenItems(tokens), TEXT_LAYERS, batch_size=8, store=path)  # the same one: resumes
    counter.remove()
    assert counter.calls == 0


def test_ray_chunk_worker_with_dict_inputs_equals_local(encoder, tokens, tmp_path):
    """What each Ray actor runs, on the portable (numpy) form of dict inputs with labels."""
    from napwidget.chunks import ChunkSource
    from napwidget.ray_engine import ChunkWorker, write_results

    inputs = _text_inputs("dict+labels", tokens)
    local = extract(encoder, inputs, TEXT_LAYERS, batch_size=8, store=tmp_path / "local.zarr")
    st = ActivationStore.create_or_open(
        tmp_path / "ray.zarr", ActivationStore.open(tmp_path / "local.zarr").manifest
    )
    source = ChunkSource(inputs, 8).portable()
    assert all(isinstance(v, np.ndarray) for v in source.inputs.values)
    worker = ChunkWorker(encoder, TEXT_LAYERS, "mean", None, [source], "cpu", threads=torch.get_num_threads())
    write_results(st, [worker({"chunk": np.array([i])}) for i in reversed(range(st.n_chunks))])
    _assert_same(local, open_activations(tmp_path / "ray.zarr"))


def test_store_with_side_by_side_workers_equals_in_memory(model, x, tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # two CPU workers, one torch thread each, each on half of every chunk
    try:
        stored = extract(model, x, LAYERS, batch_size=8, workers=2, store=tmp_path / "a.zarr")
        _assert_same(extract(model, x, LAYERS, batch_size=8, workers=2), stored)
    finally:
        torch.set_num_threads(threads)


def test_interrupt_inside_a_worker_then_resume(model, x, tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # two CPU workers, one thread each: each chunk is two forward calls
    try:
        full = extract(model, x, LAYERS, batch_size=8, workers=2, store=tmp_path / "full.zarr")
        path = tmp_path / "a.zarr"
        counter = CountCalls(model, stop_at=7)  # a half of chunk 3, raised in a worker thread
        with pytest.raises(KeyboardInterrupt):
            extract(model, x, LAYERS, batch_size=8, workers=2, store=path)
        counter.remove()
        assert torch.get_num_threads() == 2 and sum(len(m._forward_hooks) for m in model.modules()) == 0
        assert ActivationStore.open(path).finished(verify=True) == [0, 1, 2]
        _assert_same(full, extract(model, x, LAYERS, batch_size=8, workers=2, store=path))
    finally:
        torch.set_num_threads(threads)
