"""Figure: tiles on the first two principal components of the embedding, coloured by cluster."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from sklearn.decomposition import PCA

from satcluster.columns import TILE_ID
from satcluster.figures.common import (
    cluster_label,
    cluster_names,
    load_embedding_rows,
    new_figure,
    read_cluster_labels,
    save_figure,
    style,
)
from satcluster.figures.palette import cluster_colors

__all__ = ["draw_embedding_pca", "plot_embedding_pca", "principal_components"]

# PCA is fitted on at most this many tiles (a fixed sample) and applied to all.
FIT_MAX_TILES = 100_000
SEED = 0


def principal_components(embedding: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(PC1, PC2) of every row and the explained variance ratio of both."""
    fit_rows = embedding
    if len(embedding) > FIT_MAX_TILES:
        rng = np.random.default_rng(SEED)
        fit_rows = embedding[np.sort(rng.choice(len(embedding), FIT_MAX_TILES, replace=False))]
    pca = PCA(n_components=2, random_state=SEED).fit(fit_rows)
    return pca.transform(embedding), pca.explained_variance_ratio_


def plot_embedding_pca(
    coords: np.ndarray,
    labels: np.ndarray,
    names: Sequence[str],
    colors: Sequence[str],
    explained: Sequence[float],
) -> Figure:
    """Scatter of PC1/PC2, points in random order so no cluster hides the others."""
    order = np.random.default_rng(SEED).permutation(len(labels))
    size = float(np.clip(30_000 / max(len(labels), 1), 0.3, 12))
    with style():
        fig = new_figure(7.5, 5.5)
        ax = fig.add_subplot()
        ax.scatter(
            coords[order, 0],
            coords[order, 1],
            c=np.asarray(colors, dtype=object)[labels[order]].tolist(),
            s=size,
            linewidths=0,
            alpha=0.8,
            rasterized=True,
        )
        ax.set_xlabel(f"PC1 ({explained[0]:.0%} of variance)")
        ax.set_ylabel(f"PC2 ({explained[1]:.0%} of variance)")
        handles = [
            Line2D(
                [], [], marker="o", linestyle="", color=colors[i], label=cluster_label(i, names[i])
            )
            for i in range(len(names))
        ]
        fig.legend(handles=handles, loc="outside right center", title="cluster")
        ax.set_title(f"Embedding of {len(labels):,} tiles on its first two principal components")
    return fig


def draw_embedding_pca(
    table_path: str | Path,
    embedding_path: str | Path,
    outputs: Sequence[str | Path],
    n_clusters: int,
    palette: str,
    dpi: int,
) -> None:
    """Project the embedding on PC1/PC2, draw the scatter and save it."""
    table, labels = read_cluster_labels(table_path, n_clusters)
    embedding = load_embedding_rows(embedding_path, table[TILE_ID].to_numpy(np.int64))
    coords, explained = principal_components(embedding)
    fig = plot_embedding_pca(
        coords,
        labels,
        cluster_names(table, n_clusters),
        cluster_colors(n_clusters, palette),
        explained,
    )
    save_figure(fig, outputs, dpi)
