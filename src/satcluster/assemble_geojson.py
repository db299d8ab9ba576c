"""Assembly: one GeoJSON feature per tile with its clusters, cluster name and covariates.

The GeoJSON is written in the working CRS (EPSG:32630 by default) like the
paper's ``cluster_shapefile.geojson``, not in the WGS 84 longitude/latitude
that RFC 7946 mandates: tile areas and distances stay in metres and the file
matches the published one. GDAL (through geopandas/pyogrio) then writes the
pre-RFC ``"crs"`` member (``urn:ogc:def:crs:EPSG::32630``), which GDAL,
geopandas and QGIS read back as EPSG:32630; web maps must reproject. A
GeoParquet twin holds the same table for fast loading.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import pandas as pd
import yaml

from satcluster.clustering.naming import derive_names
from satcluster.columns import (
    CLUSTER,
    CLUSTER_CONFIDENCE,
    CLUSTER_NAME,
    COL,
    ROW,
    TILE_ID,
    k_of_labels_column,
    label_column,
    labels_file_column,
)
from satcluster.covariates.ndvi import NDVI_SOURCE_ATTR, ndvi_source
from satcluster.errors import InputError
from satcluster.io import atomic_path, require_file

__all__ = [
    "GEOJSON_LAYER",
    "assemble_geojson",
    "assemble_tiles",
    "check_names",
    "names_yaml",
    "read_confidence",
    "read_covariates",
    "read_index",
    "read_labels",
    "write_outputs",
]

log = logging.getLogger(__name__)

INDEX_COLUMNS = [TILE_ID, "scene", ROW, COL, "nodata_fraction"]
GEOJSON_LAYER = "cluster_shapefile"
NDVI_COLUMN = "ndvi_mean"
COORDINATE_DECIMALS = 3  # millimetres: enough for tile corners, and no float noise digits


def read_covariates(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Covariate tables joined on tile_id (index); no tables gives an empty frame."""
    tables = []
    for path in paths:
        table = pd.read_parquet(require_file(path, "covariate table"))
        if TILE_ID not in table:
            raise InputError(f"{path}: covariate table has no `tile_id` column; rerun covariates.")
        table = table.set_index(TILE_ID)
        clash = [c for t in tables for c in table.columns if c in t.columns]
        if clash:
            raise ValueError(f"{path}: covariate column(s) {clash} also come from another table")
        tables.append(table)
    if not tables:
        return pd.DataFrame(index=pd.Index([], name=TILE_ID, dtype="int64"))
    joined = pd.concat(tables, axis=1, join="outer")
    # which product the NDVI came from (Landsat or Sentinel-2): kept in the NDVI table's metadata
    sources = {ndvi_source(t) for t in tables if NDVI_COLUMN in t.columns}
    joined.attrs = {NDVI_SOURCE_ATTR: sources.pop()} if sources else {}
    return joined


def check_names(names: Mapping[str, str], cluster_ids: Sequence[int], final_k: int) -> dict:
    """Config names (keys: strings of ints) -> {id: name}; they must cover exactly ``cluster_ids``."""
    given = {int(key): str(value) for key, value in names.items()}
    missing = sorted(set(cluster_ids) - set(given))
    extra = sorted(set(given) - set(cluster_ids))
    if missing or extra:
        problems = []
        if missing:
            problems.append(f"no name for cluster id(s) {missing}")
        if extra:
            problems.append(f"name(s) for id(s) {extra}, which have no tiles at k={final_k}")
        raise InputError(
            f"config: `clusters.names` has {' and '.join(problems)}; give one name per cluster id "
            f"{sorted(cluster_ids)} of `clusters.final_k` = {final_k} (see "
            "results/clusters/suggested_names.yaml), or remove `clusters.names`."
        )
    return given


def _check_labels_table(labels: pd.DataFrame, index: gpd.GeoDataFrame, final_k: int) -> None:
    if labels_file_column(final_k) not in labels:
        raise InputError(
            f"labels.parquet has no labels for `clusters.final_k` = {final_k} (columns: "
            f"{list(labels.columns)}); rerun the clusters stage."
        )
    if not labels.index.equals(index.index):
        raise InputError(
            f"labels.parquet ({len(labels)} tiles) does not match the tile index ({len(index)} "
            "tiles); rerun the workflow so both come from the same tiles."
        )


def assemble_tiles(
    index: gpd.GeoDataFrame,
    labels: pd.DataFrame,
    covariates: pd.DataFrame,
    crs: str,
    final_k: int,
    names: Mapping[str, str],
    confidence: pd.Series | None = None,
) -> tuple[gpd.GeoDataFrame, dict[int, str]]:
    """The cluster GeoDataFrame (one row per tile) and the derived names per cluster id.

    ``index``, ``labels``, ``covariates`` and ``confidence`` (the consensus confidence at
    ``final_k``, if any) are indexed by tile_id. ``cluster_name`` comes from ``names``
    when given, else from the derived names.
    """
    index = index.sort_index()
    labels = labels.sort_index()
    _check_labels_table(labels, index, final_k)
    product = covariates.attrs.get(NDVI_SOURCE_ATTR)
    missing = index.index.difference(covariates.index)
    if len(covariates.columns) and len(missing):
        log.warning("%d tiles have no covariate rows; their covariates are NaN", len(missing))
    covariates = covariates.reindex(index.index)
    cluster = labels[labels_file_column(final_k)].astype("int64")
    suggested = derive_names(covariates, cluster)
    chosen = check_names(names, sorted(suggested), final_k) if names else suggested
    label_columns = {
        label_column(k_of_labels_column(c)): labels[c].astype("int64") for c in labels.columns
    }
    table = pd.concat(
        [
            index[[c for c in INDEX_COLUMNS if c != TILE_ID]],
            pd.DataFrame({CLUSTER: cluster, CLUSTER_NAME: cluster.map(chosen)}),
            _confidence_column(confidence, index.index),
            pd.DataFrame(label_columns, index=labels.index),
            covariates,
        ],
        axis=1,
    )
    if product is not None:  # after the names: a text column, not a covariate
        table[NDVI_SOURCE_ATTR] = product
    table.index.name = TILE_ID
    frame = gpd.GeoDataFrame(table.reset_index(), geometry=index.geometry.to_numpy(), crs=index.crs)
    return frame.to_crs(crs), suggested


