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
import sys
from pathlib import Path
from typing import Any

import numpy as np
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
)
from satcluster.deepcluster.models import build_model, reset_head
from satcluster.deepcluster.outputs import Outputs, write_outputs
from satcluster.deepcluster.pseudolabels import Clustering, cluster_features
from satcluster.deepcluster.resume import Checkpoints, signature
from satcluster.deepcluster.sampler import rank_slice, shard_range, uniform_label_sample
from satcluster.deepcluster.seeds import mix_seed, seed_everything, u32
from satcluster.deepcluster.settings import Settings, check_settings
from satcluster.deepcluster.speedups import FeatureRows, compile_backend, compiled, set_fused
from satcluster.deepcluster.tiles import open_tiles
from satcluster.deepcluster.training_log import Clock, log_row

__all__ = ["DeepCluster", "train_deepcluster"]

log = logging.getLogger(__name__)


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
        check_settings(s, self.n, self.tile_shape, self.input_size, self.features_epoch)
        self.ckpt_dir = ckpt.checkpoint_dir(exp)
        self.on_gpu = ctx.device.type == "cuda"
        self.amp = s.amp and self.on_gpu
        self.per_rank_batch = -(-s.batch // ctx.world_size)
        seed_everything(s.seed)
        if self.on_gpu:
            torch.backends.cudnn.benchmark = True

        self.model = build_model(s.arch, s.sobel, s.k)
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
        self.backend = compile_backend(ctx.device) if s.compile else None
        if s.compile and self.backend is None:
            log.info("--compile (deepcluster.compile) applies on a GPU only: running eagerly")
        self.transform = BatchTransform(
            self.tile_shape, self.input_size, ctx.device, channels_last=True
        )
        self.checkpoints = Checkpoints(
            self.ckpt_dir, signature(s, self.n, self.tile_shape), self.features_epoch, ctx
        )
        # this run's last checkpoint, else --resume (weights, or weights + optimiser + epoch)
        self.progress = self.checkpoints.restore(self.model, self.optimizer, s)
        set_fused(self.optimizer, self.backend is not None)
        self.wrap()

    def wrap(self) -> None:
        """The training net (DDP-wrapped when distributed) and the feature pass, compiled or not."""
        self.net = distributed.wrap(self.model, self.ctx)
        self.train_net = compiled(self.net, self.backend)
        self.embed = compiled(self.model.embed, self.backend)

    # --- the loop -------------------------------------------------------------------------------
    def fit(self, outputs: Outputs) -> list[dict[str, Any]]:
        s, p = self.s, self.progress
        for epoch in range(p.epoch, s.epochs):  # epoch = number of epochs done so far
            clock = Clock(p.partial if p.iteration else {})
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
            rng = np.random.default_rng([u32(s.seed), epoch])
            sample = uniform_label_sample(clustering.labels, int(s.reassign * self.n), rng)
            mine = rank_slice(sample, self.ctx.rank, self.ctx.world_size)
            # 5. one pass of SGD on the pseudo-labels with random-resized-crop + flip
            with clock("train_seconds"):
                loss = self.train_epoch(clustering, mine, epoch, p.iteration, clock)
            # 6. log and checkpoint
            p.rows.append(self._log_row(epoch, clustering, loss, clock, len(sample)))
            p.epoch, p.iteration, p.partial = epoch + 1, 0, {}
            self.save_checkpoint()
        if self.features_epoch == s.epochs and not self.checkpoints.features_file.is_file():
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
        dest = self.checkpoints.features_file if keep else self.ckpt_dir / "features_scratch.npy"
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
        rows = FeatureRows(out, self.ctx.device)
        batches = make_batches(np.arange(start, stop), self.per_rank_batch)
        loader = BatchLoader(self.tiles, batches, self.s.workers, pin=self.on_gpu)
        # every shard from the model that rank 0 saves (BatchNorm statistics included)
        distributed.broadcast_buffers(self.model, self.ctx)
        self.model.eval()
        with torch.inference_mode(), self._autocast():
            for indices, batch in self._progress_bar(loader, f"features {epoch}"):
                rows.put(int(indices[0]), self.embed(self.transform.eval(batch)))
            rows.close()
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
        generator = torch.Generator().manual_seed(mix_seed(self.s.seed, epoch, 0xC1A55))
        if reset_head(self.model, n_labels, generator):  # PIC: another number of clusters
            # drop the old DDP wrapper (and its gradient hooks) first
            self.net = self.train_net = self.model
            self.embed = self.model.embed
            gc.collect()
            self.wrap()

    def train_epoch(
        self, clustering: Clustering, sample: np.ndarray, epoch: int, start: int, clock: Clock
    ) -> float:
        """One pass over this rank's ``sample``; returns the mean cross-entropy over all ranks."""
        s, ctx = self.s, self.ctx
        self.net.train()
        # the head gets its own momentum-free SGD, recreated with the head every epoch
        head_optimizer = torch.optim.SGD(
            self.model.top_layer.parameters(),
            lr=s.lr,
            weight_decay=10**s.wd,
            fused=self.backend is not None or None,
        )
        targets = torch.from_numpy(clustering.labels).to(ctx.device)
        batches = make_batches(sample, self.per_rank_batch)
        loader = BatchLoader(self.tiles, batches[start:], s.workers, pin=self.on_gpu)
        loss_sum = torch.zeros((), dtype=torch.float64, device=ctx.device)
        count = 0
        if start and ctx.is_main:  # resumed: the interrupted part (of all ranks) counts too
            loss_sum += self.progress.partial.get("loss_sum", 0.0)
            count = int(self.progress.partial.get("loss_count", 0))
        for i, (indices, batch) in enumerate(self._progress_bar(loader, f"epoch {epoch + 1}")):
            iteration = start + i
            torch.manual_seed(mix_seed(s.seed, epoch, iteration, ctx.rank))  # dropout masks
            generator = torch.Generator().manual_seed(
                mix_seed(s.seed, epoch, iteration, ctx.rank, 1)
            )
            x = self.transform.train(batch, generator)
            y = targets[torch.from_numpy(indices).to(ctx.device)]
            with self._autocast():
                loss = F.cross_entropy(self.train_net(x).float(), y)
            self.optimizer.zero_grad(set_to_none=True)
            head_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            head_optimizer.step()
            loss_sum += loss.detach() * len(indices)
            count += len(indices)
            self.progress.global_iteration += 1
            if self.progress.global_iteration % s.checkpoints == 0:
                self.progress.iteration = iteration + 1
                self.progress.partial = self._partial_epoch(clustering, clock, loss_sum, count)
                self.save_checkpoint()
        return distributed.mean_over_ranks(loss_sum, count, ctx)

    def _partial_epoch(
        self, clustering: Clustering, clock: Clock, loss_sum: torch.Tensor, count: int
    ) -> dict[str, float]:
        """The interrupted epoch so far, as a checkpoint keeps it: the loss summed over ranks.

        Only rank 0 adds the saved sums back on resume, so they must hold every
        rank's batches (the ranks' own sums are not saved anywhere else).
        """
        total, total_count = distributed.sum_over_ranks([float(loss_sum), float(count)], self.ctx)
        partial = clock.snapshot()
        partial.update(clustering_loss=clustering.loss, loss_sum=total, loss_count=int(total_count))
        return partial

    # --- checkpoints and outputs ----------------------------------------------------------------
    def save_checkpoint(self) -> None:
        self.checkpoints.save(
            self.progress, self.s.arch, self.model, self.optimizer, self.s.verbose
        )

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
        write_outputs(
            outputs,
            model=self.model,
            info=info,
            rows=p.rows,
            ckpt_dir=self.ckpt_dir,
            n_tiles=self.n,
            epochs=s.epochs,
            features=self.checkpoints.features_file,
        )

    @property
    def n_labels(self) -> int:
        return self.model.top_layer.out_features

    def _log_row(
        self, epoch: int, clustering: Clustering, loss: float, clock: Clock, n_seen: int
    ) -> dict[str, Any]:
        previous = None
        if epoch > 0 and ckpt.labels_path(self.ckpt_dir, epoch).is_file():
            previous = ckpt.load_labels(ckpt.labels_path(self.ckpt_dir, epoch))
        return log_row(epoch, self.s.epochs, clustering, loss, clock, n_seen, previous)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _progress_bar(self, loader: BatchLoader, desc: str) -> Any:
        quiet = not self.ctx.is_main or not (self.s.verbose or sys.stderr.isatty())
        return tqdm(loader, desc=desc, disable=quiet, mininterval=10)
