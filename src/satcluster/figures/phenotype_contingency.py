"""Figure (demo city only): clusters against the planted phenotypes, with NMI and ARI.

The truth of a tile is the planted district covering most of it
(satcluster.demo.evaluate_phenotypes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from satcluster.clustering.agreement import NO_TRUTH, agreement
from satcluster.columns import CLUSTER, CLUSTER_NAME
from satcluster.demo.evaluate_phenotypes import truth_per_tile
from satcluster.errors import InputError
from satcluster.figures.common import (
    available_columns,
    cluster_label,
    cluster_names,
    new_figure,
    save_figure,
    style,
)
from satcluster.figures.palette import cluster_colors
from satcluster.io import require_file
from satcluster.tables import check_labels

__all__ = ["draw_phenotype_contingency", "phenotype_names", "plot_phenotype_contingency"]


def phenotype_names(truth: gpd.GeoDataFrame) -> dict[int, str]:
    """Phenotype id -> name from the truth file (the id when it has no names)."""
    if "phenotype_name" not in truth:
        return {int(p): str(p) for p in truth["phenotype"].unique()}
    pairs = truth[["phenotype", "phenotype_name"]].drop_duplicates("phenotype")
    return {
        int(p): f"{int(p)} · {n}"
        for p, n in zip(pairs["phenotype"], pairs["phenotype_name"], strict=True)
    }


def plot_phenotype_contingency(
    clusters: np.ndarray,
    phenotypes: np.ndarray,
    names: Sequence[str],
    colors: Sequence[str],
    phenotype_labels: dict[int, str],
) -> Figure:
    """Row-normalised contingency heatmap (cluster x phenotype) with tile counts in the cells."""
    n_clusters = len(names)
    phenotype_ids = sorted(phenotype_labels)
    table = pd.crosstab(
        pd.Categorical(clusters, range(n_clusters)),
        pd.Categorical(phenotypes, phenotype_ids),
        dropna=False,
    )
    counts = table.to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        fractions = counts / counts.sum(axis=1, keepdims=True)
    scores = agreement(clusters, phenotypes)
    with style():
        fig = new_figure(0.6 * len(phenotype_ids) + 4.5, 0.45 * n_clusters + 2.6)
        ax = fig.add_subplot()
        image = ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        for (i, j), count in np.ndenumerate(counts):
            if count:
                color = "white" if fractions[i, j] > 0.6 else "black"
                ax.text(j, i, f"{count}", ha="center", va="center", fontsize=7, color=color)
        ax.set_xticks(
            range(len(phenotype_ids)),
            labels=[phenotype_labels[p] for p in phenotype_ids],
            rotation=35,
            ha="right",
        )
        ax.set_yticks(
            range(n_clusters), labels=[cluster_label(i, names[i]) for i in range(n_clusters)]
        )
        for tick, color in zip(ax.get_yticklabels(), colors, strict=True):
            tick.set_color(color)
            tick.set_fontweight("bold")
        ax.set_xlabel("planted phenotype (demo truth)")
        ax.set_ylabel("cluster")
        fig.colorbar(image, ax=ax, label="share of the cluster's tiles")
        ax.set_title(
            f"Clusters vs planted phenotypes: NMI = {scores['nmi']:.3f}, ARI = {scores['ari']:.3f}"
        )
    return fig


def draw_phenotype_contingency(
    table_path: str | Path,
    truth_path: str | Path,
    outputs: Sequence[str | Path],
    n_clusters: int,
    palette: str,
    dpi: int,
) -> None:
    """Join tiles to the demo truth, draw the contingency heatmap and save it."""
    columns = available_columns(table_path, [CLUSTER, "geometry"], [CLUSTER_NAME])
    tiles = gpd.read_parquet(table_path, columns=columns)
    truth = gpd.read_file(require_file(truth_path, "demo truth"))
    if "phenotype" not in truth:
        raise InputError(f"{truth_path} has no `phenotype` column; rerun the demo stage.")
    labels = check_labels(tiles[CLUSTER].to_numpy(), n_clusters, str(table_path))
    phenotypes = truth_per_tile(tiles.geometry, truth).to_numpy()
    inside = phenotypes != NO_TRUTH
    fig = plot_phenotype_contingency(
        labels[inside],
        phenotypes[inside],
        cluster_names(tiles, n_clusters),
        cluster_colors(n_clusters, palette),
        phenotype_names(truth),
    )
    save_figure(fig, outputs, dpi)
