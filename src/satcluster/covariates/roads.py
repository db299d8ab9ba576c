"""OpenStreetMap roads: loading (.osm XML, .osm.pbf) and per-tile road covariates.

A road is an OSM way with a ``highway`` tag, kept as one line (never a
directed graph edge, so a two-way road counts once). Rules and units:

* ``road_length_m`` / ``major_road_length_m``: length of all / major roads
  inside the tile (lines clipped to the tile), in metres of the working CRS.
* ``dist_road_m`` / ``dist_major_road_m``: distance in metres from the tile's
  centroid to the nearest point of the nearest (major) road; 0 when a road
  passes through the centroid, possibly > 0 even when a road crosses the tile.
  NaN when the file holds no such road.
* A road is major when one of its ``highway`` values (``"a;b"`` holds two)
  equals one of ``major_classes`` exactly (``primary_link`` is not ``primary``).

Several OSM files (neighbouring extracts) are one source: a way in more than one
(the same OSM way id) counts once, from the file whose copy has the most vertices
(an extract cut at its edge may hold a shortened copy), so the lengths equal
those of the merged file. Ways without an id (a GeoPackage of roads without
``osm_id``) are told apart by their geometry, as duplicates within a file are.

Messages: the OSM files are parsed once per run (``load_roads``) and the lines
read by every chunk job (``read_road_lines``, silent); of the chunk jobs only
chunk 0 warns that the roads miss the city, the others log it at INFO.
"""

from __future__ import annotations

import logging
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmnx
import pandas as pd
import pyrosm
import shapely
from pyrosm.exceptions import PBFException

from satcluster.covariates.overlay import clipped_measure
from satcluster.covariates.vectors.io import (
    WGS84,
    Bounds,
    bounds_intersect,
    read_vector,
    reproject,
    require_nonempty_file,
)
from satcluster.covariates.vectors.sources import (
    PathOrPaths,
    as_paths,
    describe_paths,
    format_bounds,
)
from satcluster.crs import require_metric_crs
from satcluster.errors import InputError

__all__ = [
    "COLUMNS",
    "DEFAULT_MAJOR_CLASSES",
    "chunk_road_covariates",
    "is_major",
    "load_roads",
    "nearest_distance",
    "read_road_lines",
    "road_covariates",
]

log = logging.getLogger(__name__)

# osmnx's "no feature matched" error. osmnx (2.x) has no public exceptions module; its
# __init__ re-exports ``_errors`` explicitly (``from . import _errors as _errors``), so
# that attribute is the only place to take it from. Named once here.
NO_MATCHING_FEATURES = osmnx._errors.InsufficientResponseError

COLUMNS = ["road_length_m", "major_road_length_m", "dist_road_m", "dist_major_road_m"]
DEFAULT_MAJOR_CLASSES = (
    "motorway",
    "motorway_link",
    "trunk",
    "trunk_link",
    "primary",
    "primary_link",
    "secondary",
    "secondary_link",
)
LINE_TYPES = (1, 5)  # shapely type ids of LineString, MultiLineString
OSM_KEY = "osm_key"  # "way/123": an OSM element, the same in every file that holds it


def load_roads(paths: PathOrPaths, crs: object) -> gpd.GeoDataFrame:
    """Roads of one OSM file or several as lines in ``crs``: columns ``highway`` (str), ``geometry``.

    ``.osm`` / ``.xml`` (also ``.bz2`` / ``.gz``) are read with osmnx, ``.pbf`` with
    pyrosm; any other vector file with a ``highway`` column (e.g. a GeoPackage of
    roads) also works. Only ways with a ``highway`` tag whose geometry is a line
    are kept (railways, buildings, area highways and highway nodes are dropped),
    list values are joined with ``;``, a way in several files is kept once (see the
    module docstring) and identical lines (also when reversed) are kept once. A
    source without roads gives an empty frame and a warning.
    """
    require_metric_crs(crs)
    sources = [require_nonempty_file(path, "roads") for path in as_paths(paths, "roads")]
    frames = [reproject(_read_roads(path), crs, path, "roads") for path in sources]
    label = describe_paths(sources)
    raw = frames[0] if len(frames) == 1 else _once_per_way(frames, label)
    roads = _clean_roads(raw, label)
    if roads.empty:
        log.warning("no roads (ways with a highway tag) in %s: lengths are 0, distances NaN", label)
    return roads


