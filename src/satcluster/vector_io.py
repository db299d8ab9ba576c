"""Reading vector files of any common format, with clear errors, bbox reads and reprojection,
and the clipping of features to tiles.

Generic on purpose: the building and road loaders and the raster covariates use it.
Every reader returns a GeoDataFrame in the file's own CRS; ``reproject`` moves it
to the working CRS and refuses data without a CRS.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from tqdm import tqdm

from satcluster.errors import InputError
from satcluster.io import require_file

log = logging.getLogger(__name__)

Bounds = tuple[float, float, float, float]

# Line-delimited GeoJSON (one Feature per line), e.g. Microsoft's building footprints.
LINE_DELIMITED_SUFFIXES = (".geojsonl", ".geojsonseq", ".geojsons", ".ndjson", ".jsonl")
PARQUET_SUFFIXES = (".parquet", ".geoparquet", ".pq")
WGS84 = "EPSG:4326"


def _suffixes(path: Path) -> str:
    """Lower-case suffix without a trailing ``.gz`` (``a.csv.gz`` -> ``.csv``)."""
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return Path(name).suffix


def _first_line(path: Path, limit: int = 2**20) -> str:
    """First non-blank line of a (possibly gzipped) text file, at most ``limit`` characters
    (a one-line GeoJSON FeatureCollection is not read whole just to be recognised)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as stream:
            while line := stream.readline(limit):
                if line.strip():
                    return line.strip()
    except (OSError, EOFError) as err:
        raise InputError(f"cannot read {path}: {err}. Check that the file is complete.") from err
    return ""


def _is_feature_line(line: str) -> bool:
    if not line.startswith("{"):
        return False
    try:
        return json.loads(line).get("type") == "Feature"
    except (json.JSONDecodeError, AttributeError):
        return False


def vector_format(path: str | Path) -> str:
    """'parquet', 'csv' (WKT geometry column), 'geojsonseq' or 'ogr' (anything GDAL reads).

    Line-delimited GeoJSON is recognised by its suffix or by its first line being a
    GeoJSON Feature (Microsoft ships such files as ``.csv.gz``).
    """
    path = Path(path)
    suffix = _suffixes(path)
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix in LINE_DELIMITED_SUFFIXES:
        return "geojsonseq"
    if suffix in (".csv", ".txt", ".geojson", ".json") and _is_feature_line(_first_line(path)):
        return "geojsonseq"
    if suffix in (".csv", ".txt"):
        return "csv"
    return "ogr"


def require_nonempty_file(path: str | Path, what: str) -> Path:
    """``require_file`` plus a clear stop on a 0-byte file (no format can be read from it)."""
    path = require_file(path, what)
    if path.stat().st_size == 0:
        raise InputError(f"{what} file {path} is empty (0 bytes). Replace it with the real file.")
    return path


def transform_bounds(bounds: Bounds, src_crs: object, dst_crs: object) -> Bounds:
    """Bounding box of ``bounds`` after reprojection (edges densified, so it encloses them)."""
    if CRS.from_user_input(src_crs) == CRS.from_user_input(dst_crs):
        return tuple(float(b) for b in bounds)
    transformer = Transformer.from_crs(src_crs, dst_crs, always_xy=True)
    return tuple(float(b) for b in transformer.transform_bounds(*bounds, densify_pts=21))


def bounds_intersect(a: Bounds, b: Bounds) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _gdal_path(path: Path, fmt: str) -> str:
    """The path as GDAL must be given it: gzip through /vsigzip/, sequences forced by prefix."""
    gdal = str(path.resolve())
    if path.name.lower().endswith(".gz") and fmt != "parquet":
        gdal = f"/vsigzip/{gdal}"
    if fmt == "geojsonseq":
        gdal = f"GeoJSONSeq:{gdal}"
    return gdal


def file_crs(path: str | Path, what: str = "vector") -> CRS | None:
    """CRS of a vector file as stored in it (EPSG:4326 for CSV / line-delimited GeoJSON)."""
    path = require_nonempty_file(path, what)
    fmt = vector_format(path)
    if fmt == "csv":
        return CRS.from_user_input(WGS84)
    if fmt == "parquet":
        meta = _geoparquet_meta(path, what)
        column = meta["columns"][meta["primary_column"]]
        # GeoParquet: a missing "crs" means OGC:CRS84, an explicit null means "unknown".
        crs = column.get("crs", WGS84)
        return None if crs is None else CRS.from_user_input(crs)
    info = _read_info(path, fmt, what)
    return None if info["crs"] is None else CRS.from_user_input(info["crs"])


