"""Figure: how sure the seeds are of each consensus cluster (mean tile confidence, low share).

A tile's confidence (column ``cluster_confidence`` of the cluster table, 0..1) is the share of
DeepCluster seeds that agree with its consensus cluster at the final k
(satcluster.clustering.consensus_clusters). The table has it only with several seeds and
``clusters.consensus`` on. Tiles below ``figures.low_confidence`` are "low-confidence": the
maps fade them and this figure counts them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from satcluster.clustering.cluster_means import cluster_means
from satcluster.columns import CLUSTER, CLUSTER_CONFIDENCE, CLUSTER_NAME
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
from satcluster.tables import check_labels

__all__ = [
    "LOW_CONFIDENCE",
    "confidence_summary",
    "draw_cluster_confidence",
    "faded_caption",
    "low_confidence_tiles",
    "plot_cluster_confidence",
    "read_confidence",
]

LOW_CONFIDENCE = 0.75  # the default of `figures.low_confidence`


def low_confidence_tiles(confidence: np.ndarray, threshold: float) -> np.ndarray:
    """Boolean mask of tiles with confidence below ``threshold`` (NaN: unknown, not low)."""
    confidence = np.asarray(confidence, dtype=float)
    return ~np.isnan(confidence) & (confidence < threshold)


def faded_caption(threshold: float) -> str:
    """'faded: fewer than 75% of seeds agree', the maps' explanation of a faded tile."""
    return f"faded: fewer than {100 * threshold:g}% of seeds agree"


def confidence_summary(
    labels: np.ndarray, confidence: np.ndarray, n_clusters: int, threshold: float
) -> pd.DataFrame:
    """Per cluster id: ``tiles``, ``mean_confidence`` (0..1) and ``low_share`` (0..1).

    ``mean_confidence`` is NaN for a cluster without a rated tile; ``low_share`` is the
    fraction of the cluster's tiles whose confidence is below ``threshold``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    confidence = np.asarray(confidence, dtype=float)
    tiles = np.bincount(labels, minlength=n_clusters)
    low = np.bincount(
        labels, weights=low_confidence_tiles(confidence, threshold), minlength=n_clusters
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        low_share = np.where(tiles > 0, low / tiles, 0.0)
    return pd.DataFrame(
        {
            CLUSTER: np.arange(n_clusters),
            "tiles": tiles,
            "mean_confidence": cluster_means(labels, confidence, n_clusters),
            "low_share": low_share,
        }
    )


def plot_cluster_confidence(
    labels: np.ndarray,
    confidence: np.ndarray,
    names: Sequence[str],
    colors: Sequence[str],
    threshold: float = LOW_CONFIDENCE,
) -> Figure:
    """Two panels of horizontal bars, cluster 0 on top: mean confidence (%) and share of
    low-confidence tiles (%) per cluster, each with the city's value as a dotted line."""
    n_clusters = len(names)
    confidence = np.asarray(confidence, dtype=float)
    summary = confidence_summary(labels, confidence, n_clusters, threshold)
    with style():
        fig = new_figure(9, 0.35 * n_clusters + 1.6)
        left, right = fig.subplots(1, 2, sharey=True)
        _mean_panel(left, summary, confidence, colors, threshold)
        _low_panel(right, summary, low_confidence_tiles(confidence, threshold), colors, threshold)
        left.set_yticks(
            range(n_clusters), labels=[cluster_label(i, names[i]) for i in range(n_clusters)]
        )
        left.invert_yaxis()
        handles = [h for ax in (left, right) for h in ax.get_legend_handles_labels()[0]]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))
        fig.suptitle(
            f"Agreement of the seeds per consensus cluster ({len(confidence):,} tiles; "
            f"low-confidence: fewer than {100 * threshold:g}% of seeds agree)"
        )
    return fig


def _bars(ax: Axes, values: np.ndarray, colors: Sequence[str]) -> None:
    """One horizontal bar per cluster in its colour (bar i at y = i)."""
    ax.barh(range(len(values)), values, color=colors, edgecolor="black", linewidth=0.4)


def _mean_panel(
    ax: Axes,
    summary: pd.DataFrame,
    confidence: np.ndarray,
    colors: Sequence[str],
    threshold: float,
) -> None:
    """Mean confidence per cluster (%), the threshold (dashed) and the city's mean (dotted)."""
    means = summary["mean_confidence"].to_numpy() * 100
    _bars(ax, np.nan_to_num(means), colors)  # a cluster without tiles: no bar, "N.A."
    for i, value in enumerate(means):
        text = " N.A." if np.isnan(value) else f" {value:.0f}%"
        ax.text(np.nan_to_num(value), i, text, va="center", fontsize=8)
    label = f"threshold ({100 * threshold:g}%, figures.low_confidence)"
    ax.axvline(100 * threshold, color="black", linestyle="--", linewidth=0.8, label=label)
    if np.isfinite(confidence).any():
        mean = 100 * float(np.nanmean(confidence))
        ax.axvline(
            mean, color="0.4", linestyle=":", linewidth=1, label=f"all tiles: mean {mean:.0f}%"
        )
    ax.set_xlim(0, 115)  # room for the labels of bars at 100%
    ax.set_xlabel("mean confidence (% of seeds that agree)")


def _low_panel(
    ax: Axes, summary: pd.DataFrame, low: np.ndarray, colors: Sequence[str], threshold: float
) -> None:
    """Share of each cluster's tiles below the threshold (%, with counts), the city's dotted."""
    shares = summary["low_share"].to_numpy() * 100
    _bars(ax, shares, colors)
    counts = np.rint(summary["low_share"] * summary["tiles"]).astype(int)
    for i, (share, count) in enumerate(zip(shares, counts, strict=True)):
        ax.text(share, i, f" {share:.1f}% ({count:,})", va="center", fontsize=8)
    city = 100 * float(low.mean()) if len(low) else 0.0
    ax.axvline(city, color="0.4", linestyle=":", linewidth=1, label=f"all tiles: {city:.1f}% low")
    ax.set_xlim(0, max(shares.max() * 1.35, city * 1.2, 1))
    ax.set_xlabel("low-confidence tiles (%)")


def read_confidence(table_path: str | Path, n_clusters: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Cluster table with ``cluster_confidence`` and checked labels; InputError without it."""
    columns = available_columns(table_path, [CLUSTER], [CLUSTER_NAME, CLUSTER_CONFIDENCE])
    if CLUSTER_CONFIDENCE not in columns:
        raise InputError(
            f"{table_path} has no column {CLUSTER_CONFIDENCE}: the confidence figure needs "
            "several seeds (`deepcluster.seeds`, two or more) with `clusters.consensus` on; "
            "set them and rerun, or leave this figure out."
        )
    table = pd.read_parquet(table_path, columns=columns)
    return table, check_labels(table[CLUSTER].to_numpy(), n_clusters, str(table_path))


def draw_cluster_confidence(
    table_path: str | Path,
    outputs: Sequence[str | Path],
    n_clusters: int,
    palette: str,
    dpi: int,
    low_confidence: float = LOW_CONFIDENCE,
) -> None:
    """Read the cluster table's confidence, draw both panels and save them."""
    table, labels = read_confidence(table_path, n_clusters)
    fig = plot_cluster_confidence(
        labels,
        table[CLUSTER_CONFIDENCE].to_numpy(float),
        cluster_names(table, n_clusters),
        cluster_colors(n_clusters, palette),
        low_confidence,
    )
    save_figure(fig, outputs, dpi)
