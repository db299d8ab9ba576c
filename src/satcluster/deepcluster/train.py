"""The DeepCluster training loop (Caron et al. 2018), as the reference main.py, made resumable.

Every epoch: features of every tile (fixed order, eval mode) -> PCA-whitening
+ L2 -> k-means (or PIC) -> pseudo-labels -> uniform sample over non-empty
clusters -> fresh head -> one pass of SGD with crop + flip augmentation ->
log and checkpoint. Distributed and mixed-precision details live in small
helpers (distributed.py, data.py) so that ``DeepCluster.fit`` reads like the
paper.

Epochs are numbered from 1 in logs and files. The pseudo-labels of epoch e
come from the model after e - 1 epochs of training; "features of epoch e"
(``features_epoch``) are those of the model after e epochs, so with
``features_epoch == epochs`` features.npy and model.pt describe the same model.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from satcluster.deepcluster import checkpoint as ckpt
from satcluster.deepcluster import distributed
from satcluster.deepcluster.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    BatchLoader,
    BatchTransform,
    make_batches,
    open_tiles,
)
from satcluster.deepcluster.models import ARCHS, build_model, reset_head
from satcluster.deepcluster.pseudolabels import (
    METHODS,
    Clustering,
    cluster_balance,
    cluster_features,
    nmi,
)
from satcluster.deepcluster.sampler import rank_slice, shard_range, uniform_label_sample
from satcluster.errors import InputError
from satcluster.io import atomic_path

log = logging.getLogger(__name__)

MIN_INPUT_SIZE = {"vgg16": 32, "alexnet": 63, "small": 8}
# Settings that define a training run: a checkpoint written with other values is not resumed.
SIGNATURE_KEYS = [
    "arch",
    "sobel",
    "clustering",
    "k",
    "lr",
    "wd",
    "momentum",
    "batch",
    "reassign",
    "seed",
    "pca_dim",
    "input_size",
    "resume",
]
LOG_COLUMNS = [
    "epoch",
    "clustering_loss",
    "convnet_loss",
    "nmi_prev",
    "cluster_balance",
    "largest_cluster_share",
    "n_empty",
    "n_clusters",
    "features_seconds",
    "clustering_seconds",
    "train_seconds",
    "seconds",
    "train_images_per_second",
]


@dataclass
class Settings:
    """DeepCluster hyper-parameters; defaults are the reference implementation's."""

    arch: str = "alexnet"
    sobel: bool = False
    clustering: str = "Kmeans"
    k: int = 10000
    lr: float = 0.05
    wd: float = -5.0  # weight decay is 10**wd
    momentum: float = 0.9
    batch: int = 256  # global batch, split across processes
    epochs: int = 200
    start_epoch: int = 0
    reassign: float = 1.0  # tiles per training pass, in dataset sizes
    workers: int = 4  # background threads reading batches
    seed: int = 31
    pca_dim: int = 256
    input_size: int | None = 224  # None: the tile size
    amp: bool = True  # bf16 autocast on GPU
    checkpoints: int = 25000  # also checkpoint every this many iterations
    features_epoch: int | None = None  # None: the last epoch
    resume: str | None = None  # initial weights
    verbose: bool = False


@dataclass
class Outputs:
    model: Path
    training_log: Path
    assignments: Path
    features: Path

    @classmethod
    def in_dir(cls, out: str | Path, features_name: str = "features.npy") -> Outputs:
        out = Path(out)
        return cls(
            out / "model.pt",
            out / "training_log.csv",
            out / "assignments.parquet",
            out / features_name,
        )


@dataclass
class Progress:
    """Where training stands: completed epochs, position inside the current one, history."""

    epoch: int = 0  # completed epochs
    iteration: int = 0  # batches done in epoch + 1 (0: at an epoch boundary)
    global_iteration: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    partial: dict[str, float] = field(default_factory=dict)  # the interrupted epoch so far


