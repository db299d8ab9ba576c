"""Coordinate reference system checks, each written once.

* ``parse_crs``: a configured CRS value, or InputError naming the config key.
* ``require_metric_crs``: the working CRS, which must be projected with metre axes
  (tile sides, areas and lengths are measured in its units).
* ``open_georeferenced``: open a raster and require a CRS on it, with InputErrors for a
  missing, unreadable or unplaced file (the imagery and the covariate rasters use it).
"""

from __future__ import annotations

from pathlib import Path

import rasterio
from pyproj import CRS
from pyproj.exceptions import CRSError
from rasterio.errors import RasterioError

from satcluster.errors import InputError
from satcluster.io import require_file

__all__ = [
    "METRE_UNITS",
    "describe_error",
    "is_metric",
    "open_georeferenced",
    "parse_crs",
    "require_metric_crs",
]

METRE_UNITS = frozenset({"metre", "meter"})


def parse_crs(crs: object, key: str = "crs") -> CRS:
    """``crs`` (an EPSG string, WKT, PROJ string or CRS object) as a pyproj CRS.

    Raises InputError naming the config ``key`` when it is not a CRS.
    """
    try:
        return CRS.from_user_input(crs)
    except CRSError as err:
        raise InputError(
            f"config `{key}` value {crs!r} is not a CRS ({err}); use e.g. 'EPSG:32630'."
        ) from None


def is_metric(crs: CRS) -> bool:
    """Whether ``crs`` is projected and every axis is in metres."""
    return crs.is_projected and {axis.unit_name for axis in crs.axis_info} <= METRE_UNITS


def require_metric_crs(crs: object, key: str = "crs") -> CRS:
    """The working CRS as a pyproj CRS; it must be projected in metres.

    Tile sides, areas (m2) and lengths (m) are measured in its units, so a
    geographic CRS (degrees) or one in feet raises InputError naming ``key``.
    """
    target = parse_crs(crs, key)
    if not is_metric(target):
        raise InputError(
            f"config `{key}` is {crs!r}, which is not a projected CRS in metres (tiles, areas "
            "and lengths are measured in metres); use the city's UTM zone, e.g. 'EPSG:32630' "
            "for Accra."
        )
    return target


def describe_error(err: BaseException) -> str:
    """The error's message, with GDAL's own message when rasterio chains it as the cause."""
    cause = err.__cause__ or err.__context__
    return f"{err}: {cause}" if cause is not None and str(cause) not in str(err) else str(err)


def open_georeferenced(
    path: str | Path, what: str, key: str | None = None, example_crs: str = "EPSG:4326"
) -> rasterio.DatasetReader:
    """Open a raster that has a CRS, for reading.

    ``what`` names the file in messages (e.g. "imagery scene", "population") and
    ``key`` the config key it comes from. A missing file, one GDAL cannot read and
    one without a CRS raise InputError naming the file and the fix (``example_crs``
    is the CRS suggested to ``gdal_edit.py``).
    """
    path = require_file(path, what, key=key)
    try:
        dataset = rasterio.open(path)
    except RasterioError as err:
        raise InputError(
            f"{what} file {path} cannot be read as a raster ({describe_error(err)}); give a "
            "GeoTIFF or another GDAL-readable raster (re-export or re-download it, and check "
            "that the download is complete)."
        ) from None
    if dataset.crs is None:
        dataset.close()
        raise InputError(
            f"{what} raster {path} has no CRS, so it cannot be placed on the tiles; assign the "
            f"right one, e.g. `gdal_edit.py -a_srs {example_crs} {path}`."
        )
    return dataset
