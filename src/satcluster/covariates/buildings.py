"""Building footprints: loading (any OGR file, Google Open Buildings CSV, Microsoft
line-delimited GeoJSON) and per-tile building covariates.

Counting rules (the paper's, made precise):

* ``building_area_m2``: footprint area inside the tile (footprints clipped to
  the tile), in square metres of the working CRS.
* ``building_count``: buildings whose centroid lies in the tile. Tiles are
  half-open, so a centroid exactly on the edge shared by two tiles counts in the
  tile to its east / north, and every building counts at most once.
* ``mean_building_size_m2``: mean full footprint area (not clipped) of the
  counted buildings; NaN when none.
* ``building_orientation_deg``: mean ``momepy.orientation`` of the counted
  buildings: the deviation of the minimum rotated rectangle from the cardinal
  directions, in degrees within [0, 45]; NaN when none.

Areas are computed from the footprints in the working CRS, which must be
projected in metres (a source's own area column, e.g. Google's
``area_in_meters``, is not used).
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import momepy
import numpy as np
import pandas as pd
import shapely

from satcluster.covariates.overlay import clipped_measure
from satcluster.crs import require_metric_crs
from satcluster.vector_csv import read_wkt_csv
from satcluster.vector_io import (
    Bounds,
    bounds_intersect,
    read_vector,
    reproject,
    require_file_crs,
    transform_bounds,
    vector_bounds,
    vector_format,
)

__all__ = [
    "COLUMNS",
    "GOOGLE_COLUMNS",
    "GOOGLE_MARGIN_DEG",
    "building_covariates",
    "centroid_tiles",
    "chunk_building_covariates",
    "load_buildings",
    "polygons_only",
]

log = logging.getLogger(__name__)

COLUMNS = [
    "building_area_m2",
    "building_count",
    "mean_building_size_m2",
    "building_orientation_deg",
]
GOOGLE_COLUMNS = ("latitude", "longitude", "confidence", "geometry")
# Google rows are pre-selected by their centre point before the WKT is parsed; no footprint
# reaches further than this from its centre (0.01 deg ~ 1.1 km).
GOOGLE_MARGIN_DEG = 0.01


def load_buildings(
    path: str | Path, crs: object, min_confidence: float = 0.65, bbox: Bounds | None = None
) -> gpd.GeoDataFrame:
    """Building footprints from ``path`` as polygons in ``crs`` (a single geometry column).

    Formats: any OGR-readable file (GeoPackage, GeoJSON, Shapefile, ...), GeoParquet,
    Google Open Buildings v3 CSV (WKT in EPSG:4326; rows with ``confidence`` below
    ``min_confidence`` dropped) and Microsoft Global ML Building Footprints
    (line-delimited GeoJSON, also when named ``.csv.gz``). ``bbox`` (in ``crs``)
    reads only footprints intersecting it. Non-polygons are dropped and invalid
    polygons repaired (both counted in the log). An empty result is returned with
    a warning; a missing, unreadable or CRS-less file raises InputError.
    """
    require_metric_crs(crs)
    fmt = vector_format(path)
    src_bbox = (
        None if bbox is None else transform_bounds(bbox, crs, require_file_crs(path, "buildings"))
    )
    if fmt == "csv":
        raw = _read_google_csv(path, min_confidence, src_bbox)
    else:
        raw = read_vector(path, what="buildings", bbox=src_bbox)[["geometry"]]
    buildings = reproject(raw, crs, path, "buildings")
    buildings = polygons_only(buildings, path)
    if buildings.empty:
        where = "" if bbox is None else f" within {tuple(round(b, 1) for b in bbox)}"
        log.warning("no building footprints in %s%s", path, where)
    log.info("loaded %d building footprints from %s", len(buildings), path)
    return buildings.reset_index(drop=True)


def _read_google_csv(path: str | Path, min_confidence: float, bbox: Bounds | None):
    """Google Open Buildings v3 CSV: WKT footprints in EPSG:4326 with a confidence per row."""
    frame, n_rows = read_wkt_csv(
        path,
        what="buildings",
        required=GOOGLE_COLUMNS,
        bbox=bbox,
        point_columns=("longitude", "latitude"),
        margin=GOOGLE_MARGIN_DEG,
        row_filter=lambda rows: rows["confidence"] >= min_confidence,
    )
    log.info(
        "Google Open Buildings CSV %s: %d rows, %d kept (confidence >= %g%s)",
        path,
        n_rows,
        len(frame),
        min_confidence,
        "" if bbox is None else " and inside the bbox",
    )
    return frame[["geometry"]]


def polygons_only(buildings: gpd.GeoDataFrame, path: str | Path = "") -> gpd.GeoDataFrame:
    """Keep (Multi)Polygons; repair invalid ones with ``make_valid`` keeping polygonal parts."""
    geoms = buildings.geometry.to_numpy()
    polygonal = np.isin(shapely.get_type_id(geoms), (3, 6))  # Polygon, MultiPolygon
    if (~polygonal).any():
        log.warning("%s: dropped %d non-polygon geometries", path, int((~polygonal).sum()))
    geoms = geoms[polygonal]
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        # "structure" keeps areas only: a bow-tie becomes two triangles, spikes vanish.
        geoms[invalid] = shapely.make_valid(
            geoms[invalid], method="structure", keep_collapsed=False
        )
        log.warning("%s: repaired %d invalid polygons", path, int(invalid.sum()))
    keep = ~shapely.is_empty(geoms) & (shapely.area(geoms) > 0)
    if (~keep).any():
        log.warning("%s: dropped %d empty or zero-area footprints", path, int((~keep).sum()))
    return gpd.GeoDataFrame(geometry=geoms[keep], crs=buildings.crs)


def building_covariates(tiles: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame) -> pd.DataFrame:
    """Per-tile building covariates (see the module docstring for units and rules).

    ``tiles``: indexed by tile_id; ``buildings``: footprints in the same CRS.
    Tiles without buildings get count 0, area 0, mean size and orientation NaN.
    """
    tile_geoms = tiles.geometry.to_numpy()
    tile_pos, building_pos = centroid_tiles(tile_geoms, buildings.geometry.to_numpy())
    counted = buildings.geometry.iloc[building_pos]
    n_tiles = len(tile_geoms)
    count = np.bincount(tile_pos, minlength=n_tiles)
    with np.errstate(invalid="ignore", divide="ignore"):  # 0 / 0 -> NaN for empty tiles
        mean_size = np.bincount(tile_pos, counted.area.to_numpy(), n_tiles) / count
        orientation = np.bincount(tile_pos, momepy.orientation(counted).to_numpy(), n_tiles) / count
    return pd.DataFrame(
        {
            "building_area_m2": clipped_measure(
                tile_geoms, buildings.geometry.to_numpy(), shapely.area
            ),
            "building_count": count.astype("int64"),
            "mean_building_size_m2": mean_size,
            "building_orientation_deg": orientation,
        },
        index=tiles.index,
    )


def centroid_tiles(tile_geoms: np.ndarray, footprints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(tile position, building position) for every building whose centroid is in a tile.

    Tiles are half-open (a centroid on a tile's east or north edge belongs to the
    neighbour), and a building is assigned to one tile at most.
    """
    centroids = shapely.centroid(footprints)
    building_pos, tile_pos = shapely.STRtree(tile_geoms).query(centroids, predicate="intersects")
    if len(building_pos) == 0:
        return tile_pos, building_pos
    tile_bounds = shapely.bounds(tile_geoms[tile_pos])
    xy = shapely.get_coordinates(centroids[building_pos])
    half_open = (xy[:, 0] < tile_bounds[:, 2]) & (xy[:, 1] < tile_bounds[:, 3])
    tile_pos, building_pos = tile_pos[half_open], building_pos[half_open]
    first = np.unique(building_pos, return_index=True)[1]
    return tile_pos[first], building_pos[first]


