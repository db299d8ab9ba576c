"""Brute-force area-weighted zonal statistics: the slow reference the exact path is checked against.

Used by tests/unit/test_zonal.py, tests/unit/test_covariates_population.py and
benchmarks/covariates.py (which puts the repository root on its import path). Written apart from
satcluster.covariates.zonal on purpose: a reference must not share the code it checks.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from affine import Affine

__all__ = ["area_weighted_reference"]


def _pixel_span(transform: Affine, bounds, height: int, width: int) -> tuple[slice, slice]:
    """Rows and columns of the whole pixels under ``bounds``, clipped to the raster."""
    minx, miny, maxx, maxy = bounds
    col_min, row_min = ~transform @ (minx, maxy)
    col_max, row_max = ~transform @ (maxx, miny)

    def clip(value: float, size: int) -> int:
        return min(max(value, 0), size)

    rows = slice(clip(math.floor(row_min), height), clip(math.ceil(row_max), height))
    cols = slice(clip(math.floor(col_min), width), clip(math.ceil(col_max), width))
    return rows, cols


def area_weighted_reference(
    geom: shapely.Geometry, values: np.ndarray, transform: Affine
) -> tuple[float, float]:
    """Brute-force (sum, count) of valid pixels weighted by intersected area; slow, for checks.

    Every pixel polygon under the geometry's bounds is intersected with it in shapely;
    ``geom`` must be in the raster's CRS and ``values`` hold NaN for no data. ``count``
    is in pixels (a pixel half inside counts 0.5).
    """
    row_span, col_span = _pixel_span(transform, geom.bounds, *values.shape)
    block = values[row_span, col_span]
    rows, cols = np.mgrid[row_span, col_span]
    x0, y0 = transform @ (cols.ravel(), rows.ravel())
    x1, y1 = transform @ (cols.ravel() + 1, rows.ravel() + 1)
    pixels = shapely.box(x0, y1, x1, y0)
    fraction = shapely.area(shapely.intersection(pixels, geom)) / abs(transform.a * transform.e)
    flat = block.ravel()
    valid = ~np.isnan(flat)
    return float(np.sum(fraction[valid] * flat[valid])), float(np.sum(fraction[valid]))
