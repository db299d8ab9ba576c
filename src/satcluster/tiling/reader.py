"""Reading a scene onto the tile grid: band choice, stretch to uint8 and windowed reads.

Bands: RGB is used as is; an alpha band is a mask; with four or more colour bands the
red/green/blue colour interpretations are used when present, else bands 1-3 (R, G, B, NIR
order assumed); a single band is read once and copied into the three channels (with a
warning): no band is ever named twice in a GDAL band map, since GDAL's multi-threaded
GeoTIFF reader is not bound to fill every channel of a repeated band. uint16,
float32 and float64 imagery is scaled to uint8 per band, mapping the ``uint16_percentiles``
of the scene's valid pixels to 0 and 255; the percentiles come from a decimated read (an
overview when the file has one) of at most ``PERCENTILE_SAMPLE_PX`` pixels a side. In
float imagery NaN (and infinite values) are nodata, like the nodata value when one is set.

A scene already on the grid's pixel grid (same CRS and resolution, origin on a multiple of
the pixel size) is read directly; any other scene is warped onto the grid through a
``WarpedVRT`` (bilinear). Pixels outside the scene or masked in it (nodata value, alpha
band, internal/external mask) count as nodata.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.enums import ColorInterp, MaskFlags, Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from satcluster.errors import InputError
from satcluster.tiling.grid import EPS, TileGrid

__all__ = [
    "PERCENTILE_SAMPLE_PX",
    "SUPPORTED_DTYPES",
    "BandChoice",
    "SceneReader",
    "choose_bands",
    "stretch_limits",
    "to_uint8",
    "uint16_limits",
]

log = logging.getLogger(__name__)

PERCENTILE_SAMPLE_PX = 1024
SUPPORTED_DTYPES = ("uint8", "uint16", "float32", "float64")  # all but uint8 are stretched
_RGB = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)


@dataclass(frozen=True)
class BandChoice:
    """Which source bands make the R, G, B channels, and which band (if any) is alpha."""

    rgb: tuple[int, int, int]
    alpha: int | None

    @property
    def distinct(self) -> tuple[int, ...]:
        """The bands to read, each once, in channel order (one band for single-band imagery)."""
        return tuple(dict.fromkeys(self.rgb))

    @property
    def channels(self) -> tuple[int, int, int]:
        """For each of R, G, B, its position in ``distinct``."""
        distinct = self.distinct
        return tuple(distinct.index(band) for band in self.rgb)


def choose_bands(src: rasterio.DatasetReader, name: str, label: str | None = None) -> BandChoice:
    """Pick the RGB and alpha bands of a scene from its colour interpretation.

    ``name`` is the scene's name in the log; ``label`` names its file(s) in InputErrors
    (default: the file name).
    """
    label = label or src.name
    if src.dtypes[0] not in SUPPORTED_DTYPES or len(set(src.dtypes)) != 1:
        raise InputError(
            f"imagery {label}: band type {', '.join(sorted(set(src.dtypes)))} is not supported; "
            "convert it to uint8, uint16 or float32 (e.g. `gdal_translate -ot Byte -scale ...`)."
        )
    interps = list(src.colorinterp)
    alpha = next((i for i, ci in enumerate(interps, 1) if ci == ColorInterp.alpha), None)
    colour = [i for i in range(1, src.count + 1) if i != alpha]
    by_interp = {ci: i for i, ci in enumerate(interps, 1)}
    if all(ci in by_interp for ci in _RGB):
        rgb = tuple(by_interp[ci] for ci in _RGB)
        if len(colour) > 3:
            log.info(
                "%s: %d colour bands; using bands %s (red, green, blue)", name, len(colour), rgb
            )
    elif len(colour) >= 3:
        rgb = tuple(colour[:3])
        if len(colour) > 3:
            log.info(
                "%s: %d colour bands without red/green/blue colour interpretation; assuming "
                "R, G, B, NIR order and using bands %s",
                name,
                len(colour),
                rgb,
            )
    elif len(colour) == 1:
        rgb = (colour[0],) * 3
        log.warning("%s: single-band imagery; the band is replicated to 3 channels", name)
    else:
        raise InputError(
            f"imagery {label}: {len(colour)} colour bands cannot be read as RGB; give RGB, "
            "RGBA, 4-band (R, G, B, NIR) or single-band imagery."
        )
    return BandChoice(rgb=rgb, alpha=alpha)


def _grid_offset(src: rasterio.DatasetReader, grid: TileGrid, row: int, col: int) -> tuple | None:
    """Source pixel (row, col) of the top-left of cell (row, col), or None if not on the grid."""
    t, res = src.transform, grid.resolution_m
    if src.crs != grid.crs or t.b != 0 or t.d != 0:
        return None
    if not (math.isclose(t.a, res, rel_tol=EPS) and math.isclose(-t.e, res, rel_tol=EPS)):
        return None
    x_px, y_px = t.c / res, t.f / res
    if abs(x_px - round(x_px)) > 1e-6 or abs(y_px - round(y_px)) > 1e-6:
        return None
    return round(row * grid.size_px + y_px), round(col * grid.size_px - x_px)


def stretch_limits(
    src: rasterio.DatasetReader, bands: BandChoice, percentiles: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-band low/high values at ``percentiles`` of the valid pixels (decimated read).

    Valid: not masked (nodata value, alpha band, mask) and, in float imagery, finite in
    all three bands. The high value is above the low one (a constant band maps to 0).
    """
    step = max(1, math.ceil(max(src.height, src.width) / PERCENTILE_SAMPLE_PX))
    shape = (math.ceil(src.height / step), math.ceil(src.width / step))
    distinct = list(bands.distinct)
    data = src.read(distinct, out_shape=(len(distinct), *shape), resampling=Resampling.nearest)
    if bands.alpha is not None:
        valid = src.read(bands.alpha, out_shape=shape, resampling=Resampling.nearest) != 0
    else:
        valid = src.dataset_mask(out_shape=shape, resampling=Resampling.nearest) != 0
    if data.dtype.kind == "f":
        valid &= np.isfinite(data).all(axis=0)
    if not valid.any():
        return np.zeros(3), np.ones(3)
    low, high = np.percentile(data[:, valid], percentiles, axis=1)[:, list(bands.channels)]
    if data.dtype.kind == "f":  # reflectances may span less than 1: widen only an empty range
        return low, np.where(high > low, high, low + 1)
    return low, np.maximum(high, low + 1)


