"""Figure: DeepCluster training curves (losses, NMI against the previous epoch, balance)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from satcluster.errors import InputError
from satcluster.figures.common import new_figure, save_figure, style
from satcluster.io import require_file

__all__ = ["CURVES", "draw_training_curves", "plot_training_curves", "read_training_log"]

# training_log.csv column -> panel title; panels are drawn for the columns present.
CURVES = {
    "clustering_loss": "k-means loss (clustering)",
    "convnet_loss": "ConvNet loss (pseudo-label cross-entropy)",
    "nmi_prev": "NMI of pseudo-labels vs previous epoch",
    "cluster_balance": "cluster balance",
    "seconds": "time per epoch (s)",
}


def read_training_log(path: str | Path) -> pd.DataFrame:
    """The training log with an ``epoch`` column and at least one known curve."""
    log = pd.read_csv(require_file(path, "DeepCluster training log"))
    curves = [c for c in CURVES if c in log]
    if "epoch" not in log or not curves:
        raise InputError(
            f"{path} needs an `epoch` column and at least one of {', '.join(CURVES)}; "
            f"it has {', '.join(log.columns) or 'no columns'}. Rerun the deepcluster stage."
        )
    return log.sort_values("epoch")


def plot_training_curves(log: pd.DataFrame) -> Figure:
    """One panel per known curve in ``log`` against the epoch."""
    curves = [c for c in CURVES if c in log]
    cols = min(len(curves), 3)
    rows = math.ceil(len(curves) / cols)
    with style():
        fig = new_figure(3.4 * cols, 2.6 * rows + 0.4)
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for ax, curve in zip(axes, curves, strict=False):
            ax.plot(log["epoch"], log[curve], marker="o", markersize=3, color="#1f77b4")
            ax.set_title(CURVES[curve])
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if curve == "nmi_prev":
                ax.set_ylim(0, 1.02)
        for ax in axes[len(curves) :]:
            fig.delaxes(ax)
        fig.suptitle("DeepCluster training")
    return fig


def draw_training_curves(log_path: str | Path, outputs: Sequence[str | Path], dpi: int) -> None:
    """Read training_log.csv, draw the curves and save them."""
    save_figure(plot_training_curves(read_training_log(log_path)), outputs, dpi)
