"""The epoch clock and the training log: one row per epoch, logged and kept in checkpoints."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from satcluster.deepcluster.pseudolabels import Clustering, cluster_balance, nmi

__all__ = ["LOG_COLUMNS", "Clock", "log_row"]

log = logging.getLogger("satcluster.deepcluster.train")

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


class Clock:
    """Seconds spent per phase of an epoch (continuing the interrupted epoch's counts)."""

    KEYS = ("features_seconds", "clustering_seconds", "train_seconds")

    def __init__(self, previous: dict[str, float]) -> None:
        self.seconds = {key: float(previous.get(key, 0.0)) for key in self.KEYS}
        self.running: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, key: str) -> Iterator[None]:
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


def log_row(
    epoch: int,
    epochs: int,
    clustering: Clustering,
    loss: float,
    clock: Clock,
    n_seen: int,
    previous: np.ndarray | None,
) -> dict[str, Any]:
    """The log row of epoch ``epoch + 1`` of ``epochs`` (plain types), also logged.

    Parameters
    ----------
    epoch : epochs done before this one.
    clustering : this epoch's pseudo-labels; ``previous``: the last epoch's (None: first).
    loss : mean cross-entropy of the pass; ``n_seen``: images trained on.
    clock : seconds per phase.
    """
    row = {
        "epoch": epoch + 1,
        "clustering_loss": clustering.loss,
        "convnet_loss": loss,
        "nmi_prev": nmi(previous, clustering.labels),
        **cluster_balance(clustering.labels, clustering.n_labels),
        **clock.totals(),
    }
    row["seconds"] = sum(row[key] for key in Clock.KEYS)
    row["train_images_per_second"] = n_seen / max(row["train_seconds"], 1e-9)
    row = {key: _plain(value) for key, value in row.items()}  # checkpoints: plain types only
    log.info(
        "epoch %d/%d: clustering loss %.4f, convnet loss %.4f, NMI vs previous %.3f, "
        "balance %.3f (largest cluster %.1f%%, %d empty), %.1f s "
        "(features %.1f, clustering %.1f, training %.1f at %.0f img/s)",
        row["epoch"],
        epochs,
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


def _plain(value: Any) -> int | float:
    return int(value) if isinstance(value, int | np.integer) else float(value)
