"""Tiling one scene: stream it window by window onto the grid and write its tiles.

A scene is read in windows of ``window_rows`` tile rows across its width (memory is
bounded by one window, not by the scene), the next window being read in a thread while
the current one is cut. Tiles with more nodata than ``max_nodata_fraction`` are dropped
and masked pixels of kept tiles are set to 0. The tiles go to ``{scene}.npy`` (uint8,
N x S x S x 3) and ``{scene}.parquet`` (one row per tile, in the order of the .npy).

A scene is one raster file or a mapping of single-band files (``bands``); its pixel size
is ``tiles.resolution_m`` or its own, snapped to a round value (``resolution``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.errors import RasterioError
from rasterio.warp import transform_bounds
from tqdm import tqdm

from satcluster.columns import COL, ROW
from satcluster.crs import describe_error
from satcluster.errors import InputError
from satcluster.io import atomic_path
from satcluster.tiling.bands import IGNORED_BAND_KEYS, SceneSource, describe_scene, open_scene
from satcluster.tiling.grid import TileGrid, working_crs
from satcluster.tiling.npy import open_for_writing, rewrite_npy_rows, write_npy_header
from satcluster.tiling.reader import SceneReader, choose_bands
from satcluster.tiling.resolution import choose_resolution

__all__ = ["SCENE_COLUMNS", "open_scene", "tile_scene"]

log = logging.getLogger(__name__)

SCENE_COLUMNS = ["scene", ROW, COL, "nodata_fraction", "resolution_m", "geometry"]
# GDAL threads decompressing a window: the rule's 2 (the read-ahead thread waits on them).
DECODE_THREADS = 2


def _open_for_reading(scene_path: SceneSource) -> rasterio.DatasetReader:
    """Open a scene for tiling: GDAL decompresses its blocks on ``DECODE_THREADS`` threads.

    Only on its multi-threaded path does GDAL's GeoTIFF driver decode a window's blocks
    straight into the caller's pixel-interleaved buffer; on one thread every block goes
    through the block cache, one copy per band, and is then copied out pixel by pixel.
    The setting holds for the files opened here (read when opened), not for the warper.
    """
    with rasterio.Env(GDAL_NUM_THREADS=str(DECODE_THREADS)):
        return open_scene(scene_path)


def _kept_cells(
    valid: np.ndarray, size_px: int, max_nodata_fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) offsets in a window of the tiles to keep, in reading order, and their nodata."""
    n_rows, n_cols = valid.shape[0] // size_px, valid.shape[1] // size_px
    if valid.all():  # the common case inside a scene, and much cheaper than counting
        nodata = np.zeros((n_rows, n_cols))
    else:
        nodata = 1.0 - _valid_counts(valid, size_px) / float(size_px * size_px)
    rows, cols = np.nonzero(nodata <= max_nodata_fraction)
    return np.stack([rows, cols], axis=1), nodata[rows, cols]


def _cut_tiles(
    pixels: np.ndarray,
    valid: np.ndarray,
    cells: np.ndarray,
    fractions: np.ndarray,
    out: np.ndarray,
) -> Iterator[np.ndarray]:
    """The tiles of a window at ``cells`` (from ``_kept_cells``), a tile row at a time.

    Each row's tiles are copied into ``out[:k]`` (one row of tiles, (n_cols, S, S, 3)
    uint8, overwritten by the next row: write them first): small enough to stay in the
    CPU cache between the copy and the write, where a window's worth would not. Masked
    pixels of tiles with a nodata fraction above 0 are set to 0.
    """
    size_px = out.shape[1]
    n_rows, n_cols = valid.shape[0] // size_px, valid.shape[1] // size_px
    valid_blocks = valid.reshape(n_rows, size_px, n_cols, size_px).transpose(0, 2, 1, 3)
    blocks = pixels.reshape(n_rows, size_px, n_cols, size_px, 3).transpose(0, 2, 1, 3, 4)
    bounds = np.searchsorted(cells[:, 0], np.arange(n_rows + 1)).tolist()
    for row, lo, hi in zip(range(n_rows), bounds[:-1], bounds[1:], strict=True):
        cols, tiles = cells[lo:hi, 1], out[: hi - lo]
        for start, stop in _runs(cols):  # each run of columns is one strided copy
            np.copyto(tiles[start:stop], blocks[row, cols[start] : cols[start] + stop - start])
        for i in np.nonzero(fractions[lo:hi] > 0)[0]:  # masked pixels of kept tiles become 0
            tiles[i][~valid_blocks[row, cols[i]]] = 0
        yield tiles


def _valid_counts(valid: np.ndarray, size_px: int) -> np.ndarray:
    """Valid pixels per tile (n_rows, n_cols) of a window's (h, w) bool mask.

    Adding up the pixel rows of each tile row first is one contiguous vector add per row,
    in the narrowest integer that holds ``size_px``; summing tile-sized blocks directly
    is ten times slower.
    """
    n_rows, n_cols = valid.shape[0] // size_px, valid.shape[1] // size_px
    narrow = np.uint8 if size_px < 2**8 else np.uint16 if size_px < 2**16 else np.int64
    rows = valid.view(np.uint8).reshape(n_rows, size_px, -1)
    per_column = rows.sum(axis=1, dtype=narrow)  # (n_rows, w): valid pixels per column
    return per_column.reshape(n_rows, n_cols, size_px).sum(axis=2, dtype=np.int64)


