"""Figure: the city's tiles coloured by cluster, with names and shares in the legend."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba_array
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

from satcluster.columns import CLUSTER, CLUSTER_CONFIDENCE, CLUSTER_NAME
from satcluster.errors import InputError
from satcluster.figures.cluster_confidence import (
    LOW_CONFIDENCE,
    faded_caption,
    low_confidence_tiles,
)
from satcluster.figures.common import (
    available_columns,
    cluster_label,
    cluster_names,
    cluster_shares,
    new_figure,
    save_figure,
    style,
    tile_polygons,
)
from satcluster.figures.palette import cluster_colors
from satcluster.tables import check_labels

__all__ = ["FADED_ALPHA", "draw_cluster_map", "nice_length", "plot_cluster_map"]

FADED_ALPHA = 0.35  # opacity of low-confidence tiles: their colour stays recognisable


def nice_length(extent: float) -> float:
    """A round length (1, 2 or 5 x 10^n) near a quarter of ``extent``."""
    target = extent / 4
    power = 10 ** np.floor(np.log10(target))
    return float(max(m for m in (1, 2, 5) if m * power <= target) * power)


def _tile_colors(
    labels: np.ndarray,
    colors: Sequence[str],
    confidence: np.ndarray | None,
    low_confidence: float,
) -> list:
    """Fill colour of every tile: its cluster's, faded (RGBA) below ``low_confidence``."""
    facecolors = np.asarray(colors, dtype=object)[labels]
    if confidence is None:
        return list(facecolors)  # as before there was a confidence: the same PNG bytes
    rgba = to_rgba_array(list(facecolors))
    rgba[low_confidence_tiles(confidence, low_confidence), 3] = FADED_ALPHA
    return list(rgba)


def plot_cluster_map(
    geometry: gpd.GeoSeries,
    labels: np.ndarray,
    names: Sequence[str],
    colors: Sequence[str],
    confidence: np.ndarray | None = None,
    low_confidence: float = LOW_CONFIDENCE,
) -> Figure:
    """Tiles filled with their cluster's colour; legend '<id> · <name> (<share>)'.

    ``confidence``: share of seeds (0..1) agreeing with each tile's cluster, or None;
    tiles below ``low_confidence`` are drawn faded and a caption says so.
    """
    n_clusters = len(names)
    shares = cluster_shares(labels, n_clusters)
    minx, miny, maxx, maxy = geometry.total_bounds
    aspect = (maxy - miny) / max(maxx - minx, 1e-9)
    with style():
        fig = new_figure(7.5, min(max(5.0 * aspect, 2.5), 9.0) + 0.6)
        ax = fig.add_subplot()
        facecolors = _tile_colors(labels, colors, confidence, low_confidence)
        tiles = PolyCollection(tile_polygons(geometry), facecolors=facecolors, linewidths=0)
        tiles.set_rasterized(True)  # vector tiles would make a huge PDF for a real city
        ax.add_collection(tiles)
        ax.set_xlim(minx, maxx)
        ax.set_ylim(miny, maxy)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(True)
            spine.set_linewidth(0.5)
        if geometry.crs is None or geometry.crs.is_projected:
            length = nice_length(maxx - minx)
            text = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
            ax.add_artist(AnchoredSizeBar(ax.transData, length, text, "lower left", frameon=True))
        handles = [
            Patch(facecolor=colors[i], label=f"{cluster_label(i, names[i])} ({shares[i]:.0%})")
            for i in range(n_clusters)
        ]
        fig.legend(handles=handles, loc="outside right center", title="cluster (share)")
        ax.set_title(f"Tiles by cluster (k = {n_clusters}, {len(labels):,} tiles)")
        if confidence is not None:
            low = low_confidence_tiles(confidence, low_confidence)
            share = low.mean() if len(low) else 0.0
            ax.set_xlabel(f"{faded_caption(low_confidence)} ({share:.0%} of tiles)")
    return fig


def draw_cluster_map(
    table_path: str | Path,
    outputs: Sequence[str | Path],
    n_clusters: int,
    palette: str,
    dpi: int,
    low_confidence: float = LOW_CONFIDENCE,
) -> None:
    """Read the cluster GeoParquet, draw the map and save it to ``outputs``.

    Tiles whose ``cluster_confidence`` (when the table has it) is below ``low_confidence``
    are faded.
    """
    optional = [CLUSTER_NAME, CLUSTER_CONFIDENCE]
    columns = available_columns(table_path, [CLUSTER, "geometry"], optional)
    table = gpd.read_parquet(table_path, columns=columns)
    if table.empty:
        raise InputError(f"{table_path} has no tiles; check the tiling stage's log.")
    labels = check_labels(table[CLUSTER].to_numpy(), n_clusters, str(table_path))
    fig = plot_cluster_map(
        table.geometry,
        labels,
        cluster_names(table, n_clusters),
        cluster_colors(n_clusters, palette),
        table[CLUSTER_CONFIDENCE].to_numpy(float) if CLUSTER_CONFIDENCE in table else None,
        low_confidence,
    )
    save_figure(fig, outputs, dpi)
