"""Figure: agreement between DeepCluster seeds (NMI and ARI) against k, one line per scale.

Read from seed_agreement.csv (``satcluster.study.comparison.seed_agreement`` with the scale
of every row). A line is the mean over the pairs of seeds; with more than two seeds (several
pairs) a band shows their minimum and maximum.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from satcluster.figures.common import new_figure, save_figure, style
from satcluster.tables import read_table

__all__ = ["COLUMNS", "METRICS", "draw_seed_agreement", "plot_seed_agreement", "summarise"]

COLUMNS = ["scale", "k", "seed_a", "seed_b", "nmi", "ari"]
METRICS = {"nmi": "NMI", "ari": "ARI"}


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Per (scale, k): pairs, and mean, min and max of every metric (``nmi_mean``, ...)."""
    grouped = table.groupby(["scale", "k"], sort=True)
    summary = grouped[list(METRICS)].agg(["mean", "min", "max"])
    summary.columns = [f"{metric}_{stat}" for metric, stat in summary.columns]
    summary["pairs"] = grouped.size()
    return summary.reset_index()


def plot_seed_agreement(table: pd.DataFrame) -> Figure:
    """NMI and ARI panels against k; a line per scale (mean), a band (min-max) if > 1 pair."""
    summary = summarise(table)
    with style():
        fig = new_figure(8, 3.4)
        if summary.empty:
            ax = fig.add_subplot()
            ax.axis("off")
            ax.text(
                0.5,
                0.5,
                "Agreement between seeds needs at least two seeds in the study.",
                ha="center",
                va="center",
                transform=ax.transAxes,
            )
            return fig
        axes = fig.subplots(1, 2, sharex=True)
        for ax, (metric, name) in zip(axes, METRICS.items(), strict=True):
            for scale, rows in summary.groupby("scale", sort=True):
                (line,) = ax.plot(rows["k"], rows[f"{metric}_mean"], marker="o", label=str(scale))
                if (rows["pairs"] > 1).any():
                    ax.fill_between(
                        rows["k"],
                        rows[f"{metric}_min"],
                        rows[f"{metric}_max"],
                        color=line.get_color(),
                        alpha=0.2,
                        linewidth=0,
                    )
            ax.set_xticks(sorted(summary["k"].unique()))
            ax.set_xlabel("k")
            ax.set_ylabel(f"{name} between seeds")
            ax.set_ylim(top=1.02)
            ax.set_title(name)
        axes[0].legend(title="scale")
        bands = " (band: min-max over pairs)" if (summary["pairs"] > 1).any() else ""
        fig.suptitle(f"Agreement of the clusters between seeds, mean over seed pairs{bands}")
    return fig


def draw_seed_agreement(table_path: str | Path, outputs: Sequence[str | Path], dpi: int) -> None:
    """Read seed_agreement.csv, draw both panels and save them."""
    fig = plot_seed_agreement(read_table(table_path, COLUMNS, "seed agreement table"))
    save_figure(fig, outputs, dpi)