def _read_info(path: Path, fmt: str, what: str, **kwargs) -> dict:
    try:
        return pyogrio.read_info(_gdal_path(path, fmt), **kwargs)
    except pyogrio.errors.DataSourceError as err:
        raise InputError(
            f"cannot read {what} file {path}: {err}. Give a GeoPackage, GeoJSON, "
            "GeoParquet, Shapefile or another format GDAL reads."
        ) from err


def _geoparquet_meta(path: Path, what: str) -> dict:
    try:
        metadata = pq.read_schema(path).metadata or {}
    except Exception as err:  # pyarrow raises several types for a broken file
        raise InputError(f"cannot read {what} file {path} as Parquet: {err}.") from err
    if b"geo" not in metadata:
        raise InputError(
            f"{what} file {path} is Parquet without GeoParquet metadata; write it with "
            "GeoDataFrame.to_parquet (or convert it with ogr2ogr)."
        )
    return json.loads(metadata[b"geo"])


def geoparquet_bounds(path: str | Path) -> Bounds:
    """Total bounds of a GeoParquet file from its metadata (read from the data when absent)."""
    path = Path(path)
    meta = _geoparquet_meta(path, "GeoParquet")
    bbox = meta["columns"][meta["primary_column"]].get("bbox")
    if bbox is not None and len(bbox) == 4:
        return tuple(float(b) for b in bbox)
    return tuple(
        float(b) for b in gpd.read_parquet(path, columns=[meta["primary_column"]]).total_bounds
    )


def read_vector(
    path: str | Path,
    *,
    what: str = "vector",
    bbox: Bounds | None = None,
    bbox_crs: object | None = None,
    columns: Sequence[str] | None = None,
) -> gpd.GeoDataFrame:
    """Read any OGR file, GeoParquet or line-delimited GeoJSON, in the file's own CRS.

    ``bbox`` (in ``bbox_crs``, default the file's CRS) keeps only features whose
    geometry intersects it; for OGR formats the filter runs inside GDAL, so a
    city-wide file is never loaded whole. A missing, empty or unreadable file
    raises InputError naming the file. Plain CSV with a WKT column: see
    ``read_wkt_csv``.
    """
    path = require_nonempty_file(path, what)
    fmt = vector_format(path)
    if fmt == "csv":
        raise InputError(
            f"{what} file {path} is a CSV; only the Google Open Buildings CSV layout is "
            "understood (see satcluster.covariates.buildings)."
        )
    src_crs = file_crs(path, what)
    if bbox is not None and bbox_crs is not None and src_crs is not None:
        bbox = transform_bounds(bbox, bbox_crs, src_crs)
    if fmt == "parquet":
        frame = _read_geoparquet(path, what, columns)
        if bbox is not None and len(frame):
            frame = frame[frame.intersects(shapely.box(*bbox))]
        return frame
    layers = _read_info_layers(path, fmt, what)
    if len(layers) > 1:
        log.warning(
            "%s file %s has %d layers; reading the first, %r", what, path, len(layers), layers[0]
        )
    try:
        frame = gpd.read_file(
            _gdal_path(path, fmt), engine="pyogrio", bbox=bbox, columns=columns, layer=layers[0]
        )
    except pyogrio.errors.DataSourceError as err:
        raise InputError(f"cannot read {what} file {path}: {err}.") from err
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(f"{what} file {path} has no geometry column; give a spatial layer.")
    return frame


def _read_info_layers(path: Path, fmt: str, what: str) -> list[str]:
    try:
        layers = pyogrio.list_layers(_gdal_path(path, fmt))
    except pyogrio.errors.DataSourceError as err:
        raise InputError(
            f"cannot read {what} file {path}: {err}. Give a GeoPackage, GeoJSON, "
            "GeoParquet, Shapefile or another format GDAL reads."
        ) from err
    if len(layers) == 0:
        raise InputError(f"{what} file {path} holds no layer.")
    return [str(name) for name in layers[:, 0]]


def _read_geoparquet(path: Path, what: str, columns: Sequence[str] | None) -> gpd.GeoDataFrame:
    try:
        return gpd.read_parquet(path, columns=None if columns is None else list(columns))
    except (ValueError, OSError) as err:
        raise InputError(f"cannot read {what} file {path} as GeoParquet: {err}.") from err


