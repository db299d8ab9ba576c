"""Names of the columns that join the workflow's tables, defined once.

``clusters/labels.parquet`` holds one column ``k{k}`` per k; the cluster table
(``cluster_shapefile.geojson`` and its GeoParquet twin) holds them as
``label_k{k}``, beside ``cluster`` (the labels at ``final_k``) and, for a consensus of
several seeds, ``cluster_confidence`` (read from ``clusters/confidence.parquet``, which
has the layout of labels.parquet with shares of seeds instead of ids). A tile index
(``tiles/index.parquet``) places every tile in its ``row`` and ``col`` of the grid; in a
study, tables of several cities name the ``city`` of every tile, and the pooled index maps
each pooled ``tile_id`` to its city and ``city_tile_id``.
"""

from __future__ import annotations

import re

__all__ = [
    "CITY",
    "CITY_TILE_ID",
    "CLUSTER",
    "CLUSTER_CONFIDENCE",
    "CLUSTER_NAME",
    "COL",
    "ROW",
    "TILE_ID",
    "k_of_labels_column",
    "label_column",
    "labels_file_column",
]

TILE_ID = "tile_id"  # row number in tiles.npy: the key of every table
CLUSTER = "cluster"
CLUSTER_NAME = "cluster_name"
CLUSTER_CONFIDENCE = "cluster_confidence"  # share of seeds agreeing with the consensus cluster
ROW, COL = "row", "col"  # the tile's cell of the global grid
CITY = "city"  # in a study: the city of a tile
CITY_TILE_ID = "city_tile_id"  # in the pooled index: the tile's tile_id in its city
_LABELS_FILE = re.compile(r"k(\d+)")


def labels_file_column(k: int) -> str:
    """Column of the labels for ``k`` clusters in clusters/labels.parquet."""
    return f"k{k}"


def label_column(k: int) -> str:
    """Column of the labels for ``k`` clusters in the cluster table (the GeoJSON)."""
    return f"label_k{k}"


def k_of_labels_column(column: str) -> int:
    """``k`` of a labels.parquet column name (``"k8"`` -> 8)."""
    match = _LABELS_FILE.fullmatch(column)
    if match is None:
        raise ValueError(f"{column!r} is not a labels column (k<number>)")
    return int(match.group(1))
