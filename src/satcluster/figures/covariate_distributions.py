"""Figure: distribution of every covariate per cluster (box plots, one panel per covariate)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from satcluster.figures.common import (
    COVARIATES,
    clean_orientation,
    cluster_label,
    cluster_names,
    new_figure,
    read_cluster_covariates,
    save_figure,
    style,
)
from satcluster.figures.palette import cluster_colors

__all__ = ["draw_covariate_distributions", "plot_covariate_distributions"]

WHISKERS = (5, 95)  # percentiles; outliers are not drawn (they would be thousands of dots)


def plot_covariate_distributions(
    covariates: pd.DataFrame, labels: np.ndarray, names: Sequence[str], colors: Sequence[str]
) -> Figure:
    """One box-plot panel per covariate column; one box per cluster in its colour."""
    n_clusters = len(names)
    variables = list(covariates.columns)
    cols = min(len(variables), 3)
    rows = math.ceil(len(variables) / cols)
    with style():
        fig = new_figure(3.3 * cols, 2.3 * rows + 0.9)
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for ax, variable in zip(axes, variables, strict=False):
            values = covariates[variable].to_numpy(dtype=float)
            groups = [values[(labels == c) & ~np.isnan(values)] for c in range(n_clusters)]
            boxes = ax.boxplot(
                groups,
                positions=range(n_clusters),
                whis=WHISKERS,
                showfliers=False,
                patch_artist=True,
                widths=0.7,
                medianprops={"color": "black", "linewidth": 1},
            )
            for box, color in zip(boxes["boxes"], colors, strict=True):
                box.set_facecolor(color)
                box.set_linewidth(0.6)
            ax.set_xticks(range(n_clusters), labels=[str(c) for c in range(n_clusters)])
            ax.set_title(COVARIATES.get(variable, (variable, variable))[1])
            ax.set_xlabel("cluster")
        for ax in axes[len(variables) :]:
            fig.delaxes(ax)
        handles = [
            Patch(color=colors[i], label=cluster_label(i, names[i])) for i in range(n_clusters)
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=min(n_clusters, 4))
        fig.suptitle(
            "Covariates per cluster (box: quartiles, line: median, "
            f"whiskers: {WHISKERS[0]}th-{WHISKERS[1]}th percentile)"
        )
    return fig


def draw_covariate_distributions(
    table_path: str | Path, outputs: Sequence[str | Path], n_clusters: int, palette: str, dpi: int
) -> None:
    """Read the covariates present in the cluster table, draw their distributions and save."""
    table, variables, labels = read_cluster_covariates(table_path, n_clusters)
    fig = plot_covariate_distributions(
        clean_orientation(table[variables]),
        labels,
        cluster_names(table, n_clusters),
        cluster_colors(n_clusters, palette),
    )
    save_figure(fig, outputs, dpi)
