"""Tests of satcluster.deepcluster: the pieces by hand, then short CPU training runs.

Training runs use the small net on 32 px synthetic tiles of four kinds
(horizontal stripes, vertical stripes, checkerboards, flat colour) so that
clusters exist; a few epochs of a few batches each keep the file fast.
"""

from __future__ import annotations

import logging
import math
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
import torch.nn.functional as F
from PIL import Image
from sklearn.metrics import adjusted_rand_score

from satcluster.deepcluster import checkpoint as ckpt
from satcluster.deepcluster.cli import main as cli_main
from satcluster.deepcluster.data import (
    BatchLoader,
    BatchTransform,
    make_batches,
    random_resized_crop_boxes,
    resample_weights,
)
from satcluster.deepcluster.distributed import Context
from satcluster.deepcluster.models import build_model, make_sobel, reset_head
from satcluster.deepcluster.outputs import Outputs
from satcluster.deepcluster.pseudolabels import cluster_balance, pic
from satcluster.deepcluster.sampler import rank_slice, shard_range, uniform_label_sample
from satcluster.deepcluster.settings import Settings
from satcluster.deepcluster.train import DeepCluster, train_deepcluster
from satcluster.deepcluster.training_log import LOG_COLUMNS
from satcluster.errors import InputError

N_TILES = 160
TILE = 32
# Small, fast, reproducible: 5 batches per epoch, 4 clusters, features of the last epoch.
SETTINGS = dict(
    arch="small",
    sobel=True,
    k=4,
    lr=0.05,
    batch=32,
    epochs=2,
    workers=0,
    seed=5,
    pca_dim=16,
    input_size=None,
)
CLI_ARGS = [
    "--arch", "small", "--sobel", "--k", "4", "--lr", "0.05", "--batch", "32",
    "--epochs", "2", "--workers", "0", "--seed", "5", "--pca_dim", "16",
    "--input_size", "none", "--threads", "1", "--gpus", "0",
]  # fmt: skip


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: fast on a shared 2-core machine, and bit-reproducible."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def synthetic_tiles(n: int = N_TILES, size: int = TILE, seed: int = 0) -> np.ndarray:
    """uint8 tiles of four kinds (stripes y, stripes x, checkerboard, flat), kind = index % 4."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    tiles = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        half = int(rng.integers(2, 5))
        ys, xs = (yy + rng.integers(0, 8)) // half % 2, (xx + rng.integers(0, 8)) // half % 2
        pattern = [ys, xs, (ys + xs) % 2, np.zeros_like(ys)][i % 4]
        image = rng.integers(40, 100, 3) + rng.integers(80, 150) * pattern[..., None]
        tiles[i] = np.clip(image + rng.normal(0, 8, (size, size, 3)), 0, 255)
    return tiles


@pytest.fixture(scope="module")
def tiles_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tiles") / "tiles.npy"
    np.save(path, synthetic_tiles())
    return path


@pytest.fixture(scope="module")
def reference_run(tiles_path, tmp_path_factory) -> Path:
    """One uninterrupted single-process training run (the baseline of several tests)."""
    exp = tmp_path_factory.mktemp("reference")
    torch.set_num_threads(1)
    train_deepcluster(tiles_path, Settings(**SETTINGS), exp, Outputs.in_dir(exp))
    return exp


# --- model pieces --------------------------------------------------------------------------------
def test_sobel_front_end_on_a_vertical_edge():
    # left half black, right half white (all channels): grey = 0 | 1, then Sobel x/y
    image = torch.zeros(1, 3, 5, 6)
    image[..., 3:] = 1.0
    out = make_sobel()(image)
    assert out.shape == (1, 2, 5, 6)
    # x kernel [[1,0,-1],[2,0,-2],[1,0,-1]] (cross-correlation): left - right over weights 1+2+1
    expected_row = torch.tensor([0.0, 0.0, -4.0, -4.0, 0.0, 4.0])  # last: 1+2+1 - zero padding
    for row in range(1, 4):  # rows away from the zero-padded top/bottom border
        assert torch.allclose(out[0, 0, row], expected_row)
    assert torch.allclose(out[0, 1, 1:4, :5], torch.zeros(3, 5))  # no vertical change inside
    assert all(not p.requires_grad for p in make_sobel().parameters())


def test_sobel_grey_is_the_channel_mean():
    image = torch.tensor([0.3, 0.6, 0.9]).view(1, 3, 1, 1).expand(1, 3, 3, 3)
    grey = make_sobel()[0](image)
    assert torch.allclose(grey, torch.full((1, 1, 3, 3), 0.6))


@pytest.mark.parametrize(
    "arch, size, dim, head_std", [("small", 32, 256, 0.04), ("vgg16", 32, 4096, 0.01)]
)
def test_models_embed_and_classify(arch, size, dim, head_std):
    model = build_model(arch, sobel=True, num_classes=7).eval()
    assert model.linear_std(dim) == pytest.approx(head_std)  # the reference's 0.01 for VGG16
    with torch.no_grad():
        x = torch.randn(2, 3, size, size)
        assert model.embed(x).shape == (2, dim)
        assert model(x).shape == (2, 7)
    assert model.feature_dim == dim


def test_reset_head_in_place_and_replaced_when_size_changes():
    model = build_model("small", sobel=False, num_classes=5)
    weight = model.top_layer.weight
    model.top_layer.bias.data.fill_(3.0)
    assert not reset_head(model, 5, torch.Generator().manual_seed(0))
    assert model.top_layer.weight is weight  # same Parameter: a DDP wrapper stays valid
    assert torch.all(model.top_layer.bias == 0)
    # N(0, 0.01) scaled to the gain it has at 4096 inputs: 0.01 * sqrt(4096 / 256) = 0.04
    assert abs(float(weight.detach().std()) - 0.04) < 0.008
    first = weight.detach().clone()
    reset_head(model, 5, torch.Generator().manual_seed(0))
    assert torch.equal(first, model.top_layer.weight)  # same generator seed, same head
    assert reset_head(model, 9, torch.Generator().manual_seed(0))
    assert model.top_layer.out_features == 9


# --- sampling and clustering ---------------------------------------------------------------------
def test_uniform_sample_is_balanced_and_skips_empty_clusters():
    labels = np.array([0] * 100 + [1] * 5 + [3] * 20)  # cluster 2 is empty
    sample = uniform_label_sample(labels, 1000, np.random.default_rng(0))
    assert len(sample) == 1000
    counts = np.bincount(labels[sample], minlength=4)
    # 1000 // 3 + 1 = 334 draws per non-empty cluster, 1002 shuffled and trimmed to 1000
    assert counts[2] == 0
    assert all(332 <= c <= 334 for c in counts[[0, 1, 3]])
    assert set(sample[labels[sample] == 1]) <= set(range(100, 105))


def test_uniform_sample_draws_without_replacement_from_large_clusters():
    labels = np.zeros(500, dtype=int)
    sample = uniform_label_sample(labels, 50, np.random.default_rng(1))
    assert len(np.unique(sample)) == 50  # 51 draws from 500 tiles, no repeats


def test_rank_slices_cover_the_sample_with_equal_lengths():
    sample = np.arange(10)
    slices = [rank_slice(sample, r, 3) for r in range(3)]
    assert [len(s) for s in slices] == [4, 4, 4]
    assert set(np.concatenate(slices)) == set(range(10))
    assert shard_range(10, 0, 3) == (0, 4) and shard_range(10, 2, 3) == (8, 10)


def test_pic_separates_two_blobs_without_singletons():
    rng = np.random.default_rng(0)
    blobs = np.vstack([rng.normal(0, 0.05, (60, 4)), rng.normal(3, 0.05, (60, 4))])
    labels = pic(blobs.astype(np.float32))
    assert labels.shape == (120,) and labels.min() == 0
    for cluster in np.unique(labels):
        members = np.flatnonzero(labels == cluster)
        assert len(members) > 1
        assert len(np.unique(members // 60)) == 1  # no cluster spans both blobs


def test_cluster_balance_by_hand():
    stats = cluster_balance(np.array([0, 0, 0, 1]), 4)
    entropy = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert stats["cluster_balance"] == pytest.approx(entropy / math.log(4))
    assert stats["largest_cluster_share"] == 0.75
    assert stats["n_empty"] == 2 and stats["n_clusters"] == 2


# --- data path -----------------------------------------------------------------------------------
def test_resampling_matches_torch_antialiased_bilinear():
    image = torch.rand(1, 3, 12, 12)
    for out in (5, 12, 29):
        zero = torch.zeros(1)
        rows = resample_weights(zero, zero + 12, 12, out)
        ours = rows[:, None] @ image @ rows.transpose(1, 2)[:, None]
        expected = F.interpolate(image, size=(out, out), mode="bilinear", antialias=True)
        assert torch.allclose(ours, expected, atol=1e-5)


def test_crop_boxes_fit_and_follow_the_scale_and_ratio_ranges():
    boxes = random_resized_crop_boxes(2000, 32, 32, torch.Generator().manual_seed(0))
    top, left, h, w = boxes.T
    assert torch.all((top >= 0) & (left >= 0) & (top + h <= 32) & (left + w <= 32))
    area = h * w / 32**2
    assert area.min() >= 0.05 and area.max() <= 1.0  # 0.08..1 before rounding to pixels
    assert torch.all((w / h > 0.6) & (w / h < 1.7))


def test_eval_transform_only_normalises_at_tile_size_and_train_flips_per_image():
    tiles = synthetic_tiles(8)
    transform = BatchTransform((TILE, TILE), TILE, torch.device("cpu"))
    batch = torch.from_numpy(tiles)
    x = transform.eval(batch)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    expected = (batch.permute(0, 3, 1, 2).float() / 255 - mean) / std
    assert torch.allclose(x, expected, atol=1e-5)
    a = transform.train(batch, torch.Generator().manual_seed(3))
    b = transform.train(batch, torch.Generator().manual_seed(3))
    assert a.shape == (8, 3, TILE, TILE) and torch.equal(a, b)  # seeded: reproducible
    assert not torch.allclose(a, x)


def test_train_transform_is_a_per_image_crop_resize_and_flip():
    """Each image: its own box (top, left, h, w) resized with antialiasing, flipped or not."""
    tiles = torch.from_numpy(synthetic_tiles(6))
    out = 20
    x = BatchTransform((TILE, TILE), out, torch.device("cpu")).train(
        tiles, torch.Generator().manual_seed(7)
    )
    generator = torch.Generator().manual_seed(7)  # replay the draws: boxes, then flips
    boxes = random_resized_crop_boxes(6, TILE, TILE, generator).long()
    flips = torch.rand(6, generator=generator) < 0.5
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    for i, (top, left, h, w) in enumerate(boxes.tolist()):
        crop = tiles[i, top : top + h, left : left + w].permute(2, 0, 1).float()[None]
        expected = F.interpolate(crop, size=(out, out), mode="bilinear", antialias=True)[0]
        if flips[i]:
            expected = expected.flip(-1)
        assert torch.allclose(x[i], (expected / 255 - mean) / std, atol=1e-4)
    assert 0 < int(flips.sum()) < 6  # both cases were checked


def test_batch_loader_reads_sorted_batches_with_prefetch():
    tiles = synthetic_tiles(20)
    batches = make_batches(np.array([7, 3, 12, 1, 19, 4]), 4)
    assert [b.tolist() for b in batches] == [[1, 3, 7, 12], [4, 19]]
    for workers in (0, 2):
        got = list(BatchLoader(tiles, batches, workers=workers))
        assert [i.tolist() for i, _ in got] == [[1, 3, 7, 12], [4, 19]]
        assert np.array_equal(got[1][1].numpy(), tiles[[4, 19]])
    contiguous = list(BatchLoader(tiles, [np.arange(5, 9)]))
    assert np.array_equal(contiguous[0][1].numpy(), tiles[5:9])


def test_batch_loader_reads_repeated_indices_tile_by_tile():
    """Small clusters are drawn with replacement: [0, 0, 2] spans 3 tiles but is not 0, 1, 2."""
    tiles = synthetic_tiles(20)
    for indices in ([0, 0, 2], [3, 4, 4, 6], [5, 5, 5], [7, 8, 9]):
        batch = np.array(indices)
        for workers in (0, 2):
            [(got_indices, got)] = list(BatchLoader(tiles, [batch], workers=workers))
            assert np.array_equal(got_indices, batch)
            assert np.array_equal(got.numpy(), tiles[batch])


# --- checkpoints ---------------------------------------------------------------------------------
def reference_checkpoint(path: Path, trained: torch.nn.Module, optimizer: dict) -> Path:
    """``trained`` saved as the reference main.py saves: DataParallel names, epoch 5, arch."""
    # DataParallel around model.features, as the reference main.py: features.module.0.weight
    state = {
        k.replace("features.", "features.module.", 1): v for k, v in trained.state_dict().items()
    }
    torch.save({"epoch": 5, "arch": "small", "state_dict": state, "optimizer": optimizer}, path)
    return path


def test_reference_format_checkpoint_loads(tmp_path):
    trained = build_model("small", sobel=True, num_classes=10000)
    path = reference_checkpoint(tmp_path / "checkpoint.pth.tar", trained, {"state": {}})
    model = build_model("small", sobel=True, num_classes=4)
    assert ckpt.load_pretrained(model, path, "small", sobel=True) == 5
    assert torch.equal(model.features[0].weight, trained.features[0].weight)
    assert model.top_layer.out_features == 4  # the 10000-way head was dropped
    with pytest.raises(InputError, match="architecture"):
        ckpt.load_pretrained(build_model("small", True, 4), path, "vgg16", sobel=True)
    with pytest.raises(InputError, match="Sobel"):
        ckpt.load_pretrained(build_model("small", False, 4), path, "small", sobel=False)


# --- training runs -------------------------------------------------------------------------------
def test_training_writes_the_contracted_outputs(reference_run):
    out = Outputs.in_dir(reference_run)
    log = pd.read_csv(out.training_log)
    assert list(log.columns) == LOG_COLUMNS
    assert log["epoch"].tolist() == [1, 2]
    assert np.isnan(log["nmi_prev"][0]) and 0 <= log["nmi_prev"][1] <= 1
    assert log["cluster_balance"].between(0, 1).all() and (log["n_empty"] >= 0).all()
    labels = pd.read_parquet(out.assignments)
    assert list(labels.columns) == ["tile_id", "epoch_1", "epoch_2"]
    assert labels["tile_id"].tolist() == list(range(N_TILES))
    assert labels[["epoch_1", "epoch_2"]].isin(range(4)).all().all()
    features = np.load(out.features, mmap_mode="r")
    assert features.shape == (N_TILES, 256) and features.dtype == np.float32
    model = torch.load(out.model, weights_only=True)
    assert model["arch"] == "small" and model["epoch"] == 2 and model["feature_dim"] == 256
    assert (reference_run / "checkpoints" / "last.pt").is_file()


def test_same_seed_gives_identical_pseudo_labels(reference_run, tiles_path, tmp_path):
    train_deepcluster(tiles_path, Settings(**SETTINGS), tmp_path, Outputs.in_dir(tmp_path))
    again = pd.read_parquet(tmp_path / "assignments.parquet")
    first = pd.read_parquet(reference_run / "assignments.parquet")
    pd.testing.assert_frame_equal(again, first)
    assert np.array_equal(
        np.load(tmp_path / "features.npy"), np.load(reference_run / "features.npy")
    )


def test_killed_run_resumes_from_its_checkpoint(reference_run, tiles_path, tmp_path):
    """SIGKILL mid-epoch, rerun with the same --exp: it resumes, finishes, same labels."""
    args = [sys.executable, "-m", "satcluster.deepcluster", str(tiles_path), *CLI_ARGS]
    args += ["--exp", str(tmp_path), "--checkpoints", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(args, env=env, stderr=subprocess.DEVNULL)
    last = tmp_path / "checkpoints" / "last.pt"
    state = None
    while proc.poll() is None:
        if last.is_file():
            state = torch.load(last, weights_only=True)
            if state["iteration"] > 0:
                proc.send_signal(signal.SIGKILL)
                break
        time.sleep(0.02)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "training ended before it could be killed"
    assert state["epoch"] < 2 and not (tmp_path / "model.pt").exists()
    log_file = tmp_path / "rerun.log"
    assert cli_main([*args[3:], "--log", str(log_file)]) == 0  # the rerun, in this process
    text = log_file.read_text()
    assert "resumed from checkpoint" in text and "epochs done" in text
    resumed = pd.read_parquet(tmp_path / "assignments.parquet")
    pd.testing.assert_frame_equal(resumed, pd.read_parquet(reference_run / "assignments.parquet"))


def test_changed_settings_start_over(reference_run, tiles_path, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    exp = tmp_path / "exp"
    (exp / "checkpoints").mkdir(parents=True)
    for name in ("last.pt", "labels_epoch0001.npy", "labels_epoch0002.npy"):
        (exp / "checkpoints" / name).write_bytes(
            (reference_run / "checkpoints" / name).read_bytes()
        )
    settings = Settings(**{**SETTINGS, "epochs": 1, "clustering": "PIC"})
    rows = train_deepcluster(tiles_path, settings, exp, Outputs.in_dir(exp))
    assert "settings changed (clustering: 'Kmeans' -> 'PIC')" in caplog.text
    assert len(rows) == 1 and rows[0]["n_empty"] == 0  # PIC: the head has one output per cluster
    model = torch.load(exp / "model.pt", weights_only=True)
    assert model["n_labels"] == rows[0]["n_clusters"]


def test_more_epochs_continue_a_finished_run(reference_run, tiles_path, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    exp = tmp_path / "exp"
    (exp / "checkpoints").mkdir(parents=True)
    for path in (reference_run / "checkpoints").glob("*"):
        (exp / "checkpoints" / path.name).write_bytes(path.read_bytes())
    settings = Settings(**{**SETTINGS, "epochs": 3, "features_epoch": 2})
    rows = train_deepcluster(tiles_path, settings, exp, Outputs.in_dir(exp))
    assert "2 of 3 epochs done" in caplog.text
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert np.array_equal(np.load(exp / "features.npy"), np.load(reference_run / "features.npy"))


def test_resume_continues_the_training_of_a_checkpoint_of_this_workflow(
    reference_run, tiles_path, tmp_path, caplog
):
    """--resume last.pt: its weights, momentum buffers and epoch; then on to --epochs."""
    caplog.set_level(logging.INFO)
    source = tmp_path / "elsewhere" / "last.pt"
    source.parent.mkdir()
    source.write_bytes((reference_run / "checkpoints" / "last.pt").read_bytes())
    state = torch.load(source, weights_only=True)
    exp = tmp_path / "exp"
    settings = Settings(**{**SETTINGS, "epochs": 3, "lr": 0.02, "resume": str(source)})
    trainer = DeepCluster(tiles_path, settings, exp, Context())
    assert f"resuming training from {source} at epoch 3" in caplog.text
    assert trainer.progress.epoch == state["epoch"] == 2
    restored = trainer.optimizer.state_dict()["state"]
    assert restored.keys() == state["optimizer"]["state"].keys() and restored
    for key, saved in state["optimizer"]["state"].items():
        assert torch.equal(restored[key]["momentum_buffer"], saved["momentum_buffer"])
    assert trainer.optimizer.param_groups[0]["lr"] == 0.02  # this run's settings, not the file's
    assert torch.equal(trainer.model.features[0].weight, state["state_dict"]["features.0.weight"])
    assert [row["epoch"] for row in trainer.fit(Outputs.in_dir(exp))] == [3]
    assert pd.read_csv(exp / "training_log.csv")["epoch"].tolist() == [3]
    assert list(pd.read_parquet(exp / "assignments.parquet").columns) == ["tile_id", "epoch_3"]
    # the run's own checkpoint takes precedence over --resume from then on
    caplog.clear()
    settings = Settings(**{**settings.__dict__, "epochs": 4})
    rows = train_deepcluster(tiles_path, settings, exp, Outputs.in_dir(exp))
    assert "3 of 4 epochs done" in caplog.text and "is not read again" in caplog.text
    assert [row["epoch"] for row in rows] == [3, 4]


def test_resume_checks_what_a_continued_run_needs(reference_run, tiles_path, tmp_path):
    source = tmp_path / "last.pt"
    source.write_bytes((reference_run / "checkpoints" / "last.pt").read_bytes())
    with pytest.raises(InputError, match=r"2 epochs done already; set --epochs"):
        DeepCluster(
            tiles_path, Settings(**{**SETTINGS, "resume": str(source)}), tmp_path, Context()
        )
    inside = tmp_path / "exp" / "checkpoints" / "last.pt"
    inside.parent.mkdir(parents=True)
    inside.write_bytes(source.read_bytes())
    with pytest.raises(InputError, match="checkpoints folder"):
        settings = Settings(**{**SETTINGS, "epochs": 3, "resume": str(inside)})
        DeepCluster(tiles_path, settings, tmp_path / "exp", Context())
    assert inside.is_file()


def test_resume_from_a_reference_checkpoint_only_initialises(tiles_path, tmp_path, caplog):
    """The reference's .pth.tar: weights only (its optimizer need not fit), epoch 1 first."""
    caplog.set_level(logging.INFO)
    trained = build_model("small", sobel=True, num_classes=10000)
    foreign_optimizer = {"state": {}, "param_groups": [{"params": [0, 1], "lr": 0.1}]}
    path = reference_checkpoint(tmp_path / "checkpoint.pth.tar", trained, foreign_optimizer)
    exp = tmp_path / "exp"
    trainer = DeepCluster(
        tiles_path, Settings(**{**SETTINGS, "epochs": 1, "resume": str(path)}), exp, Context()
    )
    assert (
        f"initialising weights from {path} (DeepCluster checkpoint, its epoch 5, head dropped); "
        "training starts at epoch 1" in caplog.text
    )
    assert trainer.progress.epoch == 0 and not trainer.optimizer.state
    assert torch.equal(trainer.model.features[0].weight, trained.features[0].weight)
    assert [row["epoch"] for row in trainer.fit(Outputs.in_dir(exp))] == [1]


