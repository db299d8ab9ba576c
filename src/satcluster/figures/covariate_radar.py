"""Figure: radar (polar bar) charts of quantile-transformed covariate medians per cluster.

As in the paper, each covariate is quantile-transformed across all tiles
(its empirical CDF: 0 = lowest tile, 1 = highest) and the median per cluster
is drawn as one bar. Building orientation is undefined for tiles without
buildings; a cluster with none gets "N.A." instead of a bar.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from satcluster.figures.common import (
    COVARIATES,
    clean_orientation,
    cluster_label,
    cluster_names,
    cluster_shares,
    new_figure,
    read_cluster_covariates,
    save_figure,
    style,
)
from satcluster.figures.palette import cluster_colors

__all__ = [
    "draw_covariate_radar",
    "plot_covariate_radar",
    "quantile_medians",
    "quantile_transform",
]


def quantile_transform(covariates: pd.DataFrame) -> pd.DataFrame:
    """Each column mapped to its empirical CDF in (0, 1]; ties share their mean rank, NaN stays."""
    return covariates.rank(pct=True, method="average")


def quantile_medians(covariates: pd.DataFrame, labels: np.ndarray, n_clusters: int) -> pd.DataFrame:
    """Median quantile of every covariate (columns) per cluster id (rows 0..n_clusters-1)."""
    quantiles = quantile_transform(clean_orientation(covariates))
    medians = quantiles.groupby(labels).median()
    return medians.reindex(range(n_clusters))


def plot_covariate_radar(
    medians: pd.DataFrame, names: Sequence[str], colors: Sequence[str], shares: Sequence[float]
) -> Figure:
    """One polar bar chart per cluster; bars are covariate median quantiles (0-1)."""
    n_clusters, n_vars = medians.shape
    cols = min(n_clusters, 4)
    rows = math.ceil(n_clusters / cols)
    angles = np.linspace(0, 2 * np.pi, n_vars, endpoint=False)
    width = 2 * np.pi / n_vars * 0.85
    short = [COVARIATES[c][0] for c in medians.columns]
    with style():
        fig = new_figure(2.6 * cols, 2.9 * rows + 0.5)
        for cluster in range(n_clusters):
            ax = fig.add_subplot(rows, cols, cluster + 1, projection="polar")
            values = medians.iloc[cluster].to_numpy(dtype=float)
            defined = ~np.isnan(values)
            ax.bar(
                angles[defined],
                values[defined],
                width=width,
                color=colors[cluster],
                edgecolor="black",
                linewidth=0.4,
            )
            if shares[cluster] == 0:
                ax.text(0, 0, "no tiles", ha="center", va="center", color="0.3")
            else:
                for angle in angles[~defined]:
                    ax.text(angle, 0.5, "N.A.", ha="center", va="center", fontsize=7, color="0.3")
            ax.set_ylim(0, 1)
            ax.set_yticks([0.25, 0.5, 0.75, 1.0], labels=["", "0.5", "", ""], fontsize=6)
            ax.set_rlabel_position(180 / n_vars)  # between the first two bars
            ax.set_xticks(angles, labels=short, fontsize=6.5)
            ax.tick_params(axis="x", pad=-1)
            ax.set_theta_zero_location("N")
            ax.set_theta_direction(-1)
            # Wrapped: long derived names ("dense buildings, low NDVI, oriented 25 deg")
            # would otherwise run into the next panel or off the figure.
            label = textwrap.fill(cluster_label(cluster, names[cluster]), width=30)
            title = f"{label}\n{shares[cluster]:.0%} of tiles"
            ax.set_title(title, fontsize=8, color="black", pad=12)
        fig.suptitle("Covariate medians per cluster (quantiles across all tiles)")
    return fig


def draw_covariate_radar(
    table_path: str | Path, outputs: Sequence[str | Path], n_clusters: int, palette: str, dpi: int
) -> None:
    """Read the covariates, compute per-cluster quantile medians, draw and save them."""
    table, variables, labels = read_cluster_covariates(table_path, n_clusters)
    medians = quantile_medians(table[variables], labels, n_clusters)
    fig = plot_covariate_radar(
        medians,
        cluster_names(table, n_clusters),
        cluster_colors(n_clusters, palette),
        cluster_shares(labels, n_clusters),
    )
    save_figure(fig, outputs, dpi)
