"""Population density per tile from a WorldPop people-per-pixel ("ppp") raster.

A ppp pixel holds a count of people, not a density, so a tile's people are the
coverage-weighted sum of the pixels it covers (no pixel-area scaling: in
EPSG:4326 pixels shrink with latitude, and the count already accounts for it).

Where part of a tile has no data (outside the raster, or WorldPop's nodata),
the density is the people in the valid part divided by the area of the valid
part: an unbiased estimate of the tile's density instead of counting the
missing part as empty land. ``population_coverage`` says how much of the tile
that is; ``population_density_km2 * population_coverage`` gives the paper's
"people / whole tile area" where a user prefers that reading. Tiles with no
valid pixel get NaN density and coverage 0.

No data is whatever the file's metadata declares (a nodata value such as -99999 or
float32's lowest, -3.4e38, NaN, or a mask band), and also any value below 0 or not
finite, declared or not: people counts cannot be negative, and WorldPop-like files
turn up with negative fills and no nodata set (one warning says how many such pixels
were met). WorldPop's 100 m (3 arc-second) and 1 km (30 arc-second) products are read
alike: pixels are weighted by the share of their area inside the tile, so a tile
inside one 1 km pixel gets that pixel's count divided by the pixel's area, and a tile
across several the area-weighted mix.

Areas are planar in the working CRS (UTM scale error is below 0.2% in-zone);
the coverage is a ratio of areas in the raster's CRS, where the tile is small
enough for the ratio to be the same as on the ground.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from satcluster.covariates.zonal import open_raster, zonal_sums
from satcluster.errors import InputError

__all__ = [
    "COLUMNS",
    "population_covariates",
    "tile_area_km2",
]

COLUMNS = ["population_density_km2", "population_coverage"]

log = logging.getLogger(__name__)


class _PeoplePerPixel:
    """The ppp band as float32 with NaN where the raster has no data or a value below 0.

    Counts the valid-looking but undeclared fills (negative or infinite values that the
    metadata does not mark), for one warning after the whole raster is read.
    """

    def __init__(self) -> None:
        self.undeclared = 0
        self.lowest = np.inf

    def __call__(self, bands: list[np.ma.MaskedArray]) -> np.ndarray:
        (ppp,) = bands
        values = ppp.astype(np.float32).filled(np.nan)
        with np.errstate(invalid="ignore"):
            fill = ~np.isnan(values) & ~(np.isfinite(values) & (values >= 0))
        if fill.any():
            self.undeclared += int(fill.sum())
            self.lowest = min(self.lowest, float(values[fill].min()))
            values[fill] = np.nan
        return values


def tile_area_km2(tiles: gpd.GeoSeries) -> np.ndarray:
    """Planar area of each tile in km^2, in the tiles' own (projected) CRS."""
    crs = tiles.crs
    if crs is None or not crs.is_projected:
        raise InputError(
            f"tile CRS {crs} is not projected, so tile areas are not in metres; set `crs` in the "
            "config to a projected CRS such as the city's UTM zone (EPSG:32630 for Accra)."
        )
    metres_per_unit = crs.axis_info[0].unit_conversion_factor
    return tiles.area.to_numpy() * metres_per_unit**2 / 1e6


def population_covariates(tiles: gpd.GeoDataFrame, population_path: str | Path) -> pd.DataFrame:
    """``population_density_km2`` (people per km^2 of valid area) and ``population_coverage``.

    ``tiles`` is indexed by tile_id with polygons in a projected working CRS; the
    raster may be in any CRS (tiles are reprojected to it).
    """
    geoms = tiles.geometry
    area_km2 = tile_area_km2(geoms)
    people_per_pixel = _PeoplePerPixel()
    with open_raster(population_path, "population") as raster:
        sums = zonal_sums(geoms, [raster], people_per_pixel, what="population")
    if people_per_pixel.undeclared:
        log.warning(
            "population raster %s has %d pixels around the tiles with negative or infinite "
            "values (lowest %g) that its metadata does not declare as nodata; they are "
            "treated as nodata",
            population_path,
            people_per_pixel.undeclared,
            people_per_pixel.lowest,
        )
    coverage = sums["valid_fraction"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        density = sums["sum"].to_numpy() / (coverage * area_km2)
    density[coverage <= 0] = np.nan
    return pd.DataFrame(
        {"population_density_km2": density, "population_coverage": coverage}, index=tiles.index
    )
