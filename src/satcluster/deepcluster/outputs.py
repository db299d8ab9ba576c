"""The four files a training run publishes: model.pt, training_log.csv, assignments, features."""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from satcluster.columns import TILE_ID
from satcluster.deepcluster import checkpoint as ckpt
from satcluster.deepcluster.training_log import LOG_COLUMNS
from satcluster.io import atomic_path

__all__ = ["Outputs", "write_outputs"]

log = logging.getLogger("satcluster.deepcluster.train")


@dataclass
class Outputs:
    """Paths of the published files (the train_deepcluster rule's outputs, in this order)."""

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

    def paths(self) -> list[Path]:
        return [Path(p) for p in astuple(self)]


def write_outputs(
    outputs: Outputs,
    *,
    model: nn.Module,
    info: dict[str, Any],
    rows: list[dict[str, Any]],
    ckpt_dir: Path,
    n_tiles: int,
    epochs: int,
    features: Path,
) -> None:
    """Publish a finished run (each file atomically) and drop the scratch features.

    Parameters
    ----------
    outputs : where to write.
    model, info : the trained model and its plain-typed description (arch, sizes in px...).
    rows : the training log, one row per epoch (LOG_COLUMNS).
    ckpt_dir : the checkpoints folder holding the per-epoch pseudo-labels.
    n_tiles, epochs : one assignments row per tile, one ``epoch_<e>`` column per epoch kept.
    features : the kept features .npy, hard-linked (or copied) to ``outputs.features``.
    """
    ckpt.save_model(outputs.model, model, info)
    with atomic_path(outputs.training_log) as tmp:
        pd.DataFrame(rows, columns=LOG_COLUMNS).to_csv(tmp, index=False)
    columns = {TILE_ID: np.arange(n_tiles, dtype=np.int64)}
    for epoch in range(1, epochs + 1):
        path = ckpt.labels_path(ckpt_dir, epoch)
        if path.is_file():
            columns[f"epoch_{epoch}"] = np.load(path)
    with atomic_path(outputs.assignments) as tmp:
        pd.DataFrame(columns).to_parquet(tmp, index=False)
    _link_or_copy(features, outputs.features)
    ckpt_dir.joinpath("features_scratch.npy").unlink(missing_ok=True)
    last = rows[-1] if rows else {}
    log.info(
        "wrote %s, %s, %s, %s (last epoch: NMI vs previous %.3f, balance %.3f)",
        outputs.model,
        outputs.training_log,
        outputs.assignments,
        outputs.features,
        last.get("nmi_prev", float("nan")),
        last.get("cluster_balance", float("nan")),
    )


def _link_or_copy(src: Path, dest: Path) -> None:
    """Publish ``src`` at ``dest`` atomically: a hard link (no copy of GBs) or else a copy."""
    with atomic_path(dest) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