def read_wkt_csv(
    path: str | Path,
    *,
    what: str = "vector",
    required: Sequence[str] = ("geometry",),
    geometry_column: str = "geometry",
    crs: object = WGS84,
    bbox: Bounds | None = None,
    point_columns: tuple[str, str] | None = None,
    margin: float = 0.0,
    row_filter: Callable[[pd.DataFrame], pd.Series] | None = None,
    chunksize: int = 250_000,
) -> tuple[gpd.GeoDataFrame, int]:
    """Stream a CSV whose ``geometry_column`` holds WKT (in ``crs``); return (frame, rows read).

    Rows are read ``chunksize`` at a time so memory follows the kept rows, not
    the file. With ``bbox`` (in ``crs``) and ``point_columns`` (x, y of a point
    inside each feature, e.g. longitude/latitude), rows whose point lies more
    than ``margin`` outside the bbox are dropped before parsing WKT; the parsed
    geometries are then filtered exactly. ``row_filter`` returns a boolean mask
    of rows to keep (e.g. a confidence threshold).
    """
    path = require_nonempty_file(path, what)
    box = None if bbox is None else shapely.box(*bbox)
    parts, n_rows = [], 0
    try:
        reader = pd.read_csv(path, chunksize=chunksize)
        for chunk in tqdm(reader, desc=f"reading {path.name}", unit="chunk", leave=False):
            n_rows += len(chunk)
            missing = [c for c in required if c not in chunk.columns]
            if missing:
                raise InputError(
                    f"{what} CSV {path} lacks the column(s) {', '.join(missing)}; "
                    f"it has {', '.join(map(str, chunk.columns))}."
                )
            if box is not None and point_columns is not None:
                x, y = (chunk[c] for c in point_columns)
                near = x.between(bbox[0] - margin, bbox[2] + margin) & y.between(
                    bbox[1] - margin, bbox[3] + margin
                )
                chunk = chunk[near]
            if row_filter is not None:
                chunk = chunk[row_filter(chunk).to_numpy(dtype=bool)]
            geometry = _parse_wkt(chunk[geometry_column], path, what)
            frame = gpd.GeoDataFrame(
                chunk.drop(columns=geometry_column), geometry=geometry, crs=crs
            )
            if box is not None:
                frame = frame[frame.intersects(box)]
            parts.append(frame)
    except pd.errors.ParserError as err:
        raise InputError(f"cannot parse {what} CSV {path}: {err}.") from err
    except pd.errors.EmptyDataError as err:
        raise InputError(f"{what} CSV {path} has no header line; is it the right file?") from err
    if not parts:
        return gpd.GeoDataFrame({"geometry": []}, geometry="geometry", crs=crs), n_rows
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=crs), n_rows


def _parse_wkt(text: pd.Series, path: Path, what: str) -> gpd.array.GeometryArray:
    try:
        return gpd.array.from_shapely(shapely.from_wkt(text.to_numpy(dtype=object)))
    except shapely.errors.GEOSException as err:
        raise InputError(f"{what} CSV {path} has a geometry that is not valid WKT: {err}.") from err


def no_crs_error(path: str | Path, what: str) -> InputError:
    return InputError(
        f"{what} file {path} has no coordinate reference system; assign one (e.g. "
        "`ogr2ogr -a_srs EPSG:4326 out.gpkg in.shp`, or add the .prj of a Shapefile)."
    )


def reproject(frame: gpd.GeoDataFrame, crs: object, path: str | Path, what: str = "vector"):
    """``frame`` in ``crs``; InputError when the file declared no CRS (we never guess one)."""
    if frame.crs is None:
        raise no_crs_error(path, what)
    try:
        target = CRS.from_user_input(crs)
    except CRSError as err:
        raise InputError(f"config `crs` value {crs!r} is not a CRS: {err}.") from err
    return frame if frame.crs == target else frame.to_crs(target)


def require_metric_crs(crs: object, key: str = "crs") -> CRS:
    """The working CRS, which must be projected in metres (areas in m2, lengths in m)."""
    try:
        target = CRS.from_user_input(crs)
    except CRSError as err:
        raise InputError(f"config `{key}` value {crs!r} is not a CRS: {err}.") from err
    units = {axis.unit_name for axis in target.axis_info}
    if not target.is_projected or not units <= {"metre", "meter"}:
        raise InputError(
            f"config `{key}` is {crs!r}, which is not a projected CRS in metres; use the "
            "city's UTM zone (e.g. EPSG:32630 for Accra)."
        )
    return target