def _runs(cols: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) positions in ``cols`` (sorted) of its runs of consecutive values."""
    if len(cols) == 0 or cols[-1] - cols[0] == len(cols) - 1:  # none, or one run (most rows)
        return [(0, len(cols))] if len(cols) else []
    breaks = (np.nonzero(np.diff(cols) != 1)[0] + 1).tolist()
    return list(zip([0, *breaks], [*breaks, len(cols)], strict=True))


def _read_ahead(read: Callable[[range], tuple], windows: list[range]) -> Iterator[tuple]:
    """Yield (window, read(window)) in order, reading the next window in a thread meanwhile.

    GDAL releases the GIL, so decompressing window i + 1 (on ``DECODE_THREADS`` threads)
    overlaps with cutting and writing window i. Two windows are in memory at most.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(read, windows[0]) if windows else None
        for i, window in enumerate(windows):
            result = pending.result()
            if i + 1 < len(windows):
                pending = pool.submit(read, windows[i + 1])
            yield window, result


def _windows(rows: range, window_rows: int) -> Iterator[range]:
    """Consecutive runs of at most ``window_rows`` grid rows covering ``rows``."""
    for start in range(rows.start, rows.stop, window_rows):
        yield range(start, min(start + window_rows, rows.stop))


def tile_scene(
    scene_path: SceneSource,
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

    ``scene_path``: the scene's raster file, or its single-band files as a mapping
    ``{"red": path, "green": path, "blue": path}`` (optionally ``"nir"``, ignored);
    ``scene``: its name; ``crs``: the working CRS (projected, metres); ``size_px``: tile
    side in pixels; ``resolution_m``: pixel side in metres, None for the scene's own pixel
    size snapped to a round value within 1% (see ``resolution``);
    ``max_nodata_fraction`` (0-1): tiles with more nodata are dropped;
    ``uint16_percentiles`` (0-100): the stretch limits of uint16 and float imagery;
    ``window_rows``: tile rows read per window. Returns the tile table (columns
    ``SCENE_COLUMNS``, CRS ``crs``).
    """
    grid_crs = working_crs(crs)
    start = time.perf_counter()
    label = describe_scene(scene_path)
    if isinstance(scene_path, Mapping) and set(IGNORED_BAND_KEYS) & set(scene_path):
        log.info("%s: the nir band file is not read (tiles are RGB)", scene)
    # Both outputs are renamed into place only when both are complete.
    with (
        _open_for_reading(scene_path) as src,
        atomic_path(out_npy) as tmp_npy,
        atomic_path(out_index) as tmp_index,
    ):
        bands = choose_bands(src, scene, label)
        resolution, why = choose_resolution(src, grid_crs, resolution_m, label)
        log.info("%s: %s", scene, why)
        grid = TileGrid(grid_crs, size_px, resolution)
        bounds = src.bounds
        if src.crs != grid_crs:
            bounds = transform_bounds(src.crs, grid_crs, *bounds, densify_pts=21)
        rows, cols = grid.cell_range(bounds)
        try:
            reader = SceneReader(src, grid, bands, rows, cols, uint16_percentiles)
            log.info(
                "%s: %d x %d px, %d band(s) %s%s, %s; grid %d x %d cells of %g m (%s read)",
                scene,
                src.width,
                src.height,
                src.count,
                src.dtypes[0],
                " from band files" if isinstance(scene_path, Mapping) else "",
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
        except RasterioError as err:
            raise InputError(
                f"imagery {label} is corrupt or unreadable ({describe_error(err)}); re-export "
                "or re-download it."
            ) from None
        table = _scene_table(scene, grid, cells, fractions)
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


def _scene_table(
    scene: str, grid: TileGrid, cells: np.ndarray, fractions: np.ndarray
) -> gpd.GeoDataFrame:
    """The tile table of a scene (``SCENE_COLUMNS``): one row per kept (row, col) cell."""
    return gpd.GeoDataFrame(
        {
            "scene": scene,
            ROW: cells[:, 0],
            COL: cells[:, 1],
            "nodata_fraction": fractions,
            "resolution_m": grid.resolution_m,
        },
        geometry=grid.boxes(cells[:, 0], cells[:, 1]),
        crs=grid.crs,
    )[SCENE_COLUMNS]


def _write_scene_tiles(
    reader: SceneReader,
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

    out = np.empty((len(cols), size, size, 3), np.uint8)
    with open_for_writing(path) as f:
        # Kept tiles are written in order under a header for every cell, then the header
        # is rewritten (same length) to their number.
        data_offset = write_npy_header(f, (len(rows) * len(cols), size, size, 3))
        progress = tqdm(
            _read_ahead(read, windows),
            total=len(windows),
            desc=f"tiling {scene}",
            unit="window",
            mininterval=2,
        )
        for window, (pixels, valid) in progress:
            offsets, nodata = _kept_cells(valid, size, max_nodata_fraction)
            for tiles in _cut_tiles(pixels, valid, offsets, nodata, out):
                _write_tiles(f, tiles)
            cells.append(offsets + (window.start, cols.start))
            fractions.append(nodata)
        cells, fractions = np.concatenate(cells).astype(np.int64), np.concatenate(fractions)
        rewrite_npy_rows(f, data_offset, len(cells))
    return cells, fractions


def _write_tiles(f: BinaryIO, tiles: np.ndarray) -> None:
    """Append C-contiguous tiles to the open .npy ``f``."""
    f.write(tiles.data)
