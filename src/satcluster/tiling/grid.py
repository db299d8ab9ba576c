"""The global tile grid in the working CRS, anchored at the CRS origin.

With tile side ``T = size_px * resolution_m`` metres, cell ``(row, col)`` covers ``x`` in
``[col*T, (col+1)*T)`` and ``y`` in ``(-(row+1)*T, -row*T]``. Rows grow southwards and
columns eastwards, so sorting by ``(row, col)`` is reading order; in the northern
hemisphere rows are negative. Per-scene jobs agree on the grid without knowing about
each other.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from affine import Affine
from rasterio.crs import CRS

from satcluster.crs import require_metric_crs

__all__ = ["EPS", "TileGrid", "working_crs"]

EPS = 1e-9  # tolerance, in tiles or pixels, for floating-point grid arithmetic


def working_crs(crs: str) -> CRS:
    """The working CRS as a rasterio CRS; InputError unless it is projected in metres."""
    return CRS.from_user_input(require_metric_crs(crs, key="crs"))


@dataclass(frozen=True)
class TileGrid:
    """The global tile grid: cell (row, col) spans [col*T, (col+1)*T) x (-(row+1)*T, -row*T].

    ``size_px``: tile side in pixels; ``resolution_m``: pixel side in metres.
    """

    crs: CRS
    size_px: int
    resolution_m: float

    @property
    def tile_m(self) -> float:
        """Tile side in metres."""
        return self.size_px * self.resolution_m

    def cell_range(self, bounds: Sequence[float]) -> tuple[range, range]:
        """Rows and columns of the cells that intersect ``bounds`` (left, bottom, right, top, m)."""
        left, bottom, right, top = (float(v) / self.tile_m for v in bounds)
        rows = range(math.floor(-top + EPS), math.ceil(-bottom - EPS))
        cols = range(math.floor(left + EPS), math.ceil(right - EPS))
        return rows, cols

    def transform(self, row: int, col: int) -> Affine:
        """Pixel grid whose pixel (0, 0) is the top-left pixel of cell (row, col)."""
        res = self.resolution_m
        return Affine(res, 0.0, col * self.tile_m, 0.0, -res, -row * self.tile_m)

    def boxes(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Polygons of cells (rows[i], cols[i]), in metres of the grid's CRS."""
        rows, cols, side = np.asarray(rows), np.asarray(cols), self.tile_m
        return shapely.box(cols * side, -(rows + 1) * side, (cols + 1) * side, -rows * side)