def vector_bounds(path: str | Path, crs: object, what: str = "vector") -> Bounds | None:
    """Total bounds of a file's features in ``crs`` without loading them; None for CSV.

    None also when the file has no features. Read from the layer's metadata
    (GeoPackage, Shapefile, GeoParquet) or by one scan of the geometries.
    """
    path = require_nonempty_file(path, what)
    fmt = vector_format(path)
    if fmt == "csv":
        return None
    src_crs = file_crs(path, what)
    if src_crs is None:
        raise no_crs_error(path, what)
    if fmt == "parquet":
        bounds = geoparquet_bounds(path)
    else:
        info = _read_info(path, fmt, what, force_total_bounds=True)
        if info["features"] == 0 or info["total_bounds"] is None:
            return None
        bounds = tuple(info["total_bounds"])
    if not all(map(math.isfinite, bounds)):
        return None
    return transform_bounds(bounds, src_crs, crs)


# --- overlay of features with tiles (shared by the vector covariates) -----------------------


def clipped_measure(
    tile_geoms: np.ndarray, geoms: np.ndarray, measure: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Per tile, the sum of ``measure`` (``shapely.area`` or ``shapely.length``) of the
    features clipped to the tile.

    Vectorised over (tile, feature) pairs from an STRtree. Features inside their tile
    are measured whole; features crossing an axis-aligned rectangular tile (the tile
    grid) are moved to the tile's local frame and cut with ``clip_by_rect``, which is
    exact and an order of magnitude faster than a general overlay; other tiles use
    ``shapely.intersection``.
    """
    total = np.zeros(len(tile_geoms))
    if len(tile_geoms) == 0 or len(geoms) == 0:
        return total
    tile_pos, geom_pos = shapely.STRtree(geoms).query(tile_geoms, predicate="intersects")
    tile_bounds = shapely.bounds(tile_geoms)
    rectangular = _is_rectangle(tile_geoms, tile_bounds)
    pair_tiles, pair_geoms = tile_bounds[tile_pos], geoms[geom_pos]
    geom_bounds = shapely.bounds(pair_geoms)
    inside = np.all(geom_bounds[:, :2] >= pair_tiles[:, :2], axis=1) & np.all(
        geom_bounds[:, 2:] <= pair_tiles[:, 2:], axis=1
    )
    inside &= rectangular[tile_pos]
    value = np.zeros(len(tile_pos))
    value[inside] = measure(pair_geoms[inside])
    cut = ~inside & rectangular[tile_pos]
    value[cut] = measure(_clip_to_rectangles(pair_geoms[cut], pair_tiles[cut]))
    general = ~rectangular[tile_pos]
    if general.any():
        value[general] = measure(
            shapely.intersection(tile_geoms[tile_pos[general]], pair_geoms[general])
        )
    np.add.at(total, tile_pos, value)
    return total


def _is_rectangle(geoms: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Axis-aligned rectangles: polygons as large as their bounding box."""
    box_area = (bounds[:, 2] - bounds[:, 0]) * (bounds[:, 3] - bounds[:, 1])
    polygon = shapely.get_type_id(geoms) == 3
    return polygon & np.isclose(shapely.area(geoms), box_area, rtol=1e-9, atol=0)


def _clip_to_rectangles(geoms: np.ndarray, rects: np.ndarray) -> np.ndarray:
    """``geoms[i]`` clipped to ``rects[i]`` (xmin, ymin, xmax, ymax), translated to the
    rectangle's lower-left corner (areas and lengths do not change)."""
    clipped = np.empty(len(geoms), dtype=object)
    if len(geoms) == 0:
        return clipped
    coord_owner = np.repeat(np.arange(len(geoms)), shapely.get_num_coordinates(geoms))
    local = shapely.transform(geoms, lambda xy: xy - rects[coord_owner, :2])
    sizes = np.round(rects[:, 2:] - rects[:, :2], 9)
    # clip_by_rect takes one rectangle per call: one call per distinct tile size.
    groups = np.unique(sizes, axis=0, return_inverse=True)[1].ravel()
    for group in np.unique(groups):
        members = groups == group
        width, height = sizes[members][0]
        clipped[members] = shapely.clip_by_rect(local[members], 0.0, 0.0, width, height)
    return clipped
