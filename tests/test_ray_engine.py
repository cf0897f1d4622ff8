"""extract(..., engine="ray") on a small local Ray cluster that these tests start and stop: same store as the
local engine, and a worker killed mid-run loses nothing once the call is repeated."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
import tiny_text
import torch
from torch import nn
from torch.utils.data import DataLoader

from napwidget import extract
from napwidget.errors import NapInputError
from napwidget.ray_engine import start_local_ray
from napwidget.store import ActivationStore

# napwidget imports ray and zarr only when they are used, so the skips can follow the imports.
ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")
pytest.importorskip("zarr")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    # Ray workers cannot import this test module: ship the classes below by value. Ray serialises with its own
    # vendored cloudpickle, so the registration must go there (the standalone package's has no effect).
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cloudpickle.register_pickle_by_value(tiny_text)
    _start_local_ray()
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        yield ray
    finally:
        ray.shutdown()
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
        cloudpickle.unregister_pickle_by_value(tiny_text)


def _start_local_ray(attempts: int = 2) -> None:
    """A 2-CPU local Ray. Its raylet gives its Python agents a fixed 15 s to start (not configurable in Ray
    2.60); on a heavily loaded machine they need longer and Ray aborts its own start ("The current node timed
    out during startup"). Then these tests are skipped with that reason: it says nothing about napwidget."""
    for attempt in range(attempts):
        try:
            start_local_ray(num_cpus=2, num_gpus=0, configure_logging=False)  # as extract starts one
            return
        except Exception as exc:  # noqa: BLE001
            ray.shutdown()
            if attempt == attempts - 1:
                pytest.skip(
                    f"a local Ray could not start on this machine (load {os.getloadavg()[0]:.0f}): {exc}"
                )


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 5),
    ).eval()


