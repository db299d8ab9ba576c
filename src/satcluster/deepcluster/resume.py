"""Resuming: where training stands, when a checkpoint belongs to this run, save and restore.

The file format lives in checkpoint.py; this module decides what goes in a
training checkpoint and whether the one on disk may be resumed: same
signature (the settings of ``SIGNATURE_KEYS`` plus the tiles' count and
shape), and the pseudo-labels and kept features it relies on still there.
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

    def restore(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, start_epoch: int, epochs: int
    ) -> Progress:
        """Resume from the last checkpoint when it belongs to this run; else start over."""
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
            return Progress(epoch=start_epoch)
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
        log.info(
            "resumed from checkpoint %s: %d of %d epochs done%s (epoch %d continues)",
            path,
            progress.epoch,
            epochs,
            where,
            progress.epoch + 1,
        )
        return progress

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
