"""Figure: a grid of example tiles for every cluster (a deterministic random sample)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from satcluster.columns import TILE_ID
from satcluster.figures.common import (
    cluster_label,
    cluster_names,
    load_tile_array,
    new_figure,
    read_cluster_labels,
    save_figure,
    style,
)
from satcluster.figures.palette import cluster_colors

__all__ = ["draw_example_tiles", "plot_example_tiles", "sample_examples", "tile_mosaic"]

# Tiles are shrunk to this side before composing: ~100 px per tile is what print shows.
MAX_TILE_PX = 128
SAMPLE_SEED = 0


def sample_examples(
    tile_ids: np.ndarray, labels: np.ndarray, n_clusters: int, per_cluster: int
) -> list[np.ndarray]:
    """Up to ``per_cluster`` tile ids of every cluster, sorted; the same for the same input."""
    order = np.argsort(tile_ids, kind="stable")
    tile_ids, labels = tile_ids[order], labels[order]
    rng = np.random.default_rng(SAMPLE_SEED)
    samples = []
    for cluster in range(n_clusters):
        members = tile_ids[labels == cluster]
        if len(members) > per_cluster:
            members = rng.choice(members, per_cluster, replace=False)
        samples.append(np.sort(members))
    return samples


def tile_mosaic(tiles: np.ndarray, tile_ids: np.ndarray, cols: int, gap_px: int = 2) -> np.ndarray:
    """RGB image of ``tiles[tile_ids]`` in rows of ``cols``, white gaps between tiles."""
    size_px = min(tiles.shape[1], MAX_TILE_PX)
    rows = max(math.ceil(len(tile_ids) / cols), 1)
    step = size_px + gap_px
    mosaic = np.full((rows * step - gap_px, cols * step - gap_px, 3), 255, dtype=np.uint8)
    for i, tile in enumerate(tiles[np.sort(tile_ids)] if len(tile_ids) else []):
        if tile.shape[0] != size_px:
            tile = np.asarray(
                Image.fromarray(tile).resize((size_px, size_px), Image.Resampling.BOX)
            )
        r, c = divmod(i, cols)
        mosaic[r * step : r * step + size_px, c * step : c * step + size_px] = tile
    return mosaic


def plot_example_tiles(
    mosaics: Sequence[np.ndarray | None],
    names: Sequence[str],
    colors: Sequence[str],
    counts: Sequence[int],
) -> Figure:
    """One panel per cluster (two columns of panels when there are many clusters)."""
    n_clusters = len(names)
    panel_cols = 1 if n_clusters <= 3 else 2
    panel_rows = math.ceil(n_clusters / panel_cols)
    shapes = [m.shape for m in mosaics if m is not None]
    aspect = max((h / w for h, w, _ in shapes), default=0.4)
    width = 10.0
    height = panel_rows * (width / panel_cols * aspect + 0.35) + 0.4
    with style():
        fig = new_figure(width, height)
        axes = fig.subplots(panel_rows, panel_cols, squeeze=False).ravel()
        for cluster, ax in enumerate(axes):
            if cluster >= n_clusters:
                fig.delaxes(ax)
                continue
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(True)
                spine.set_edgecolor(colors[cluster])
                spine.set_linewidth(4)
            title = f"{cluster_label(cluster, names[cluster])} ({counts[cluster]:,} tiles)"
            ax.set_title(title, loc="left", fontweight="bold")
            if mosaics[cluster] is None:
                ax.text(0.5, 0.5, "no tiles", ha="center", va="center", transform=ax.transAxes)
            else:
                ax.imshow(mosaics[cluster], interpolation="antialiased")
        fig.suptitle("Example tiles per cluster (random sample)")
    return fig


def draw_example_tiles(
    table_path: str | Path,
    tiles_path: str | Path,
    outputs: Sequence[str | Path],
    n_clusters: int,
    per_cluster: int,
    palette: str,
    dpi: int,
) -> None:
    """Sample tiles per cluster from tiles.npy, draw the grid and save it to ``outputs``."""
    table, labels = read_cluster_labels(table_path, n_clusters)
    tile_ids = table[TILE_ID].to_numpy(np.int64)
    tiles = load_tile_array(tiles_path, tile_ids, table_path)
    samples = sample_examples(tile_ids, labels, n_clusters, per_cluster)
    cols = min(per_cluster, 10)
    mosaics = [tile_mosaic(tiles, ids, cols) if len(ids) else None for ids in samples]
    counts = np.bincount(labels, minlength=n_clusters)
    fig = plot_example_tiles(
        mosaics, cluster_names(table, n_clusters), cluster_colors(n_clusters, palette), counts
    )
    save_figure(fig, outputs, dpi)
