"""What every figure shares: reading the cluster table, the tile and embedding arrays,
names, labels, style and saving (cluster ids are checked with ``satcluster.tables``)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import geopandas as gpd
import matplotlib as mpl
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import shapely
from matplotlib.figure import Figure

from satcluster.columns import CLUSTER, CLUSTER_NAME, TILE_ID
from satcluster.errors import InputError
from satcluster.io import atomic_path, require_file
from satcluster.tables import check_labels, require_columns

__all__ = [
    "COVARIATES",
    "ORIENTATION",
    "QUALITY_COVARIATES",
    "available_columns",
    "clean_orientation",
    "cluster_label",
    "cluster_names",
    "cluster_shares",
    "load_embedding_rows",
    "load_tile_array",
    "new_figure",
    "present_covariates",
    "read_cluster_covariates",
    "read_cluster_labels",
    "read_parquet_columns",
    "save_figure",
    "style",
    "tile_polygons",
]

log = logging.getLogger(__name__)

# Covariate column -> (short label for crowded axes, label with units).
COVARIATES: dict[str, tuple[str, str]] = {
    "building_area_m2": ("building area", "building area (m²)"),
    "building_count": ("building count", "building count"),
    "mean_building_size_m2": ("building size", "mean building size (m²)"),
    "building_orientation_deg": ("orientation", "building orientation (deg, 0-45)"),
    "road_length_m": ("road length", "road length (m)"),
    "major_road_length_m": ("major roads", "major road length (m)"),
    "dist_road_m": ("dist. road", "distance to nearest road (m)"),
    "dist_major_road_m": ("dist. major road", "distance to nearest major road (m)"),
    "population_density_km2": ("population", "population density (people/km²)"),
    "population_coverage": ("pop. coverage", "population raster coverage (fraction)"),
    "ndvi_mean": ("NDVI", "mean NDVI"),
    "ndvi_valid_fraction": ("NDVI valid", "NDVI valid pixels (fraction)"),
}
# Data-quality columns: shown in the map popups, not in the radar charts or box plots.
QUALITY_COVARIATES = ("population_coverage", "ndvi_valid_fraction")
ORIENTATION = "building_orientation_deg"

# Print-size style: 8-9 pt text on figures 7-10 inches wide.
STYLE = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "figure.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "pdf.fonttype": 42,  # embed TrueType so text stays editable in the PDF
    "svg.fonttype": "none",
}


def available_columns(
    path: str | Path, required: Sequence[str], optional: Iterable[str] = ()
) -> list[str]:
    """``required`` plus the present ``optional`` columns of a (Geo)Parquet file.

    Raises InputError naming the file and the missing required columns.
    """
    path = require_file(path, "cluster table")
    names = pq.read_schema(path).names
    require_columns(
        names,
        required,
        path,
        "it must be the GeoParquet written by the workflow's assemble stage: delete it and "
        f"rerun `snakemake --cores all {path}`.",
    )
    return list(dict.fromkeys([*required, *(c for c in optional if c in names)]))


def read_parquet_columns(
    path: str | Path, required: Sequence[str], optional: Iterable[str] = ()
) -> pd.DataFrame:
    """The ``required`` and present ``optional`` columns of a (Geo)Parquet file, no geometry."""
    return pd.read_parquet(path, columns=available_columns(path, required, optional))


def present_covariates(columns: Iterable[str], include_quality: bool = True) -> list[str]:
    """Known covariate columns among ``columns``, in the canonical order."""
    columns = set(columns)
    return [
        c for c in COVARIATES if c in columns and (include_quality or c not in QUALITY_COVARIATES)
    ]


def read_cluster_covariates(
    table_path: str | Path, n_clusters: int
) -> tuple[pd.DataFrame, list[str], np.ndarray]:
    """Cluster table with its covariate columns, the covariates present, and checked labels.

    Raises InputError when the table has no covariate at all (no source configured).
    """
    table = read_parquet_columns(table_path, [CLUSTER], [CLUSTER_NAME, *COVARIATES])
    variables = present_covariates(table.columns, include_quality=False)
    if not variables:
        raise InputError(
            f"{table_path} has no covariate columns; configure at least one covariate source "
            "under `inputs` (buildings, roads, population, landsat or sentinel2)."
        )
    return table, variables, check_labels(table[CLUSTER].to_numpy(), n_clusters, str(table_path))


def read_cluster_labels(table_path: str | Path, n_clusters: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Tile ids, cluster (and names when present) of the assembled table, with checked labels."""
    table = read_parquet_columns(table_path, [TILE_ID, CLUSTER], [CLUSTER_NAME])
    return table, check_labels(table[CLUSTER].to_numpy(), n_clusters, str(table_path))


