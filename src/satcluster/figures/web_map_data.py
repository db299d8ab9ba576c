"""What the interactive map shows, packed small: tiles as cells of a grid, popups in chunks.

The page (``figures.web_map``) holds only what drawing needs, as base64 typed arrays: the
cell (column, row) of every tile on the square grid of the table's CRS, its label at every
k (one byte each) and, with a consensus, whether it is faded. The browser places the
grid's nodes by bilinear interpolation in a coarse lattice of exactly reprojected nodes,
in the Web Mercator coordinates Leaflet draws in; the lattice step is the coarsest whose
error stays below ``MAX_ERROR_PX`` at the map's highest zoom ``MAX_ZOOM``.

What only a popup needs (tile id, scene, row, col, covariates rounded to
``VALUE_DECIMALS``, confidence, whether there is a thumbnail) goes into chunk scripts of
``CHUNK_TILES`` tiles beside the page, and the thumbnails (a fixed random sample of at
most ``max_thumbnails`` tiles) into JPEG files there: the browser reads them when a popup
opens.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from PIL import Image
from pyproj import Transformer
from tqdm import tqdm

from satcluster.columns import CLUSTER_CONFIDENCE, COL, ROW, TILE_ID, label_column
from satcluster.errors import InputError
from satcluster.figures.cluster_confidence import low_confidence_tiles
from satcluster.tables import check_labels

__all__ = [
    "CHUNK_TILES",
    "MAX_ZOOM",
    "MapGrid",
    "chunk_script",
    "interpolate",
    "mercator",
    "popup_chunks",
    "script_variables",
    "thumbnail_files",
    "thumbnail_ids",
    "thumbnail_jpeg",
    "tile_arrays",
    "map_grid",
]

THUMBNAIL_QUALITY = 85
SAMPLE_SEED = 0
VALUE_DECIMALS = 3
CONFIDENCE_DECIMALS = 3  # 0.667 for 2 of 3 seeds: the popup shows whole percents
LATLNG_DECIMALS = 9  # lattice nodes: ~0.1 mm
MAX_ZOOM = 20  # a 32 m tile is ~200 px wide at the equator
MAX_ERROR_PX = 0.05  # interpolated node against its exact position, at MAX_ZOOM
LATTICE_STEPS = (32, 16, 8, 4, 2, 1)  # cells between lattice nodes, coarsest first
CHUNK_TILES = 1024  # tiles per popup chunk: ~100 KB of script with 12 covariates
GRID_TOLERANCE = 1e-6  # relative to the tile side: float noise, not another grid
EARTH_RADIUS_M = 6378137  # Leaflet's L.Projection.SphericalMercator.R
MAX_LATITUDE = 85.0511287798  # and its MAX_LATITUDE


# --- thumbnails ----------------------------------------------------------------------------
def thumbnail_jpeg(tile: np.ndarray, size_px: int) -> bytes:
    """A tile as JPEG bytes of ``size_px`` x ``size_px``."""
    image = Image.fromarray(np.asarray(tile, dtype=np.uint8))
    if image.size != (size_px, size_px):
        image = image.resize((size_px, size_px), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=THUMBNAIL_QUALITY)
    return buffer.getvalue()


def thumbnail_ids(tile_ids: np.ndarray, max_thumbnails: int) -> np.ndarray:
    """Tile ids that get a thumbnail: all, or a fixed random sample of ``max_thumbnails``."""
    if len(tile_ids) <= max_thumbnails:
        return np.sort(tile_ids)
    rng = np.random.default_rng(SAMPLE_SEED)
    return np.sort(rng.choice(np.sort(tile_ids), max_thumbnails, replace=False))


def thumbnail_files(
    tiles: np.ndarray, ids: np.ndarray, size_px: int
) -> Iterator[tuple[str, bytes]]:
    """("thumbnails/<tile_id>.jpg", JPEG bytes) for ``ids``, read from the tile array."""
    for tile_id in tqdm(ids, desc="thumbnails", unit="tile", mininterval=5):
        yield f"thumbnails/{int(tile_id)}.jpg", thumbnail_jpeg(tiles[tile_id], size_px)


# --- the grid and its lattice -----------------------------------------------------------
@dataclass(frozen=True)
class MapGrid:
    """Tiles as cells of a square grid, and the lattice that places the grid's nodes.

    Node (x, y) of the grid is corner (x0 + x * side, y0 - y * side) in the table's CRS:
    tile i spans nodes (columns[i], rows[i]) to (columns[i] + 1, rows[i] + 1).
    ``lat``/``lng`` (degrees, ny x nx) are nodes (i * step, j * step); ``error_px`` is the
    largest distance between an interpolated tile corner and its exact place at MAX_ZOOM.
    """

    columns: np.ndarray
    rows: np.ndarray
    step: int
    lat: np.ndarray
    lng: np.ndarray
    error_px: float
    bounds: tuple[float, float, float, float]  # south, west, north, east (degrees)

    def meta(self) -> dict:
        """The lattice as web_map.js reads it (``satclusterMeta.lattice``)."""
        ny, nx = self.lat.shape
        return {
            "step": self.step,
            "nx": nx,
            "ny": ny,
            "lat": self.lat.ravel().tolist(),
            "lng": self.lng.ravel().tolist(),
        }


def mercator(lat: np.ndarray, lng: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Leaflet's world coordinates at zoom 0 divided by 256 (0..1, y down), as in EPSG3857."""
    d = np.pi / 180
    sin = np.sin(np.clip(lat, -MAX_LATITUDE, MAX_LATITUDE) * d)
    x = EARTH_RADIUS_M * lng * d
    y = EARTH_RADIUS_M * np.log((1 + sin) / (1 - sin)) / 2
    scale = 0.5 / (np.pi * EARTH_RADIUS_M)
    return scale * x + 0.5, -scale * y + 0.5


