"""Reading vector files of any common format, with clear errors, bbox reads and reprojection.

Generic on purpose: the building and road loaders use it. Every reader returns a
GeoDataFrame in the file's own CRS; ``reproject`` moves it to the working CRS and
refuses data without a CRS. Formats are recognised by ``vector_format``: GeoParquet,
line-delimited GeoJSON (by suffix or by a first line that is a GeoJSON Feature), CSV
with WKT (read by ``vectors.csv``) and anything else GDAL reads. A source given as several
files or globs: ``vectors.sources.expand_sources``.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import pyarrow.parquet as pq
import pyogrio
import shapely
from pyproj import CRS, Transformer

from satcluster.crs import parse_crs
from satcluster.errors import InputError
from satcluster.io import require_file

__all__ = [
    "LINE_DELIMITED_SUFFIXES",
    "PARQUET_SUFFIXES",
    "WGS84",
    "Bounds",
    "bounds_intersect",
    "file_crs",
    "geoparquet_bounds",
    "no_crs_error",
    "read_vector",
    "reproject",
    "require_file_crs",
    "require_nonempty_file",
    "transform_bounds",
    "vector_bounds",
    "vector_format",
]

log = logging.getLogger(__name__)

Bounds = tuple[float, float, float, float]  # (xmin, ymin, xmax, ymax) in some CRS's units

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
    """Whether two bounding boxes (in one CRS) overlap or touch."""
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


def _unreadable(path: Path, what: str, err: Exception) -> InputError:
    """The InputError for a file GDAL cannot read, naming it and the formats to give."""
    return InputError(
        f"cannot read {what} file {path}: {err}. Give a GeoPackage, GeoJSON, "
        "GeoParquet, Shapefile or another format GDAL reads."
    )


def _read_info(path: Path, fmt: str, what: str, **kwargs) -> dict:
    try:
        return pyogrio.read_info(_gdal_path(path, fmt), **kwargs)
    except pyogrio.errors.DataSourceError as err:
        raise _unreadable(path, what, err) from err


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
    quiet: bool = False,
) -> gpd.GeoDataFrame:
    """Read any OGR file, GeoParquet or line-delimited GeoJSON, in the file's own CRS.

    ``bbox`` (in ``bbox_crs``, default the file's CRS) keeps only features whose
    geometry intersects it; for OGR formats the filter runs inside GDAL, so a
    city-wide file is never loaded whole. A missing, empty or unreadable file
    raises InputError naming the file. Plain CSV with a WKT column: see
    ``vectors.csv.read_wkt_csv``. ``quiet`` logs the notice about a file of several layers
    at INFO, for callers that read one file once per chunk of tiles and warn in one chunk
    only.
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
        log.log(
            logging.INFO if quiet else logging.WARNING,
            "%s file %s has %d layers; reading the first, %r",
            what,
            path,
            len(layers),
            layers[0],
        )
    try:
        frame = gpd.read_file(
            _gdal_path(path, fmt), engine="pyogrio", bbox=bbox, columns=columns, layer=layers[0]
        )
    except pyogrio.errors.DataSourceError as err:
        raise _unreadable(path, what, err) from err
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(f"{what} file {path} has no geometry column; give a spatial layer.")
    return frame


def _read_info_layers(path: Path, fmt: str, what: str) -> list[str]:
    try:
        layers = pyogrio.list_layers(_gdal_path(path, fmt))
    except pyogrio.errors.DataSourceError as err:
        raise _unreadable(path, what, err) from err
    if len(layers) == 0:
        raise InputError(f"{what} file {path} holds no layer.")
    return [str(name) for name in layers[:, 0]]


def _read_geoparquet(path: Path, what: str, columns: Sequence[str] | None) -> gpd.GeoDataFrame:
    try:
        return gpd.read_parquet(path, columns=None if columns is None else list(columns))
    except (ValueError, OSError) as err:
        raise InputError(f"cannot read {what} file {path} as GeoParquet: {err}.") from err


def no_crs_error(path: str | Path, what: str) -> InputError:
    """The InputError for a vector file that declares no CRS (we never guess one)."""
    return InputError(
        f"{what} file {path} has no coordinate reference system; assign one (e.g. "
        "`ogr2ogr -a_srs EPSG:4326 out.gpkg in.shp`, or add the .prj of a Shapefile)."
    )


def reproject(
    frame: gpd.GeoDataFrame, crs: object, path: str | Path, what: str = "vector"
) -> gpd.GeoDataFrame:
    """``frame`` in ``crs``; InputError when the file declared no CRS (we never guess one)."""
    if frame.crs is None:
        raise no_crs_error(path, what)
    target = parse_crs(crs, key="crs")
    return frame if frame.crs == target else frame.to_crs(target)


def require_file_crs(path: str | Path, what: str = "vector") -> CRS:
    """CRS of a vector file as stored in it; InputError naming the file when it has none."""
    crs = file_crs(path, what)
    if crs is None:
        raise no_crs_error(path, what)
    return crs


def vector_bounds(path: str | Path, crs: object, what: str = "vector") -> Bounds | None:
    """Total bounds of a file's features in ``crs`` without loading them; None for CSV.

    None also when the file has no features. Read from the layer's metadata
    (GeoPackage, Shapefile, GeoParquet) or by one scan of the geometries.
    """
    path = require_nonempty_file(path, what)
    fmt = vector_format(path)
    if fmt == "csv":
        return None
    src_crs = require_file_crs(path, what)
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
