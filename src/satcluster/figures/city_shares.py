"""Figure: share of every city's tiles in each cluster, one stacked bar per city.

In a study the clusters of one (scale, seed) are fitted on the pooled tiles of all cities, so
cluster i (colour i) is the same in every bar. Read from city_shares.csv
(``satcluster.study.comparison.city_shares`` with the scale and seed of every row).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from satcluster.columns import CITY, CLUSTER
from satcluster.errors import InputError
from satcluster.figures.common import new_figure, save_figure, style
from satcluster.figures.palette import cluster_colors
from satcluster.tables import check_labels, read_table

__all__ = ["COLUMNS", "draw_city_shares", "plot_city_shares", "select_shares"]

COLUMNS = ["scale", "seed", "k", CITY, CLUSTER, "share"]
MIN_LABELLED_SHARE = 0.06  # segments at least this wide get their cluster id written in


def _values(table: pd.DataFrame, column: str) -> str:
    return ", ".join(str(v) for v in sorted(table[column].unique()))


def select_shares(
    table: pd.DataFrame, k: int, scale: int | str, seed: int | str, where: str
) -> pd.DataFrame:
    """Rows of ``table`` at (scale, seed, k); InputError listing what the table holds if none.

    Scale and seed are compared as text, so 256 matches a column read as "256" or 256.
    """
    rows = table[
        (table["scale"].astype(str) == str(scale))
        & (table["seed"].astype(str) == str(seed))
        & (table["k"] == int(k))
    ]
    if rows.empty:
        raise InputError(
            f"{where} has no shares for scale {scale}, seed {seed}, k = {k}; it holds scales "
            f"{_values(table, 'scale')}, seeds {_values(table, 'seed')} and k "
            f"{_values(table, 'k')}: draw one of those, or rerun the study's comparison with "
            "the current config."
        )
    check_labels(rows[CLUSTER].to_numpy(), int(k), f"{where} column cluster")
    return rows


def plot_city_shares(
    shares: pd.DataFrame, n_clusters: int, colors: Sequence[str], title: str
) -> Figure:
    """Stacked horizontal bars (``shares``: city, cluster, share), first city on top."""
    table = (
        shares.pivot_table(index=CITY, columns=CLUSTER, values="share", aggfunc="sum")
        .reindex(columns=range(n_clusters))
        .fillna(0.0)
    )
    cities = [str(c) for c in table.index]
    with style():
        fig = new_figure(7, 0.4 * len(cities) + 1.6)
        ax = fig.add_subplot()
        left = np.zeros(len(cities))
        for cluster in range(n_clusters):
            widths = table[cluster].to_numpy()
            ax.barh(
                range(len(cities)),
                widths * 100,
                left=left * 100,
                color=colors[cluster],
                edgecolor="black",
                linewidth=0.4,
                label=str(cluster),
            )
            for i in np.flatnonzero(widths >= MIN_LABELLED_SHARE):
                x = (left[i] + widths[i] / 2) * 100
                ax.text(x, i, str(cluster), ha="center", va="center", fontsize=7)
            left += widths
        ax.set_yticks(range(len(cities)), labels=cities)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("share of the city's tiles (%)")
        ax.set_title(title)
        fig.legend(loc="outside right upper", title="cluster", ncols=1 if n_clusters <= 12 else 2)
    return fig


def draw_city_shares(
    table_path: str | Path,
    outputs: Sequence[str | Path],
    k: int,
    scale: int | str,
    seed: int | str,
    palette: str,
    dpi: int,
) -> None:
    """Read city_shares.csv, draw the bars of (scale, seed, k) and save them."""
    table = read_table(table_path, COLUMNS, "city shares table")
    rows = select_shares(table, k, scale, seed, str(table_path))
    title = f"Cluster shares per city (scale {scale}, seed {seed}, k = {k})"
    fig = plot_city_shares(rows, int(k), cluster_colors(int(k), palette), title)
    save_figure(fig, outputs, dpi)
