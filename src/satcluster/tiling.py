"""Tiling of imagery scenes onto one global grid in the working CRS, and the gather of scenes.

The grid is anchored at the working CRS origin, so that per-scene jobs agree on it
without knowing about each other: with tile side ``T = size_px * resolution_m`` metres,
cell ``(row, col)`` covers ``x`` in ``[col*T, (col+1)*T)`` and ``y`` in
``(-(row+1)*T, -row*T]``. Rows grow southwards and columns eastwards, so sorting by
``(row, col)`` is reading order; in the northern hemisphere rows are negative.

A scene is streamed in windows of ``window_rows`` tile rows across the scene's width
(memory is bounded by one window, not by the scene). A scene already on the grid's pixel
grid (same CRS and resolution, origin on a multiple of the pixel size) is read directly;
any other scene is warped onto the grid through a ``WarpedVRT`` (bilinear). Pixels outside
the scene or masked in it (nodata value, alpha band, internal/external mask) count as
nodata; tiles with more nodata than ``max_nodata_fraction`` are dropped, and masked pixels
of kept tiles are set to 0.

Bands: RGB is used as is; an alpha band is a mask; with four or more colour bands the
red/green/blue colour interpretations are used when present, else bands 1-3 (R, G, B, NIR
order assumed); a single band is replicated to three channels (with a warning). uint16
imagery is scaled to uint8 per band, mapping the ``uint16_percentiles`` of the scene's
valid pixels to 0 and 255; the percentiles come from a decimated read (an overview when
the file has one) of at most ``PERCENTILE_SAMPLE_PX`` pixels a side.

Per scene the tiles go to ``{scene}.npy`` (uint8, N x S x S x 3) and ``{scene}.parquet``
(one row per tile, in the order of the .npy). The gather keeps one tile per grid cell (the
lowest nodata fraction; ties go to the earlier scene) and writes ``tiles.npy`` and
``index.parquet`` ordered by (row, col), ``tile_id`` being the row in ``tiles.npy``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from affine import Affine
from rasterio._err import CPLE_BaseError
from rasterio.crs import CRS
from rasterio.enums import ColorInterp, MaskFlags, Resampling
from rasterio.errors import CRSError, RasterioError
from rasterio.vrt import WarpedVRT
from rasterio.warp import calculate_default_transform, transform_bounds
from rasterio.windows import Window
from tqdm import tqdm

from satcluster.errors import InputError
from satcluster.io import atomic_path, require_file

log = logging.getLogger(__name__)

INDEX_COLUMNS = ["tile_id", "scene", "row", "col", "nodata_fraction", "geometry"]
SCENE_COLUMNS = ["scene", "row", "col", "nodata_fraction", "resolution_m", "geometry"]
PERCENTILE_SAMPLE_PX = 1024
COPY_CHUNK_BYTES = 256 * 2**20  # largest single copy in the gather
_EPS = 1e-9  # tolerance, in tiles or pixels, for floating-point grid arithmetic
_RGB = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
_READ_ERRORS = (RasterioError, CPLE_BaseError)


def working_crs(crs: str) -> CRS:
    """The working CRS, which must be projected in metres (InputError otherwise)."""
    try:
        parsed = CRS.from_user_input(crs)
    except CRSError as err:
        raise InputError(
            f"config: `crs` {crs!r} is not a CRS ({err}); use e.g. 'EPSG:32630'."
        ) from None
    units = (parsed.linear_units or "").lower()
    if not parsed.is_projected or units not in ("metre", "meter", "m"):
        raise InputError(
            f"config: `crs` {crs!r} must be a projected CRS in metres (tiles are measured in "
            "metres); use the UTM zone of the city, e.g. 'EPSG:32630' for Accra."
        )
    return parsed


@dataclass(frozen=True)
class TileGrid:
    """The global tile grid: cell (row, col) spans [col*T, (col+1)*T) x (-(row+1)*T, -row*T]."""

    crs: CRS
    size_px: int
    resolution_m: float

    @property
    def tile_m(self) -> float:
        """Tile side in metres."""
        return self.size_px * self.resolution_m

    def cell_range(self, bounds: Sequence[float]) -> tuple[range, range]:
        """Rows and columns of the cells that intersect ``bounds`` (left, bottom, right, top)."""
        left, bottom, right, top = (float(v) / self.tile_m for v in bounds)
        rows = range(math.floor(-top + _EPS), math.ceil(-bottom - _EPS))
        cols = range(math.floor(left + _EPS), math.ceil(right - _EPS))
        return rows, cols

    def transform(self, row: int, col: int) -> Affine:
        """Pixel grid whose pixel (0, 0) is the top-left pixel of cell (row, col)."""
        res = self.resolution_m
        return Affine(res, 0.0, col * self.tile_m, 0.0, -res, -row * self.tile_m)

    def boxes(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Polygons of cells (rows[i], cols[i])."""
        rows, cols, side = np.asarray(rows), np.asarray(cols), self.tile_m
        return shapely.box(cols * side, -(rows + 1) * side, (cols + 1) * side, -rows * side)


