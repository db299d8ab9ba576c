"""The pixel size a scene is tiled at: the configured one, or its own snapped to a round value.

Each scene is tiled by its own job, so without ``tiles.resolution_m`` the jobs must agree on
one pixel size without seeing each other. Real products are rarely exactly round: pixels a
hair off square (0.500435 x 0.499771 m), or a 0.5 m scene that measures 0.4987 m once
reprojected into the working CRS. The rule, the same in every job:

* pixels whose sides differ by more than ``SQUARE_TOLERANCE`` (1%) are refused (set
  ``tiles.resolution_m``); otherwise the native size is the mean of the two sides;
* the native size is snapped to the value with the fewest significant digits (1, then 2,
  then 3) within ``SNAP_TOLERANCE`` (1%) of it, so 0.500435, 0.499771 and 0.4987 all give
  0.5, 0.99935 and 1.00309 give 1, 0.30022 gives 0.3 and 0.15010 gives 0.15;
* the scene is resampled to the snapped size, unless it is already that size (a scene at
  exactly 0.5 m is read pixel for pixel, as before snapping existed).

Sizes more than 1% apart (0.3 and 0.15 m, 0.5 and 0.52 m) snap to different values and
the gather refuses them, asking for ``tiles.resolution_m``. Two sizes within 1% of each
other can still straddle a rounding boundary (0.1009 -> 0.1 but 0.1011 -> 0.101); the
gather refuses those the same way, naming both sizes.
"""

from __future__ import annotations

import math

import rasterio
from rasterio.crs import CRS
from rasterio.warp import calculate_default_transform

from satcluster.errors import InputError

__all__ = [
    "SNAP_TOLERANCE",
    "SQUARE_TOLERANCE",
    "choose_resolution",
    "native_resolution",
    "pixel_size",
    "snap_resolution",
]

SQUARE_TOLERANCE = 0.01  # pixel sides may differ by this fraction and count as square
SNAP_TOLERANCE = 0.01  # a native size is tiled at a round value this close to it
_EXACT = 1e-9  # relative difference below which the native size already is the snapped one


def pixel_size(src: rasterio.DatasetReader, crs: CRS) -> tuple[float, float]:
    """Pixel width and height of a scene in metres of the working CRS ``crs``."""
    if src.crs == crs and src.transform.b == 0 and src.transform.d == 0:
        return abs(src.transform.a), abs(src.transform.e)
    transform, _, _ = calculate_default_transform(src.crs, crs, src.width, src.height, *src.bounds)
    return abs(transform.a), abs(transform.e)


def native_resolution(src: rasterio.DatasetReader, crs: CRS, label: str | None = None) -> float:
    """Pixel size of a scene in metres of ``crs``: the mean side of pixels square within 1%.

    ``label`` names the scene in the InputError raised for pixels further from square
    (default: the file name).
    """
    xres, yres = pixel_size(src, crs)
    if not math.isclose(xres, yres, rel_tol=SQUARE_TOLERANCE):
        raise InputError(
            f"imagery {label or src.name}: pixels are not square ({xres:g} x {yres:g} m in "
            f"{crs.to_string()}); set `tiles.resolution_m` to the pixel size you want."
        )
    return xres if xres == yres else (xres + yres) / 2


def snap_resolution(size: float) -> float:
    """The value with the fewest significant digits (1 to 3) within 1% of ``size`` (> 0)."""
    for digits in (1, 2, 3):
        # Formatting rounds in decimal, so 0.3 comes out as the float 0.3 (not 0.30000000000000004).
        snapped = float(f"{size:.{digits - 1}e}")
        if abs(snapped - size) <= SNAP_TOLERANCE * snapped:
            return snapped
    return float(f"{size:.2e}")  # not reached: 3 significant digits are within 0.5%


def choose_resolution(
    src: rasterio.DatasetReader, crs: CRS, resolution_m: float | None, label: str | None = None
) -> tuple[float, str]:
    """The pixel size to tile a scene at, and why (for the log).

    ``resolution_m``: the configured size (``tiles.resolution_m``), or None for the
    scene's own size snapped by ``snap_resolution``.
    """
    if resolution_m is not None:
        return float(resolution_m), f"tiled at {float(resolution_m):g} m (tiles.resolution_m)"
    xres, yres = pixel_size(src, crs)
    native = native_resolution(src, crs, label)
    snapped = snap_resolution(native)
    pixels = f"pixels {xres:g} x {yres:g} m"
    if math.isclose(xres, snapped, rel_tol=_EXACT) and math.isclose(yres, snapped, rel_tol=_EXACT):
        return snapped, f"{pixels}, tiled at {snapped:g} m (native)"
    return snapped, (
        f"{pixels}, tiled at {snapped:g} m (within {SNAP_TOLERANCE:.0%} of it; resampled so "
        "that every scene snaps to the same size)"
    )