def interpolate(
    u: np.ndarray, v: np.ndarray, step: int, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear interpolation of lattice values u, v (ny x nx) at grid nodes (x, y).

    The same arithmetic as ``satclusterInterpolate`` in web_map.js, which draws with it.
    """
    ny, nx = u.shape
    fx, fy = x / step, y / step
    i = np.minimum(np.floor(fx), nx - 2).astype(np.int64)
    j = np.minimum(np.floor(fy), ny - 2).astype(np.int64)
    fx, fy = fx - i, fy - j
    weights = ((1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy)
    cells = ((j, i), (j, i + 1), (j + 1, i), (j + 1, i + 1))
    return tuple(
        sum(w * values[jj, ii] for w, (jj, ii) in zip(weights, cells, strict=True))
        for values in (u, v)
    )


def grid_cells(geometry: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray, float, float, float]:
    """(columns, rows, x0, y0, side) of tiles that are cells of one square grid.

    Raises InputError when they are not (other sizes, rotated, or off one grid).
    """
    minx, miny, maxx, maxy = shapely.bounds(geometry.values).reshape(-1, 4).T
    side = float(maxx[0] - minx[0]) if len(minx) else 0.0
    x0, y0 = (float(minx.min()), float(maxy.max())) if side > 0 else (0.0, 0.0)
    columns, rows = (minx - x0) / (side or 1), (y0 - maxy) / (side or 1)
    tolerance = GRID_TOLERANCE * side
    on_grid = (
        side > 0
        and np.allclose(maxx - minx, side, rtol=0, atol=tolerance)
        and np.allclose(maxy - miny, side, rtol=0, atol=tolerance)
        and np.allclose(shapely.area(geometry.values), side * side, rtol=1e-6)
        and np.allclose(columns, np.round(columns), rtol=0, atol=GRID_TOLERANCE)
        and np.allclose(rows, np.round(rows), rtol=0, atol=GRID_TOLERANCE)
    )
    if not on_grid:
        raise InputError(
            "map.html draws the tiles as the square cells of one grid in the table's CRS, "
            "and these tiles are not (empty, of other sizes, rotated or off the grid); the "
            "table must be the cluster GeoParquet written by the assemble stage: rerun it."
        )
    return np.round(columns).astype(np.int64), np.round(rows).astype(np.int64), x0, y0, side


def map_grid(tiles: gpd.GeoDataFrame) -> MapGrid:
    """The grid of the tiles (square cells in a projected CRS) and the coarsest good lattice."""
    if tiles.crs is None:
        raise InputError(
            "the map's tiles have no CRS: the cluster table must carry one; rerun assemble."
        )
    columns, rows, x0, y0, side = grid_cells(tiles.geometry)
    to_wgs84 = Transformer.from_crs(tiles.crs, "EPSG:4326", always_xy=True)

    def lat_lng(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lng, lat = to_wgs84.transform(x0 + x * side, y0 - y * side)
        return np.round(lat, LATLNG_DECIMALS), np.round(lng, LATLNG_DECIMALS)

    # Every tile corner once: where the drawing must be right.
    width = int(columns.max()) + 2
    corners = np.unique(
        np.concatenate([(rows + dy) * width + columns + dx for dy in (0, 1) for dx in (0, 1)])
    )
    node_y, node_x = np.divmod(corners, width)
    exact_u, exact_v = mercator(*lat_lng(node_x, node_y))
    pixels = 256 * 2**MAX_ZOOM
    for step in LATTICE_STEPS:
        lat, lng = lat_lng(*np.meshgrid(
            np.arange(-(-(width - 1) // step) + 1) * step,
            np.arange(-(-(int(rows.max()) + 1) // step) + 1) * step,
        ))  # fmt: skip
        u, v = interpolate(*mercator(lat, lng), step, node_x, node_y)
        error_px = float(np.hypot(u - exact_u, v - exact_v).max() * pixels)
        if error_px <= MAX_ERROR_PX:
            break
    corner_lat, corner_lng = lat_lng(node_x, node_y)
    bounds = (corner_lat.min(), corner_lng.min(), corner_lat.max(), corner_lng.max())
    return MapGrid(columns, rows, step, lat, lng, error_px, tuple(map(float, bounds)))


# --- what the page and the chunks hold ----------------------------------------------------
def _base64(values: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(values).tobytes()).decode()


def _unsigned(largest: int) -> np.dtype:
    """The smallest little-endian unsigned integer type that holds ``largest``."""
    return next(np.dtype(t) for t in ("u1", "<u2", "<u4") if largest <= np.iinfo(t).max)


def tile_arrays(
    tiles: gpd.GeoDataFrame, ks: Sequence[int], grid: MapGrid, low_confidence: float
) -> dict:
    """The page's typed arrays (``satclusterTiles``), base64, tiles in the table's order.

    ``cells``: column, row of each tile, interleaved; ``labels``: the labels of every tile
    at the first k, then at the second, ...; ``low``: only with ``cluster_confidence``,
    1 for the tiles faded at the final k (below ``low_confidence``). ``*Bytes``: the bytes
    of one value.
    """
    cells = np.column_stack([grid.columns, grid.rows])
    cell_type = _unsigned(int(cells.max()))
    label_type = _unsigned(max(ks) - 1)
    labels = np.stack(
        [check_labels(tiles[label_column(k)].to_numpy(), k, label_column(k)) for k in ks]
    )
    arrays = {
        "n": len(tiles),
        "cellBytes": cell_type.itemsize,
        "cells": _base64(cells.astype(cell_type)),
        "labelBytes": label_type.itemsize,
        "labels": _base64(labels.astype(label_type)),
    }
    if CLUSTER_CONFIDENCE in tiles:
        low = low_confidence_tiles(tiles[CLUSTER_CONFIDENCE].to_numpy(), low_confidence)
        arrays["low"] = _base64(low.astype(np.uint8))
    return arrays


def _rounded(values: np.ndarray, decimals: int) -> list:
    """Values rounded for JSON, NaN as null."""
    values = np.round(np.asarray(values, dtype=float), decimals)
    return [None if np.isnan(v) else (int(v) if v.is_integer() else float(v)) for v in values]


def _value_rows(tiles: gpd.GeoDataFrame, covariates: Sequence[str]) -> list[list]:
    """Every tile's covariate values, rounded, NaN as null."""
    columns = [_rounded(tiles[c], VALUE_DECIMALS) for c in covariates]
    if not columns:
        return [[] for _ in range(len(tiles))]
    return [list(row) for row in zip(*columns, strict=True)]


def popup_chunks(
    tiles: gpd.GeoDataFrame, covariates: Sequence[str], thumbnailed: np.ndarray
) -> list[dict]:
    """What the popups of tiles [i * CHUNK_TILES, (i + 1) * CHUNK_TILES) show, per chunk i.

    Keys: ``t`` tile ids, ``s`` scenes, ``r``/``c`` rows/columns, ``v`` covariate values of
    each tile in the order of ``covariates`` (null: no value), ``h`` 1 if the tile has a
    thumbnail (its id in ``thumbnailed``) and, only with ``cluster_confidence``, ``q`` its
    value (0..1, null: none).
    """
    n = len(tiles)
    tile_ids = tiles[TILE_ID].to_numpy(np.int64)
    columns = {
        "t": tile_ids.tolist(),
        "s": tiles["scene"].astype(str).tolist() if "scene" in tiles else [""] * n,
        "r": tiles[ROW].tolist() if ROW in tiles else [None] * n,
        "c": tiles[COL].tolist() if COL in tiles else [None] * n,
        "v": _value_rows(tiles, covariates),
        "h": np.isin(tile_ids, thumbnailed).astype(int).tolist(),
    }
    if CLUSTER_CONFIDENCE in tiles:
        columns["q"] = _rounded(tiles[CLUSTER_CONFIDENCE], CONFIDENCE_DECIMALS)
    return [
        {key: values[start : start + CHUNK_TILES] for key, values in columns.items()}
        for start in range(0, n, CHUNK_TILES)
    ]


def _json(value: object) -> str:
    """Compact JSON, safe inside a <script> (no "</")."""
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")


def chunk_script(index: int, chunk: dict) -> bytes:
    """The script file of popup chunk ``index``: it hands its data to web_map.js."""
    return f"satclusterChunk({index}, {_json(chunk)});\n".encode()


def script_variables(variables: dict) -> str:
    """``var name = <json>;`` lines, safe inside an inline <script>."""
    return "\n".join(f"var {name} = {_json(value)};" for name, value in variables.items())
