"""`--compile`: torch.compile and fused SGD steps change the kernels, never the training.

On a GPU `--compile` uses inductor; on the CPU it is ignored. To exercise the compiled
path here, the tests swap in a recording backend (dynamo's graph capture plus
AOTAutograd, run eagerly), which must give bit for bit the eager run's labels, features
and weights: the capture, the fused optimiser steps, the head's re-creation for PIC and
the checkpoints all go through the same code as on a GPU.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from functorch.compile import make_boxed_func
from test_deepcluster import (  # one_thread: autouse here too (bit-reproducible runs)
    SETTINGS,
    one_thread,  # noqa: F401
    synthetic_tiles,
)
from torch._dynamo.backends.common import aot_autograd

from satcluster.deepcluster import train as train_module
from satcluster.deepcluster.distributed import Context
from satcluster.deepcluster.outputs import Outputs
from satcluster.deepcluster.settings import Settings
from satcluster.deepcluster.speedups import FeatureRows, compile_backend, set_fused
from satcluster.deepcluster.train import DeepCluster


@pytest.fixture(scope="module")
def tiles_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiles") / "tiles.npy"
    np.save(path, synthetic_tiles())
    return path


class RecordingBackend:
    """AOTAutograd with eager kernels, recording the image batches' shapes of every graph."""

    def __init__(self) -> None:
        self.shapes: list[tuple[int, ...]] = []
        self.aot = aot_autograd(fw_compiler=self._keep, bw_compiler=self._keep)

    def _keep(self, gm, example_inputs):
        return make_boxed_func(gm.forward)

    def __call__(self, gm, example_inputs):
        images = [x for x in example_inputs if x.dim() == 4 and x.shape[1] == 3 and x.shape[2] > 1]
        self.shapes += [tuple(x.shape) for x in images]
        return self.aot(gm, example_inputs)


def run(tiles_path, exp, **overrides) -> DeepCluster:
    trainer = DeepCluster(tiles_path, Settings(**{**SETTINGS, **overrides}), exp, Context())
    trainer.fit(Outputs.in_dir(exp))
    return trainer


def assert_same_outputs(a, b) -> None:
    pd.testing.assert_frame_equal(
        pd.read_parquet(a / "assignments.parquet"), pd.read_parquet(b / "assignments.parquet")
    )
    assert np.array_equal(np.load(a / "features.npy"), np.load(b / "features.npy"))
    log_a, log_b = pd.read_csv(a / "training_log.csv"), pd.read_csv(b / "training_log.csv")
    assert log_a["convnet_loss"].tolist() == log_b["convnet_loss"].tolist()
    state_a = torch.load(a / "model.pt", weights_only=True)["state_dict"]
    state_b = torch.load(b / "model.pt", weights_only=True)["state_dict"]
    assert list(state_a) == list(state_b)  # no `_orig_mod.` prefixes from the compiled wrapper
    assert all(torch.equal(state_a[key], state_b[key]) for key in state_a)


def test_compile_uses_inductor_on_a_gpu_only():
    assert compile_backend(torch.device("cuda", 0)) == "inductor"
    assert compile_backend(torch.device("cpu")) is None


def test_compile_is_ignored_on_the_cpu(tiles_path, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="satcluster")
    eager = run(tiles_path, tmp_path / "eager")
    ignored = run(tiles_path, tmp_path / "ignored", compile=True)
    assert "applies on a GPU only" in caplog.text
    assert ignored.train_net is ignored.net and ignored.optimizer.param_groups[0]["fused"] is None
    assert eager.train_net is eager.net
    assert_same_outputs(tmp_path / "eager", tmp_path / "ignored")


@pytest.mark.parametrize("clustering", ["Kmeans", "PIC"])
def test_compiled_training_gives_the_eager_result(tiles_path, tmp_path, monkeypatch, clustering):
    """Graph capture + fused SGD steps: the same labels, features and weights, bit for bit."""
    backend = RecordingBackend()
    monkeypatch.setattr(train_module, "compile_backend", lambda device: backend)
    run(tiles_path, tmp_path / "eager", clustering=clustering)
    trainer = run(tiles_path, tmp_path / "compiled", clustering=clustering, compile=True)
    assert trainer.optimizer.param_groups[0]["fused"] is True
    assert isinstance(trainer.train_net, torch._dynamo.eval_frame.OptimizedModule)
    # the training step and the feature pass were captured, each with static batch shapes
    batch, size = SETTINGS["batch"], 32
    assert backend.shapes and set(backend.shapes) == {(batch, 3, size, size)}
    assert_same_outputs(tmp_path / "eager", tmp_path / "compiled")


def test_set_fused_overrides_what_a_loaded_checkpoint_says():
    weights = torch.nn.Linear(3, 2)
    eager = torch.optim.SGD(weights.parameters(), lr=0.1, momentum=0.9)
    fused = torch.optim.SGD(weights.parameters(), lr=0.1, momentum=0.9, fused=True)
    fused.load_state_dict(eager.state_dict())
    assert fused.param_groups[0]["fused"] is None  # the writer's choice came back
    set_fused(fused, True)
    assert fused.param_groups[0]["fused"] is True and fused.param_groups[0]["foreach"] is None
    set_fused(fused, False)
    assert fused.param_groups[0]["fused"] is None


def test_feature_rows_write_every_batch_in_place():
    out = np.full((7, 3), np.nan, np.float16)
    rows = FeatureRows(out, torch.device("cpu"))
    values = torch.arange(21, dtype=torch.bfloat16).view(7, 3)
    rows.put(0, values[:4])
    rows.put(4, values[4:])
    rows.close()
    assert np.array_equal(out, values.float().numpy().astype(np.float16))


def test_gpu_benchmark_script_runs_on_the_cpu():
    """benchmarks/gpu/gpu.sh --cpu: the GPU benchmark's own check run, so that it stays runnable."""
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        ["bash", str(root / "benchmarks" / "gpu" / "gpu.sh"), "--cpu"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for line in ("train eager (today's path)", "train --compile / eager", "features --compile"):
        assert line in result.stdout
    assert "k-means 20000 x 256, k=16, 20 it: faiss CPU" in result.stdout
