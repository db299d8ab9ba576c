"""DeepCluster under DDP: two gloo processes on CPU, started by the CLI (``--nproc 2``).

What one process cannot show: every rank's shard of features.npy comes from
the model saved as model.pt, and the loss of an epoch interrupted and resumed
counts every rank's batches. The runs use the tiles and options of
test_deepcluster.py with a smaller batch, so that an epoch has 10 iterations
per rank and a run can be killed inside one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from test_deepcluster import CLI_ARGS, N_TILES, TILE, synthetic_tiles

from satcluster.deepcluster.data import BatchTransform
from satcluster.deepcluster.models import build_model

DDP_ARGS = [*CLI_ARGS, "--nproc", "2", "--threads", "2", "--batch", "16", "--checkpoints", "1"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def tiles_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tiles") / "tiles.npy"
    np.save(path, synthetic_tiles())
    return path


def command(tiles_path: Path, exp: Path) -> list[str]:
    """The CLI on ``tiles_path``, 2 processes, checkpoints every iteration, into ``exp``."""
    args = [sys.executable, "-m", "satcluster.deepcluster", str(tiles_path), *DDP_ARGS]
    return [*args, "--exp", str(exp)]


@pytest.fixture(scope="module")
def ddp_run(tiles_path, tmp_path_factory) -> Path:
    """One uninterrupted 2-process run."""
    exp = tmp_path_factory.mktemp("ddp")
    subprocess.run(command(tiles_path, exp), check=True, env=ENV)
    return exp


def descendants(pid: int) -> list[int]:
    """Process ids below ``pid``, parents first (Linux /proc).

    torchrun starts each worker in a session of its own, so killing the
    launcher's process group would leave the workers training.
    """
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(0), [])
        found += kids
        todo += kids
    return found


def alive(pid: int) -> bool:
    """Running (a zombie, dead but not reaped, is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def kill_mid_epoch(args: list[str], last: Path) -> dict:
    """Start ``args``; SIGKILL it and all its processes once ``last`` is a mid-epoch checkpoint.

    Returns the checkpoint left behind, once every process is gone.
    """
    proc = subprocess.Popen(args, env=ENV, stderr=subprocess.DEVNULL)
    pids: list[int] = []
    while proc.poll() is None and not pids:
        if last.is_file() and torch.load(last, weights_only=True)["iteration"] > 0:
            pids = [proc.pid, *descendants(proc.pid)]  # launcher, torchrun, workers
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):  # gone already
                    os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)
    proc.wait()
    assert pids, "training ended before it could be killed"
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return torch.load(last, weights_only=True)


def test_features_are_those_of_the_saved_model(ddp_run, tiles_path):
    """Every rank's shard of features.npy: model.pt in eval mode on the eval transform."""
    saved = torch.load(ddp_run / "model.pt", weights_only=True)
    model = build_model(saved["arch"], saved["sobel"], saved["n_labels"])
    model.load_state_dict(saved["state_dict"])
    model.to(memory_format=torch.channels_last).eval()
    transform = BatchTransform((TILE, TILE), saved["input_size"], torch.device("cpu"), True)
    tiles = torch.from_numpy(np.load(tiles_path))
    with torch.inference_mode():
        expected = model.embed(transform.eval(tiles)).numpy()
    features = np.load(ddp_run / "features.npy")
    assert features.shape == (N_TILES, saved["feature_dim"])
    scale = float(np.abs(expected).max())
    for start, stop in ((0, N_TILES // 2), (N_TILES // 2, N_TILES)):  # rank 0's, rank 1's
        np.testing.assert_allclose(
            features[start:stop], expected[start:stop], rtol=1e-4, atol=1e-5 * scale
        )


def test_resumed_epoch_loss_counts_every_rank(ddp_run, tiles_path, tmp_path):
    """Killed inside an epoch and rerun: the same training log as the uninterrupted run.

    The checkpoint keeps the interrupted epoch's loss summed over both ranks,
    so the resumed epoch's mean covers every rank's batches, before and after.
    """
    state = kill_mid_epoch(command(tiles_path, tmp_path), tmp_path / "checkpoints" / "last.pt")
    assert state["iteration"] > 0 and state["world_size"] == 2, "not killed inside an epoch"
    assert not (tmp_path / "model.pt").exists()
    log_file = tmp_path / "rerun.log"
    subprocess.run([*command(tiles_path, tmp_path), "--log", str(log_file)], check=True, env=ENV)
    assert f", iteration {state['iteration']} (epoch" in log_file.read_text()
    resumed = pd.read_csv(tmp_path / "training_log.csv")
    uninterrupted = pd.read_csv(ddp_run / "training_log.csv")
    assert resumed["epoch"].tolist() == [1, 2]
    np.testing.assert_allclose(resumed["convnet_loss"], uninterrupted["convnet_loss"], rtol=1e-9)
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "assignments.parquet"),
        pd.read_parquet(ddp_run / "assignments.parquet"),
    )