def test_multiprocess_run_matches_single_process(reference_run, tiles_path, tmp_path):
    """torchrun, 2 gloo processes on CPU: same outputs, every tile labelled, same first labels."""
    args = [sys.executable, "-m", "satcluster.deepcluster", str(tiles_path), *CLI_ARGS]
    args += ["--exp", str(tmp_path), "--nproc", "2", "--threads", "2"]
    subprocess.run(args, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    multi = pd.read_parquet(tmp_path / "assignments.parquet")
    single = pd.read_parquet(reference_run / "assignments.parquet")
    assert list(multi.columns) == list(single.columns) and len(multi) == len(single)
    assert multi[["epoch_1", "epoch_2"]].isin(range(4)).all().all()
    # epoch 1 clusters the untrained model's features: sharded + gathered = single process
    assert adjusted_rand_score(multi["epoch_1"], single["epoch_1"]) > 0.95
    features = np.load(tmp_path / "features.npy")
    assert features.shape == (N_TILES, 256) and np.isfinite(features).all()
    assert len(pd.read_csv(tmp_path / "training_log.csv")) == 2


def test_multiprocess_pic_resizes_the_head_under_ddp(tiles_path, tmp_path):
    """PIC changes the number of clusters each epoch: the head is replaced and DDP re-wrapped."""
    args = [sys.executable, "-m", "satcluster.deepcluster", str(tiles_path), *CLI_ARGS]
    args += ["--exp", str(tmp_path), "--nproc", "2", "--threads", "2", "--clustering", "PIC"]
    subprocess.run(args, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    log = pd.read_csv(tmp_path / "training_log.csv")
    assert len(log) == 2 and (log["n_empty"] == 0).all()
    model = torch.load(tmp_path / "model.pt", weights_only=True)
    assert model["n_labels"] == log["n_clusters"].iloc[-1]


def test_cli_trains_on_a_folder_of_png_tiles(tmp_path):
    folder = tmp_path / "tiles"
    for i, tile in enumerate(synthetic_tiles(48)):
        sub = folder / f"part{i % 3}"
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(tile).save(sub / f"tile_{i:03d}.png")
    exp = tmp_path / "exp"
    args = [str(folder), *CLI_ARGS, "--epochs", "1", "--batch", "16", "--exp", str(exp)]
    assert cli_main(args) == 0
    listing = pd.read_csv(exp / "tiles_from_folder.csv")
    assert len(listing) == 48 and listing["path"].iloc[0] == "part0/tile_000.png"
    assert np.load(exp / "features.npy").shape == (48, 256)
    assert pd.read_parquet(exp / "assignments.parquet").shape == (48, 2)


def test_cli_rejects_bad_input_with_one_message(tmp_path, capsys):
    np.save(tmp_path / "bad.npy", np.zeros((4, 8, 8), np.float32))
    with pytest.raises(SystemExit) as exit_info:
        cli_main([str(tmp_path / "bad.npy"), "--exp", str(tmp_path)])
    assert exit_info.value.code == 1
    assert "expected uint8 N x H x W x 3" in capsys.readouterr().err