class KillOnce(nn.Module):
    """Kills its own worker process (SIGKILL, like an OOM kill or a lost node) the first time it sees an input
    whose first pixel is negative; a marker file makes sure it happens once across restarted workers."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool((x[:, 0, 0, 0] < 0).any()) and not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return x


def test_ray_engine_equals_local_extraction(local_ray, tmp_path):
    model = _model()
    x = torch.rand(60, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.arange(60) % 3
    ds = torch.utils.data.TensorDataset(x, y)
    local = extract(model, ds, ["1", "3", "6"], batch_size=8, store=tmp_path / "local.zarr")

    def on_ray_with(name: str, **options):
        return extract(
            model,
            ds,
            ["1", "3", "6"],
            batch_size=8,
            store=tmp_path / name,
            engine="ray",
            engine_options={"threads": 1, **options},
        )

    on_ray = on_ray_with("ray.zarr")
    for name in ["1", "3", "6"]:
        np.testing.assert_allclose(on_ray[name], local[name], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(on_ray.outputs, local.outputs, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(on_ray.targets, y.numpy())
    # 8 chunks in tasks of 3 (the last one short): each chunk lands in its own place
    grouped = on_ray_with("grouped.zarr", chunks_per_task=3)
    for name in ["1", "3", "6"]:
        np.testing.assert_array_equal(grouped[name], on_ray[name])
    np.testing.assert_array_equal(grouped.targets, y.numpy())
    with pytest.raises(NapInputError, match="unknown engine_options"):
        extract(model, x, ["1"], store=tmp_path / "b.zarr", engine="ray", engine_options={"gpus": 1})


def test_killed_ray_worker_then_resume_equals_uninterrupted(local_ray, tmp_path):
    marker = tmp_path / "killed"
    model = nn.Sequential(KillOnce(str(marker)), _model())
    x = torch.rand(48, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    x[29, 0, 0, 0] = -1.0  # chunk 3 of 6 kills the worker that computes it
    layers = ["1.1", "1.3"]
    path = tmp_path / "ray.zarr"
    try:
        extract(model, x, layers, batch_size=8, store=path, engine="ray", engine_options={"threads": 1})
    except Exception:  # noqa: BLE001, S110 - Ray may give up on the chunk (actor died) or retry it on a new actor: both are fine
        pass
    assert marker.exists(), "the worker was not killed: the test did not test anything"
    resumed = extract(model, x, layers, batch_size=8, store=path, engine="ray", engine_options={"threads": 1})
    assert ActivationStore.open(path).missing() == []
    reference = extract(model, x, layers, batch_size=8)  # uninterrupted, in memory, same model
    for name in layers:
        np.testing.assert_allclose(resumed[name], reference[name], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(resumed.outputs, reference.outputs, rtol=1e-6, atol=1e-7)


def test_plan_on_the_running_cluster_uses_single_threaded_cpu_actors(local_ray) -> None:
    from napwidget.ray_engine import _plan

    cpus = int(local_ray.cluster_resources()["CPU"])
    plan = _plan(local_ray, {})
    # one torch thread per actor, one actor per CPU (torch's OpenMP threads stall each other next to Ray's
    # processes; see _plan)
    assert plan["threads"] == 1 and plan["num_gpus"] == 0 and plan["concurrency"] == cpus
    assert _plan(local_ray, {"threads": 2})["concurrency"] == max(1, cpus // 2)
    with pytest.raises(NapInputError, match="unknown engine_options"):
        _plan(local_ray, {"thread": 1})
    with pytest.raises(NapInputError, match="chunks_per_task=0 is not a positive integer"):
        _plan(local_ray, {"chunks_per_task": 0})


def test_local_cluster_runs_its_workers_at_normal_priority(local_ray) -> None:
    @local_ray.remote
    def niceness() -> int:
        return os.nice(0)

    # the driver's priority (Ray's default adds 15: behind every other process on a shared machine)
    assert local_ray.get(niceness.remote()) == os.nice(0)


def test_chunks_per_task_amortises_ray_data_blocks_but_keeps_every_actor_busy() -> None:
    from napwidget.ray_engine import MAX_CHUNKS_PER_TASK, chunks_per_task

    assert chunks_per_task(6, 2, {}) == 1  # few chunks: one per task, both actors get work
    assert chunks_per_task(128, 2, {}) == MAX_CHUNKS_PER_TASK == 16  # 8 tasks, 4 per actor
    assert chunks_per_task(40, 2, {}) == 5
    assert chunks_per_task(10_000, 2, {"chunks_per_task": 3}) == 3
    with pytest.raises(NapInputError, match="not a positive integer"):
        chunks_per_task(10, 2, {"chunks_per_task": 2.5})


def test_ray_engine_with_dict_inputs_equals_in_memory_bitwise(local_ray, tmp_path):
    """Hugging Face-style inputs: a dict of tensors (with labels) and a DataLoader yielding dicts; the actors
    run one torch thread, so the in-memory reference does too and every bit must agree."""
    batch, _ = tiny_text.token_batch(n=40, seed=4)
    model = tiny_text.TinyEncoder(n_out=5, seed=1).eval()
    layers = ["tok", "norm1", "head"]
    with_labels = batch | {"labels": torch.arange(40) % 4}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reference = extract(model, with_labels, layers, batch_size=8)
    finally:
        torch.set_num_threads(threads)
    loader = DataLoader(tiny_text.TokenItems(batch, n_labels=4), batch_size=8, shuffle=False)
    for i, inputs in enumerate([with_labels, loader]):
        on_ray = extract(
            model,
            inputs,
            layers,
            batch_size=8,
            store=tmp_path / f"{i}.zarr",
            engine="ray",
            engine_options={"threads": 1},
        )
        for name in layers:
            np.testing.assert_array_equal(on_ray[name], reference[name])
        np.testing.assert_array_equal(on_ray.outputs, reference.outputs)
        np.testing.assert_array_equal(on_ray.targets, reference.targets)