def read_road_lines(path: str | Path, crs: object) -> gpd.GeoDataFrame:
    """The road lines that ``load_roads`` gave and the workflow stored as GeoParquet, in ``crs``.

    For the chunk jobs: no cleaning again and no warning (the parse warned once).
    """
    path = require_nonempty_file(path, "road lines")
    lines = read_vector(path, what="road lines")
    if "highway" not in lines.columns:
        raise InputError(
            f"road lines file {path} has no `highway` column; delete it so that it is "
            "written again from the OSM files."
        )
    return reproject(lines[["highway", "geometry"]], crs, path, "road lines")


def _read_roads(path: Path) -> gpd.GeoDataFrame:
    """Highway features of one file: ``highway``, ``osm_key`` (None without ids), geometry."""
    name = path.name.lower()
    if name.endswith(".pbf"):
        return _read_pbf(path)
    if name.endswith((".osm", ".xml", ".osm.bz2", ".osm.gz")):
        return _read_osm_xml(path)
    raw = read_vector(path, what="roads")
    if "highway" not in raw.columns:
        raise InputError(f"roads file {path} has no `highway` column; give an OSM file.")
    # Extracts of OSM roads as vector files (Geofabrik's shapefiles) name the way id osm_id.
    ids = raw["osm_id"] if "osm_id" in raw.columns else pd.Series(None, index=raw.index)
    keys = [_way_key(i) for i in ids]
    return gpd.GeoDataFrame(
        {"highway": raw["highway"], OSM_KEY: keys}, geometry=raw.geometry, crs=raw.crs
    )


def _way_key(osm_id: object) -> str | None:
    """``way/123`` for an id stored as text, integer or float (a column with gaps)."""
    if osm_id is None or (isinstance(osm_id, float) and np.isnan(osm_id)):
        return None
    if isinstance(osm_id, (float, np.floating)) and float(osm_id).is_integer():
        osm_id = int(osm_id)
    return f"way/{str(osm_id).strip()}"


def _read_osm_xml(path: Path) -> gpd.GeoDataFrame:
    try:
        features = osmnx.features_from_xml(path, tags={"highway": True})
    except NO_MATCHING_FEATURES:  # osmnx's way of saying "nothing matched"
        return _empty_roads()
    except ET.ParseError as err:
        raise InputError(f"cannot read roads file {path} as OSM XML: {err}.") from err
    features = features.reset_index()  # index (element, id): "way", 123
    features[OSM_KEY] = features["element"].astype(str) + "/" + features["id"].astype(str)
    return features[["highway", OSM_KEY, "geometry"]].set_crs(WGS84, allow_override=True)


def _read_pbf(path: Path) -> gpd.GeoDataFrame:
    try:
        with warnings.catch_warnings():  # "Could not find any OSM data": handled below
            warnings.simplefilter("ignore", UserWarning)
            ways = pyrosm.OSM(str(path)).get_data_by_custom_criteria(
                custom_filter={"highway": True},
                keep_nodes=False,
                keep_relations=False,
                tags_as_columns=["highway"],
                keep_other_tags=False,
            )
    except PBFException as err:
        raise InputError(f"cannot read roads file {path} as OSM PBF: {err}") from err
    if ways is None:
        return _empty_roads()
    keys = "way/" + ways["id"].astype("int64").astype(str)  # ways only (keep_nodes=False)
    return gpd.GeoDataFrame(
        {"highway": ways["highway"], OSM_KEY: keys}, geometry=ways.geometry, crs=ways.crs or WGS84
    )


def _once_per_way(frames: list[gpd.GeoDataFrame], label: str) -> gpd.GeoDataFrame:
    """Features of several files, each OSM element once: the copy with most vertices (the
    first file's on a tie). Repeats within one file and features without an id stay."""
    combined = pd.concat(frames, keys=range(len(frames)), names=["file", None]).reset_index(0)
    table = pd.DataFrame(
        {
            "key": combined[OSM_KEY].to_numpy(),
            "file": combined["file"].to_numpy(),
            "n": shapely.get_num_coordinates(combined.geometry.to_numpy()),
        }
    )
    known = table["key"].notna()
    per_file = table[known].groupby(["key", "file"], sort=False)["n"].max().reset_index()
    best = per_file.sort_values(["n", "file"], ascending=[False, True], kind="stable")
    best_file = best.drop_duplicates("key").set_index("key")["file"]
    keep = (~known | (table["file"] == table["key"].map(best_file))).to_numpy()
    if (~keep).any():
        log.info("%s: %d features repeated in another file, kept once", label, (~keep).sum())
    return gpd.GeoDataFrame(combined[keep].drop(columns="file"), crs=frames[0].crs)


