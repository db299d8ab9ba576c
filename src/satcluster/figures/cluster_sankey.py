"""Figure: Sankey diagram of cluster membership across every k in ``clusters.ks``.

Drawn with ausankey (multi-stage, Matplotlib only). Nodes of the final k take
their cluster's colour; nodes of other k take the colour of the final cluster
that holds most of their tiles, so a colour means the same thing everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from ausankey.ausankey import Sankey
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from satcluster.columns import CLUSTER, CLUSTER_NAME, label_column
from satcluster.figures.common import (
    cluster_label,
    cluster_names,
    new_figure,
    read_parquet_columns,
    save_figure,
    style,
)
from satcluster.figures.palette import cluster_colors
from satcluster.tables import check_labels

__all__ = [
    "SANKEY_STYLE",
    "draw_ausankey",
    "draw_cluster_sankey",
    "flow_table",
    "node_colors",
    "plot_cluster_sankey",
]

# How every Sankey of the project looks (ausankey options): node ids in bold on the nodes.
SANKEY_STYLE = {
    "label_loc": "center",
    "label_font": {"fontweight": "bold"},
    "label_path_effects": {"linewidth": 2.5, "foreground": "white"},
    "label_thresh_ofsum": 0.01,
    "fontsize": 8,
    "node_gap": 0.02,
    "node_width": 0.03,
    "flow_alpha": 0.5,
    "sort": "top",
}


def node_name(k: int, cluster: int) -> str:
    """Node key, unique across stages (ausankey identifies nodes by label)."""
    return f"k{k}:{cluster}"


def flow_table(labels: pd.DataFrame, ks: Sequence[int]) -> pd.DataFrame:
    """ausankey input: one row per distinct path of labels, columns (node, tiles) per k."""
    columns = [label_column(k) for k in ks]
    paths = labels.groupby(columns, sort=True).size().reset_index(name="tiles")
    data = {}
    for k, column in zip(ks, columns, strict=True):
        data[f"node_k{k}"] = [node_name(k, c) for c in paths[column]]
        data[f"tiles_k{k}"] = paths["tiles"].to_numpy()
    return pd.DataFrame(data)


def node_colors(
    labels: pd.DataFrame, ks: Sequence[int], final_k: int, colors: Sequence[str]
) -> dict[str, str]:
    """Colour of every node: the colour of the final cluster holding most of its tiles."""
    final = labels[label_column(final_k)]
    node_color = {}
    for k in ks:
        dominant = final.groupby(labels[label_column(k)]).agg(lambda s: s.value_counts().idxmax())
        for cluster, final_cluster in dominant.items():
            node_color[node_name(k, cluster)] = colors[int(final_cluster)]
    return node_color


class _BatchedSankey(Sankey):
    """ausankey's Sankey, collecting the flow strips into one PolyCollection.

    ausankey draws every flow as ~60 gradient strips, each its own fill_between;
    thousands of artists made the figure take minutes. Same drawing, one artist.
    """

    def draw_flow(self, xx, yd, yu, col):
        if (yd[0] == yu[0]) or (yd[-1] == yu[-1]):
            return
        self.flow_polygons.append(np.column_stack([np.r_[xx, xx[::-1]], np.r_[yd, yu[::-1]]]))
        self.flow_colors.append(col)


def draw_ausankey(ax, data: pd.DataFrame, **options) -> Sankey:
    """What ``ausankey.sankey(data, ax=ax, **options)`` does, with batched flows."""
    ax.set_autoscale_on(False)  # autoscaling after each node patch is quadratic
    sky = _BatchedSankey(ax=ax, **options)
    sky.flow_polygons, sky.flow_colors = [], []
    sky.setup(data)
    sky.plot_init()
    sky.plot_frame()
    for flow in range(sky.num_flow):
        sky.subplot(flow)
    for flow in range(sky.num_flow):
        sky.plot_titles(flow)
    flows = PolyCollection(
        sky.flow_polygons, facecolors=sky.flow_colors, alpha=sky.flow_alpha, linewidths=0
    )
    flows.set_snap(True)  # as ausankey's strips: no hairline seams between them
    ax.add_collection(flows)
    ax.set_autoscale_on(True)
    ax.autoscale_view()
    return sky


def plot_cluster_sankey(
    labels: pd.DataFrame,
    ks: Sequence[int],
    final_k: int,
    names: Sequence[str],
    colors: Sequence[str],
) -> Figure:
    """Sankey of tiles flowing between the clusters of consecutive k (one column per k)."""
    ks = sorted(ks)
    data = flow_table(labels, ks)
    node_labels = {node_name(k, c): str(c) for k in ks for c in range(k)}
    with style():
        fig = new_figure(10, 6.5)
        ax = fig.add_subplot()
        if len(ks) < 2:
            ax.axis("off")
            ax.text(
                0.5,
                0.5,
                "A Sankey diagram needs at least two values in `clusters.ks`.",
                ha="center",
                va="center",
                transform=ax.transAxes,
            )
            return fig
        sky = draw_ausankey(
            ax,
            data,
            color_dict=node_colors(labels, ks, final_k, colors),
            label_dict=node_labels,
            **SANKEY_STYLE,
            sort_dict={node_name(k, c): -c for k in ks for c in range(k)},  # id 0 on top
            titles=[f"k = {k}" + (" (final)" if k == final_k else "") for k in ks],
            title_loc="outer",
            title_font={"fontweight": "bold", "fontsize": 9},
            value_loc="none",
        )
        ax.set_xticks(sky.xticks, labels=sky.titles)
        handles = [Patch(color=colors[i], label=cluster_label(i, names[i])) for i in range(final_k)]
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncols=min(final_k, 4),
            title=f"colour: cluster at k = {final_k} holding most of the node's tiles",
        )
        fig.suptitle("Cluster membership across k (node labels are cluster ids)")
    return fig


def draw_cluster_sankey(
    table_path: str | Path,
    outputs: Sequence[str | Path],
    ks: Sequence[int],
    final_k: int,
    palette: str,
    dpi: int,
) -> None:
    """Read the label columns of every k, draw the Sankey diagram and save it."""
    columns = [label_column(k) for k in ks]
    table = read_parquet_columns(table_path, [CLUSTER, *columns], [CLUSTER_NAME])
    for k in ks:
        check_labels(table[label_column(k)].to_numpy(), k, f"{table_path} column {label_column(k)}")
    labels = table[columns].astype(np.int64)
    fig = plot_cluster_sankey(
        labels, ks, final_k, cluster_names(table, final_k), cluster_colors(final_k, palette)
    )
    save_figure(fig, outputs, dpi)
