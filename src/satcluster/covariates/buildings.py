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

A source may be several files (one Google CSV per S2 cell, several extracts): a
footprint found in more than one counts once, taken from the first file that has
it (the same shape within ``DUPLICATE_TOLERANCE_M``; footprint products carry no
id shared between files). A file's own repeats are kept, as with one file.

Messages: covariates run as one job per chunk of tiles, all reading the same
source, so only chunk 0 warns about the source (it misses the city, holds no
footprints, geometries were repaired); the other chunks log the same at INFO.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import momepy
import numpy as np
import pandas as pd
import shapely

from satcluster.covariates.overlay import clipped_measure
from satcluster.covariates.vectors.csv import read_wkt_csv
from satcluster.covariates.vectors.io import (
    Bounds,
    bounds_intersect,
    read_vector,
    reproject,
    require_file_crs,
    transform_bounds,
    vector_bounds,
    vector_format,
)
from satcluster.covariates.vectors.sources import (
    PathOrPaths,
    as_paths,
    describe_paths,
    format_bounds,
    repeated_geometries,
)
from satcluster.crs import require_metric_crs

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
    paths: PathOrPaths,
    crs: object,
    min_confidence: float = 0.65,
    bbox: Bounds | None = None,
    quiet: bool = False,
) -> gpd.GeoDataFrame:
    """Building footprints from one file or several as polygons in ``crs`` (one geometry column).

    Formats: any OGR-readable file (GeoPackage, GeoJSON, Shapefile, ...), GeoParquet,
    Google Open Buildings v3 CSV (WKT in EPSG:4326; rows with ``confidence`` below
    ``min_confidence`` dropped) and Microsoft Global ML Building Footprints
    (line-delimited GeoJSON, also when named ``.csv.gz``); several files may mix them.
    ``bbox`` (in ``crs``) reads only footprints intersecting it. Non-polygons are
    dropped and invalid polygons repaired (both counted in the log); a footprint in
    several files is kept once, from the first. An empty result is returned with a
    warning (a note at INFO with ``bbox``: a chunk of water has no buildings); a
    missing, unreadable or CRS-less file raises InputError. ``quiet`` logs the
    source's notices (repairs, layers) at INFO: for the chunks that do not warn.
    """
    require_metric_crs(crs)
    sources = as_paths(paths, "buildings")
    level = logging.INFO if quiet else logging.WARNING
    frames = [_load_file(path, crs, min_confidence, bbox, level) for path in sources]
    buildings = frames[0] if len(frames) == 1 else _union(frames, sources)
    label = describe_paths(sources)
    if buildings.empty:
        if bbox is None:
            log.log(level, "no building footprints in %s", label)
        else:
            log.info("no building footprints in %s within %s", label, format_bounds(bbox))
    log.info("loaded %d building footprints from %s", len(buildings), label)
    return buildings.reset_index(drop=True)


def _load_file(
    path: Path, crs: object, min_confidence: float, bbox: Bounds | None, level: int
) -> gpd.GeoDataFrame:
    """The polygons of one file in ``crs`` (see ``load_buildings``)."""
    fmt = vector_format(path)
    src_bbox = (
        None if bbox is None else transform_bounds(bbox, crs, require_file_crs(path, "buildings"))
    )
    if fmt == "csv":
        raw = _read_google_csv(path, min_confidence, src_bbox)
    else:
        quiet = level < logging.WARNING
        raw = read_vector(path, what="buildings", bbox=src_bbox, quiet=quiet)[["geometry"]]
    return polygons_only(reproject(raw, crs, path, "buildings"), path, level)


def _union(frames: Sequence[gpd.GeoDataFrame], paths: Sequence[Path]) -> gpd.GeoDataFrame:
    """The footprints of all files, each footprint once: a later file's repeats are dropped."""
    kept = [frames[0]]
    for frame, path in zip(frames[1:], paths[1:], strict=True):
        earlier = np.concatenate([k.geometry.to_numpy() for k in kept])
        repeated = repeated_geometries(frame.geometry.to_numpy(), earlier)
        if repeated.any():
            log.info("%s: %d footprints already read from an earlier file", path, repeated.sum())
        kept.append(frame[~repeated])
    return gpd.GeoDataFrame(pd.concat(kept, ignore_index=True), crs=frames[0].crs)


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


