"""Exact zonal statistics of rasters over tiles: coverage-weighted, any CRS, bounded memory.

exactextract weights every pixel by the fraction of its area inside the tile, so a
tile that cuts pixels gets the exact area-weighted answer (rasterstats counts a
pixel fully or not at all by its centre, which is off by tens of percent when
tiles are about as large as pixels). Neither library reprojects, and exactextract
only warns and returns NaN on a CRS mismatch: tiles are put into the raster's CRS
here, with densified edges so that a straight edge in the working CRS follows its
curved image in the raster's CRS.

Pixel values are read one window at a time (one window per block of nearby
tiles), converted to a float array with NaN for "no data", and handed to
exactextract as an in-memory raster, so memory is bounded by the block size, not
by the raster or the city.

A tile outside the raster, or over no-data pixels only, gets ``count`` 0 and a NaN
mean (its valid fraction is an honest 0); when no tile overlaps the raster at all
a warning says so instead of stopping.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine
from pyproj import CRS
from rasterio.io import DatasetReader
from rasterio.windows import Window
from tqdm import tqdm

from satcluster.covariates.exact import coverage_sums
from satcluster.covariates.vectors.sources import format_bounds
from satcluster.crs import open_georeferenced
from satcluster.errors import InputError

__all__ = [
    "BLOCK_PX",
    "SEGMENTS_PER_EDGE",
    "ValuesFromBands",
    "check_same_grid",
    "coverage_sums",
    "open_raster",
    "pixel_window",
    "tiles_in_crs",
    "zonal_sums",
]

# Edges are split into this many segments before reprojection: a 100 m edge then
# bends every 12.5 m, far below the curvature UTM -> lon/lat gives it.
SEGMENTS_PER_EDGE = 8
# Side of a block of tiles read as one window, in pixels (4096^2 float32 = 64 MiB).
BLOCK_PX = 4096

# Window bands (masked arrays, one per raster) -> float values with NaN as no data.
ValuesFromBands = Callable[[list[np.ma.MaskedArray]], np.ndarray]


def open_raster(path: str | Path, what: str) -> DatasetReader:
    """Open a raster for reading; InputError if it is missing, unreadable, unplaced or rotated."""
    dataset = open_georeferenced(path, what)
    transform = dataset.transform
    if transform.b != 0 or transform.d != 0 or transform.e >= 0:
        dataset.close()
        raise InputError(
            f"{what} raster {path} is rotated or not north-up; warp it first, e.g. "
            f"`gdalwarp {path} fixed.tif`."
        )
    return dataset


def check_same_grid(datasets: Mapping[str, DatasetReader]) -> None:
    """InputError unless every raster has the same CRS, size and pixel grid."""
    (first_name, first), *others = datasets.items()
    for name, other in others:
        same = (
            other.crs == first.crs
            and other.shape == first.shape
            and other.transform.almost_equals(first.transform)
        )
        if not same:
            raise InputError(
                f"{name} raster {other.name} is not on the grid of {first_name} raster "
                f"{first.name} (CRS, size or transform differ); use the bands of one scene, "
                "or warp one onto the other's grid."
            )


def tiles_in_crs(
    tiles: gpd.GeoSeries, crs: CRS | str, segments_per_edge: int = SEGMENTS_PER_EDGE
) -> gpd.GeoSeries:
    """Tiles reprojected into ``crs``, edges densified first so that they stay exact."""
    if tiles.crs is None:
        raise InputError("the tile geometries have no CRS; the tile index must carry one")
    if CRS(tiles.crs) == CRS(crs):
        return tiles
    max_segment = np.sqrt(tiles.area.to_numpy()) / segments_per_edge
    max_segment[~(max_segment > 0)] = np.inf  # empty tiles: nothing to densify
    dense = shapely.segmentize(tiles.to_numpy(), max_segment)
    return gpd.GeoSeries(dense, index=tiles.index, crs=tiles.crs).to_crs(crs)


def _pixel_span(
    transform: Affine, bounds: Sequence[float], height: int, width: int
) -> tuple[slice, slice]:
    """Rows and columns of the whole pixels covering ``bounds``, clipped to the raster."""
    minx, miny, maxx, maxy = bounds
    inverse = ~transform
    col_min, row_min = inverse @ (minx, maxy)
    col_max, row_max = inverse @ (maxx, miny)
    rows = slice(min(max(math.floor(row_min), 0), height), min(max(math.ceil(row_max), 0), height))
    cols = slice(min(max(math.floor(col_min), 0), width), min(max(math.ceil(col_max), 0), width))
    return rows, cols


def pixel_window(dataset: DatasetReader, bounds: Sequence[float]) -> Window | None:
    """Smallest window of whole pixels covering ``bounds``, clipped to the raster; None if empty."""
    rows, cols = _pixel_span(dataset.transform, bounds, dataset.height, dataset.width)
    row_start, row_stop, col_start, col_stop = rows.start, rows.stop, cols.start, cols.stop
    if col_stop <= col_start or row_stop <= row_start:
        return None
    return Window(col_start, row_start, col_stop - col_start, row_stop - row_start)


def _tile_blocks(bounds: np.ndarray, transform: Affine, block_px: int) -> np.ndarray:
    """Block number of each tile: tiles whose centres fall in one square of block_px pixels.

    A block is read as one window, so memory stays bounded however large the raster
    or the chunk of tiles is.
    """
    centre_x = (bounds[:, 0] + bounds[:, 2]) / 2
    centre_y = (bounds[:, 1] + bounds[:, 3]) / 2
    block_x = np.floor((centre_x - transform.c) / (transform.a * block_px))
    block_y = np.floor((centre_y - transform.f) / (transform.e * block_px))
    return np.unique(np.stack([block_y, block_x], axis=1), axis=0, return_inverse=True)[1].ravel()


def _advance(bar: tqdm, start: int, n: int) -> Callable[[float, str], None]:
    """Progress callback moving ``bar`` to ``start + fraction * n`` tiles."""

    def update(fraction: float, _message: str) -> None:
        bar.update(start + round(fraction * n) - bar.n)

    return update


def zonal_sums(
    tiles: gpd.GeoSeries,
    datasets: Sequence[DatasetReader],
    values_from_bands: ValuesFromBands,
    what: str,
    block_px: int = BLOCK_PX,
) -> pd.DataFrame:
    """Per tile: coverage-weighted ``sum`` and ``count`` of valid pixels, and ``valid_fraction``.

    ``datasets`` share one grid (see ``check_same_grid``); band 1 of each is read
    window by window and turned into values by ``values_from_bands``.
    ``valid_fraction`` is the share of the tile's area (measured in the raster's
    CRS) covered by valid pixels. The index is the tiles' index.
    """
    grid = datasets[0]
    table = pd.DataFrame(
        {"sum": np.nan, "count": 0.0, "valid_fraction": 0.0}, index=tiles.index, dtype=float
    )
    if tiles.empty:
        return table
    geoms = tiles_in_crs(tiles, grid.crs)
    bounds = shapely.bounds(geoms.to_numpy())
    blocks = _tile_blocks(bounds, grid.transform, block_px)
    overlapping = 0
    bar = tqdm(total=len(tiles), desc=f"{what} zonal statistics", unit="tile", mininterval=5)
    for positions in pd.Series(blocks).groupby(blocks).indices.values():
        block_bounds = bounds[positions]
        window = pixel_window(
            grid, (*block_bounds[:, :2].min(axis=0), *block_bounds[:, 2:].max(axis=0))
        )
        done = bar.n
        if window is None:
            bar.update(len(positions))
            continue
        bands = [dataset.read(1, window=window, masked=True) for dataset in datasets]
        values = values_from_bands(bands)
        offset = Affine.translation(window.col_off, window.row_off)
        sums = coverage_sums(
            geoms.iloc[positions],
            values,
            grid.transform @ offset,
            grid.crs,
            progress=_advance(bar, done, len(positions)),
        )
        table.loc[sums.index, ["sum", "count"]] = sums[["sum", "count"]]
        overlapping += int((sums["count"] > 0).sum())
    bar.close()
    pixel_area = abs(grid.transform.a * grid.transform.e)
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = table["count"].to_numpy() * pixel_area / shapely.area(geoms.to_numpy())
    table["valid_fraction"] = np.clip(np.nan_to_num(fraction, nan=0.0), 0.0, 1.0)
    table.loc[table["count"] == 0, "sum"] = np.nan
    if overlapping == 0:
        warnings.warn(
            f"{what} raster {grid.name} has no valid pixel under any of the {len(tiles)} tiles "
            f"(raster bounds {_plain_bounds(grid)} in {grid.crs}); its columns are NaN. Check "
            "that the raster covers the city.",
            stacklevel=2,
        )
    return table


def _plain_bounds(grid) -> str:
    """The raster's bounds as plain numbers (degrees or metres), never a tuple of floats."""
    geographic = grid.crs is not None and grid.crs.is_geographic
    return format_bounds(
        grid.bounds, unit="deg" if geographic else "m", digits=4 if geographic else 0
    )