def _empty_roads() -> gpd.GeoDataFrame:
    empty = pd.Series([], dtype=str)
    return gpd.GeoDataFrame({"highway": empty, OSM_KEY: empty}, geometry=[], crs=WGS84)


def _clean_roads(raw: gpd.GeoDataFrame, path: Path | str) -> gpd.GeoDataFrame:
    """Line roads with a highway value, each geometry once (reversed duplicates too)."""
    highway = raw["highway"].map(_highway_text)
    geoms = raw.geometry.to_numpy()
    is_line = np.isin(shapely.get_type_id(geoms), LINE_TYPES)
    keep = is_line & (highway != "").to_numpy()
    if (~is_line).any():
        log.info("%s: dropped %d highway features that are not lines", path, int((~is_line).sum()))
    geoms = shapely.normalize(geoms[keep])
    duplicate = pd.Series(shapely.to_wkb(geoms)).duplicated().to_numpy()
    if duplicate.any():
        log.info("%s: dropped %d duplicate road geometries", path, int(duplicate.sum()))
    roads = gpd.GeoDataFrame(
        {"highway": highway.to_numpy()[keep][~duplicate]},
        geometry=geoms[~duplicate],
        crs=raw.crs,
    )
    log.info("loaded %d roads from %s", len(roads), path)
    return roads


def _highway_text(value: object) -> str:
    """One string per road: lists (e.g. from a simplified graph) joined with ';'."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return ";".join(str(v) for v in value if isinstance(v, str) and v)
    return value if isinstance(value, str) else ""


def is_major(highway: pd.Series, major_classes: Iterable[str]) -> np.ndarray:
    """True where one of the ';'-separated highway values is exactly a major class."""
    major = set(major_classes)
    return np.array([any(v in major for v in text.split(";")) for text in highway], dtype=bool)


def road_covariates(
    tiles: gpd.GeoDataFrame,
    roads: gpd.GeoDataFrame,
    major_classes: Sequence[str] = DEFAULT_MAJOR_CLASSES,
) -> pd.DataFrame:
    """Per-tile road lengths and centroid distances (see the module docstring for the rules).

    ``tiles``: indexed by tile_id; ``roads``: lines with a ``highway`` column, same CRS.
    """
    tile_geoms = tiles.geometry.to_numpy()
    centroids = shapely.centroid(tile_geoms)
    lines = roads.geometry.to_numpy()
    major_lines = lines[is_major(roads["highway"], major_classes)]
    return pd.DataFrame(
        {
            "road_length_m": clipped_measure(tile_geoms, lines, shapely.length),
            "major_road_length_m": clipped_measure(tile_geoms, major_lines, shapely.length),
            "dist_road_m": nearest_distance(centroids, lines),
            "dist_major_road_m": nearest_distance(centroids, major_lines),
        },
        index=tiles.index,
    )


def nearest_distance(points: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """Distance from each point to the nearest line; NaN for all when there is no line."""
    distance = np.full(len(points), np.nan)
    if len(lines) and len(points):
        (point_pos, _), dist = shapely.STRtree(lines).query_nearest(
            points, return_distance=True, all_matches=False
        )
        distance[point_pos] = dist
    return distance


def chunk_road_covariates(
    tiles: gpd.GeoDataFrame,
    roads: gpd.GeoDataFrame,
    major_classes: Sequence[str],
    city_bounds: Bounds | None = None,
    chunk: int = 0,
) -> pd.DataFrame:
    """Road covariates of one chunk; all NaN when the roads miss the city.

    ``city_bounds`` (all tiles, in the roads' CRS): roads that exist but lie
    wholly outside them mean the OSM file covers another place. Every chunk finds
    the same (all roads against the whole city); only ``chunk`` 0 warns, the
    others log it at INFO, so that a run warns once.
    """
    if len(roads) and city_bounds is not None:
        road_bounds = tuple(float(b) for b in roads.total_bounds)
        if not bounds_intersect(road_bounds, city_bounds):
            log.log(
                logging.WARNING if chunk == 0 else logging.INFO,
                "the roads (%s) do not overlap the tiles (%s): road columns are NaN; "
                "is it the right OSM extract?",
                format_bounds(road_bounds),
                format_bounds(city_bounds),
            )
            return pd.DataFrame(np.nan, columns=COLUMNS, index=tiles.index)
    return road_covariates(tiles, roads, major_classes)