def polygons_only(
    buildings: gpd.GeoDataFrame, path: str | Path = "", level: int = logging.WARNING
) -> gpd.GeoDataFrame:
    """Keep (Multi)Polygons; repair invalid ones with ``make_valid`` keeping polygonal parts.

    What was dropped or repaired is logged at ``level``.
    """
    geoms = buildings.geometry.to_numpy()
    polygonal = np.isin(shapely.get_type_id(geoms), (3, 6))  # Polygon, MultiPolygon
    if (~polygonal).any():
        log.log(level, "%s: dropped %d non-polygon geometries", path, int((~polygonal).sum()))
    geoms = geoms[polygonal]
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        # "structure" keeps areas only: a bow-tie becomes two triangles, spikes vanish.
        geoms[invalid] = shapely.make_valid(
            geoms[invalid], method="structure", keep_collapsed=False
        )
        log.log(level, "%s: repaired %d invalid polygons", path, int(invalid.sum()))
    keep = ~shapely.is_empty(geoms) & (shapely.area(geoms) > 0)
    if (~keep).any():
        log.log(level, "%s: dropped %d empty or zero-area footprints", path, int((~keep).sum()))
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
    paths: PathOrPaths,
    crs: object,
    min_confidence: float = 0.65,
    city_bounds: Bounds | None = None,
    chunk: int = 0,
) -> pd.DataFrame:
    """Building covariates of one chunk of tiles, reading only footprints near the chunk.

    When the chunk gets no footprints and the source's buildings (all files) do not
    overlap ``city_bounds`` (all tiles, in ``crs``) at all, the source does not cover
    the city: every column is NaN. A source with no buildings at all gives count 0 /
    area 0. Both are judged from the whole source and the whole city, so every chunk
    finds the same, but only ``chunk`` 0 warns (the others log it at INFO): one
    warning per run, also when chunk 0 holds no tile.
    """
    first = chunk == 0
    if tiles.empty:
        if first and city_bounds is not None:  # chunk 0 still speaks for the run
            _source_misses_city(paths, crs, min_confidence, city_bounds, logging.WARNING)
        return pd.DataFrame(columns=COLUMNS, index=tiles.index, dtype=float)
    buildings = load_buildings(
        paths, crs, min_confidence, bbox=tuple(tiles.total_bounds), quiet=not first
    )
    level = logging.WARNING if first else logging.INFO
    if (
        buildings.empty
        and city_bounds is not None
        and _source_misses_city(paths, crs, min_confidence, city_bounds, level)
    ):
        return pd.DataFrame(np.nan, columns=COLUMNS, index=tiles.index)
    return building_covariates(tiles, buildings)


def _source_misses_city(
    paths: PathOrPaths, crs: object, min_confidence: float, city_bounds: Bounds, level: int
) -> bool:
    """Whether the source's footprints lie wholly outside ``city_bounds`` (logged at
    ``level``); a source without footprints is logged too but does not miss the city."""
    sources = as_paths(paths, "buildings")
    label = describe_paths(sources)
    source_bounds = _source_bounds(sources, crs, min_confidence)
    if source_bounds is None:
        log.log(level, "%s holds no building footprints: building counts and areas are 0", label)
        return False
    if bounds_intersect(source_bounds, city_bounds):
        return False
    log.log(
        level,
        "the buildings of %s (%s) do not overlap the tiles (%s): building columns are NaN; "
        "is it the right file and CRS?",
        label,
        format_bounds(source_bounds),
        format_bounds(city_bounds),
    )
    return True


def _source_bounds(paths: Sequence[Path], crs: object, min_confidence: float) -> Bounds | None:
    """Bounds of all footprints of the files in ``crs`` (None when they have none)."""
    found = []
    for path in paths:
        bounds = vector_bounds(path, crs, "buildings")
        if bounds is None and vector_format(path) == "csv":
            # A CSV has no bounds metadata: read it whole, quietly (its notices went before).
            everywhere = _load_file(path, crs, min_confidence, None, logging.DEBUG)
            bounds = None if everywhere.empty else tuple(everywhere.total_bounds)
        if bounds is not None:
            found.append(bounds)
    if not found:
        return None
    corners = np.array(found, dtype=float)
    return (*corners[:, :2].min(axis=0).tolist(), *corners[:, 2:].max(axis=0).tolist())