uint16_limits = stretch_limits  # the name from before float imagery was stretched too


def to_uint8(pixels: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Linear stretch of (h, w, 3) pixels: ``low`` -> 0 and ``high`` -> 255 per band, clipped.

    NaN pixels (nodata in float imagery) become 0.
    """
    scale = (255.0 / (high - low)).astype(np.float32)
    scaled = (pixels.astype(np.float32) - low.astype(np.float32)) * scale
    if pixels.dtype.kind == "f":
        np.nan_to_num(scaled, copy=False, nan=0.0)  # a NaN cast to uint8 is undefined
    return np.clip(scaled + 0.5, 0, 255).astype(np.uint8)


def _fits(value: float | None, dtype: str) -> bool:
    """Whether ``value`` is an integer that the integer ``dtype`` can hold."""
    if np.dtype(dtype).kind not in "ui":
        return False
    if value is None or not math.isfinite(value) or not float(value).is_integer():
        return False
    info = np.iinfo(dtype)
    return info.min <= value <= info.max


class SceneReader:
    """Reads grid-aligned windows of a scene as (h, w, 3) uint8 pixels and a valid mask.

    ``rows`` and ``cols`` are the grid cells to cover; ``percentiles`` (0-100) are the
    stretch limits (uint16 and float imagery). ``warped`` says whether the scene is read
    through a WarpedVRT.
    """

    def __init__(
        self,
        src: rasterio.DatasetReader,
        grid: TileGrid,
        bands: BandChoice,
        rows: range,
        cols: range,
        percentiles: Sequence[float],
    ) -> None:
        self.grid, self.bands = grid, bands
        self.width_px = len(cols) * grid.size_px
        offset = _grid_offset(src, grid, rows.start, cols.start)
        self.warped = offset is None
        if self.warped:
            self.dataset = WarpedVRT(
                src,
                crs=grid.crs,
                transform=grid.transform(rows.start, cols.start),
                width=self.width_px,
                height=len(rows) * grid.size_px,
                resampling=Resampling.bilinear,
                add_alpha=bands.alpha is None,
            )
            self.alpha = bands.alpha if bands.alpha is not None else self.dataset.count
            self.offset = (0, 0)
        else:
            self.dataset, self.alpha, self.offset = src, bands.alpha, offset
        flags = src.mask_flag_enums
        self.all_valid = self.alpha is None and all(f == [MaskFlags.all_valid] for f in flags)
        self.per_dataset_mask = not self.warped and MaskFlags.per_dataset in flags[0]
        # A nodata value on every band, and every band among R, G, B: the mask is cheaper to
        # compute from the pixels just read than through GDAL (same rule: valid if any band
        # differs from nodata).
        self.nodata = (
            int(src.nodata)
            if self.alpha is None
            and all(f == [MaskFlags.nodata] for f in flags)
            and set(range(1, src.count + 1)) <= set(bands.rgb)
            and _fits(src.nodata, src.dtypes[0])
            else None
        )
        self.floating = np.dtype(src.dtypes[0]).kind == "f"
        stretched = src.dtypes[0] != "uint8"
        self.limits = stretch_limits(src, bands, percentiles) if stretched else None
        self._spare: list[tuple] = [(None, None), (None, None)]
        self._turn = 0
        self._mask: np.ndarray | None = None

    def close(self) -> None:
        """Close the WarpedVRT, if any (the scene itself stays open)."""
        if self.warped:
            self.dataset.close()

    def read(self, first_px_row: int, height_px: int) -> tuple[np.ndarray, np.ndarray]:
        """Pixels (h, w, 3) uint8 and valid (h, w) bool of grid pixel rows [first, first + h)."""
        ds, width = self.dataset, self.width_px
        top, left = self.offset[0] + first_px_row, self.offset[1]
        r0, r1 = max(top, 0), min(top + height_px, ds.height)
        c0, c1 = max(left, 0), min(left + width, ds.width)
        pixels, valid = self._buffers(height_px)
        inside = (slice(r0 - top, max(r1, r0) - top), slice(c0 - left, max(c1, c0) - left))
        _clear_outside(pixels, inside)  # the window reaches past the scene: the rest is nodata
        _clear_outside(valid, inside)
        if r1 > r0 and c1 > c0:
            window = Window(c0, r0, c1 - c0, r1 - r0)
            self._read_pixels(window, pixels[inside])
            self._read_valid(window, pixels[inside], valid[inside])
        if self.limits is not None:
            pixels = to_uint8(pixels, *self.limits)
        return pixels, valid

    def _read_pixels(self, window: Window, pixels: np.ndarray) -> None:
        """Fill the (h, w, 3) ``pixels`` with ``window``: each band read once, then copied.

        GDAL writes straight into the pixel-interleaved buffer (a strided (n, h, w) view of
        its first n channels); a band that makes several channels (single-band imagery) is
        then copied into the others.
        """
        distinct = self.bands.distinct
        self.dataset.read(
            list(distinct), window=window, out=pixels[..., : len(distinct)].transpose(2, 0, 1)
        )
        self._copy_channels(pixels)

    def _copy_channels(self, pixels: np.ndarray) -> None:
        """Copy each band that makes several channels (single-band imagery) into the others."""
        for channel, source in enumerate(self.bands.channels):
            if source != channel:
                pixels[..., channel] = pixels[..., source]

    def _buffers(self, height_px: int) -> tuple[np.ndarray, np.ndarray]:
        """Two window buffers used in turn: one is read while the caller cuts the other."""
        self._turn ^= 1
        pixels, valid = self._spare[self._turn]
        if pixels is None or len(pixels) < height_px:
            # float64 is read as float32 (GDAL converts): half the memory, ample for uint8.
            dtype = np.float32 if self.floating else self.dataset.dtypes[0]
            pixels = np.empty((height_px, self.width_px, 3), dtype)
            valid = np.empty((height_px, self.width_px), bool)
            self._spare[self._turn] = (pixels, valid)
        return pixels[:height_px], valid[:height_px]

    def _read_valid(self, window: Window, pixels: np.ndarray, valid: np.ndarray) -> None:
        """Fill ``valid``: not masked and, in float imagery, finite in every band."""
        self._read_mask(window, pixels, valid)
        if self.floating:
            valid &= np.isfinite(pixels).all(axis=-1)

    def _read_mask(self, window: Window, pixels: np.ndarray, valid: np.ndarray) -> None:
        """Fill ``valid`` from the scene's nodata value, alpha band or GDAL mask."""
        if self.all_valid:
            valid.fill(True)
        elif self.nodata is not None:
            _fill_nodata_mask(pixels, pixels.dtype.type(self.nodata), valid)
        elif self.alpha is not None:
            valid[...] = self.dataset.read(self.alpha, window=window) != 0
        elif self.per_dataset_mask:  # an internal or external mask: one band's mask is enough
            mask = self._mask_buffer(valid.shape)
            self.dataset.read_masks(1, window=window, out=mask)
            np.not_equal(mask, 0, out=valid)
        else:
            valid[...] = self.dataset.dataset_mask(window=window) != 0

    def _mask_buffer(self, shape: tuple[int, int]) -> np.ndarray:
        """A contiguous uint8 array of ``shape`` for GDAL masks, reused from window to window."""
        size = shape[0] * shape[1]
        if self._mask is None or self._mask.size < size:
            self._mask = np.empty(size, np.uint8)
        return self._mask[:size].reshape(shape)


def _clear_outside(array: np.ndarray, inside: tuple[slice, slice]) -> None:
    """Zero ``array`` outside its (rows, cols) part ``inside``, leaving that part as it is."""
    rows, cols = inside
    array[: rows.start] = 0
    array[rows.stop :] = 0
    array[rows, : cols.start] = 0
    array[rows, cols.stop :] = 0


def _fill_nodata_mask(pixels: np.ndarray, nodata: np.generic, valid: np.ndarray) -> None:
    """Fill ``valid`` with "some band differs from ``nodata``" for (h, w, 3) integer pixels."""
    if not pixels.min() <= nodata <= pixels.max():  # no pixel can be nodata: two fast passes
        valid.fill(True)
        return
    # Bitwise (x ^ nodata) is 0 exactly where x == nodata; OR-ing the bands is the fastest
    # numpy way to test "any band differs" on interleaved pixels.
    bits = pixels ^ nodata if nodata else pixels
    np.not_equal(bits[..., 0] | bits[..., 1] | bits[..., 2], 0, out=valid)