@dataclass(frozen=True)
class BandChoice:
    """Which source bands make the R, G, B channels, and which band (if any) is alpha."""

    rgb: tuple[int, int, int]
    alpha: int | None


def choose_bands(src: rasterio.DatasetReader, name: str) -> BandChoice:
    """Pick the RGB and alpha bands of a scene from its colour interpretation."""
    if src.dtypes[0] not in ("uint8", "uint16") or len(set(src.dtypes)) != 1:
        raise InputError(
            f"imagery {src.name}: band type {', '.join(sorted(set(src.dtypes)))} is not supported; "
            "convert it to uint8 or uint16 (e.g. `gdal_translate -ot Byte -scale ...`)."
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
            f"imagery {src.name}: {len(colour)} colour bands cannot be read as RGB; give RGB, "
            "RGBA, 4-band (R, G, B, NIR) or single-band imagery."
        )
    return BandChoice(rgb=rgb, alpha=alpha)


def _describe(err: BaseException) -> str:
    """The error's message, with GDAL's own message when rasterio wraps it."""
    cause = err.__cause__ or err.__context__
    return f"{err}: {cause}" if cause is not None and str(cause) not in str(err) else str(err)


def _open_scene(path: str | Path) -> rasterio.DatasetReader:
    """Open a scene, turning a missing or unreadable file into an InputError."""
    path = require_file(path, "imagery scene", key="inputs.imagery")
    try:
        src = rasterio.open(path)
    except _READ_ERRORS as err:
        raise InputError(
            f"imagery {path} is not a readable GeoTIFF ({_describe(err)}); re-export or "
            "re-download it."
        ) from None
    if src.crs is None:
        src.close()
        raise InputError(
            f"imagery {path} has no CRS; assign the right one, e.g. "
            f"`gdal_edit.py -a_srs EPSG:32630 {path}`."
        )
    return src


def native_resolution(src: rasterio.DatasetReader, crs: CRS) -> float:
    """Pixel size of a scene in metres of the working CRS (square pixels required)."""
    if src.crs == crs and src.transform.b == 0 and src.transform.d == 0:
        xres, yres = abs(src.transform.a), abs(src.transform.e)
    else:
        transform, _, _ = calculate_default_transform(
            src.crs, crs, src.width, src.height, *src.bounds
        )
        xres, yres = abs(transform.a), abs(transform.e)
    if not math.isclose(xres, yres, rel_tol=1e-6):
        raise InputError(
            f"imagery {src.name}: pixels are not square ({xres:g} x {yres:g} m); set "
            "`tiles.resolution_m` to the pixel size you want."
        )
    return xres


