"""Resuming: where training stands, when a checkpoint belongs to this run, save and restore.

The file format lives in checkpoint.py; this module decides what goes in a
training checkpoint and whether the one on disk may be resumed: same
signature (the settings of ``SIGNATURE_KEYS`` plus the tiles' count and
shape), and the pseudo-labels and kept features it relies on still there.

Where a run starts, in this order:

1. ``<exp>/checkpoints/last.pt`` when it belongs to this run (same signature,
   ``--resume`` included): the run continues where it stopped, even inside an
   epoch, and ``--resume`` is not read again (it was applied when the run
   started; the run's own checkpoint is newer). A checkpoint of other settings
   is deleted with the run's labels and features, and the run starts afresh:
2. ``--resume PATH`` (``deepcluster.resume``), as the reference main.py's:
   a training checkpoint of this workflow (a ``last.pt``) continues training
   after its completed epochs (not ``--start_epoch``) with its weights and
   optimiser state (momentum buffers; lr, momentum and weight decay are this
   run's), up to ``--epochs``; an epoch it was interrupted in starts again,
   and the training log and pseudo-labels of this run begin there. A
   reference DeepCluster checkpoint (``.pth.tar``), a model.pt or a bare
   state dict only initialise the weights (head dropped) and training starts
   at epoch ``--start_epoch + 1``.
3. Otherwise from scratch, at epoch ``--start_epoch + 1``.

The log says which, in one line naming the file. A ``--resume`` file inside
``<exp>/checkpoints/`` is refused: a fresh start empties that folder.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from satcluster.deepcluster import checkpoint as ckpt
from satcluster.deepcluster import distributed
from satcluster.deepcluster.models import reset_head
from satcluster.deepcluster.settings import SIGNATURE_KEYS, Settings
from satcluster.errors import InputError

__all__ = ["Checkpoints", "Progress", "signature"]

log = logging.getLogger("satcluster.deepcluster.train")


@dataclass
class Progress:
    """Where training stands: completed epochs, position inside the current one, history."""

    epoch: int = 0  # completed epochs
    iteration: int = 0  # batches done in epoch + 1 (0: at an epoch boundary)
    global_iteration: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    partial: dict[str, float] = field(default_factory=dict)  # the interrupted epoch so far


def signature(s: Settings, n_tiles: int, tile_shape: tuple[int, ...]) -> dict[str, Any]:
    """What defines a run: a checkpoint with another signature is not resumed."""
    settings = asdict(s)
    result = {key: settings[key] for key in SIGNATURE_KEYS}
    result.update(n_tiles=n_tiles, tile_shape=list(tile_shape))
    return result


class Checkpoints:
    """The checkpoints of one run (folder ``ckpt_dir``): restore once, then save as it goes."""

    def __init__(
        self,
        ckpt_dir: Path,
        signature: dict[str, Any],
        features_epoch: int,
        ctx: distributed.Context,
    ) -> None:
        self.dir = ckpt_dir
        self.signature = signature
        self.features_epoch = features_epoch
        self.features_file = ckpt.features_path(ckpt_dir, features_epoch)
        self.ctx = ctx

    def restore(self, model: nn.Module, optimizer: torch.optim.Optimizer, s: Settings) -> Progress:
        """Resume from the last checkpoint when it belongs to this run; else ``start`` afresh."""
        self.check_resume_path(s.resume)
        path = self.dir / ckpt.LAST
        state = ckpt.load(path) if path.is_file() else None
        reason = self.not_resumable(state) if state is not None else "no checkpoint"
        distributed.barrier(self.ctx)  # everyone has read before rank 0 may clean up
        if reason:
            if state is not None:
                log.warning("not resuming from %s: %s; starting over", path, reason)
            if self.ctx.is_main:
                ckpt.remove_stale(self.dir)
                self.dir.mkdir(parents=True, exist_ok=True)
            distributed.barrier(self.ctx)
            return self.start(model, optimizer, s)
        if self.ctx.is_main:
            ckpt.remove_temp_files(self.dir)
        head = state["state_dict"]["top_layer.weight"].shape[0]
        reset_head(model, head, torch.Generator())
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
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
        not_read = f"; --resume {s.resume} is not read again" if s.resume else ""
        log.info(
            "resumed from checkpoint %s: %d of %d epochs done%s (epoch %d continues)%s",
            path,
            progress.epoch,
            s.epochs,
            where,
            progress.epoch + 1,
            not_read,
        )
        return progress

    def start(self, model: nn.Module, optimizer: torch.optim.Optimizer, s: Settings) -> Progress:
        """A fresh start: from scratch, from --resume's weights, or going on with its training."""
        if not s.resume:
            return Progress(epoch=s.start_epoch)
        state = ckpt.load(s.resume)
        ckpt.load_weights(model, state, s.resume, s.arch, s.sobel)
        if not ckpt.is_training_checkpoint(state):
            log.info(
                "initialising weights from %s (%s); training starts at epoch %d",
                s.resume,
                ckpt.describe(state),
                s.start_epoch + 1,
            )
            return Progress(epoch=s.start_epoch)
        done = int(state["epoch"])
        self.check_continuable(s, done)
        ckpt.load_optimizer(optimizer, state["optimizer"], s.resume)
        again = " (its interrupted epoch starts again)" if int(state["iteration"]) else ""
        log.info("resuming training from %s at epoch %d%s", s.resume, done + 1, again)
        return Progress(epoch=done)

    def check_continuable(self, s: Settings, done: int) -> None:
        """InputError unless a run continuing after ``done`` epochs can reach its settings."""
        if done >= s.epochs:
            raise InputError(
                f"--resume {s.resume} has {done} epochs done already; set --epochs "
                f"(deepcluster.epochs) above {done} to train on."
            )
        if self.features_epoch < done:
            raise InputError(
                f"--resume {s.resume} has {done} epochs done, so the features of epoch "
                f"{self.features_epoch} cannot be computed; set --features_epoch "
                f"(deepcluster.features_epoch) to at least {done}."
            )

    def check_resume_path(self, resume: str | None) -> None:
        """InputError if --resume is in the run's checkpoints folder: a fresh start empties it."""
        if resume and Path(resume).resolve().parent == self.dir.resolve():
            raise InputError(
                f"--resume {resume} is in this run's checkpoints folder, which a fresh start "
                "empties: copy it elsewhere and give that path, or drop --resume to let the "
                "run resume from its own checkpoint."
            )

    def not_resumable(self, state: dict[str, Any]) -> str:
        """Why ``state`` cannot be resumed ('' if it can)."""
        if state.get("format") != ckpt.FORMAT:
            return "it is not a checkpoint of this workflow"
        old, new = state["signature"], self.signature
        changed = [
            f"{key}: {old.get(key)!r} -> {new[key]!r}" for key in new if old.get(key) != new[key]
        ]
        if changed:
            return "settings changed (" + "; ".join(changed) + ")"
        done, iteration = int(state["epoch"]), int(state["iteration"])
        fe = self.features_epoch
        if (fe < done or (fe == done and iteration)) and not self.features_file.is_file():
            return f"the features of epoch {fe} were not kept"
        if iteration and not ckpt.labels_path(self.dir, done + 1).is_file():
            return f"the pseudo-labels of epoch {done + 1} are missing"
        return ""

    def save(
        self,
        progress: Progress,
        arch: str,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        verbose: bool = False,
    ) -> None:
        """Write ``last.pt`` (rank 0 only): weights, optimizer, progress and signature."""
        if not self.ctx.is_main:
            return
        p = progress
        state = {
            "format": ckpt.FORMAT,
            "epoch": p.epoch,
            "iteration": p.iteration,
            "global_iteration": p.global_iteration,
            "arch": arch,
            "state_dict": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "signature": self.signature,
            "world_size": self.ctx.world_size,
            "log": p.rows,
            "partial": p.partial,
        }
        ckpt.save_checkpoint(self.dir / ckpt.LAST, state)
        if verbose:
            log.info("checkpoint: epoch %d, iteration %d", p.epoch, p.iteration)