def clean_orientation(covariates: pd.DataFrame) -> pd.DataFrame:
    """Orientation is undefined (NaN) on tiles without buildings, whatever the source wrote."""
    covariates = covariates.copy()
    if ORIENTATION in covariates and "building_count" in covariates:
        covariates.loc[~(covariates["building_count"] > 0), ORIENTATION] = np.nan
    return covariates


def load_tile_array(
    tiles_path: str | Path, tile_ids: np.ndarray, table_path: str | Path
) -> np.ndarray:
    """tiles.npy memory-mapped (N x S x S x 3, uint8), checked to hold every tile id.

    Raises InputError naming both files when the array has another shape or too
    few tiles for ``tile_ids`` (the ids of the cluster table ``table_path``).
    """
    tiles = np.load(require_file(tiles_path, "tile array"), mmap_mode="r")
    if tiles.ndim != 4 or tiles.shape[3] != 3 or (len(tile_ids) and tile_ids.max() >= len(tiles)):
        raise InputError(
            f"{tiles_path} has shape {tiles.shape}, which does not hold tile ids up to "
            f"{tile_ids.max() if len(tile_ids) else 0} of {table_path} (expected N x S x S x 3); "
            "rerun the tiles stage and everything after it."
        )
    return tiles


def load_embedding_rows(path: str | Path, tile_ids: np.ndarray) -> np.ndarray:
    """Rows ``tile_ids`` of the clustering embedding (embedding.npy, rows = tile_id), float32.

    Raises InputError when the file does not hold one row per tile id.
    """
    embedding = np.load(require_file(path, "embedding"), mmap_mode="r")
    if embedding.ndim != 2 or (len(tile_ids) and tile_ids.max() >= embedding.shape[0]):
        raise InputError(
            f"{path} has shape {embedding.shape}, too few rows for tile ids up to "
            f"{tile_ids.max() if len(tile_ids) else 0}; it must hold one row per tile_id: "
            "rerun the clusters stage."
        )
    return np.asarray(embedding[np.asarray(tile_ids, dtype=np.int64)], dtype=np.float32)


def tile_polygons(geometry: gpd.GeoSeries, decimals: int | None = None) -> list[np.ndarray]:
    """Exterior ring coordinates (n x 2) of every tile polygon, vectorised.

    ``decimals``: round the coordinates to that many decimals (None: as they are).
    """
    rings = shapely.get_exterior_ring(geometry.values)
    coords, index = shapely.get_coordinates(rings, return_index=True)
    if decimals is not None:
        coords = np.round(coords, decimals)
    return np.split(coords, np.flatnonzero(np.diff(index)) + 1)


def cluster_names(table: pd.DataFrame, n_clusters: int) -> list[str]:
    """Name of every cluster id 0..n_clusters-1 from the ``cluster_name`` column."""
    names = [f"cluster {i}" for i in range(n_clusters)]
    if CLUSTER_NAME in table:
        pairs = table[[CLUSTER, CLUSTER_NAME]].drop_duplicates(CLUSTER)
        for cluster, name in zip(pairs[CLUSTER], pairs[CLUSTER_NAME], strict=True):
            if 0 <= cluster < n_clusters and isinstance(name, str) and name.strip():
                names[int(cluster)] = name.strip()
    return names


def cluster_label(cluster: int, name: str) -> str:
    """'3 · water' (or just the name when it already is 'cluster 3')."""
    if name in (str(cluster), f"cluster {cluster}"):
        return f"cluster {cluster}"
    return f"{cluster} · {name}"


def cluster_shares(labels: np.ndarray, n_clusters: int) -> np.ndarray:
    """Fraction of tiles in each cluster id (zeros for empty clusters)."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_clusters)
    return counts / max(counts.sum(), 1)


def new_figure(width_in: float, height_in: float) -> Figure:
    """A Matplotlib figure outside pyplot (no global state, no GUI backend)."""
    return Figure(figsize=(width_in, height_in), layout="constrained")


def save_figure(fig: Figure, paths: Sequence[str | Path], dpi: int) -> None:
    """Write ``fig`` to every path (format from the suffix), each atomically."""
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format=Path(path).suffix.lstrip("."))
        log.info("wrote %s", path)


def style() -> contextlib.AbstractContextManager:
    """Context manager with the print style: ``with style(): fig = ...``."""
    return mpl.rc_context(STYLE)
