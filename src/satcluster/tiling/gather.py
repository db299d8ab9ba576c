"""The gather of per-scene tiles into one tile set.

One tile is kept per grid cell (the lowest nodata fraction; ties go to the earlier
scene), and ``tiles.npy`` and ``index.parquet`` are written ordered by (row, col),
``tile_id`` being the row in ``tiles.npy``. Tiles are copied file to file in runs, so
memory stays bounded whatever the number of tiles.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from tqdm import tqdm

from satcluster.columns import COL, ROW, TILE_ID
from satcluster.errors import InputError
from satcluster.io import atomic_path
from satcluster.tiling.npy import copy_bytes, npy_header, open_for_writing

__all__ = ["INDEX_COLUMNS", "gather_tiles"]

log = logging.getLogger(__name__)

INDEX_COLUMNS = [TILE_ID, "scene", ROW, COL, "nodata_fraction", "geometry"]


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
    tables, arrays = _read_scenes(scenes, scene_npys, scene_indexes)
    _check_scenes_agree(scenes, tables, arrays)
    tiles = _choose_tiles(tables)
    if tiles.empty:
        raise InputError(
            "no tile of any scene passed `tiles.max_nodata_fraction`; raise it (tiles with "
            "more nodata than that are dropped) or check the scenes' nodata values and masks."
        )
    index = _index_table(tiles, tables[0].crs)
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


def _read_scenes(
    scenes: Sequence[str], scene_npys: Sequence[str | Path], scene_indexes: Sequence[str | Path]
) -> tuple[list[gpd.GeoDataFrame], list[np.memmap]]:
    """Each scene's tile table (with its priority and row in its .npy) and memory-mapped tiles."""
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
    return tables, arrays


def _choose_tiles(tables: Sequence[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """One row per grid cell, ordered by (row, col): the lowest nodata, then priority."""
    tiles = pd.concat(tables, ignore_index=True)
    return tiles.sort_values(
        [ROW, COL, "nodata_fraction", "priority"], kind="stable"
    ).drop_duplicates([ROW, COL], keep="first")


def _index_table(tiles: gpd.GeoDataFrame, crs: object) -> gpd.GeoDataFrame:
    """The tile index (``INDEX_COLUMNS``) of the chosen tiles, ``tile_id`` numbering them."""
    return gpd.GeoDataFrame(
        {
            TILE_ID: np.arange(len(tiles), dtype=np.int64),
            "scene": tiles["scene"].astype(str).to_numpy(),
            ROW: tiles[ROW].to_numpy(np.int64),
            COL: tiles[COL].to_numpy(np.int64),
            "nodata_fraction": tiles["nodata_fraction"].to_numpy(np.float64),
        },
        geometry=tiles.geometry.to_numpy(),
        crs=crs,
    )[INDEX_COLUMNS]


def _check_scenes_agree(
    scenes: Sequence[str], tables: Sequence[gpd.GeoDataFrame], arrays: Sequence[np.ndarray]
) -> None:
    """Same tile size, resolution and CRS in every scene (else InputError).

    Each scene job snapped its own pixel size to a round value (``resolution``), so scenes
    whose sizes are within 1% of one value agree exactly here; the rest are refused.
    """
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
            f"scenes have different native resolutions ({listed}; sizes within 1% of a round "
            "value are tiled at it, these are not); set `tiles.resolution_m` so that all scenes "
            "are resampled to one pixel size."
        )
    crss = {t.crs.to_string() for t in tables if t.crs is not None}
    if len(crss) > 1:
        raise InputError(
            f"per-scene tiles have different CRSs {sorted(crss)}; delete results/tiles/ and rerun."
        )


def _copy_tiles(tiles: pd.DataFrame, arrays: Sequence[np.memmap], path: Path) -> None:
    """Write the chosen tiles to the .npy ``path`` in the order of ``tiles``, run by run.

    A run is a stretch of consecutive tiles of one scene; each is copied file to file,
    so memory stays bounded. When one scene gives every tile, in order (a single scene,
    or one that covers the others), its file is the output byte for byte and is copied
    whole from offset 0: block-aligned, so file systems with reflinks share its blocks.
    """
    tile_shape = arrays[0].shape[1:]
    header = npy_header((len(tiles), *tile_shape))
    tile_bytes = int(np.prod(tile_shape))
    priority = tiles["priority"].to_numpy()
    scene_tile = tiles["scene_tile_id"].to_numpy()
    breaks = (priority[1:] != priority[:-1]) | (scene_tile[1:] != scene_tile[:-1] + 1)
    starts = np.concatenate([[0], np.nonzero(breaks)[0] + 1])
    stops = np.concatenate([starts[1:], [len(tiles)]])
    whole = _whole_scene(arrays, priority, scene_tile, header)
    with contextlib.ExitStack() as stack:
        sources = [stack.enter_context(open(a.filename, "rb")) for a in arrays]
        dst = stack.enter_context(open_for_writing(path))
        if whole is not None:
            size = len(header) + len(tiles) * tile_bytes
            copy_bytes(sources[whole].fileno(), 0, dst.fileno(), 0, size)
            return
        dst.write(header)
        dst.flush()
        for start, stop in tqdm(
            zip(starts, stops, strict=True), total=len(starts), desc="gather", unit="run"
        ):
            scene = priority[start]
            copy_bytes(
                sources[scene].fileno(),
                arrays[scene].offset + int(scene_tile[start]) * tile_bytes,
                dst.fileno(),
                len(header) + int(start) * tile_bytes,
                int(stop - start) * tile_bytes,
            )


def _whole_scene(
    arrays: Sequence[np.memmap], priority: np.ndarray, scene_tile: np.ndarray, header: bytes
) -> int | None:
    """The scene whose .npy file is the output byte for byte, if any.

    That is a scene that gives every chosen tile, all of its tiles in order, under the
    header the output gets (the header holds the tile count, so only such a scene can).
    """
    scene = int(priority[0])
    array = arrays[scene]
    if (priority != scene).any() or len(scene_tile) != len(array):
        return None
    if not np.array_equal(scene_tile, np.arange(len(array))) or array.offset != len(header):
        return None
    with open(array.filename, "rb") as f:
        same_header = f.read(len(header)) == header
        size = os.fstat(f.fileno()).st_size
    return scene if same_header and size == len(header) + array.nbytes else None