def _grid_offset(src: rasterio.DatasetReader, grid: TileGrid, row: int, col: int) -> tuple | None:
    """Source pixel (row, col) of the top-left of cell (row, col), or None if not on the grid."""
    t, res = src.transform, grid.resolution_m
    if src.crs != grid.crs or t.b != 0 or t.d != 0:
        return None
    if not (math.isclose(t.a, res, rel_tol=_EPS) and math.isclose(-t.e, res, rel_tol=_EPS)):
        return None
    x_px, y_px = t.c / res, t.f / res
    if abs(x_px - round(x_px)) > 1e-6 or abs(y_px - round(y_px)) > 1e-6:
        return None
    return round(row * grid.size_px + y_px), round(col * grid.size_px - x_px)


def uint16_limits(
    src: rasterio.DatasetReader, bands: BandChoice, percentiles: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-band low/high values at ``percentiles`` of the valid pixels (decimated read)."""
    step = max(1, math.ceil(max(src.height, src.width) / PERCENTILE_SAMPLE_PX))
    shape = (math.ceil(src.height / step), math.ceil(src.width / step))
    data = src.read(list(bands.rgb), out_shape=(3, *shape), resampling=Resampling.nearest)
    if bands.alpha is not None:
        valid = src.read(bands.alpha, out_shape=shape, resampling=Resampling.nearest) != 0
    else:
        valid = src.dataset_mask(out_shape=shape, resampling=Resampling.nearest) != 0
    if not valid.any():
        return np.zeros(3), np.ones(3)
    low, high = np.percentile(data[:, valid], percentiles, axis=1)
    return low, np.maximum(high, low + 1)


def to_uint8(pixels: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Linear stretch of (h, w, 3) pixels: ``low`` -> 0 and ``high`` -> 255 per band, clipped."""
    scale = (255.0 / (high - low)).astype(np.float32)
    scaled = (pixels.astype(np.float32) - low.astype(np.float32)) * scale
    return np.clip(scaled + 0.5, 0, 255).astype(np.uint8)


def _fits(value: float | None, dtype: str) -> bool:
    """Whether ``value`` is an integer that ``dtype`` can hold."""
    if value is None or not math.isfinite(value) or not float(value).is_integer():
        return False
    info = np.iinfo(dtype)
    return info.min <= value <= info.max


class _SceneReader:
    """Reads grid-aligned windows of a scene as (h, w, 3) uint8 pixels and a valid mask."""

    def __init__(self, src, grid, bands, rows: range, cols: range, percentiles) -> None:
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
        self.limits = uint16_limits(src, bands, percentiles) if src.dtypes[0] == "uint16" else None
        self._spare: list[tuple] = [(None, None), (None, None)]
        self._turn = 0

    def close(self) -> None:
        if self.warped:
            self.dataset.close()

    def read(self, first_px_row: int, height_px: int) -> tuple[np.ndarray, np.ndarray]:
        """Pixels (h, w, 3) uint8 and valid (h, w) bool of grid pixel rows [first, first + h)."""
        ds, width = self.dataset, self.width_px
        top, left = self.offset[0] + first_px_row, self.offset[1]
        r0, r1 = max(top, 0), min(top + height_px, ds.height)
        c0, c1 = max(left, 0), min(left + width, ds.width)
        pixels, valid = self._buffers(height_px)
        if (r0, r1, c0, c1) != (top, top + height_px, left, left + width):
            pixels.fill(0)  # the window reaches past the scene: the rest is nodata
            valid.fill(False)
        if r1 > r0 and c1 > c0:
            window = Window(c0, r0, c1 - c0, r1 - r0)
            target = (slice(r0 - top, r1 - top), slice(c0 - left, c1 - left))
            # GDAL writes straight into the pixel-interleaved buffer (a strided (3, h, w) view).
            ds.read(list(self.bands.rgb), window=window, out=pixels[target].transpose(2, 0, 1))
            valid[target] = self._read_valid(window, pixels[target])
        if self.limits is not None:
            pixels = to_uint8(pixels, *self.limits)
        return pixels, valid

    def _buffers(self, height_px: int) -> tuple[np.ndarray, np.ndarray]:
        """Two window buffers used in turn: one is read while the caller cuts the other."""
        self._turn ^= 1
        pixels, valid = self._spare[self._turn]
        if pixels is None or len(pixels) < height_px:
            pixels = np.empty((height_px, self.width_px, 3), self.dataset.dtypes[0])
            valid = np.empty((height_px, self.width_px), bool)
            self._spare[self._turn] = (pixels, valid)
        return pixels[:height_px], valid[:height_px]

    def _read_valid(self, window: Window, pixels: np.ndarray) -> np.ndarray:
        if self.all_valid:
            return True
        if self.nodata is not None:
            # Bitwise (x ^ nodata) is 0 exactly where x == nodata; OR-ing the bands is the
            # fastest numpy way to test "any band differs" on interleaved pixels.
            bits = pixels ^ pixels.dtype.type(self.nodata) if self.nodata else pixels
            return (bits[..., 0] | bits[..., 1] | bits[..., 2]) != 0
        if self.alpha is not None:
            return self.dataset.read(self.alpha, window=window) != 0
        if self.per_dataset_mask:  # an internal or external mask: one band's mask is enough
            return self.dataset.read_masks(1, window=window) != 0
        return self.dataset.dataset_mask(window=window) != 0


def _cut_tiles(
    pixels: np.ndarray, valid: np.ndarray, size_px: int, max_nodata_fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split a window into tiles; return kept (row, col) offsets, their tiles and nodata fractions."""
    n_rows, n_cols = valid.shape[0] // size_px, valid.shape[1] // size_px
    valid_blocks = valid.reshape(n_rows, size_px, n_cols, size_px).transpose(0, 2, 1, 3)
    if valid.all():  # the common case inside a scene, and much cheaper than counting
        nodata = np.zeros((n_rows, n_cols))
    else:
        valid_px = valid_blocks.sum(axis=(2, 3), dtype=np.int64)
        nodata = 1.0 - valid_px / float(size_px * size_px)
    kept_rows, kept_cols = np.nonzero(nodata <= max_nodata_fraction)
    blocks = pixels.reshape(n_rows, size_px, n_cols, size_px, 3).transpose(0, 2, 1, 3, 4)
    tiles = np.ascontiguousarray(blocks[kept_rows, kept_cols])  # (k, S, S, 3): kept tiles only
    fractions = nodata[kept_rows, kept_cols]
    for i in np.nonzero(fractions > 0)[0]:  # masked pixels of kept tiles become 0
        tiles[i][~valid_blocks[kept_rows[i], kept_cols[i]]] = 0
    return np.stack([kept_rows, kept_cols], axis=1), tiles, fractions


def _write_npy_header(f, shape: tuple[int, ...]) -> int:
    """Write the .npy header of a uint8 C-order array of ``shape``; return the data offset."""
    header = {"descr": "|u1", "fortran_order": False, "shape": tuple(shape)}
    np.lib.format.write_array_header_1_0(f, header)
    return f.tell()


def _set_npy_rows(path: Path, n_rows: int) -> None:
    """Rewrite a uint8 .npy header (same length) to ``n_rows`` rows and cut the file there."""
    with open(path, "r+b") as f:
        np.lib.format.read_magic(f)
        shape, _, _ = np.lib.format.read_array_header_1_0(f)
        data_offset = f.tell()
        new_shape = (n_rows, *shape[1:])
        header = f"{{'descr': '|u1', 'fortran_order': False, 'shape': {new_shape!r}, }}"
        f.seek(10)  # magic string (6), version (2) and header length (2) of format 1.0
        f.write(header.ljust(data_offset - 10 - 1).encode("latin1") + b"\n")
        f.truncate(data_offset + n_rows * int(np.prod(shape[1:])))


def _copy_bytes(src_fd: int, src_offset: int, dst_fd: int, dst_offset: int, n: int) -> None:
    """Copy ``n`` bytes between two files, in the kernel where the platform allows it."""
    while n > 0:
        step = min(n, COPY_CHUNK_BYTES)
        try:
            done = os.copy_file_range(src_fd, dst_fd, step, src_offset, dst_offset)
        except (AttributeError, OSError):  # not Linux, or a file system without it
            done = os.pwrite(dst_fd, os.pread(src_fd, step, src_offset), dst_offset)
        if done <= 0:
            raise OSError(f"short copy: {n} bytes left at offset {src_offset}")
        n, src_offset, dst_offset = n - done, src_offset + done, dst_offset + done


def _read_ahead(read: Callable[[range], tuple], windows: list[range]) -> Iterator[tuple]:
    """Yield (window, read(window)) in order, reading the next window in a thread meanwhile.

    GDAL releases the GIL, so decompressing window i + 1 overlaps with cutting and writing
    window i (the rule asks for 2 threads). Two windows are in memory at most.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(read, windows[0]) if windows else None
        for i, window in enumerate(windows):
            result = pending.result()
            if i + 1 < len(windows):
                pending = pool.submit(read, windows[i + 1])
            yield window, result


def _windows(rows: range, window_rows: int) -> Iterator[range]:
    for start in range(rows.start, rows.stop, window_rows):
        yield range(start, min(start + window_rows, rows.stop))


def tile_scene(
    scene_path: str | Path,
    scene: str,
    out_npy: str | Path,
    out_index: str | Path,
    *,
    crs: str,
    size_px: int,
    resolution_m: float | None = None,
    max_nodata_fraction: float = 0.1,
    uint16_percentiles: Sequence[float] = (2, 98),
    window_rows: int = 8,
) -> gpd.GeoDataFrame:
    """Tile one scene onto the global grid; write its tiles (.npy) and tile table (GeoParquet).

    ``resolution_m`` None uses the scene's native pixel size. Returns the tile table.
    """
    grid_crs = working_crs(crs)
    start = time.perf_counter()
    # Both outputs are renamed into place only when both are complete.
    with (
        _open_scene(scene_path) as src,
        atomic_path(out_npy) as tmp_npy,
        atomic_path(out_index) as tmp_index,
    ):
        bands = choose_bands(src, scene)
        grid = TileGrid(grid_crs, size_px, float(resolution_m or native_resolution(src, grid_crs)))
        bounds = src.bounds
        if src.crs != grid_crs:
            bounds = transform_bounds(src.crs, grid_crs, *bounds, densify_pts=21)
        rows, cols = grid.cell_range(bounds)
        try:
            reader = _SceneReader(src, grid, bands, rows, cols, uint16_percentiles)
            log.info(
                "%s: %d x %d px, %d band(s) %s, %s; grid %d x %d cells of %g m (%s read)",
                scene,
                src.width,
                src.height,
                src.count,
                src.dtypes[0],
                src.crs.to_string(),
                len(rows),
                len(cols),
                grid.tile_m,
                "warped" if reader.warped else "direct",
            )
            try:
                cells, fractions = _write_scene_tiles(
                    reader, rows, cols, tmp_npy, max_nodata_fraction, window_rows, scene
                )
            finally:
                reader.close()
        except _READ_ERRORS as err:
            raise InputError(
                f"imagery {scene_path} is corrupt or unreadable ({_describe(err)}); re-export "
                "or re-download it."
            ) from None
        table = gpd.GeoDataFrame(
            {
                "scene": scene,
                "row": cells[:, 0],
                "col": cells[:, 1],
                "nodata_fraction": fractions,
                "resolution_m": grid.resolution_m,
            },
            geometry=grid.boxes(cells[:, 0], cells[:, 1]),
            crs=grid_crs,
        )[SCENE_COLUMNS]
        table.to_parquet(tmp_index, index=False)
        source_mb = src.width * src.height * src.count * np.dtype(src.dtypes[0]).itemsize / 1e6
    n_kept = len(table)
    seconds = time.perf_counter() - start
    n_cells = len(rows) * len(cols)
    log.info(
        "%s: kept %d of %d cells, dropped %d over max_nodata_fraction=%g; %.2f s, %.1f MB/s",
        scene,
        n_kept,
        n_cells,
        n_cells - n_kept,
        max_nodata_fraction,
        seconds,
        source_mb / max(seconds, 1e-9),
    )
    if n_kept == 0:
        log.warning(
            "%s: no tile has at most %g nodata; the scene contributes nothing (raise "
            "`tiles.max_nodata_fraction` or check its nodata value/mask)",
            scene,
            max_nodata_fraction,
        )
    return table


def _write_scene_tiles(
    reader: _SceneReader,
    rows: range,
    cols: range,
    path: Path,
    max_nodata_fraction: float,
    window_rows: int,
    scene: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Stream the scene window by window into the .npy ``path``; return kept cells, fractions."""
    size = reader.grid.size_px
    windows = list(_windows(rows, window_rows))
    cells, fractions = [np.zeros((0, 2), np.int64)], [np.zeros(0)]

    def read(window: range) -> tuple[np.ndarray, np.ndarray]:
        return reader.read((window.start - rows.start) * size, len(window) * size)

    with open(path, "wb") as f:
        # Written sequentially under a header for every cell, then cut to the kept tiles.
        _write_npy_header(f, (len(rows) * len(cols), size, size, 3))
        progress = tqdm(
            _read_ahead(read, windows),
            total=len(windows),
            desc=f"tiling {scene}",
            unit="window",
            mininterval=2,
        )
        for window, (pixels, valid) in progress:
            offsets, tiles, nodata = _cut_tiles(pixels, valid, size, max_nodata_fraction)
            f.write(tiles.data)
            cells.append(offsets + (window.start, cols.start))
            fractions.append(nodata)
    cells, fractions = np.concatenate(cells).astype(np.int64), np.concatenate(fractions)
    _set_npy_rows(path, len(cells))
    return cells, fractions


def gather_tiles(
    scenes: Sequence[str],
    scene_npys: Sequence[str | Path],
    scene_indexes: Sequence[str | Path],
    out_npy: str | Path,
    out_index: str | Path,
) -> gpd.GeoDataFrame:
    """Merge per-scene tiles: one tile per grid cell, ordered by (row, col).

    ``scenes`` is in priority order: where scenes overlap, the tile with the lowest
    nodata fraction wins and ties go to the earlier scene. Returns the tile index.
    """
    if not scenes:
        raise InputError(
            "no imagery scenes to tile: list GeoTIFFs under `inputs.imagery` or set "
            "`demo.enabled: true`."
        )
    tables, arrays = [], []
    for priority, (scene, npy, index) in enumerate(
        zip(scenes, scene_npys, scene_indexes, strict=True)
    ):
        table = gpd.read_parquet(index)
        array = np.load(npy, mmap_mode="r")
        if len(table) != len(array):
            raise InputError(
                f"{index} has {len(table)} rows but {npy} holds {len(array)} tiles; delete both "
                "and rerun so that the scene is tiled again."
            )
        table["priority"] = priority
        table["scene_tile_id"] = np.arange(len(table), dtype=np.int64)
        table["scene"] = scene
        tables.append(table)
        arrays.append(array)
    _check_scenes_agree(scenes, tables, arrays)
    tiles = pd.concat(tables, ignore_index=True)
    tiles = tiles.sort_values(
        ["row", "col", "nodata_fraction", "priority"], kind="stable"
    ).drop_duplicates(["row", "col"], keep="first")
    if tiles.empty:
        raise InputError(
            "no tile of any scene passed `tiles.max_nodata_fraction`; raise it (tiles with "
            "more nodata than that are dropped) or check the scenes' nodata values and masks."
        )
    index = gpd.GeoDataFrame(
        {
            "tile_id": np.arange(len(tiles), dtype=np.int64),
            "scene": tiles["scene"].astype(str).to_numpy(),
            "row": tiles["row"].to_numpy(np.int64),
            "col": tiles["col"].to_numpy(np.int64),
            "nodata_fraction": tiles["nodata_fraction"].to_numpy(np.float64),
        },
        geometry=tiles.geometry.to_numpy(),
        crs=tables[0].crs,
    )[INDEX_COLUMNS]
    with atomic_path(out_npy) as tmp_npy, atomic_path(out_index) as tmp_index:
        _copy_tiles(tiles, arrays, tmp_npy)
        index.to_parquet(tmp_index, index=False)
    n_total = sum(len(t) for t in tables)
    log.info(
        "gathered %d tiles from %d scene(s) (%d duplicate cells in overlaps dropped); per scene: %s",
        len(index),
        len(scenes),
        n_total - len(index),
        ", ".join(f"{s}={n}" for s, n in index["scene"].value_counts(sort=False).items()),
    )
    return index


def _check_scenes_agree(scenes, tables, arrays) -> None:
    """Same tile size, resolution and CRS in every scene (else InputError)."""
    sizes = {a.shape[1:] for a in arrays}
    if len(sizes) > 1:
        raise InputError(
            f"per-scene tiles have different shapes {sorted(sizes)}; delete results/tiles/ "
            "and rerun."
        )
    resolutions = {
        s: float(t["resolution_m"].iloc[0])
        for s, t in zip(scenes, tables, strict=True)
        if len(t) > 0
    }
    values = list(resolutions.values())
    if values and not all(math.isclose(v, values[0], rel_tol=1e-6) for v in values):
        listed = ", ".join(f"{s}: {v:g} m" for s, v in resolutions.items())
        raise InputError(
            f"scenes have different native resolutions ({listed}); set `tiles.resolution_m` "
            "so that all scenes are resampled to one pixel size."
        )
    crss = {t.crs.to_string() for t in tables if t.crs is not None}
    if len(crss) > 1:
        raise InputError(
            f"per-scene tiles have different CRSs {sorted(crss)}; delete results/tiles/ and rerun."
        )


def _copy_tiles(tiles: pd.DataFrame, arrays: Sequence[np.memmap], path: Path) -> None:
    """Write the chosen tiles to the .npy ``path`` in the order of ``tiles``, run by run.

    A run is a stretch of consecutive tiles of one scene; each is copied file to file,
    so memory stays bounded whatever the number of tiles.
    """
    tile_shape = arrays[0].shape[1:]
    tile_bytes = int(np.prod(tile_shape))
    priority = tiles["priority"].to_numpy()
    scene_tile = tiles["scene_tile_id"].to_numpy()
    breaks = (priority[1:] != priority[:-1]) | (scene_tile[1:] != scene_tile[:-1] + 1)
    starts = np.concatenate([[0], np.nonzero(breaks)[0] + 1])
    stops = np.concatenate([starts[1:], [len(tiles)]])
    with contextlib.ExitStack() as stack:
        sources = [stack.enter_context(open(a.filename, "rb")) for a in arrays]
        dst = stack.enter_context(open(path, "wb"))
        out_offset = _write_npy_header(dst, (len(tiles), *tile_shape))
        dst.flush()
        for start, stop in tqdm(
            zip(starts, stops, strict=True), total=len(starts), desc="gather", unit="run"
        ):
            scene = priority[start]
            _copy_bytes(
                sources[scene].fileno(),
                arrays[scene].offset + int(scene_tile[start]) * tile_bytes,
                dst.fileno(),
                out_offset + int(start) * tile_bytes,
                int(stop - start) * tile_bytes,
            )
