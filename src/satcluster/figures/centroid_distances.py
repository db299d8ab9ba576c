"""Figure: distances between cluster centroids, and mean distance of tiles to their centroid.

Computed in the full embedding space (all PCA dimensions), not on PC1/PC2 as
the authors' script did.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from scipy import sparse
from scipy.spatial.distance import cdist

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

__all__ = ["centroid_distances", "draw_centroid_distances", "plot_centroid_distances"]

CHUNK_ROWS = 100_000  # bounds the memory of the per-tile distances


def centroid_distances(
    embedding: np.ndarray, labels: np.ndarray, n_clusters: int
) -> tuple[np.ndarray, np.ndarray]:
    """(k x k Euclidean distances between centroids, mean distance of members to their centroid).

    Empty clusters get NaN.
    """
    counts = np.bincount(labels, minlength=n_clusters).astype(np.float64)
    sums = np.zeros((n_clusters, embedding.shape[1]))
    for start in range(0, len(labels), CHUNK_ROWS):
        part = slice(start, start + CHUNK_ROWS)
        rows = labels[part]
        onehot = sparse.csr_matrix(
            (np.ones(len(rows)), (rows, np.arange(len(rows)))), shape=(n_clusters, len(rows))
        )
        sums += onehot @ np.asarray(embedding[part], dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        centroids = sums / counts[:, None]
    within_sum = np.zeros(n_clusters)
    for start in range(0, len(labels), CHUNK_ROWS):
        part = slice(start, start + CHUNK_ROWS)
        rows = labels[part]
        distance = np.linalg.norm(np.asarray(embedding[part], np.float64) - centroids[rows], axis=1)
        within_sum += np.bincount(rows, weights=distance, minlength=n_clusters)
    with np.errstate(invalid="ignore", divide="ignore"):
        within = within_sum / counts
    return cdist(centroids, centroids), within


def plot_centroid_distances(
    between: np.ndarray, within: np.ndarray, names: Sequence[str], colors: Sequence[str]
) -> Figure:
    """Heatmap of centroid distances with a bar chart of mean within-cluster distance beside it."""
    n_clusters = len(names)
    labels = [cluster_label(i, names[i]) for i in range(n_clusters)]
    side = min(max(0.45 * n_clusters + 2.5, 4.5), 9.0)
    with style():
        fig = new_figure(side + 2.5, side)
        heat_ax, bar_ax = fig.subplots(1, 2, width_ratios=[4, 1], sharey=True)
        image = heat_ax.imshow(between, cmap="viridis", vmin=0)
        if n_clusters <= 16:
            top = np.nanmax(between) if np.isfinite(between).any() else 1
            for (i, j), value in np.ndenumerate(between):
                text = "–" if np.isnan(value) else f"{value:.2f}"
                color = "white" if np.isnan(value) or value < 0.6 * top else "black"
                heat_ax.text(j, i, text, ha="center", va="center", fontsize=7, color=color)
        heat_ax.set_xticks(range(n_clusters), labels=[str(i) for i in range(n_clusters)])
        heat_ax.set_yticks(range(n_clusters), labels=labels)
        for tick, color in zip(heat_ax.get_yticklabels(), colors, strict=True):
            tick.set_color(color)
            tick.set_fontweight("bold")
        heat_ax.set_xlabel("cluster")
        heat_ax.set_title("distance between centroids")
        fig.colorbar(image, ax=heat_ax, location="bottom", shrink=0.6, label="Euclidean distance")
        bar_ax.barh(
            range(n_clusters), np.nan_to_num(within), color=colors, edgecolor="black", linewidth=0.4
        )
        bar_ax.set_xlabel("mean distance\nto own centroid")
        bar_ax.set_title("within cluster")
        bar_ax.tick_params(axis="y", left=False)
        fig.suptitle("Cluster centroids in the full embedding space")
    return fig


def draw_centroid_distances(
    table_path: str | Path,
    embedding_path: str | Path,
    outputs: Sequence[str | Path],
    n_clusters: int,
    palette: str,
    dpi: int,
) -> None:
    """Compute centroid and within-cluster distances, draw them and save the figure."""
    table, labels = read_cluster_labels(table_path, n_clusters)
    embedding = load_embedding_rows(embedding_path, table[TILE_ID].to_numpy(np.int64))
    between, within = centroid_distances(embedding, labels, n_clusters)
    fig = plot_centroid_distances(
        between, within, cluster_names(table, n_clusters), cluster_colors(n_clusters, palette)
    )
    save_figure(fig, outputs, dpi)
