"""Figure: Sankey diagram of fine tiles flowing from their clusters to their coarse tile's.

The flows are ``satcluster.study.comparison.scale_flows`` (fine tiles counted by fine cluster and
the cluster of the coarse tile holding them, one k). Ids of the two scales come from
different models and mean nothing to each other: fine nodes take their cluster's colour,
coarse nodes the colour of the fine cluster sending them most tiles. Drawn like the cluster
Sankey (``cluster_sankey.draw_ausankey``: ausankey with batched flows).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from satcluster.errors import InputError
from satcluster.figures.cluster_sankey import SANKEY_STYLE, draw_ausankey
from satcluster.figures.common import new_figure, save_figure, style
from satcluster.figures.palette import cluster_colors
from satcluster.tables import check_labels, require_columns

__all__ = [
    "FLOW_COLUMNS",
    "check_flows",
    "draw_scale_sankey",
    "node_colors",
    "plot_scale_sankey",
    "sankey_data",
]

FLOW_COLUMNS = ["fine", "coarse", "n_tiles"]
STAGES = ("fine", "coarse")


def node_name(stage: str, cluster: int) -> str:
    """Node key, unique across the two stages (ausankey identifies nodes by label)."""
    return f"{stage}:{cluster}"


def check_flows(flows: pd.DataFrame, k: int) -> pd.DataFrame:
    """The flows with tiles, ids checked to lie in 0..k-1; InputError otherwise."""
    require_columns(flows, FLOW_COLUMNS, "scale flows", message="{source} lack column(s) {missing}")
    if (flows["n_tiles"] < 0).any():
        raise InputError("scale flows have negative tile counts.")
    for stage in STAGES:
        check_labels(flows[stage].to_numpy(), k, f"scale flows column {stage}")
    return flows[flows["n_tiles"] > 0].astype(np.int64)


def sankey_data(flows: pd.DataFrame) -> pd.DataFrame:
    """ausankey input: per flow, (node, tiles) of the fine and of the coarse stage."""
    flows = flows.sort_values(["fine", "coarse"])
    data = {}
    for stage in STAGES:
        data[f"node_{stage}"] = [node_name(stage, c) for c in flows[stage]]
        data[f"tiles_{stage}"] = flows["n_tiles"].to_numpy()
    return pd.DataFrame(data)


def node_colors(flows: pd.DataFrame, colors: Sequence[str]) -> dict[str, str]:
    """Fine node i: colour i; coarse node: colour of the fine cluster sending it most tiles."""
    node_color = {node_name("fine", c): colors[int(c)] for c in flows["fine"].unique()}
    ranked = flows.sort_values(["coarse", "n_tiles", "fine"], ascending=[True, False, True])
    for coarse, fine in ranked.drop_duplicates("coarse")[["coarse", "fine"]].to_numpy():
        node_color[node_name("coarse", coarse)] = colors[int(fine)]
    return node_color


def _no_flows(fig: Figure) -> Figure:
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(
        0.5,
        0.5,
        "No fine tile lies in a coarse tile: nothing to draw.",
        ha="center",
        va="center",
        transform=ax.transAxes,
    )
    return fig


def plot_scale_sankey(
    flows: pd.DataFrame, fine_label: str, coarse_label: str, k: int, colors: Sequence[str]
) -> Figure:
    """Two-stage Sankey of fine tiles: fine clusters (left) to coarse clusters (right)."""
    flows = check_flows(flows, k)
    with style():
        fig = new_figure(8, 6.5)
        if flows.empty:
            return _no_flows(fig)
        ax = fig.add_subplot()
        sky = draw_ausankey(
            ax,
            sankey_data(flows),
            color_dict=node_colors(flows, colors),
            label_dict={node_name(s, c): str(c) for s in STAGES for c in range(k)},
            **SANKEY_STYLE,
            sort_dict={node_name(s, c): -c for s in STAGES for c in range(k)},  # id 0 on top
            titles=[fine_label, coarse_label],
            title_loc="outer",
            title_font={"fontweight": "bold", "fontsize": 9},
            value_loc="none",
        )
        ax.set_xticks(sky.xticks, labels=sky.titles)
        present = sorted(flows["fine"].unique())
        handles = [Patch(color=colors[i], label=f"cluster {i}") for i in present]
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncols=min(len(present), 4),
            title=f"colour: cluster at {fine_label} (coarse nodes: the one sending most tiles)",
        )
        n_tiles = int(flows["n_tiles"].sum())
        fig.suptitle(
            f"Fine tiles from {fine_label} to {coarse_label} clusters "
            f"(k = {k}, {n_tiles:,} tiles; node labels are cluster ids)"
        )
    return fig


def draw_scale_sankey(
    flows: pd.DataFrame,
    outputs: Sequence[str | Path],
    fine_label: str,
    coarse_label: str,
    k: int,
    palette: str,
    dpi: int,
) -> None:
    """Draw the Sankey of ``flows`` (columns fine, coarse, n_tiles) and save it."""
    fig = plot_scale_sankey(flows, fine_label, coarse_label, k, cluster_colors(k, palette))
    save_figure(fig, outputs, dpi)