def check_inputs(tiles_path: str | Path, s: Settings) -> None:
    """Fail early, with one clear message, on settings that cannot work with these tiles."""
    tiles = open_tiles(tiles_path)
    tile_shape = (int(tiles.shape[1]), int(tiles.shape[2]))
    input_size = s.input_size or tile_shape[0]
    _check_settings(s, len(tiles), tile_shape, input_size, s.features_epoch or s.epochs)
    if s.resume and not Path(s.resume).is_file():
        raise InputError(f"--resume (deepcluster.resume): checkpoint not found: {s.resume}.")


def train_deepcluster(
    tiles_path: str | Path,
    settings: Settings,
    exp: str | Path,
    outputs: Outputs,
    ctx: distributed.Context | None = None,
) -> list[dict[str, Any]]:
    """Train DeepCluster on a tiles .npy; write model, log, assignments, features. Returns the log."""
    trainer = DeepCluster(tiles_path, settings, exp, ctx or distributed.Context())
    return trainer.fit(outputs)


class DeepCluster:
    """Model, optimiser, data and checkpoint state of one DeepCluster run."""

    def __init__(
        self, tiles_path: str | Path, s: Settings, exp: str | Path, ctx: distributed.Context
    ) -> None:
        self.s = s
        self.ctx = ctx
        self.tiles = open_tiles(tiles_path)
        self.n = len(self.tiles)
        self.tile_shape = tuple(int(v) for v in self.tiles.shape[1:3])
        self.input_size = s.input_size or self.tile_shape[0]
        self.features_epoch = s.features_epoch or s.epochs
        _check_settings(s, self.n, self.tile_shape, self.input_size, self.features_epoch)
        self.ckpt_dir = ckpt.checkpoint_dir(exp)
        self.on_gpu = ctx.device.type == "cuda"
        self.amp = s.amp and self.on_gpu
        self.per_rank_batch = -(-s.batch // ctx.world_size)
        _seed_everything(s.seed)
        if self.on_gpu:
            torch.backends.cudnn.benchmark = True

        self.model = build_model(s.arch, s.sobel, s.k)
        if s.resume:
            ckpt.load_pretrained(self.model, s.resume, s.arch, s.sobel)
        # channels_last: faster convolutions on GPUs (tensor cores) and on CPUs (oneDNN) alike
        self.model.to(ctx.device, memory_format=torch.channels_last)
        backbone = [
            p
            for name, p in self.model.named_parameters()
            if p.requires_grad and not name.startswith("top_layer.")
        ]
        self.optimizer = torch.optim.SGD(
            backbone, lr=s.lr, momentum=s.momentum, weight_decay=10**s.wd
        )
        self.transform = BatchTransform(
            self.tile_shape, self.input_size, ctx.device, channels_last=True
        )
        self.progress = self._restore()
        self.net = distributed.wrap(self.model, ctx)

    # --- the loop -------------------------------------------------------------------------------
    def fit(self, outputs: Outputs) -> list[dict[str, Any]]:
        s, p = self.s, self.progress
        for epoch in range(p.epoch, s.epochs):  # epoch = number of epochs done so far
            clock = _Clock(p.partial if p.iteration else {})
            if p.iteration:  # resuming inside this epoch: its labels and head are restored
                labels = ckpt.load_labels(ckpt.labels_path(self.ckpt_dir, epoch + 1))
                clustering = Clustering(labels, p.partial["clustering_loss"], self.n_labels)
            else:
                # 1. features of every tile in a fixed order, model in eval mode
                with clock("features_seconds"):
                    features = self.compute_features(epoch)
                # 2. PCA-whitening + L2, k-means on one rank, labels to every rank
                with clock("clustering_seconds"):
                    clustering = self.cluster(features, epoch)
                del features
                # 3. a fresh head for the new pseudo-labels
                self.reset_head(clustering.n_labels, epoch)
            # 4. sample uniformly over non-empty clusters, seed shared by all ranks
            rng = np.random.default_rng([_u32(s.seed), epoch])
            sample = uniform_label_sample(clustering.labels, int(s.reassign * self.n), rng)
            mine = rank_slice(sample, self.ctx.rank, self.ctx.world_size)
            # 5. one pass of SGD on the pseudo-labels with random-resized-crop + flip
            with clock("train_seconds"):
                loss = self.train_epoch(clustering, mine, epoch, p.iteration, clock)
            # 6. log and checkpoint
            p.rows.append(self._log_row(epoch, clustering, loss, clock, len(sample)))
            p.epoch, p.iteration, p.partial = epoch + 1, 0, {}
            self.save_checkpoint()
        if self.features_epoch == s.epochs and not self._features_file().is_file():
            self.compute_features(s.epochs)
        if self.ctx.is_main:
            self.write_outputs(outputs)
        distributed.barrier(self.ctx)
        return p.rows

    # --- steps ----------------------------------------------------------------------------------
    def compute_features(self, epoch: int) -> np.ndarray | None:
        """Features of every tile (model after ``epoch`` epochs), written to disk in tile order.

        Each rank computes a contiguous shard and writes it into one shared
        .npy memory map, so nothing is gathered in memory. float16 when D >= 1024.
        Returns the memmap on rank 0, None elsewhere.
        """
        keep = epoch == self.features_epoch
        dest = self._features_file() if keep else self.ckpt_dir / "features_scratch.npy"
        partial = dest.with_name(dest.stem + ".partial.npy")
        dim = self.model.feature_dim
        dtype = np.float16 if dim >= 1024 else np.float32
        if self.ctx.is_main:
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.unlink(missing_ok=True)
            np.lib.format.open_memmap(partial, "w+", dtype, (self.n, dim)).flush()
        distributed.barrier(self.ctx)
        start, stop = shard_range(self.n, self.ctx.rank, self.ctx.world_size)
        out = np.load(partial, mmap_mode="r+")
        batches = make_batches(np.arange(start, stop), self.per_rank_batch)
        loader = BatchLoader(self.tiles, batches, self.s.workers, pin=self.on_gpu)
        self.model.eval()
        with torch.inference_mode(), self._autocast():
            for indices, batch in self._progress_bar(loader, f"features {epoch}"):
                embedding = self.model.embed(self.transform.eval(batch))
                out[indices[0] : indices[-1] + 1] = embedding.float().cpu().numpy()
        self.model.train()
        out.flush()
        del out
        distributed.barrier(self.ctx)
        if self.ctx.is_main:
            os.replace(partial, dest)
            if keep:
                log.info(
                    "saved the features of epoch %d (%d x %d %s)",
                    epoch,
                    self.n,
                    dim,
                    dtype.__name__,
                )
        distributed.barrier(self.ctx)
        return np.load(dest, mmap_mode="r") if self.ctx.is_main else None

    def cluster(self, features: np.ndarray | None, epoch: int) -> Clustering:
        """Pseudo-labels from rank 0's clustering (new seed every epoch), on every rank."""
        s = self.s
        result = None
        if self.ctx.is_main:
            result = cluster_features(features, s.clustering, s.k, s.pca_dim, seed=s.seed + epoch)
            ckpt.save_labels(ckpt.labels_path(self.ckpt_dir, epoch + 1), result.labels)
        labels = distributed.broadcast_labels(
            None if result is None else result.labels, self.n, self.ctx
        )
        values = [result.loss, result.n_labels] if result else [0.0, 0.0]
        loss, n_labels = distributed.broadcast_floats(values, self.ctx)
        return Clustering(labels, loss, int(n_labels))

    def reset_head(self, n_labels: int, epoch: int) -> None:
        """Head weights N(0, 0.01), bias 0, the same on every rank (seeded by epoch)."""
        generator = torch.Generator().manual_seed(_seed(self.s.seed, epoch, 0xC1A55))
        if reset_head(self.model, n_labels, generator):  # PIC: another number of clusters
            self.net = self.model  # drop the old DDP wrapper (and its gradient hooks) first
            gc.collect()
            self.net = distributed.wrap(self.model, self.ctx)

    def train_epoch(
        self, clustering: Clustering, sample: np.ndarray, epoch: int, start: int, clock: _Clock
    ) -> float:
        """One pass over this rank's ``sample``; returns the mean cross-entropy over all ranks."""
        s, ctx = self.s, self.ctx
        self.net.train()
        # the head gets its own momentum-free SGD, recreated with the head every epoch
        head_optimizer = torch.optim.SGD(
            self.model.top_layer.parameters(), lr=s.lr, weight_decay=10**s.wd
        )
        targets = torch.from_numpy(clustering.labels).to(ctx.device)
        batches = make_batches(sample, self.per_rank_batch)
        loader = BatchLoader(self.tiles, batches[start:], s.workers, pin=self.on_gpu)
        loss_sum = torch.zeros((), dtype=torch.float64, device=ctx.device)
        count = 0
        if start and ctx.is_main:  # resumed: the interrupted part of the epoch counts too
            loss_sum += self.progress.partial.get("loss_sum", 0.0)
            count = int(self.progress.partial.get("loss_count", 0))
        for i, (indices, batch) in enumerate(self._progress_bar(loader, f"epoch {epoch + 1}")):
            iteration = start + i
            torch.manual_seed(_seed(s.seed, epoch, iteration, ctx.rank))  # dropout masks
            generator = torch.Generator().manual_seed(_seed(s.seed, epoch, iteration, ctx.rank, 1))
            x = self.transform.train(batch, generator)
            y = targets[torch.from_numpy(indices).to(ctx.device)]
            with self._autocast():
                loss = F.cross_entropy(self.net(x).float(), y)
            self.optimizer.zero_grad(set_to_none=True)
            head_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            head_optimizer.step()
            loss_sum += loss.detach() * len(indices)
            count += len(indices)
            self.progress.global_iteration += 1
            if self.progress.global_iteration % s.checkpoints == 0:
                partial = clock.snapshot()
                partial.update(
                    clustering_loss=clustering.loss,
                    loss_sum=float(loss_sum),
                    loss_count=count,
                )
                self.progress.iteration, self.progress.partial = iteration + 1, partial
                self.save_checkpoint()
        return distributed.mean_over_ranks(loss_sum, count, ctx)

    # --- checkpoints and outputs ----------------------------------------------------------------
    def save_checkpoint(self) -> None:
        if not self.ctx.is_main:
            return
        p = self.progress
        state = {
            "format": ckpt.FORMAT,
            "epoch": p.epoch,
            "iteration": p.iteration,
            "global_iteration": p.global_iteration,
            "arch": self.s.arch,
            "state_dict": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "signature": self._signature(),
            "world_size": self.ctx.world_size,
            "log": p.rows,
            "partial": p.partial,
        }
        ckpt.save_checkpoint(self.ckpt_dir / ckpt.LAST, state)
        if self.s.verbose:
            log.info("checkpoint: epoch %d, iteration %d", p.epoch, p.iteration)

    def write_outputs(self, outputs: Outputs) -> None:
        """model.pt, training_log.csv, assignments.parquet and features.npy (rank 0)."""
        s, p = self.s, self.progress
        info = {
            "arch": s.arch,
            "sobel": s.sobel,
            "k": s.k,
            "n_labels": self.n_labels,
            "feature_dim": self.model.feature_dim,
            "input_size": self.input_size,
            "tile_size": list(self.tile_shape),
            "epoch": p.epoch,
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
        }
        ckpt.save_model(outputs.model, self.model, info)
        with atomic_path(outputs.training_log) as tmp:
            pd.DataFrame(p.rows, columns=LOG_COLUMNS).to_csv(tmp, index=False)
        columns = {"tile_id": np.arange(self.n, dtype=np.int64)}
        for epoch in range(1, s.epochs + 1):
            path = ckpt.labels_path(self.ckpt_dir, epoch)
            if path.is_file():
                columns[f"epoch_{epoch}"] = np.load(path)
        with atomic_path(outputs.assignments) as tmp:
            pd.DataFrame(columns).to_parquet(tmp, index=False)
        _link_or_copy(self._features_file(), outputs.features)
        self.ckpt_dir.joinpath("features_scratch.npy").unlink(missing_ok=True)
        last = p.rows[-1] if p.rows else {}
        log.info(
            "wrote %s, %s, %s, %s (last epoch: NMI vs previous %.3f, balance %.3f)",
            outputs.model,
            outputs.training_log,
            outputs.assignments,
            outputs.features,
            last.get("nmi_prev", float("nan")),
            last.get("cluster_balance", float("nan")),
        )

    @property
    def n_labels(self) -> int:
        return self.model.top_layer.out_features

    def _restore(self) -> Progress:
        """Resume from this experiment's last checkpoint when it belongs to the same run."""
        path = self.ckpt_dir / ckpt.LAST
        state = ckpt.load(path) if path.is_file() else None
        reason = self._not_resumable(state) if state is not None else "no checkpoint"
        distributed.barrier(self.ctx)  # everyone has read before rank 0 may clean up
        if reason:
            if state is not None:
                log.warning("not resuming from %s: %s; starting over", path, reason)
            if self.ctx.is_main:
                ckpt.remove_stale(self.ckpt_dir)
                self.ckpt_dir.mkdir(parents=True, exist_ok=True)
            distributed.barrier(self.ctx)
            return Progress(epoch=self.s.start_epoch)
        if self.ctx.is_main:
            ckpt.remove_temp_files(self.ckpt_dir)
        head = state["state_dict"]["top_layer.weight"].shape[0]
        reset_head(self.model, head, torch.Generator())
        self.model.load_state_dict(state["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        progress = Progress(
            epoch=int(state["epoch"]),
            iteration=int(state["iteration"]),
            global_iteration=int(state["global_iteration"]),
            rows=list(state["log"]),
            partial=dict(state["partial"]),
        )
        if progress.iteration and state["world_size"] != self.ctx.world_size:
            log.warning(
                "checkpoint written by %d processes, now %d: epoch %d starts again",
                state["world_size"],
                self.ctx.world_size,
                progress.epoch + 1,
            )
            progress.iteration = 0
            progress.partial = {**progress.partial, "loss_sum": 0.0, "loss_count": 0}
        where = f", iteration {progress.iteration}" if progress.iteration else ""
        log.info(
            "resumed from checkpoint %s: %d of %d epochs done%s (epoch %d continues)",
            path,
            progress.epoch,
            self.s.epochs,
            where,
            progress.epoch + 1,
        )
        return progress

    def _not_resumable(self, state: dict[str, Any]) -> str:
        """Why ``state`` cannot be resumed ('' if it can)."""
        if state.get("format") != ckpt.FORMAT:
            return "it is not a checkpoint of this workflow"
        old, new = state["signature"], self._signature()
        changed = [
            f"{key}: {old.get(key)!r} -> {new[key]!r}" for key in new if old.get(key) != new[key]
        ]
        if changed:
            return "settings changed (" + "; ".join(changed) + ")"
        done, iteration = int(state["epoch"]), int(state["iteration"])
        fe = self.features_epoch
        if (fe < done or (fe == done and iteration)) and not self._features_file().is_file():
            return f"the features of epoch {fe} were not kept"
        if iteration and not ckpt.labels_path(self.ckpt_dir, done + 1).is_file():
            return f"the pseudo-labels of epoch {done + 1} are missing"
        return ""

    def _signature(self) -> dict[str, Any]:
        settings = asdict(self.s)
        signature = {key: settings[key] for key in SIGNATURE_KEYS}
        signature.update(n_tiles=self.n, tile_shape=list(self.tile_shape))
        return signature

    def _features_file(self) -> Path:
        return ckpt.features_path(self.ckpt_dir, self.features_epoch)

    def _log_row(
        self, epoch: int, clustering: Clustering, loss: float, clock: _Clock, n_seen: int
    ) -> dict[str, Any]:
        previous = None
        if epoch > 0 and ckpt.labels_path(self.ckpt_dir, epoch).is_file():
            previous = ckpt.load_labels(ckpt.labels_path(self.ckpt_dir, epoch))
        row = {
            "epoch": epoch + 1,
            "clustering_loss": clustering.loss,
            "convnet_loss": loss,
            "nmi_prev": nmi(previous, clustering.labels),
            **cluster_balance(clustering.labels, clustering.n_labels),
            **clock.totals(),
        }
        row["seconds"] = sum(row[key] for key in _Clock.KEYS)
        row["train_images_per_second"] = n_seen / max(row["train_seconds"], 1e-9)
        row = {key: _plain(value) for key, value in row.items()}  # checkpoints: plain types only
        log.info(
            "epoch %d/%d: clustering loss %.4f, convnet loss %.4f, NMI vs previous %.3f, "
            "balance %.3f (largest cluster %.1f%%, %d empty), %.1f s "
            "(features %.1f, clustering %.1f, training %.1f at %.0f img/s)",
            row["epoch"],
            self.s.epochs,
            row["clustering_loss"],
            row["convnet_loss"],
            row["nmi_prev"],
            row["cluster_balance"],
            100 * row["largest_cluster_share"],
            row["n_empty"],
            row["seconds"],
            row["features_seconds"],
            row["clustering_seconds"],
            row["train_seconds"],
            row["train_images_per_second"],
        )
        return row

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _progress_bar(self, loader: BatchLoader, desc: str) -> Any:
        quiet = not self.ctx.is_main or not (self.s.verbose or sys.stderr.isatty())
        return tqdm(loader, desc=desc, disable=quiet, mininterval=10)


class _Clock:
    """Seconds spent per phase of an epoch (continuing the interrupted epoch's counts)."""

    KEYS = ("features_seconds", "clustering_seconds", "train_seconds")

    def __init__(self, previous: dict[str, float]) -> None:
        self.seconds = {key: float(previous.get(key, 0.0)) for key in self.KEYS}
        self.running: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, key: str):
        self.running[key] = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[key] += time.perf_counter() - self.running.pop(key)

    def snapshot(self) -> dict[str, float]:
        """Totals so far, including phases still running."""
        now = time.perf_counter()
        return {
            k: v + (now - self.running[k] if k in self.running else 0.0)
            for k, v in self.seconds.items()
        }

    def totals(self) -> dict[str, float]:
        return dict(self.seconds)


def _check_settings(
    s: Settings, n: int, tile_shape: tuple[int, int], input_size: int, features_epoch: int
) -> None:
    if s.arch not in ARCHS:
        raise InputError(f"unknown --arch {s.arch!r}; choose one of {', '.join(ARCHS)}.")
    if s.clustering not in METHODS:
        raise InputError(
            f"unknown --clustering {s.clustering!r}; choose one of {', '.join(METHODS)}."
        )
    if s.clustering == "Kmeans" and not 2 <= s.k <= n:
        raise InputError(
            f"--nmb_cluster/--k (deepcluster.k) = {s.k} must be in 2..{n} (the number of tiles)."
        )
    if s.input_size is None and tile_shape[0] != tile_shape[1]:
        raise InputError(
            f"tiles are {tile_shape[0]} x {tile_shape[1]} px; set --input_size (deepcluster.input_size)."
        )
    if input_size < MIN_INPUT_SIZE[s.arch]:
        raise InputError(
            f"input size {input_size} px is too small for {s.arch} (at least "
            f"{MIN_INPUT_SIZE[s.arch]}); set --input_size (deepcluster.input_size)."
        )
    if not max(1, s.start_epoch) <= features_epoch <= s.epochs:
        raise InputError(
            f"--features_epoch (deepcluster.features_epoch) = {features_epoch} must be between "
            f"{max(1, s.start_epoch)} and --epochs = {s.epochs}."
        )
    for name in ("batch", "checkpoints", "pca_dim"):
        if getattr(s, name) < 1:
            raise InputError(f"--{name} (deepcluster.{name}) must be at least 1.")
    if s.reassign <= 0:
        raise InputError("--reassign (deepcluster.reassign) must be positive.")


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(_u32(seed))
    torch.manual_seed(seed)


def _u32(value: int) -> int:
    return value % 2**32


def _seed(*parts: int) -> int:
    """A 63-bit seed mixing ``parts`` (seed, epoch, iteration, rank...)."""
    state = np.random.SeedSequence([_u32(p) for p in parts]).generate_state(2)
    return int((int(state[0]) << 31) ^ int(state[1]))


def _plain(value: Any) -> int | float:
    return int(value) if isinstance(value, int | np.integer) else float(value)


def _link_or_copy(src: Path, dest: Path) -> None:
    """Publish ``src`` at ``dest`` atomically: a hard link (no copy of GBs) or else a copy."""
    with atomic_path(dest) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