def _confidence_column(confidence: pd.Series | None, tile_ids: pd.Index) -> pd.DataFrame:
    """The ``cluster_confidence`` column (no column without a consensus)."""
    if confidence is None:
        return pd.DataFrame(index=tile_ids)
    if not confidence.sort_index().index.equals(tile_ids):
        raise InputError(
            f"the consensus confidence ({len(confidence)} tiles) does not match the tile index "
            f"({len(tile_ids)} tiles); rerun the consensus stage."
        )
    return pd.DataFrame({CLUSTER_CONFIDENCE: confidence.astype("float64")})


def names_yaml(names: Mapping[int, str], final_k: int) -> str:
    """suggested_names.yaml: a header saying how to use it, then id -> name (keys quoted)."""
    header = (
        f"# Cluster names derived from covariate profiles at clusters.final_k = {final_k}.\n"
        "# Edit them and copy the mapping into your config under `clusters: names:`.\n"
    )
    body = yaml.safe_dump({str(k): v for k, v in sorted(names.items())}, sort_keys=False)
    return header + body


def log_cluster_shares(frame: gpd.GeoDataFrame) -> None:
    shares = frame.groupby([CLUSTER, CLUSTER_NAME]).size() / len(frame)
    for (cluster, name), share in shares.items():
        log.info("cluster %d %-40s %5.1f%% of tiles", cluster, repr(name), 100 * share)


def read_index(path: str | Path) -> gpd.GeoDataFrame:
    """The tile index (GeoParquet) indexed by tile_id."""
    index = gpd.read_parquet(require_file(path, "tile index"))
    if index.crs is None:
        raise InputError(f"{path}: the tile index has no CRS; rerun the tiles stage.")
    return index.set_index(TILE_ID, drop=True)


def read_labels(path: str | Path) -> pd.DataFrame:
    """labels.parquet indexed by tile_id, label columns k{k} in ascending k."""
    labels = pd.read_parquet(require_file(path, "cluster labels")).set_index(TILE_ID)
    return labels[sorted(labels.columns, key=lambda c: int(c[1:]))]


def read_confidence(path: str | Path, final_k: int) -> pd.Series:
    """The consensus confidence at ``final_k`` from confidence.parquet, indexed by tile_id."""
    table = pd.read_parquet(require_file(path, "consensus confidence"))
    column = labels_file_column(final_k)
    if TILE_ID not in table or column not in table:
        raise InputError(
            f"{path} has no confidence for `clusters.final_k` = {final_k} (columns: "
            f"{list(table.columns)}); rerun the consensus stage."
        )
    return table.set_index(TILE_ID)[column]


def write_outputs(
    frame: gpd.GeoDataFrame,
    suggested: Mapping[int, str],
    final_k: int,
    geojson_path: str | Path,
    parquet_path: str | Path,
    names_path: str | Path,
) -> None:
    """Write the GeoJSON, its GeoParquet twin and the suggested names, all or none."""
    with (
        atomic_path(geojson_path) as tmp_geojson,
        atomic_path(parquet_path) as tmp_parquet,
        atomic_path(names_path) as tmp_names,
    ):
        frame.to_file(
            tmp_geojson,
            driver="GeoJSON",
            layer=GEOJSON_LAYER,
            layer_options={"COORDINATE_PRECISION": COORDINATE_DECIMALS},
        )
        frame.to_parquet(tmp_parquet, index=False)
        tmp_names.write_text(names_yaml(suggested, final_k))


def assemble_geojson(
    index_path: str | Path,
    labels_path: str | Path,
    covariate_paths: Sequence[str | Path],
    crs: str,
    final_k: int,
    names: Mapping[str, str],
    geojson_path: str | Path,
    parquet_path: str | Path,
    names_path: str | Path,
    confidence_path: str | Path | None = None,
) -> gpd.GeoDataFrame:
    """The assembly stage: read the tables, name the clusters, write the three outputs.

    ``confidence_path``: the consensus confidence (confidence.parquet), if the labels are
    a consensus of several seeds; it adds the ``cluster_confidence`` column.
    """
    index = read_index(index_path)
    labels = read_labels(labels_path)
    covariates = read_covariates(covariate_paths)
    confidence = None if confidence_path is None else read_confidence(confidence_path, final_k)
    frame, suggested = assemble_tiles(index, labels, covariates, crs, final_k, names, confidence)
    write_outputs(frame, suggested, final_k, geojson_path, parquet_path, names_path)
    log.info("%d tiles, %d columns, CRS %s", len(frame), frame.shape[1], frame.crs)
    log_cluster_shares(frame)
    return frame
