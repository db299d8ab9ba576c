"""Where the demo city lies: its CRS (``crs``, EPSG:32630 by default) and its corner in it.

Every product is drawn in one projected CRS in metres; the lon/lat products (buildings,
OSM, WorldPop) are converted from it. The city's south-west corner in that CRS:

- EPSG:32630 (WGS 84 / UTM 30N, the default): east of Accra's centre, as always.
- EPSG:32628 (UTM 28N): Dakar (the same easting/northing in zone 28N is in the Atlantic
  off Liberia, since no land of zone 28 lies at Accra's latitude).
- another UTM zone: the same easting and northing as Accra's corner in zone 30N. UTM
  zones share their false easting, so that is the same place relative to the zone
  (5.6 deg N, 2.8 deg east of the central meridian), inside the zone; in a southern
  zone the northing is mirrored to 5.6 deg S. The place is synthetic anyway, so it may
  lie at sea. When that place is outside the CRS's area of use (a UTM zone on a
  regional datum, e.g. ETRS89), the next rule applies.
- any other projected CRS in metres: the centre of the CRS's area of use (or its
  coordinate origin when it declares none).

Corners are multiples of 1024 m, so that the tiler's origin-anchored grid (tiles of 16,
32, 64, ... m) starts exactly on the city's edge and no edge row is lost to partial
coverage.
"""

from __future__ import annotations

import math

from pyproj import CRS, Transformer
from pyproj.aoi import AreaOfUse

from satcluster.crs import require_metric_crs
from satcluster.errors import InputError

__all__ = [
    "CITY_ORIGINS",
    "DEFAULT_CRS",
    "ORIGIN_EASTING",
    "ORIGIN_NORTHING",
    "city_origin",
    "demo_crs",
]

DEFAULT_CRS = "EPSG:32630"
# South-west corner of the default city: east of Accra's centre, in WGS 84 / UTM 30N.
ORIGIN_EASTING = 808960.0
ORIGIN_NORTHING = 617472.0
ORIGIN_STEP_M = 1024.0
UTM_FALSE_NORTHING_SOUTH = 10_000_000.0
# EPSG code -> south-west corner of a named city, on land.
CITY_ORIGINS = {
    32630: (ORIGIN_EASTING, ORIGIN_NORTHING),  # Accra (-0.211, 5.580)
    32628: (234496.0, 1625088.0),  # Dakar, Medina (-17.465, 14.686)
}


def demo_crs(crs: object) -> str:
    """``crs`` as the string written into the products, e.g. 'EPSG:32628'.

    Raises InputError naming `crs` unless it is a projected CRS in metres (the city's
    size, pixels and areas are in metres).
    """
    # to_string gives the authority form ('EPSG:32630') when there is one, so the
    # default is written exactly as before; a CRS without an authority keeps its WKT/PROJ.
    return require_metric_crs(crs, "crs").to_string()


def city_origin(crs: str) -> tuple[float, float]:
    """The city's south-west corner (easting, northing) in ``crs`` (see the module doc)."""
    target = CRS.from_user_input(crs)
    if target.to_epsg() in CITY_ORIGINS:
        return CITY_ORIGINS[target.to_epsg()]
    area = target.area_of_use
    zone = target.utm_zone
    if zone is not None:
        northing = ORIGIN_NORTHING
        if zone.upper().endswith("S"):
            northing = _floor_step(UTM_FALSE_NORTHING_SOUTH - ORIGIN_NORTHING)
        # A UTM zone on a regional datum (e.g. ETRS89) is not meant for the tropics.
        if area is None or _inside(area, target, ORIGIN_EASTING, northing):
            return ORIGIN_EASTING, northing
    if area is None:
        return 0.0, 0.0
    # An area of use across the antimeridian has west > east: its centre is then 180 deg away.
    lon = (area.west + area.east) / 2 + (180.0 if area.west > area.east else 0.0)
    lon = (lon + 180.0) % 360.0 - 180.0
    to_crs = Transformer.from_crs("EPSG:4326", target, always_xy=True)
    x, y = to_crs.transform(lon, (area.south + area.north) / 2)
    if not (math.isfinite(x) and math.isfinite(y)):
        raise InputError(
            f"config `crs` is {crs!r}: the centre of its area of use cannot be projected, so "
            "the demo city cannot be placed in it; use a UTM zone, e.g. 'EPSG:32630'."
        )
    return _floor_step(x), _floor_step(y)


def _inside(area: AreaOfUse, crs: CRS, x: float, y: float) -> bool:
    """Whether the point (x, y) of ``crs`` lies in the lon/lat box ``area``."""
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)
    in_lon = (
        (area.west <= lon <= area.east)
        if area.west <= area.east
        else not (area.east < lon < area.west)
    )
    return in_lon and area.south <= lat <= area.north


def _floor_step(value: float) -> float:
    return math.floor(value / ORIGIN_STEP_M) * ORIGIN_STEP_M
