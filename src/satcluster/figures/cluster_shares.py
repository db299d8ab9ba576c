"""Figure: share of tiles in every cluster (bar chart)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from satcluster.columns import CLUSTER, CLUSTER_NAME
from satcluster.figures.common import (
    cluster_label,
    cluster_names,
    cluster_shares,
    new_figure,
    read_parquet_columns,
    save_figure,
    style,
)
from satcluster.figures.palette import cluster_colors
from satcluster.tables import check_labels

__all__ = ["draw_cluster_shares", "plot_cluster_shares"]


def plot_cluster_shares(labels: np.ndarray, names: Sequence[str], colors: Sequence[str]) -> Figure:
    """Horizontal bars, cluster 0 on top, with the share and tile count at each bar."""
    n_clusters = len(names)
    shares = cluster_shares(labels, n_clusters)
    counts = np.bincount(labels, minlength=n_clusters)
    with style():
        fig = new_figure(7, 0.35 * n_clusters + 1.3)
        ax = fig.add_subplot()
        ax.barh(range(n_clusters), shares * 100, color=colors, edgecolor="black", linewidth=0.4)
        ax.set_yticks(
            range(n_clusters), labels=[cluster_label(i, names[i]) for i in range(n_clusters)]
        )
        ax.invert_yaxis()
        for i, (share, count) in enumerate(zip(shares, counts, strict=True)):
            ax.text(share * 100, i, f" {share:.1%} ({count:,})", va="center", fontsize=8)
        ax.set_xlim(0, max(shares.max() * 100 * 1.3, 1))
        ax.set_xlabel("share of tiles (%)")
        ax.set_title(f"Cluster shares ({len(labels):,} tiles)")
    return fig


def draw_cluster_shares(
    table_path: str | Path, outputs: Sequence[str | Path], n_clusters: int, palette: str, dpi: int
) -> None:
    """Count tiles per cluster, draw the bar chart and save it."""
    table = read_parquet_columns(table_path, [CLUSTER], [CLUSTER_NAME])
    labels = check_labels(table[CLUSTER].to_numpy(), n_clusters, str(table_path))
    fig = plot_cluster_shares(
        labels, cluster_names(table, n_clusters), cluster_colors(n_clusters, palette)
    )
    save_figure(fig, outputs, dpi)