def chunk_building_covariates(
    tiles: gpd.GeoDataFrame,
    path: str | Path,
    crs: object,
    min_confidence: float = 0.65,
    city_bounds: Bounds | None = None,
) -> pd.DataFrame:
    """Building covariates of one chunk of tiles, reading only footprints near the chunk.

    When the chunk gets no footprints and the file's buildings do not overlap
    ``city_bounds`` (all tiles, in ``crs``) at all, the source does not cover
    the city: every column is NaN and a warning says so. A file with no
    buildings at all gives count 0 / area 0 with a warning.
    """
    if tiles.empty:
        return pd.DataFrame(columns=COLUMNS, index=tiles.index, dtype=float)
    buildings = load_buildings(path, crs, min_confidence, bbox=tuple(tiles.total_bounds))
    if buildings.empty and city_bounds is not None:
        source_bounds = _source_bounds(path, crs, min_confidence)
        if source_bounds is not None and not bounds_intersect(source_bounds, city_bounds):
            log.warning(
                "the buildings of %s (bounds %s) do not overlap the tiles (bounds %s): "
                "building columns are NaN; is it the right file and CRS?",
                path,
                tuple(round(b, 1) for b in source_bounds),
                tuple(round(b, 1) for b in city_bounds),
            )
            return pd.DataFrame(np.nan, columns=COLUMNS, index=tiles.index)
    return building_covariates(tiles, buildings)


def _source_bounds(path: str | Path, crs: object, min_confidence: float) -> Bounds | None:
    """Bounds of all footprints of the file in ``crs`` (None when it has none)."""
    bounds = vector_bounds(path, crs, "buildings")
    if bounds is None and vector_format(path) == "csv":
        everywhere = load_buildings(path, crs, min_confidence)
        bounds = None if everywhere.empty else tuple(everywhere.total_bounds)
    return bounds
